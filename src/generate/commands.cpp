#include "generate/commands.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "data/shards.h"
#include "generate/latents.h"
#include "generate/render.h"
#include "midi/midi_file.h"
#include "model_file/model_file.h"
#include "pictures/piano_roll.h"

namespace fs = std::filesystem;

namespace mvae::generate {

using inference::DecodeOptions;
using inference::Pattern;
using inference::TrainedModel;
namespace {

std::string numbered(const std::string& dir, const std::string& stem, int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%03d.mid", stem.c_str(), i);
  return (fs::path(dir) / buf).string();
}

// The window-th window of a MIDI file.
Pattern input_window(const TrainedModel& gen, const std::string& file, int window) {
  auto windows = gen.windows_of(file);
  if (window < 0 || window >= static_cast<int>(windows.size()))
    throw UsageError("{window} " + std::to_string(window) + ": " + file + " has " + std::to_string(windows.size()) +
                     " windows (0.." + std::to_string(windows.size() - 1) + ")");
  return std::move(windows[static_cast<size_t>(window)]);
}

// The tempo to write at: --qpm, else the input's (a reconstruction plays at its source's tempo).
double tempo_of(const GenerateOptions& o, const Pattern& input) { return o.qpm_given ? o.decode.qpm : input.qpm; }

// Writes `pattern` as <out>/<name> at `qpm` and records it (and, for --plot, the pattern and its title).
void emit(const TrainedModel& gen, GenerateOutput& result, const std::string& path, const Pattern& pattern, double qpm,
          const std::string& title) {
  gen.write_midi(pattern, path, qpm);
  result.written.push_back(path);
  result.drawn.push_back(pattern);
  if (!gen.config().groove()) {  // drawn as written: a token model's patterns are on the grid at one velocity
    result.drawn.back().velocities.clear();
    result.drawn.back().offsets.clear();
  }
  result.titles.push_back(title);
}

// Patterns one after another, as one.
Pattern joined(const std::vector<Pattern>& patterns) {
  Pattern all;
  for (const Pattern& p : patterns) {
    all.tokens.insert(all.tokens.end(), p.tokens.begin(), p.tokens.end());
    all.velocities.insert(all.velocities.end(), p.velocities.begin(), p.velocities.end());
    all.offsets.insert(all.offsets.end(), p.offsets.begin(), p.offsets.end());
  }
  return all;
}

// Windows decoded from consecutive windows of one piece, put back at their places: steps that an
// earlier window already covers keep that window's (the last window may overlap its neighbour).
Pattern assemble(const std::vector<Pattern>& windows, const std::vector<Pattern>& decoded) {
  constexpr size_t C = data::kNumDrumClasses;
  size_t length = 0;
  for (const Pattern& w : windows)
    length = std::max(length, static_cast<size_t>(w.start_bar) * data::kStepsPerBar + w.tokens.size());
  Pattern all;
  all.qpm = windows.front().qpm;
  all.tokens.assign(length, 0);
  all.velocities.assign(length * C, 0);
  all.offsets.assign(length * C, 0.0f);
  std::vector<bool> covered(length, false);
  for (size_t k = 0; k < windows.size(); ++k) {
    const size_t first = static_cast<size_t>(windows[k].start_bar) * data::kStepsPerBar;
    const Pattern& d = decoded[k];
    for (size_t t = 0; t < d.tokens.size(); ++t) {
      if (covered[first + t]) continue;
      covered[first + t] = true;
      all.tokens[first + t] = d.tokens[t];
      if (!d.velocities.empty()) {
        std::copy_n(d.velocities.begin() + t * C, C, all.velocities.begin() + (first + t) * C);
        std::copy_n(d.offsets.begin() + t * C, C, all.offsets.begin() + (first + t) * C);
      }
    }
  }
  return all;
}

std::string in_out(const GenerateOptions& o, const std::string& name) { return (fs::path(o.out) / name).string(); }

}  // namespace

GenerateOptions::Interpolation parse_interpolation(const std::string& text) {
  if (text == "slerp") return GenerateOptions::Interpolation::kSlerp;
  if (text == "linear") return GenerateOptions::Interpolation::kLinear;
  throw UsageError("--interpolation must be slerp or linear, got '" + text + "'");
}

torch::Dtype parse_export_dtype(const std::string& text) {
  if (text == "float32") return torch::kFloat;
  if (text == "float16") return torch::kHalf;
  if (text == "bfloat16") return torch::kBFloat16;
  throw UsageError("--dtype must be float32, float16 or bfloat16, got '" + text + "'");
}

void GenerateOptions::validate() const {
  if (bars < 0)
    throw UsageError("--bars must be >= 1 (or left out: the model's own length), got " + std::to_string(bars));
  if (checkpoint.empty() && bars > 0)
    throw UsageError(
        "--bars " + std::to_string(bars) +
        ": no released model of that length was found (models/; $MVAE_16BAR_MODEL names a 16-bar one); give a "
        "model of " +
        std::to_string(bars) + " bars with --checkpoint");
  if (checkpoint.empty())
    throw UsageError(
        "--checkpoint is required: no released model was found (models/ in the source tree, or $MVAE_MODEL)");
  if (out.empty()) throw UsageError("--out is required");
  if (average < 1 || (average > 1 && (verb != "export" || best)))
    throw UsageError("--average N (N >= 1, got " + std::to_string(average) +
                     ") is for export from a run folder, without --best: the mean of its N newest checkpoints");
  if (!mean_with.empty() && verb != "export")
    throw UsageError("--mean-with is for export: the mean of --checkpoint's weights and these checkpoints'");
  inference::check_temperature(decode.temperature);
  if (qpm_given && !(decode.qpm >= midi::kMinQpm && decode.qpm <= midi::kMaxQpm))
    throw UsageError("--qpm must be a tempo a MIDI file can hold, 3.58 to 60000000 quarters per minute, got " +
                     std::to_string(decode.qpm));
  // Counts that scale memory: all the patterns of one command are decoded together (~130 KB each
  // for the 2-bar models), so they are bounded; more is more commands (another --seed each).
  constexpr int kMostPatterns = 10000;
  if (verb == "sample" && (n < 1 || n > kMostPatterns))
    throw UsageError("--n must be in 1.." + std::to_string(kMostPatterns) +
                     " (memory grows with it; for more, run again with another --seed), got " + std::to_string(n));
  if ((verb == "reconstruct" || verb == "humanize" || verb == "tap2drum") && inputs.empty())
    throw UsageError(verb + " needs --input FILE.mid");
  if (verb == "apply" && (inputs.empty() || vector.empty()))
    throw UsageError("apply needs --input FILE.mid and --vector FILE.npy");
  if (verb == "attribute" && label.empty())
    throw UsageError("attribute needs --label (fill, beat, style=NAME, drummer=NAME)");
  if ((verb == "attribute" || (verb == "encode" && inputs.empty())) && data_dir.empty())
    throw UsageError(verb + " needs --data SHARDS (or, for encode, --input FILES)");
  if (verb == "interpolate") {
    if (from.empty() || to.empty()) throw UsageError("interpolate needs --from A.mid and --to B.mid");
    if (steps < 2 || steps > kMostPatterns)
      throw UsageError("--steps must be in 2.." + std::to_string(kMostPatterns) +
                       " (the endpoints are included; memory grows with it), got " + std::to_string(steps));
  }
  if (render_wav && !render_setup_problem().empty()) throw UsageError(render_setup_problem());
  if (!force && fs::exists(out) && (!fs::is_directory(out) || !fs::is_empty(out)))
    throw UsageError("--out " + out + (fs::is_directory(out) ? " already holds files" : " already exists") +
                     ": pass --force to write over them, or another --out");
}

GenerateOutput sample(TrainedModel& gen, const GenerateOptions& o) {
  GenerateOutput result;
  const auto patterns = gen.decode(gen.sample_prior(o.n, o.decode.seed), o.decode);
  for (int i = 0; i < o.n; ++i)
    emit(gen, result, numbered(o.out, "sample", i), patterns[i], o.decode.qpm, "sample " + std::to_string(i));
  return result;
}

GenerateOutput reconstruct(TrainedModel& gen, const GenerateOptions& o) {
  GenerateOutput result;
  const std::string& input = o.inputs.front();
  const Pattern original = input_window(gen, input, o.window);
  const double qpm = tempo_of(o, original);
  const auto patterns = gen.decode(gen.encode_mean({original}), o.decode);
  emit(gen, result, in_out(o, "original.mid"), original, qpm,
       "original (" + fs::path(input).filename().string() + ", window " + std::to_string(o.window) + ")");
  emit(gen, result, in_out(o, "reconstruction.mid"), patterns[0], qpm, "reconstruction");
  return result;
}

GenerateOutput perform(TrainedModel& gen, const GenerateOptions& o) {
  const bool humanize = o.verb == "humanize";
  const model::InputTransform wanted = humanize ? model::InputTransform::kHumanize : model::InputTransform::kTap;
  if (gen.config().input_transform != wanted)
    throw UsageError(o.verb + " needs a groove model trained with --input-transform " + model::to_string(wanted) +
                     " (preset " + (humanize ? "groovae_2bar_humanize" : "groovae_2bar_tap_fixed_velocity") + "); " +
                     gen.model_path() + " is " + gen.config().summary());
  // The whole input, bar after bar: consecutive windows, every one kept, the last one at the end.
  data::TokenizerOptions rules;
  rules.hop_bars = gen.representation().bars;
  rules.deduplicate = false;
  rules.cover_track_end = true;
  rules.any_channel = !humanize;  // taps may be on any channel and any pitch
  std::vector<Pattern> windows = gen.windows_of(o.inputs.front(), rules, /*every_pitch_one_class=*/!humanize);
  const int32_t piece = windows.front().piece;
  const size_t all = windows.size();
  windows.erase(std::remove_if(windows.begin(), windows.end(), [&](const Pattern& w) { return w.piece != piece; }),
                windows.end());
  if (windows.size() < all)
    std::printf("%s: %s changes tempo or meter; its first part (%zu of %zu windows) is used\n", o.verb.c_str(),
                o.inputs.front().c_str(), windows.size(), all);
  const torch::Tensor sequences = gen.sequences_of(windows);
  const torch::Tensor forced = humanize ? sequences.narrow(-1, 0, data::kNumDrumClasses) : torch::Tensor();
  const auto decoded = gen.decode(gen.encode_mean(sequences), o.decode, forced);
  const double qpm = tempo_of(o, windows.front());
  GenerateOutput result;
  Pattern given = assemble(windows, windows);
  given.velocities.clear();  // as the model sees a score (humanize) or taps: on the grid, one velocity
  given.offsets.clear();
  emit(gen, result, in_out(o, humanize ? "score.mid" : "taps.mid"), given, qpm,
       (humanize ? "score (" : "taps (") + fs::path(o.inputs.front()).filename().string() + ")");
  emit(gen, result, in_out(o, humanize ? "humanized.mid" : "drums.mid"), assemble(windows, decoded), qpm,
       humanize ? "humanized" : "drums");
  if (humanize) {  // the picture also shows the input as it was played, to compare with when it is a performance
    result.drawn.push_back(assemble(windows, windows));
    result.titles.push_back("input as played");
  }
  return result;
}

GenerateOutput interpolate(TrainedModel& gen, const GenerateOptions& o) {
  GenerateOutput result;
  const Pattern from = input_window(gen, o.from, o.window);
  const torch::Tensor za = gen.encode_mean({from})[0];
  const torch::Tensor zb = gen.encode_mean({input_window(gen, o.to, o.window)})[0];
  std::vector<torch::Tensor> points;
  for (int i = 0; i < o.steps; ++i) {
    const double t = static_cast<double>(i) / (o.steps - 1);
    points.push_back(o.interpolation == GenerateOptions::Interpolation::kSlerp ? slerp(za, zb, t)
                                                                               : (1 - t) * za + t * zb);
  }
  const auto patterns = gen.decode(torch::stack(points), o.decode);
  const double qpm = tempo_of(o, from);
  for (int i = 0; i < o.steps; ++i) {
    char title[64];
    std::snprintf(title, sizeof title, "step %d  (t = %.2f)", i, static_cast<double>(i) / (o.steps - 1));
    emit(gen, result, numbered(o.out, "interpolation", i), patterns[i], qpm, title);
  }
  const std::string all = in_out(o, "interpolation-all.mid");
  gen.write_midi(joined(patterns), all, qpm);
  result.written.push_back(all);
  return result;
}

GenerateOutput encode(TrainedModel& gen, const GenerateOptions& o) {
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
  write_npy(result.written.back(), std::vector<float>(v.data_ptr<float>(), v.data_ptr<float>() + v.numel()),
            {v.numel()});
  std::printf("attribute %s: %lld windows with it, %lld without; vector norm %.4f\n", o.label.c_str(),
              static_cast<long long>(with), static_cast<long long>(without), v.norm().item<double>());
  return result;
}

GenerateOutput apply_attribute(TrainedModel& gen, const GenerateOptions& o) {
  GenerateOutput result;
  std::vector<int64_t> shape;
  const std::vector<float> v = read_npy(o.vector, &shape);
  if (shape.size() != 1 || shape[0] != gen.config().z)
    throw InputError(o.vector, "shape", "expected a vector of " + std::to_string(gen.config().z) + " (the model's z)");
  const Pattern original = input_window(gen, o.inputs.front(), o.window);
  const double qpm = tempo_of(o, original);
  const torch::Tensor mu = gen.encode_mean({original});
  const torch::Tensor shifted = mu + o.scale * torch::tensor(v).view({1, -1});
  const auto patterns = gen.decode(torch::cat({mu, shifted}), o.decode);
  char title[96];
  std::snprintf(title, sizeof title, "with %+.2f x %s", o.scale, fs::path(o.vector).filename().c_str());
  emit(gen, result, in_out(o, "original.mid"), original, qpm, "original");
  emit(gen, result, in_out(o, "reconstruction.mid"), patterns[0], qpm, "reconstruction");
  emit(gen, result, in_out(o, "with-attribute.mid"), patterns[1], qpm, title);
  return result;
}

int export_model_file(const GenerateOptions& o) {
  std::vector<std::string> from =
      o.average > 1
          ? run_folder::newest_model_files(o.checkpoint, o.average)
          : std::vector<std::string>{run_folder::resolve_model_file(
                o.checkpoint, o.best ? run_folder::CheckpointChoice::kBest : run_folder::CheckpointChoice::kLatest)};
  for (const auto& other : o.mean_with)
    from.push_back(run_folder::resolve_model_file(other, run_folder::CheckpointChoice::kLatest));
  if (fs::path(o.out).has_parent_path()) fs::create_directories(fs::path(o.out).parent_path());
  const uint64_t bytes = model_file::export_model(from, o.out, o.dtype);
  std::string sources;
  for (const auto& f : from) sources += (sources.empty() ? "" : " + ") + f;
  std::printf("generate export: %s%s -> %s (%s weights, %.1f MB)\n", from.size() > 1 ? "the mean of " : "",
              sources.c_str(), o.out.c_str(),
              o.dtype == torch::kHalf       ? "float16"
              : o.dtype == torch::kBFloat16 ? "bfloat16"
                                            : "float32",
              bytes / 1e6);
  return 0;
}

// The only command that opens a model file of the old format: for files the user trusts.
int convert_legacy_file(const GenerateOptions& o) {
  if (o.inputs.size() != 1 || o.out.empty())
    throw UsageError("convert-legacy needs --input OLD.pt (one file) and --out NEW.safetensors");
  if (fs::exists(o.out)) throw UsageError("--out " + o.out + " exists: convert-legacy writes a new file, name another");
  std::printf(
      "generate convert-legacy: opening %s with LibTorch's archive reader, which runs any code the file "
      "carries: do this only for files you trust\n",
      o.inputs.front().c_str());
  if (fs::path(o.out).has_parent_path()) fs::create_directories(fs::path(o.out).parent_path());
  model_file::convert_legacy_model(o.inputs.front(), o.out);
  std::printf("generate convert-legacy: %s -> %s (%.1f MB)\n", o.inputs.front().c_str(), o.out.c_str(),
              static_cast<double>(fs::file_size(o.out)) / 1e6);
  return 0;
}

// The verb's outputs, then its WAV renderings and piano roll when asked for.
GenerateOutput run_verb(TrainedModel& gen, const GenerateOptions& o) {
  const Verb* verb = find_verb(o.verb);
  MVAE_CHECK(verb != nullptr && verb->run != nullptr, "no model verb " + o.verb);  // generate refuses it first
  GenerateOutput result = verb->run(gen, o);
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
    write_file_atomic(result.written.back(),
                      pictures::piano_roll_svg(result.drawn, result.titles, gen.representation().steps_per_bar));
  }
  return result;
}

