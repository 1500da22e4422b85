#include "model/config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "common/error.h"

namespace mvae::model {
namespace {

// A preset written as named settings over ModelConfig's defaults, so that each entry of the table
// below reads like one of Magenta's CONFIG_MAP entries: what it sets, by name.
class Preset {
 public:
  explicit Preset(std::string name) { c_.preset = std::move(name); }
  Preset& bars(int n) { return set(c_.bars, n); }
  Preset& encoder(int units, int layers) {
    c_.enc = units;
    return set(c_.enc_layers, layers);
  }
  Preset& z(int size) { return set(c_.z, size); }
  Preset& flat_decoder(int units, int layers) {
    c_.decoder = DecoderKind::kFlat;
    c_.cond = c_.cond_layers = 0;
    c_.dec = units;
    return set(c_.dec_layers, layers);
  }
  Preset& conductor(int units, int layers) {  // then decoder(): the bottom decoder under it
    c_.decoder = DecoderKind::kHierarchical;
    c_.cond = units;
    return set(c_.cond_layers, layers);
  }
  Preset& decoder(int units, int layers) {
    c_.dec = units;
    return set(c_.dec_layers, layers);
  }
  Preset& free_bits(double bits) { return set(c_.free_bits, bits); }
  Preset& scheduled_sampling(double inverse_sigmoid_k) { return set(c_.sampling_rate, inverse_sigmoid_k); }
  // Magenta's cat-drums configs: the encoder reads the drum roll (DrumsConverter(roll_input=True)).
  Preset& drum_roll_input() { return set(c_.roll_input, true); }
  // GrooVAE: velocities and microtiming out; the velocity and offset errors count at the
  // drummer's hits only (docs/results.md section 5; --groove-loss everywhere for Magenta's).
  Preset& groove_output(InputTransform transform) {
    c_.output = OutputKind::kGroove;
    c_.input_transform = transform;
    return set(c_.groove_loss_at_hits, true);
  }
  Preset& dropout_keep(double keep) { return set(c_.dropout_keep, keep); }
  operator ModelConfig() const { return c_; }  // NOLINT: the table converts each entry

