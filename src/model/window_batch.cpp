#include "model/window_batch.h"

#include "model/tokens.h"

namespace mvae::model {

WindowBatch read_window_batch(data::ShardSet& shards, const std::string& split, const std::vector<int64_t>& indices,
                              bool groove, bool pinned) {
  const int64_t n = static_cast<int64_t>(indices.size());
  const int64_t T = shards.representation().window_steps();
  const auto options = torch::TensorOptions().pinned_memory(pinned);
  WindowBatch batch;
  if (!groove) {
    static_assert(sizeof(int16_t) == sizeof(uint16_t), "token ids are read as uint16 into int16 storage");
    batch.tokens = torch::empty({n, T}, options.dtype(torch::kShort));
    shards.read_tokens(split, indices, reinterpret_cast<uint16_t*>(batch.tokens.data_ptr<int16_t>()));
    return batch;
  }
  const int64_t C = shards.representation().num_classes;
  batch.velocities = torch::empty({n, T, C}, options.dtype(torch::kByte));
  batch.offsets = torch::empty({n, T, C}, options.dtype(torch::kFloat));
  shards.read_expressive(split, indices, batch.velocities.data_ptr<uint8_t>(), batch.offsets.data_ptr<float>());
  return batch;
}

torch::Tensor model_input(const WindowBatch& batch, const torch::Device& device) {
  if (batch.tokens.defined()) return batch.tokens.to(device, /*non_blocking=*/true).to(torch::kLong);
  return groove_tensor(batch.velocities.to(device, /*non_blocking=*/true),
                       batch.offsets.to(device, /*non_blocking=*/true));
}

torch::Tensor read_window_tensor(data::ShardSet& shards, const std::string& split, const std::vector<int64_t>& indices,
                                 bool groove) {
  return model_input(read_window_batch(shards, split, indices, groove), torch::kCPU);
}

}  // namespace mvae::model