const std::vector<Verb>& verbs() {
  static const std::vector<Verb> table = {
      {"sample", "generate sample      --checkpoint runs/a --n 8 --out samples/", sample},
      {"reconstruct", "generate reconstruct --checkpoint runs/a --input beat.mid --out recon/", reconstruct},
      {"interpolate", "generate interpolate --checkpoint runs/a --from a.mid --to b.mid --steps 8 --out interp/",
       interpolate},
      {"humanize",
       "generate humanize    --checkpoint runs/groovae --input score.mid --out played/   (groovae_2bar_humanize)",
       perform},
      {"tap2drum",
       "generate tap2drum    --checkpoint runs/tap --input taps.mid --out drums/   (groovae_2bar_tap_fixed_velocity)",
       perform},
      {"encode",
       "generate encode      --checkpoint runs/a --data shards/ --split test --out latents/   (or --input a.mid b.mid)",
       encode},
      {"attribute", "generate attribute   --checkpoint runs/a --data shards/ --split train --label fill --out vectors/",
       encode},
      {"apply",
       "generate apply       --checkpoint runs/a --input beat.mid --vector vectors/fill.npy --scale 1.0 --out fills/",
       apply_attribute},
      {"export",
       "generate export      --checkpoint runs/a --best --out models/mine/model.safetensors --dtype float16   (or "
       "--average 3)",
       nullptr},
      {"convert-legacy",
       "generate convert-legacy --input old/model.pt --out model.safetensors   (old-format files you trust)", nullptr},
  };
  return table;
}

