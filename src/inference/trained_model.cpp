#include "inference/trained_model.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "common/error.h"
#include "data/drum_tokenizer.h"
#include "midi/midi_file.h"
#include "model/tokens.h"
#include "model_file/model_file.h"

namespace mvae::inference {

void check_temperature(double t) {
  if (!(t >= kMinTemperature && t <= kMaxTemperature))
    throw UsageError(
        "{temperature} must be a number from 0.01 to 100 (0.1-1.5 is the useful range; for the most "
        "likely pattern use --argmax), got " +
        std::to_string(t));
}

std::string released_model_path(const std::string& verb, int bars) {
  if (bars == 16) {
    if (const char* env = std::getenv("MVAE_16BAR_MODEL"); env && *env) return env;
#ifdef MVAE_RELEASED_16BAR_MODEL
    if (std::filesystem::exists(MVAE_RELEASED_16BAR_MODEL)) return MVAE_RELEASED_16BAR_MODEL;
#endif
    return "";
  }
  if (bars != 0 && bars != 2) return "";
  if (verb == "humanize") {  // a groove model trained to humanize
    if (const char* env = std::getenv("MVAE_HUMANIZE_MODEL"); env && *env) return env;
#ifdef MVAE_RELEASED_HUMANIZE_MODEL
    if (std::filesystem::exists(MVAE_RELEASED_HUMANIZE_MODEL)) return MVAE_RELEASED_HUMANIZE_MODEL;
#endif
    return "";
  }
  // Verbs that start from an input's z want the high-KL model (it reconstructs best); all of them
  // use the same one, so that attribute vectors computed by one verb fit the z of another.
  const bool from_input =
      verb == "reconstruct" || verb == "interpolate" || verb == "encode" || verb == "attribute" || verb == "apply";
  if (from_input)
    if (const char* env = std::getenv("MVAE_RECONSTRUCTION_MODEL"); env && *env) return env;
  if (const char* env = std::getenv("MVAE_MODEL"); env && *env) return env;
#ifdef MVAE_RELEASED_RECONSTRUCTION_MODEL
  if (from_input && std::filesystem::exists(MVAE_RELEASED_RECONSTRUCTION_MODEL))
    return MVAE_RELEASED_RECONSTRUCTION_MODEL;
#endif
#ifdef MVAE_RELEASED_MODEL
  if (std::filesystem::exists(MVAE_RELEASED_MODEL)) return MVAE_RELEASED_MODEL;
#endif
  return "";
}

TrainedModel::TrainedModel(const std::string& checkpoint, run_folder::CheckpointChoice choice,
                           const torch::Device& device)
    : device_(device), model_path_(run_folder::resolve_model_file(checkpoint, choice)) {
  model_file::LoadedModel loaded = model_file::load_model(model_path_, device);
  model_ = loaded.model;
  model_->eval();
  representation_ = loaded.representation;
  if (representation_.name != data::kRepresentationName)
    throw InputError(model_path_, "representation",
                     "is '" + representation_.name + "'; this program generates '" + data::kRepresentationName + "'");
  pitch_map_ = data::PitchMap::from_json(representation_.midi_pitch_map_json(), model_path_);
}

data::TokenizerOptions TrainedModel::midi_rules() const {
  data::TokenizerOptions rules;
  rules.bars = representation_.bars;
  if (!config().groove()) return rules;
  rules.whole_piece = true;
  rules.hop_bars = representation_.bars;
  rules.deduplicate = false;
  rules.any_channel = true;  // GrooveConverter reads every note of the sequence
  return rules;
}

std::vector<Pattern> TrainedModel::windows_of(const std::string& midi_path, data::TokenizerOptions options,
                                              bool every_pitch_one_class) const {
  const midi::MidiFile midi = midi::read_midi_file(midi_path);
  options.bars = representation_.bars;
  data::PitchMap map = pitch_map_;
  if (every_pitch_one_class) map.class_of.fill(0);
  data::TokenizeResult result = data::tokenize_drums(midi, map, options);
  if (result.skip_reason == "too_many_windows") throw InputError(midi_path, "", result.skip_detail);
  if (result.windows.empty())
    throw InputError(midi_path, "",
                     "yields no " + std::to_string(representation_.bars) + "-bar window (" + result.skip_reason + ": " +
                         result.skip_detail + ")");
  return std::move(result.windows);
}

torch::Tensor TrainedModel::sequences_of(const std::vector<Pattern>& patterns) const {
  const int64_t n = static_cast<int64_t>(patterns.size()), T = representation_.window_steps();
  std::vector<uint16_t> tokens;
  std::vector<uint8_t> velocities;
  std::vector<float> offsets;
  for (const Pattern& p : patterns) {
    MVAE_CHECK(static_cast<int64_t>(p.tokens.size()) == T,
               "a pattern of " + std::to_string(p.tokens.size()) + " steps");
    tokens.insert(tokens.end(), p.tokens.begin(), p.tokens.end());
    velocities.insert(velocities.end(), p.velocities.begin(), p.velocities.end());
    offsets.insert(offsets.end(), p.offsets.begin(), p.offsets.end());
  }
  if (!config().groove()) return model::token_tensor(tokens.data(), n, T);
  MVAE_CHECK(velocities.size() == tokens.size() * data::kNumDrumClasses,
             "a groove model needs the patterns' velocities");
  return model::groove_tensor(velocities.data(), offsets.data(), n, T);
}

torch::Tensor TrainedModel::encode_mean(const std::vector<Pattern>& patterns) {
  return encode_mean(sequences_of(patterns));
}

torch::Tensor TrainedModel::encode_mean(const torch::Tensor& sequences) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> means;  // [<= kInferenceBatch, z] each: the LSTM's activations are per batch
  for (int64_t at = 0; at < sequences.size(0); at += kInferenceBatch) {
    const torch::Tensor batch = sequences.narrow(0, at, std::min(kInferenceBatch, sequences.size(0) - at));
    means.push_back(model_->encode(model_->encoder_input(batch.to(device_))).mu);
  }
  return means.empty() ? torch::empty({0, config().z}) : torch::cat(means);
}

