// evaluate: reconstruction accuracy (the paper's Table 1 metric), ELBO, reconstruction loss and KL
// on a split of the shards, overall and per style; a table on the terminal and JSON.
//   evaluate --checkpoint runs/a --data shards/ --split test --json test.json
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "common/cli.h"
#include "common/error.h"
#include "common/runtime.h"
#include "data/shards.h"
#include "evaluate/metrics.h"
#include "generate/generator.h"
#include "generate/pictures.h"

namespace po = boost::program_options;

namespace {

struct Totals {
  double r_loss = 0, kl = 0, tf = 0, free = 0, steps = 0, windows = 0;
};

std::string style_of(const std::string& style) { return style.substr(0, style.find('/')); }

}  // namespace

int main(int argc, char** argv) {
  std::string checkpoint, data_dir, split = "test", json_path, curve, curve_out;
  int64_t max_windows = 0, batch = 128;
  double temperature = 1.0;
  bool argmax = false;
  uint64_t seed = 0;
  po::options_description desc("evaluate: reconstruction metrics of a trained model on a shard split");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("checkpoint,c", po::value(&checkpoint), "run folder, checkpoint folder or model.pt")
    ("data", po::value(&data_dir), "shard folder written by preprocess")
    ("split", po::value(&split)->default_value("test"), "train, validation or test")
    ("windows", po::value(&max_windows)->default_value(0), "evaluate the first N windows (0 = all)")
    ("batch", po::value(&batch)->default_value(128), "windows per batch")
    ("temperature", po::value(&temperature)->default_value(1.0), "free-running sampling temperature (the paper: 1.0)")
    ("argmax", po::bool_switch(&argmax), "free-running decoding by argmax instead of sampling")
    ("seed", po::value(&seed)->default_value(0), "seed of the free-running sampling")
    ("json", po::value(&json_path), "also write the results here")
    ("curve", po::value(&curve), "instead: draw the training curves of this run folder (or metrics.jsonl) ...")
    ("curve-out", po::value(&curve_out)->default_value("curves.svg"), "... to this SVG file");
  // clang-format on
  return mvae::run_program("evaluate", [&] {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help") || argc == 1) {
      std::cout << desc << "\n";
      return argc == 1 ? 2 : 0;
    }
    po::notify(vm);
    if (!curve.empty()) {
      const auto series = mvae::generate::read_metric_series(
          curve, {"loss", "r_loss", "kl_bits", "accuracy", "eval_tf_accuracy", "eval_free_accuracy", "eval_elbo"});
      mvae::generate::write_text_file(curve_out, mvae::generate::curves_svg(series, "training curves: " + curve));
      std::printf("wrote %s\n", curve_out.c_str());
      return 0;
    }
    if (checkpoint.empty() || data_dir.empty()) throw mvae::UsageError("--checkpoint and --data are required");
    if (batch < 1) throw mvae::UsageError("--batch must be >= 1");
    if (temperature <= 0) throw mvae::UsageError("--temperature must be > 0");
    mvae::tune_allocator();
    mvae::generate::Generator gen(checkpoint);  // resolves and loads the model, checks the representation
    mvae::data::ShardSet shards(data_dir);
    if (!shards.has_split(split)) throw mvae::UsageError("--split " + split + ": not in " + data_dir);
    const std::string diff = shards.representation().difference(gen.representation());
    if (!diff.empty()) throw mvae::UsageError("the shards and the model disagree: " + diff);
    torch::manual_seed(seed);

    const int64_t n = max_windows > 0 ? std::min(max_windows, shards.size(split)) : shards.size(split);
    const int64_t T = shards.representation().window_steps();
    std::map<std::string, Totals> by_style;
    Totals all;
    std::vector<uint16_t> raw;
    for (int64_t begin = 0; begin < n; begin += batch) {
      std::vector<int64_t> idx;
      for (int64_t i = begin; i < std::min(n, begin + batch); ++i) idx.push_back(i);
      raw.resize(idx.size() * T);
      shards.read_tokens(split, idx, raw.data());
      const std::vector<int64_t> wide(raw.begin(), raw.end());
      const torch::Tensor x = torch::tensor(wide, torch::kLong).view({static_cast<int64_t>(idx.size()), T});
      const auto m = mvae::evaluate::reconstruction_metrics(gen.model(), x, temperature, argmax);
      for (size_t k = 0; k < idx.size(); ++k) {
        const auto& file = shards.files().at(shards.source(split, idx[k]).file_id);
        for (Totals* t : {&all, &by_style[style_of(file.style).empty() ? "(none)" : style_of(file.style)]}) {
          t->r_loss += m.r_loss[k].item<double>();
          t->kl += m.kl[k].item<double>();
          t->tf += m.tf_correct[k].item<double>();
          t->free += m.free_correct[k].item<double>();
          t->steps += static_cast<double>(T);
          t->windows += 1;
        }
      }
    }
    if (all.windows == 0) throw mvae::UsageError("split " + split + " has no windows");
    nlohmann::ordered_json out;
    out["checkpoint"] = gen.model_path();
    out["data"] = data_dir;
    out["split"] = split;
    out["free_running"] = argmax ? "argmax" : "temperature " + std::to_string(temperature);
    const auto row = [&](const std::string& name, const Totals& t) {
      const double ln2 = std::log(2.0);
      std::printf("%-18s %8.0f %10.4f %12.4f %10.3f %9.2f %10.3f\n", name.c_str(), t.windows, t.tf / t.steps,
                  t.free / t.steps, t.r_loss / t.windows, t.kl / t.windows / ln2, -(t.r_loss + t.kl) / t.windows);
      return nlohmann::ordered_json{{"windows", t.windows},
                                    {"teacher_forced_accuracy", t.tf / t.steps},
                                    {"free_running_accuracy", t.free / t.steps},
                                    {"r_loss_nats", t.r_loss / t.windows},
                                    {"kl_bits", t.kl / t.windows / ln2},
                                    {"elbo_nats", -(t.r_loss + t.kl) / t.windows}};
    };
    std::printf("%s on %s/%s (free-running: %s)\n", gen.model_path().c_str(), data_dir.c_str(), split.c_str(),
                out["free_running"].get<std::string>().c_str());
    std::printf("%-18s %8s %10s %12s %10s %9s %10s\n", "style", "windows", "TF acc", "sampled acc", "r_loss", "KL bits", "ELBO");
    out["overall"] = row("overall", all);
    for (const auto& [style, t] : by_style) out["per_style"][style] = row(style, t);
    if (!json_path.empty()) {
      std::ofstream(json_path) << out.dump(2) << "\n";
      std::printf("wrote %s\n", json_path.c_str());
    }
    return 0;
  });
}
