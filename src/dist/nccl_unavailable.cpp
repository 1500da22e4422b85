// Built when NCCL or a CUDA LibTorch is missing: the trainer then uses MPI on CPU.
#include <stdexcept>

#include "dist/communicator.h"

namespace mvae::dist {

bool nccl_available() { return false; }

std::unique_ptr<Communicator> make_nccl_communicator(int, const CollectiveDeadline&) {
  throw std::runtime_error(
      "this build has no NCCL communicator (configure with a CUDA LibTorch and NCCL; see docs/distributed.md)");
}

}  // namespace mvae::dist
