#include <mpi.h>

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
    default: TORCH_CHECK(false, "MPI communicator: unsupported dtype ", t.scalar_type());
  }
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::kSum ? MPI_SUM : op == ReduceOp::kMax ? MPI_MAX : MPI_MIN; }

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
    TORCH_CHECK(t.is_contiguous(), "MPI all_reduce needs a contiguous tensor");
    torch::Tensor host = t.device().is_cpu() ? t : t.cpu();
    MVAE_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, host.data_ptr(), static_cast<int>(host.numel()), mpi_type(host), mpi_op(op),
                                 MPI_COMM_WORLD));
    if (!t.device().is_cpu()) t.copy_(host);
  }
  void broadcast(torch::Tensor& t, int root) override {
    if (size_ == 1) return;
    TORCH_CHECK(t.is_contiguous(), "MPI broadcast needs a contiguous tensor");
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
