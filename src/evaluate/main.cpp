// evaluate: reconstruction accuracy (the paper's Table 1 metric), ELBO, reconstruction loss and KL
// on a split of the shards, overall and per style; a table on the terminal and JSON. Or the
// training curves of one or more runs as an SVG picture.
//   evaluate --checkpoint runs/a [--best] --data shards/ --split test --json test.json
//   evaluate --curve runs/a [--curve runs/b] --curve-out curves.svg
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "common/error.h"
#include "common/files.h"
#include "common/run_program.h"
#include "common/runtime.h"
#include "data/shards.h"
#include "evaluate/report.h"
#include "inference/trained_model.h"
#include "pictures/curves.h"

namespace po = boost::program_options;

namespace {

struct EvaluateOptions {
  std::string checkpoint, data_dir, json_path, curve_out = "curves.svg";
  std::vector<std::string> curves;
  bool best = false;
  mvae::evaluate::SplitReportOptions report;
  uint64_t seed = 0;
};

const std::vector<std::string> kCurveKeys = {
    "loss", "r_loss", "kl_bits", "accuracy", "eval_tf_accuracy", "eval_free_accuracy", "eval_elbo"};

int draw_curves(const EvaluateOptions& o) {
  std::vector<mvae::pictures::RunCurves> runs;
  std::string title = "training curves:";
  for (const auto& c : o.curves) {
    runs.push_back(mvae::pictures::read_run_curves(c, kCurveKeys));
    title += " " + c;
  }
  mvae::write_file_atomic(o.curve_out, mvae::pictures::curves_svg(runs, kCurveKeys, title));
  std::printf("wrote %s\n", o.curve_out.c_str());
  return 0;
}

int evaluate_split(const EvaluateOptions& o) {
  if (o.checkpoint.empty() || o.data_dir.empty()) throw mvae::UsageError("--checkpoint and --data are required");
  if (o.report.eval.batch < 1) throw mvae::UsageError("--batch must be >= 1");
  mvae::inference::check_temperature(o.report.eval.temperature);
  mvae::tune_cpu();
  mvae::inference::TrainedModel trained(
      o.checkpoint, o.best ? mvae::run_folder::CheckpointChoice::kBest : mvae::run_folder::CheckpointChoice::kLatest);
  mvae::data::ShardSet shards(o.data_dir);
  const std::string diff = shards.representation().difference(trained.representation());
  if (!diff.empty()) throw mvae::UsageError("the shards and the model disagree: " + diff);
  torch::manual_seed(o.seed);
  nlohmann::ordered_json out{{"checkpoint", trained.model_path()}, {"data", o.data_dir}};
  out.update(mvae::evaluate::evaluate_split(trained.model(), shards, o.report));
  std::fputs(mvae::evaluate::report_table(out).c_str(), stdout);
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
    ("split", po::value(&o.report.split)->default_value("test"), "train, validation or test")
    ("windows", po::value(&o.report.max_windows)->default_value(0), "evaluate the first N windows (0 = all)")
    ("batch", po::value(&o.report.eval.batch)->default_value(128), "windows per batch")
    ("temperature", po::value(&o.report.eval.temperature)->default_value(1.0), "free-running sampling temperature (the paper: 1.0)")
    ("argmax", po::bool_switch(&o.report.eval.argmax), "free-running decoding by argmax instead of sampling")
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
