#include "magenta/commands.h"

#include <cstdio>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "data/representation.h"
#include "data/shards.h"
#include "magenta/magenta_model.h"
#include "magenta/roll_encoder.h"
#include "magenta/tf_checkpoint.h"
#include "model/musicvae.h"
#include "model_file/model_file.h"
#include "run_folder/checkpoint_files.h"

namespace mvae::magenta {
namespace {

// What the data of a Magenta config means in our terms: its window length and the drum maps its
// converter reads performances with. GrooVAE's configs train on Roland TD-11 pitches and, in
// TrainedModel, read and write General MIDI (inference_pitch_classes); the others use General MIDI
// throughout.
data::DataRepresentation representation_for(const model::ModelConfig& c) {
  data::DataRepresentation r;
  r.bars = c.bars;
  r.steps_per_bar = c.steps_per_bar;
  if (c.groove()) {
    r.pitch_map_json = data::PitchMap::roland_td11().to_json();
    r.inference_pitch_map_json = data::PitchMap::general_midi().to_json();
  }
  return r;
}

void require(const std::string& value, const char* option) {
  if (value.empty()) throw UsageError(std::string("--") + option + " is required");
}

// Magenta.js's data converter for the model (@magenta/music core/data.ts: DrumsConverter reads the
// drum roll and writes 512-way tokens; GrooveConverter the hit, velocity, offset vectors).
nlohmann::ordered_json converter_spec(const model::ModelConfig& c) {
  nlohmann::ordered_json args;
  args["numSteps"] = c.steps();
  if (!c.groove()) return {{"type", "DrumsConverter"}, {"args", args}};
  if (c.input_transform == model::InputTransform::kHumanize) args["humanize"] = true;
  if (c.input_transform == model::InputTransform::kTap) args["tapify"] = true;
  return {{"type", "GrooveConverter"}, {"args", args}};
}

// What Magenta.js's MusicVAE cannot load (music_vae/model.ts, initialize()).
void require_playable_in_magenta_js(const model::ModelConfig& c) {
  if (c.hierarchical())
    throw UsageError(
        "Magenta.js plays a hierarchical decoder only beneath a hierarchical encoder (numSegments); this "
        "model's encoder is flat: export it with `magenta export` for Magenta's Python instead");
  if (c.enc_layers != 1)
    throw UsageError("Magenta.js reads single-layer bidirectional encoders only; this model's has " +
                     std::to_string(c.enc_layers) + " layers");
}

// --checkpoint, --config and --out given; the model of --checkpoint (a run folder, a checkpoint folder or a model.pt).
model_file::LoadedModel model_to_export(const MagentaOptions& o) {
  require(o.checkpoint, "checkpoint");
  require(o.config, "config");
  require(o.out, "out");
  model_file::LoadedModel loaded = model_file::load_model(run_folder::resolve_model_file(o.checkpoint), torch::kCPU);
  if (loaded.config.groove() && loaded.config.groove_feedback_masked)
    std::fprintf(stderr,
                 "magenta: warning: Magenta decodes a GrooVAE feeding back the raw velocity and offset heads; this "
                 "model decodes feeding them back where hit (groove_feedback masked), so its free-running output "
                 "will differ there (a model trained with --groove-feedback raw decodes the same on both sides)\n");
  return loaded;
}

}  // namespace

int import_command(const MagentaOptions& o) {
  require(o.checkpoint, "checkpoint");
  require(o.config, "config");
  require(o.out, "out");
  const std::string prefix = resolve_checkpoint_prefix(o.checkpoint);
  const TfVariables variables = read_tf_checkpoint(prefix);
  const model::ModelConfig config = config_from_checkpoint(variables, o.config, prefix + ".index", o.hparams);
  model::MusicVAE m = import_checkpoint(variables, config, prefix + ".index");
  model_file::save_model(o.out, m, representation_for(config));
  std::string step;
  const auto global_step = variables.find("global_step");
  if (global_step != variables.end() && global_step->second.dtype == TfDtype::kInt64 &&
      global_step->second.bytes.size() == 8) {
    int64_t value;
    std::memcpy(&value, global_step->second.bytes.data(), sizeof value);
    step = ", step " + std::to_string(value);
  }
  std::fprintf(stderr, "magenta import: %s (Magenta %s%s) -> %s\n  %s\n", prefix.c_str(), o.config.c_str(),
               step.c_str(), o.out.c_str(), config.summary().c_str());
  return 0;
}

int export_command(const MagentaOptions& o) {
  model_file::LoadedModel loaded = model_to_export(o);
  const long step = o.global_step >= 0 ? o.global_step : 0;
  const TfVariables variables = export_checkpoint(loaded.model, o.config, step, o.hparams);
  const std::filesystem::path folder = std::filesystem::path(o.out).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder);
  write_tf_checkpoint(o.out, variables);
  const std::string config = o.hparams.empty() ? "configs.CONFIG_MAP['" + o.config + "']"
                                               : "config (config = copy.deepcopy(configs.CONFIG_MAP['" + o.config +
                                                     "']); config.hparams.parse('" + o.hparams + "'))";
  std::fprintf(stderr,
               "magenta export: %s -> %s (Magenta %s, %zu variables)\n  load it with TrainedModel(%s, batch_size, "
               "checkpoint_dir_or_path='%s')\n",
               o.checkpoint.c_str(), o.out.c_str(), o.config.c_str(), variables.size(), config.c_str(), o.out.c_str());
  return 0;
}

