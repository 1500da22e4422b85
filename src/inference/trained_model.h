// The one inference entry point (Magenta's TrainedModel): a trained model loaded from a run
// folder, a checkpoint or a model file, that encodes drum patterns to z, decodes z to patterns
// and writes them as MIDI. generate/ (the user's verbs) and evaluate (the metrics) build on it.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/drum_kit.h"
#include "data/drum_tokenizer.h"
#include "data/representation.h"
#include "model/musicvae.h"
#include "run_folder/checkpoint_files.h"

namespace mvae::inference {

// Sampling temperatures a decode accepts: logits are divided by it, so below 0.01 they overflow
// float32 (argmax is what a temperature near 0 means: --argmax); above 100 every step is noise.
constexpr double kMinTemperature = 0.01, kMaxTemperature = 100;
// UsageError naming {temperature} when `t` is outside [kMinTemperature, kMaxTemperature] or not a number.
void check_temperature(double t);

struct DecodeOptions {
  double temperature = 0.5;  // music_vae_generate's default
  bool argmax = false;
  double qpm = 120.0;  // tempo of the MIDI written
  uint64_t seed = 0;
};

// A drum pattern: tokens [T], and per step and class velocities and offsets (read from MIDI, or
// decoded by a groove model; empty from a token model: written on the grid at velocity 80).
using Pattern = data::DrumWindow;

// A trained model ready for inference: loaded from a run folder (its newest complete checkpoint
// that verifies, or its best one), a checkpoint folder, or a model.pt file.
class TrainedModel {
 public:
  // Rows per model call when encoding or decoding: the LSTMs' activations (about 0.5 MB per 2-bar
  // row in the released encoder) are held for one batch at a time, so the memory a call needs does
  // not grow with how many windows an input yields or how many samples are asked for.
  static constexpr int64_t kInferenceBatch = 256;

  explicit TrainedModel(const std::string& checkpoint,
                        run_folder::CheckpointChoice choice = run_folder::CheckpointChoice::kLatest,
                        const torch::Device& device = torch::kCPU);
  const model::ModelConfig& config() const { return model_->config(); }
  const data::DataRepresentation& representation() const { return representation_; }
  const std::string& model_path() const { return model_path_; }
  model::MusicVAE& model() { return model_; }

  // The windows of a MIDI file (each with its tempo) as Magenta's TrainedModel cuts them for this kind
  // of model (midi_rules()); throws InputError naming the rule that rejected the file when there is
  // none. `options` changes the rules (bars always the model's); `every_pitch_one_class`: every note is
  // a hit of class 0 (taps, whatever their pitch).
  std::vector<Pattern> windows_of(const std::string& midi_path) const { return windows_of(midi_path, midi_rules()); }
  std::vector<Pattern> windows_of(const std::string& midi_path, data::TokenizerOptions options,
                                  bool every_pitch_one_class = false) const;
  // How a user's MIDI is cut for this model, as Magenta's converter in TrainedModel cuts it: token
  // models as DrumsConverter (drum tracks, a window every bar, duplicates dropped), groove models as
  // GrooveConverter (the whole file from its first step, consecutive windows, every note on any
  // channel).
  data::TokenizerOptions midi_rules() const;
  // Patterns as the model takes them: tokens [N, T] or groove vectors [N, T, 27].
  torch::Tensor sequences_of(const std::vector<Pattern>& patterns) const;
  // q(z | x) means of patterns, or of sequences [N, T(, 27)], each through the model's input transform: [N, z].
  torch::Tensor encode_mean(const std::vector<Pattern>& patterns);
  torch::Tensor encode_mean(const torch::Tensor& sequences);
  // Decodes z [N, z] in batches of kInferenceBatch (one seed, drawn in order); `forced_hits`
  // [N, T, 9] (groove models): the hits to keep, velocities and timing from the model.
  std::vector<Pattern> decode(const torch::Tensor& z, const DecodeOptions& options,
                              const torch::Tensor& forced_hits = {});
  torch::Tensor sample_prior(int64_t n, uint64_t seed) const;  // [n, z]

  // Writes a pattern as MIDI at `qpm`; with its velocities and offsets when the model is a groove
  // model (a token model's input is written as the model sees it: on the grid at velocity 80).
  void write_midi(const Pattern& pattern, const std::string& path, double qpm) const;

 private:
  // Decoded sequences [n, T(, 27)] as patterns at `qpm`, onto the end of `out`.
  void append_patterns(const torch::Tensor& decoded, double qpm, std::vector<Pattern>* out) const;

  model::MusicVAE model_{nullptr};
  data::DataRepresentation representation_;
  data::PitchMap pitch_map_;
  torch::Device device_;
  std::string model_path_;
};

// The model released with the project (models/), used when no --checkpoint is given: $MVAE_MODEL
// if set, else the release in the source tree this program was built from; "" when neither exists.
// For "humanize": the released humanizing groove model ($MVAE_HUMANIZE_MODEL, else
// models/groovae_2bar_humanize). For the verbs that encode an input (reconstruct, interpolate,
// encode, attribute, apply): $MVAE_RECONSTRUCTION_MODEL, else $MVAE_MODEL, else the high-KL
// release models/groove_2bar_hikl (better reconstructions; docs/results.md section 3), else the
// default release. `bars` 16: the 16-bar release for every verb ($MVAE_16BAR_MODEL, else
// models/groove_16bar); 0 or 2: as above; any other length: "" (none is released).
std::string released_model_path(const std::string& verb = "", int bars = 0);

}  // namespace mvae::inference
