#include "model/tokens.h"

#include <algorithm>

#include "common/error.h"

namespace mvae::model {

torch::Tensor token_tensor(const uint16_t* ids, int64_t rows, int64_t steps, bool pinned) {
  torch::Tensor t = torch::empty({rows, steps}, torch::TensorOptions().dtype(torch::kLong).pinned_memory(pinned));
  std::copy(ids, ids + rows * steps, t.data_ptr<int64_t>());
  return t;
}

torch::Tensor token_tensor(const std::vector<std::vector<uint16_t>>& windows) {
  const int64_t steps = windows.empty() ? 0 : static_cast<int64_t>(windows.front().size());
  std::vector<uint16_t> flat;
  flat.reserve(windows.size() * static_cast<size_t>(steps));
  for (const auto& w : windows) {
    MVAE_CHECK(static_cast<int64_t>(w.size()) == steps, "windows of different lengths");
    flat.insert(flat.end(), w.begin(), w.end());
  }
  return token_tensor(flat.data(), static_cast<int64_t>(windows.size()), steps);
}

}  // namespace mvae::model
