#include <mpi.h>

#include "common/error.h"
#include "dist/communicator.h"
#include "dist/mpi_context.h"

namespace mvae::dist {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    case torch::kLong: return MPI_INT64_T;
    case torch::kInt: return MPI_INT32_T;
    default: MVAE_CHECK(false, std::string("MPI communicator: unsupported dtype ") + c10::toString(t.scalar_type()));
  }
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::kSum ? MPI_SUM : op == ReduceOp::kMax ? MPI_MAX : MPI_MIN; }

// An MPI_Iallreduce in flight. Keeps the tensor alive until it completes.
class MpiWork : public Work {
 public:
  MpiWork(torch::Tensor tensor, MPI_Request request) : tensor_(std::move(tensor)), request_(request) {}
  ~MpiWork() override {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  bool test() override {
    if (request_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    MVAE_MPI_CHECK(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
    return done != 0;
  }
  void wait() override {
    if (request_ != MPI_REQUEST_NULL) MVAE_MPI_CHECK(MPI_Wait(&request_, MPI_STATUS_IGNORE));
  }

 private:
  torch::Tensor tensor_;
  MPI_Request request_;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    MVAE_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    MVAE_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  }
  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }

  // GPU tensors (a CUDA LibTorch without NCCL) are staged through host memory: correct, not fast.
  void all_reduce(torch::Tensor& t, ReduceOp op) override {
    if (size_ == 1) return;
    MVAE_CHECK(t.is_contiguous(), "MPI all_reduce needs a contiguous tensor");
    torch::Tensor host = t.device().is_cpu() ? t : t.cpu();
    MVAE_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, host.data_ptr(), static_cast<int>(host.numel()), mpi_type(host), mpi_op(op),
                                 MPI_COMM_WORLD));
    if (!t.device().is_cpu()) t.copy_(host);
  }
  std::unique_ptr<Work> all_reduce_async(torch::Tensor& t, ReduceOp op) override {
    if (size_ == 1 || !t.device().is_cpu()) return Communicator::all_reduce_async(t, op);
    MVAE_CHECK(t.is_contiguous(), "MPI all_reduce needs a contiguous tensor");
    MPI_Request request = MPI_REQUEST_NULL;
    MVAE_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), mpi_op(op),
                                  MPI_COMM_WORLD, &request));
    return std::make_unique<MpiWork>(t, request);
  }
  void broadcast(torch::Tensor& t, int root) override {
    if (size_ == 1) return;
    MVAE_CHECK(t.is_contiguous(), "MPI broadcast needs a contiguous tensor");
    torch::Tensor host = t.device().is_cpu() ? t : t.cpu();
    MVAE_MPI_CHECK(MPI_Bcast(host.data_ptr(), static_cast<int>(host.numel()), mpi_type(host), root, MPI_COMM_WORLD));
    if (!t.device().is_cpu()) t.copy_(host);
  }
  double all_reduce_scalar(double value, ReduceOp op) override {
    if (size_ == 1) return value;
    double out = 0;
    MVAE_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, mpi_op(op), MPI_COMM_WORLD));
    return out;
  }
  void barrier() override {
    if (size_ > 1) MVAE_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
  }

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace mvae::dist
