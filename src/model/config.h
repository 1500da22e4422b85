// Model configuration: sizes, decoder kind and loss hyper-parameters, with Magenta-named presets.
// No LibTorch here, so programs and tools can read configurations cheaply.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace mvae::model {

// A configuration value out of range, named by its field ("enc_layers"); programs translate the
// field into their option's name.
class ConfigError : public UsageError {
 public:
  ConfigError(std::string field, const std::string& problem)
      : UsageError(field + " " + problem), field_(std::move(field)), problem_(problem) {}
  const std::string& field() const { return field_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string field_, problem_;
};

enum class DecoderKind { kHierarchical, kFlat };

struct ModelConfig {
  std::string preset;  // the preset it started from ("" if none)
  // Sizes.
  int vocab = 512;
  int bars = 2;
  int steps_per_bar = 16;
  int enc = 512;  // bidirectional LSTM units per direction
  int enc_layers = 1;
  int z = 256;
  DecoderKind decoder = DecoderKind::kFlat;
  int cond = 1024;  // conductor LSTM units (hierarchical only)
  int cond_layers = 2;
  int dec = 256;  // bottom (or flat) decoder LSTM units
  int dec_layers = 2;
  // Loss (Magenta's hparams).
  double free_bits = 48;   // bits of KL per example that are free
  double max_beta = 0.2;   // KL weight
  double beta_rate = 0.0;  // beta(step) = max_beta * (1 - beta_rate^step); 0 = constant
  double sampling_rate = 0;  // inverse-sigmoid scheduled sampling rate k; 0 = teacher forcing
  // Regularisation: Magenta's dropout_keep_prob, input dropout on every LSTM layer in training
  // (1 = none; GrooVAE's configs use 0.3).
  double dropout_keep = 1.0;

  int steps() const { return bars * steps_per_bar; }
  bool hierarchical() const { return decoder == DecoderKind::kHierarchical; }
  // Throws ConfigError naming the field (e.g. enc: "must be >= 1, got 0").
  void validate() const;
  std::string to_json() const;
  static ModelConfig from_json(const std::string& text, const std::string& source);
  std::string summary() const;  // one line for logs
};

// Presets by name: cat-drums_2bar_small, cat-drums_2bar_big, hierdec-drums_4bar,
// hierdec-drums_16bar, flat-drums_16bar, tiny. Throws ConfigError (field "preset") listing them
// for an unknown name.
ModelConfig preset(const std::string& name);
std::vector<std::string> preset_names();

// Magenta's schedules (docs/model.md).
double beta_at(const ModelConfig& c, long step);
double sampling_probability_at(const ModelConfig& c, long step);

}  // namespace mvae::model
