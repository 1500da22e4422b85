// The main of the test programs that run LibTorch in-process: GoogleTest's own, after picking
// OpenBLAS's kernels for this CPU the way the programs do (common/runtime.h). Without it an
// in-process model test on Debian's LibTorch runs OpenBLAS's pre-AVX2 kernels on a recent Xeon,
// about 3x slower than the programs it tests.
#include <gtest/gtest.h>

#include "common/runtime.h"

int main(int argc, char** argv) {
  mvae::use_the_cpus_blas_kernels();  // re-executes the test program once when it changes the kernels
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
