// Process-wide CPU settings for the training, evaluation and generation programs. Call
// tune_cpu() first thing in main: before any thread starts, so that every thread inherits it.
#pragma once

#include <string>

namespace mvae {

// Keeps freed memory in the heap instead of returning it to the OS. LibTorch on CPU allocates
// and frees large activation buffers every step; with glibc's defaults each one is a fresh
// mmap that page-faults on first touch, which costs ~1/3 of a training step here
// (docs/benchmarks.md). Same effect as running with jemalloc/tcmalloc.
void tune_allocator();

// Flushes denormal float results to zero and reads denormal inputs as zero (x86 FTZ and DAZ;
// a no-op elsewhere). Backpropagating through hundreds of LSTM steps shrinks gradients into
// the denormal range (below 1.2e-38), where every float operation takes ~100 cycles instead of
// one: a 16-bar training step was 5.4x slower without this (docs/benchmarks.md), and nothing
// a float32 model learns lives in that range. The setting is per thread; threads created
// afterwards (LibTorch's OpenMP pool, the batch loader) inherit it from their creator.
// PyTorch's torch.set_flush_denormal(True) sets the same two bits.
void flush_denormals();

// OpenBLAS (Debian's, under LibTorch) picks its kernels by CPU model when it loads, and
// 0.3.21 does not know recent Xeons: on this project's machines it fell back to "Prescott"
// (SSE3) kernels on a CPU with AVX-512, and a training step ran 3.6x slower (docs/benchmarks.md,
// "OpenBLAS kernels"). When the loaded OpenBLAS chose a core older than the CPU's instructions
// and OPENBLAS_CORETYPE is unset, this sets it (SkylakeX with AVX-512, Haswell with AVX2) and
// re-executes the program (same arguments, same process id, before any thread or MPI start),
// since OpenBLAS reads the variable only when it loads. A no-op with any other BLAS (MKL in
// PyTorch's wheels), on other CPUs, and when the variable is set. Returns the core chosen for
// the re-executed program, or "" (only when the re-execution failed, or nothing was done).
std::string use_the_cpus_blas_kernels();

// All of the above.
void tune_cpu();

}  // namespace mvae
