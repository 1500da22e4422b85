#include "evaluate/report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <vector>

#include "common/error.h"
#include "common/text.h"
#include "data/drum_kit.h"
#include "evaluate/structure.h"
#include "model/window_batch.h"

namespace mvae::evaluate {
namespace {

using Json = nlohmann::ordered_json;

std::string style_family(const std::string& style) {
  const std::string family = style.substr(0, style.find('/'));
  return family.empty() ? "(none)" : family;
}

Json totals_json(const MetricTotals& t) {
  return Json{{"windows", t.windows},
              {"teacher_forced_accuracy", t.tf_accuracy()},
              {"free_running_accuracy", t.free_accuracy()},
              {"r_loss_nats", t.mean_r_loss()},
              {"kl_bits", t.mean_kl() / std::log(2.0)},
              {"elbo_nats", t.elbo()}};
}

Json structure_json(const StructureTotals& t, const StructureTotals& data) {
  Json j{{"sequences", t.sequences},
         {"previous_bar_similarity", t.previous()},
         {"best_earlier_bar_similarity", t.best_earlier()},
         {"exact_repeat_fraction", t.exact()},
         {"distance_to_data", t.distance_to(data)}};
  for (size_t u = 1; u < t.best_earlier_by_bar.size(); ++u)
    j["best_earlier_bar_similarity_by_bar"].push_back(t.best_earlier_of_bar(u));
  return j;
}

Json groove_json(const GrooveTotals& g) {
  const auto& names = data::drum_class_names();
  Json out{{"hit_precision", g.precision()},
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
    out["per_class"][names[c]] = {{"hits", n},
                                  {"drummer_timing_ms_mean", g.drummer_timing_ms[c] / n},
                                  {"drummer_timing_ms_sd", sd(g.drummer_timing_ms[c], g.drummer_timing_sq[c])},
                                  {"model_timing_ms_mean", g.model_timing_ms[c] / n},
                                  {"model_timing_ms_sd", sd(g.model_timing_ms[c], g.model_timing_sq[c])},
                                  {"drummer_velocity_mean", g.drummer_velocity[c] / n},
                                  {"model_velocity_mean", g.model_velocity[c] / n}};
  }
  return out;
}

void table_of_totals(std::string& out, const Json& report) {
  appendf(out, "%-18s %8s %10s %12s %10s %9s %10s\n", "style", "windows", "TF acc", "sampled acc", "r_loss", "KL bits",
          "ELBO");
  const auto row = [&](const std::string& name, const Json& t) {
    appendf(out, "%-18s %8.0f %10.4f %12.4f %10.3f %9.2f %10.3f\n", name.c_str(), t["windows"].get<double>(),
            t["teacher_forced_accuracy"].get<double>(), t["free_running_accuracy"].get<double>(),
            t["r_loss_nats"].get<double>(), t["kl_bits"].get<double>(), t["elbo_nats"].get<double>());
  };
  row("overall", report["overall"]);
  if (report.contains("per_style"))
    for (const auto& [style, t] : report["per_style"].items()) row(style, t);
  const Json& overall = report["overall"];
  if (!overall.contains("teacher_forced_accuracy_by_bar")) return;
  const Json& tf = overall["teacher_forced_accuracy_by_bar"];
  const Json& free = overall["free_running_accuracy_by_bar"];
  appendf(out, "by bar (overall):\n%-18s", "bar");
  for (size_t u = 0; u < tf.size(); ++u) appendf(out, " %6zu", u + 1);
  appendf(out, "\n%-18s", "TF acc");
  for (const auto& a : tf) appendf(out, " %6.3f", a.get<double>());
  appendf(out, "\n%-18s", "sampled acc");
  for (const auto& a : free) appendf(out, " %6.3f", a.get<double>());
  appendf(out, "\n");
}

void table_of_structure(std::string& out, const Json& structure) {
  appendf(out, "structure (how much each bar repeats the bars before it; Jaccard similarity of hits):\n");
  appendf(out, "%-18s %10s %13s %14s %17s\n", "source", "prev bar", "best earlier", "exact repeats",
          "distance to data");
  for (const auto& [key, name] : std::vector<std::pair<const char*, const char*>>{
           {"data", "data"}, {"reconstructions", "reconstructions"}, {"prior_samples", "prior samples"}}) {
    const Json& t = structure[key];
    appendf(out, "%-18s %10.3f %13.3f %14.3f %17.3f\n", name, t["previous_bar_similarity"].get<double>(),
            t["best_earlier_bar_similarity"].get<double>(), t["exact_repeat_fraction"].get<double>(),
            t["distance_to_data"].get<double>());
  }
}

void table_of_groove(std::string& out, const Json& g) {
  const auto mae = [&](const Json& j) {
    return std::pair<double, double>{j["velocity_mae"].get<double>(), j["timing_mae_ms"].get<double>()};
  };
  appendf(out, "\ngroove (free-running hits; velocities and timing at the drummer's hits, hits given):\n");
  appendf(out, "  hits: precision %.4f  recall %.4f  F1 %.4f  (%.0f drummer hits)\n", g["hit_precision"].get<double>(),
          g["hit_recall"].get<double>(), g["hit_f1"].get<double>(), g["drummer_hits"].get<double>());
  appendf(out, "  %-34s %14s %14s\n", "mean absolute error", "velocity", "timing (ms)");
  for (const auto& [name, j] : std::vector<std::pair<const char*, const Json*>>{
           {"model", &g},
           {"baseline: grid at velocity 80", &g["baseline_grid_velocity80"]},
           {"baseline: training class means", &g["baseline_training_class_means"]}}) {
    const auto [velocity, timing] = mae(*j);
    appendf(out, "  %-34s %14.2f %14.2f\n", name, velocity, timing);
  }
  appendf(out, "  per class (timing in ms, positive = late; mean +- SD):\n  %-14s %8s %18s %18s %10s %10s\n", "class",
          "hits", "drummer timing", "model timing", "drummer v", "model v");
  if (!g.contains("per_class")) return;
  for (const auto& [name, c] : g["per_class"].items())
    appendf(out, "  %-14s %8.0f %9.1f +- %5.1f %9.1f +- %5.1f %10.1f %10.1f\n", name.c_str(), c["hits"].get<double>(),
            c["drummer_timing_ms_mean"].get<double>(), c["drummer_timing_ms_sd"].get<double>(),
            c["model_timing_ms_mean"].get<double>(), c["model_timing_ms_sd"].get<double>(),
            c["drummer_velocity_mean"].get<double>(), c["model_velocity_mean"].get<double>());
}

}  // namespace

GrooveBaselines training_means(data::ShardSet& shards) {
  constexpr int C = data::kNumDrumClasses;
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
  GrooveBaselines b;
  for (int c = 0; c < C; ++c) {
    b.mean_velocity[c] = count[c] > 0 ? velocity[c] / count[c] : 80.0;
    b.mean_offset[c] = count[c] > 0 ? offset[c] / count[c] : 0.0;
  }
  return b;
}

Json evaluate_split(model::MusicVAE& model, data::ShardSet& shards, const SplitReportOptions& options) {
  const std::string& split = options.split;
  if (!shards.has_split(split)) throw UsageError("{split} " + split + ": not in " + shards.folder().string());
  const int64_t available = shards.size(split);
  const int64_t n = options.max_windows > 0 ? std::min(options.max_windows, available) : available;
  if (n == 0) throw UsageError("{split} " + split + " has no windows");
  EvaluationOptions eval = options.eval;
  eval.structure = true;
  const bool groove = model->config().groove();
  GrooveBaselines baselines;
  if (groove) {
    baselines = training_means(shards);
    eval.groove_baselines = &baselines;
    eval.qpm_of = [&](int64_t index) {  // the source file's tempo (Groove files keep one tempo)
      const int bpm = shards.files().at(shards.source(split, index).file_id).bpm;
      return bpm > 0 ? static_cast<double>(bpm) : 120.0;
    };
  }
  std::vector<int64_t> indices(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) indices[static_cast<size_t>(i)] = i;
  std::map<std::string, MetricTotals> by_style;
  const MetricTotals all = evaluate_windows(
      model, indices,
      [&](const std::vector<int64_t>& idx) { return model::read_window_tensor(shards, split, idx, groove); }, eval,
      torch::kCPU,
      [&](int64_t index, const MetricTotals& window) {
        by_style[style_family(shards.files().at(shards.source(split, index).file_id).style)].add(window);
      });

  Json out;
  out["split"] = split;
  out["free_running"] = eval.argmax ? "argmax" : "temperature " + std::to_string(eval.temperature);
  out["overall"] = totals_json(all);
  for (const auto& [style, t] : by_style) out["per_style"][style] = totals_json(t);
  for (size_t u = 0; u < all.tf_correct_by_bar.size(); ++u) {
    out["overall"]["teacher_forced_accuracy_by_bar"].push_back(all.tf_accuracy_of_bar(u));
    out["overall"]["free_running_accuracy_by_bar"].push_back(all.free_accuracy_of_bar(u));
  }
  if (!all.data_structure.empty()) {  // one bar: nothing before it to repeat
    const StructureTotals prior =
        prior_sample_structure(model, n, eval.batch, eval.temperature, eval.argmax, torch::kCPU);
    out["structure"]["data"] = structure_json(all.data_structure, all.data_structure);
    out["structure"]["reconstructions"] = structure_json(all.reconstruction_structure, all.data_structure);
    out["structure"]["prior_samples"] = structure_json(prior, all.data_structure);
  }
  if (groove) out["groove"] = groove_json(all.groove);
  return out;
}

std::string report_table(const Json& report) {
  std::string out;
  appendf(out, "%s on %s/%s (free-running: %s)\n", report.value("checkpoint", "the model").c_str(),
          report.value("data", "the shards").c_str(), report.value("split", "").c_str(),
          report.value("free_running", "").c_str());
  table_of_totals(out, report);
  if (report.contains("structure")) table_of_structure(out, report["structure"]);
  if (report.contains("groove")) table_of_groove(out, report["groove"]);
  return out;
}

}  // namespace mvae::evaluate
