// Built when NCCL or a CUDA LibTorch is missing: the trainer then uses MPI on CPU.
#include "comm/communicator.h"
#include "common/error.h"

namespace mvae::comm {

bool nccl_available() { return false; }

std::unique_ptr<Communicator> make_nccl_communicator(int, const CollectiveDeadline&) {
  throw UsageError(
      "this build has no NCCL communicator (configure with a CUDA LibTorch and NCCL; see docs/distributed.md)");
}

}  // namespace mvae::comm
