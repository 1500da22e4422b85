// What users do with a trained model: sample, reconstruct and interpolate drum patterns, as MIDI.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/drum_kit.h"
#include "data/representation.h"
#include "model/checkpoint_files.h"
#include "model/musicvae.h"

namespace mvae::generate {

struct DecodeOptions {
  double temperature = 0.5;  // music_vae_generate's default
  bool argmax = false;
  double qpm = 120.0;        // tempo of the MIDI written
  uint64_t seed = 0;
};

// A trained model ready for inference: loaded from a run folder (its newest complete checkpoint
// that verifies, or its best one), a checkpoint folder, or a model.pt file.
class Generator {
 public:
  explicit Generator(const std::string& checkpoint, model::CheckpointChoice choice = model::CheckpointChoice::kLatest,
                     const torch::Device& device = torch::kCPU);
  const model::ModelConfig& config() const { return model_->config(); }
  const data::DataRepresentation& representation() const { return representation_; }
  const std::string& model_path() const { return model_path_; }
  model::MusicVAE& model() { return model_; }

  // The windows of a MIDI file under the training data's rules; throws InputError naming the
  // rule that rejected the file when there is none.
  std::vector<std::vector<uint16_t>> windows_of(const std::string& midi_path) const;
  torch::Tensor encode_mean(const std::vector<std::vector<uint16_t>>& windows);  // [N, z]
  std::vector<std::vector<uint16_t>> decode(const torch::Tensor& z, const DecodeOptions& options);
  torch::Tensor sample_prior(int64_t n, uint64_t seed) const;  // [n, z]

  void write_midi(const std::vector<uint16_t>& tokens, const std::string& path, double qpm) const;

 private:
  model::MusicVAE model_{nullptr};
  data::DataRepresentation representation_;
  data::PitchMap pitch_map_;
  torch::Device device_;
  std::string model_path_;
};

// The model released with the project (models/), used when no --checkpoint is given: $MVAE_MODEL
// if set, else the release in the source tree this program was built from; "" when neither exists.
std::string released_model_path();

// Spherical interpolation between a and b ([z]) at t in [0, 1]; linear when they are parallel.
torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double t);

}  // namespace mvae::generate
