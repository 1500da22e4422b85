# Finds every dependency and fails with the variable to set when one is missing.
# Why each dependency is here: docs/dependencies.md.

macro(mvae_require found name hint)
  if(NOT ${found})
    message(FATAL_ERROR
      "${name} not found. ${hint}\n"
      "On Debian/Ubuntu: bash launch/setup.sh installs every dependency.")
  endif()
endmacro()

find_package(Threads REQUIRED)

# LibTorch: Debian's libtorch-dev (1.13, CPU) or the CUDA LibTorch inside a PyTorch wheel
# (python3 -c 'import torch;print(torch.utils.cmake_prefix_path)').
find_package(Torch QUIET)
mvae_require(Torch_FOUND "LibTorch"
  "Set Torch_DIR (or CMAKE_PREFIX_PATH) to the folder holding TorchConfig.cmake.")
# The wheel's TorchConfig finds libc10 with find_library(... PATHS <its lib>), which searches the
# system's folders first: with Debian's libtorch-dev installed too (as in CI) it added Debian's
# 1.13 libc10 beside the wheel's, and a program whose own objects need no c10 symbol loaded both
# (fault_tests stopped at start on a c10 assert). The wheel's own libc10, only.
if(EXISTS "${TORCH_INSTALL_PREFIX}/lib/libc10.so" AND NOT c10_LIBRARY STREQUAL "${TORCH_INSTALL_PREFIX}/lib/libc10.so")
  list(REMOVE_ITEM TORCH_LIBRARIES "${c10_LIBRARY}")
  set(c10_LIBRARY "${TORCH_INSTALL_PREFIX}/lib/libc10.so" CACHE FILEPATH "libc10 of the LibTorch found" FORCE)
endif()
# libstdc++ first among every program's shared libraries: the PyTorch wheel's libtorch.so exports
# std::filesystem functions of its own, and when it comes first our calls bind to those and crash
# (std::filesystem::remove_all jumped to address 0 against PyTorch 2.11's wheel). No effect with
# Debian's LibTorch, whose libraries export no such symbols.
add_link_options("LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")

find_package(MPI QUIET COMPONENTS CXX)
mvae_require(MPI_CXX_FOUND "MPI (C++)"
  "Set MPI_CXX_COMPILER to your mpicxx, or MPI_HOME to the MPI install prefix.")

find_package(HDF5 QUIET COMPONENTS C)
mvae_require(HDF5_FOUND "HDF5 (C library)"
  "Set HDF5_ROOT to the HDF5 install prefix (it holds include/hdf5.h).")

find_package(Boost 1.65 QUIET COMPONENTS program_options)
mvae_require(Boost_FOUND "Boost.Program_options"
  "Set Boost_ROOT (or BOOST_ROOT) to the Boost install prefix.")

# libzip through pkg-config: Debian's libzip-config.cmake needs the zipcmp tools installed.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(LIBZIP QUIET IMPORTED_TARGET libzip)
endif()
mvae_require(LIBZIP_FOUND "libzip"
  "Set PKG_CONFIG_PATH to the folder holding libzip.pc.")

find_package(nlohmann_json 3.2 QUIET CONFIG)
mvae_require(nlohmann_json_FOUND "nlohmann-json"
  "Set nlohmann_json_DIR to the folder holding nlohmann_jsonConfig.cmake.")

find_package(ZLIB REQUIRED)

# LevelDB's table code reads and writes TensorFlow checkpoint indexes (Magenta's models).
# Found by file, not by Debian's leveldbConfig.cmake, whose target also asks for a static
# libsnappy that only libsnappy-dev has (the shared libleveldb carries its own dependency).
find_path(LEVELDB_INCLUDE_DIR leveldb/table.h HINTS ${LEVELDB_ROOT} PATH_SUFFIXES include)
find_library(LEVELDB_LIBRARY leveldb HINTS ${LEVELDB_ROOT} PATH_SUFFIXES lib lib64)
if(LEVELDB_INCLUDE_DIR AND LEVELDB_LIBRARY)
  set(LEVELDB_FOUND TRUE)
endif()
mvae_require(LEVELDB_FOUND "LevelDB"
  "Set LEVELDB_ROOT to the LevelDB install prefix (it holds include/leveldb/table.h).")

# NCCL is optional. The GPU communicator (src/comm/nccl_communicator.cpp) is linked into the
# library when LibTorch has CUDA (libc10_cuda next to libtorch) and NCCL and the CUDA runtime are
# found: MVAE_NCCL = linked. With a CPU-only LibTorch but NCCL and CUDA headers present (the
# development machines), it is still compiled, not linked, so its code keeps building:
# MVAE_NCCL = compile-check. Otherwise: off, and asking for NCCL gives a clear error.
set(MVAE_CUDA_ROOT "/usr/local/cuda" CACHE PATH "CUDA toolkit root, searched for nccl.h and libnccl")
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${NCCL_ROOT} ${MVAE_CUDA_ROOT} ENV NCCL_ROOT PATH_SUFFIXES include)
find_library(NCCL_LIBRARY nccl HINTS ${NCCL_ROOT} ${MVAE_CUDA_ROOT} ENV NCCL_ROOT PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu)
if(NOT CUDAToolkit_ROOT AND EXISTS "${MVAE_CUDA_ROOT}")
  set(CUDAToolkit_ROOT "${MVAE_CUDA_ROOT}")
endif()
find_package(CUDAToolkit QUIET)
find_library(MVAE_C10_CUDA_LIBRARY c10_cuda HINTS "${TORCH_INSTALL_PREFIX}/lib" NO_DEFAULT_PATH)
set(MVAE_NCCL "off")
if(MVAE_WITH_NCCL AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY AND CUDAToolkit_FOUND)
  if(MVAE_C10_CUDA_LIBRARY)
    set(MVAE_NCCL "linked")
  else()
    set(MVAE_NCCL "compile-check")
  endif()
endif()
