// The end of every program's main: run the body, turn errors into a message and an exit code.
// 0 success; 1 an error in the inputs or while running; 2 a usage error (bad option or value).
// Settings named by their fields ("{batch}") are shown as the program's options (`option_of`).
#pragma once

#include <boost/program_options/errors.hpp>

#include <cstdio>
#include <exception>

#include "common/error.h"

namespace mvae {

template <typename Body>
int run_program(const char* name, Body body, OptionNames option_of = default_option_name) {
  try {
    return body();
  } catch (const boost::program_options::error& e) {
    std::fprintf(stderr, "%s: %s\n(see %s --help)\n", name, e.what(), name);
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n", name, in_option_words(e.what(), option_of).c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", name, in_option_words(without_backtrace(e.what()), option_of).c_str());
    return 1;
  }
}

}  // namespace mvae