std::vector<Pattern> TrainedModel::decode(const torch::Tensor& z, const DecodeOptions& options,
                                          const torch::Tensor& forced_hits) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(options.seed);
  std::vector<Pattern> out;
  for (int64_t at = 0; at < z.size(0); at += kInferenceBatch) {
    const int64_t n = std::min(kInferenceBatch, z.size(0) - at);
    const torch::Tensor hits = forced_hits.defined() ? forced_hits.narrow(0, at, n).to(device_) : forced_hits;
    append_patterns(model_->sample(z.narrow(0, at, n).to(device_), options.temperature, options.argmax, hits).cpu(),
                    options.qpm, &out);
  }
  return out;
}

void TrainedModel::append_patterns(const torch::Tensor& decoded, double qpm, std::vector<Pattern>* out) const {
  for (int64_t i = 0; i < decoded.size(0); ++i) {
    Pattern p;
    if (config().groove()) {
      p = model::window_of_groove(decoded[i]);
    } else {
      const torch::Tensor row = decoded[i].contiguous();
      p.tokens.assign(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
    }
    p.qpm = qpm;
    out->push_back(std::move(p));
  }
}

torch::Tensor TrainedModel::sample_prior(int64_t n, uint64_t seed) const {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn({n, config().z}, gen);
}

void TrainedModel::write_midi(const Pattern& pattern, const std::string& path, double qpm) const {
  const bool expressive = config().groove() && !pattern.velocities.empty();
  midi::write_midi_file(
      path, data::tokens_to_midi(pattern.tokens, pitch_map_, qpm, expressive ? &pattern.velocities : nullptr,
                                 expressive ? &pattern.offsets : nullptr));
}

}  // namespace mvae::inference
