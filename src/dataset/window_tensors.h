// Windows of a shard split as the model takes them: token ids, or GrooVAE's groove vectors built
// from the velocities and offsets stored beside the tokens (model/tokens.h).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/shards.h"

namespace mvae::dataset {

// Token ids [n, T] int64, or (groove) vectors [n, T, 27] float; in page-locked memory when `pinned`.
torch::Tensor read_window_tensor(data::ShardSet& shards, const std::string& split, const std::vector<int64_t>& indices, bool groove,
                                 bool pinned = false);

}  // namespace mvae::dataset
