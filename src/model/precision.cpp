#include "model/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "common/error.h"

// LibTorch 2.4 replaced the per-backend autocast calls with ones taking a device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define MVAE_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace mvae::model {
namespace {

bool autocast_enabled(torch::DeviceType type) {
#ifdef MVAE_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(type);
#else
  return type == torch::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void set_autocast(torch::DeviceType type, bool enabled) {
#ifdef MVAE_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(type, enabled);
#else
  if (type == torch::kCUDA)
    at::autocast::set_enabled(enabled);
  else
    at::autocast::set_cpu_enabled(enabled);
#endif
}

torch::ScalarType get_dtype(torch::DeviceType type) {
#ifdef MVAE_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(type);
#else
  return type == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_dtype(torch::DeviceType type, torch::ScalarType dtype) {
#ifdef MVAE_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == torch::kCUDA)
    at::autocast::set_autocast_gpu_dtype(dtype);
  else
    at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

}  // namespace

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::kFloat32;
  if (text == "bf16") return Precision::kBFloat16;
  throw UsageError("{precision} must be fp32 or bf16, got '" + text + "'");
}

std::string to_string(Precision p) { return p == Precision::kBFloat16 ? "bf16" : "fp32"; }

AutocastScope::AutocastScope(const torch::Device& device, Precision precision) : type_(device.type()) {
  if (precision != Precision::kBFloat16) return;
  active_ = true;
  was_enabled_ = autocast_enabled(type_);
  previous_dtype_ = get_dtype(type_);
  set_dtype(type_, torch::kBFloat16);
  set_autocast(type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // Leaving the outermost scope frees the bf16 copies of the weights autocast cached.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast(type_, was_enabled_);
  set_dtype(type_, previous_dtype_);
}

torch::ScalarType autocast_dtype_or(const torch::Device& device, torch::ScalarType fallback) {
  return autocast_enabled(device.type()) ? get_dtype(device.type()) : fallback;
}

void allow_tf32(bool allow) { at::globalContext().setFloat32MatmulPrecision(allow ? "high" : "highest"); }

}  // namespace mvae::model
