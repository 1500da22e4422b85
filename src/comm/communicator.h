// Collectives the trainer needs, over MPI (CPU tensors) or NCCL (GPU tensors). With one process
// every collective is a no-op. Tensors must be contiguous.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

namespace mvae::comm {

enum class ReduceOp { kSum, kMax, kMin };

// A collective in flight. The tensor it works on must stay alive and untouched until wait().
class Work {
 public:
  virtual ~Work() = default;
  // Whether it has finished; also drives MPI's progress engine (Open MPI advances a
  // non-blocking collective only inside MPI calls).
  virtual bool test() = 0;
  // Returns when the collective has finished (GPU: its completion event has fired), so that
  // the next work on this rank's device sees the result.
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In place over all ranks.
  virtual void all_reduce(torch::Tensor& tensor, ReduceOp op) = 0;
  // Starts an in-place all-reduce and returns at once. Every rank must start its asynchronous
  // collectives in the same order. The default runs it synchronously.
  virtual std::unique_ptr<Work> all_reduce_async(torch::Tensor& tensor, ReduceOp op);
  // Whether all_reduce_async may be called from a thread other than the one that created the
  // communicator (MPI is initialised MPI_THREAD_FUNNELED: no; NCCL: yes).
  virtual bool any_thread() const { return false; }
  virtual void broadcast(torch::Tensor& tensor, int root) = 0;
  // Host scalars (control decisions every rank must take together: stop, skip, NaN).
  virtual double all_reduce_scalar(double value, ReduceOp op) = 0;
  virtual void barrier() = 0;
};

// How long a collective may wait for the other ranks before the job is ended (a rank that stops
// without dying would otherwise hang all of them). `stop_requested`, when set, is asked while
// waiting: a stop signal that comes during a wait shortens it to 30 s more at most.
struct CollectiveDeadline {
  double seconds = 600;  // PyTorch's default for NCCL
  std::function<bool()> stop_requested;
};

// MPI over CPU tensors (float32, float64, int32, int64); GPU tensors are staged through host
// memory. A collective past the deadline asks the other ranks whether they are alive and ends
// the job (exit status 1) with a message naming the ranks, and hosts, that did not answer.
std::unique_ptr<Communicator> make_mpi_communicator(const CollectiveDeadline& deadline = {});

// NCCL over CUDA tensors of device `device_index`, its unique id broadcast over MPI; host scalars
// and barriers go over MPI (with the same deadline). A GPU collective that has not finished by
// the deadline, or an asynchronous NCCL error, aborts the communicator and throws (the job then
// ends) instead of hanging. Throws when this build has no NCCL.
std::unique_ptr<Communicator> make_nccl_communicator(int device_index, const CollectiveDeadline& deadline);
bool nccl_available();

}  // namespace mvae::comm
