// Built only against a CUDA LibTorch.
#include "comm/cuda_stream.h"

#include <c10/cuda/CUDAStream.h>

namespace mvae::comm {

cudaStream_t current_torch_stream(int device_index) {
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_index)).stream();
}

}  // namespace mvae::comm
