// Faults injected for real, on the real programs: a lost or broken `latest` link, two trainers on
// one run folder, Ctrl-C, a disk that fills during a checkpoint and during generate (a small
// tmpfs, where mounting is allowed), preprocess pointed at its own input, options that are not
// numbers. Each asserts the message, the exit status, and that what was there before survives.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/files.h"
#include "midi/midi_file.h"
#include "process_util.h"
#include "run_folder/checkpoint_files.h"
#include "shards_fixture.h"
#include "test_util.h"

using namespace mvae;
namespace fs = std::filesystem;

namespace {

using test::run;

std::string train(const fs::path& shards, const fs::path& run_dir, int steps, const std::string& extra = "",
                  int checkpoint_every = 2) {
  return std::string(MVAE_TRAIN_BIN) + " --data " + shards.string() + " --run " + run_dir.string() +
         " --preset tiny --batch 8 --steps " + std::to_string(steps) +
         " --threads 1 --log-every 1000 --eval-every 1000 --eval-windows 16 --checkpoint-every " +
         std::to_string(checkpoint_every) + " " + extra;
}

std::string latest_of(const fs::path& run_dir) {
  return run_folder::linked_checkpoint(run_dir / "checkpoints", "latest");
}

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
    while (fs::space(where_).available > static_cast<uintmax_t>(leave_kib) * 1024 + block.size() &&
           f.write(block.data(), block.size()))
      f.flush();
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

    const auto sampled = run(std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + r.string() + " --n 1 --out " +
                             (r / "s").string());
    EXPECT_EQ(sampled.status, 0) << breakage << ": " << sampled.output;
    EXPECT_TRUE(contains(sampled.output, "using the newest complete checkpoint, step-00000004")) << sampled.output;

    const auto resumed = run(train(shards_, r, 6, "--resume"));
    ASSERT_EQ(resumed.status, 0) << resumed.output;
    EXPECT_TRUE(
        contains(resumed.output, "resumed from " + (r / "checkpoints" / "step-00000004").string() + " at step 4"))
        << resumed.output;
    EXPECT_FALSE(contains(resumed.output, "starting from step 0")) << resumed.output;
    EXPECT_EQ(latest_of(r), "step-00000006");
  }
}

// Every program that replaces a folder shares one guard: an --out that is or holds its input, or
// the folder it runs in, is refused even with --force; a second writer of one output folder is
// refused naming the first, and the output of the first is what stays.
TEST_F(Faults, AFolderReplacedWholeNeverTakesItsInputAndHasOneWriter) {
  const fs::path runs = root.path() / "guard";
  ASSERT_EQ(run(train(shards_, runs / "run", 2)).status, 0);
  const fs::path model = runs / "model.safetensors";
  ASSERT_EQ(run(std::string(MVAE_GENERATE_BIN) + " export --checkpoint " + (runs / "run").string() +
                " --dtype float32 --out " + model.string())
                .status,
            0);
  for (const fs::path& out : {runs, root.path()}) {
    const auto r = run(std::string(MVAE_MAGENTA_BIN) + " export-js --checkpoint " + model.string() +
                       " --config cat-drums_2bar_small --force --out " + out.string());
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "would delete the input")) << r.output;
    EXPECT_TRUE(fs::exists(model));
  }
  const auto here = run("cd " + runs.string() + " && " + MVAE_PREPROCESS_BIN + " --groove " +
                        (dir_->path() / "midi").string() + " --out . --force");
  EXPECT_EQ(here.status, 2) << here.output;
  EXPECT_TRUE(contains(here.output, "the folder this program runs in")) << here.output;

  const fs::path shards = root.path() / "locked-shards";
  FolderLock first(root.path() / ".locked-shards.lock", "{out} " + shards.string(), "wait");  // a writer at work
  const auto second = run(std::string(MVAE_PREPROCESS_BIN) + " --groove " + (dir_->path() / "midi").string() +
                          " --out " + shards.string());
  EXPECT_EQ(second.status, 2) << second.output;
  EXPECT_TRUE(contains(second.output, "is in use by pid " + std::to_string(::getpid()))) << second.output;
  EXPECT_FALSE(fs::exists(shards));
}

