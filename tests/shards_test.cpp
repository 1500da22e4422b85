// preprocess on a small hand-made folder of MIDI files, and the shard reader over its output.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "data/dataset_source.h"
#include "data/hdf5_util.h"
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
      const int32_t file_id = set.source(split, i).file_id;
      EXPECT_EQ(set.files().at(file_id).split, split);
      // The window is the source groove's bars start_bar..start_bar+1.
      const std::string name = fs::path(set.files().at(file_id).path).stem().string();
      const auto src = groove_tokens(std::stoi(name.substr(1)));
      EXPECT_EQ(w.tokens, std::vector<uint16_t>(src.begin() + w.start_bar * 16, src.begin() + w.start_bar * 16 + 32));
      seen.insert(w.tokens);
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

// The trainer keeps the decompressed arrays in memory (--loader-memory-mb): batches read from
// there must be the windows the files hold, across shard boundaries, within the budget given.
TEST_F(ShardsTest, ResidentArraysReadAsTheFilesAndKeepToTheBudget) {
  data::ShardSet files(out()), memory(out());
  memory.set_resident_budget(int64_t{1} << 30);
  const int64_t T = 32, C = 9;
  for (const char* split : {"train", "validation", "test"}) {
    const int64_t n = files.size(split);
    ASSERT_GT(n, 7) << split << " needs windows in more than one shard";
    std::vector<int64_t> indices;  // every window once, in an order that jumps between shards
    for (int64_t i = 0; i < n; ++i) indices.push_back((i * 5 + 3) % n);
    if (n % 5 == 0) indices.assign({n - 1, 0, n / 2, 1});
    const size_t k = indices.size();
    std::vector<uint16_t> tokens_f(k * T), tokens_m(k * T);
    std::vector<uint8_t> velocities_f(k * T * C), velocities_m(k * T * C);
    std::vector<float> offsets_f(k * T * C), offsets_m(k * T * C);
    files.read_tokens(split, indices, tokens_f.data());
    memory.read_tokens(split, indices, tokens_m.data());
    files.read_expressive(split, indices, velocities_f.data(), offsets_f.data());
    memory.read_expressive(split, indices, velocities_m.data(), offsets_m.data());
    EXPECT_EQ(tokens_m, tokens_f) << split;
    EXPECT_EQ(velocities_m, velocities_f) << split;
    EXPECT_EQ(offsets_m, offsets_f) << split;
    EXPECT_GT(*std::max_element(velocities_m.begin(), velocities_m.end()), 0) << "the fixture has hits";
    EXPECT_THROW(memory.read_tokens(split, {n}, tokens_m.data()), InternalError);
  }
  int64_t all_rows = 0;
  for (const char* split : {"train", "validation", "test"}) all_rows += files.size(split);
  EXPECT_EQ(memory.resident_bytes(), all_rows * T * (2 + C * 5));  // tokens, velocities, offsets
  EXPECT_EQ(files.resident_bytes(), 0);

  // A budget for the tokens only: velocities and offsets stay on the files (both, not one), and
  // every read still gives the same windows.
  const int64_t rows = files.size("train");
  data::ShardSet tight(out());
  tight.set_resident_budget(rows * T * 2 + rows * T * C * 2);
  std::vector<uint16_t> tokens(T);
  std::vector<uint8_t> velocities(T * C), velocities_f(T * C);
  std::vector<float> offsets(T * C), offsets_f(T * C);
  tight.read_tokens("train", {rows - 1}, tokens.data());
  tight.read_expressive("train", {rows - 1}, velocities.data(), offsets.data());
  files.read_expressive("train", {rows - 1}, velocities_f.data(), offsets_f.data());
  EXPECT_EQ(tight.resident_bytes(), rows * T * 2);
  EXPECT_EQ(tokens, files.read_window("train", rows - 1).tokens);
  EXPECT_EQ(velocities, velocities_f);
  EXPECT_EQ(offsets, offsets_f);
}

