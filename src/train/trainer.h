// The data-parallel training loop (docs/training.md), in named parts: Trainer sets a run up
// (fresh or resumed), takes one optimizer step, validates and checkpoints; run_training drives
// it and sends the figures to a MetricsSink. Every Trainer call except the getters is collective.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "common/error.h"
#include "common/files.h"
#include "data/shards.h"
#include "model/musicvae.h"
#include "model/precision.h"
#include "train/batch_loader.h"
#include "train/checkpoint.h"
#include "train/gradient_reducer.h"
#include "train/loss_figures.h"
#include "train/sampler.h"
#include "train/train_options.h"

namespace mvae::train {

// Exit status after a SIGTERM/SIGUSR1 stop: every rank checkpointed; slurm/train.sh requeues.
constexpr int kExitPreempted = 75;  // EX_TEMPFAIL

struct TrainResult {
  int64_t steps_done = 0;
  bool preempted = false;
  bool stopped_early = false;  // --early-stop: validation stopped improving
};

// The device of this rank: --device, or cuda:<local rank> when GPUs are visible, else CPU.
// Refuses more ranks on a node than GPUs.
torch::Device pick_device(const TrainOptions& options, int local_rank, int local_size);

// Adam over the model's parameters; with --lstm-bias-lr-scale other than 1, the LSTM gate biases
// form a second parameter group whose rate is the scale times the first's.
bool is_lstm_gate_bias(const std::string& parameter_name);
std::unique_ptr<torch::optim::Adam> make_optimizer(model::MusicVAEImpl& model, const TrainOptions& options);

// SIGTERM and SIGUSR1 ask for a checkpoint at the next step boundary (all ranks agree first).
void install_stop_signal_handlers();
// Whether such a signal (or Ctrl-C) has come.
bool stop_requested();

// Setup failed on some rank; every rank throws this after agreeing, so that all end together
// with `exit_code` (2: a usage error) and no MPI_Abort. Only the first failing rank reports:
// what() is its message there, and "rank N failed" elsewhere.
class SetupFailure : public RunError {
 public:
  SetupFailure(int exit_code, const std::string& message, bool reported_here)
      : RunError(message), exit_code(exit_code), reported_here(reported_here) {}
  int exit_code;
  bool reported_here;
};

// Runs `setup` (which must call no collective) on every rank, then agrees: when it threw on any
// rank, every rank throws SetupFailure. A single process gets setup's own exception back.
void agree_on_setup(comm::Communicator& comm, const std::function<void()>& setup);

// Runs training on this rank. `local_size` (ranks on this node) sets the default thread count.
TrainResult run_training(const TrainOptions& options, const torch::Device& device, comm::Communicator& comm,
                         int local_size);

// What one optimizer step did, on this rank (loss figures are this rank's means over micro-batches).
struct StepResult {
  LossFigures losses;
  double lr = 0, beta = 0, sampling_probability = 0;
  double grad_norm = 0;             // global norm after averaging, before clipping
  double exposed_comm_seconds = 0;  // communication backward did not hide (minimum over ranks)
  int64_t buckets = 0, started_in_backward = 0;
};

// Validation over the first --eval-windows windows, split over ranks and summed.
struct ValidationResult {
  int64_t windows = 0;
  double r_loss = 0, kl = 0, elbo = 0;  // nats per window
  double tf_accuracy = 0, free_accuracy = 0;
  double metric(const std::string& name) const;  // --best-metric: higher is better
};

class Trainer {
 public:
  // Opens the shards, checks them against the model, builds the model (or loads it from the
  // checkpoint --resume finds; a new run takes --init-from's weights), its optimizer and
  // gradient reducer, and starts the loader.
  Trainer(const TrainOptions& options, const torch::Device& device, comm::Communicator& comm);

  StepResult step();
  ValidationResult validate();
  // Updates the best-so-far state with `v`; true when it improved (then checkpoint(true)).
  bool record_validation(const ValidationResult& v);
  bool should_stop_early() const;
  void checkpoint(bool is_best);

  const TrainingState& state() const { return state_; }
  const std::filesystem::path& resumed_from() const { return resumed_from_; }
  const std::vector<std::string>& passed_over() const { return passed_over_; }
  const std::string& link_note() const { return link_note_; }  // `latest` was missing or wrong: what was used
  const std::string& initialized_from() const { return initialized_from_; }  // --init-from's model file, "" if none
  // The checkpoint's --best-metric when a resume changed it (selection restarted), else "".
  const std::string& selection_restarted_from() const { return selection_restarted_from_; }
  int64_t global_batch() const { return sampler_->global_batch(); }
  int64_t steps_per_epoch() const { return sampler_->steps_per_epoch() / options_.accumulate; }
  int64_t windows_per_epoch() const { return sampler_->windows_per_epoch(); }
  int64_t num_parameters() const;
  size_t num_buckets() const { return reducer_->num_buckets(); }
  int64_t windows(const std::string& split) const { return shards_->size(split); }
  const BatchLoader& loader() const { return *loader_; }

 private:
  torch::Tensor micro_batch_noise(int64_t micro_index) const;           // [batch, z]: this rank's slice
  [[noreturn]] void throw_with_memory_hint(const c10::Error& e) const;  // rethrows e if it is no allocation failure
  // The setup parts each rank runs alone (no collectives), in this order.
  void lock_run_folder();
  void open_data_and_run();
  void build_model();
  void restore_training_state(const TrainingState& saved);

  const TrainOptions options_;            // a copy, so options passed as a temporary cannot dangle
  std::unique_ptr<FolderLock> run_lock_;  // rank 0: held while the trainer lives
  torch::Device device_;
  comm::Communicator& comm_;
  model::Precision precision_;
  std::optional<data::ShardSet> shards_;  // set by open_data_and_run
  std::optional<DistributedSampler> sampler_;
  TrainingState state_;
  std::filesystem::path resumed_from_;
  std::vector<std::string> passed_over_;
  std::string link_note_;
  std::string initialized_from_;
  std::string selection_restarted_from_;
  model::MusicVAE model_{nullptr};
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::unique_ptr<GradientReducer> reducer_;
  std::unique_ptr<BatchLoader> loader_;
  std::string options_json_;
};

}  // namespace mvae::train
