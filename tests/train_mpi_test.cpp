// The trainer as users run it: real `mpirun -np 2 train` processes on a real shard folder.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "data/shards.h"
#include "generate/latents.h"
#include "inference/trained_model.h"
#include "midi/midi_file.h"
#include "model/musicvae.h"
#include "preprocess/preprocess.h"
#include "process_util.h"
#include "run_folder_util.h"
#include "shards_fixture.h"
#include "test_util.h"

using namespace mvae;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

using test::mpirun;
using test::ProcessRun;
using test::run;

std::string train_cmd(int ranks, const fs::path& shards, const fs::path& run_dir, int batch, int steps,
                      const std::string& extra = "") {
  std::ostringstream c;
  c << (ranks > 0 ? mpirun(ranks) + " " : "") << MVAE_TRAIN_BIN << " --data " << shards << " --run " << run_dir
    << " --preset tiny --batch " << batch << " --steps " << steps
    << " --threads 1 --log-every 5 --eval-every 1000 --eval-windows 16 --checkpoint-every 1000 " << extra;
  return c.str();
}

using test::final_parameters;
using test::max_difference;

class TrainMpi : public test::SyntheticShardsSuite {
 protected:
  test::TempDir& run_root = root;
};

}  // namespace

TEST_F(TrainMpi, TwoRanksEqualOneRankWithTwiceTheBatch) {
  const ProcessRun one = run(train_cmd(1, shards_, run_root.path() / "one", 16, 12));
  ASSERT_EQ(one.status, 0) << one.output;
  const ProcessRun two = run(train_cmd(2, shards_, run_root.path() / "two", 8, 12));
  ASSERT_EQ(two.status, 0) << two.output;
  EXPECT_NE(two.output.find("2 rank(s) x batch 8"), std::string::npos) << two.output;
  // Rank 0 wrote metrics as JSON lines and TensorBoard events.
  EXPECT_TRUE(fs::exists(run_root.path() / "two" / "metrics.jsonl"));
  bool has_events = false;
  for (const auto& e : fs::directory_iterator(run_root.path() / "two" / "tensorboard"))
    has_events |= e.path().filename().string().rfind("events.out.tfevents.", 0) == 0 && fs::file_size(e.path()) > 100;
  EXPECT_TRUE(has_events);
  const double diff =
      max_difference(final_parameters(run_root.path() / "one"), final_parameters(run_root.path() / "two"));
  EXPECT_LT(diff, 1e-4) << "parameters after 12 steps differ by " << diff;
  RecordProperty("max_parameter_difference", std::to_string(diff));
}

