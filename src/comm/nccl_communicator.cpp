// NCCL over CUDA tensors. Collectives run on a stream of their own, ordered after LibTorch's
// compute stream by an event, so gradient all-reduces overlap the rest of backward; waiting for
// one polls its completion event from the host (the trainer needs the gradient norm on the host
// right after anyway), which is also where errors and the timeout are caught.
// Every CUDA and NCCL call is checked with file, line, rank and host (common/error.h). A rank never waits forever:
// waiting polls the collective's event together with ncclCommGetAsyncError, and on an error or after the timeout aborts
// the communicator and throws (the trainer then ends the whole job).
#include <cuda_runtime_api.h>
#include <mpi.h>
#include <nccl.h>

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "comm/communicator.h"
#include "comm/cuda_stream.h"
#include "comm/mpi_context.h"
#include "common/error.h"

namespace mvae::comm {
namespace {

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return ncclFloat32;
    case torch::kDouble: return ncclFloat64;
    case torch::kHalf: return ncclFloat16;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
    case torch::kBFloat16: return ncclBfloat16;
#endif
    case torch::kInt: return ncclInt32;
    case torch::kLong: return ncclInt64;
    default: break;
  }
  throw InternalError(__FILE__, __LINE__,
                      std::string("NCCL communicator: unsupported dtype ") + c10::toString(t.scalar_type()));
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::kSum ? ncclSum : op == ReduceOp::kMax ? ncclMax : ncclMin; }

// Makes `device` current for the calls in its scope (hooks run on autograd's device threads,
// the trainer on the main thread).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    MVAE_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) MVAE_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceScope() { cudaSetDevice(previous_); }

 private:
  int previous_ = 0;
};

class NcclCommunicator;

// One collective queued on the communication stream; `done_` is recorded after it.
class NcclWork : public Work {
 public:
  NcclWork(NcclCommunicator& comm, torch::Tensor tensor, cudaEvent_t done, const char* what)
      : comm_(comm), tensor_(std::move(tensor)), done_(done), what_(what), started_(std::chrono::steady_clock::now()) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  bool test() override;
  void wait() override;

