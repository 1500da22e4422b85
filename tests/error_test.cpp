// common/error.h: library messages name settings by field; programs show their options.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/error.h"
#include "common/files.h"
#include "test_util.h"

using namespace mvae;

namespace {

std::string model_wording(const std::string& field) { return field == "max_beta" ? "--beta" : "--" + field; }

}  // namespace

TEST(OptionWords, FieldsInBracesBecomeTheProgramsOptions) {
  EXPECT_EQ(in_option_words("{init_from} a.pt: no such file; pass {lstm_bias_lr_scale} 1"),
            "--init-from a.pt: no such file; pass --lstm-bias-lr-scale 1");
  EXPECT_EQ(in_option_words("{max_beta} must be >= 0", model_wording), "--beta must be >= 0");
  // Braces that do not hold a field stay as they are (JSON in a message, an empty pair, an open one).
  EXPECT_EQ(in_option_words("expected {\"name\": 1} or {} or {Batch} or {batch"),
            "expected {\"name\": 1} or {} or {Batch} or {batch");
  EXPECT_EQ(in_option_words("no settings here"), "no settings here");
}

TEST(OptionWords, AStagingFolderNamesTheSettingsThatFixIt) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "out");
  write_file_atomic(dir.path() / "out" / "kept.txt", "x");
  try {
    StagingDir staging(dir.path() / "out", /*force=*/false);
    FAIL() << "a non-empty folder was taken";
  } catch (const UsageError& e) {
    const std::string shown = in_option_words(e.what());
    EXPECT_NE(shown.find("--out " + (dir.path() / "out").string() + " exists and is not empty; pass --force"),
              std::string::npos)
        << shown;
  }
}
