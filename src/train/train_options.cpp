#include "train/train_options.h"

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/model_options.h"
#include "common/error.h"
#include "model/precision.h"

namespace po = boost::program_options;

namespace mvae::train {

void TrainOptions::validate() const {
  if (data.empty()) throw UsageError("--data is required: a shard folder written by preprocess");
  if (run.empty()) throw UsageError("--run is required: the folder for checkpoints and metrics");
  const auto at_least = [](const char* option, double v, double min) {
    if (v < min)
      throw UsageError(std::string(option) + " must be >= " + std::to_string(min) + ", got " + std::to_string(v));
  };
  at_least("--batch", static_cast<double>(batch), 1);
  at_least("--accumulate", accumulate, 1);
  at_least("--steps", static_cast<double>(steps), 1);
  at_least("--log-every", static_cast<double>(log_every), 1);
  at_least("--eval-every", static_cast<double>(eval_every), 1);
  at_least("--eval-windows", static_cast<double>(eval_windows), 1);
  at_least("--checkpoint-every", static_cast<double>(checkpoint_every), 1);
  at_least("--keep-checkpoints", keep_checkpoints, 1);
  at_least("--windows-per-file", windows_per_file, 0);
  at_least("--threads", threads, 0);
  at_least("--early-stop", early_stop, 0);
  if (best_metric != "elbo" && best_metric != "tf_accuracy" && best_metric != "free_accuracy")
    throw UsageError("--best-metric must be elbo, tf_accuracy or free_accuracy, got '" + best_metric + "'");
  // Each written so that NaN fails (every comparison with NaN is false), and infinities with it.
  const auto finite = [](const char* option, double v, const std::string& rule, bool ok) {
    if (!ok || !std::isfinite(v))
      throw UsageError(std::string(option) + " must be " + rule + ", got " + std::to_string(v));
  };
  finite("--early-stop-min-delta", early_stop_min_delta, ">= 0", early_stop_min_delta >= 0);
  finite("--lr", lr, "a finite number > 0", lr > 0);
  finite("--lr-decay", lr_decay, "in (0, 1]", lr_decay > 0 && lr_decay <= 1);
  finite("--min-lr", min_lr, "in [0, --lr]", min_lr >= 0 && min_lr <= lr);
  finite("--grad-clip", grad_clip, "a finite number > 0", grad_clip > 0);
  finite("--lstm-bias-lr-scale", lstm_bias_lr_scale, "a finite number > 0", lstm_bias_lr_scale > 0);
  finite("--bucket-mb", bucket_mb, "a finite number > 0", bucket_mb > 0);
  finite("--collective-timeout", collective_timeout_s, "a finite number of seconds > 0", collective_timeout_s > 0);
  finite("--clip-to-zero-norm", clip_to_zero_norm, "a finite number > 0", clip_to_zero_norm > 0);
  at_least("--lr-warmup-steps", static_cast<double>(lr_warmup_steps), 0);
  at_least("--schedule-offset", static_cast<double>(schedule_offset), 0);
  if (!(loader_memory_mb >= 0 && loader_memory_mb < 1e9))
    throw UsageError("--loader-memory-mb must be >= 0 (0 = read windows from the shards)");
  if (device != "auto" && device != "cpu" && device.rfind("cuda", 0) != 0)
    throw UsageError("--device must be auto, cpu, cuda or cuda:N, got '" + device + "'");
  if (init == model::Initialization::kMagenta && !init_from.empty())
    throw UsageError(
        "--init magenta and --init-from both choose the first weights: give one (--init-from's model "
        "brings its own)");
  model.validate();
}

double TrainOptions::learning_rate_at(int64_t step) const {
  const double scheduled = (lr - min_lr) * std::pow(lr_decay, static_cast<double>(schedule_step(step))) + min_lr;
  if (step >= lr_warmup_steps) return scheduled;
  return scheduled * static_cast<double>(step + 1) / static_cast<double>(lr_warmup_steps);
}

std::string TrainOptions::to_json() const {
  nlohmann::ordered_json j;
  j["data"] = data;
  j["run"] = run;
  j["model"] = nlohmann::json::parse(model.to_json());
  j["batch_per_rank"] = batch;
  j["windows_per_file"] = windows_per_file;
  j["accumulate"] = accumulate;
  j["steps"] = steps;
  j["lr"] = lr;
  j["lr_decay"] = lr_decay;
  j["min_lr"] = min_lr;
  j["lr_warmup_steps"] = lr_warmup_steps;
  j["schedule_offset"] = schedule_offset;
  j["grad_clip"] = grad_clip;
  j["lstm_bias_lr_scale"] = lstm_bias_lr_scale;
  j["clip_to_zero_norm"] = clip_to_zero_norm;
  j["seed"] = seed;
  j["log_every"] = log_every;
  j["eval_every"] = eval_every;
  j["eval_windows"] = eval_windows;
  j["checkpoint_every"] = checkpoint_every;
  j["keep_checkpoints"] = keep_checkpoints;
  j["best_metric"] = best_metric;
  j["early_stop"] = early_stop;
  j["early_stop_min_delta"] = early_stop_min_delta;
  if (!init_from.empty()) j["init_from"] = init_from;
  j["init"] = model::to_string(init);
  j["device"] = device;
  j["threads"] = threads;
  j["bucket_mb"] = bucket_mb;
  j["loader_memory_mb"] = loader_memory_mb;
  j["overlap"] = overlap;
  j["collective_timeout_s"] = collective_timeout_s;
  j["precision"] = model::to_string(precision);
  j["tf32"] = tf32;
  return j.dump(2);
}

namespace {

TrainOptions::FailMode parse_fail_mode(const std::string& text) {
  if (text == "exception") return TrainOptions::FailMode::kException;
  if (text == "kill") return TrainOptions::FailMode::kKill;
  if (text == "nan") return TrainOptions::FailMode::kNan;
  throw UsageError("--fail-mode must be exception, kill or nan, got '" + text + "'");
}

}  // namespace

bool parse_train_options(int argc, char** argv, TrainOptions& o, bool print_help) {
  po::options_description run("Training");
  // clang-format off
  run.add_options()
    ("help,h", "show this help")
    ("config", po::value<std::string>(), "read options from this file too (key = value lines; the command line wins)")
    ("data", po::value(&o.data), "shard folder written by preprocess")
    ("run", po::value(&o.run), "run folder (checkpoints, metrics.jsonl, config.json)")
    ("batch", po::value(&o.batch)->default_value(o.batch), "sequences per rank per micro-batch")
    ("windows-per-file", po::value(&o.windows_per_file)->default_value(o.windows_per_file), "at most this many windows of each source file per epoch, drawn afresh each epoch (Magenta's drum converters: 5; 0 = all)")
    ("accumulate", po::value(&o.accumulate)->default_value(o.accumulate), "micro-batches per optimizer step")
    ("steps", po::value(&o.steps)->default_value(o.steps), "optimizer steps in total")
    ("lr", po::value(&o.lr)->default_value(o.lr), "initial learning rate")
    ("lr-decay", po::value(&o.lr_decay)->default_value(o.lr_decay), "exponential decay per step")
    ("min-lr", po::value(&o.min_lr)->default_value(o.min_lr), "learning rate floor")
    ("lr-warmup-steps", po::value(&o.lr_warmup_steps)->default_value(o.lr_warmup_steps), "steps over which the learning rate rises linearly from --lr/N to the schedule (0 = none)")
    ("schedule-offset", po::value(&o.schedule_offset)->default_value(o.schedule_offset), "steps an earlier stage trained before this run took its weights (--init-from): the learning-rate, beta and sampling schedules continue from there")
    ("grad-clip", po::value(&o.grad_clip)->default_value(o.grad_clip), "clip the global gradient norm to this")
    ("lstm-bias-lr-scale", po::value(&o.lstm_bias_lr_scale)->default_value(o.lstm_bias_lr_scale),
     "learning rate of the LSTM gate biases relative to --lr (2 = torch.nn.LSTM's dynamics, whose two bias vectors b_ih + b_hh move twice as fast)")
    ("clip-to-zero-norm", po::value(&o.clip_to_zero_norm)->default_value(o.clip_to_zero_norm), "skip the update when the norm exceeds this")
    ("seed", po::value(&o.seed)->default_value(o.seed), "seed of initialisation, data order and noise")
    ("log-every", po::value(&o.log_every)->default_value(o.log_every), "steps between progress lines")
    ("eval-every", po::value(&o.eval_every)->default_value(o.eval_every), "steps between validation runs")
    ("eval-windows", po::value(&o.eval_windows)->default_value(o.eval_windows), "validation windows per evaluation")
    ("checkpoint-every", po::value(&o.checkpoint_every)->default_value(o.checkpoint_every), "steps between checkpoints")
    ("keep-checkpoints", po::value(&o.keep_checkpoints)->default_value(o.keep_checkpoints), "newest checkpoints kept (besides the best)")
    ("best-metric", po::value(&o.best_metric)->default_value(o.best_metric), "validation metric that picks checkpoints/best: elbo, tf_accuracy or free_accuracy")
    ("early-stop", po::value(&o.early_stop)->default_value(o.early_stop), "stop after this many validations without improvement (0 = never)")
    ("early-stop-min-delta", po::value(&o.early_stop_min_delta)->default_value(o.early_stop_min_delta), "smallest change of --best-metric that counts as improvement")
    ("resume", po::bool_switch(&o.resume), "continue from the newest complete checkpoint in --run")
    ("init-from", po::value(&o.init_from), "start a new run from this model's weights (run folder, checkpoint folder or model.pt; same sizes, other regularisation allowed); optimizer and step start afresh, the schedules too unless --schedule-offset")
    ("device", po::value(&o.device)->default_value(o.device), "auto (cuda:<local rank> if GPUs, else cpu), cpu, cuda")
    ("threads", po::value(&o.threads)->default_value(o.threads), "intra-op threads per rank (0 = cores / ranks on the node)")
    ("bucket-mb", po::value(&o.bucket_mb)->default_value(o.bucket_mb), "gradient all-reduce bucket size in MB")
    ("loader-memory-mb", po::value(&o.loader_memory_mb)->default_value(o.loader_memory_mb),
     "memory per rank for the decompressed windows, which are then read from memory (0 = from the shards)")
    ("overlap", po::value(&o.overlap)->default_value(o.overlap), "start gradient all-reduces during backward (false: after it)")
    ("collective-timeout", po::value(&o.collective_timeout_s)->default_value(o.collective_timeout_s),
     "seconds a collective may wait for the other ranks before the job is ended, naming the ranks that stopped answering")
    ("nccl-timeout", po::value<double>()->notifier([&o](double s) { o.collective_timeout_s = s; }),
     "former name of --collective-timeout")
    ("init", po::value<std::string>()->default_value("pytorch")->notifier([&o](const std::string& s) { o.init = model::parse_initialization(s); }),
     "how a new run draws its weights: pytorch (PyTorch's defaults) or magenta (as Magenta's trainer: Glorot-uniform kernels, forget biases 1; docs/model.md)")
    ("precision", po::value<std::string>()->default_value("fp32")->notifier([&o](const std::string& s) { o.precision = model::parse_precision(s); }),
     "fp32, or bf16 (autocast of forward passes; float32 weights and gradients)")
    ("tf32", po::bool_switch(&o.tf32), "TF32 tensor cores for float32 matrix products (GPU)");
  po::options_description hidden("Fault injection (tests)");
  hidden.add_options()
    ("fail-at-step", po::value(&o.fail_at_step)->default_value(-1), "")
    ("fail-rank", po::value(&o.fail_rank)->default_value(0), "")
    ("fail-mode", po::value<std::string>()->notifier([&o](const std::string& s) { o.fail_mode = parse_fail_mode(s); }), "exception, kill or nan");
  // clang-format on
  po::options_description visible("train: data-parallel MusicVAE training (mpirun -np N train ...)");
  visible.add(run).add(cli::model_options_description());
  po::options_description all;
  all.add(visible).add(hidden);
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, all), vm);
  if (vm.count("config")) {
    const std::string path = vm["config"].as<std::string>();
    if (!std::filesystem::is_regular_file(path))  // a folder or a device would read as an empty file
      throw UsageError("--config " + path + ": " +
                       (std::filesystem::exists(path) ? "is not a file (a folder or a device)" : "no such file") +
                       ": give a file of key = value lines");
    std::ifstream file(path);
    if (!file) throw UsageError("--config " + path + ": cannot open");
    po::store(po::parse_config_file(file, all), vm);
  }
  if (vm.count("help")) {
    if (print_help) std::cout << visible << "\n";
    return false;
  }
  po::notify(vm);
  o.model = cli::resolve_model_config(vm, model::kDefaultPreset);
  o.validate();
  return true;
}

}  // namespace mvae::train
