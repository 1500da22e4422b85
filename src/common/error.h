// Errors that say where: the file, the place in it, and what was wrong; the kinds of error the
// code throws (docs/architecture.md, "Errors") and the check macros of our own invariants and of
// every CUDA, NCCL and MPI call.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mvae {

// An error in an input file. `where` is free-form: "byte 1234", "row 17", "attribute bars".
class InputError : public std::runtime_error {
 public:
  InputError(std::string file, std::string where, const std::string& problem)
      : std::runtime_error(file + ": " + (where.empty() ? "" : where + ": ") + problem),
        file_(std::move(file)),
        where_(std::move(where)),
        problem_(problem) {}
  const std::string& file() const { return file_; }
  const std::string& where() const { return where_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string file_, where_, problem_;
};

// A bad option value or combination: names the setting. Programs exit with status 2 and the message.
// Library code names a setting by its field in braces ("{batch} 4096 exceeds ..."); the program
// that prints the message names its option there instead ("--batch 4096 exceeds ...", see
// in_option_words below), so no library knows the command line.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure while running that is neither bad input, nor a bad option, nor a bug: a device or
// library call that failed, a peer rank that died or stopped, a step whose numbers went
// non-finite, memory that ran out, a tool we call. The message says what happened, where (rank
// and host once known) and what to do.
class RunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A broken internal invariant (a bug, not a user mistake): raised by MVAE_CHECK with the source
// file and line.
class InternalError : public std::logic_error {
 public:
  InternalError(const char* file, int line, const std::string& what);
};

// Which process this is, for messages that must say which rank on which host failed: set once
// by a program that knows (train, once MPI is up); "" until then. train's last word on any error
// starts with process_tag(), so every message above reaches the user with its rank and host.
void set_process_identity(int rank, const std::string& host);
std::string process_prefix();  // "rank 3 on node07: ", or ""
std::string process_tag();     // "[rank 3 on node07] ", or ""

// A failed CUDA or NCCL call: throws RunError "<error> at <file>:<line> in <call>".
[[noreturn]] void fail_call(const std::string& error, const char* call, const char* file, int line);
// A failed MPI call: prints the same, after the rank and host, on stderr and ends the whole job
// (MPI_Abort), since a rank must never hang alone in a collective. Defined in comm/mpi_context.cpp, the one place MPI
// is linked.
[[noreturn]] void abort_on_mpi_error(int code, const char* call, const char* file, int line);

// `message` with every "{field}" (lower case and '_') replaced by option_of(field); the default
// wording is "--" and the field with '-' for '_' ("{init_from}" -> "--init-from").
using OptionNames = std::string (*)(const std::string& field);
std::string default_option_name(const std::string& field);
std::string in_option_words(const std::string& message, OptionNames option_of = default_option_name);

}  // namespace mvae

// Checks an internal invariant; `message` is evaluated only when it fails.
#define MVAE_CHECK(condition, message)                                                                             \
  do {                                                                                                             \
    if (!(condition))                                                                                              \
      throw ::mvae::InternalError(__FILE__, __LINE__, std::string("check '" #condition "' failed: ") + (message)); \
  } while (0)

// Library calls checked where they are made (each expands where its library's header is included).
#define MVAE_CUDA_CHECK(call)                                                                                  \
  do {                                                                                                         \
    const cudaError_t status_ = (call);                                                                        \
    if (status_ != cudaSuccess)                                                                                \
      ::mvae::fail_call(std::string("CUDA error: ") + cudaGetErrorString(status_), #call, __FILE__, __LINE__); \
  } while (0)

#define MVAE_NCCL_CHECK(call)                                                                                  \
  do {                                                                                                         \
    const ncclResult_t status_ = (call);                                                                       \
    if (status_ != ncclSuccess)                                                                                \
      ::mvae::fail_call(std::string("NCCL error: ") + ncclGetErrorString(status_), #call, __FILE__, __LINE__); \
  } while (0)

#define MVAE_MPI_CHECK(call)                                                                    \
  do {                                                                                          \
    const int status_ = (call);                                                                 \
    if (status_ != MPI_SUCCESS) ::mvae::abort_on_mpi_error(status_, #call, __FILE__, __LINE__); \
  } while (0)

namespace mvae {

// An exception's message without the C++ backtrace LibTorch appends to its own ("Exception raised
// from ..." and "frame #0: ..." lines): users get the sentence, not the stack.
inline std::string without_backtrace(const char* what) {
  std::string text(what);
  for (const char* marker : {"\nException raised from", "\nframe #0"}) {
    const size_t at = text.find(marker);
    if (at != std::string::npos) text.erase(at);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace mvae
