// Token windows as the model takes them: int64 ids [rows, steps], from the uint16 ids that shards,
// MIDI files and generated patterns hold. The one place the widening is written.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace mvae::model {

// `ids` holds rows * steps ids, row-major. `pinned`: page-locked host memory, for asynchronous
// copies to a GPU.
torch::Tensor token_tensor(const uint16_t* ids, int64_t rows, int64_t steps, bool pinned = false);
// Windows of equal length: [windows.size(), length].
torch::Tensor token_tensor(const std::vector<std::vector<uint16_t>>& windows);

}  // namespace mvae::model
