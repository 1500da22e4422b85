// A test suite whose tests share one folder of synthetic 2-bar shards (test::make_synthetic_shards),
// made once per suite; each test gets a fresh temporary folder of its own in `root`.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace mvae::test {

class SyntheticShardsSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    shards_ = make_synthetic_shards(dir_->path());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static inline TempDir* dir_ = nullptr;
  static inline std::filesystem::path shards_;
  TempDir root;
};

}  // namespace mvae::test
