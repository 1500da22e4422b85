#include "train/trainer.h"

#include <csignal>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "data/shards.h"
#include "evaluate/metrics.h"
#include "model/musicvae.h"
#include "model/precision.h"
#include "train/batch_loader.h"
#include "train/checkpoint.h"
#include "train/gradient_reducer.h"
#include "train/sampler.h"
#include "train/tensorboard.h"

namespace fs = std::filesystem;

namespace mvae::train {
namespace {

volatile std::sig_atomic_t g_stop_requested = 0;
extern "C" void on_stop_signal(int) { g_stop_requested = 1; }

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The noise of z for this rank's slice of the global batch at (step, micro-batch): drawn for the
// whole global batch from a generator seeded by the step, so every world size sees the same.
torch::Tensor step_noise(uint64_t seed, int64_t micro_index, int64_t global_batch, int64_t rank_offset, int64_t batch, int64_t z) {
  auto gen = at::detail::createCPUGenerator(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(micro_index) + 1);
  return torch::randn({global_batch, z}, gen).narrow(0, rank_offset, batch);
}

void check_same_parameters(const std::vector<torch::Tensor>& params, dist::Communicator& comm, const char* when) {
  double sum = 0, abs_sum = 0;
  for (const auto& p : params) {
    sum += p.to(torch::kDouble).sum().item<double>();
    abs_sum += p.to(torch::kDouble).abs().sum().item<double>();
  }
  const double checksum = sum * 1.000001 + abs_sum;
  const double lo = comm.all_reduce_scalar(checksum, dist::ReduceOp::kMin);
  const double hi = comm.all_reduce_scalar(checksum, dist::ReduceOp::kMax);
  if (lo != hi)
    throw std::runtime_error(std::string("parameters differ across ranks ") + when + " (checksums " + std::to_string(lo) +
                             " .. " + std::to_string(hi) + ")");
}

void broadcast_parameters(const std::vector<torch::Tensor>& params, dist::Communicator& comm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flat_views;
  for (const auto& p : params) flat_views.push_back(p.reshape({-1}));
  torch::Tensor flat = torch::cat(flat_views);
  comm.broadcast(flat, 0);
  int64_t offset = 0;
  for (auto p : params) {
    p.copy_(flat.narrow(0, offset, p.numel()).view(p.sizes()));
    offset += p.numel();
  }
}

struct EvalResult {
  double r_loss = 0, kl = 0, tf_accuracy = 0, free_accuracy = 0;
  int64_t windows = 0;
};

// Validation: teacher-forced loss, KL and accuracy with z = mu, and free-running (argmax)
// reconstruction accuracy, over the first `max_windows` windows split across ranks.
EvalResult evaluate(model::MusicVAE& model, data::ShardSet& shards, int64_t max_windows, int64_t batch,
                    const torch::Device& device, dist::Communicator& comm) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int64_t n = std::min(max_windows, shards.size("validation"));
  const int64_t T = shards.representation().window_steps();
  std::vector<int64_t> mine;
  for (int64_t i = comm.rank(); i < n; i += comm.world_size()) mine.push_back(i);
  // [r_loss sum, kl sum, tf correct, free correct, steps, windows]
  torch::Tensor sums = torch::zeros({6}, torch::kDouble);
  std::vector<uint16_t> raw;
  for (size_t begin = 0; begin < mine.size(); begin += static_cast<size_t>(batch)) {
    const std::vector<int64_t> idx(mine.begin() + begin, mine.begin() + std::min(mine.size(), begin + batch));
    raw.resize(idx.size() * T);
    shards.read_tokens("validation", idx, raw.data());
    const std::vector<int64_t> wide(raw.begin(), raw.end());
    const torch::Tensor x = torch::tensor(wide, torch::kLong).view({static_cast<int64_t>(idx.size()), T}).to(device);
    const evaluate::ExampleMetrics m = evaluate::reconstruction_metrics(model, x, 1.0, /*argmax=*/true);
    const auto total = [](const torch::Tensor& t) { return t.sum().to(torch::kDouble).cpu(); };
    sums += torch::stack({total(m.r_loss), total(m.kl), total(m.tf_correct), total(m.free_correct),
                          torch::tensor(static_cast<double>(x.numel()), torch::kDouble),
                          torch::tensor(static_cast<double>(idx.size()), torch::kDouble)});
  }
  comm.all_reduce(sums, dist::ReduceOp::kSum);
  model->train();
  const auto s = sums.accessor<double, 1>();
  EvalResult e;
  e.windows = static_cast<int64_t>(s[5]);
  if (e.windows == 0) return e;
  e.r_loss = s[0] / s[5];
  e.kl = s[1] / s[5];
  e.tf_accuracy = s[2] / s[4];
  e.free_accuracy = s[3] / s[4];
  return e;
}

class MetricsLog {
 public:
  explicit MetricsLog(const fs::path& path) : out_(path, std::ios::app) {}
  void write(const std::string& json_line) {
    out_ << json_line << "\n";
    out_.flush();
  }