 private:
  template <typename T, typename V>
  Preset& set(T& field, V value) {
    field = value;
    return *this;
  }
  ModelConfig c_;  // beta 0.2 constant, inverse-sigmoid schedule, 512 tokens, 16 steps per bar
};

// Magenta's groovae_* configs: enc 512, z 256, flat decoder 256x2, free bits 48, dropout_keep_prob
// 0.3, teacher forcing.
Preset groovae(const std::string& name, int bars, InputTransform transform) {
  Preset p(name);
  p.bars(bars).encoder(512, 1).z(256).flat_decoder(256, 2).free_bits(48).groove_output(transform).dropout_keep(0.3);
  return p;
}

const std::map<std::string, ModelConfig>& presets() {
  using T = InputTransform;
  static const std::map<std::string, ModelConfig> table = {
      // Magenta's configs.py, drums (512-token output, beta 0.2 constant, inverse sigmoid k = 1000).
      {"cat-drums_2bar_small", Preset("cat-drums_2bar_small")
                                   .bars(2)
                                   .encoder(512, 1)
                                   .z(256)
                                   .flat_decoder(256, 2)
                                   .free_bits(48)
                                   .scheduled_sampling(1000)
                                   .drum_roll_input()},
      {"cat-drums_2bar_big", Preset("cat-drums_2bar_big")
                                 .bars(2)
                                 .encoder(2048, 1)
                                 .z(512)
                                 .flat_decoder(2048, 3)
                                 .free_bits(48)
                                 .scheduled_sampling(1000)
                                 .drum_roll_input()},
      // The paper's 16-bar drum models (never released by Magenta): hierdec-mel_16bar's sizes.
      {"hierdec-drums_16bar", Preset("hierdec-drums_16bar")
                                  .bars(16)
                                  .encoder(2048, 2)
                                  .z(512)
                                  .conductor(1024, 2)
                                  .decoder(1024, 2)
                                  .free_bits(256)},
      {"flat-drums_16bar",
       Preset("flat-drums_16bar").bars(16).encoder(2048, 2).z(512).flat_decoder(2048, 3).free_bits(256)},
      // Ours: a hierarchical model small enough for a CPU or one modest GPU.
      {"hierdec-drums_4bar",
       Preset("hierdec-drums_4bar").bars(4).encoder(512, 1).z(256).conductor(512, 2).decoder(512, 2).free_bits(64)},
      // Magenta's GrooVAE configs (velocities and microtiming; the 2-bar ones with an input transform).
      {"groovae_4bar", groovae("groovae_4bar", 4, T::kNone)},
      {"groovae_2bar_humanize", groovae("groovae_2bar_humanize", 2, T::kHumanize)},
      {"groovae_2bar_tap_fixed_velocity", groovae("groovae_2bar_tap_fixed_velocity", 2, T::kTap)},
      // Ours: for tests and smoke runs.
      {"tiny", Preset("tiny").bars(2).encoder(32, 1).z(16).conductor(32, 1).decoder(32, 1).free_bits(0)},
      {"tiny-groove", Preset("tiny-groove")
                          .bars(2)
                          .encoder(32, 1)
                          .z(16)
                          .conductor(32, 1)
                          .decoder(32, 1)
                          .free_bits(0)
                          .groove_output(T::kHumanize)},
  };
  return table;
}

}  // namespace

std::string to_string(OutputKind kind) { return kind == OutputKind::kGroove ? "groove" : "tokens"; }

std::string to_string(InputTransform transform) {
  switch (transform) {
    case InputTransform::kHumanize: return "humanize";
    case InputTransform::kTap: return "tap";
    default: return "none";
  }
}

OutputKind parse_output_kind(const std::string& text) {
  if (text == "tokens") return OutputKind::kTokens;
  if (text == "groove") return OutputKind::kGroove;
  throw ConfigError("output", "must be tokens or groove, got '" + text + "'");
}

bool parse_groove_feedback(const std::string& text) {
  if (text == "masked") return true;
  if (text == "raw") return false;
  throw ConfigError("groove_feedback", "must be masked or raw, got '" + text + "'");
}

InputTransform parse_input_transform(const std::string& text) {
  if (text == "none") return InputTransform::kNone;
  if (text == "humanize") return InputTransform::kHumanize;
  if (text == "tap") return InputTransform::kTap;
  throw ConfigError("input_transform", "must be none, humanize or tap, got '" + text + "'");
}

std::string to_string(SamplingSchedule schedule) {
  switch (schedule) {
    case SamplingSchedule::kConstant: return "constant";
    case SamplingSchedule::kExponential: return "exponential";
    default: return "inverse_sigmoid";
  }
}

Initialization parse_initialization(const std::string& text) {
  if (text == "pytorch") return Initialization::kPyTorch;
  if (text == "magenta") return Initialization::kMagenta;
  throw UsageError("{init} must be pytorch or magenta, got '" + text + "'");
}

std::string to_string(Initialization how) { return how == Initialization::kMagenta ? "magenta" : "pytorch"; }

SamplingSchedule parse_sampling_schedule(const std::string& text) {
  if (text == "constant") return SamplingSchedule::kConstant;
  if (text == "exponential") return SamplingSchedule::kExponential;
  if (text == "inverse_sigmoid") return SamplingSchedule::kInverseSigmoid;
  throw ConfigError("sampling_schedule", "must be constant, exponential or inverse_sigmoid, got '" + text + "'");
}

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
  // Each size between 1 and its limit (kLimits, config.h: why each number), so that a configuration
  // read from a stranger's file cannot ask for more memory than the limits allow.
  const auto in_range = [](const char* field, int v, int most) {
    if (v < 1) throw ConfigError(field, "must be >= 1, got " + std::to_string(v));
    if (v > most)
      throw ConfigError(
          field, "must be <= " + std::to_string(most) + " (the limit on a model's sizes), got " + std::to_string(v));
  };
  in_range("vocab", vocab, kLimits.vocab);
  in_range("bars", bars, kLimits.bars);
  in_range("steps_per_bar", steps_per_bar, kLimits.steps_per_bar);
  in_range("enc", enc, kLimits.units);
  in_range("enc_layers", enc_layers, kLimits.layers);
  in_range("z", z, kLimits.units);
  in_range("dec", dec, kLimits.units);
  in_range("dec_layers", dec_layers, kLimits.layers);
  if (hierarchical()) {
    in_range("cond", cond, kLimits.units);
    in_range("cond_layers", cond_layers, kLimits.layers);
  }
  if (const int64_t parameters = parameter_count(*this); parameters > kLimits.parameters)
    throw ConfigError("enc", "and the other sizes make " + std::to_string(parameters) +
                                 " parameters, over the limit of " + std::to_string(kLimits.parameters) +
                                 " (16 bytes each to train in float32): choose smaller sizes");
  // Written so that NaN fails too (every comparison with NaN is false); infinities are refused.
  const auto finite_at_least_zero = [](const char* field, double v, const char* also) {
    if (!(v >= 0 && std::isfinite(v)))
      throw ConfigError(field, std::string("must be a finite number >= 0") + also + ", got " + std::to_string(v));
  };
  finite_at_least_zero("free_bits", free_bits, "");
  finite_at_least_zero("max_beta", max_beta, "");
  if (!(beta_rate >= 0 && beta_rate < 1))
    throw ConfigError("beta_rate", "must be in [0, 1), got " + std::to_string(beta_rate));
  finite_at_least_zero("sampling_rate", sampling_rate, " (0 = teacher forcing)");
  if (sampling_schedule == SamplingSchedule::kConstant && sampling_rate > 1)
    throw ConfigError("sampling_rate", "is the sampling probability of the constant schedule: must be in [0, 1], got " +
                                           std::to_string(sampling_rate));
  if (sampling_schedule == SamplingSchedule::kExponential && sampling_rate >= 1)
    throw ConfigError("sampling_rate",
                      "is the base of the exponential schedule (p = 1 - rate^step): must be in [0, 1), got " +
                          std::to_string(sampling_rate));
  if (input_transform != InputTransform::kNone && !groove())
    throw ConfigError("input_transform", "needs the groove output (the token models see only which drums are hit)");
  if (roll_input && groove())
    throw ConfigError("roll_input", "is for the token output (groove models read their own vectors)");
  if (groove_loss_at_hits && !groove()) throw ConfigError("groove_loss", "needs the groove output");
  if (!groove_feedback_masked && !groove())
    throw ConfigError("groove_feedback", "needs the groove output (a token model feeds back its tokens)");
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
  j["output"] = to_string(output);
  j["input_transform"] = to_string(input_transform);
  j["roll_input"] = roll_input;
  j["groove_loss_at_hits"] = groove_loss_at_hits;
  j["groove_feedback"] = groove_feedback_masked ? "masked" : "raw";
  j["free_bits"] = free_bits;
  j["max_beta"] = max_beta;
  j["beta_rate"] = beta_rate;
  j["sampling_schedule"] = to_string(sampling_schedule);
  j["sampling_rate"] = sampling_rate;
  j["dropout_keep"] = dropout_keep;
  return j.dump();
}

