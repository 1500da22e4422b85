// evaluate: reconstruction accuracy (the paper's Table 1 metric), ELBO, reconstruction loss and KL
// on a split of the shards, overall and per style; a table on the terminal and JSON. Or the
// training curves of one or more runs as an SVG picture.
//   evaluate --checkpoint runs/a [--best] --data shards/ --split test --json test.json
//   evaluate --curve runs/a [--curve runs/b] --curve-out curves.svg
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>

#include "common/error.h"
#include "common/files.h"
#include "common/run_program.h"
#include "common/runtime.h"
#include "data/shards.h"
#include "dataset/window_tensors.h"
#include "evaluate/curves.h"
#include "evaluate/metrics.h"
#include "inference/trained_model.h"

namespace po = boost::program_options;
using mvae::evaluate::MetricTotals;

namespace {

struct EvaluateOptions {
  std::string checkpoint, data_dir, split = "test", json_path, curve_out = "curves.svg";
  std::vector<std::string> curves;
  bool best = false;
  int64_t max_windows = 0;
  mvae::evaluate::EvaluationOptions eval;
  uint64_t seed = 0;
};

const std::vector<std::string> kCurveKeys = {
    "loss", "r_loss", "kl_bits", "accuracy", "eval_tf_accuracy", "eval_free_accuracy", "eval_elbo"};

int draw_curves(const EvaluateOptions& o) {
  std::vector<mvae::evaluate::RunCurves> runs;
  std::string title = "training curves:";
  for (const auto& c : o.curves) {
    runs.push_back(mvae::evaluate::read_run_curves(c, kCurveKeys));
    title += " " + c;
  }
  mvae::write_file_atomic(o.curve_out, mvae::evaluate::curves_svg(runs, kCurveKeys, title));
  std::printf("wrote %s\n", o.curve_out.c_str());
  return 0;
}

// The training split's mean velocity (MIDI units) and offset per drum class, over its hits: the
// second baseline a groove model must beat.
mvae::evaluate::GrooveBaselines training_means(mvae::data::ShardSet& shards) {
  constexpr int C = mvae::data::kNumDrumClasses;
  const int64_t T = shards.representation().window_steps();
  std::array<double, C> count{}, velocity{}, offset{};
  std::vector<int64_t> indices;
  std::vector<uint8_t> v;
  std::vector<float> o;
  for (int64_t begin = 0; begin < shards.size("train"); begin += 1024) {
    indices.clear();
    for (int64_t i = begin; i < std::min(shards.size("train"), begin + 1024); ++i) indices.push_back(i);
    v.resize(indices.size() * T * C);
    o.resize(v.size());
    shards.read_expressive("train", indices, v.data(), o.data());
    for (size_t k = 0; k < v.size(); ++k) {
      if (v[k] == 0) continue;
      count[k % C] += 1;
      velocity[k % C] += v[k];
      offset[k % C] += o[k];
    }
  }
  mvae::evaluate::GrooveBaselines b;
  for (int c = 0; c < C; ++c) {
    b.mean_velocity[c] = count[c] > 0 ? velocity[c] / count[c] : 80.0;
    b.mean_offset[c] = count[c] > 0 ? offset[c] / count[c] : 0.0;
  }
  return b;
}

// The groove section of the report: hits, velocity and timing against the two baselines, and the
// timing distribution per class.
nlohmann::ordered_json report_groove(const mvae::evaluate::GrooveTotals& g) {
  const auto& names = mvae::data::drum_class_names();
  std::printf("\ngroove (free-running hits; velocities and timing at the drummer's hits, hits given):\n");
  std::printf("  hits: precision %.4f  recall %.4f  F1 %.4f  (%.0f drummer hits)\n", g.precision(), g.recall(), g.f1(),
              g.hits);
  std::printf("  %-34s %14s %14s\n", "mean absolute error", "velocity", "timing (ms)");
  std::printf("  %-34s %14.2f %14.2f\n", "model", g.velocity_error / g.hits, g.timing_error_ms / g.hits);
  std::printf("  %-34s %14.2f %14.2f\n", "baseline: grid at velocity 80", g.grid_velocity_error / g.hits,
              g.grid_timing_error_ms / g.hits);
  std::printf("  %-34s %14.2f %14.2f\n", "baseline: training class means", g.mean_velocity_error / g.hits,
              g.mean_timing_error_ms / g.hits);
  std::printf("  per class (timing in ms, positive = late; mean +- SD):\n  %-14s %8s %18s %18s %10s %10s\n", "class",
              "hits", "drummer timing", "model timing", "drummer v", "model v");
  nlohmann::ordered_json out{
      {"hit_precision", g.precision()},
      {"hit_recall", g.recall()},
      {"hit_f1", g.f1()},
      {"drummer_hits", g.hits},
      {"velocity_mae", g.velocity_error / g.hits},
      {"timing_mae_ms", g.timing_error_ms / g.hits},
      {"baseline_grid_velocity80",
       {{"velocity_mae", g.grid_velocity_error / g.hits}, {"timing_mae_ms", g.grid_timing_error_ms / g.hits}}},
      {"baseline_training_class_means",
       {{"velocity_mae", g.mean_velocity_error / g.hits}, {"timing_mae_ms", g.mean_timing_error_ms / g.hits}}}};
  for (size_t c = 0; c < g.class_hits.size(); ++c) {
    const double n = g.class_hits[c];
    if (n == 0) continue;
    const auto sd = [n](double sum, double sq) { return std::sqrt(std::max(0.0, sq / n - (sum / n) * (sum / n))); };
    const double dm = g.drummer_timing_ms[c] / n, mm = g.model_timing_ms[c] / n;
    const double ds = sd(g.drummer_timing_ms[c], g.drummer_timing_sq[c]),
                 ms = sd(g.model_timing_ms[c], g.model_timing_sq[c]);
    std::printf("  %-14s %8.0f %9.1f +- %5.1f %9.1f +- %5.1f %10.1f %10.1f\n", names[c], n, dm, ds, mm, ms,
                g.drummer_velocity[c] / n, g.model_velocity[c] / n);
    out["per_class"][names[c]] = {{"hits", n},
                                  {"drummer_timing_ms_mean", dm},
                                  {"drummer_timing_ms_sd", ds},
                                  {"model_timing_ms_mean", mm},
                                  {"model_timing_ms_sd", ms},
                                  {"drummer_velocity_mean", g.drummer_velocity[c] / n},
                                  {"model_velocity_mean", g.model_velocity[c] / n}};
  }
  return out;
}

// The structure figures (docs/results.md) of the windows, their reconstructions and prior samples:
// a table on the terminal and out["structure"].
void report_structure(const MetricTotals& all, const mvae::evaluate::StructureTotals& prior,
                      nlohmann::ordered_json& out) {
  const mvae::evaluate::StructureTotals& data = all.data_structure;
  if (data.empty()) return;  // one bar: nothing before it to repeat
  std::printf("structure (how much each bar repeats the bars before it; Jaccard similarity of hits):\n");
  std::printf("%-18s %10s %13s %14s %17s\n", "source", "prev bar", "best earlier", "exact repeats", "distance to data");
  const auto row = [&](const char* name, const mvae::evaluate::StructureTotals& t) {
    std::printf("%-18s %10.3f %13.3f %14.3f %17.3f\n", name, t.previous(), t.best_earlier(), t.exact(),
                t.distance_to(data));
    nlohmann::ordered_json j{{"sequences", t.sequences},
                             {"previous_bar_similarity", t.previous()},
                             {"best_earlier_bar_similarity", t.best_earlier()},
                             {"exact_repeat_fraction", t.exact()},
                             {"distance_to_data", t.distance_to(data)}};
    for (size_t u = 1; u < t.best_earlier_by_bar.size(); ++u)
      j["best_earlier_bar_similarity_by_bar"].push_back(t.best_earlier_of_bar(u));
    return j;
  };
  out["structure"]["data"] = row("data", data);
  out["structure"]["reconstructions"] = row("reconstructions", all.reconstruction_structure);
  out["structure"]["prior_samples"] = row("prior samples", prior);
}

std::string style_family(const std::string& style) {
  const std::string family = style.substr(0, style.find('/'));
  return family.empty() ? "(none)" : family;
}

// Teacher-forced and sampled accuracy of each bar: printed, and into `overall`.
void report_by_bar(const MetricTotals& all, nlohmann::ordered_json& overall) {
  std::printf("by bar (overall):\n%-18s", "bar");
  for (size_t u = 0; u < all.tf_correct_by_bar.size(); ++u) std::printf(" %6zu", u + 1);
  std::printf("\n%-18s", "TF acc");
  for (size_t u = 0; u < all.tf_correct_by_bar.size(); ++u) {
    std::printf(" %6.3f", all.tf_accuracy_of_bar(u));
    overall["teacher_forced_accuracy_by_bar"].push_back(all.tf_accuracy_of_bar(u));
  }
  std::printf("\n%-18s", "sampled acc");
  for (size_t u = 0; u < all.free_correct_by_bar.size(); ++u) {
    std::printf(" %6.3f", all.free_accuracy_of_bar(u));
    overall["free_running_accuracy_by_bar"].push_back(all.free_accuracy_of_bar(u));
  }
  std::printf("\n");
}

int evaluate_split(EvaluateOptions& o) {
  if (o.checkpoint.empty() || o.data_dir.empty()) throw mvae::UsageError("--checkpoint and --data are required");
  if (o.eval.batch < 1) throw mvae::UsageError("--batch must be >= 1");
  if (o.eval.temperature <= 0) throw mvae::UsageError("--temperature must be > 0");
  o.eval.structure = true;
  mvae::tune_cpu();
  mvae::inference::TrainedModel gen(
      o.checkpoint, o.best ? mvae::run_folder::CheckpointChoice::kBest : mvae::run_folder::CheckpointChoice::kLatest);
  mvae::data::ShardSet shards(o.data_dir);
  if (!shards.has_split(o.split)) throw mvae::UsageError("--split " + o.split + ": not in " + o.data_dir);
  const std::string diff = shards.representation().difference(gen.representation());
  if (!diff.empty()) throw mvae::UsageError("the shards and the model disagree: " + diff);
  torch::manual_seed(o.seed);

  const int64_t n = o.max_windows > 0 ? std::min(o.max_windows, shards.size(o.split)) : shards.size(o.split);
  if (n == 0) throw mvae::UsageError("split " + o.split + " has no windows");
  const bool groove = gen.config().groove();
  mvae::evaluate::GrooveBaselines baselines;
  if (groove) {
    baselines = training_means(shards);
    o.eval.groove_baselines = &baselines;
    o.eval.qpm_of = [&](int64_t index) {  // the source file's tempo (Groove files keep one tempo)
      const int bpm = shards.files().at(shards.source(o.split, index).file_id).bpm;
      return bpm > 0 ? static_cast<double>(bpm) : 120.0;
    };
  }
  std::vector<int64_t> indices(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) indices[static_cast<size_t>(i)] = i;
  std::map<std::string, MetricTotals> by_style;
  const MetricTotals all = mvae::evaluate::evaluate_windows(
      gen.model(), indices,
      [&](const std::vector<int64_t>& idx) { return mvae::dataset::read_window_tensor(shards, o.split, idx, groove); },
      o.eval, torch::kCPU,
      [&](int64_t index, const MetricTotals& window) {
        by_style[style_family(shards.files().at(shards.source(o.split, index).file_id).style)].add(window);
      });

  nlohmann::ordered_json out;
  out["checkpoint"] = gen.model_path();
  out["data"] = o.data_dir;
  out["split"] = o.split;
  out["free_running"] = o.eval.argmax ? "argmax" : "temperature " + std::to_string(o.eval.temperature);
  const auto row = [&](const std::string& name, const MetricTotals& t) {
    const double ln2 = std::log(2.0);
    std::printf("%-18s %8.0f %10.4f %12.4f %10.3f %9.2f %10.3f\n", name.c_str(), t.windows, t.tf_accuracy(),
                t.free_accuracy(), t.mean_r_loss(), t.mean_kl() / ln2, t.elbo());
    return nlohmann::ordered_json{{"windows", t.windows},
                                  {"teacher_forced_accuracy", t.tf_accuracy()},
                                  {"free_running_accuracy", t.free_accuracy()},
                                  {"r_loss_nats", t.mean_r_loss()},
                                  {"kl_bits", t.mean_kl() / ln2},
                                  {"elbo_nats", t.elbo()}};
  };
  std::printf("%s on %s/%s (free-running: %s)\n", gen.model_path().c_str(), o.data_dir.c_str(), o.split.c_str(),
              out["free_running"].get<std::string>().c_str());
  std::printf("%-18s %8s %10s %12s %10s %9s %10s\n", "style", "windows", "TF acc", "sampled acc", "r_loss", "KL bits",
              "ELBO");
  out["overall"] = row("overall", all);
  for (const auto& [style, t] : by_style) out["per_style"][style] = row(style, t);
  report_by_bar(all, out["overall"]);
  const auto prior = mvae::evaluate::prior_sample_structure(gen.model(), n, o.eval.batch, o.eval.temperature,
                                                            o.eval.argmax, torch::kCPU);
  report_structure(all, prior, out);
  if (groove) out["groove"] = report_groove(all.groove);
  if (!o.json_path.empty()) {
    mvae::write_file_atomic(o.json_path, out.dump(2) + "\n");
    std::printf("wrote %s\n", o.json_path.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  EvaluateOptions o;
  po::options_description desc("evaluate: reconstruction metrics of a trained model on a shard split");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("checkpoint,c", po::value(&o.checkpoint), "run folder, checkpoint folder or model.pt")
    ("best", po::bool_switch(&o.best), "with a run folder: its best checkpoint (checkpoints/best) instead of the newest")
    ("data", po::value(&o.data_dir), "shard folder written by preprocess")
    ("split", po::value(&o.split)->default_value("test"), "train, validation or test")
    ("windows", po::value(&o.max_windows)->default_value(0), "evaluate the first N windows (0 = all)")
    ("batch", po::value(&o.eval.batch)->default_value(128), "windows per batch")
    ("temperature", po::value(&o.eval.temperature)->default_value(1.0), "free-running sampling temperature (the paper: 1.0)")
    ("argmax", po::bool_switch(&o.eval.argmax), "free-running decoding by argmax instead of sampling")
    ("seed", po::value(&o.seed)->default_value(0), "seed of the free-running sampling")
    ("json", po::value(&o.json_path), "also write the results here")
    ("curve", po::value(&o.curves)->composing(), "instead: draw the training curves of this run folder (or metrics.jsonl); repeat to overlay runs ...")
    ("curve-out", po::value(&o.curve_out)->default_value("curves.svg"), "... to this SVG file");
  // clang-format on
  return mvae::run_program("evaluate", [&] {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help") || argc == 1) {
      std::cout << desc << "\n";
      return argc == 1 ? 2 : 0;
    }
    po::notify(vm);
    return o.curves.empty() ? evaluate_split(o) : draw_curves(o);
  });
}