const Verb* find_verb(const std::string& name) {
  for (const Verb& verb : verbs())
    if (name == verb.name) return &verb;
  return nullptr;
}

int run_generate(GenerateOptions o) {
  if (o.verb == "convert-legacy") return convert_legacy_file(o);
  const bool released = o.checkpoint.empty();
  if (released) o.checkpoint = inference::released_model_path(o.verb, o.bars);
  o.validate();
  if (o.verb == "export") return export_model_file(o);
  TrainedModel gen(o.checkpoint, o.best ? run_folder::CheckpointChoice::kBest : run_folder::CheckpointChoice::kLatest);
  if (o.bars > 0 && gen.config().bars != o.bars)
    throw UsageError("--bars " + std::to_string(o.bars) + ": " + gen.model_path() + " is a model of " +
                     std::to_string(gen.config().bars) + " bars, and a model writes its own length; train one of " +
                     std::to_string(o.bars) + " bars (preprocess --bars " + std::to_string(o.bars) +
                     ") or leave --bars out");
  if (!o.qpm_given) o.decode.qpm = gen.representation().default_qpm;
  if (fs::exists(o.out) && !fs::is_directory(o.out))
    throw UsageError("--out " + o.out + " is a file: --out names the folder the MIDI files go to");
  const bool created = !fs::exists(o.out);
  fs::create_directories(o.out);
  GenerateOutput result;
  try {
    result = run_verb(gen, o);
  } catch (...) {
    // An empty folder this run made goes with the failure. Files already written stay: each is
    // whole (written atomically), and the message says the verb failed (a full disk keeps the
    // samples written before it filled).
    std::error_code ignored;
    if (created && fs::is_empty(o.out, ignored)) fs::remove(o.out, ignored);
    throw;
  }
  std::printf("generate %s: %smodel %s (%s)\n", o.verb.c_str(), released ? "released " : "", gen.model_path().c_str(),
              gen.config().summary().c_str());
  for (const auto& w : result.written) std::printf("  wrote %s\n", w.c_str());
  return 0;
}

}  // namespace mvae::generate