// Latents and their labels are one pair: a disk that fills while they are written leaves neither
// (no latents without labels, no labels cut short), and says why.
TEST_F(Faults, EncodeOnAFullDiskLeavesNeitherLatentsNorLabels) {
  const fs::path r = root.path() / "encode-run";
  ASSERT_EQ(run(train(shards_, r, 2)).status, 0);
  SmallDisk disk(root.path() / "disk", 8);
  if (!disk.why_not().empty()) GTEST_SKIP() << disk.why_not();
  const fs::path out = root.path() / "disk" / "latents";
  const auto full = run(std::string(MVAE_GENERATE_BIN) + " encode --checkpoint " + r.string() + " --data " +
                        shards_.string() + " --split train --out " + out.string());
  EXPECT_EQ(full.status, 1) << full.output;
  EXPECT_TRUE(contains(full.output, "no space left on the device")) << full.output;
  if (fs::exists(out))
    for (const auto& e : fs::directory_iterator(out)) ADD_FAILURE() << "left behind: " << e.path();
}

// A zip that declares more than a file of its kind may hold (a zip bomb: 17 MiB of zeros in a few
// kilobytes) is refused by its entry's name before anything is allocated.
TEST_F(Faults, AZipBombIsRefusedByItsEntryBeforeItIsUnpacked) {
  const fs::path zip = root.path() / "bomb.zip";
  const auto made =
      run("python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1], \"w\", zipfile.ZIP_DEFLATED); "
          "z.writestr(\"drums/bomb.mid\", bytes(17 << 20)); z.close()' " +
          zip.string());
  ASSERT_EQ(made.status, 0) << made.output;
  ASSERT_LT(fs::file_size(zip), 100000u);
  const auto r = run(std::string(MVAE_PREPROCESS_BIN) + " --groove " + zip.string() + " --out " +
                     (root.path() / "bomb-shards").string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "entry drums/bomb.mid: declares 17825792 bytes uncompressed, over the limit"))
      << r.output;
  EXPECT_FALSE(fs::exists(root.path() / "bomb-shards"));
}

// A record of metrics.jsonl cut by a full disk or a kill: the resume cuts it back to the last whole
// record and says so, and the curves of the run still draw.
TEST_F(Faults, ATornMetricsRecordIsCutBackOnResumeAndCurvesStillDraw) {
  const fs::path r = root.path() / "torn";
  const auto logging_every_step = [&](int steps, const std::string& extra) {
    std::string command = train(shards_, r, steps, extra);
    return command.replace(command.find("--log-every 1000"), 16, "--log-every 1");
  };
  ASSERT_EQ(run(logging_every_step(4, "")).status, 0);
  const fs::path metrics = r / "metrics.jsonl";
  const uintmax_t whole = fs::file_size(metrics);
  fs::resize_file(metrics, whole - 20);  // the last record loses its end and its newline
  const auto resumed = run(logging_every_step(6, "--resume"));
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "cut back to the last whole record")) << resumed.output;
  std::ifstream in(metrics);
  std::string line;
  std::vector<int64_t> steps;
  while (std::getline(in, line)) {
    ASSERT_NO_THROW(steps.push_back(nlohmann::json::parse(line).at("step").get<int64_t>())) << line;
  }
  EXPECT_NE(std::find(steps.begin(), steps.end(), 3), steps.end()) << "the whole records before the cut stay";
  EXPECT_NE(std::find(steps.begin(), steps.end(), 6), steps.end()) << "the resumed run logs on";
  const auto curves = run(std::string(MVAE_EVALUATE_BIN) + " --curve " + r.string() + " --curve-out " +
                          (root.path() / "curves.svg").string());
  EXPECT_EQ(curves.status, 0) << curves.output;
}

// Checkpoints of the old format (TorchScript files) are refused by resume and generate with the
// command that takes their model out; nothing of the run is changed.
TEST_F(Faults, AnOldFormatCheckpointIsRefusedWithTheCommandThatConvertsIt) {
  const fs::path r = root.path() / "legacy";
  ASSERT_EQ(run(train(shards_, r, 2)).status, 0);
  const fs::path step = r / "checkpoints" / "step-00000002";
  fs::rename(step / "model.safetensors", step / "model.pt");
  fs::remove(step / "checksums.json");
  const auto resumed = run(train(shards_, r, 4, "--resume"));
  EXPECT_NE(resumed.status, 0);
  EXPECT_TRUE(contains(resumed.output, "checkpoint of the old format") &&
              contains(resumed.output, "generate convert-legacy --input " + (step / "model.pt").string()))
      << resumed.output;
  const auto sampled =
      run(std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + r.string() + " --n 1 --out " + (r / "s").string());
  EXPECT_NE(sampled.status, 0);
  EXPECT_TRUE(contains(sampled.output, "checkpoint of the old format")) << sampled.output;
  EXPECT_TRUE(fs::exists(step / "model.pt"));
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
    EXPECT_FALSE(contains(second.output, "MPI_ABORT"))
        << "a usage error in one process ends with our message only: " << second.output;
    EXPECT_EQ(fs::file_size(r / "config.json"), config_before) << "the refused trainer wrote into the run";
  }
  // Ctrl-C (a terminal sends SIGINT); without the pid, end the first trainer through its shell.
  if (locked)
    ::kill(pid, SIGINT);
  else
    std::system(("pkill -INT -f -- '--run " + r.string() + " '").c_str());
  background.join();
  ASSERT_TRUE(locked) << first.output;
  EXPECT_EQ(first.status, 75) << first.output;
  EXPECT_TRUE(contains(first.output, "stopped by signal")) << first.output;
  const std::string stopped_at = latest_of(r);
  ASSERT_FALSE(stopped_at.empty()) << "Ctrl-C left no checkpoint";
  EXPECT_EQ(run_folder::verify_checkpoint(r / "checkpoints" / stopped_at), "");
  for (const auto& e : fs::directory_iterator(r / "checkpoints")) EXPECT_NE(e.path().extension(), ".tmp") << e.path();

  const auto resumed = run(train(shards_, r, std::stoi(stopped_at.substr(5)) + 2, "--resume"));
  EXPECT_EQ(resumed.status, 0) << resumed.output;
}

