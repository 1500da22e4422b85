// generate: sample, reconstruct and interpolate drum patterns with a trained MusicVAE.
//   generate sample      --checkpoint runs/a --n 8 --out samples/
//   generate reconstruct --checkpoint runs/a --input beat.mid --out recon/
//   generate interpolate --checkpoint runs/a --from a.mid --to b.mid --steps 8 --out interp/
#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "common/cli.h"
#include "common/error.h"
#include "generate/generator.h"
#include "generate/latents.h"
#include "common/npy.h"
#include "data/shards.h"
#include "generate/pictures.h"
#include "generate/render.h"

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
  std::string checkpoint, out, input, from, to, interpolation = "slerp", data_dir, split = "train", label, vector;
  std::vector<std::string> inputs;
  double scale = 1.0;
  int64_t max_windows = 0;
  int n = 4, steps = 8, window = 0;
  bool plot = false, render = false;
  DecodeOptions decode;
  po::options_description desc(
      "generate VERB [options]: sample | reconstruct | interpolate | encode | attribute | apply\n"
      "  generate sample      --checkpoint runs/a --n 8 --out samples/\n"
      "  generate reconstruct --checkpoint runs/a --input beat.mid --out recon/\n"
      "  generate interpolate --checkpoint runs/a --from a.mid --to b.mid --steps 8 --out interp/\n"
      "  generate encode      --checkpoint runs/a --data shards/ --split test --out latents/   (or --input a.mid b.mid)\n"
      "  generate attribute   --checkpoint runs/a --data shards/ --split train --label fill --out vectors/\n"
      "  generate apply       --checkpoint runs/a --input beat.mid --vector vectors/fill.npy --scale 1.0 --out fills/\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("checkpoint,c", po::value(&checkpoint), "run folder (its newest complete checkpoint), checkpoint folder or model.pt")
    ("out,o", po::value(&out), "output folder for MIDI files")
    ("n", po::value(&n)->default_value(4), "sample: number of patterns")
    ("input,i", po::value(&inputs)->multitoken(), "reconstruct, apply: MIDI file; encode: MIDI files")
    ("data", po::value(&data_dir), "encode, attribute: shard folder")
    ("split", po::value(&split)->default_value("train"), "encode, attribute: split of the shards")
    ("windows", po::value(&max_windows)->default_value(0), "encode, attribute: first N windows of the split (0 = all)")
    ("label", po::value(&label), "attribute: fill, beat, style=NAME or drummer=NAME")
    ("vector", po::value(&vector), "apply: attribute vector (.npy) written by attribute")
    ("scale", po::value(&scale)->default_value(1.0), "apply: multiple of the vector added (negative subtracts)")
    ("from", po::value(&from), "interpolate: first MIDI file")
    ("to", po::value(&to), "interpolate: last MIDI file")
    ("steps", po::value(&steps)->default_value(8), "interpolate: points, endpoints included")
    ("interpolation", po::value(&interpolation)->default_value("slerp"), "slerp or linear")
    ("window", po::value(&window)->default_value(0), "which window of a longer input file to use")
    ("temperature,t", po::value(&decode.temperature)->default_value(0.5), "sampling temperature")
    ("argmax", po::bool_switch(&decode.argmax), "decode the most likely token at each step")
    ("qpm", po::value(&decode.qpm), "tempo of the MIDI written (default: the training data's median tempo)")
    ("seed", po::value(&decode.seed)->default_value(0), "seed of the prior samples and the decoding")
    ("plot", po::bool_switch(&plot), "also draw the patterns as an SVG piano roll (one picture per command)")
    ("render-wav", po::bool_switch(&render), "also render each MIDI file to WAV (FluidSynth + a GM sound font)");
  // clang-format on
  return mvae::run_program("generate", [&] {
    po::variables_map vm;
    po::store(po::parse_command_line(argc - (argc > 1 ? 1 : 0), argv + (argc > 1 ? 1 : 0), desc), vm);
    const std::vector<std::string> verbs = {"sample", "reconstruct", "interpolate", "encode", "attribute", "apply"};
    if (vm.count("help") || std::find(verbs.begin(), verbs.end(), verb) == verbs.end()) {
      std::cout << desc << "\n";
      return vm.count("help") ? 0 : 2;
    }
    po::notify(vm);
    if (!inputs.empty()) input = inputs.front();
    if (checkpoint.empty()) throw mvae::UsageError("--checkpoint is required");
    if (out.empty()) throw mvae::UsageError("--out is required");
    if (decode.temperature <= 0) throw mvae::UsageError("--temperature must be > 0");
    if (vm.count("qpm") && decode.qpm <= 0) throw mvae::UsageError("--qpm must be > 0");
    if (render && !mvae::generate::render_setup_problem().empty())
      throw mvae::UsageError(mvae::generate::render_setup_problem());
    Generator gen(checkpoint);
    if (!vm.count("qpm")) decode.qpm = gen.representation().default_qpm;
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
    } else if (verb == "encode" || verb == "attribute") {
      mvae::generate::EncodedWindows encoded;
      if (verb == "encode" && !inputs.empty()) {
        encoded = mvae::generate::encode_midi_files(gen, inputs);
      } else {
        if (data_dir.empty()) throw mvae::UsageError(verb + " needs --data SHARDS (or, for encode, --input FILES)");
        mvae::data::ShardSet shards(data_dir);
        encoded = mvae::generate::encode_split(gen, shards, split, max_windows, 128);
      }
      if (verb == "encode") {
        written.push_back((fs::path(out) / "latents.npy").string());
        mvae::generate::save_encoded(written.back(), encoded);
        written.push_back((fs::path(out) / "latents.labels.jsonl").string());
      } else {
        if (label.empty()) throw mvae::UsageError("attribute needs --label (fill, beat, style=NAME, drummer=NAME)");
        int64_t with = 0, without = 0;
        const torch::Tensor v = mvae::generate::attribute_vector(encoded, label, &with, &without).contiguous();
        std::string name = label;
        std::replace(name.begin(), name.end(), '=', '-');
        std::replace(name.begin(), name.end(), '/', '-');
        written.push_back((fs::path(out) / (name + ".npy")).string());
        mvae::write_npy(written.back(), std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel()), {v.numel()});
        std::printf("attribute %s: %lld windows with it, %lld without; vector norm %.4f\n", label.c_str(),
                    static_cast<long long>(with), static_cast<long long>(without), v.norm().item<double>());
      }
    } else if (verb == "apply") {
      if (input.empty() || vector.empty()) throw mvae::UsageError("apply needs --input FILE.mid and --vector FILE.npy");
      std::vector<int64_t> shape;
      const std::vector<float> v = mvae::read_npy(vector, &shape);
      if (shape.size() != 1 || shape[0] != gen.config().z)
        throw mvae::InputError(vector, "shape", "expected a vector of " + std::to_string(gen.config().z) + " (the model's z)");
      const auto windows = gen.windows_of(input);
      const int w = pick_window(windows, window, input);
      const torch::Tensor mu = gen.encode_mean({windows[w]});
      const torch::Tensor shifted = mu + scale * torch::tensor(v).view({1, -1});
      const auto patterns = gen.decode(torch::cat({mu, shifted}), decode);
      written.push_back((fs::path(out) / "original.mid").string());
      gen.write_midi(windows[w], written.back(), decode.qpm);
      written.push_back((fs::path(out) / "reconstruction.mid").string());
      gen.write_midi(patterns[0], written.back(), decode.qpm);
      written.push_back((fs::path(out) / "with-attribute.mid").string());
      gen.write_midi(patterns[1], written.back(), decode.qpm);
      drawn = {windows[w], patterns[0], patterns[1]};
      char t[96];
      std::snprintf(t, sizeof t, "with %+.2f x %s", scale, fs::path(vector).filename().c_str());
      titles = {"original", "reconstruction", t};
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
    if (render) {
      std::vector<std::string> wavs;
      for (const auto& f : written)
        if (fs::path(f).extension() == ".mid") {
          wavs.push_back(fs::path(f).replace_extension(".wav").string());
          mvae::generate::render_wav(f, wavs.back());
        }
      written.insert(written.end(), wavs.begin(), wavs.end());
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
