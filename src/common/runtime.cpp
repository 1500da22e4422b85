#include "common/runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace mvae {

void tune_allocator() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest glibc allows; buffers below it come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);   // do not hand freed heap back to the OS until 1 GiB is free
  mallopt(M_TOP_PAD, 256 << 20);        // grow the heap in big steps
}

void flush_denormals() {
#if defined(__x86_64__) || defined(__i386__)
  constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;  // MXCSR bits 15 and 6
  _mm_setcsr(_mm_getcsr() | kFlushToZero | kDenormalsAreZero);
#endif
}

std::string use_the_cpus_blas_kernels() {
#if defined(__x86_64__)
  if (std::getenv("OPENBLAS_CORETYPE")) return "";  // the user's choice, or ours before the re-execution
  using CoreName = char* (*)();
  const auto corename = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (corename == nullptr) return "";  // not OpenBLAS
  // OpenBLAS's names of the Intel cores before AVX2 (driver/others/dynamic.c).
  static const std::set<std::string> before_avx2 = {"Katmai",     "Coppermine", "Northwood",  "Prescott",
                                                    "Banias",     "Atom",       "Core2",      "Penryn",
                                                    "Dunnington", "Nehalem",    "Sandybridge"};
  if (!before_avx2.count(corename())) return "";
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const char* better = avx512                                                            ? "SkylakeX"
                       : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? "Haswell"
                                                                                         : nullptr;
  if (better == nullptr) return "";
  std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t at = 0; at < text.size();) {
    const size_t end = text.find('\0', at);
    args.push_back(text.substr(at, end - at));
    at = end == std::string::npos ? text.size() : end + 1;
  }
  if (args.empty()) return "";
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  setenv("OPENBLAS_CORETYPE", better, 1);
  execv("/proc/self/exe", argv.data());
  return better;  // exec failed: carry on with the kernels loaded (the variable stays set: no second try)
#else
  return "";
#endif
}

void tune_cpu() {
  use_the_cpus_blas_kernels();
  tune_allocator();
  flush_denormals();
}

}  // namespace mvae
