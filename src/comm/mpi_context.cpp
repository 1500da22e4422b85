#include "comm/mpi_context.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace mvae {

void abort_on_mpi_error(int code, const char* call, const char* file, int line) {
  char message[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, message, &length);
  std::string who = process_prefix();
  if (who.empty()) {  // before MpiContext knew the host
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    who = "rank " + std::to_string(rank) + ": ";
  }
  std::fprintf(stderr, "%sMPI error at %s:%d in %s: %s\n", who.c_str(), file, line, call, message);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

}  // namespace mvae

namespace mvae::comm {

MpiContext::MpiContext(int* argc, char*** argv) {
  // Before MPI_Init: a one-process world made by MPI itself may set these afterwards.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"}) {
    const char* value = std::getenv(name);
    if (value && std::atoi(value) > 0) {
      info_.launcher_size = std::atoi(value);
      info_.launcher_variable = name;
      break;
    }
  }
  int provided = 0;
  MVAE_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
  // Errors come back as codes we check, instead of MPI's default of aborting without context.
  MVAE_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  MVAE_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &info_.rank));
  MVAE_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &info_.world_size));
  MPI_Comm node;
  MVAE_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, info_.rank, MPI_INFO_NULL, &node));
  MVAE_MPI_CHECK(MPI_Comm_rank(node, &info_.local_rank));
  MVAE_MPI_CHECK(MPI_Comm_size(node, &info_.local_size));
  MVAE_MPI_CHECK(MPI_Comm_free(&node));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  info_.hostname = host;
  set_process_identity(info_.rank, info_.hostname);  // from now on errors say which rank on which host
}

std::string MpiContext::launcher_mismatch() const {
  if (info_.launcher_size == 0 || info_.launcher_size == info_.world_size) return "";
  return "the launcher started " + std::to_string(info_.launcher_size) + " processes (" + info_.launcher_variable +
         "=" + std::to_string(info_.launcher_size) + ") but MPI's world has " + std::to_string(info_.world_size) +
         " rank(s): each process would train alone. Under srun, pass the PMI your MPI was built with (srun --mpi=pmix "
         "or "
         "--mpi=pmi2; `srun --mpi=list` shows them), or start the ranks with mpirun inside the allocation";
}

MpiContext::~MpiContext() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiContext::abort_job(int code, const std::string& message) {
  int rank = -1, initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string tag = process_tag().empty() ? "[rank " + std::to_string(rank) + "] " : process_tag();
  std::fprintf(stderr, "%s%s\n", tag.c_str(), message.c_str());
  std::fflush(stderr);
  if (initialized) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace mvae::comm
