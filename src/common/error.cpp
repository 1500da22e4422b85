#include "common/error.h"

namespace mvae {
namespace {

std::string& identity() {
  static std::string text;  // set once, before the threads that may throw start
  return text;
}

}  // namespace

void set_process_identity(int rank, const std::string& host) {
  identity() = "rank " + std::to_string(rank) + " on " + host + ": ";
}

std::string process_prefix() { return identity(); }

std::string process_tag() {
  const std::string& who = identity();
  return who.empty() ? "" : "[" + who.substr(0, who.size() - 2) + "] ";
}

InternalError::InternalError(const char* file, int line, const std::string& what)
    : std::logic_error(std::string("internal error at ") + file + ":" + std::to_string(line) + ": " + what) {}

void fail_call(const std::string& error, const char* call, const char* file, int line) {
  throw RunError(error + " at " + file + ":" + std::to_string(line) + " in " + call);
}

}  // namespace mvae
