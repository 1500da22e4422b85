#include "dataset/window_tensors.h"

#include "model/tokens.h"

namespace mvae::dataset {

torch::Tensor read_window_tensor(data::ShardSet& shards, const std::string& split, const std::vector<int64_t>& indices, bool groove,
                                 bool pinned) {
  const int64_t n = static_cast<int64_t>(indices.size());
  const int64_t T = shards.representation().window_steps();
  if (!groove) {
    std::vector<uint16_t> tokens(static_cast<size_t>(n * T));
    shards.read_tokens(split, indices, tokens.data());
    return model::token_tensor(tokens.data(), n, T, pinned);
  }
  const size_t values = static_cast<size_t>(n * T * shards.representation().num_classes);
  std::vector<uint8_t> velocities(values);
  std::vector<float> offsets(values);
  shards.read_expressive(split, indices, velocities.data(), offsets.data());
  return model::groove_tensor(velocities.data(), offsets.data(), n, T, pinned);
}

}  // namespace mvae::dataset