namespace {
// An integer field of a configuration read from a file: a JSON integer that fits an int (a float,
// a string or 1e30 is refused rather than cast).
int int_field(const nlohmann::json& j, const char* field) {
  const nlohmann::json& v = j.at(field);
  const bool fits = v.is_number_unsigned()
                        ? v.get<uint64_t>() <= uint64_t{std::numeric_limits<int>::max()}
                        : v.is_number_integer() && v.get<int64_t>() >= std::numeric_limits<int>::min() &&
                              v.get<int64_t>() <= std::numeric_limits<int>::max();
  if (!fits) throw ConfigError(field, "must be an integer, got " + v.dump());
  return v.get<int>();
}
}  // namespace

ModelConfig ModelConfig::from_json(const std::string& text, const std::string& source) {
  ModelConfig c;
  try {
    const auto j = nlohmann::json::parse(text);
    c.preset = j.value("preset", "");
    c.vocab = int_field(j, "vocab");
    c.bars = int_field(j, "bars");
    c.steps_per_bar = int_field(j, "steps_per_bar");
    c.enc = int_field(j, "enc");
    c.enc_layers = int_field(j, "enc_layers");
    c.z = int_field(j, "z");
    const std::string kind = j.at("decoder");
    if (kind != "hierarchical" && kind != "flat")
      throw ConfigError("decoder", "must be hierarchical or flat, got '" + kind + "'");
    c.decoder = kind == "hierarchical" ? DecoderKind::kHierarchical : DecoderKind::kFlat;
    c.cond = int_field(j, "cond");
    c.cond_layers = int_field(j, "cond_layers");
    c.dec = int_field(j, "dec");
    c.dec_layers = int_field(j, "dec_layers");
    // Both absent in models saved before the groove output existed: token models.
    c.output = parse_output_kind(j.value("output", "tokens"));
    c.input_transform = parse_input_transform(j.value("input_transform", "none"));
    c.groove_loss_at_hits = j.value("groove_loss_at_hits", false);
    c.groove_feedback_masked = parse_groove_feedback(j.value("groove_feedback", "masked"));  // absent before: masked
    c.roll_input = j.value("roll_input", false);  // absent in models saved before it existed: token lookup
    c.free_bits = j.at("free_bits");
    c.max_beta = j.at("max_beta");
    c.beta_rate = j.at("beta_rate");
    // Absent in models saved before there was a choice: inverse sigmoid was the only schedule.
    c.sampling_schedule = parse_sampling_schedule(j.value("sampling_schedule", "inverse_sigmoid"));
    c.sampling_rate = j.at("sampling_rate");
    c.dropout_keep = j.value("dropout_keep", 1.0);  // absent in models saved before dropout existed
    c.validate();
  } catch (const ConfigError& e) {  // a file's value, not an option: named as the file's field
    throw InputError(source, "model config field " + e.field(), e.problem());
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
  if (groove()) s += ", groove output (hits, velocities, offsets)";
  if (input_transform != InputTransform::kNone) s += ", input " + to_string(input_transform);
  if (roll_input) s += ", encoder reads the drum roll";
  if (groove() && groove_loss_at_hits) s += ", velocity/offset loss at hits";
  if (groove() && !groove_feedback_masked) s += ", raw feedback (Magenta's)";
  if (sampling_rate > 0) {
    char schedule[80];
    std::snprintf(schedule, sizeof schedule, ", scheduled sampling %s %g", to_string(sampling_schedule).c_str(),
                  sampling_rate);
    s += schedule;
  }
  if (dropout_keep < 1) {
    char keep[32];
    std::snprintf(keep, sizeof keep, ", dropout keep %.2f", dropout_keep);
    s += keep;
  }
  return s;
}

double forward_flops_per_sequence(const ModelConfig& c) {
  // One LSTM stack over `steps` steps: each layer and direction multiplies [input + H] by [4H] per step.
  const auto lstm = [](double steps, double hidden, int layers, int directions, double input0) {
    double flops = 0;
    for (int l = 0; l < layers; ++l) {
      const double input = l == 0 ? input0 : directions * hidden;
      flops += directions * steps * 2.0 * 4.0 * hidden * (input + hidden);
    }
    return flops;
  };
  const double T = c.steps(), U = c.bars, F = c.step_features(), out = c.output_size();
  double flops = lstm(T, c.enc, c.enc_layers, 2, c.encoder_features());  // encoder
  flops += 2 * 2.0 * (2.0 * c.enc) * c.z;                                // mu and sigma
  if (c.hierarchical()) {
    flops += 2.0 * c.z * (2.0 * c.cond_layers * c.cond);       // conductor initial state
    flops += lstm(U, c.cond, c.cond_layers, 1, 0);             // conductor (no input)
    flops += U * 2.0 * c.cond * (2.0 * c.dec_layers * c.dec);  // decoder initial state per bar
    flops += U * 2.0 * 4.0 * c.dec * c.cond;                   // conductor embedding, once per bar
  } else {
    flops += 2.0 * c.z * (2.0 * c.dec_layers * c.dec);  // decoder initial state
    flops += 2.0 * 4.0 * c.dec * c.z;                   // z, once per sequence
  }
  flops += lstm(T, c.dec, c.dec_layers, 1, F);  // decoder
  flops += T * 2.0 * c.dec * out;               // output layer
  return flops;
}

int64_t parameter_count(const ModelConfig& c) {
  // One LSTM stack (model/lstm.cpp): per direction, layer 0's token gates [vocab + 1, 4H], input
  // weights [4H, features] and dense weights [4H, dense]; per layer, w_ih [D, 4H, D*H] (above
  // layer 0), w_hh [D, 4H, H] and the bias [D, 4H].
  const auto lstm = [](int64_t H, int64_t layers, int64_t D, int64_t vocab, int64_t features, int64_t dense) {
    const int64_t G = 4 * H;
    int64_t n = D * ((vocab > 0 ? (vocab + 1) * G : 0) + G * features + G * dense);
    for (int64_t l = 0; l < layers; ++l) n += (l > 0 ? D * G * D * H : 0) + D * G * H + D * G;
    return n;
  };
  const auto dense = [](int64_t in, int64_t out) { return in * out + out; };
  const int64_t V = c.groove() ? 0 : c.vocab;
  int64_t n = lstm(c.enc, c.enc_layers, 2, c.roll_input ? 0 : V, c.encoder_features(), 0);
  n += 2 * dense(2 * int64_t{c.enc}, c.z);  // mu, sigma
  int64_t decoder_dense = c.z;
  if (c.hierarchical()) {
    n += dense(c.z, 2 * int64_t{c.cond_layers} * c.cond) + lstm(c.cond, c.cond_layers, 1, 0, 0, 0);
    decoder_dense = c.cond;
  }
  n += dense(decoder_dense, 2 * int64_t{c.dec_layers} * c.dec);
  n += lstm(c.dec, c.dec_layers, 1, V, c.step_features(), decoder_dense);
  n += dense(c.dec, c.output_size());
  return n;
}

double beta_at(const ModelConfig& c, long step) {
  return c.max_beta * (1.0 - std::pow(c.beta_rate, static_cast<double>(step)));
}

// Magenta's base_model.py, MusicVAE.__init__ (sampling_probability).
double sampling_probability_at(const ModelConfig& c, long step) {
  const double k = c.sampling_rate;
  if (k <= 0) return 0.0;
  switch (c.sampling_schedule) {
    case SamplingSchedule::kConstant: return k;
    case SamplingSchedule::kExponential: return 1.0 - std::pow(k, static_cast<double>(step));
    default: {
      const double x = static_cast<double>(step) / k;
      if (x > 700) return 1.0;  // exp overflow: the schedule has long reached 1
      return 1.0 - k / (k + std::exp(x));
    }
  }
}

}  // namespace mvae::model
