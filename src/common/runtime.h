// Process-wide settings for the training and generation programs.
#pragma once

namespace mvae {

// Keeps freed memory in the heap instead of returning it to the OS. LibTorch on CPU allocates
// and frees large activation buffers every step; with glibc's defaults each one is a fresh
// mmap that page-faults on first touch, which costs ~1/3 of a training step here
// (docs/benchmarks.md). Same effect as running with jemalloc/tcmalloc.
void tune_allocator();

}  // namespace mvae
