// generate: sample, reconstruct and interpolate drum patterns with a trained MusicVAE; encode
// windows to latents, make and apply attribute vectors. The verbs: generate/commands.h.
#include <boost/program_options.hpp>

#include <iostream>

#include "common/run_program.h"
#include "common/runtime.h"
#include "generate/commands.h"

namespace po = boost::program_options;

namespace {

// The usage line and one example per verb, from the table of verbs.
std::string help_text() {
  std::string names, examples;
  for (const auto& verb : mvae::generate::verbs()) {
    names += std::string(names.empty() ? "" : " | ") + verb.name;
    examples += std::string("  ") + verb.example + "\n";
  }
  return "generate VERB [options]: " + names +
         "\n  (without --checkpoint: the model released with the project, models/)\n" + examples + "\nOptions";
}

}  // namespace

int main(int argc, char** argv) {
  mvae::tune_cpu();
  mvae::generate::GenerateOptions o;
  o.verb = argc > 1 ? argv[1] : "";
  po::options_description desc(help_text());
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("checkpoint,c", po::value(&o.checkpoint), "run folder (its newest complete checkpoint), checkpoint folder or model.pt (default: the released model)")
    ("bars", po::value(&o.bars), "without --checkpoint: the released model of this many bars (2, or 16: models/groove_16bar); with one: refused unless the model has this length")
    ("best", po::bool_switch(&o.best), "with a run folder: its best checkpoint (checkpoints/best) instead of the newest")
    ("out,o", po::value(&o.out), "output folder for MIDI files")
    ("force", po::bool_switch(&o.force), "write into an --out that already holds files (they are replaced)")
    ("n", po::value(&o.n)->default_value(4), "sample: number of patterns")
    ("input,i", po::value(&o.inputs)->multitoken(), "reconstruct, humanize, tap2drum, apply: MIDI file; encode: MIDI files")
    ("data", po::value(&o.data_dir), "encode, attribute: shard folder")
    ("split", po::value(&o.split)->default_value("train"), "encode, attribute: split of the shards")
    ("windows", po::value(&o.max_windows)->default_value(0), "encode, attribute: first N windows of the split (0 = all)")
    ("label", po::value(&o.label), "attribute: fill, beat, style=NAME or drummer=NAME")
    ("vector", po::value(&o.vector), "apply: attribute vector (.npy) written by attribute")
    ("scale", po::value(&o.scale)->default_value(1.0), "apply: multiple of the vector added (negative subtracts)")
    ("from", po::value(&o.from), "interpolate: first MIDI file")
    ("to", po::value(&o.to), "interpolate: last MIDI file")
    ("steps", po::value(&o.steps)->default_value(8), "interpolate: points, endpoints included")
    ("interpolation", po::value<std::string>()->default_value("slerp")->notifier([&o](const std::string& s) { o.interpolation = mvae::generate::parse_interpolation(s); }), "slerp or linear")
    ("window", po::value(&o.window)->default_value(0), "which window of a longer input file to use")
    ("temperature,t", po::value(&o.decode.temperature)->default_value(0.5), "sampling temperature")
    ("argmax", po::bool_switch(&o.decode.argmax), "decode the most likely token (groove: hits above 0.5) at each step")
    ("qpm", po::value(&o.decode.qpm), "tempo of the MIDI written (default: the input's tempo; sample: the training data's median tempo)")
    ("seed", po::value(&o.decode.seed)->default_value(0), "seed of the prior samples and the decoding")
    ("plot", po::bool_switch(&o.plot), "also draw the patterns as an SVG piano roll (one picture per command)")
    ("render-wav", po::bool_switch(&o.render_wav), "also render each MIDI file to WAV (FluidSynth + a GM sound font)")
    ("average", po::value(&o.average)->default_value(1), "export: the mean of the weights of the run folder's N newest checkpoints (checkpoint averaging)")
    ("mean-with", po::value(&o.mean_with)->multitoken()->composing(), "export: also average in these checkpoints (run folders: their newest; repeatable): runs fine-tuned from one model with other regularisation (a model soup)")
    ("dtype", po::value<std::string>()->default_value("float16")->notifier([&o](const std::string& s) { o.dtype = mvae::generate::parse_export_dtype(s); }), "export: weights stored as float32, float16 or bfloat16");
  // clang-format on
  return mvae::run_program("generate", [&] {
    po::variables_map vm;
    po::store(po::parse_command_line(argc - (argc > 1 ? 1 : 0), argv + (argc > 1 ? 1 : 0), desc), vm);
    if (vm.count("help") || mvae::generate::find_verb(o.verb) == nullptr) {
      std::cout << desc << "\n";
      return vm.count("help") ? 0 : 2;
    }
    po::notify(vm);
    o.qpm_given = vm.count("qpm") > 0;
    return mvae::generate::run_generate(o);
  });
}
