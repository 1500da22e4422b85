// Collectives the trainer needs, over MPI (CPU tensors) or NCCL (GPU tensors). With one process
// every collective is a no-op. Tensors must be contiguous.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

namespace mvae::dist {

enum class ReduceOp { kSum, kMax, kMin };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In place over all ranks.
  virtual void all_reduce(torch::Tensor& tensor, ReduceOp op) = 0;
  virtual void broadcast(torch::Tensor& tensor, int root) = 0;
  // Host scalars (control decisions every rank must take together: stop, skip, NaN).
  virtual double all_reduce_scalar(double value, ReduceOp op) = 0;
  virtual void barrier() = 0;
};

// MPI over CPU tensors (float32, float64, int32, int64); GPU tensors are staged through host memory.
std::unique_ptr<Communicator> make_mpi_communicator();
// NCCL over CUDA tensors of `device`, its unique id broadcast over MPI. Throws when this build
// has no NCCL.
std::unique_ptr<Communicator> make_nccl_communicator(int device_index);
bool nccl_available();

}  // namespace mvae::dist
