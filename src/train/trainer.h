// The data-parallel training loop (docs/training.md).
#pragma once

#include "dist/communicator.h"
#include "train/train_options.h"

namespace mvae::train {

// Exit status after a SIGTERM/SIGUSR1 stop: every rank checkpointed; slurm/train.sh requeues.
constexpr int kExitPreempted = 75;  // EX_TEMPFAIL

struct TrainResult {
  int64_t steps_done = 0;
  bool preempted = false;
};

// Runs training on this rank. `local_size` (ranks on this node) sets the default thread count.
// The device of this rank: --device, or cuda:<local rank> when GPUs are visible, else CPU.
// Refuses more ranks on a node than GPUs.
torch::Device pick_device(const TrainOptions& options, int local_rank, int local_size);

TrainResult run_training(const TrainOptions& options, const torch::Device& device, dist::Communicator& comm, int local_size);

// SIGTERM and SIGUSR1 ask for a checkpoint at the next step boundary (all ranks agree first).
void install_stop_signal_handlers();

}  // namespace mvae::train
