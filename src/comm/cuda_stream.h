// The CUDA stream LibTorch queues this thread's kernels on. Its own file so that the NCCL
// communicator needs only the CUDA runtime headers (and compiles where LibTorch has no CUDA).
#pragma once

#include <cuda_runtime_api.h>

namespace mvae::comm {

cudaStream_t current_torch_stream(int device_index);

}  // namespace mvae::comm
