// Windows of a shard split as the model takes them: token ids, or GrooVAE's groove vectors built
// from the velocities and offsets stored beside them (model/tokens.h). The shards are read through
// data::ShardSet; HDF5 itself stays inside data/.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/shards.h"

namespace mvae::model {

// A batch as the shards hold it, in the smallest types (what the trainer's loader prepares and
// what crosses to a GPU): token ids int16 [n, T] (ids < 512), or, for groove models, velocities
// uint8 and offsets float [n, T, 9]; the other fields are undefined.
struct WindowBatch {
  torch::Tensor tokens, velocities, offsets;
};
// In page-locked memory when `pinned` (for asynchronous copies to a GPU).
WindowBatch read_window_batch(data::ShardSet& shards, const std::string& split, const std::vector<int64_t>& indices,
                              bool groove, bool pinned = false);
// The model's input on `device`, built there: token ids int64 [n, T], or groove vectors float
// [n, T, 27]. The copies are asynchronous when the batch is pinned.
torch::Tensor model_input(const WindowBatch& batch, const torch::Device& device);

// Both: token ids [n, T] int64, or (groove) vectors [n, T, 27] float, on the CPU.
torch::Tensor read_window_tensor(data::ShardSet& shards, const std::string& split, const std::vector<int64_t>& indices,
                                 bool groove);

}  // namespace mvae::model
