// preprocess on a small hand-made folder of MIDI files, and the shard reader over its output.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <future>
#include <set>
#include <thread>

#include "common/error.h"
#include "data/shards.h"
#include "midi/midi_file.h"
#include "preprocess/preprocess.h"
#include "test_util.h"

using namespace mvae;
namespace fs = std::filesystem;

namespace {

// A distinct 4-bar groove per seed: kick on quarters, a snare whose step depends on the seed.
std::vector<uint16_t> groove_tokens(int seed) {
  std::vector<uint16_t> tokens(64, 0);
  for (int s = 0; s < 64; s += 4) tokens[s] = 1;
  for (int b = 0; b < 4; ++b) tokens[b * 16 + 1 + (seed + b) % 3 * 4] |= 2;
  tokens[2 + seed % 7] |= 4;
  return tokens;
}

void write_folder(const fs::path& root, int good_files) {
  fs::create_directories(root / "sub");
  for (int i = 0; i < good_files; ++i) {
    const auto f = data::tokens_to_midi(groove_tokens(i), data::PitchMap::general_midi(), 120.0);
    midi::write_midi_file((root / "sub" / ("g" + std::to_string(i) + ".mid")).string(), f);
  }
  std::ofstream(root / "broken.mid", std::ios::binary) << "MThd garbage";
  auto waltz = data::tokens_to_midi(groove_tokens(0), data::PitchMap::general_midi(), 120.0);
  waltz.time_signatures = {{0, 3, 4}};
  midi::write_midi_file((root / "waltz.mid").string(), waltz);
}

preprocess::PreprocessOptions options(const fs::path& in, const fs::path& out) {
  preprocess::PreprocessOptions o;
  o.input = in.string();
  o.out = out.string();
  o.shard_size = 7;
  o.threads = 2;
  o.quiet = true;
  o.fractions.validation = 0.2;
  o.fractions.test = 0.2;
  return o;
}

nlohmann::json load_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

}  // namespace

class ShardsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    write_folder(dir.path() / "midi", 24);
    summary = preprocess::run_preprocess(options(dir.path() / "midi", out()));
  }
  fs::path out() const { return dir.path() / "shards"; }
  test::TempDir dir;
  preprocess::PreprocessSummary summary;
};

TEST_F(ShardsTest, WritesShardsManifestAndSkipReport) {
  EXPECT_EQ(summary.files, 26);
  EXPECT_EQ(summary.files_skipped, 2);
  const auto manifest = load_json(out() / "manifest.json");
  EXPECT_EQ(manifest["format_version"], data::kShardFormatVersion);
  EXPECT_EQ(manifest["statistics"]["split_source"], "path hash");
  int64_t total = 0;
  for (const char* split : {"train", "validation", "test"}) {
    int64_t rows = 0;
    for (const auto& s : manifest["splits"][split]["shards"]) {
      EXPECT_LE(s["rows"].get<int64_t>(), 7);
      EXPECT_TRUE(fs::exists(out() / s["file"].get<std::string>()));
      rows += s["rows"].get<int64_t>();
    }
    EXPECT_EQ(rows, manifest["splits"][split]["windows"].get<int64_t>());
    total += rows;
  }
  EXPECT_EQ(total, 24 * 3);  // 3 distinct two-bar windows per 4-bar groove
  const auto skipped = load_json(out() / "skipped.json");
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_EQ(skipped[0]["file"], "broken.mid");
  EXPECT_EQ(skipped[0]["reason"], "parse_error");
  EXPECT_NE(skipped[0]["detail"].get<std::string>().find("broken.mid: byte"), std::string::npos);
  EXPECT_EQ(skipped[1]["file"], "waltz.mid");
  EXPECT_EQ(skipped[1]["reason"], "meter");
  // No staging folder is left behind.
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos);
}

