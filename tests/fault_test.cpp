// Faults injected for real, on the real programs: a lost or broken `latest` link, two trainers on
// one run folder, Ctrl-C, a disk that fills during a checkpoint and during generate (a small
// tmpfs, where mounting is allowed), preprocess pointed at its own input, options that are not
// numbers. Each asserts the message, the exit status, and that what was there before survives.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/files.h"
#include "midi/midi_file.h"
#include "model/checkpoint_files.h"
#include "process_util.h"
#include "shards_fixture.h"
#include "test_util.h"

using namespace mvae;
namespace fs = std::filesystem;

namespace {

using test::run;

std::string train(const fs::path& shards, const fs::path& run_dir, int steps, const std::string& extra = "", int checkpoint_every = 2) {
  return std::string(MVAE_TRAIN_BIN) + " --data " + shards.string() + " --run " + run_dir.string() + " --preset tiny --batch 8 --steps " +
         std::to_string(steps) + " --threads 1 --log-every 1000 --eval-every 1000 --eval-windows 16 --checkpoint-every " +
         std::to_string(checkpoint_every) + " " + extra;
}

std::string latest_of(const fs::path& run_dir) { return model::linked_checkpoint(run_dir / "checkpoints", "latest"); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A tmpfs of `kib` KiB at `where` while the object lives; skipped tests say why it is not there.
class SmallDisk {
 public:
  SmallDisk(const fs::path& where, int kib) : where_(where) {
    fs::create_directories(where);
    if (geteuid() != 0) {
      why_not_ = "mounting a small tmpfs needs root";
      return;
    }
    const std::string size = "size=" + std::to_string(kib) + "k";
    if (::mount("tmpfs", where.c_str(), "tmpfs", 0, size.c_str()) != 0) {
      why_not_ = std::string("cannot mount a tmpfs here: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(where_.c_str(), MNT_DETACH);
  }
  const std::string& why_not() const { return why_not_; }
  // Fills the disk up to `leave_kib` KiB free with one file, which fill_path() names.
  void fill(int leave_kib) {
    std::ofstream f(fill_path(), std::ios::binary);
    std::vector<char> block(4096, 'x');
    while (fs::space(where_).available > static_cast<uintmax_t>(leave_kib) * 1024 + block.size() && f.write(block.data(), block.size())) f.flush();
  }
  fs::path fill_path() const { return where_ / "filler"; }

 private:
  fs::path where_;
  bool mounted_ = false;
  std::string why_not_;
};

class Faults : public test::SyntheticShardsSuite {};

}  // namespace

// The checkpoints are the truth, `latest` only a hint: lost, emptied or pointing nowhere, it
// neither restarts the run from step 0 nor hides the checkpoints from generate.
TEST_F(Faults, ResumeAndGenerateFindTheCheckpointsWhateverHappenedToLatest) {
  for (const std::string breakage : {"removed", "empty", "dangling"}) {
    const fs::path r = root.path() / breakage;
    ASSERT_EQ(run(train(shards_, r, 4)).status, 0);
    const fs::path link = r / "checkpoints" / "latest";
    if (breakage == "removed") fs::remove(link);
    if (breakage == "empty") std::ofstream(link).close();
    if (breakage == "dangling") std::ofstream(link) << "step-00000099\n";

    const auto fresh = run(train(shards_, r, 6));  // a new run over the old one is still refused
    EXPECT_EQ(fresh.status, 2) << fresh.output;
    EXPECT_TRUE(contains(fresh.output, "already holds checkpoints")) << fresh.output;

    const auto sampled = run(std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + r.string() + " --n 1 --out " + (r / "s").string());
    EXPECT_EQ(sampled.status, 0) << breakage << ": " << sampled.output;
    EXPECT_TRUE(contains(sampled.output, "using the newest complete checkpoint, step-00000004")) << sampled.output;

    const auto resumed = run(train(shards_, r, 6, "--resume"));
    ASSERT_EQ(resumed.status, 0) << resumed.output;
    EXPECT_TRUE(contains(resumed.output, "resumed from " + (r / "checkpoints" / "step-00000004").string() + " at step 4")) << resumed.output;
    EXPECT_FALSE(contains(resumed.output, "starting from step 0")) << resumed.output;
    EXPECT_EQ(latest_of(r), "step-00000006");
  }
}

// One writer per run folder: a second trainer is refused naming the first (its pid), writes
// nothing; Ctrl-C on the first checkpoints and exits 75, and the run then resumes.
TEST_F(Faults, ASecondTrainerOnARunIsRefusedAndCtrlCCheckpoints) {
  const fs::path r = root.path() / "run";
  test::ProcessRun first;
  std::thread background([&] { first = run(train(shards_, r, 1000000, "", /*checkpoint_every=*/1000000)); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string holder;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(r / "config.json") && fs::exists(r / "lock")) holder = read_text_file(r / "lock");
    if (!holder.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const bool locked = holder.rfind("pid ", 0) == 0;
  EXPECT_TRUE(locked) << "the first trainer never took the lock: '" << holder << "'";
  const pid_t pid = locked ? std::stoi(holder.substr(4)) : 0;
  if (locked) {
    const uintmax_t config_before = fs::file_size(r / "config.json");
    const auto second = run(train(shards_, r, 10, "--resume"));
    EXPECT_EQ(second.status, 2) << second.output;
    EXPECT_TRUE(contains(second.output, "is in use by pid " + std::to_string(pid))) << second.output;
    EXPECT_FALSE(contains(second.output, "MPI_ABORT")) << "a usage error in one process ends with our message only: " << second.output;
    EXPECT_EQ(fs::file_size(r / "config.json"), config_before) << "the refused trainer wrote into the run";
  }
  // Ctrl-C (a terminal sends SIGINT); without the pid, end the first trainer through its shell.
  if (locked) ::kill(pid, SIGINT);
  else std::system(("pkill -INT -f -- '--run " + r.string() + " '").c_str());
  background.join();
  ASSERT_TRUE(locked) << first.output;
  EXPECT_EQ(first.status, 75) << first.output;
  EXPECT_TRUE(contains(first.output, "stopped by signal")) << first.output;
  const std::string stopped_at = latest_of(r);
  ASSERT_FALSE(stopped_at.empty()) << "Ctrl-C left no checkpoint";
  EXPECT_EQ(model::verify_checkpoint(r / "checkpoints" / stopped_at), "");
  for (const auto& e : fs::directory_iterator(r / "checkpoints")) EXPECT_NE(e.path().extension(), ".tmp") << e.path();

  const auto resumed = run(train(shards_, r, std::stoi(stopped_at.substr(5)) + 2, "--resume"));
  EXPECT_EQ(resumed.status, 0) << resumed.output;
}

// A checkpoint that does not fit: the message says so and names the file, the exit status is 1,
// the previous checkpoint is still the latest and verifies, no temporary folder stays; with room
// again the run resumes from it.
TEST_F(Faults, AFullDiskDuringACheckpointKeepsThePreviousOne) {
  SmallDisk disk(root.path() / "disk", 8 * 1024);
  if (!disk.why_not().empty()) GTEST_SKIP() << disk.why_not();
  const fs::path r = root.path() / "disk" / "run";
  ASSERT_EQ(run(train(shards_, r, 2)).status, 0);
  ASSERT_EQ(latest_of(r), "step-00000002");
  disk.fill(/*leave_kib=*/256);  // the metrics lines fit, a 3 MB checkpoint does not

  const auto full = run(train(shards_, r, 4, "--resume"));
  EXPECT_EQ(full.status, 1) << full.output;
  EXPECT_TRUE(contains(full.output, "no space left on the device")) << full.output;
  EXPECT_TRUE(contains(full.output, "step-00000004.tmp/")) << "the file is named: " << full.output;
  EXPECT_FALSE(contains(full.output, "unexpected pos")) << full.output;
  EXPECT_EQ(latest_of(r), "step-00000002");
  EXPECT_EQ(model::verify_checkpoint(r / "checkpoints" / "step-00000002"), "");
  EXPECT_FALSE(fs::exists(r / "checkpoints" / "step-00000004.tmp"));
  EXPECT_FALSE(fs::exists(r / "checkpoints" / "step-00000004"));

  fs::remove(disk.fill_path());
  const auto resumed = run(train(shards_, r, 4, "--resume"));
  EXPECT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_EQ(latest_of(r), "step-00000004");
}

// generate on a disk that fills: an error naming the file and the reason, not "wrote" for every
// file; every MIDI file left is whole.
TEST_F(Faults, GenerateOnAFullDiskFailsAndLeavesNoEmptyFiles) {
  const fs::path r = root.path() / "model-run";
  ASSERT_EQ(run(train(shards_, r, 2)).status, 0);
  SmallDisk disk(root.path() / "disk", 64);
  if (!disk.why_not().empty()) GTEST_SKIP() << disk.why_not();
  const fs::path out = root.path() / "disk" / "out";
  const auto full = run(std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + r.string() + " --n 400 --out " + out.string());
  EXPECT_EQ(full.status, 1) << full.output;
  EXPECT_TRUE(contains(full.output, "no space left on the device")) << full.output;
  EXPECT_FALSE(contains(full.output, "wrote")) << full.output;
  int whole = 0;
  for (const auto& e : fs::directory_iterator(out)) {
    ASSERT_EQ(e.path().extension(), ".mid") << "left behind: " << e.path();
    EXPECT_NO_THROW(midi::read_midi_file(e.path().string())) << e.path();
    ++whole;
  }
  EXPECT_GT(whole, 0);
  EXPECT_LT(whole, 400);
}

TEST_F(Faults, PreprocessRefusesToReplaceItsOwnInput) {
  const fs::path midi = dir_->path() / "midi";
  const size_t files = static_cast<size_t>(std::distance(fs::directory_iterator(midi), fs::directory_iterator()));
  for (const fs::path& out : {midi, dir_->path()}) {
    const auto r = run(std::string(MVAE_PREPROCESS_BIN) + " --groove " + midi.string() + " --out " + out.string() + " --force");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "would delete the input")) << r.output;
  }
  EXPECT_EQ(static_cast<size_t>(std::distance(fs::directory_iterator(midi), fs::directory_iterator())), files);
}

// Values that are not numbers, or not finite, are refused before anything runs, naming the option.
TEST_F(Faults, OptionsThatAreNotFiniteNumbersAreRefusedUpFront) {
  for (const std::string option : {"--lr inf", "--lr nan", "--beta nan", "--free-bits nan", "--min-lr nan", "--grad-clip inf"}) {
    const auto r = run(train(shards_, root.path() / "opt", 2, option));
    EXPECT_EQ(r.status, 2) << option << ": " << r.output;
    EXPECT_TRUE(contains(r.output, option.substr(0, option.find(' ')) + " must be")) << option << ": " << r.output;
    EXPECT_FALSE(contains(r.output, "non-finite loss")) << option << ": " << r.output;
  }
  const fs::path r = root.path() / "model-run";
  ASSERT_EQ(run(train(shards_, r, 2)).status, 0);
  for (const std::string option : {"--qpm 3", "--qpm nan", "--qpm 1e9", "--temperature nan", "--n 100000"}) {
    const std::string n = option.rfind("--n ", 0) == 0 ? "" : " --n 1";  // counts that scale memory are bounded too
    const auto g = run(std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + r.string() + n + " " + option + " --out " +
                       (root.path() / "g").string());
    EXPECT_EQ(g.status, 2) << option << ": " << g.output;
    EXPECT_TRUE(contains(g.output, option.substr(0, option.find(' ')))) << option << ": " << g.output;
  }
  EXPECT_FALSE(fs::exists(root.path() / "g")) << "nothing is written for a refused command";
}

// generate does not write over what --out holds unless told to.
TEST_F(Faults, GenerateKeepsWhatOutHoldsUnlessForced) {
  const fs::path r = root.path() / "model-run";
  ASSERT_EQ(run(train(shards_, r, 2)).status, 0);
  const fs::path out = root.path() / "samples";
  fs::create_directories(out);
  std::ofstream(out / "sample-000.mid") << "mine";
  const std::string cmd = std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + r.string() + " --n 2 --out " + out.string();
  const auto refused = run(cmd);
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_TRUE(contains(refused.output, "already holds files: pass --force")) << refused.output;
  EXPECT_EQ(read_text_file(out / "sample-000.mid"), "mine");
  const auto forced = run(cmd + " --force");
  EXPECT_EQ(forced.status, 0) << forced.output;
  EXPECT_NO_THROW(midi::read_midi_file((out / "sample-000.mid").string()));
}
