#include "cli/model_options.h"

#include <algorithm>

#include "common/error.h"

namespace po = boost::program_options;

namespace mvae::cli {
namespace {

model::ModelConfig resolve_fields(const po::variables_map& vm, const std::string& default_preset) {
  model::ModelConfig c = model::preset(vm.count("preset") ? vm["preset"].as<std::string>() : default_preset);
  const auto set_int = [&](const char* name, int& field) {
    if (vm.count(name)) field = vm[name].as<int>();
  };
  const auto set_double = [&](const char* name, double& field) {
    if (vm.count(name)) field = vm[name].as<double>();
  };
  set_int("enc", c.enc);
  set_int("enc-layers", c.enc_layers);
  set_int("z", c.z);
  set_int("cond", c.cond);
  set_int("cond-layers", c.cond_layers);
  set_int("dec", c.dec);
  set_int("dec-layers", c.dec_layers);
  set_int("bars", c.bars);
  set_double("free-bits", c.free_bits);
  set_double("beta", c.max_beta);
  set_double("beta-rate", c.beta_rate);
  set_double("sampling-rate", c.sampling_rate);
  set_double("dropout-keep", c.dropout_keep);
  if (vm.count("output")) c.output = model::parse_output_kind(vm["output"].as<std::string>());
  if (vm.count("groove-loss")) {
    const std::string where = vm["groove-loss"].as<std::string>();
    if (where != "everywhere" && where != "at-hits")
      throw model::ConfigError("groove_loss", "must be everywhere or at-hits, got '" + where + "'");
    c.groove_loss_at_hits = where == "at-hits";
  }
  if (vm.count("groove-feedback"))
    c.groove_feedback_masked = model::parse_groove_feedback(vm["groove-feedback"].as<std::string>());
  if (vm.count("sampling-schedule"))
    c.sampling_schedule = model::parse_sampling_schedule(vm["sampling-schedule"].as<std::string>());
  if (vm.count("input-transform"))
    c.input_transform = model::parse_input_transform(vm["input-transform"].as<std::string>());
  if (vm.count("encoder-input")) {
    const std::string input = vm["encoder-input"].as<std::string>();
    if (input != "token" && input != "roll")
      throw model::ConfigError("roll_input", "must be token or roll, got '" + input + "'");
    c.roll_input = input == "roll";
  }
  if (vm.count("decoder")) {
    const std::string kind = vm["decoder"].as<std::string>();
    if (kind != "hierarchical" && kind != "flat")
      throw model::ConfigError("decoder", "must be hierarchical or flat, got '" + kind + "'");
    c.decoder = kind == "flat" ? model::DecoderKind::kFlat : model::DecoderKind::kHierarchical;
  }
  c.validate();
  return c;
}

}  // namespace

po::options_description model_options_description() {
  po::options_description d("Model (a preset, then any size on top of it)");
  std::string presets;
  for (const std::string& name : model::preset_names()) presets += (presets.empty() ? "" : ", ") + name;
  // clang-format off
  d.add_options()
    ("preset", po::value<std::string>(), presets.c_str())
    ("output", po::value<std::string>(), "tokens (512 drum tokens) or groove (hits, velocities and offsets per drum class)")
    ("groove-loss", po::value<std::string>(), "groove: where velocity and offset errors count: at-hits (the drummer's hits; the groove presets' default) or everywhere (Magenta's GrooVAE)")
    ("groove-feedback", po::value<std::string>(), "groove: what a free-running decoder step reads of the step before: masked (velocities and offsets where hit) or raw (the heads, as Magenta decodes)")
    ("input-transform", po::value<std::string>(), "groove: what the encoder sees: none, humanize (no velocities or timing) or tap (all hits on one class)")
    ("encoder-input", po::value<std::string>(), "tokens: what the encoder reads per step: roll (9 drum bits + 'no drums', as Magenta's cat-drums configs; needed to export to them) or token (one of 512 by lookup)")
    ("enc", po::value<int>(), "encoder LSTM units per direction")
    ("enc-layers", po::value<int>(), "encoder bidirectional layers")
    ("z", po::value<int>(), "latent size")
    ("decoder", po::value<std::string>(), "hierarchical or flat")
    ("cond", po::value<int>(), "conductor LSTM units")
    ("cond-layers", po::value<int>(), "conductor layers")
    ("dec", po::value<int>(), "decoder LSTM units")
    ("dec-layers", po::value<int>(), "decoder layers")
    ("bars", po::value<int>(), "bars per sequence (must match the data)")
    ("free-bits", po::value<double>(), "free bits of KL per example")
    ("beta", po::value<double>(), "KL weight (max beta)")
    ("beta-rate", po::value<double>(), "beta(step) = beta * (1 - rate^step); 0 = constant")
    ("sampling-schedule", po::value<std::string>(), "scheduled sampling (Magenta's): constant, exponential or inverse_sigmoid")
    ("sampling-rate", po::value<double>(), "the schedule's rate: constant: the probability of reading the model's own sample; exponential: p = 1 - rate^step; inverse_sigmoid: k in 1 - k/(k + exp(step/k)); 0 = teacher forcing")
    ("dropout-keep", po::value<double>(), "LSTM input keep probability in training (Magenta's dropout_keep_prob; 1 = no dropout)");
  // clang-format on
  return d;
}

std::string option_name(const std::string& field) {
  if (field == "max_beta") return "--beta";
  if (field == "roll_input") return "--encoder-input";
  return default_option_name(field);
}

model::ModelConfig resolve_model_config(const po::variables_map& vm, const std::string& default_preset) {
  try {
    return resolve_fields(vm, default_preset);
  } catch (const model::ConfigError& e) {
    throw UsageError(in_option_words(e.what(), option_name));
  }
}

}  // namespace mvae::cli