// A job started in the background through the shell, its output in a file.
class BackgroundJob {
 public:
  BackgroundJob(const std::string& cmd, const fs::path& log) : log_(log), started_(std::chrono::steady_clock::now()) {
    const std::string line = cmd + " > " + log.string() + " 2>&1";
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  // Its exit status (128 + signal when killed), or -1 when it is still running after `seconds`.
  int wait_for(double seconds) {
    while (std::chrono::steady_clock::now() - started_ < std::chrono::duration<double>(seconds)) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }
  pid_t pid() const { return pid_; }  // the shell's, which `exec` makes the command's own
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count(); }
  std::string output() const { return read_text_file(log_); }
  ~BackgroundJob() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

 private:
  fs::path log_;
  std::chrono::steady_clock::time_point started_;
  pid_t pid_ = 0;
};

// Waits for the first checkpoint of a two-rank run in `r`; then rank 1 is stopped (SIGSTOP, as a
// frozen node or a debugger would). Returns rank 1's pid (0 if it was never found).
pid_t stop_rank_1_once_training(const fs::path& r) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(r / "checkpoints" / "latest") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const pid_t rank1 = test::rank_process(1, r.string());
  if (rank1 > 0) ::kill(rank1, SIGSTOP);
  return rank1;
}

// How a job with a stopped rank 1 ended: its exit status (-1: still running after `limit` s) and
// the seconds from `since`. Rank 1 is continued afterwards, so that no process stays stopped.
struct Ending {
  int status = -1;
  double seconds = 0;
};
Ending wait_for_end(BackgroundJob& job, pid_t rank1, std::chrono::steady_clock::time_point since, double limit) {
  Ending e;
  e.status = job.wait_for(job.seconds() + limit);
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  ::kill(rank1, SIGCONT);
  return e;
}

// A rank that stops without dying ends the job after --collective-timeout with a message naming
// the rank and its host; the checkpoints written before survive.
TEST_F(Faults, AStoppedRankEndsTheJobNamingItAfterTheCollectiveTimeout) {
  const fs::path r = root.path() / "run";
  BackgroundJob job(test::mpirun(2) + " " + train(shards_, r, 1000000, "--collective-timeout 10"), root.path() / "log");
  const pid_t rank1 = stop_rank_1_once_training(r);
  ASSERT_GT(rank1, 0) << "rank 1 never started: " << job.output();
  const auto [status, seconds] = wait_for_end(job, rank1, std::chrono::steady_clock::now(), 60);
  ASSERT_NE(status, -1) << "the job still hangs 60 s after rank 1 stopped: " << job.output();
  RecordProperty("seconds_to_end_after_sigstop", std::to_string(seconds));
  EXPECT_EQ(status, 1) << job.output();
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_TRUE(contains(job.output(), "rank(s) 1 (" + std::string(host) + ") did not answer")) << job.output();
  EXPECT_TRUE(contains(job.output(), "--collective-timeout 10")) << job.output();
  EXPECT_GE(seconds, 9.0) << "the job ended before the timeout: " << job.output();
  EXPECT_EQ(run_folder::verify_checkpoint(r / "checkpoints" / latest_of(r)), "")
      << "the checkpoint before the stop was lost";
}

