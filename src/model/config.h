// Model configuration: sizes, decoder kind and loss hyper-parameters, with Magenta-named presets.
// No LibTorch here, so programs and tools can read configurations cheaply.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "data/drum_kit.h"

namespace mvae::model {

// A configuration value out of range, named by its field ("{enc_layers} must be >= 1, got 0");
// programs show the field as their option (common/error.h, in_option_words).
class ConfigError : public UsageError {
 public:
  ConfigError(std::string field, const std::string& problem)
      : UsageError("{" + field + "} " + problem), field_(std::move(field)), problem_(problem) {}
  const std::string& field() const { return field_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string field_, problem_;
};

enum class DecoderKind { kHierarchical, kFlat };

// What a step of a sequence is. kTokens: one of 512 drum tokens (MusicVAE). kGroove: per drum
// class a hit, a velocity and a microtiming offset, 27 values (GrooVAE, Gillick et al. 2019).
// The classes, tokens and steps are the data's (data/drum_kit.h).
enum class OutputKind { kTokens, kGroove };
constexpr int kGrooveValues = 3 * data::kNumDrumClasses;  // [hits(9) | velocities(9) | offsets(9)]
constexpr int kRollValues = data::kNumDrumClasses + 1;    // [class bits(9) | no drums(1)]

// GrooVAE's inverse sequence transformations: what the encoder sees instead of the performance
// (the target is always the performance). kHumanize: velocities and offsets removed (a score);
// kTap: every step's hits collapsed onto one class at fixed velocity, timing kept (Tap2Drum).
enum class InputTransform { kNone, kHumanize, kTap };

// Magenta's scheduled-sampling schedules: the probability that a decoder step reads the model's
// own sample instead of the true previous step, as a function of the training step (docs/model.md).
enum class SamplingSchedule { kConstant, kExponential, kInverseSigmoid };

// How a fresh model's weights are drawn: PyTorch's defaults (the constructor's: LSTM weights and
// biases U(-1/sqrt(H), 1/sqrt(H)), dense layers U(-1/sqrt(inputs), 1/sqrt(inputs)), the posterior
// N(0, 0.001) as Magenta's), or as Magenta's TensorFlow
// trainer draws them (MusicVAEImpl::reset_like_magenta). docs/model.md, "Initialisation".
enum class Initialization { kPyTorch, kMagenta };
// "pytorch" or "magenta"; anything else is a UsageError naming {init}.
Initialization parse_initialization(const std::string& text);
std::string to_string(Initialization how);

// Limits on a model's sizes: far above every preset (the paper's largest, hierdec-drums_16bar, has
// 2048 encoder units and 16 bars) and low enough that a configuration read from a stranger's file
// cannot make a program ask for more than a large machine holds: 2^31 parameters are 8 GiB in
// float32, 32 GiB to train with Adam. Every size is int, so products of two stay in int64.
struct ModelLimits {
  int vocab = 1 << 16;
  int bars = 256;
  int steps_per_bar = 96;
  int units = 8192;  // LSTM units of one layer (and z)
  int layers = 16;
  int64_t parameters = int64_t{1} << 31;
};
constexpr ModelLimits kLimits{};

struct ModelConfig {
  std::string preset;  // the preset it started from ("" if none)
  // Sizes.
  int vocab = data::kVocabSize;
  int bars = 2;
  int steps_per_bar = data::kStepsPerBar;
  int enc = 512;  // bidirectional LSTM units per direction
  int enc_layers = 1;
  int z = 256;
  DecoderKind decoder = DecoderKind::kFlat;
  int cond = 1024;  // conductor LSTM units (hierarchical only)
  int cond_layers = 2;
  int dec = 256;  // bottom (or flat) decoder LSTM units
  int dec_layers = 2;
  OutputKind output = OutputKind::kTokens;
  InputTransform input_transform = InputTransform::kNone;  // groove only
  // Tokens only: the encoder reads each step as Magenta's drum roll (roll_input=True in its drum
  // configs): the 9 class bits of the token and a "no drums" bit, 10 values, instead of looking
  // up one of 512 tokens. The decoder reads and predicts tokens either way.
  bool roll_input = false;
  // Groove only: where the velocity and offset errors count. false: at every step and class
  // (Magenta's GrooVAE loss; the heads then learn p(hit) x E[velocity | hit]); true: only where the
  // target has a hit (the heads learn E[velocity | hit], the value a hit is written with).
  bool groove_loss_at_hits = false;
  // Groove only: what a free-running decoder step reads of the step before. true: hits, and
  // velocities and offsets where hit (zero elsewhere, as in the training data); false: hits and the
  // raw velocity and offset heads (Magenta's GrooveLstmDecoder and Magenta.js: every model imported
  // from or exported to Magenta decodes so). Teacher-forced training reads the data either way.
  bool groove_feedback_masked = true;
  // Loss (Magenta's hparams).
  double free_bits = 48;   // bits of KL per example that are free
  double max_beta = 0.2;   // KL weight
  double beta_rate = 0.0;  // beta(step) = max_beta * (1 - beta_rate^step); 0 = constant
  // Scheduled sampling: the schedule and its rate (constant: the probability; exponential: p =
  // 1 - rate^step; inverse sigmoid: p = 1 - k / (k + exp(step / k)) with k = rate). Rate 0 =
  // teacher forcing whatever the schedule.
  SamplingSchedule sampling_schedule = SamplingSchedule::kInverseSigmoid;
  double sampling_rate = 0;
  // Regularisation: Magenta's dropout_keep_prob, input dropout on every LSTM layer in training
  // (1 = none; GrooVAE's configs use 0.3).
  double dropout_keep = 1.0;

