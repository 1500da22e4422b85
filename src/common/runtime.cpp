#include "common/runtime.h"

#include <malloc.h>

namespace mvae {

void tune_allocator() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest glibc allows; buffers below it come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);   // do not hand freed heap back to the OS until 1 GiB is free
  mallopt(M_TOP_PAD, 256 << 20);        // grow the heap in big steps
}

}  // namespace mvae
