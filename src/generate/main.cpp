// generate: sample, reconstruct and interpolate drum patterns with a trained MusicVAE.
//   generate sample      --checkpoint runs/a --n 8 --out samples/
//   generate reconstruct --checkpoint runs/a --input beat.mid --out recon/
//   generate interpolate --checkpoint runs/a --from a.mid --to b.mid --steps 8 --out interp/
#include <boost/program_options.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common/cli.h"
#include "common/error.h"
#include "generate/generator.h"
#include "generate/pictures.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using mvae::generate::DecodeOptions;
using mvae::generate::Generator;

namespace {

std::string numbered(const fs::path& dir, const std::string& stem, int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%03d.mid", stem.c_str(), i);
  return (dir / buf).string();
}

int pick_window(const std::vector<std::vector<uint16_t>>& windows, int window, const std::string& file) {
  if (window < 0 || window >= static_cast<int>(windows.size()))
    throw mvae::UsageError("--window " + std::to_string(window) + ": " + file + " has " + std::to_string(windows.size()) +
                           " windows (0.." + std::to_string(windows.size() - 1) + ")");
  return window;
}

}  // namespace

int main(int argc, char** argv) {
  std::string verb = argc > 1 ? argv[1] : "";
  std::string checkpoint, out, input, from, to, interpolation = "slerp";
  int n = 4, steps = 8, window = 0;
  bool plot = false;
  DecodeOptions decode;
  po::options_description desc(
      "generate VERB [options]: sample | reconstruct | interpolate\n"
      "  generate sample      --checkpoint runs/a --n 8 --out samples/\n"
      "  generate reconstruct --checkpoint runs/a --input beat.mid --out recon/\n"
      "  generate interpolate --checkpoint runs/a --from a.mid --to b.mid --steps 8 --out interp/\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("checkpoint,c", po::value(&checkpoint), "run folder (its newest complete checkpoint), checkpoint folder or model.pt")
    ("out,o", po::value(&out), "output folder for MIDI files")
    ("n", po::value(&n)->default_value(4), "sample: number of patterns")
    ("input,i", po::value(&input), "reconstruct: MIDI file")
    ("from", po::value(&from), "interpolate: first MIDI file")
    ("to", po::value(&to), "interpolate: last MIDI file")
    ("steps", po::value(&steps)->default_value(8), "interpolate: points, endpoints included")
    ("interpolation", po::value(&interpolation)->default_value("slerp"), "slerp or linear")
    ("window", po::value(&window)->default_value(0), "which window of a longer input file to use")
    ("temperature,t", po::value(&decode.temperature)->default_value(0.5), "sampling temperature")
    ("argmax", po::bool_switch(&decode.argmax), "decode the most likely token at each step")
    ("qpm", po::value(&decode.qpm)->default_value(120.0), "tempo of the MIDI written")
    ("seed", po::value(&decode.seed)->default_value(0), "seed of the prior samples and the decoding")
    ("plot", po::bool_switch(&plot), "also draw the patterns as an SVG piano roll (one picture per command)");
  // clang-format on
  return mvae::run_program("generate", [&] {
    po::variables_map vm;
    po::store(po::parse_command_line(argc - (argc > 1 ? 1 : 0), argv + (argc > 1 ? 1 : 0), desc), vm);
    if (vm.count("help") || (verb != "sample" && verb != "reconstruct" && verb != "interpolate")) {
      std::cout << desc << "\n";
      return vm.count("help") ? 0 : 2;
    }
    po::notify(vm);
    if (checkpoint.empty()) throw mvae::UsageError("--checkpoint is required");
    if (out.empty()) throw mvae::UsageError("--out is required");
    if (decode.temperature <= 0) throw mvae::UsageError("--temperature must be > 0");
    if (decode.qpm <= 0) throw mvae::UsageError("--qpm must be > 0");
    Generator gen(checkpoint);
    fs::create_directories(out);
    std::vector<std::string> written;
    std::vector<std::vector<uint16_t>> drawn;  // what --plot draws, with titles
    std::vector<std::string> titles;
    if (verb == "sample") {
      if (n < 1) throw mvae::UsageError("--n must be >= 1");
      const auto patterns = gen.decode(gen.sample_prior(n, decode.seed), decode);
      for (int i = 0; i < n; ++i) {
        written.push_back(numbered(out, "sample", i));
        gen.write_midi(patterns[i], written.back(), decode.qpm);
        drawn.push_back(patterns[i]);
        titles.push_back("sample " + std::to_string(i));
      }
    } else if (verb == "reconstruct") {
      if (input.empty()) throw mvae::UsageError("reconstruct needs --input FILE.mid");
      const auto windows = gen.windows_of(input);
      const int w = pick_window(windows, window, input);
      const auto patterns = gen.decode(gen.encode_mean({windows[w]}), decode);
      written.push_back((fs::path(out) / "original.mid").string());
      gen.write_midi(windows[w], written.back(), decode.qpm);
      written.push_back((fs::path(out) / "reconstruction.mid").string());
      gen.write_midi(patterns[0], written.back(), decode.qpm);
      drawn = {windows[w], patterns[0]};
      titles = {"original (" + fs::path(input).filename().string() + ", window " + std::to_string(w) + ")", "reconstruction"};
    } else {
      if (from.empty() || to.empty()) throw mvae::UsageError("interpolate needs --from A.mid and --to B.mid");
      if (steps < 2) throw mvae::UsageError("--steps must be >= 2 (the endpoints are included)");
      if (interpolation != "slerp" && interpolation != "linear") throw mvae::UsageError("--interpolation must be slerp or linear");
      const auto wa = gen.windows_of(from), wb = gen.windows_of(to);
      const torch::Tensor za = gen.encode_mean({wa[pick_window(wa, window, from)]})[0];
      const torch::Tensor zb = gen.encode_mean({wb[pick_window(wb, window, to)]})[0];
      std::vector<torch::Tensor> points;
      for (int i = 0; i < steps; ++i) {
        const double t = static_cast<double>(i) / (steps - 1);
        points.push_back(interpolation == "slerp" ? mvae::generate::slerp(za, zb, t) : (1 - t) * za + t * zb);
      }
      const auto patterns = gen.decode(torch::stack(points), decode);
      std::vector<uint16_t> all;
      for (int i = 0; i < steps; ++i) {
        written.push_back(numbered(out, "interpolation", i));
        gen.write_midi(patterns[i], written.back(), decode.qpm);
        all.insert(all.end(), patterns[i].begin(), patterns[i].end());
        drawn.push_back(patterns[i]);
        char t[64];
        std::snprintf(t, sizeof t, "step %d  (t = %.2f)", i, static_cast<double>(i) / (steps - 1));
        titles.push_back(t);
      }
      written.push_back((fs::path(out) / "interpolation-all.mid").string());
      gen.write_midi(all, written.back(), decode.qpm);
    }
    if (plot) {
      written.push_back((fs::path(out) / (verb + ".svg")).string());
      mvae::generate::write_text_file(written.back(),
                                      mvae::generate::piano_roll_svg(drawn, titles, gen.representation().steps_per_bar));
    }
    std::printf("generate %s: model %s (%s)\n", verb.c_str(), gen.model_path().c_str(), gen.config().summary().c_str());
    for (const auto& w : written) std::printf("  wrote %s\n", w.c_str());
    return 0;
  });
}
