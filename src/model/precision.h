// Mixed precision: bf16 autocast for forward passes, and TF32 for float32 matrix products.
#pragma once

#include <torch/torch.h>

#include <string>

namespace mvae::model {

enum class Precision { kFloat32, kBFloat16 };

// "fp32" or "bf16"; anything else is a UsageError naming {precision}.
Precision parse_precision(const std::string& text);
std::string to_string(Precision p);

// While alive, matrix products on `device`'s type run in bfloat16 (LibTorch autocast) when
// `precision` is bf16; parameters, optimizer state and gradients stay float32. Wrap forward
// passes only: backward follows the types forward chose.
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  torch::DeviceType type_;
  bool active_ = false, was_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kFloat;
};

// The dtype autocast gives matrix products on `device` now, or `fallback` when it is off.
torch::ScalarType autocast_dtype_or(const torch::Device& device, torch::ScalarType fallback);

// TF32 tensor-core matrix products for float32 on Ampere and newer GPUs (10 mantissa bits
// instead of 23); no effect on CPU.
void allow_tf32(bool allow);

}  // namespace mvae::model