 private:
  std::ofstream out_;
};

std::string format_eta(double seconds) {
  char buf[32];
  if (seconds >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(seconds / 3600), static_cast<int>(seconds / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(seconds / 60), static_cast<int>(seconds) % 60);
  return buf;
}

}  // namespace

torch::Device pick_device(const TrainOptions& o, int local_rank, int local_size) {
  if (o.device == "cpu" || (o.device == "auto" && !torch::cuda::is_available())) return torch::kCPU;
  if (!torch::cuda::is_available())
    throw UsageError("--device " + o.device + ": this LibTorch has no CUDA or no GPU is visible");
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (o.device == "auto" || o.device == "cuda") {
    if (local_size > gpus)
      throw UsageError(std::to_string(local_size) + " ranks on this node but " + std::to_string(gpus) +
                       " GPUs visible: one rank per GPU (two ranks on one GPU deadlock in NCCL)");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
  }
  return torch::Device(o.device);
}

void install_stop_signal_handlers() {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGUSR1, on_stop_signal);
}

TrainResult run_training(const TrainOptions& o, const torch::Device& device, dist::Communicator& comm, int local_size) {
  const bool lead = comm.rank() == 0;
  const int W = comm.world_size();
  const int threads = o.threads > 0 ? o.threads
                                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / std::max(1, local_size));
  torch::set_num_threads(threads);
  const model::Precision precision = model::parse_precision(o.precision, "--precision");
  model::allow_tf32(o.tf32);

  data::ShardSet shards(o.data);
  const data::DataRepresentation& rep = shards.representation();
  if (rep.window_steps() != o.model.steps() || rep.vocab_size != o.model.vocab)
    throw UsageError("the model expects " + std::to_string(o.model.bars) + " bars of " + std::to_string(o.model.steps_per_bar) +
                     " steps (" + std::to_string(o.model.vocab) + " tokens) but " + o.data + " holds " +
                     std::to_string(rep.bars) + "-bar windows: pass --bars " + std::to_string(rep.bars) +
                     " or preprocess with --bars " + std::to_string(o.model.bars));
  const int64_t train_windows = shards.size("train");
  DistributedSampler sampler(train_windows, o.batch, comm.rank(), W, o.seed);

  // Resume state, if any.
  const fs::path run(o.run);
  fs::path resume_from;
  TrainingState state;
  state.world_size = W;
  state.global_batch = sampler.global_batch();
  state.seed = o.seed;
  if (!o.resume && fs::exists(run / "checkpoints" / "latest")) {
    // A new run here would mix its metrics and checkpoints with the old run's, and the old,
    // higher-step checkpoints would be kept in place of the new ones.
    throw UsageError(o.run + " already holds checkpoints of a run (" + (run / "checkpoints").string() +
                     "): pass --resume to continue it, or another --run to start a new one");
  }
  if (o.resume) {
    resume_from = find_checkpoint(run);
    if (!resume_from.empty()) {
      const TrainingState saved = read_training_state(resume_from);
      if (saved.seed != o.seed)
        throw UsageError("--seed " + std::to_string(o.seed) + " differs from the checkpoint's " + std::to_string(saved.seed));
      state.step = saved.step;
      state.consumed_samples = saved.consumed_samples;
    }
  }

  torch::manual_seed(o.seed);
  model::MusicVAE model(o.model);
  if (!resume_from.empty()) {
    model::LoadedModel loaded = model::load_model((resume_from / "model.pt").string(), torch::kCPU);
    if (loaded.config.to_json() != o.model.to_json())
      throw UsageError("the model options differ from the checkpoint's in " + resume_from.string() +
                       " (resume with the same --preset and sizes)");
    torch::NoGradGuard no_grad;
    auto dst = model->parameters();
    auto src = loaded.model->parameters();
    for (size_t i = 0; i < dst.size(); ++i) dst[i].copy_(src[i]);
  }
  model->to(device);
  std::vector<torch::Tensor> params = model->parameters();
  broadcast_parameters(params, comm);  // rank 0's parameters everywhere
  check_same_parameters(params, comm, resume_from.empty() ? "at start" : "after resume");

  torch::optim::Adam optimizer(params, torch::optim::AdamOptions(o.lr));
  GradientReducer reducer(params, comm, ReducerOptions{o.bucket_mb, /*first_bucket_mb=*/1.0, o.overlap});
  if (!resume_from.empty()) {
    load_optimizer(resume_from, optimizer, device);
    load_rng(resume_from, comm.rank());
  }

  std::unique_ptr<MetricsLog> metrics;
  std::unique_ptr<TensorBoardWriter> tensorboard;
  int64_t num_params = 0;
  for (const auto& p : params) num_params += p.numel();
  if (lead) {
    fs::create_directories(run);
    write_file_atomic(run / "config.json", o.to_json() + "\n");
    metrics = std::make_unique<MetricsLog>(run / "metrics.jsonl");
    tensorboard = std::make_unique<TensorBoardWriter>((run / "tensorboard").string());
    std::printf("train: %d rank(s) x batch %lld x %d micro-batch(es) = %lld sequences per step, %s communicator, device %s, %d thread(s) per rank\n",
                W, static_cast<long long>(o.batch), o.accumulate, static_cast<long long>(sampler.global_batch() * o.accumulate),
                comm.name().c_str(), device.str().c_str(), threads);
    std::printf("model: %s, %.2fM parameters, %s%s, %zu gradient bucket(s) of <= %.0f MB, all-reduce %s\n",
                o.model.summary().c_str(), num_params / 1e6, o.precision.c_str(), o.tf32 ? " + TF32" : "",
                reducer.num_buckets(), o.bucket_mb, o.overlap ? "during backward" : "after backward");
    std::printf("data: %s, %lld training windows (%lld steps per epoch), %lld validation windows\n", o.data.c_str(),
                static_cast<long long>(train_windows), static_cast<long long>(sampler.steps_per_epoch() / o.accumulate),
                static_cast<long long>(shards.size("validation")));
    if (!resume_from.empty())
      std::printf("resumed from %s at step %lld (%lld samples consumed)\n", resume_from.c_str(),
                  static_cast<long long>(state.step), static_cast<long long>(state.consumed_samples));
    else if (o.resume)
      std::printf("--resume: no checkpoint in %s yet, starting from step 0\n", (run / "checkpoints").c_str());
    std::printf("config written to %s\n", (run / "config.json").c_str());
    std::fflush(stdout);
  }

  const std::string options_json = o.to_json();
  const auto checkpoint = [&] {
    save_checkpoint(run, state, model, optimizer, rep.to_json(), options_json, comm, o.keep_checkpoints);
    if (lead) {
      std::printf("checkpoint: step %lld written to %s\n", static_cast<long long>(state.step), (run / "checkpoints").c_str());
      std::fflush(stdout);
    }
  };

  BatchLoader loader(shards, sampler, state.consumed_samples, /*depth=*/4, device.is_cuda());
  TrainResult result;
  const auto t_start = Clock::now();
  auto t_window = Clock::now();
  const int64_t first_step = state.step;
  double sum_loss = 0, sum_r = 0, sum_kl = 0, sum_acc = 0, grad_norm = 0, comm_seconds = 0;
  int64_t window_steps = 0, started_in_backward = 0, buckets_averaged = 0;
  model->train();

  while (state.step < o.steps) {
    // Stop requests are agreed by all ranks, so every rank checkpoints at the same step.
    if (comm.all_reduce_scalar(g_stop_requested ? 1.0 : 0.0, dist::ReduceOp::kMax) > 0) {
      checkpoint();
      if (lead) std::printf("stopped by signal at step %lld; resume with --resume\n", static_cast<long long>(state.step));
      result.preempted = true;
      break;
    }
    const double lr = (o.lr - o.min_lr) * std::pow(o.lr_decay, static_cast<double>(state.step)) + o.min_lr;
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    const double beta = model::beta_at(o.model, state.step);
    const double sampling = model::sampling_probability_at(o.model, state.step);

    reducer.zero();
    double step_loss = 0, step_r = 0, step_kl = 0, step_acc = 0;
    for (int micro = 0; micro < o.accumulate; ++micro) {
      const int64_t micro_index = state.consumed_samples / sampler.global_batch();
      const torch::Tensor x = loader.next().to(device, /*non_blocking=*/true);
      const torch::Tensor eps =
          step_noise(o.seed, micro_index, sampler.global_batch(), comm.rank() * o.batch, o.batch, o.model.z).to(device);
      model::LossOutput out;
      {
        model::AutocastScope autocast(device, precision);  // forward only; backward follows its types
        out = model->forward(x, beta, sampling, eps);
      }
      if (state.step == o.fail_at_step && comm.rank() == o.fail_rank) {
        if (o.fail_mode == "exception") throw std::runtime_error("injected failure (--fail-mode exception)");
        if (o.fail_mode == "kill") std::raise(SIGKILL);
        if (o.fail_mode == "nan") out.loss = out.loss * std::nan("");
      }
      if (micro + 1 == o.accumulate) reducer.arm();  // communicate on the last micro-batch only
      (out.loss / o.accumulate).backward();
      step_loss += out.loss.item<double>() / o.accumulate;
      step_r += out.r_loss.item<double>() / o.accumulate;
      step_kl += out.kl.item<double>() / o.accumulate;
      step_acc += out.accuracy.item<double>() / o.accumulate;
      state.consumed_samples += sampler.global_batch();
    }
    reducer.finish();  // the all-reduces started during the last backward, waited for here
    started_in_backward += reducer.last_timing().started_in_backward;
    buckets_averaged += reducer.last_timing().buckets;
    // One host all-reduce (MAX) for two decisions: a non-finite loss on any rank stops every
    // rank (a rank that skipped alone would hang), and the minimum over ranks of the wait after
    // backward (as -max of -wait) is the communication backward did not hide: the rank that
    // finished backward last waited only for communication, the others also for it.
    torch::Tensor step_flags = torch::tensor({std::isfinite(step_loss) ? 0.0 : 1.0, -reducer.last_timing().exposed_seconds},
                                             torch::kDouble);
    comm.all_reduce(step_flags, dist::ReduceOp::kMax);
    comm_seconds -= step_flags[1].item<double>();
    if (step_flags[0].item<double>() > 0)
      throw std::runtime_error("non-finite loss at step " + std::to_string(state.step) +
                               (std::isfinite(step_loss) ? " on another rank" : " on this rank"));
    grad_norm = reducer.norm();
    if (grad_norm >= o.clip_to_zero_norm) {
      reducer.zero();  // Magenta's grad_norm_clip_to_zero: no update from a huge gradient
    } else if (grad_norm > o.grad_clip) {
      reducer.scale(o.grad_clip / grad_norm);
    }
    optimizer.step();
    ++state.step;

    sum_loss += step_loss;
    sum_r += step_r;
    sum_kl += step_kl;
    sum_acc += step_acc;
    ++window_steps;
    if (state.step % o.log_every == 0 || state.step == o.steps) {
      torch::Tensor m = torch::tensor({sum_loss, sum_r, sum_kl, sum_acc}, torch::kDouble) / static_cast<double>(window_steps);
      comm.all_reduce(m, dist::ReduceOp::kSum);
      m /= W;
      const double secs = seconds_since(t_window);
      const double seq_per_s = window_steps * sampler.global_batch() * o.accumulate / secs;
      const double eta = (o.steps - state.step) * secs / window_steps;
      if (lead) {
        const auto v = m.accessor<double, 1>();
        std::printf("step %lld/%lld  loss %.3f  r_loss %.3f  kl %.2f bits  acc %.4f  lr %.2e  |g| %.3f  beta %.3f  %.1f seq/s  ETA %s\n",
                    static_cast<long long>(state.step), static_cast<long long>(o.steps), v[0], v[1], v[2] / std::log(2.0), v[3],
                    lr, grad_norm, beta, seq_per_s, format_eta(eta).c_str());
        std::fflush(stdout);
        char line[512];
        std::snprintf(line, sizeof line,
                      "{\"step\": %lld, \"loss\": %.6f, \"r_loss\": %.6f, \"kl_bits\": %.6f, \"accuracy\": %.6f, \"lr\": %.6e, "
                      "\"grad_norm\": %.6f, \"beta\": %.6f, \"sampling_probability\": %.6f, \"seq_per_s\": %.3f}",
                      static_cast<long long>(state.step), v[0], v[1], v[2] / std::log(2.0), v[3], lr, grad_norm, beta,
                      sampling, seq_per_s);
        metrics->write(line);
        const std::pair<const char*, double> scalars[] = {
            {"train/loss", v[0]}, {"train/r_loss", v[1]}, {"train/kl_bits", v[2] / std::log(2.0)}, {"train/accuracy", v[3]},
            {"train/lr", lr}, {"train/grad_norm", grad_norm}, {"train/beta", beta}, {"train/sampling_probability", sampling},
            {"train/seq_per_s", seq_per_s}};
        for (const auto& [tag, value] : scalars) tensorboard->scalar(tag, value, state.step);
        tensorboard->flush();
      }
      sum_loss = sum_r = sum_kl = sum_acc = 0;
      window_steps = 0;
      t_window = Clock::now();
    }
    if (state.step % o.eval_every == 0 || state.step == o.steps) {
      const EvalResult e = evaluate(model, shards, o.eval_windows, o.batch, device, comm);
      if (lead && e.windows > 0) {
        std::printf("eval step %lld: %lld validation windows  r_loss %.3f  kl %.2f bits  elbo %.3f  teacher-forced acc %.4f  free-running acc %.4f\n",
                    static_cast<long long>(state.step), static_cast<long long>(e.windows), e.r_loss, e.kl / std::log(2.0),
                    -(e.r_loss + e.kl), e.tf_accuracy, e.free_accuracy);
        std::fflush(stdout);
        char line[512];
        std::snprintf(line, sizeof line,
                      "{\"step\": %lld, \"eval_windows\": %lld, \"eval_r_loss\": %.6f, \"eval_kl_bits\": %.6f, \"eval_elbo\": %.6f, "
                      "\"eval_tf_accuracy\": %.6f, \"eval_free_accuracy\": %.6f}",
                      static_cast<long long>(state.step), static_cast<long long>(e.windows), e.r_loss, e.kl / std::log(2.0),
                      -(e.r_loss + e.kl), e.tf_accuracy, e.free_accuracy);
        metrics->write(line);
        const std::pair<const char*, double> scalars[] = {
            {"eval/r_loss", e.r_loss}, {"eval/kl_bits", e.kl / std::log(2.0)}, {"eval/elbo", -(e.r_loss + e.kl)},
            {"eval/teacher_forced_accuracy", e.tf_accuracy}, {"eval/free_running_accuracy", e.free_accuracy}};
        for (const auto& [tag, value] : scalars) tensorboard->scalar(tag, value, state.step);
        tensorboard->flush();
      }
      t_window = Clock::now();  // evaluation time is not training throughput
    }
    if (state.step % o.checkpoint_every == 0 || state.step == o.steps) checkpoint();
  }
  result.steps_done = state.step - first_step;
  if (lead && result.steps_done > 0) {
    const double total = seconds_since(t_start);
    const double load = loader.load_seconds();
    std::printf("done: %lld steps in %.1f s; gradient communication not hidden by backward %.2f s (%.1f%%), %lld of %lld bucket all-reduces started during backward; "
                "loader busy %.2f s (%.0f batches/s capacity vs %.1f used), trainer waited %.2f s for data\n",
                static_cast<long long>(result.steps_done), total, comm_seconds, 100.0 * comm_seconds / total,
                static_cast<long long>(started_in_backward), static_cast<long long>(buckets_averaged), load,
                load > 0 ? (result.steps_done * o.accumulate + 4) / load : 0.0, result.steps_done * o.accumulate / total,
                loader.wait_seconds());
  }
  return result;
}

}  // namespace mvae::train