// A stop signal while a rank is missing does not wait out the whole timeout (600 s here): the job
// ends within about half a minute, naming the rank.
TEST_F(Faults, SigtermWhileARankIsStoppedEndsTheJobInHalfAMinute) {
  const fs::path r = root.path() / "run";
  BackgroundJob job(test::mpirun(2) + " " + train(shards_, r, 1000000), root.path() / "log");
  const pid_t rank1 = stop_rank_1_once_training(r);
  ASSERT_GT(rank1, 0) << "rank 1 never started: " << job.output();
  const pid_t rank0 = test::rank_process(0, r.string());
  ASSERT_GT(rank0, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // rank 0 now waits for rank 1
  const auto signalled_at = std::chrono::steady_clock::now();
  ::kill(rank0, SIGTERM);
  const auto [status, seconds] = wait_for_end(job, rank1, signalled_at, 90);
  ASSERT_NE(status, -1) << "the job still hangs 90 s after SIGTERM: " << job.output();
  RecordProperty("seconds_to_end_after_sigterm", std::to_string(seconds));
  EXPECT_EQ(status, 1) << job.output();
  EXPECT_TRUE(contains(job.output(), "and a stop was requested 30.")) << job.output();
  EXPECT_TRUE(contains(job.output(), "rank(s) 1 (")) << job.output();
  EXPECT_GE(seconds, 29.0) << job.output();
  EXPECT_LT(seconds, 60.0) << job.output();
}

// A usage error every rank finds (here: a run folder that already holds a run) ends the job
// with one message and exit status 2, every rank finalised: no MPI_Abort banner.
TEST_F(Faults, AUsageErrorWithSeveralRanksIsOneMessageAndExitStatus2) {
  const fs::path r = root.path() / "run";
  ASSERT_EQ(run(train(shards_, r, 2)).status, 0);
  const auto again = run(test::mpirun(2) + " " + train(shards_, r, 4));
  EXPECT_EQ(again.status, 2) << again.output;
  const std::string message = "already holds checkpoints of a run";
  const size_t first = again.output.find(message);
  EXPECT_NE(first, std::string::npos) << again.output;
  EXPECT_EQ(again.output.find(message, first + 1), std::string::npos) << "said more than once: " << again.output;
  EXPECT_FALSE(contains(again.output, "MPI_ABORT")) << again.output;
}

// SIGUSR1 to mpirun (which forwards it; SLURM's preemption signal in slurm/train.sh) checkpoints
// every rank and the job's exit status is 75, mpirun's included.
TEST_F(Faults, SigusrOneToMpirunCheckpointsAndTheJobExitsWith75) {
  const fs::path r = root.path() / "run";
  BackgroundJob job("exec " + test::mpirun(2) + " " + train(shards_, r, 1000000, "", /*checkpoint_every=*/1000000),
                    root.path() / "log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!(fs::exists(r / "metrics.jsonl") && test::rank_process(1, r.string()) > 0) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_EQ(::kill(job.pid(), SIGUSR1), 0);
  const int status = job.wait_for(job.seconds() + 60);
  EXPECT_EQ(status, 75) << job.output();
  EXPECT_TRUE(contains(job.output(), "stopped by signal")) << job.output();
  const std::string latest = latest_of(r);
  ASSERT_FALSE(latest.empty()) << job.output();
  EXPECT_EQ(run_folder::verify_checkpoint(r / "checkpoints" / latest), "");
}

// Memory that runs out in a training step (a real allocation failure under `ulimit -v`) is
// said with the options that fix it, without LibTorch's backtrace.
TEST_F(Faults, RunningOutOfMemoryInAStepNamesTheOptionsThatFixIt) {
  if (test::groove_zip().empty())
    GTEST_SKIP() << "MVAE_GROOVE_ZIP not set: needs the Groove windows for a batch that large";
  const fs::path shards = root.path() / "shards4";
  const auto prep = run(std::string(MVAE_PREPROCESS_BIN) + " --groove " + test::groove_zip() + " --out " +
                        shards.string() + " --bars 4");
  ASSERT_EQ(prep.status, 0) << prep.output;
  // One [8192, 64, 512] float tensor is 1 GiB, and a forward pass makes several; LibTorch and MPI
  // start within about 1.5 GB of address space.
  const auto oom = run("ulimit -v 3500000; " + std::string(MVAE_TRAIN_BIN) + " --data " + shards.string() + " --run " +
                       (root.path() / "run").string() +
                       " --preset tiny --bars 4 --batch 8192 --steps 2 --threads 1 --loader-memory-mb 0");
  EXPECT_EQ(oom.status, 1) << oom.output;
  EXPECT_TRUE(contains(oom.output, "out of memory in training step 0 on cpu with --batch 8192 per rank")) << oom.output;
  EXPECT_TRUE(contains(oom.output, "--batch 4096 --accumulate 2")) << oom.output;
  EXPECT_FALSE(contains(oom.output, "frame #")) << oom.output;
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
  EXPECT_EQ(run_folder::verify_checkpoint(r / "checkpoints" / "step-00000002"), "");
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
  const auto full =
      run(std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + r.string() + " --n 400 --out " + out.string());
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
    const auto r =
        run(std::string(MVAE_PREPROCESS_BIN) + " --groove " + midi.string() + " --out " + out.string() + " --force");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_TRUE(contains(r.output, "would delete the input")) << r.output;
  }
  EXPECT_EQ(static_cast<size_t>(std::distance(fs::directory_iterator(midi), fs::directory_iterator())), files);
}

// What a killed preprocess leaves beside --out is cleaned up by the next one: its staging folder
// is removed, and an output moved aside when the kill came mid-publish is put back. Folders of a
// process still running are left alone.
TEST_F(Faults, PreprocessCleansUpAfterAKilledRunAndPutsThePreviousOutputBack) {
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);  // a pid no process has now
  const fs::path out = root.path() / "shards";
  const fs::path staging = out.string() + ".tmp-" + std::to_string(dead);
  const fs::path moved_aside = out.string() + ".old-" + std::to_string(dead);
  const fs::path running = out.string() + ".tmp-" + std::to_string(::getpid());
  for (const fs::path& folder : {staging, moved_aside, running}) fs::create_directories(folder);
  write_file_atomic(staging / "train-00000-of-00001.h5", std::string(1 << 20, 'x'));
  write_file_atomic(moved_aside / "manifest.json", "{\"previous\": true}");

  const std::string preprocess =
      std::string(MVAE_PREPROCESS_BIN) + " --groove " + (dir_->path() / "midi").string() + " --out " + out.string();
  const auto refused = run(preprocess);
  EXPECT_EQ(refused.status, 2) << "the previous output, put back, is not replaced without --force: " << refused.output;
  EXPECT_TRUE(contains(refused.output, "cleaned up " + staging.string())) << refused.output;
  EXPECT_TRUE(contains(refused.output, "put back as " + out.string())) << refused.output;
  EXPECT_FALSE(fs::exists(staging));
  EXPECT_FALSE(fs::exists(moved_aside));
  EXPECT_EQ(read_text_file(out / "manifest.json"), "{\"previous\": true}");
  EXPECT_TRUE(fs::exists(running)) << "a running process's staging folder was removed";

  const auto replaced = run(preprocess + " --force");
  EXPECT_EQ(replaced.status, 0) << replaced.output;
  EXPECT_TRUE(contains(read_text_file(out / "manifest.json"), "\"splits\"")) << "not replaced by a new output";
  EXPECT_TRUE(fs::exists(running));
}

