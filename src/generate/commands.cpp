#include "generate/commands.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "data/shards.h"
#include "generate/latents.h"
#include "generate/pictures.h"
#include "generate/render.h"

namespace fs = std::filesystem;

namespace mvae::generate {
namespace {

std::string numbered(const std::string& dir, const std::string& stem, int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%03d.mid", stem.c_str(), i);
  return (fs::path(dir) / buf).string();
}

// The --window-th window of a MIDI file.
std::vector<uint16_t> input_window(const Generator& gen, const std::string& file, int window) {
  const auto windows = gen.windows_of(file);
  if (window < 0 || window >= static_cast<int>(windows.size()))
    throw UsageError("--window " + std::to_string(window) + ": " + file + " has " + std::to_string(windows.size()) +
                     " windows (0.." + std::to_string(windows.size() - 1) + ")");
  return windows[static_cast<size_t>(window)];
}

// Writes `tokens` as <out>/<name> and records it (and, for --plot, the pattern and its title).
void emit(const Generator& gen, const GenerateOptions& o, GenerateOutput& result, const std::string& path,
          const std::vector<uint16_t>& tokens, const std::string& title) {
  gen.write_midi(tokens, path, o.decode.qpm);
  result.written.push_back(path);
  result.drawn.push_back(tokens);
  result.titles.push_back(title);
}

std::string in_out(const GenerateOptions& o, const std::string& name) { return (fs::path(o.out) / name).string(); }

}  // namespace

const std::vector<std::string>& GenerateOptions::verbs() {
  static const std::vector<std::string> v = {"sample", "reconstruct", "interpolate", "encode", "attribute", "apply", "export"};
  return v;
}

void GenerateOptions::validate() const {
  if (checkpoint.empty())
    throw UsageError("--checkpoint is required: no released model was found (models/ in the source tree, or $MVAE_MODEL)");
  if (out.empty()) throw UsageError("--out is required");
  if (verb == "export" && dtype != "float32" && dtype != "float16" && dtype != "bfloat16")
    throw UsageError("--dtype must be float32, float16 or bfloat16, got '" + dtype + "'");
  if (decode.temperature <= 0) throw UsageError("--temperature must be > 0");
  if (qpm_given && decode.qpm <= 0) throw UsageError("--qpm must be > 0");
  if (verb == "sample" && n < 1) throw UsageError("--n must be >= 1");
  if (verb == "reconstruct" && inputs.empty()) throw UsageError("reconstruct needs --input FILE.mid");
  if (verb == "apply" && (inputs.empty() || vector.empty()))
    throw UsageError("apply needs --input FILE.mid and --vector FILE.npy");
  if (verb == "attribute" && label.empty()) throw UsageError("attribute needs --label (fill, beat, style=NAME, drummer=NAME)");
  if ((verb == "attribute" || (verb == "encode" && inputs.empty())) && data_dir.empty())
    throw UsageError(verb + " needs --data SHARDS (or, for encode, --input FILES)");
  if (verb == "interpolate") {
    if (from.empty() || to.empty()) throw UsageError("interpolate needs --from A.mid and --to B.mid");
    if (steps < 2) throw UsageError("--steps must be >= 2 (the endpoints are included)");
    if (interpolation != "slerp" && interpolation != "linear") throw UsageError("--interpolation must be slerp or linear");
  }
  if (render_wav && !render_setup_problem().empty()) throw UsageError(render_setup_problem());
}

GenerateOutput sample(Generator& gen, const GenerateOptions& o) {
  GenerateOutput result;
  const auto patterns = gen.decode(gen.sample_prior(o.n, o.decode.seed), o.decode);
  for (int i = 0; i < o.n; ++i) emit(gen, o, result, numbered(o.out, "sample", i), patterns[i], "sample " + std::to_string(i));
  return result;
}

GenerateOutput reconstruct(Generator& gen, const GenerateOptions& o) {
  GenerateOutput result;
  const std::string& input = o.inputs.front();
  const auto original = input_window(gen, input, o.window);
  const auto patterns = gen.decode(gen.encode_mean({original}), o.decode);
  emit(gen, o, result, in_out(o, "original.mid"), original,
       "original (" + fs::path(input).filename().string() + ", window " + std::to_string(o.window) + ")");
  emit(gen, o, result, in_out(o, "reconstruction.mid"), patterns[0], "reconstruction");
  return result;
}

GenerateOutput interpolate(Generator& gen, const GenerateOptions& o) {
  GenerateOutput result;
  const torch::Tensor za = gen.encode_mean({input_window(gen, o.from, o.window)})[0];
  const torch::Tensor zb = gen.encode_mean({input_window(gen, o.to, o.window)})[0];
  std::vector<torch::Tensor> points;
  for (int i = 0; i < o.steps; ++i) {
    const double t = static_cast<double>(i) / (o.steps - 1);
    points.push_back(o.interpolation == "slerp" ? slerp(za, zb, t) : (1 - t) * za + t * zb);
  }
  const auto patterns = gen.decode(torch::stack(points), o.decode);
  std::vector<uint16_t> all;
  for (int i = 0; i < o.steps; ++i) {
    char title[64];
    std::snprintf(title, sizeof title, "step %d  (t = %.2f)", i, static_cast<double>(i) / (o.steps - 1));
    emit(gen, o, result, numbered(o.out, "interpolation", i), patterns[i], title);
    all.insert(all.end(), patterns[i].begin(), patterns[i].end());
  }
  const std::string joined = in_out(o, "interpolation-all.mid");
  gen.write_midi(all, joined, o.decode.qpm);
  result.written.push_back(joined);
  return result;
}

GenerateOutput encode(Generator& gen, const GenerateOptions& o) {
  GenerateOutput result;
  EncodedWindows encoded;
  if (o.verb == "encode" && !o.inputs.empty()) {
    encoded = encode_midi_files(gen, o.inputs);
  } else {
    data::ShardSet shards(o.data_dir);
    encoded = encode_split(gen, shards, o.split, o.max_windows, 128);
  }
  if (o.verb == "encode") {
    result.written.push_back(in_out(o, "latents.npy"));
    save_encoded(result.written.back(), encoded);
    result.written.push_back(in_out(o, "latents.labels.jsonl"));
    return result;
  }
  int64_t with = 0, without = 0;
  const torch::Tensor v = attribute_vector(encoded, o.label, &with, &without).contiguous();
  std::string name = o.label;
  std::replace(name.begin(), name.end(), '=', '-');
  std::replace(name.begin(), name.end(), '/', '-');
  result.written.push_back(in_out(o, name + ".npy"));
  write_npy(result.written.back(), std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel()), {v.numel()});
  std::printf("attribute %s: %lld windows with it, %lld without; vector norm %.4f\n", o.label.c_str(),
              static_cast<long long>(with), static_cast<long long>(without), v.norm().item<double>());
  return result;
}

