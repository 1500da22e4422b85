// Errors that say where: the file, the place in it, and what was wrong.
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

// A bad option value or combination: names the option. Programs exit with status 2 and the message.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A broken internal invariant (a bug, not a user mistake): raised by MVAE_CHECK with the source
// file and line.
class InternalError : public std::logic_error {
 public:
  InternalError(const char* file, int line, const std::string& what)
      : std::logic_error(std::string("internal error at ") + file + ":" + std::to_string(line) + ": " + what) {}
};

}  // namespace mvae

// Checks an internal invariant; `message` is evaluated only when it fails.
#define MVAE_CHECK(condition, message)                                 \
  do {                                                                 \
    if (!(condition)) throw ::mvae::InternalError(__FILE__, __LINE__, \
                                                  std::string("check '" #condition "' failed: ") + (message)); \
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
