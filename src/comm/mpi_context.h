// MPI process context: initialisation and ranks. MPI calls are checked with MVAE_MPI_CHECK
// (common/error.h): file, line, rank and host, then the whole job ends.
#pragma once

#include <mpi.h>

#include <string>

#include "common/error.h"

namespace mvae::comm {

// Who this process is. local_rank: index among the ranks on this node (a shared-memory
// communicator split), which picks the GPU.
struct ProcessInfo {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_size = 1;
  std::string hostname;
  // How many processes the launcher says it started, read before MPI_Init from the first of
  // OMPI_COMM_WORLD_SIZE (mpirun), PMI_SIZE (MPICH, srun --mpi=pmi2), SLURM_STEP_NUM_TASKS
  // (srun); 0 when none is set (a process started by hand).
  int launcher_size = 0;
  std::string launcher_variable;
};

// Initialises MPI once per process (MPI_THREAD_FUNNELED: only the main thread calls MPI) and
// finalises it at exit.
class MpiContext {
 public:
  MpiContext(int* argc, char*** argv);
  ~MpiContext();
  MpiContext(const MpiContext&) = delete;
  MpiContext& operator=(const MpiContext&) = delete;
  const ProcessInfo& info() const { return info_; }
  // Empty when MPI's world has as many ranks as the launcher started; otherwise what went wrong
  // (typically srun starting N separate one-rank worlds because MPI was not given the PMI it
  // was built with) and what to do.
  std::string launcher_mismatch() const;
  // Ends every rank of the job with `code` after printing `message` (rank-tagged) to stderr.
  [[noreturn]] static void abort_job(int code, const std::string& message);

 private:
  ProcessInfo info_;
};

}  // namespace mvae::comm
