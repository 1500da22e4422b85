#include "train/trainer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include "cli/model_options.h"
#include "common/error.h"
#include "common/files.h"
#include "evaluate/metrics.h"
#include "model_file/model_file.h"
#include "run_folder/checkpoint_files.h"
#include "train/metrics_sink.h"

namespace fs = std::filesystem;

namespace mvae::train {
namespace {

// A number as the command line would give it (2, 0.5).
std::string as_text(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

volatile std::sig_atomic_t g_stop_requested = 0;
extern "C" void on_stop_signal(int signal) {
  if (signal == SIGINT && g_stop_requested) {  // a second Ctrl-C: the user will not wait for the checkpoint
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
  g_stop_requested = 1;
}

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void check_same_parameters(const std::vector<torch::Tensor>& params, comm::Communicator& comm, const char* when) {
  double sum = 0, abs_sum = 0;
  for (const auto& p : params) {
    sum += p.to(torch::kDouble).sum().item<double>();
    abs_sum += p.to(torch::kDouble).abs().sum().item<double>();
  }
  const double checksum = sum * 1.000001 + abs_sum;
  const double lo = comm.all_reduce_scalar(checksum, comm::ReduceOp::kMin);
  const double hi = comm.all_reduce_scalar(checksum, comm::ReduceOp::kMax);
  if (lo != hi)
    throw RunError(std::string("parameters differ across ranks ") + when + " (checksums " + std::to_string(lo) +
                   " .. " + std::to_string(hi) + ")");
}

void broadcast_parameters(const std::vector<torch::Tensor>& params, comm::Communicator& comm) {
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

// The cat-drums presets read Magenta's drum roll; a model saved before they did reads tokens.
std::string roll_input_hint(const model::ModelConfig& saved, const model::ModelConfig& given) {
  if (saved.roll_input == given.roll_input) return "";
  return saved.roll_input
             ? "; this model's encoder reads the drum roll: add {roll_input} roll"
             : "; this model's encoder looks tokens up (the cat-drums presets now read the drum roll): add "
               "{roll_input} token";
}

// --init-from: copies every parameter of `from` into `to`, which must have the same parameters
// with the same shapes (settings that shape no parameter, such as dropout, free bits or the
// sampling schedule, may differ). `source` names the file in errors.
void copy_parameters(model::MusicVAEImpl& to, model::MusicVAEImpl& from, const std::string& source,
                     const std::string& source_summary, const std::string& options_summary) {
  const auto mismatch = [&](const std::string& what) {
    return UsageError("{init_from} " + source + ": " + what + ". Its model is " + source_summary +
                      "; the options give " + options_summary + " (pass the sizes of the model you start from)");
  };
  torch::NoGradGuard no_grad;
  const auto sources = from.named_parameters();
  auto targets = to.named_parameters();
  for (const auto& target : targets) {
    const torch::Tensor* found = sources.find(target.key());
    if (found == nullptr) throw mismatch("it has no parameter " + target.key());
    if (found->sizes() != target.value().sizes()) {
      std::ostringstream shapes;
      shapes << "parameter " << target.key() << " is " << found->sizes() << " there but " << target.value().sizes()
             << " here";
      throw mismatch(shapes.str());
    }
    target.value().copy_(*found);
  }
  if (sources.size() != targets.size()) throw mismatch("it has parameters this model does not");
}

// --fail-at-step/--fail-rank/--fail-mode: the failures the tests inject.
void inject_failure(const TrainOptions& o, int64_t step, int rank, model::LossOutput& out) {
  if (step != o.fail_at_step || rank != o.fail_rank) return;
  if (o.fail_mode == TrainOptions::FailMode::kException) throw RunError("injected failure (fail_mode exception)");
  if (o.fail_mode == TrainOptions::FailMode::kKill) std::raise(SIGKILL);
  if (o.fail_mode == TrainOptions::FailMode::kNan) out.loss = out.loss * std::nan("");
}

}  // namespace

bool is_lstm_gate_bias(const std::string& parameter_name) {
  // LstmStack registers its gate biases as "bias<layer>" (model/lstm.cpp); the Linear layers'
  // biases ("mu.bias", "output.bias", ...) are single vectors in PyTorch too and keep the rate.
  static const std::regex pattern(R"((^|\.)bias[0-9]+$)");
  return std::regex_search(parameter_name, pattern);
}

std::unique_ptr<torch::optim::Adam> make_optimizer(model::MusicVAEImpl& model, const TrainOptions& o) {
  if (o.lstm_bias_lr_scale == 1.0)  // one group: checkpoints of runs without the option keep loading
    return std::make_unique<torch::optim::Adam>(model.parameters(), torch::optim::AdamOptions(o.lr));
  std::vector<torch::Tensor> rest, biases;
  for (const auto& item : model.named_parameters())
    (is_lstm_gate_bias(item.key()) ? biases : rest).push_back(item.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(rest, std::make_unique<torch::optim::AdamOptions>(o.lr));
  groups.emplace_back(biases, std::make_unique<torch::optim::AdamOptions>(o.lr * o.lstm_bias_lr_scale));
  return std::make_unique<torch::optim::Adam>(std::move(groups), torch::optim::AdamOptions(o.lr));
}

torch::Device pick_device(const TrainOptions& o, int local_rank, int local_size) {
  if (o.device == "cpu" || (o.device == "auto" && !torch::cuda::is_available())) return torch::kCPU;
  if (!torch::cuda::is_available())
    throw UsageError("{device} " + o.device + ": this LibTorch has no CUDA or no GPU is visible");
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
  std::signal(SIGINT, on_stop_signal);  // Ctrl-C: checkpoint and stop as SIGTERM does (twice: at once)
}

bool stop_requested() { return g_stop_requested != 0; }

double ValidationResult::metric(const std::string& name) const {
  if (name == "elbo") return elbo;
  if (name == "tf_accuracy") return tf_accuracy;
  if (name == "free_accuracy") return free_accuracy;
  MVAE_CHECK(false, "unknown --best-metric " + name);
  return 0;
}

namespace {

// "enc: 256 in the checkpoint, 512 given; ..." for the fields of two model configurations that differ.
std::string config_differences(const std::string& saved_json, const std::string& given_json) {
  const nlohmann::json saved = nlohmann::json::parse(saved_json), given = nlohmann::json::parse(given_json);
  std::string out;
  const auto add = [&](const std::string& field) {
    const auto a = saved.find(field), b = given.find(field);
    if (a != saved.end() && b != given.end() && *a == *b) return;
    out += (out.empty() ? "" : "; ") + field + ": " + (a == saved.end() ? "absent" : a->dump()) +
           " in the checkpoint, " + (b == given.end() ? "absent" : b->dump()) + " given";
  };
  for (const auto& item : saved.items()) add(item.key());
  for (const auto& item : given.items())
    if (!saved.contains(item.key())) add(item.key());
  return out;
}

// What setup threw on one rank: its exit status (2 for a usage error, else 1), message and the exception.
struct RankFailure {
  int exit_code = 0;
  std::string message;
  std::exception_ptr exception;
};

RankFailure run_setup_part(const std::function<void()>& part) {
  try {
    part();
    return {};
  } catch (const UsageError& e) {
    return {2, in_option_words(e.what(), cli::option_name), std::current_exception()};
  } catch (const std::exception& e) {
    return {1, "error: " + in_option_words(without_backtrace(e.what()), cli::option_name), std::current_exception()};
  }
}

}  // namespace

void agree_on_setup(comm::Communicator& comm, const std::function<void()>& setup) {
  const RankFailure failure = run_setup_part(setup);
  const int W = comm.world_size();
  if (W == 1) {  // nobody to agree with: the error as it was thrown
    if (failure.exception) std::rethrow_exception(failure.exception);
    return;
  }
  const double first_failed = comm.all_reduce_scalar(failure.exit_code ? comm.rank() : W, comm::ReduceOp::kMin);
  if (first_failed == W) return;
  const int code = static_cast<int>(comm.all_reduce_scalar(failure.exit_code, comm::ReduceOp::kMax));
  const bool reporter = comm.rank() == static_cast<int>(first_failed);
  throw SetupFailure(code,
                     reporter ? failure.message : "rank " + std::to_string(static_cast<int>(first_failed)) + " failed",
                     reporter);
}

// One writer per run folder: a second trainer on it would mix its checkpoints and metrics with
// this one's. Rank 0 holds the lock (the setup agreement makes every rank fail when it cannot).
void Trainer::lock_run_folder() {
  const TrainOptions& o = options_;
  if (comm_.rank() != 0) return;
  fs::create_directories(o.run);
  run_lock_ = std::make_unique<FolderLock>(fs::path(o.run) / "lock", "the run folder " + o.run,
                                           "one train per run folder; wait for that one to end, or pass another --run");
  // Checkpoints a killed run left half-written: nobody else writes here now that we hold the lock.
  if (fs::is_directory(fs::path(o.run) / "checkpoints"))
    for (const auto& e : fs::directory_iterator(fs::path(o.run) / "checkpoints"))
      if (e.is_directory() && e.path().extension() == ".tmp") fs::remove_all(e.path());
}

// The shards and this rank's sampler, checked against the model, and where the run starts from.
void Trainer::open_data_and_run() {
  const TrainOptions& o = options_;
  shards_.emplace(o.data);
  if (o.windows_per_file > 0) {
    std::vector<int32_t> file_of_window(static_cast<size_t>(shards_->size("train")));
    for (size_t i = 0; i < file_of_window.size(); ++i)
      file_of_window[i] = shards_->source("train", static_cast<int64_t>(i)).file_id;
    sampler_.emplace(file_of_window, o.windows_per_file, o.batch, comm_.rank(), comm_.world_size(), o.seed);
  } else {
    sampler_.emplace(shards_->size("train"), o.batch, comm_.rank(), comm_.world_size(), o.seed);
  }
  const data::DataRepresentation& rep = shards_->representation();
  if (rep.window_steps() != o.model.steps() || rep.vocab_size != o.model.vocab)
    throw UsageError("the model expects " + std::to_string(o.model.bars) + " bars of " +
                     std::to_string(o.model.steps_per_bar) + " steps (" + std::to_string(o.model.vocab) +
                     " tokens) but " + o.data + " holds " + std::to_string(rep.bars) + "-bar windows: pass {bars} " +
                     std::to_string(rep.bars) + " or preprocess with {bars} " + std::to_string(o.model.bars));
  state_.world_size = comm_.world_size();
  state_.global_batch = sampler_->global_batch();
  state_.seed = o.seed;

  const fs::path run(o.run);
  if (!o.resume && fs::is_directory(run / "checkpoints") &&
      !run_folder::complete_checkpoints(run / "checkpoints").empty()) {
    // A new run here would mix its metrics and checkpoints with the old run's, and the old,
    // higher-step checkpoints would be kept in place of the new ones.
    throw UsageError(o.run + " already holds checkpoints of a run (" + (run / "checkpoints").string() +
                     "): pass {resume} to continue it, or another {run} to start a new one");
  }
  if (o.resume) {
    const run_folder::FoundCheckpoint found = run_folder::find_checkpoint(run);
    resumed_from_ = found.folder;
    passed_over_ = found.passed_over;
    link_note_ = found.link_note;
  }
}

// The model (fresh, from --init-from, or the checkpoint's) and its optimizer, on this rank.
void Trainer::build_model() {
  const TrainOptions& o = options_;
  torch::manual_seed(o.seed);
  if (resumed_from_.empty()) {
    model_ = model::MusicVAE(o.model);
    if (o.init == model::Initialization::kMagenta) model_->reset_like_magenta();
    if (!o.init_from.empty()) {
      initialized_from_ = run_folder::resolve_model_file(o.init_from);
      model_file::LoadedModel start = model_file::load_model(initialized_from_, torch::kCPU);
      copy_parameters(*model_, *start.model, initialized_from_,
                      start.config.summary() + roll_input_hint(start.config, o.model), o.model.summary());
    }
  } else {
    restore_training_state(read_training_state(resumed_from_));
    model_file::LoadedModel loaded =
        model_file::load_model((resumed_from_ / run_folder::kModelFile).string(), torch::kCPU);
    if (loaded.config.to_json() != o.model.to_json())
      throw UsageError("the model options differ from the checkpoint's in " + resumed_from_.string() + ": " +
                       config_differences(loaded.config.to_json(), o.model.to_json()) +
                       " (resume with the same {preset} and sizes" + roll_input_hint(loaded.config, o.model) + ")");
    model_ = loaded.model;
  }
  model_->to(device_);
  model_->train();
  params_ = model_->parameters();
  optimizer_ = make_optimizer(*model_, o);
  if (!resumed_from_.empty()) {
    load_optimizer(resumed_from_, *optimizer_, *model_, device_);
    load_rng(resumed_from_, comm_.rank());
  }
}

void Trainer::restore_training_state(const TrainingState& saved) {
  const TrainOptions& o = options_;
  if (saved.seed != o.seed)
    throw UsageError("{seed} " + std::to_string(o.seed) + " differs from the checkpoint's " +
                     std::to_string(saved.seed));
  if (saved.lstm_bias_lr_scale != o.lstm_bias_lr_scale)
    throw UsageError("{lstm_bias_lr_scale} " + as_text(o.lstm_bias_lr_scale) + " differs from the checkpoint's " +
                     as_text(saved.lstm_bias_lr_scale) +
                     " (runs from before the option used 1): resume with {lstm_bias_lr_scale} " +
                     as_text(saved.lstm_bias_lr_scale));
  if (saved.windows_per_file != o.windows_per_file)
    throw UsageError("{windows_per_file} " + std::to_string(o.windows_per_file) + " differs from the checkpoint's " +
                     std::to_string(saved.windows_per_file) +
                     " (it decides which windows each epoch holds, so where the run is in its data): resume with "
                     "{windows_per_file} " +
                     std::to_string(saved.windows_per_file));
  state_.step = saved.step;
  state_.consumed_samples = saved.consumed_samples;
  if (saved.best_metric == o.best_metric) {
    state_.best_value = saved.best_value;
    state_.best_step = saved.best_step;
    state_.evals_since_best = saved.evals_since_best;
  } else {
    // The saved best value is in another metric's units (an ELBO is no accuracy): selection
    // and early stopping start afresh; `best` keeps its checkpoint until the next validation.
    selection_restarted_from_ = saved.best_metric;
  }
}

Trainer::Trainer(const TrainOptions& o, const torch::Device& device, comm::Communicator& comm)
    : options_(o), device_(device), comm_(comm), precision_(o.precision), options_json_(o.to_json()) {
  // Everything a rank can find wrong alone comes first, with no collective in between: every
  // rank then fails together, with one message and no MPI_Abort.
  agree_on_setup(comm, [&] {
    lock_run_folder();
    open_data_and_run();
    build_model();
  });
  broadcast_parameters(params_, comm);  // rank 0's parameters everywhere
  check_same_parameters(params_, comm, resumed_from_.empty() ? "at start" : "after resume");
  reducer_ =
      std::make_unique<GradientReducer>(params_, comm, ReducerOptions{o.bucket_mb, /*first_bucket_mb=*/1.0, o.overlap});
  shards_->set_resident_budget(static_cast<int64_t>(o.loader_memory_mb * (1 << 20)));
  loader_ = std::make_unique<BatchLoader>(*shards_, *sampler_, state_.consumed_samples, /*depth=*/4, device.is_cuda(),
                                          o.model.groove());
}

int64_t Trainer::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.numel();
  return n;
}

// The noise of z for this rank's slice of the global batch at a micro-batch: drawn for the whole
// global batch from a generator seeded by its index, so every world size sees the same.
torch::Tensor Trainer::micro_batch_noise(int64_t micro_index) const {
  auto gen =
      at::detail::createCPUGenerator(options_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(micro_index) + 1);
  return torch::randn({sampler_->global_batch(), options_.model.z}, gen)
      .narrow(0, comm_.rank() * options_.batch, options_.batch)
      .to(device_);
}

// LibTorch's allocators say "can't allocate memory" or "not enough memory" (CPU) or "out of memory" (CUDA) with a
// backtrace and no word of what to change; said here with the options that change it.
void Trainer::throw_with_memory_hint(const c10::Error& e) const {
  const std::string what = e.what_without_backtrace();
  const bool allocation = what.find("not enough memory") != std::string::npos ||
                          what.find("out of memory") != std::string::npos ||
                          what.find("can't allocate memory") != std::string::npos;
  if (!allocation) throw;
  const std::string first_line = what.substr(0, what.find('\n'));
  const int64_t half = std::max<int64_t>(1, options_.batch / 2);
  throw RunError("out of memory in training step " + std::to_string(state_.step) + " on " + device_.str() +
                 " with --batch " + std::to_string(options_.batch) +
                 " per rank: lower --batch and raise --accumulate to keep the " + "sequences per step (--batch " +
                 std::to_string(half) + " --accumulate " + std::to_string(options_.accumulate * options_.batch / half) +
                 "), or use a smaller " + "model or --precision bf16 on a GPU. LibTorch said: " + first_line);
}

StepResult Trainer::step() {
  const TrainOptions& o = options_;
  StepResult r;
  r.lr = o.learning_rate_at(state_.step);
  auto& groups = optimizer_->param_groups();
  for (size_t g = 0; g < groups.size(); ++g)  // group 1, when there is one: the LSTM gate biases
    static_cast<torch::optim::AdamOptions&>(groups[g].options()).lr(g == 0 ? r.lr : r.lr * o.lstm_bias_lr_scale);
  r.beta = model::beta_at(o.model, o.schedule_step(state_.step));
  r.sampling_probability = model::sampling_probability_at(o.model, o.schedule_step(state_.step));

  reducer_->zero();
  for (int micro = 0; micro < o.accumulate; ++micro) {
    const int64_t micro_index = state_.consumed_samples / sampler_->global_batch();
    const model::WindowBatch batch = loader_->next();
    const torch::Tensor eps = micro_batch_noise(micro_index);
    model::LossOutput out;
    try {
      const torch::Tensor x = model::model_input(batch, device_);
      {
        model::AutocastScope autocast(device_, precision_);  // forward only; backward follows its types
        out = model_->forward(x, r.beta, r.sampling_probability, eps);
      }
      inject_failure(o, state_.step, comm_.rank(), out);
      if (micro + 1 == o.accumulate) reducer_->arm();  // communicate on the last micro-batch only
      (out.loss / o.accumulate).backward();
    } catch (const c10::Error& e) {
      throw_with_memory_hint(e);
    }
    {  // the step's figures in one device-to-host copy (one synchronisation on a GPU, not one per figure)
      std::vector<torch::Tensor> figures = {out.loss, out.r_loss, out.kl, out.accuracy};  // LossFigures' order
      if (out.hits_loss.defined())
        figures.insert(figures.end(), {out.hits_loss, out.velocities_loss, out.offsets_loss});
      for (auto& figure : figures) figure = figure.detach().to(torch::kDouble);  // one dtype whatever autocast chose
      const torch::Tensor host = (torch::stack(figures).cpu() / o.accumulate).contiguous();
      std::array<double, LossFigures::kCount> values{};  // a token model's groove parts stay 0
      std::copy_n(host.data_ptr<double>(), host.numel(), values.begin());
      r.losses += LossFigures::from_values(values.data());
    }
    state_.consumed_samples += sampler_->global_batch();
  }
  reducer_->finish();  // the all-reduces started during the last backward, waited for here
  r.started_in_backward = reducer_->last_timing().started_in_backward;
  r.buckets = reducer_->last_timing().buckets;
  // One host all-reduce (MAX) for two decisions: a non-finite loss on any rank stops every
  // rank (a rank that skipped alone would hang), and the minimum over ranks of the wait after
  // backward (as -max of -wait) is the communication backward did not hide: the rank that
  // finished backward last waited only for communication, the others also for it.
  torch::Tensor flags = torch::tensor(
      {std::isfinite(r.losses.loss) ? 0.0 : 1.0, -reducer_->last_timing().exposed_seconds}, torch::kDouble);
  comm_.all_reduce(flags, comm::ReduceOp::kMax);
  r.exposed_comm_seconds = -flags[1].item<double>();
  if (flags[0].item<double>() > 0)
    throw RunError("non-finite loss at step " + std::to_string(state_.step) +
                   (std::isfinite(r.losses.loss) ? " on another rank" : " on this rank"));
  r.grad_norm = reducer_->norm();
  if (r.grad_norm >= o.clip_to_zero_norm) {
    reducer_->zero();  // Magenta's grad_norm_clip_to_zero: no update from a huge gradient
  } else if (r.grad_norm > o.grad_clip) {
    reducer_->scale(o.grad_clip / r.grad_norm);
  }
  optimizer_->step();
  ++state_.step;
  return r;
}

ValidationResult Trainer::validate() {
  const int64_t n = std::min(options_.eval_windows, shards_->size("validation"));
  std::vector<int64_t> mine;  // every world_size-th window from this rank's index
  for (int64_t i = comm_.rank(); i < n; i += comm_.world_size()) mine.push_back(i);
  evaluate::EvaluationOptions eval;
  eval.batch = options_.batch;
  eval.argmax = true;  // free-running by argmax: a deterministic curve
  const evaluate::MetricTotals t = evaluate::evaluate_windows(
      model_, mine, [&](const std::vector<int64_t>& idx) { return loader_->read("validation", idx); }, eval, device_);
  torch::Tensor sums =
      torch::tensor({t.r_loss, t.kl, t.tf_correct, t.free_correct, t.steps, t.windows}, torch::kDouble);
  comm_.all_reduce(sums, comm::ReduceOp::kSum);
  const auto s = sums.accessor<double, 1>();
  const evaluate::MetricTotals all{s[0], s[1], s[2], s[3], s[4], s[5],
                                   {},   {},   {},   {},   {}};  // per-bar and structure sums are not reduced
  ValidationResult v;
  v.windows = static_cast<int64_t>(all.windows);
  if (v.windows == 0) return v;
  v.r_loss = all.mean_r_loss();
  v.kl = all.mean_kl();
  v.elbo = all.elbo();
  v.tf_accuracy = all.tf_accuracy();
  v.free_accuracy = all.free_accuracy();
  return v;
}

bool Trainer::record_validation(const ValidationResult& v) {
  if (v.windows == 0) return false;
  const double value = v.metric(options_.best_metric);
  if (state_.best_step >= 0 && !(value > state_.best_value + options_.early_stop_min_delta)) {
    ++state_.evals_since_best;
    return false;
  }
  state_.best_value = value;
  state_.best_step = state_.step;
  state_.evals_since_best = 0;
  return true;
}

bool Trainer::should_stop_early() const {
  return options_.early_stop > 0 && state_.best_step >= 0 && state_.evals_since_best >= options_.early_stop;
}

void Trainer::checkpoint(bool is_best) {
  save_checkpoint(options_.run, state_, model_, *optimizer_, shards_->representation(), options_json_, comm_,
                  options_.keep_checkpoints, is_best);
}

namespace {

// --threads, or the node's cores shared among its ranks.
int threads_per_rank(const TrainOptions& o, int local_size) {
  if (o.threads > 0) return o.threads;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / std::max(1, local_size));
}

// What the run is and where it starts from, printed once by rank 0 before the first step.
void print_run_header(const TrainOptions& o, const Trainer& trainer, const comm::Communicator& comm,
                      const torch::Device& device, int threads) {
  const TrainingState& state = trainer.state();
  const fs::path run(o.run);
  std::printf(
      "train: %d rank(s) x batch %lld x %d micro-batch(es) = %lld sequences per step, %s communicator, device %s, %d "
      "thread(s) per rank\n",
      comm.world_size(), static_cast<long long>(o.batch), o.accumulate,
      static_cast<long long>(trainer.global_batch() * o.accumulate), comm.name().c_str(), device.str().c_str(),
      threads);
  std::printf("model: %s, %.2fM parameters, %s%s, %zu gradient bucket(s) of <= %.0f MB, all-reduce %s\n",
              o.model.summary().c_str(), trainer.num_parameters() / 1e6, model::to_string(o.precision).c_str(),
              o.tf32 ? " + TF32" : "", trainer.num_buckets(), o.bucket_mb,
              o.overlap ? "during backward" : "after backward");
  const std::string per_file = o.windows_per_file == 0
                                   ? ""
                                   : ", at most " + std::to_string(o.windows_per_file) +
                                         " per file an epoch: " + std::to_string(trainer.windows_per_epoch());
  std::printf("data: %s, %lld training windows%s (%lld steps per epoch), %lld validation windows\n", o.data.c_str(),
              static_cast<long long>(trainer.windows("train")), per_file.c_str(),
              static_cast<long long>(trainer.steps_per_epoch()), static_cast<long long>(trainer.windows("validation")));
  for (const auto& skipped : trainer.passed_over())
    std::printf("warning: checkpoint %s failed verification; passed over\n", skipped.c_str());
  if (!trainer.link_note().empty()) std::printf("warning: %s\n", trainer.link_note().c_str());
  if (!trainer.resumed_from().empty())
    std::printf("resumed from %s at step %lld (%lld samples consumed)\n", trainer.resumed_from().c_str(),
                static_cast<long long>(state.step), static_cast<long long>(state.consumed_samples));
  else if (o.resume)
    std::printf("--resume: no checkpoint in %s yet, starting from step 0\n", (run / "checkpoints").c_str());
  if (!trainer.initialized_from().empty())
    std::printf("initialised from %s (its weights; optimizer and step start afresh, the schedules at step %lld)\n",
                trainer.initialized_from().c_str(), static_cast<long long>(o.schedule_offset));
  else if (trainer.resumed_from().empty() && o.init == model::Initialization::kMagenta)
    std::printf("weights drawn as Magenta's trainer draws them (--init magenta)\n");
  if (!trainer.selection_restarted_from().empty())
    std::printf("--best-metric %s differs from the checkpoint's %s: model selection and early stopping start afresh\n",
                o.best_metric.c_str(), trainer.selection_restarted_from().c_str());
  std::printf("config written to %s\n", (run / "config.json").c_str());
  std::fflush(stdout);
}

// Rank 0's outputs: the run folder, its config.json, and the sink of the figures.
std::unique_ptr<MetricsSink> open_run_outputs(const TrainOptions& o) {
  const fs::path run(o.run);
  fs::create_directories(run);
  write_file_atomic(run / "config.json", o.to_json() + "\n");
  return std::make_unique<MetricsSink>(run);
}

// The loss figures since the last progress line, summed over this rank's steps.
struct ProgressWindow {
  LossFigures losses;
  int64_t steps = 0;
  Clock::time_point started = Clock::now();  // reset after a validation: evaluating is not training throughput
};

// What gradient communication cost over the whole run, and how much of it backward hid.
struct CommunicationTotals {
  double exposed_seconds = 0;  // not hidden by backward
  int64_t started_in_backward = 0, buckets = 0;
  void add(const StepResult& r) {
    exposed_seconds += r.exposed_comm_seconds;
    started_in_backward += r.started_in_backward;
    buckets += r.buckets;
  }
};

// One progress record (collective): the window's means averaged over ranks, to rank 0's sink
// (null elsewhere); then a new window.
void report_progress(ProgressWindow& window, const StepResult& last, const Trainer& trainer, const TrainOptions& o,
                     comm::Communicator& comm, MetricsSink* sink) {
  const auto means = window.losses.scaled(1.0 / static_cast<double>(window.steps)).values();
  torch::Tensor m = torch::tensor(std::vector<double>(means.begin(), means.end()), torch::kDouble);
  comm.all_reduce(m, comm::ReduceOp::kSum);
  m = (m / comm.world_size()).contiguous();
  const double secs = seconds_since(window.started);
  if (sink != nullptr) {
    TrainingRecord rec;
    rec.step = trainer.state().step;
    rec.total_steps = o.steps;
    rec.losses = LossFigures::from_values(m.data_ptr<double>());
    rec.groove = o.model.groove();
    rec.lr = last.lr;
    rec.grad_norm = last.grad_norm;
    rec.beta = last.beta;
    rec.sampling_probability = last.sampling_probability;
    rec.seq_per_s = window.steps * trainer.global_batch() * o.accumulate / secs;
    rec.eta_seconds = (o.steps - rec.step) * secs / window.steps;
    sink->training(rec);
  }
  window = ProgressWindow();
}

// Validates (collective) and records it as the best so far when it is; true then.
bool validate_and_record(Trainer& trainer, MetricsSink* sink) {
  const ValidationResult v = trainer.validate();
  const bool is_best = trainer.record_validation(v);
  if (sink != nullptr && v.windows > 0)
    sink->validation({trainer.state().step, v.windows, v.r_loss, v.kl / std::log(2.0), v.elbo, v.tf_accuracy,
                      v.free_accuracy, is_best});
  return is_best;
}

// Rank 0's last lines: time, communication, the loader, the best validation.
void print_summary(const TrainResult& result, const Trainer& trainer, const TrainOptions& o,
                   const CommunicationTotals& c, double total_seconds) {
  const double load = trainer.loader().load_seconds();
  std::printf(
      "done: %lld steps in %.1f s; gradient communication not hidden by backward %.2f s (%.1f%%), %lld of %lld bucket "
      "all-reduces started during backward; "
      "loader busy %.2f s (%.0f batches/s capacity vs %.1f used), trainer waited %.2f s for data\n",
      static_cast<long long>(result.steps_done), total_seconds, c.exposed_seconds,
      100.0 * c.exposed_seconds / total_seconds, static_cast<long long>(c.started_in_backward),
      static_cast<long long>(c.buckets), load, load > 0 ? (result.steps_done * o.accumulate + 4) / load : 0.0,
      result.steps_done * o.accumulate / total_seconds, trainer.loader().wait_seconds());
  const TrainingState& state = trainer.state();
  if (state.best_step >= 0)
    std::printf("best: validation %s %.4f at step %lld (checkpoints/best)\n", o.best_metric.c_str(), state.best_value,
                static_cast<long long>(state.best_step));
}

}  // namespace

TrainResult run_training(const TrainOptions& o, const torch::Device& device, comm::Communicator& comm, int local_size) {
  const int threads = threads_per_rank(o, local_size);
  torch::set_num_threads(threads);
  model::allow_tf32(o.tf32);
  Trainer trainer(o, device, comm);
  const TrainingState& state = trainer.state();
  std::unique_ptr<MetricsSink> sink;  // rank 0's
  if (comm.rank() == 0) {
    sink = open_run_outputs(o);
    print_run_header(o, trainer, comm, device, threads);
  }
  const auto checkpoint = [&](bool is_best) {
    trainer.checkpoint(is_best);
    if (sink) {
      std::printf("checkpoint: step %lld written to %s%s\n", static_cast<long long>(state.step),
                  (fs::path(o.run) / "checkpoints").c_str(), is_best ? " (best)" : "");
      std::fflush(stdout);
    }
  };

  TrainResult result;
  const auto t_start = Clock::now();
  const int64_t first_step = state.step;
  ProgressWindow window;
  CommunicationTotals communication;
  while (state.step < o.steps) {
    // Stop requests are agreed by all ranks, so every rank checkpoints at the same step.
    if (comm.all_reduce_scalar(g_stop_requested ? 1.0 : 0.0, comm::ReduceOp::kMax) > 0) {
      checkpoint(false);
      if (sink)
        std::printf("stopped by signal at step %lld; resume with --resume\n", static_cast<long long>(state.step));
      result.preempted = true;
      break;
    }
    const StepResult r = trainer.step();
    communication.add(r);
    window.losses += r.losses;
    ++window.steps;
    if (state.step % o.log_every == 0 || state.step == o.steps)
      report_progress(window, r, trainer, o, comm, sink.get());
    bool is_best = false;
    if (state.step % o.eval_every == 0 || state.step == o.steps) {
      is_best = validate_and_record(trainer, sink.get());
      window.started = Clock::now();
    }
    const bool stop_early = trainer.should_stop_early();
    if (is_best || stop_early || state.step % o.checkpoint_every == 0 || state.step == o.steps) checkpoint(is_best);
    if (stop_early) {
      if (sink)
        std::printf(
            "early stop at step %lld: validation %s has not improved for %d evaluations (best %.4f at step %lld)\n",
            static_cast<long long>(state.step), o.best_metric.c_str(), o.early_stop, state.best_value,
            static_cast<long long>(state.best_step));
      result.stopped_early = true;
      break;
    }
  }
  result.steps_done = state.step - first_step;
  if (sink && result.steps_done > 0) print_summary(result, trainer, o, communication, seconds_since(t_start));
  return result;
}

}  // namespace mvae::train
