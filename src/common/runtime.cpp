#include "common/runtime.h"

#include <malloc.h>

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

void tune_cpu() {
  tune_allocator();
  flush_denormals();
}

}  // namespace mvae