int export_js_command(const MagentaOptions& o) {
  StagingDir staging(o.out, o.force, {o.checkpoint});  // first: --out checked; a half-written folder never appears
  model_file::LoadedModel loaded = model_to_export(o);
  require_playable_in_magenta_js(loaded.config);
  TfVariables variables = export_checkpoint(loaded.model, o.config, 0, o.hparams);
  variables.erase("global_step");  // the model's variables only, as Magenta.js's checkpoint converter keeps
  const std::string shard = "group1-shard1of1.bin";
  nlohmann::ordered_json weights = nlohmann::ordered_json::array();
  std::string bytes;
  for (const auto& [name, tensor] : variables) {
    weights.push_back({{"name", name}, {"shape", tensor.shape}, {"dtype", "float32"}});
    bytes += tensor.bytes;
  }
  const nlohmann::ordered_json manifest = nlohmann::ordered_json::array({{{"paths", {shard}}, {"weights", weights}}});
  const nlohmann::ordered_json spec = {{"type", "MusicVAE"}, {"dataConverter", converter_spec(loaded.config)}};
  write_file_atomic(staging.path() / shard, bytes);
  write_file_atomic(staging.path() / "weights_manifest.json", manifest.dump(1) + "\n");
  write_file_atomic(staging.path() / "config.json", spec.dump(1) + "\n");
  staging.publish();
  std::fprintf(stderr,
               "magenta export-js: %s -> %s/ (Magenta %s, %zu variables, %.1f MB)\n  in a page: new mm.MusicVAE('<url "
               "of %s>')\n",
               o.checkpoint.c_str(), o.out.c_str(), o.config.c_str(), variables.size(), bytes.size() / 1e6,
               o.out.c_str());
  return 0;
}

int list_command(const MagentaOptions& o) {
  require(o.checkpoint, "checkpoint");
  const std::string prefix = resolve_checkpoint_prefix(o.checkpoint);
  for (const auto& [name, tensor] : read_tf_checkpoint(prefix)) {
    std::string shape;
    for (const int64_t d : tensor.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    std::printf("%s %s [%s]\n", name.c_str(), to_string(tensor.dtype).c_str(), shape.c_str());
  }
  return 0;
}

int init_command(const MagentaOptions& o) {
  require(o.config, "config");
  require(o.out, "out");
  model::MusicVAE m = initialize_like_magenta(o.config, o.seed, o.hparams);
  model_file::save_model(o.out, m, representation_for(m->config()));
  std::fprintf(stderr, "magenta init: %s initialised as Magenta's trainer does (seed %llu) -> %s\n  %s\n",
               o.config.c_str(), static_cast<unsigned long long>(o.seed), o.out.c_str(), m->config().summary().c_str());
  return 0;
}

namespace {
// How often each token occurs in the training windows of the shards at `folder`: [vocab].
torch::Tensor training_token_counts(const std::string& folder, int64_t vocab) {
  data::ShardSet shards(folder);
  const int64_t n = shards.size("train"), T = shards.representation().window_steps(), chunk = 4096;
  torch::Tensor counts = torch::zeros({vocab}, torch::kLong);
  std::vector<uint16_t> tokens;
  for (int64_t first = 0; first < n; first += chunk) {
    std::vector<int64_t> rows;
    for (int64_t i = first; i < std::min(n, first + chunk); ++i) rows.push_back(i);
    tokens.resize(rows.size() * static_cast<size_t>(T));
    shards.read_tokens("train", rows, tokens.data());
    const torch::Tensor t = torch::from_blob(tokens.data(), {static_cast<int64_t>(tokens.size())}, torch::kShort);
    counts += torch::bincount(t.to(torch::kLong).bitwise_and(0xFFFF), {}, vocab).narrow(0, 0, vocab);
  }
  return counts;
}
}  // namespace

int roll_encoder_command(const MagentaOptions& o) {
  require(o.checkpoint, "checkpoint");
  require(o.data, "data");
  require(o.out, "out");
  model_file::LoadedModel token = model_file::load_model(run_folder::resolve_model_file(o.checkpoint), torch::kCPU);
  RollEncoderFit fit = roll_encoder_from_tokens(token.model, training_token_counts(o.data, token.config.vocab));
  model_file::save_model(o.out, fit.model, token.representation);
  std::fprintf(stderr,
               "magenta roll-encoder: %s -> %s: the encoder reads the drum roll, its input weights fitted to the token "
               "table (weighted rms of the fit's error %.3g against %.3g for the table itself); fine-tune it: train "
               "--init-from %s --encoder-input roll ...\n",
               o.checkpoint.c_str(), o.out.c_str(), fit.residual_rms, fit.table_rms, o.out.c_str());
  return 0;
}

const std::vector<Verb>& verbs() {
  static const std::vector<Verb> table = {
      {"import", "a Magenta checkpoint -> our model file", import_command},
      {"export", "our model -> a Magenta checkpoint (TrainedModel loads it)", export_command},
      {"export-js", "our model -> Magenta.js's folder", export_js_command},
      {"list", "a checkpoint's variables, shapes and dtypes", list_command},
      {"init", "a fresh model of a Magenta config, initialised as Magenta's trainer does", init_command},
      {"roll-encoder", "a model whose encoder looks tokens up -> one reading the drum roll, to fine-tune",
       roll_encoder_command},
  };
  return table;
}

}  // namespace mvae::magenta
