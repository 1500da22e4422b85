// Training checkpoints: one folder per step, built under a temporary name and renamed when
// complete, with a COMPLETE marker inside and a `latest` file naming the newest.
//
//   <run>/checkpoints/step-00000200/
//     model.pt            weights + model configuration + data representation (load_model reads it)
//     optimizer.pt        Adam state
//     state.json          step, consumed samples, world size, global batch, seed, options
//     rng-rank00000.pt    each rank's CPU generator state
//     COMPLETE            written last
//   <run>/checkpoints/latest   "step-00000200"
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "dist/communicator.h"
#include "model/musicvae.h"

namespace mvae::train {

struct TrainingState {
  int64_t step = 0;              // optimizer steps done
  int64_t consumed_samples = 0;  // global count of training windows consumed
  int world_size = 1;
  int64_t global_batch = 0;
  uint64_t seed = 0;
};

// Collective: every rank calls it at the same step. Rank 0 writes the replicated state, every
// rank its RNG state; old checkpoints beyond `keep` are removed.
void save_checkpoint(const std::filesystem::path& run, const TrainingState& state, model::MusicVAE& model,
                     torch::optim::Adam& optimizer, const std::string& representation_json,
                     const std::string& options_json, dist::Communicator& comm, int keep);

// The newest complete checkpoint folder of a run folder, or of a checkpoint folder given
// directly; empty when there is none. Throws InputError for a `latest` that names a missing or
// incomplete folder.
std::filesystem::path find_checkpoint(const std::filesystem::path& run_or_checkpoint);

TrainingState read_training_state(const std::filesystem::path& checkpoint);
// Adam's state goes to `device`, where the parameters are.
void load_optimizer(const std::filesystem::path& checkpoint, torch::optim::Adam& optimizer, const torch::Device& device);
// Restores this rank's RNG; a checkpoint from fewer ranks gives the new ranks rank 0's state.
void load_rng(const std::filesystem::path& checkpoint, int rank);

}  // namespace mvae::train
