#include "model/config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <map>

#include "common/error.h"

namespace mvae::model {
namespace {

ModelConfig make(const std::string& name, int bars, int enc, int enc_layers, int z, DecoderKind kind, int cond,
                 int cond_layers, int dec, int dec_layers, double free_bits, double sampling_rate) {
  ModelConfig c;
  c.preset = name;
  c.bars = bars;
  c.enc = enc;
  c.enc_layers = enc_layers;
  c.z = z;
  c.decoder = kind;
  c.cond = cond;
  c.cond_layers = cond_layers;
  c.dec = dec;
  c.dec_layers = dec_layers;
  c.free_bits = free_bits;
  c.sampling_rate = sampling_rate;
  return c;
}

const std::map<std::string, ModelConfig>& presets() {
  using K = DecoderKind;
  static const std::map<std::string, ModelConfig> table = {
      // Magenta's configs.py, drums (512-token output, beta 0.2 constant, inverse sigmoid k=1000).
      {"cat-drums_2bar_small", make("cat-drums_2bar_small", 2, 512, 1, 256, K::kFlat, 0, 0, 256, 2, 48, 1000)},
      {"cat-drums_2bar_big", make("cat-drums_2bar_big", 2, 2048, 1, 512, K::kFlat, 0, 0, 2048, 3, 48, 1000)},
      // The paper's 16-bar drum models (never released by Magenta): hierdec-mel_16bar sizes.
      {"hierdec-drums_16bar", make("hierdec-drums_16bar", 16, 2048, 2, 512, K::kHierarchical, 1024, 2, 1024, 2, 256, 0)},
      {"flat-drums_16bar", make("flat-drums_16bar", 16, 2048, 2, 512, K::kFlat, 0, 0, 2048, 3, 256, 0)},
      // Ours: a hierarchical model small enough for a CPU or one modest GPU.
      {"hierdec-drums_4bar", make("hierdec-drums_4bar", 4, 512, 1, 256, K::kHierarchical, 512, 2, 512, 2, 64, 0)},
      // Ours: for tests and smoke runs.
      {"tiny", make("tiny", 2, 32, 1, 16, K::kHierarchical, 32, 1, 32, 1, 0, 0)},
  };
  return table;
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& kv : presets()) names.push_back(kv.first);
  return names;
}

ModelConfig preset(const std::string& name) {
  const auto it = presets().find(name);
  if (it == presets().end()) {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw ConfigError("preset", "'" + name + "' is not known; presets: " + known);
  }
  return it->second;
}

void ModelConfig::validate() const {
  const auto positive = [](const char* field, int v) {
    if (v < 1) throw ConfigError(field, "must be >= 1, got " + std::to_string(v));
  };
  positive("vocab", vocab);
  positive("bars", bars);
  positive("steps_per_bar", steps_per_bar);
  positive("enc", enc);
  positive("enc_layers", enc_layers);
  positive("z", z);
  positive("dec", dec);
  positive("dec_layers", dec_layers);
  if (hierarchical()) {
    positive("cond", cond);
    positive("cond_layers", cond_layers);
  }
  if (free_bits < 0) throw ConfigError("free_bits", "must be >= 0");
  if (max_beta < 0) throw ConfigError("max_beta", "must be >= 0");
  if (beta_rate < 0 || beta_rate >= 1) throw ConfigError("beta_rate", "must be in [0, 1)");
  if (sampling_rate < 0) throw ConfigError("sampling_rate", "must be >= 0 (0 = teacher forcing)");
  if (!(dropout_keep > 0 && dropout_keep <= 1)) throw ConfigError("dropout_keep", "must be in (0, 1] (1 = no dropout)");
}

std::string ModelConfig::to_json() const {
  nlohmann::ordered_json j;
  j["preset"] = preset;
  j["vocab"] = vocab;
  j["bars"] = bars;
  j["steps_per_bar"] = steps_per_bar;
  j["enc"] = enc;
  j["enc_layers"] = enc_layers;
  j["z"] = z;
  j["decoder"] = hierarchical() ? "hierarchical" : "flat";
  j["cond"] = cond;
  j["cond_layers"] = cond_layers;
  j["dec"] = dec;
  j["dec_layers"] = dec_layers;
  j["free_bits"] = free_bits;
  j["max_beta"] = max_beta;
  j["beta_rate"] = beta_rate;
  j["sampling_rate"] = sampling_rate;
  j["dropout_keep"] = dropout_keep;
  return j.dump();
}

ModelConfig ModelConfig::from_json(const std::string& text, const std::string& source) {
  ModelConfig c;
  try {
    const auto j = nlohmann::json::parse(text);
    c.preset = j.value("preset", "");
    c.vocab = j.at("vocab");
    c.bars = j.at("bars");
    c.steps_per_bar = j.at("steps_per_bar");
    c.enc = j.at("enc");
    c.enc_layers = j.at("enc_layers");
    c.z = j.at("z");
    const std::string kind = j.at("decoder");
    if (kind != "hierarchical" && kind != "flat") throw std::invalid_argument("decoder '" + kind + "'");
    c.decoder = kind == "hierarchical" ? DecoderKind::kHierarchical : DecoderKind::kFlat;
    c.cond = j.at("cond");
    c.cond_layers = j.at("cond_layers");
    c.dec = j.at("dec");
    c.dec_layers = j.at("dec_layers");
    c.free_bits = j.at("free_bits");
    c.max_beta = j.at("max_beta");
    c.beta_rate = j.at("beta_rate");
    c.sampling_rate = j.at("sampling_rate");
    c.dropout_keep = j.value("dropout_keep", 1.0);  // absent in models saved before dropout existed
  } catch (const std::exception& e) {
    throw InputError(source, "model config", std::string("malformed: ") + e.what());
  }
  return c;
}

std::string ModelConfig::summary() const {
  std::string s = (preset.empty() ? std::string("custom") : preset) + ": " + std::to_string(bars) + " bars, enc " +
                  std::to_string(enc) + "x" + std::to_string(enc_layers) + " bi, z " + std::to_string(z) + ", ";
  if (hierarchical())
    s += "conductor " + std::to_string(cond) + "x" + std::to_string(cond_layers) + ", decoder ";
  else
    s += "flat decoder ";
  s += std::to_string(dec) + "x" + std::to_string(dec_layers);
  if (dropout_keep < 1) {
    char keep[32];
    std::snprintf(keep, sizeof keep, ", dropout keep %.2f", dropout_keep);
    s += keep;
  }
  return s;
}

double beta_at(const ModelConfig& c, long step) {
  return c.max_beta * (1.0 - std::pow(c.beta_rate, static_cast<double>(step)));
}

double sampling_probability_at(const ModelConfig& c, long step) {
  if (c.sampling_rate <= 0) return 0.0;
  const double k = c.sampling_rate;
  const double x = static_cast<double>(step) / k;
  if (x > 700) return 1.0;  // exp overflow: the schedule has long reached 1
  return 1.0 - k / (k + std::exp(x));
}

}  // namespace mvae::model
