#include "generate/generator.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "common/error.h"
#include "data/drum_tokenizer.h"
#include "midi/midi_file.h"
#include "model/tokens.h"


namespace mvae::generate {

std::string released_model_path() {
  if (const char* env = std::getenv("MVAE_MODEL"); env && *env) return env;
#ifdef MVAE_RELEASED_MODEL
  if (std::filesystem::exists(MVAE_RELEASED_MODEL)) return MVAE_RELEASED_MODEL;
#endif
  return "";
}

Generator::Generator(const std::string& checkpoint, model::CheckpointChoice choice, const torch::Device& device)
    : device_(device), model_path_(model::resolve_model_file(checkpoint, choice)) {
  model::LoadedModel loaded = model::load_model(model_path_, device);
  model_ = loaded.model;
  model_->eval();
  representation_ = data::DataRepresentation::from_json(loaded.representation_json, model_path_);
  if (representation_.name != data::kRepresentationName)
    throw InputError(model_path_, "representation",
                     "is '" + representation_.name + "'; this program generates '" + data::kRepresentationName + "'");
  pitch_map_ = data::PitchMap::from_json(representation_.pitch_map_json, model_path_);
}

std::vector<std::vector<uint16_t>> Generator::windows_of(const std::string& midi_path) const {
  const midi::MidiFile midi = midi::read_midi_file(midi_path);
  data::TokenizerOptions options;
  options.bars = representation_.bars;
  const data::TokenizeResult result = data::tokenize_drums(midi, pitch_map_, options);
  if (result.windows.empty())
    throw InputError(midi_path, "", "yields no " + std::to_string(representation_.bars) + "-bar window (" +
                                        result.skip_reason + ": " + result.skip_detail + ")");
  std::vector<std::vector<uint16_t>> windows;
  for (const auto& w : result.windows) windows.push_back(w.tokens);
  return windows;
}

torch::Tensor Generator::encode_mean(const std::vector<std::vector<uint16_t>>& windows) {
  torch::NoGradGuard no_grad;
  return model_->encode(model::token_tensor(windows).to(device_)).mu;
}

std::vector<std::vector<uint16_t>> Generator::decode(const torch::Tensor& z, const DecodeOptions& options) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(options.seed);
  const torch::Tensor tokens = model_->sample(z.to(device_), options.temperature, options.argmax).cpu();
  std::vector<std::vector<uint16_t>> out;
  for (int64_t i = 0; i < tokens.size(0); ++i) {
    const torch::Tensor row = tokens[i].contiguous();
    out.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
  }
  return out;
}

torch::Tensor Generator::sample_prior(int64_t n, uint64_t seed) const {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn({n, config().z}, gen);
}

void Generator::write_midi(const std::vector<uint16_t>& tokens, const std::string& path, double qpm) const {
  midi::write_midi_file(path, data::tokens_to_midi(tokens, pitch_map_, qpm));
}

torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double t) {
  const double na = a.norm().item<double>(), nb = b.norm().item<double>();
  const double cosine = std::clamp((a * b).sum().item<double>() / std::max(na * nb, 1e-12), -1.0, 1.0);
  const double omega = std::acos(cosine);
  if (std::abs(std::sin(omega)) < 1e-6) return (1 - t) * a + t * b;
  return (std::sin((1 - t) * omega) * a + std::sin(t * omega) * b) / std::sin(omega);
}

}  // namespace mvae::generate
