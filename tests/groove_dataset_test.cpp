// Integration test on the real Groove MIDI Dataset (MVAE_GROOVE_ZIP, set by .ci/run).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "data/shards.h"
#include "midi/midi_file.h"
#include "preprocess/preprocess.h"
#include "test_util.h"

using namespace mvae;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class GrooveDataset : public ::testing::Test {
 protected:
  void SetUp() override {
    zip = test::groove_zip();
    if (zip.empty()) GTEST_SKIP() << "MVAE_GROOVE_ZIP not set: the Groove dataset is not available";
  }
  preprocess::PreprocessOptions options(const fs::path& out) const {
    preprocess::PreprocessOptions o;
    o.input = zip;
    o.out = out.string();
    o.quiet = true;
    o.shard_size = 4096;
    return o;
  }
  std::string zip;
  test::TempDir dir;
};

}  // namespace

TEST_F(GrooveDataset, SplitsFollowInfoCsvAndCountsAgreeEverywhere) {
  const auto summary = preprocess::run_preprocess(options(dir.path() / "a"));
  EXPECT_EQ(summary.files, 1150);
  std::ifstream in(dir.path() / "a" / "manifest.json");
  const auto manifest = nlohmann::json::parse(in);
  // The published splits: 897 / 124 / 129 files.
  EXPECT_EQ(manifest["splits"]["train"]["files"], 897);
  EXPECT_EQ(manifest["splits"]["validation"]["files"], 124);
  EXPECT_EQ(manifest["splits"]["test"]["files"], 129);
  // Windows per split = the sum over that split's files = what the reader sees.
  std::map<std::string, int64_t> per_split;
  for (const auto& f : manifest["files"]) per_split[f["split"]] += f["windows"].get<int64_t>();
  data::ShardSet set(dir.path() / "a");
  for (const char* split : {"train", "validation", "test"}) {
    EXPECT_GT(per_split[split], 1000) << split;
    EXPECT_EQ(per_split[split], summary.windows.at(split)) << split;
    EXPECT_EQ(set.size(split), summary.windows.at(split)) << split;
  }
  // Every skipped file has a reason; the Groove files are all well-formed MIDI.
  const auto& skipped = manifest["statistics"]["skipped_by_reason"];
  EXPECT_EQ(skipped.count("parse_error"), 0u);
  EXPECT_GT(skipped.value("meter", 0), 0);  // 3/4, 6/8 and 5/4 performances
}

TEST_F(GrooveDataset, SameInputSameBytes) {
  preprocess::run_preprocess(options(dir.path() / "a"));
  auto o = options(dir.path() / "b");
  o.threads = 1;  // thread count must not change the output
  preprocess::run_preprocess(o);
  size_t compared = 0;
  for (const auto& e : fs::directory_iterator(dir.path() / "a")) {
    const fs::path twin = dir.path() / "b" / e.path().filename();
    ASSERT_TRUE(fs::exists(twin)) << twin;
    EXPECT_TRUE(slurp(e.path()) == slurp(twin)) << e.path().filename() << " differs";
    ++compared;
  }
  EXPECT_GE(compared, 5u);
}

TEST_F(GrooveDataset, DecodedWindowsTokenizeToThemselves) {
  auto o = options(dir.path() / "a");
  o.tokenizer.bars = 4;
  preprocess::run_preprocess(o);
  data::ShardSet set(dir.path() / "a");
  const data::PitchMap map = data::PitchMap::general_midi();
  data::TokenizerOptions tok;
  tok.bars = 4;
  int checked = 0;
  for (const char* split : {"train", "test"}) {
    for (int64_t i = 0; i < set.size(split); i += 7) {
      const auto w = set.read_window(split, i);
      const auto f = data::tokens_to_midi(w.tokens, map, 120.0, &w.velocities, &w.offsets);
      const auto bytes = midi::encode_midi(f);
      const auto again = data::tokenize_drums(midi::parse_midi(bytes.data(), bytes.size(), "decoded"), map, tok);
      ASSERT_EQ(again.windows.size(), 1u) << split << " window " << i;
      EXPECT_EQ(again.windows[0].tokens, w.tokens) << split << " window " << i;
      EXPECT_EQ(again.windows[0].velocities, w.velocities) << split << " window " << i;
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000);
}