// A folder with an info.csv and MIDI files it does not list, and a second info.csv deeper down:
// the shallowest is read, and nothing is dropped in silence (the others' files are split by
// path hash, and the listing names what it did).
TEST(DatasetListing, FilesOutsideTheInfoCsvAreKeptAndNamed) {
  test::TempDir dir;
  const fs::path root = dir.path() / "groove";
  fs::create_directories(root / "drummer1");
  fs::create_directories(root / "extra");
  const auto write = [&](const fs::path& p, int seed) {
    midi::write_midi_file(p.string(), data::tokens_to_midi(groove_tokens(seed), data::PitchMap::general_midi(), 100.0));
  };
  write(root / "drummer1" / "a.mid", 1);
  write(root / "drummer1" / "b.mid", 2);
  write(root / "unlisted.mid", 3);
  write(root / "extra" / "c.mid", 4);
  const std::string header =
      "drummer,session,id,style,bpm,beat_type,time_signature,midi_filename,audio_filename,duration,split\n";
  std::ofstream(root / "info.csv") << header << "d1,s,1,funk,100,beat,4-4,drummer1/a.mid,,1,train\n"
                                   << "d1,s,2,rock,100,fill,4-4,drummer1/b.mid,,1,test\n";
  std::ofstream(root / "extra" / "info.csv") << header << "d2,s,3,jazz,90,beat,4-4,c.mid,,1,validation\n";
  const data::DatasetListing listing = data::load_dataset(root.string(), {});
  ASSERT_EQ(listing.files.size(), 4u);
  std::map<std::string, data::SourceFile> by_path;
  for (const auto& f : listing.files) by_path[f.path] = f;
  EXPECT_EQ(by_path.at("drummer1/a.mid").split, "train");
  EXPECT_EQ(by_path.at("drummer1/a.mid").style, "funk");
  EXPECT_EQ(by_path.at("drummer1/b.mid").split, "test");
  for (const char* unlisted : {"unlisted.mid", "extra/c.mid"}) {
    ASSERT_TRUE(by_path.count(unlisted)) << unlisted;
    EXPECT_EQ(by_path.at(unlisted).split, data::split_by_hash(unlisted, {})) << unlisted;
    EXPECT_TRUE(by_path.at(unlisted).style.empty()) << unlisted;
  }
  std::string problems;
  for (const auto& p : listing.problems) problems += p + "\n";
  EXPECT_NE(problems.find("extra/info.csv: another info.csv, not read"), std::string::npos) << problems;
  EXPECT_NE(problems.find("2 MIDI files not listed in"), std::string::npos) << problems;
}

// The training split holds every training window once, in the order --seed shuffles it to (the
// same seed the same order, another seed another), not in file order, across shard boundaries.
TEST_F(ShardsTest, TrainingWindowsAreShuffledAcrossShards) {
  const auto training_order = [](const fs::path& folder) {
    data::ShardSet set(folder);
    std::vector<std::pair<int32_t, int32_t>> order;  // (file, start bar) of each training window
    for (int64_t i = 0; i < set.size("train"); ++i)
      order.emplace_back(set.source("train", i).file_id, set.source("train", i).start_bar);
    return order;
  };
  const auto order = training_order(out());
  ASSERT_GT(order.size(), 14u) << "the fixture spans more than two shards of 7";
  auto sorted = order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "a window twice";
  size_t in_place = 0;  // windows where file order would put them
  for (size_t i = 0; i < order.size(); ++i) in_place += order[i] == sorted[i];
  EXPECT_LT(in_place, order.size() / 4) << "mostly in file order";
  std::set<int32_t> files_in_first_shard;
  for (size_t i = 0; i < 7; ++i) files_in_first_shard.insert(order[i].first);
  EXPECT_GT(files_in_first_shard.size(), 3u);

  auto same = options(dir.path() / "midi", dir.path() / "same-seed");
  preprocess::run_preprocess(same);
  EXPECT_EQ(training_order(same.out), order) << "the same seed gave another order";
  auto other = options(dir.path() / "midi", dir.path() / "other-seed");
  other.seed += 1;
  preprocess::run_preprocess(other);
  const auto reshuffled = training_order(other.out);
  EXPECT_NE(reshuffled, order) << "--seed did not change the order";
  auto resorted = reshuffled;
  std::sort(resorted.begin(), resorted.end());
  EXPECT_EQ(resorted, sorted) << "another seed gave other windows";
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

// A token id past the vocabulary (a damaged or foreign shard whose manifest still matches) is
// refused when read, naming the file, row and step, from the files and from memory alike.
TEST_F(ShardsTest, ATokenOutsideTheVocabularyIsRefusedNamingTheShardAndRow) {
  auto manifest = load_json(out() / "manifest.json");
  auto& entry = manifest["splits"]["train"]["shards"][0];
  const fs::path shard = out() / entry["file"].get<std::string>();
  {
    data::h5::Handle file(H5Fopen(shard.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_GE(file.get(), 0);
    data::h5::Handle tokens(H5Dopen2(file.get(), "tokens", H5P_DEFAULT));
    data::h5::Handle space(H5Dget_space(tokens.get()));
    const hsize_t start[2] = {3, 5}, count[2] = {1, 1};
    H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
    data::h5::Handle one(H5Screate_simple(2, count, nullptr));
    const uint16_t bad = 600;
    ASSERT_GE(H5Dwrite(tokens.get(), H5T_NATIVE_UINT16, one.get(), space.get(), H5P_DEFAULT, &bad), 0);
  }
  entry["bytes"] = static_cast<int64_t>(fs::file_size(shard));
  entry["crc32"] = crc32_hex(file_crc32(shard));
  write_file_atomic(out() / "manifest.json", manifest.dump(2));
  for (const int64_t budget : {int64_t{0}, int64_t{1} << 30}) {
    data::ShardSet set(out());
    set.set_resident_budget(budget);
    std::vector<uint16_t> ids(static_cast<size_t>(set.representation().window_steps()) * 4);
    try {
      set.read_tokens("train", {0, 1, 2, 3}, ids.data());
      FAIL() << "token 600 accepted (resident budget " << budget << ")";
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), shard.string());
      EXPECT_EQ(e.where(), "tokens row 3 step 5");
      EXPECT_NE(e.problem().find("token id 600 is outside the vocabulary (0..511)"), std::string::npos) << e.what();
    }
  }
}
