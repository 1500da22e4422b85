// train: data-parallel MusicVAE training, one process per GPU (or CPU rank), launched by MPI.
//   mpirun -np 2 train --data shards/ --preset hierdec-drums_4bar --run runs/a
#include <cstdio>
#include <cstdlib>

#include "cli/model_options.h"
#include "comm/communicator.h"
#include "comm/mpi_context.h"
#include "common/error.h"
#include "common/runtime.h"
#include "train/trainer.h"

namespace {

// A process alone says what went wrong and exits with `code`, MPI finalised as usual (no MPI_Abort
// banner); with several ranks, MPI_Abort ends them all (a rank must never wait alone).
int end_with_error(const mvae::comm::ProcessInfo& info, int code, const std::string& message) {
  if (info.world_size > 1) mvae::comm::MpiContext::abort_job(code, message);
  std::fprintf(stderr, "%s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Before MPI starts its threads, which inherit both; a preemption signal from SLURM can come
  // while MPI is still starting.
  mvae::tune_cpu();
  mvae::train::install_stop_signal_handlers();
  mvae::comm::MpiContext mpi(&argc, &argv);
  const auto& info = mpi.info();
  if (const std::string mismatch = mpi.launcher_mismatch(); !mismatch.empty())
    mvae::comm::MpiContext::abort_job(2, "train: " + mismatch);
  mvae::train::TrainOptions options;
  try {
    if (!mvae::train::parse_train_options(argc, argv, options, info.rank == 0)) return 0;
  } catch (const std::exception& e) {
    if (info.rank == 0)
      std::fprintf(stderr, "train: %s\n(see train --help)\n",
                   mvae::in_option_words(e.what(), mvae::cli::option_name).c_str());
    return 2;
  }
  try {
    const torch::Device device = mvae::train::pick_device(options, info.local_rank, info.local_size);
    // One line per rank: which host, local rank and device each rank got (the first thing to
    // check when GPUs are shared or idle).
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    std::printf("rank %d of %d on %s: local rank %d of %d, device %s, CUDA_VISIBLE_DEVICES=%s\n", info.rank,
                info.world_size, info.hostname.c_str(), info.local_rank, info.local_size, device.str().c_str(),
                visible ? visible : "(unset)");
    std::fflush(stdout);
    const mvae::comm::CollectiveDeadline deadline{options.collective_timeout_s, mvae::train::stop_requested};
    auto comm = device.is_cuda() && mvae::comm::nccl_available()
                    ? mvae::comm::make_nccl_communicator(device.index(), deadline)
                    : mvae::comm::make_mpi_communicator(deadline);
    const auto result = mvae::train::run_training(options, device, *comm, info.local_size);
    return result.preempted ? mvae::train::kExitPreempted : 0;
  } catch (const mvae::train::SetupFailure& e) {  // every rank knows: end together, MPI finalised
    if (e.reported_here) std::fprintf(stderr, "train: %s\n", e.what());
    return e.exit_code;
  } catch (const mvae::UsageError& e) {
    return end_with_error(info, 2, "train: " + mvae::in_option_words(e.what(), mvae::cli::option_name));
  } catch (const std::exception& e) {
    return end_with_error(
        info, 1, "train: error: " + mvae::in_option_words(mvae::without_backtrace(e.what()), mvae::cli::option_name));
  }
}
