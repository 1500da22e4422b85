// evaluate: reconstruction accuracy (the paper's Table 1 metric), ELBO, reconstruction loss and KL
// on a split of the shards, overall and per style; a table on the terminal and JSON. Or the
// training curves of one or more runs as an SVG picture.
//   evaluate --checkpoint runs/a [--best] --data shards/ --split test --json test.json
//   evaluate --curve runs/a [--curve runs/b] --curve-out curves.svg
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>

#include "common/cli.h"
#include "common/error.h"
#include "common/files.h"
#include "common/runtime.h"
#include "data/shards.h"
#include "evaluate/curves.h"
#include "evaluate/metrics.h"
#include "generate/generator.h"
#include "model/tokens.h"

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

const std::vector<std::string> kCurveKeys = {"loss", "r_loss", "kl_bits", "accuracy", "eval_tf_accuracy",
                                             "eval_free_accuracy", "eval_elbo"};

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

std::string style_family(const std::string& style) {
  const std::string family = style.substr(0, style.find('/'));
  return family.empty() ? "(none)" : family;
}

int evaluate_split(EvaluateOptions& o) {
  if (o.checkpoint.empty() || o.data_dir.empty()) throw mvae::UsageError("--checkpoint and --data are required");
  if (o.eval.batch < 1) throw mvae::UsageError("--batch must be >= 1");
  if (o.eval.temperature <= 0) throw mvae::UsageError("--temperature must be > 0");
  mvae::tune_cpu();
  mvae::generate::Generator gen(o.checkpoint, o.best ? mvae::model::CheckpointChoice::kBest : mvae::model::CheckpointChoice::kLatest);
  mvae::data::ShardSet shards(o.data_dir);
  if (!shards.has_split(o.split)) throw mvae::UsageError("--split " + o.split + ": not in " + o.data_dir);
  const std::string diff = shards.representation().difference(gen.representation());
  if (!diff.empty()) throw mvae::UsageError("the shards and the model disagree: " + diff);
  torch::manual_seed(o.seed);

  const int64_t n = o.max_windows > 0 ? std::min(o.max_windows, shards.size(o.split)) : shards.size(o.split);
  if (n == 0) throw mvae::UsageError("split " + o.split + " has no windows");
  const int64_t T = shards.representation().window_steps();
  std::vector<int64_t> indices(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) indices[static_cast<size_t>(i)] = i;
  std::map<std::string, MetricTotals> by_style;
  const MetricTotals all = mvae::evaluate::evaluate_windows(
      gen.model(), indices,
      [&](const std::vector<int64_t>& idx) {
        std::vector<uint16_t> raw(idx.size() * static_cast<size_t>(T));
        shards.read_tokens(o.split, idx, raw.data());
        return mvae::model::token_tensor(raw.data(), static_cast<int64_t>(idx.size()), T);
      },
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
  std::printf("%-18s %8s %10s %12s %10s %9s %10s\n", "style", "windows", "TF acc", "sampled acc", "r_loss", "KL bits", "ELBO");
  out["overall"] = row("overall", all);
  for (const auto& [style, t] : by_style) out["per_style"][style] = row(style, t);
  std::printf("by bar (overall):\n%-18s", "bar");
  for (size_t u = 0; u < all.tf_correct_by_bar.size(); ++u) std::printf(" %6zu", u + 1);
  std::printf("\n%-18s", "TF acc");
  for (size_t u = 0; u < all.tf_correct_by_bar.size(); ++u) {
    std::printf(" %6.3f", all.tf_accuracy_of_bar(u));
    out["overall"]["teacher_forced_accuracy_by_bar"].push_back(all.tf_accuracy_of_bar(u));
  }
  std::printf("\n%-18s", "sampled acc");
  for (size_t u = 0; u < all.free_correct_by_bar.size(); ++u) {
    std::printf(" %6.3f", all.free_accuracy_of_bar(u));
    out["overall"]["free_running_accuracy_by_bar"].push_back(all.free_accuracy_of_bar(u));
  }
  std::printf("\n");
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
