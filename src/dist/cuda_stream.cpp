// Built only against a CUDA LibTorch.
#include "dist/cuda_stream.h"

#include <c10/cuda/CUDAStream.h>

namespace mvae::dist {

cudaStream_t current_torch_stream(int device_index) {
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_index)).stream();
}

}  // namespace mvae::dist