GenerateOutput apply_attribute(Generator& gen, const GenerateOptions& o) {
  GenerateOutput result;
  std::vector<int64_t> shape;
  const std::vector<float> v = read_npy(o.vector, &shape);
  if (shape.size() != 1 || shape[0] != gen.config().z)
    throw InputError(o.vector, "shape", "expected a vector of " + std::to_string(gen.config().z) + " (the model's z)");
  const auto original = input_window(gen, o.inputs.front(), o.window);
  const torch::Tensor mu = gen.encode_mean({original});
  const torch::Tensor shifted = mu + o.scale * torch::tensor(v).view({1, -1});
  const auto patterns = gen.decode(torch::cat({mu, shifted}), o.decode);
  char title[96];
  std::snprintf(title, sizeof title, "with %+.2f x %s", o.scale, fs::path(o.vector).filename().c_str());
  emit(gen, o, result, in_out(o, "original.mid"), original, "original");
  emit(gen, o, result, in_out(o, "reconstruction.mid"), patterns[0], "reconstruction");
  emit(gen, o, result, in_out(o, "with-attribute.mid"), patterns[1], title);
  return result;
}

int export_model_file(const GenerateOptions& o) {
  const std::string from = model::resolve_model_file(o.checkpoint, o.best ? model::CheckpointChoice::kBest
                                                                            : model::CheckpointChoice::kLatest);
  if (fs::path(o.out).has_parent_path()) fs::create_directories(fs::path(o.out).parent_path());
  const torch::Dtype dtype = o.dtype == "float16" ? torch::kHalf : o.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat;
  const uint64_t bytes = model::export_model(from, o.out, dtype);
  std::printf("generate export: %s -> %s (%s weights, %.1f MB)\n", from.c_str(), o.out.c_str(), o.dtype.c_str(), bytes / 1e6);
  return 0;
}

int run_generate(GenerateOptions o) {
  const bool released = o.checkpoint.empty();
  if (released) o.checkpoint = released_model_path();
  o.validate();
  if (o.verb == "export") return export_model_file(o);
  Generator gen(o.checkpoint, o.best ? model::CheckpointChoice::kBest : model::CheckpointChoice::kLatest);
  if (!o.qpm_given) o.decode.qpm = gen.representation().default_qpm;
  fs::create_directories(o.out);
  GenerateOutput result;
  if (o.verb == "sample") result = sample(gen, o);
  else if (o.verb == "reconstruct") result = reconstruct(gen, o);
  else if (o.verb == "interpolate") result = interpolate(gen, o);
  else if (o.verb == "encode" || o.verb == "attribute") result = encode(gen, o);
  else if (o.verb == "apply") result = apply_attribute(gen, o);
  else MVAE_CHECK(false, "unknown verb " + o.verb);
  if (o.render_wav) {
    std::vector<std::string> wavs;
    for (const auto& f : result.written)
      if (fs::path(f).extension() == ".mid") {
        wavs.push_back(fs::path(f).replace_extension(".wav").string());
        render_wav(f, wavs.back());
      }
    result.written.insert(result.written.end(), wavs.begin(), wavs.end());
  }
  if (o.plot) {
    result.written.push_back(in_out(o, o.verb + ".svg"));
    write_file_atomic(result.written.back(), piano_roll_svg(result.drawn, result.titles, gen.representation().steps_per_bar));
  }
  std::printf("generate %s: %smodel %s (%s)\n", o.verb.c_str(), released ? "released " : "", gen.model_path().c_str(),
              gen.config().summary().c_str());
  for (const auto& w : result.written) std::printf("  wrote %s\n", w.c_str());
  return 0;
}

}  // namespace mvae::generate