  int steps() const { return bars * steps_per_bar; }
  bool hierarchical() const { return decoder == DecoderKind::kHierarchical; }
  bool groove() const { return output == OutputKind::kGroove; }
  // Values per step the encoder and decoder read: 0 for token ids, 27 for groove vectors.
  int step_features() const { return groove() ? kGrooveValues : 0; }
  // Values per step the encoder reads: 0 for token ids, 10 for a drum roll, 27 for groove vectors.
  int encoder_features() const { return roll_input ? kRollValues : step_features(); }
  // What the output layer predicts per step: 512 token logits, or 27 groove values.
  int output_size() const { return groove() ? kGrooveValues : vocab; }
  // Throws ConfigError naming the field (e.g. enc: "must be >= 1, got 0").
  void validate() const;
  std::string to_json() const;
  static ModelConfig from_json(const std::string& text, const std::string& source);
  std::string summary() const;  // one line for logs
};

std::string to_string(OutputKind kind);                             // "tokens", "groove"
std::string to_string(InputTransform transform);                    // "none", "humanize", "tap"
std::string to_string(SamplingSchedule schedule);                   // "constant", "exponential", "inverse_sigmoid"
SamplingSchedule parse_sampling_schedule(const std::string& text);  // throws ConfigError("sampling_schedule")
OutputKind parse_output_kind(const std::string& text);              // throws ConfigError("output")
InputTransform parse_input_transform(const std::string& text);      // throws ConfigError("input_transform")
bool parse_groove_feedback(
    const std::string& text);  // "masked" -> true, "raw" -> false; ConfigError("groove_feedback")

// Presets by name (the table in config.cpp: Magenta's drum configs, the paper's 16-bar drum
// models, ours). Throws ConfigError (field "preset") listing them for an unknown name.
ModelConfig preset(const std::string& name);
std::vector<std::string> preset_names();  // sorted
// What train and the benchmarks build without --preset: a hierarchical model small enough for a CPU.
constexpr const char* kDefaultPreset = "hierdec-drums_4bar";

// Matrix-product FLOPs (a multiply-add = 2) of one sequence's forward pass, teacher-forced: the
// LSTM gates, the posterior, the initial states and the output layer (token inputs are lookups
// and cost none). A training step costs about 3x this (backward = 2x forward); benchmarks divide
// the achieved rate by the device's peak for model FLOP utilisation.
double forward_flops_per_sequence(const ModelConfig& c);

// The number of weights (elements of every parameter) a model of this configuration has, computed
// without building it: a model file's configuration is checked against the bytes it holds before
// anything is allocated. Sizes must be within kLimits (validate() calls it after checking them).
int64_t parameter_count(const ModelConfig& c);

// Magenta's schedules (docs/model.md).
double beta_at(const ModelConfig& c, long step);
double sampling_probability_at(const ModelConfig& c, long step);

}  // namespace mvae::model
