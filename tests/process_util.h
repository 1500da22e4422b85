// Running programs from tests: a shell command with its output and exit status, and the
// mpirun prefix that works as root and with more ranks than cores.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace mvae::test {

struct ProcessRun {
  int status = -1;     // exit code, or 128 + signal
  std::string output;  // stdout and stderr together
  double seconds = 0;
};

inline ProcessRun run(const std::string& cmd) {
  const auto t0 = std::chrono::steady_clock::now();
  ProcessRun r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

inline std::string mpirun(int ranks) {
  std::string cmd = "mpirun -np " + std::to_string(ranks) + " --oversubscribe";
  if (geteuid() == 0) cmd += " --allow-run-as-root";
  return cmd;
}

// The pid of the MPI rank `rank` (its OMPI_COMM_WORLD_RANK) whose command line holds `part`, or 0.
inline pid_t rank_process(int rank, const std::string& part) {
  const auto read = [](const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string wanted = std::string("OMPI_COMM_WORLD_RANK=") + std::to_string(rank) + '\0';
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (read(e.path() / "cmdline").find(part) == std::string::npos) continue;
    if (read(e.path() / "environ").find(wanted) != std::string::npos) return static_cast<pid_t>(std::stoi(name));
  }
  return 0;
}

}  // namespace mvae::test