TEST_F(TrainMpi, AllReduceDuringBackwardGivesTheSameParametersAsAfterIt) {
  // Small buckets, so that there are many, and two micro-batches, so that only the last
  // backward of each step communicates.
  const std::string common = "--bucket-mb 0.02 --accumulate 2 ";
  const ProcessRun after = run(train_cmd(2, shards_, run_root.path() / "after", 4, 10, common + "--overlap false"));
  ASSERT_EQ(after.status, 0) << after.output;
  const ProcessRun during = run(train_cmd(2, shards_, run_root.path() / "during", 4, 10, common + "--overlap true"));
  ASSERT_EQ(during.status, 0) << during.output;
  EXPECT_NE(after.output.find(", 0 of "), std::string::npos) << after.output;
  // Every bucket of every step started from a gradient hook, before backward returned.
  const std::regex started(R"((\d+) of (\d+) bucket all-reduces started during backward)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(during.output, m, started)) << during.output;
  EXPECT_EQ(m[1], m[2]) << during.output;
  EXPECT_GE(std::stoi(m[2]), 10 * 4) << "expected several buckets per step: " << during.output;
  const double diff =
      max_difference(final_parameters(run_root.path() / "after"), final_parameters(run_root.path() / "during"));
  EXPECT_EQ(diff, 0.0) << "overlapped all-reduce changed the parameters by " << diff;
}

TEST_F(TrainMpi, SigtermCheckpointsAndResumeReachesTheSameParameters) {
  const int steps = 300;
  const ProcessRun straight = run(train_cmd(2, shards_, run_root.path() / "straight", 8, steps));
  ASSERT_EQ(straight.status, 0) << straight.output;

  const fs::path interrupted = run_root.path() / "interrupted";
  const std::string cmd =
      train_cmd(2, shards_, interrupted, 8, steps) + " > " + (run_root.path() / "log").string() + " 2>&1";
  const pid_t child = fork();
  if (child == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait for training to be under way, then SIGTERM the rank processes (as SLURM does).
  const fs::path metrics = interrupted / "metrics.jsonl";
  const auto t0 = Clock::now();
  while ((!fs::exists(metrics) || fs::file_size(metrics) == 0) && Clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::string pattern = "train --data .* --run " + interrupted.string();
  ASSERT_EQ(std::system(("pkill -TERM -f -- '^[^ ]*/train --data .* --run " + interrupted.string() + " '").c_str()), 0)
      << "no rank process found: " << pattern;
  int status = 0;
  waitpid(child, &status, 0);
  std::ifstream log_file(run_root.path() / "log");
  const std::string log((std::istreambuf_iterator<char>(log_file)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status)) << log;
  ASSERT_EQ(WEXITSTATUS(status), 75) << log;  // preempted: requeue me
  ASSERT_NE(log.find("stopped by signal at step"), std::string::npos) << log;

  const ProcessRun resumed = run(train_cmd(2, shards_, interrupted, 8, steps, "--resume"));
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  ASSERT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
  const double diff = max_difference(final_parameters(run_root.path() / "straight"), final_parameters(interrupted));
  EXPECT_EQ(diff, 0.0) << "resumed run differs from the uninterrupted one by " << diff;
}

TEST_F(TrainMpi, ResumeOnADifferentNumberOfRanksContinuesTheSameRun) {
  const ProcessRun first = run(train_cmd(2, shards_, run_root.path() / "r", 8, 6));  // checkpoints at its last step
  ASSERT_EQ(first.status, 0) << first.output;
  const ProcessRun more = run(train_cmd(1, shards_, run_root.path() / "r", 16, 12, "--resume"));
  ASSERT_EQ(more.status, 0) << more.output;
  EXPECT_NE(more.output.find("at step 6 (96 samples consumed)"), std::string::npos) << more.output;
  const ProcessRun straight = run(train_cmd(1, shards_, run_root.path() / "s", 16, 12));
  ASSERT_EQ(straight.status, 0) << straight.output;
  EXPECT_LT(max_difference(final_parameters(run_root.path() / "r"), final_parameters(run_root.path() / "s")), 1e-4);
}

TEST_F(TrainMpi, AKilledRankEndsTheJobQuickly) {
  const ProcessRun r =
      run(train_cmd(2, shards_, run_root.path() / "k", 8, 100000, "--fail-at-step 3 --fail-rank 1 --fail-mode kill"));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_LT(r.seconds, 60.0) << r.output;
  RecordProperty("seconds_to_end_after_kill", std::to_string(r.seconds));
}

TEST_F(TrainMpi, AnExceptionOrNanOnOneRankStopsAllWithAMessage) {
  ProcessRun r = run(
      train_cmd(2, shards_, run_root.path() / "e", 8, 100000, "--fail-at-step 2 --fail-rank 1 --fail-mode exception"));
  EXPECT_NE(r.status, 0);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_NE(r.output.find("[rank 1 on " + std::string(host) + "] train: error: injected failure"), std::string::npos)
      << "the last word names the rank and its host\n"
      << r.output;
  EXPECT_LT(r.seconds, 60.0);
  r = run(train_cmd(2, shards_, run_root.path() / "n", 8, 100000, "--fail-at-step 2 --fail-rank 0 --fail-mode nan"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("non-finite loss at step 2"), std::string::npos) << r.output;
}

TEST_F(TrainMpi, BadInputsGiveClearErrors) {
  // Corrupt shard: named, with the problem.
  const fs::path bad = run_root.path() / "bad_shards";
  fs::copy(shards_, bad);
  fs::path victim;
  for (const auto& e : fs::directory_iterator(bad))
    if (e.path().extension() == ".h5" && e.path().filename().string().rfind("train", 0) == 0) victim = e.path();
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x13');
  }
  ProcessRun r = run(train_cmd(2, bad, run_root.path() / "c", 8, 5));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(victim.string() + ": CRC-32"), std::string::npos) << r.output;
  // Missing shard folder.
  r = run(train_cmd(1, run_root.path() / "nowhere", run_root.path() / "m", 8, 5));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("no such shard folder"), std::string::npos) << r.output;
  // A checkpoint whose `latest` names a folder that is gone.
  r = run(train_cmd(1, shards_, run_root.path() / "l", 8, 3));
  ASSERT_EQ(r.status, 0) << r.output;
  // A new run into a folder that has checkpoints is refused, not mixed with the old run.
  r = run(train_cmd(1, shards_, run_root.path() / "l", 8, 3));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("already holds checkpoints of a run"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pass --resume to continue it"), std::string::npos) << r.output;
  for (const auto& e : fs::directory_iterator(run_root.path() / "l" / "checkpoints"))
    if (e.is_directory()) fs::remove_all(e.path());
  r = run(train_cmd(1, shards_, run_root.path() / "l", 8, 6, "--resume"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("missing or incomplete"), std::string::npos) << r.output;
  // The bias rate decides the optimizer's parameter groups: a resume must keep it.
  r = run(train_cmd(1, shards_, run_root.path() / "b", 8, 3));
  ASSERT_EQ(r.status, 0) << r.output;
  r = run(train_cmd(1, shards_, run_root.path() / "b", 8, 6, "--resume --lstm-bias-lr-scale 1"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("resume with --lstm-bias-lr-scale 2"), std::string::npos) << r.output;
  // So does the cap of windows per file (one of each file's three here): it decides which windows an epoch holds.
  r = run(train_cmd(1, shards_, run_root.path() / "w", 8, 3, "--windows-per-file 1"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("at most 1 per file an epoch: "), std::string::npos) << r.output;
  r = run(train_cmd(1, shards_, run_root.path() / "w", 8, 6, "--resume"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("resume with --windows-per-file 1"), std::string::npos) << r.output;
  // Options are validated by name.
  r = run(train_cmd(1, shards_, run_root.path() / "o", 0, 5));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--batch must be >= 1"), std::string::npos) << r.output;
  r = run(train_cmd(1, shards_, run_root.path() / "p", 8, 5, "--precision fp16"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--precision must be fp32 or bf16, got 'fp16'"), std::string::npos) << r.output;
  r = run(train_cmd(1, shards_, run_root.path() / "i", 8, 5, "--init tensorflow"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--init must be pytorch or magenta, got 'tensorflow'"), std::string::npos) << r.output;
  r = run(train_cmd(1, shards_, run_root.path() / "i", 8, 5,
                    "--init magenta --init-from " + (run_root.path() / "b").string()));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--init magenta and --init-from both choose the first weights"), std::string::npos)
      << r.output;
  if (!torch::cuda::is_available()) {
    r = run(train_cmd(1, shards_, run_root.path() / "g", 8, 5, "--device cuda"));
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.output.find("--device cuda: this LibTorch has no CUDA or no GPU is visible"), std::string::npos)
        << r.output;
  }
  // srun without the right PMI starts N one-rank worlds: refused instead of N separate trainings.
  r = run("SLURM_STEP_NUM_TASKS=2 " + train_cmd(0, shards_, run_root.path() / "s", 8, 5));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("the launcher started 2 processes (SLURM_STEP_NUM_TASKS=2) but MPI's world has 1 rank(s)"),
            std::string::npos)
      << r.output;
  // A model whose window differs from the data's.
  r = run(train_cmd(1, shards_, run_root.path() / "w", 8, 5, "--bars 4"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("pass --bars 2"), std::string::npos) << r.output;
}

TEST_F(TrainMpi, EvaluateAgreesWithTheTrainersValidation) {
  const fs::path run_dir = run_root.path() / "ev";
  const ProcessRun t = run(train_cmd(2, shards_, run_dir, 8, 4));
  ASSERT_EQ(t.status, 0) << t.output;
  const fs::path json = run_root.path() / "ev.json";
  const ProcessRun e = run(std::string(MVAE_EVALUATE_BIN) + " --checkpoint " + run_dir.string() + " --data " +
                           shards_.string() + " --split validation --windows 16 --argmax --json " + json.string());
  ASSERT_EQ(e.status, 0) << e.output;
  std::ifstream in(json);
  const auto result = nlohmann::json::parse(in);
  const auto& overall = result["overall"];
  for (const char* key : {"teacher_forced_accuracy", "free_running_accuracy"}) {
    EXPECT_GE(overall[key].get<double>(), 0.0);
    EXPECT_LE(overall[key].get<double>(), 1.0);
  }
  // The trainer's last evaluation (same windows, same model, argmax) gives the same numbers.
  std::ifstream metrics(run_dir / "metrics.jsonl");
  std::string line, last_eval;
  while (std::getline(metrics, line))
    if (line.find("eval_tf_accuracy") != std::string::npos) last_eval = line;
  ASSERT_FALSE(last_eval.empty());
  const auto ev = nlohmann::json::parse(last_eval);
  EXPECT_NEAR(ev["eval_tf_accuracy"].get<double>(), overall["teacher_forced_accuracy"].get<double>(), 1e-6);
  EXPECT_NEAR(ev["eval_free_accuracy"].get<double>(), overall["free_running_accuracy"].get<double>(), 1e-6);
  EXPECT_NEAR(ev["eval_r_loss"].get<double>(), overall["r_loss_nats"].get<double>(), 1e-3);
  EXPECT_EQ(overall["windows"].get<double>(), ev["eval_windows"].get<double>());
  // Per bar (the tiny preset has 2 bars of equal length): the bars' accuracies average to the
  // window's.
  for (const char* key : {"teacher_forced_accuracy", "free_running_accuracy"}) {
    const auto& by_bar = overall[std::string(key) + "_by_bar"];
    ASSERT_EQ(by_bar.size(), 2u) << key;
    EXPECT_NEAR((by_bar[0].get<double>() + by_bar[1].get<double>()) / 2, overall[key].get<double>(), 1e-9) << key;
  }
  // The structure measure of the windows, their reconstructions and prior samples (2 bars: bar 2
  // against bar 1), each a similarity in [0, 1].
  for (const char* source : {"data", "reconstructions", "prior_samples"}) {
    const auto& s = result["structure"][source];
    EXPECT_EQ(s["sequences"].get<double>(), overall["windows"].get<double>()) << source;
    for (const char* figure : {"previous_bar_similarity", "best_earlier_bar_similarity", "exact_repeat_fraction"}) {
      EXPECT_GE(s[figure].get<double>(), 0.0) << source << " " << figure;
      EXPECT_LE(s[figure].get<double>(), 1.0) << source << " " << figure;
    }
  }
  EXPECT_EQ(result["structure"]["data"]["distance_to_data"].get<double>(), 0.0);
  EXPECT_NE(e.output.find("structure (how much each bar repeats"), std::string::npos) << e.output;
  // The training-curve picture from the same run.
  const fs::path svg = run_root.path() / "curves.svg";
  const ProcessRun c =
      run(std::string(MVAE_EVALUATE_BIN) + " --curve " + run_dir.string() + " --curve-out " + svg.string());
  ASSERT_EQ(c.status, 0) << c.output;
  std::ifstream svg_in(svg);
  const std::string text((std::istreambuf_iterator<char>(svg_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("<polyline"), std::string::npos);
  EXPECT_NE(text.find(">eval_tf_accuracy (validation"), std::string::npos);
  EXPECT_NE(text.find(">step</text>"), std::string::npos);  // the x axis is steps
  // Validation points are marked: one circle per evaluation (here one, at the last step) in each
  // of the three eval_ panels.
  size_t circles = 0;
  for (size_t at = text.find("<circle"); at != std::string::npos; at = text.find("<circle", at + 1)) ++circles;
  EXPECT_EQ(circles, 3u);
}

// The paper's attribute vectors on real data: adding the `fill` vector must move the decoded
// note density the way fill windows differ from beat windows in the data. (In Groove, under
// Magenta's windowing, fill windows are the sparser ones: fills are short performances.)
TEST(AttributeVectors, FillVectorMovesDensityTheWayTheDataDiffers) {
  if (test::groove_zip().empty()) GTEST_SKIP() << "MVAE_GROOVE_ZIP not set";
  test::TempDir dir;
  const std::string shard_dir = test::preprocess_groove(dir.path() / "shards").string();
  const ProcessRun t =
      run(mpirun(2) + " " + MVAE_TRAIN_BIN + " --data " + shard_dir + " --run " + (dir.path() / "run").string() +
          " --preset hierdec-drums_4bar --bars 2 --enc 128 --z 64 --cond 128 --dec 128 --batch 32 --steps 400"
          " --threads 1 --log-every 100 --eval-every 1000 --checkpoint-every 1000");
  ASSERT_EQ(t.status, 0) << t.output;

  data::ShardSet shards(shard_dir);
  double hits[2] = {0, 0}, steps[2] = {0, 0};  // [beat, fill]
  for (int64_t i = 0; i < shards.size("train"); ++i) {
    const auto w = shards.read_window("train", i);
    const int fill = shards.files()[shards.source("train", i).file_id].beat_type == "fill";
    for (uint16_t tok : w.tokens) hits[fill] += __builtin_popcount(tok);
    steps[fill] += static_cast<double>(w.tokens.size());
  }
  const double data_difference = hits[1] / steps[1] - hits[0] / steps[0];

  inference::TrainedModel gen((dir.path() / "run").string());
  const generate::EncodedWindows train = generate::encode_split(gen, shards, "train", 0, 256);
  int64_t with = 0, without = 0;
  const torch::Tensor v = generate::attribute_vector(train, "fill", &with, &without);
  EXPECT_EQ(v.sizes(), (std::vector<int64_t>{64}));
  const generate::EncodedWindows test_windows = generate::encode_split(gen, shards, "test", 400, 256);
  std::vector<int64_t> beats;
  for (size_t i = 0; i < test_windows.labels.size(); ++i)
    if (test_windows.labels[i].beat_type == "beat") beats.push_back(static_cast<int64_t>(i));
  const torch::Tensor mu = test_windows.mu.index_select(0, torch::tensor(beats, torch::kLong));
  inference::DecodeOptions argmax;
  argmax.argmax = true;
  const auto density = [&](const torch::Tensor& z) {
    double h = 0, n = 0;
    for (const auto& p : gen.decode(z, argmax))
      for (uint16_t tok : p.tokens) h += __builtin_popcount(tok), n += 1;
    return h / n;
  };
  const double before = density(mu), after = density(mu + 2.0 * v);
  RecordProperty("density_beat_fill_data",
                 std::to_string(hits[0] / steps[0]) + " " + std::to_string(hits[1] / steps[1]));
  RecordProperty("density_before_after", std::to_string(before) + " " + std::to_string(after));
  ASSERT_NE(data_difference, 0.0);
  EXPECT_EQ(after > before, data_difference > 0)
      << "data: fill - beat = " << data_difference << " hits/step; decoded beats " << before << " -> " << after;
}

// A groove model (velocities and timing) on real Groove windows: two ranks train it as one rank
// with twice the batch, and evaluate's baselines are the figures computed here from the shards.
TEST(GrooveTraining, TwoRanksMatchOneAndEvaluateMeasuresTheBaselines) {
  if (test::groove_zip().empty()) GTEST_SKIP() << "MVAE_GROOVE_ZIP not set";
  test::TempDir dir;
  const std::string shard_dir = test::preprocess_groove(dir.path() / "shards").string();
  const auto train = [&](int ranks, int batch, const std::string& name) {
    return run(mpirun(ranks) + " " + MVAE_TRAIN_BIN + " --data " + shard_dir + " --run " +
               (dir.path() / name).string() + " --preset tiny-groove --batch " + std::to_string(batch) +
               " --steps 30 --threads 1 --log-every 10 --eval-every 30 --eval-windows 32 --checkpoint-every 1000");
  };
  const ProcessRun one = train(1, 32, "one"), two = train(2, 16, "two");
  ASSERT_EQ(one.status, 0) << one.output;
  ASSERT_EQ(two.status, 0) << two.output;
  EXPECT_NE(two.output.find("velocities_loss"), std::string::npos) << two.output;
  const double diff = max_difference(final_parameters(dir.path() / "one"), final_parameters(dir.path() / "two"));
  EXPECT_LT(diff, 1e-4) << "parameters after 30 steps differ by " << diff;

  const fs::path json = dir.path() / "test.json";
  const int windows = 64;
  const ProcessRun e =
      run(std::string(MVAE_EVALUATE_BIN) + " --checkpoint " + (dir.path() / "two").string() + " --data " + shard_dir +
          " --split test --windows " + std::to_string(windows) + " --argmax --json " + json.string());
  ASSERT_EQ(e.status, 0) << e.output;
  std::ifstream in(json);
  const auto groove = nlohmann::json::parse(in).at("groove");

  // The drum-machine baseline and the drummer's timing, from the stored windows and the files' tempi.
  data::ShardSet shards(shard_dir);
  double hits = 0, velocity_error = 0, timing_error_ms = 0, hihat_ms = 0, hihats = 0;
  for (int64_t i = 0; i < windows; ++i) {
    const data::DrumWindow w = shards.read_window("test", i);
    const double step_ms = 60000.0 / (shards.files()[shards.source("test", i).file_id].bpm * 4.0);
    for (size_t k = 0; k < w.velocities.size(); ++k) {
      if (w.velocities[k] == 0) continue;
      const double late_ms = -w.offsets[k] / 2 * step_ms;
      hits += 1;
      velocity_error += std::abs(80.0 - w.velocities[k]);
      timing_error_ms += std::abs(late_ms);
      if (k % 9 == 2) hihat_ms += late_ms, hihats += 1;
    }
  }
  ASSERT_GT(hits, 0);
  EXPECT_EQ(groove["drummer_hits"].get<double>(), hits);
  EXPECT_NEAR(groove["baseline_grid_velocity80"]["velocity_mae"].get<double>(), velocity_error / hits, 1e-6);
  EXPECT_NEAR(groove["baseline_grid_velocity80"]["timing_mae_ms"].get<double>(), timing_error_ms / hits, 1e-3);
  EXPECT_NEAR(groove["per_class"]["closed_hihat"]["drummer_timing_ms_mean"].get<double>(), hihat_ms / hihats, 1e-3);
  for (const char* key : {"hit_precision", "hit_recall", "hit_f1"}) {
    EXPECT_GE(groove[key].get<double>(), 0.0) << key;
    EXPECT_LE(groove[key].get<double>(), 1.0) << key;
  }
  EXPECT_GT(groove["velocity_mae"].get<double>(), 0.0);
}

namespace {

// A Python that has TensorBoard: $MVAE_TENSORBOARD_PYTHON, the --torch2 environment of
// launch/setup.sh ($MVAE_TORCH2_VENV or .venv-torch2), or the system's python3; "" when none has it.
std::string python_with_tensorboard() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("MVAE_TENSORBOARD_PYTHON")) candidates.push_back(env);
  if (const char* venv = std::getenv("MVAE_TORCH2_VENV")) candidates.push_back(std::string(venv) + "/bin/python");
  candidates.push_back(std::string(MVAE_SOURCE_DIR) + "/.venv-torch2/bin/python");
  candidates.push_back("python3");
  for (const auto& python : candidates)
    if (run(python + " -c 'import tensorboard' 2>/dev/null").status == 0) return python;
  return "";
}

}  // namespace

// TensorBoard itself reads the event files train writes: every scalar at its step, as in metrics.jsonl.
TEST_F(TrainMpi, TensorBoardReadsTheScalarsTrainWrites) {
  const std::string python = python_with_tensorboard();
  if (python.empty()) GTEST_SKIP() << "TensorBoard is not installed (bash launch/setup.sh --torch2 installs it)";
  const fs::path run_dir = run_root.path() / "tb";
  const ProcessRun t =
      run(std::string(MVAE_TRAIN_BIN) + " --data " + shards_.string() + " --run " + run_dir.string() +
          " --preset tiny --batch 8 --steps 20 --threads 1 --log-every 5 --eval-every 10 --eval-windows 16");
  ASSERT_EQ(t.status, 0) << t.output;
  const ProcessRun tb = run(python + " " + MVAE_SOURCE_DIR + "/tools/read_tensorboard.py " +
                            (run_dir / "tensorboard").string() + " 2>/dev/null");
  ASSERT_EQ(tb.status, 0) << tb.output;
  const auto scalars = nlohmann::json::parse(tb.output);
  // metrics.jsonl key -> TensorBoard tag, for the keys every run writes.
  const std::map<std::string, std::string> tags = {
      {"loss", "train/loss"}, {"r_loss", "train/r_loss"}, {"kl_bits", "train/kl_bits"},
      {"lr", "train/lr"},     {"eval_elbo", "eval/elbo"}, {"eval_tf_accuracy", "eval/teacher_forced_accuracy"}};
  std::map<std::string, std::vector<std::pair<int64_t, double>>> expected;
  std::ifstream metrics(run_dir / "metrics.jsonl");
  std::string line;
  while (std::getline(metrics, line)) {
    const auto j = nlohmann::json::parse(line);
    for (const auto& [key, tag] : tags)
      if (j.contains(key)) expected[tag].emplace_back(j["step"].get<int64_t>(), j[key].get<double>());
  }
  ASSERT_EQ(expected["train/loss"].size(), 4u) << "20 steps logged every 5";
  ASSERT_EQ(expected["eval/elbo"].size(), 2u) << "validated every 10 steps";
  for (const auto& [tag, points] : expected) {
    ASSERT_TRUE(scalars.contains(tag)) << tag << " missing from " << tb.output;
    const auto& read = scalars[tag];
    ASSERT_EQ(read.size(), points.size()) << tag;
    for (size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(read[i][0].get<int64_t>(), points[i].first) << tag;
      EXPECT_NEAR(read[i][1].get<double>(), points[i].second, 1e-6 * std::max(1.0, std::abs(points[i].second))) << tag;
    }
  }
}
