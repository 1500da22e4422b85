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

// Runs training on this rank. `local_rank`/`local_size` pick the GPU and the thread count.
TrainResult run_training(const TrainOptions& options, dist::Communicator& comm, int local_rank, int local_size);

// SIGTERM and SIGUSR1 ask for a checkpoint at the next step boundary (all ranks agree first).
void install_stop_signal_handlers();

}  // namespace mvae::train
