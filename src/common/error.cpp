#include "common/error.h"

#include <algorithm>
#include <cctype>

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

std::string default_option_name(const std::string& field) {
  std::string name = "--" + field;
  for (char& c : name)
    if (c == '_') c = '-';
  return name;
}

std::string in_option_words(const std::string& message, OptionNames option_of) {
  std::string out;
  size_t at = 0;
  while (at < message.size()) {
    const size_t open = message.find('{', at);
    if (open == std::string::npos) break;
    size_t end = open + 1;
    while (end < message.size() && (std::islower(static_cast<unsigned char>(message[end])) || message[end] == '_'))
      ++end;
    out += message.substr(at, open - at);
    if (end > open + 1 && end < message.size() && message[end] == '}') {
      out += option_of(message.substr(open + 1, end - open - 1));
      at = end + 1;
    } else {
      out += '{';
      at = open + 1;
    }
  }
  return out + message.substr(std::min(at, message.size()));
}

void fail_call(const std::string& error, const char* call, const char* file, int line) {
  throw RunError(error + " at " + file + ":" + std::to_string(line) + " in " + call);
}

}  // namespace mvae
