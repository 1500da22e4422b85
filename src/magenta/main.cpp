// magenta: Magenta MusicVAE checkpoints as this project's models, and back (docs/magenta.md).
#include <boost/program_options.hpp>

#include <iostream>

#include "common/cli.h"
#include "common/error.h"
#include "magenta/commands.h"
#include "magenta/magenta_model.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  mvae::magenta::MagentaOptions o;
  o.verb = argc > 1 ? argv[1] : "";
  std::string configs;
  for (const auto& name : mvae::magenta::supported_configs()) configs += (configs.empty() ? "" : ", ") + name;
  po::options_description desc(
      "magenta VERB [options]: import | export | export-js | list\n"
      "  magenta import --checkpoint cat-drums_2bar_small.lokl.ckpt --config cat-drums_2bar_small --out model.pt\n"
      "  magenta export --checkpoint runs/a --config cat-drums_2bar_small --out magenta/model.ckpt-1000\n"
      "  magenta export-js --checkpoint runs/a --config cat-drums_2bar_small --out web/drums/   (Magenta.js)\n"
      "  magenta list   --checkpoint run_dir/train\nConfigs: " + configs + "\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("checkpoint,c", po::value(&o.checkpoint), "import, list: a TensorFlow checkpoint (prefix, .index file, or folder); export: run folder, checkpoint folder or model.pt")
    ("config", po::value(&o.config), "Magenta's config name (CONFIG_MAP)")
    ("out,o", po::value(&o.out), "import: the model file to write; export: the checkpoint prefix to write (folder/model.ckpt-STEP); export-js: the folder to write")
    ("global-step", po::value(&o.global_step), "export: the step the checkpoint records (default 0)")
    ("force", po::bool_switch(&o.force), "export-js: replace an --out folder that already holds files");
  // clang-format on
  return mvae::run_program("magenta", [&] {
    po::variables_map vm;
    po::store(po::parse_command_line(argc - (argc > 1 ? 1 : 0), argv + (argc > 1 ? 1 : 0), desc), vm);
    po::notify(vm);
    if (vm.count("help") || o.verb == "--help" || o.verb == "-h" || o.verb.empty()) {
      std::cout << desc;
      return o.verb.empty() ? 2 : 0;
    }
    if (o.verb == "import") return mvae::magenta::import_command(o);
    if (o.verb == "export") return mvae::magenta::export_command(o);
    if (o.verb == "export-js") return mvae::magenta::export_js_command(o);
    if (o.verb == "list") return mvae::magenta::list_command(o);
    throw mvae::UsageError("unknown verb '" + o.verb + "' (import, export, export-js, list)");
  });
}
