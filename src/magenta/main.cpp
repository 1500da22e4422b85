// magenta: Magenta MusicVAE checkpoints as this project's models, and back (docs/magenta.md).
#include <boost/program_options.hpp>

#include <algorithm>
#include <cstring>
#include <iostream>

#include "common/error.h"
#include "common/run_program.h"
#include "magenta/commands.h"
#include "magenta/magenta_model.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  mvae::magenta::MagentaOptions o;
  o.verb = argc > 1 ? argv[1] : "";
  std::string configs, verb_names, verb_lines;
  for (const auto& name : mvae::magenta::supported_configs()) configs += (configs.empty() ? "" : ", ") + name;
  for (const auto& v : mvae::magenta::verbs()) {
    verb_names += (verb_names.empty() ? "" : " | ") + std::string(v.name);
    verb_lines += "  " + std::string(v.name) + std::string(11 - std::min<size_t>(10, std::strlen(v.name)), ' ') +
                  v.summary + "\n";
  }
  po::options_description desc(
      "magenta VERB [options]: " + verb_names + "\n" + verb_lines +
      "Examples:\n"
      "  magenta import --checkpoint cat-drums_2bar_small.lokl.ckpt --config cat-drums_2bar_small --out "
      "model.safetensors\n"
      "  magenta export --checkpoint runs/a --config cat-drums_2bar_small --out magenta/model.ckpt-1000\n"
      "  magenta export-js --checkpoint runs/a --config cat-drums_2bar_small --out web/drums/   (Magenta.js)\n"
      "  magenta list   --checkpoint run_dir/train\n"
      "  magenta init   --config cat-drums_2bar_small --out magenta-init.safetensors   (then train --init-from it)\n"
      "  magenta init   --config hierdec-drums_16bar --hparams enc_rnn_size=[256],z_size=256,dec_rnn_size=[256,256] "
      "--out i.safetensors\n"
      "  magenta roll-encoder --checkpoint models/groove_2bar_hikl/model.safetensors --data shards2 --out "
      "roll-init.safetensors   (then "
      "train --init-from it --encoder-input roll)\n"
      "Configs: " +
      configs + "\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("checkpoint,c", po::value(&o.checkpoint), "import, list: a TensorFlow checkpoint (prefix, .index file, or folder); export, export-js, roll-encoder: a run folder, checkpoint folder or model file")
    ("data", po::value(&o.data), "roll-encoder: the shards whose training windows weigh the tokens")
    ("config", po::value(&o.config), "Magenta's config name (CONFIG_MAP)")
    ("out,o", po::value(&o.out), "import, init, roll-encoder: the model file to write; export: the checkpoint prefix to write (folder/model.ckpt-STEP); export-js: the folder to write")
    ("global-step", po::value(&o.global_step), "export: the step the checkpoint records (default 0)")
    ("force", po::bool_switch(&o.force), "export-js: replace an --out folder that already holds files")
    ("seed", po::value(&o.seed)->default_value(o.seed), "init: the seed of the weights")
    ("hparams", po::value(&o.hparams), "layer sizes as Magenta's trainer takes them (enc_rnn_size=[256],z_size=256,dec_rnn_size=[256,256]), default the config's: init draws them; import, export and export-js require the model to have them");
  // clang-format on
  return mvae::run_program("magenta", [&] {
    po::variables_map vm;
    po::store(po::parse_command_line(argc - (argc > 1 ? 1 : 0), argv + (argc > 1 ? 1 : 0), desc), vm);
    po::notify(vm);
    if (vm.count("help") || o.verb == "--help" || o.verb == "-h" || o.verb.empty()) {
      std::cout << desc;
      return o.verb.empty() ? 2 : 0;
    }
    for (const auto& v : mvae::magenta::verbs())
      if (o.verb == v.name) return v.run(o);
    throw mvae::UsageError("unknown verb '" + o.verb + "' (" + verb_names + ")");
  });
}
