// Writing and reading training checkpoints: one folder per step, built under a temporary name and
// renamed when complete (layout and lookup: run_folder/checkpoint_files.h).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>

#include "comm/communicator.h"
#include "model/musicvae.h"

namespace mvae::train {

struct TrainingState {
  int64_t step = 0;              // optimizer steps done
  int64_t consumed_samples = 0;  // global count of training windows consumed
  int world_size = 1;
  int64_t global_batch = 0;
  uint64_t seed = 0;
  // Read back from the saved options: it decides the optimizer's parameter groups, so a resume
  // must use the same (1 for checkpoints from before the option).
  double lstm_bias_lr_scale = 1.0;
  // Also from the saved options: which windows an epoch holds (0 for checkpoints from before the option).
  int windows_per_file = 0;
  // The --best-metric that best_value was measured in ("elbo" for checkpoints from before the
  // option was saved): a resume with another metric starts model selection afresh.
  std::string best_metric = "elbo";
  // Model selection (--best-metric): the best validation value so far (higher is better), the
  // step it was reached at (-1: none yet), and validations since then (for --early-stop).
  double best_value = -std::numeric_limits<double>::infinity();
  int64_t best_step = -1;
  int64_t evals_since_best = 0;
};

// Collective: every rank calls it at the same step. Rank 0 writes the replicated state, every
// rank its RNG state; rank 0 records the files' checksums, publishes the folder, points `latest`
// (and `best` when `is_best`) at it, and removes checkpoints beyond the newest `keep`, never
// the one `best` names.
void save_checkpoint(const std::filesystem::path& run, const TrainingState& state, model::MusicVAE& model,
                     torch::optim::Adam& optimizer, const data::DataRepresentation& representation,
                     const std::string& options_json, comm::Communicator& comm, int keep, bool is_best);
// Points `best` at the existing checkpoint of `step` (rank 0 only).
void mark_best_checkpoint(const std::filesystem::path& run, int64_t step);

TrainingState read_training_state(const std::filesystem::path& checkpoint);
// Adam's state goes to `device`, where the parameters are.
void load_optimizer(const std::filesystem::path& checkpoint, torch::optim::Adam& optimizer, model::MusicVAEImpl& model,
                    const torch::Device& device);
// Restores this rank's RNG; a checkpoint from fewer ranks gives the new ranks rank 0's state.
void load_rng(const std::filesystem::path& checkpoint, int rank);

}  // namespace mvae::train