TEST_F(ShardsTest, ReaderGivesBackEveryWindowWithItsSource) {
  data::ShardSet set(out());
  EXPECT_EQ(set.representation().bars, 2);
  EXPECT_EQ(set.representation().window_steps(), 32);
  std::set<std::vector<uint16_t>> seen;
  for (const char* split : {"train", "validation", "test"}) {
    for (int64_t i = 0; i < set.size(split); ++i) {
      const auto w = set.read_window(split, i);
      EXPECT_EQ(set.files().at(w.file_id).split, split);
      // The window is the source groove's bars start_bar..start_bar+1.
      const std::string name = fs::path(set.files().at(w.file_id).path).stem().string();
      const auto src = groove_tokens(std::stoi(name.substr(1)));
      EXPECT_EQ(w.tokens, std::vector<uint16_t>(src.begin() + w.start_bar * 16, src.begin() + w.start_bar * 16 + 32));
      seen.insert(w.tokens);
      EXPECT_EQ(set.source(split, i).file_id, w.file_id);
      EXPECT_EQ(set.source(split, i).start_bar, w.start_bar);
      std::vector<uint16_t> batch(32);
      set.read_tokens(split, {i}, batch.data());
      EXPECT_EQ(batch, w.tokens);
    }
  }
  // A window past the end is a caller's bug; a split that is not there is the user's mistake.
  EXPECT_THROW(set.read_window("train", set.size("train")), InternalError);
  try {
    set.read_window("valid", 0);
    FAIL() << "no error for an unknown split";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("split 'valid' is not in the shard folder"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test, train, validation"), std::string::npos) << e.what();
  }
}

// HDF5 is not thread-safe here: once a thread claims the set (the trainer's loader does), a read
// from any other thread fails loudly instead of racing; released, any thread may read again.
TEST_F(ShardsTest, OnlyTheClaimingThreadMayRead) {
  data::ShardSet set(out());
  std::vector<uint16_t> tokens(32);
  std::promise<void> claimed, done;
  std::thread owner([&] {
    set.claim_reader();
    claimed.set_value();
    done.get_future().wait();
    std::vector<uint16_t> own(32);
    set.read_tokens("train", {0}, own.data());  // the owner reads
    set.release_reader();
  });
  claimed.get_future().wait();
  EXPECT_THROW(set.read_tokens("train", {0}, tokens.data()), InternalError);
  EXPECT_THROW(set.source("validation", 0), InternalError);
  done.set_value();
  owner.join();
  set.read_tokens("train", {0}, tokens.data());
  EXPECT_EQ(tokens, set.read_window("train", 0).tokens);
}

TEST_F(ShardsTest, TrainingWindowsAreShuffledAcrossShards) {
  data::ShardSet set(out());
  // Unshuffled, the first shard would hold the windows of the first few files only.
  std::set<int32_t> files_in_first_shard;
  for (int64_t i = 0; i < std::min<int64_t>(7, set.size("train")); ++i) files_in_first_shard.insert(set.source("train", i).file_id);
  EXPECT_GT(files_in_first_shard.size(), 3u);
}

TEST_F(ShardsTest, RefusesNonEmptyOutputUnlessForced) {
  EXPECT_THROW(preprocess::run_preprocess(options(dir.path() / "midi", out())), UsageError);
  auto o = options(dir.path() / "midi", out());
  o.force = true;
  o.tokenizer.bars = 4;
  preprocess::run_preprocess(o);
  EXPECT_EQ(data::ShardSet(out()).representation().bars, 4);
}

TEST_F(ShardsTest, CorruptTruncatedOrMissingShardsGiveClearErrors) {
  const auto manifest = load_json(out() / "manifest.json");
  const fs::path shard = out() / manifest["splits"]["train"]["shards"][0]["file"].get<std::string>();
  {  // flip one byte in the middle
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(shard) / 2));
    f.put('\x5A');
  }
  try {
    data::ShardSet set(out());
    FAIL() << "corrupt shard accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), shard.string());
    EXPECT_NE(e.problem().find("CRC-32"), std::string::npos) << e.what();
  }
  fs::resize_file(shard, fs::file_size(shard) - 100);
  try {
    data::ShardSet set(out());
    FAIL() << "truncated shard accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), shard.string());
    EXPECT_NE(e.problem().find("truncated"), std::string::npos) << e.what();
  }
  fs::remove(shard);
  EXPECT_THROW(data::ShardSet set(out()), InputError);
  fs::remove(out() / "manifest.json");
  try {
    data::ShardSet set(out());
    FAIL() << "folder without manifest accepted";
  } catch (const InputError& e) {
    EXPECT_NE(e.problem().find("missing"), std::string::npos) << e.what();
  }
}
