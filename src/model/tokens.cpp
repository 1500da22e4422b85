#include "model/tokens.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "model/config.h"

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

torch::Tensor groove_tensor(const uint8_t* velocities, const float* offsets, int64_t rows, int64_t steps, bool pinned) {
  // Read-only views of the caller's arrays; the result is a new tensor.
  const torch::Tensor v =
      torch::from_blob(const_cast<uint8_t*>(velocities), {rows, steps, data::kNumDrumClasses}, torch::kByte);
  const torch::Tensor o =
      torch::from_blob(const_cast<float*>(offsets), {rows, steps, data::kNumDrumClasses}, torch::kFloat);
  torch::Tensor t = groove_tensor(v, o);
  return pinned ? t.pin_memory() : t;
}

torch::Tensor groove_tensor(const torch::Tensor& velocities, const torch::Tensor& offsets) {
  MVAE_CHECK(velocities.scalar_type() == torch::kByte && offsets.scalar_type() == torch::kFloat &&
                 velocities.sizes() == offsets.sizes() && velocities.size(-1) == data::kNumDrumClasses,
             "groove_tensor takes uint8 velocities and float offsets of one shape [..., 9]");
  const torch::Tensor hits = velocities > 0;
  return torch::cat({hits.to(torch::kFloat), velocities.to(torch::kFloat) / 127.0f,
                     torch::where(hits, offsets, torch::zeros_like(offsets))},
                    -1);  // [..., 27]
}

data::DrumWindow window_of_groove(const torch::Tensor& window) {
  constexpr int64_t C = data::kNumDrumClasses;
  MVAE_CHECK(window.dim() == 2 && window.size(1) == 3 * C, "a groove window is [steps, 27]");
  const torch::Tensor w = window.to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t T = w.size(0);
  const float* in = w.data_ptr<float>();
  data::DrumWindow out;
  out.tokens.assign(static_cast<size_t>(T), 0);
  out.velocities.assign(static_cast<size_t>(T * C), 0);
  out.offsets.assign(static_cast<size_t>(T * C), 0.0f);
  for (int64_t t = 0; t < T; ++t, in += 3 * C) {
    for (int64_t c = 0; c < C; ++c) {
      if (!(in[c] > 0.5f)) continue;
      out.tokens[t] = static_cast<uint16_t>(out.tokens[t] | (1u << c));
      out.velocities[t * C + c] = static_cast<uint8_t>(std::clamp(std::lround(127.0 * in[C + c]), 1L, 127L));
      out.offsets[t * C + c] = std::clamp(in[2 * C + c], -1.0f, 1.0f);
    }
  }
  return out;
}

torch::Tensor tokens_of_hits(const torch::Tensor& hits) {
  const torch::Tensor bits =
      torch::pow(2, torch::arange(data::kNumDrumClasses, hits.options().dtype(torch::kLong)));  // [9]
  return ((hits > 0.5).to(torch::kLong) * bits).sum(-1);
}

}  // namespace mvae::model