// Values that are not numbers, or not finite, are refused before anything runs, naming the option.
TEST_F(Faults, OptionsThatAreNotFiniteNumbersAreRefusedUpFront) {
  for (const std::string option :
       {"--lr inf", "--lr nan", "--beta nan", "--free-bits nan", "--min-lr nan", "--grad-clip inf"}) {
    const auto r = run(train(shards_, root.path() / "opt", 2, option));
    EXPECT_EQ(r.status, 2) << option << ": " << r.output;
    EXPECT_TRUE(contains(r.output, option.substr(0, option.find(' ')) + " must be")) << option << ": " << r.output;
    EXPECT_FALSE(contains(r.output, "non-finite loss")) << option << ": " << r.output;
  }
  const fs::path r = root.path() / "model-run";
  ASSERT_EQ(run(train(shards_, r, 2)).status, 0);
  for (const std::string option : {"--qpm 3", "--qpm nan", "--qpm 1e9", "--temperature nan", "--n 100000"}) {
    const std::string n = option.rfind("--n ", 0) == 0 ? "" : " --n 1";  // counts that scale memory are bounded too
    const auto g = run(std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + r.string() + n + " " + option +
                       " --out " + (root.path() / "g").string());
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
  const std::string cmd =
      std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + r.string() + " --n 2 --out " + out.string();
  const auto refused = run(cmd);
  EXPECT_EQ(refused.status, 2) << refused.output;
  EXPECT_TRUE(contains(refused.output, "already holds files: pass --force")) << refused.output;
  EXPECT_EQ(read_text_file(out / "sample-000.mid"), "mine");
  const auto forced = run(cmd + " --force");
  EXPECT_EQ(forced.status, 0) << forced.output;
  EXPECT_NO_THROW(midi::read_midi_file((out / "sample-000.mid").string()));
}