 private:
  NcclCommunicator& comm_;
  torch::Tensor tensor_;  // alive until the collective has finished
  cudaEvent_t done_;
  const char* what_;
  std::chrono::steady_clock::time_point started_;
  bool waited_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(int device, const CollectiveDeadline& deadline)
      : device_(device), timeout_seconds_(deadline.seconds), host_(make_mpi_communicator(deadline)) {
    rank_ = host_->rank();
    size_ = host_->world_size();
    MVAE_CUDA_CHECK(cudaSetDevice(device_));
    ncclUniqueId id;
    if (rank_ == 0) MVAE_NCCL_CHECK(ncclGetUniqueId(&id));
    MVAE_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD));
    MVAE_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
    // Lower priority numbers are higher priorities: communication goes first when both are ready.
    int least = 0, greatest = 0;
    MVAE_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    MVAE_CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, greatest));
  }
  ~NcclCommunicator() override {
    if (!aborted_) ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "nccl"; }
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  bool any_thread() const override { return true; }

  // Host tensors (evaluation sums, logged metrics) go over MPI.
  void all_reduce(torch::Tensor& t, ReduceOp op) override {
    if (t.is_cpu()) return host_->all_reduce(t, op);
    all_reduce_async(t, op)->wait();
  }

  std::unique_ptr<Work> all_reduce_async(torch::Tensor& t, ReduceOp op) override {
    if (t.is_cpu()) return host_->all_reduce_async(t, op);
    check_tensor(t, "all_reduce");
    return enqueue(t, "all-reduce", [&] {
      MVAE_NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t),
                                    nccl_op(op), comm_, stream_));
    });
  }

  void broadcast(torch::Tensor& t, int root) override {
    if (t.is_cpu()) return host_->broadcast(t, root);
    check_tensor(t, "broadcast");
    enqueue(t, "broadcast", [&] {
      MVAE_NCCL_CHECK(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()), nccl_type(t), root,
                                    comm_, stream_));
    })->wait();
  }

  // Host values go over MPI: no device round trip for a control decision.
  double all_reduce_scalar(double value, ReduceOp op) override { return host_->all_reduce_scalar(value, op); }
  void barrier() override { host_->barrier(); }

  // Polls `done` until it has fired, checking NCCL's asynchronous errors and the timeout.
  void wait_for(cudaEvent_t done, const char* what, std::chrono::steady_clock::time_point started) {
    DeviceScope scope(device_);
    for (int polls = 0;; ++polls) {
      const cudaError_t status = cudaEventQuery(done);
      if (status == cudaSuccess) break;
      if (status != cudaErrorNotReady) MVAE_CUDA_CHECK(status);
      check_async_error(what);
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (waited > timeout_seconds_) {
        abort();
        std::ostringstream message;
        message
            << "NCCL " << what << " on cuda:" << device_ << " did not finish within " << timeout_seconds_
            << " s: another rank died or stopped calling collectives (--collective-timeout); the "
            << "communicator was aborted. NCCL_DEBUG=INFO shows the transport; docs/distributed.md lists what to check";
        throw RunError(message.str());
      }
      // Spin briefly (collectives of a step finish in micro- to milliseconds), then sleep.
      if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    // The collective has finished: kernels LibTorch queues from now on come after it.
  }

  bool query(cudaEvent_t done, const char* what) {
    DeviceScope scope(device_);
    const cudaError_t status = cudaEventQuery(done);
    if (status == cudaSuccess) return true;
    if (status != cudaErrorNotReady) MVAE_CUDA_CHECK(status);
    check_async_error(what);
    return false;
  }

 private:
  void check_tensor(const torch::Tensor& t, const char* call) const {
    MVAE_CHECK(t.is_cuda() && t.device().index() == device_,
               std::string("NCCL ") + call + ": the tensor is on " + t.device().str() +
                   ", the communicator on cuda:" + std::to_string(device_));
    MVAE_CHECK(t.is_contiguous(), std::string("NCCL ") + call + " needs a contiguous tensor");
  }

  // Orders the communication stream after the work LibTorch has queued so far (which produced
  // the tensor), runs `collective` there, and records its completion.
  template <typename Collective>
  std::unique_ptr<Work> enqueue(const torch::Tensor& t, const char* what, Collective collective) {
    DeviceScope scope(device_);
    cudaEvent_t ready = nullptr, done = nullptr;
    MVAE_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    MVAE_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    MVAE_CUDA_CHECK(cudaEventRecord(ready, current_torch_stream(device_)));
    MVAE_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready, 0));
    MVAE_CUDA_CHECK(cudaEventDestroy(ready));  // released once the wait above has consumed it
    if (size_ > 1) collective();
    MVAE_CUDA_CHECK(cudaEventRecord(done, stream_));
    return std::make_unique<NcclWork>(*this, t, done, what);
  }

  void check_async_error(const char* what) {
    ncclResult_t async = ncclSuccess;
    MVAE_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      abort();
      std::ostringstream message;
      message << "NCCL " << what << " failed asynchronously: " << ncclGetErrorString(async)
              << " (the communicator was aborted; NCCL_DEBUG=INFO says more)";
      throw RunError(message.str());
    }
  }

  void abort() {
    if (!aborted_) ncclCommAbort(comm_);
    aborted_ = true;
  }

  int device_;
  double timeout_seconds_;
  std::unique_ptr<Communicator> host_;  // MPI, for host tensors and scalars
  int rank_ = 0, size_ = 1;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  bool aborted_ = false;
};

bool NcclWork::test() { return comm_.query(done_, what_); }

void NcclWork::wait() {
  if (waited_) return;
  comm_.wait_for(done_, what_, started_);
  waited_ = true;
}

}  // namespace

bool nccl_available() { return true; }

std::unique_ptr<Communicator> make_nccl_communicator(int device_index, const CollectiveDeadline& deadline) {
  return std::make_unique<NcclCommunicator>(device_index, deadline);
}

}  // namespace mvae::comm
