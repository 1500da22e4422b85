#include "magenta/commands.h"

#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "data/representation.h"
#include "magenta/magenta_model.h"
#include "magenta/tf_checkpoint.h"
#include "model/checkpoint_files.h"
#include "model/musicvae.h"

namespace mvae::magenta {
namespace {

// What the data of a Magenta config means in our terms: its window length and the drum map its
// converter reads performances with (GrooVAE's configs read Roland TD-11 pitches, the others
// General MIDI; both write General MIDI exemplars).
data::DataRepresentation representation_for(const model::ModelConfig& c) {
  data::DataRepresentation r;
  r.bars = c.bars;
  r.steps_per_bar = c.steps_per_bar;
  if (c.groove()) r.pitch_map_json = data::PitchMap::roland_td11().to_json();
  return r;
}

void require(const std::string& value, const char* option) {
  if (value.empty()) throw UsageError(std::string("--") + option + " is required");
}

}  // namespace

int import_command(const MagentaOptions& o) {
  require(o.checkpoint, "checkpoint");
  require(o.config, "config");
  require(o.out, "out");
  const std::string prefix = resolve_checkpoint_prefix(o.checkpoint);
  const TfVariables variables = read_tf_checkpoint(prefix);
  const model::ModelConfig config = config_from_checkpoint(variables, o.config, prefix + ".index");
  model::MusicVAE m = import_checkpoint(variables, config, prefix + ".index");
  model::save_model(o.out, m, representation_for(config).to_json());
  const auto step = variables.find("global_step");
  std::fprintf(stderr, "magenta import: %s (Magenta %s%s) -> %s\n  %s\n", prefix.c_str(), o.config.c_str(),
               step == variables.end() ? "" : (", step " + std::to_string(*reinterpret_cast<const int64_t*>(step->second.bytes.data()))).c_str(),
               o.out.c_str(), config.summary().c_str());
  return 0;
}

int export_command(const MagentaOptions& o) {
  require(o.checkpoint, "checkpoint");
  require(o.config, "config");
  require(o.out, "out");
  model::LoadedModel loaded = model::load_model(model::resolve_model_file(o.checkpoint), torch::kCPU);
  const long step = o.global_step >= 0 ? o.global_step : 0;
  const TfVariables variables = export_checkpoint(loaded.model, o.config, step);
  const std::filesystem::path folder = std::filesystem::path(o.out).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder);
  write_tf_checkpoint(o.out, variables);
  std::fprintf(stderr, "magenta export: %s -> %s (Magenta %s, %zu variables)\n  load it with TrainedModel(configs.CONFIG_MAP['%s'], "
               "batch_size, checkpoint_dir_or_path='%s')\n",
               o.checkpoint.c_str(), o.out.c_str(), o.config.c_str(), variables.size(), o.config.c_str(), o.out.c_str());
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

}  // namespace mvae::magenta
