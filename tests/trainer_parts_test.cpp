// The trainer's parts in one process, with a communicator that stands for a world of one rank:
// setup, one step, validation through the loader, checkpoints with checksums, the best
// checkpoint and early stopping, resume past a damaged checkpoint, and the metrics sink.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "cli/model_options.h"
#include "common/error.h"
#include "common/files.h"
#include "inference/trained_model.h"
#include "model/musicvae.h"
#include "model_file/model_file.h"
#include "run_folder/checkpoint_files.h"
#include "run_folder_util.h"
#include "shards_fixture.h"
#include "test_util.h"
#include "train/metrics_sink.h"
#include "train/trainer.h"

using namespace mvae;
namespace fs = std::filesystem;

namespace {

class OneRank : public comm::Communicator {
 public:
  std::string name() const override { return "one-rank"; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce(torch::Tensor&, comm::ReduceOp) override {}
  void broadcast(torch::Tensor&, int) override {}
  double all_reduce_scalar(double value, comm::ReduceOp) override { return value; }
  void barrier() override {}
};

class TrainerParts : public test::SyntheticShardsSuite {
 protected:
  train::TrainOptions options(const std::string& run_name) const {
    train::TrainOptions o;
    o.data = shards_.string();
    o.run = (run_dir_.path() / run_name).string();
    o.model = model::preset("tiny");
    o.batch = 8;
    o.steps = 4;
    o.threads = 1;
    o.log_every = 2;
    o.eval_every = 2;
    o.eval_windows = 16;
    o.checkpoint_every = 2;
    o.validate();
    return o;
  }

  test::TempDir& run_dir_ = root;
  OneRank comm_;
};

TEST_F(TrainerParts, StepValidateAndCheckpointInOneProcess) {
  const train::TrainOptions o = options("a");
  train::Trainer trainer(o, torch::kCPU, comm_);
  const train::StepResult first = trainer.step();
  EXPECT_TRUE(std::isfinite(first.losses.loss));
  EXPECT_GT(first.grad_norm, 0);
  EXPECT_DOUBLE_EQ(first.lr, o.lr);  // step 0 of the schedule
  EXPECT_EQ(trainer.state().step, 1);
  EXPECT_EQ(trainer.state().consumed_samples, 8);
  for (int i = 0; i < 5; ++i) trainer.step();
  // Validation reads through the loader thread, which owns the shards: a direct read from here
  // would throw (ShardsTest.OnlyTheClaimingThreadMayRead).
  const train::ValidationResult v = trainer.validate();
  EXPECT_EQ(v.windows, std::min<int64_t>(16, trainer.windows("validation")));
  EXPECT_GE(v.tf_accuracy, 0.0);
  EXPECT_LE(v.tf_accuracy, 1.0);
  EXPECT_NEAR(v.elbo, -(v.r_loss + v.kl), 1e-9);
  EXPECT_TRUE(trainer.record_validation(v));  // the first validation is the best so far
  trainer.checkpoint(/*is_best=*/true);
  const fs::path dir = fs::path(o.run) / "checkpoints";
  EXPECT_EQ(read_text_file(dir / "latest"), "step-00000006\n");
  EXPECT_EQ(read_text_file(dir / "best"), "step-00000006\n");
  const auto sums = nlohmann::json::parse(read_text_file(dir / "step-00000006" / "checksums.json"));
  for (const char* f : {"model.safetensors", "optimizer.safetensors", "state.json", "rng-rank00000.safetensors"})
    EXPECT_TRUE(sums["files"].contains(f)) << f;
  EXPECT_EQ(run_folder::verify_checkpoint(dir / "step-00000006"), "");
  const auto state = nlohmann::json::parse(read_text_file(dir / "step-00000006" / "state.json"));
  EXPECT_EQ(state["best_step"], 6);
}

// Windows kept in memory (the default) and windows read from the files (--loader-memory-mb 0)
// train the same model, bit for bit, for token and groove batches, and validate alike.
TEST_F(TrainerParts, ResidentWindowsTrainExactlyAsWindowsReadFromTheFiles) {
  for (const char* preset : {"tiny", "tiny-groove"}) {
    std::vector<std::vector<torch::Tensor>> params;
    std::vector<train::ValidationResult> validations;
    for (double memory_mb : {0.0, 2048.0}) {
      train::TrainOptions o = options(std::string(preset) + "-" + std::to_string(static_cast<int>(memory_mb)));
      o.model = model::preset(preset);
      o.loader_memory_mb = memory_mb;
      train::Trainer trainer(o, torch::kCPU, comm_);
      for (int i = 0; i < 3; ++i) trainer.step();
      validations.push_back(trainer.validate());
      trainer.checkpoint(/*is_best=*/false);
      params.push_back(test::final_parameters(o.run));
    }
    ASSERT_EQ(params[0].size(), params[1].size());
    for (size_t i = 0; i < params[0].size(); ++i)
      EXPECT_TRUE(torch::equal(params[0][i], params[1][i])) << preset << " parameter " << i;
    EXPECT_EQ(validations[0].r_loss, validations[1].r_loss) << preset;
    EXPECT_EQ(validations[0].tf_accuracy, validations[1].tf_accuracy) << preset;
  }
}

TEST_F(TrainerParts, ResumeAndGenerateFallBackPastADamagedCheckpoint) {
  train::TrainOptions o = options("damaged");
  o.eval_every = 1000;
  train::run_training(o, torch::kCPU, comm_, 1);  // checkpoints at steps 2 and 4
  const fs::path dir = fs::path(o.run) / "checkpoints";
  ASSERT_TRUE(fs::exists(dir / "step-00000002" / "COMPLETE"));
  {  // one flipped byte in the middle of the newest model.safetensors
    std::fstream f(dir / "step-00000004" / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(fs::file_size(dir / "step-00000004" / "model.safetensors") / 2));
    const char c = static_cast<char>(f.get());
    f.seekp(static_cast<std::streamoff>(fs::file_size(dir / "step-00000004" / "model.safetensors") / 2));
    f.put(static_cast<char>(c ^ 0x5a));
  }
  EXPECT_NE(run_folder::verify_checkpoint(dir / "step-00000004").find("model.safetensors: CRC-32"), std::string::npos);

  o.resume = true;
  o.steps = 6;
  train::Trainer trainer(o, torch::kCPU, comm_);
  EXPECT_EQ(trainer.resumed_from().filename(), "step-00000002");
  EXPECT_EQ(trainer.state().step, 2);
  ASSERT_EQ(trainer.passed_over().size(), 1u);
  EXPECT_NE(trainer.passed_over()[0].find("step-00000004 (model.safetensors: CRC-32"), std::string::npos)
      << trainer.passed_over()[0];

  // generate and evaluate load the same fallback; the damaged folder given directly is refused.
  inference::TrainedModel gen(o.run);
  EXPECT_EQ(fs::path(gen.model_path()).parent_path().filename(), "step-00000002");
  try {
    inference::TrainedModel direct((dir / "step-00000004").string());
    FAIL() << "a damaged checkpoint given directly was loaded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint is damaged: model.safetensors"), std::string::npos) << e.what();
  }
}

TEST_F(TrainerParts, EarlyStopKeepsTheBestCheckpointPastPruning) {
  train::TrainOptions o = options("early");
  o.steps = 50;
  o.eval_every = 1;
  o.keep_checkpoints = 1;
  o.early_stop = 2;
  o.early_stop_min_delta = 1e9;  // no later validation can count as an improvement
  const train::TrainResult r = train::run_training(o, torch::kCPU, comm_, 1);
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(r.steps_done, 3);  // best at step 1, then two validations without improvement
  const fs::path dir = fs::path(o.run) / "checkpoints";
  EXPECT_EQ(read_text_file(dir / "best"), "step-00000001\n");
  EXPECT_EQ(read_text_file(dir / "latest"), "step-00000003\n");
  EXPECT_TRUE(fs::exists(dir / "step-00000001" / "COMPLETE"));  // kept although --keep-checkpoints 1
  EXPECT_FALSE(fs::exists(dir / "step-00000002"));
  inference::TrainedModel best(o.run, run_folder::CheckpointChoice::kBest);
  EXPECT_EQ(fs::path(best.model_path()).parent_path().filename(), "step-00000001");
  // The `best` link is a hint: lost, the newest checkpoint's state.json still says which is best.
  fs::remove(dir / "best");
  const run_folder::FoundCheckpoint found = run_folder::find_checkpoint(o.run, run_folder::CheckpointChoice::kBest);
  EXPECT_EQ(found.folder.filename(), "step-00000001");
  EXPECT_NE(found.link_note.find("best is missing; using step-00000001"), std::string::npos) << found.link_note;
}

// Fine-tuning: a new run starts from another run's weights with other regularisation, at step 0
// with a fresh optimizer; a model of other sizes is refused, naming the parameter.
TEST_F(TrainerParts, InitFromStartsANewRunFromAnotherRunsWeights) {
  train::TrainOptions source = options("source");
  source.steps = 2;
  train::run_training(source, torch::kCPU, comm_, 1);
  model_file::LoadedModel trained = model_file::load_model(run_folder::resolve_model_file(source.run), torch::kCPU);

  train::TrainOptions o = options("fine-tune");
  o.init_from = source.run;
  o.model.dropout_keep = 0.5;  // regularisation that shapes no parameter may differ
  o.model.free_bits = 8;
  train::Trainer trainer(o, torch::kCPU, comm_);
  EXPECT_EQ(trainer.state().step, 0);
  EXPECT_TRUE(trainer.resumed_from().empty());
  EXPECT_EQ(fs::path(trainer.initialized_from()).parent_path().filename(), "step-00000002");
  const train::StepResult first = trainer.step();
  EXPECT_DOUBLE_EQ(first.lr, o.lr);  // the schedule starts afresh
  // A trained model from step 2 scores better on its first step than a fresh initialisation.
  train::Trainer fresh(options("fresh"), torch::kCPU, comm_);
  EXPECT_LT(first.losses.r_loss, fresh.step().losses.r_loss);
  // A stage continued from those weights (--schedule-offset) takes the schedules up where its run left them.
  train::TrainOptions continued = options("continued");
  continued.init_from = source.run;
  continued.schedule_offset = 7000;
  continued.model.sampling_schedule = model::SamplingSchedule::kInverseSigmoid;
  continued.model.sampling_rate = 1000;  // through 0.5 at step ~6,900
  const train::StepResult later = train::Trainer(continued, torch::kCPU, comm_).step();
  EXPECT_DOUBLE_EQ(later.lr, (o.lr - o.min_lr) * std::pow(o.lr_decay, 7000.0) + o.min_lr);
  EXPECT_DOUBLE_EQ(later.sampling_probability, model::sampling_probability_at(continued.model, 7000));
  EXPECT_GT(later.sampling_probability, 0.5);
  // The weights before that step were the source's: reload the run's parameters through a
  // second trainer and compare.
  train::TrainOptions again = options("fine-tune-2");
  again.init_from = source.run;
  train::Trainer copy(again, torch::kCPU, comm_);
  copy.checkpoint(false);
  model_file::LoadedModel copied = model_file::load_model(run_folder::resolve_model_file(again.run), torch::kCPU);
  const auto expected = trained.model->named_parameters();
  for (const auto& p : copied.model->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), expected[p.key()])) << p.key();

  train::TrainOptions wider = options("wider");
  wider.init_from = source.run;
  wider.model.dec = 48;
  try {
    train::Trainer refused(wider, torch::kCPU, comm_);
    FAIL() << "a model of other sizes was accepted";
  } catch (const UsageError& e) {
    // The trainer names settings by field; train shows them as its options.
    const std::string what = in_option_words(e.what(), cli::option_name);
    EXPECT_NE(what.find("--init-from " + run_folder::resolve_model_file(source.run)), std::string::npos) << what;
    EXPECT_NE(what.find("parameter decoder"), std::string::npos) << what;
    EXPECT_NE(what.find("decoder 32x1"), std::string::npos) << what;  // the sizes to pass
  }
  // A token-lookup model (every one saved before the cat-drums presets read the drum roll) into a
  // roll-reading one: the message names the option that fixes it.
  train::TrainOptions rolled = options("rolled");
  rolled.init_from = source.run;
  rolled.model.roll_input = true;
  try {
    train::Trainer refused(rolled, torch::kCPU, comm_);
    FAIL() << "a token-lookup encoder was copied into a roll-reading one";
  } catch (const UsageError& e) {
    EXPECT_NE(in_option_words(e.what(), cli::option_name).find("add --encoder-input token"), std::string::npos)
        << e.what();
  }
}

// A resume with another --best-metric must not compare an accuracy with a saved ELBO.
TEST_F(TrainerParts, ResumeWithAnotherBestMetricRestartsModelSelection) {
  train::TrainOptions o = options("selection");
  o.steps = 2;
  train::run_training(o, torch::kCPU, comm_, 1);  // best by ELBO (negative) at step 2
  o.resume = true;
  o.steps = 4;
  {
    train::Trainer same(o, torch::kCPU, comm_);
    EXPECT_EQ(same.state().best_step, 2);
    EXPECT_TRUE(same.selection_restarted_from().empty());
  }
  o.best_metric = "tf_accuracy";
  train::Trainer trainer(o, torch::kCPU, comm_);
  EXPECT_EQ(trainer.selection_restarted_from(), "elbo");
  EXPECT_EQ(trainer.state().best_step, -1);
  EXPECT_EQ(trainer.state().evals_since_best, 0);
  trainer.step();
  train::ValidationResult v = trainer.validate();
  v.tf_accuracy = 0;  // the worst accuracy is still better than no accuracy yet
  EXPECT_TRUE(trainer.record_validation(v));
  EXPECT_EQ(trainer.state().best_value, 0);
}

TEST_F(TrainerParts, MetricsSinkWritesTheLineJsonAndTensorBoardFromOneRecord) {
  const fs::path run = run_dir_.path() / "sink";
  fs::create_directories(run);
  std::FILE* out = std::tmpfile();
  {
    train::MetricsSink sink(run, out);
    train::TrainingRecord t;
    t.step = 20;
    t.total_steps = 100;
    t.losses.loss = 12.5;
    t.losses.r_loss = 11.25;
    t.losses.kl = 3.5 * std::log(2.0);  // nats: printed and logged in bits
    t.losses.accuracy = 0.625;
    t.lr = 9.5e-4;
    t.seq_per_s = 200;
    t.eta_seconds = 65;
    sink.training(t);
    sink.validation({20, 16, 10.5, 2.25, -12.0, 0.75, 0.5, true});
  }
  std::rewind(out);
  std::string printed(4096, '\0');
  printed.resize(std::fread(printed.data(), 1, printed.size(), out));
  std::fclose(out);
  EXPECT_NE(printed.find("step 20/100  loss 12.500  r_loss 11.250  kl 3.50 bits  acc 0.6250  lr 9.50e-04"),
            std::string::npos)
      << printed;
  EXPECT_NE(printed.find("ETA 1m05s"), std::string::npos);
  EXPECT_NE(printed.find("teacher-forced acc 0.7500  free-running acc 0.5000  (best so far)"), std::string::npos)
      << printed;
  std::ifstream jsonl(run / "metrics.jsonl");
  std::string line;
  std::getline(jsonl, line);
  const auto training = nlohmann::json::parse(line);
  EXPECT_EQ(training["step"], 20);
  EXPECT_DOUBLE_EQ(training["r_loss"].get<double>(), 11.25);
  EXPECT_DOUBLE_EQ(training["lr"].get<double>(), 9.5e-4);
  std::getline(jsonl, line);
  const auto validation = nlohmann::json::parse(line);
  EXPECT_EQ(validation["eval_windows"], 16);
  EXPECT_DOUBLE_EQ(validation["eval_tf_accuracy"].get<double>(), 0.75);
  // TensorBoard got the same figures under its tags.
  std::string events;
  for (const auto& e : fs::directory_iterator(run / "tensorboard")) events += read_text_file(e.path());
  for (const char* tag : {"train/r_loss", "train/lr", "eval/teacher_forced_accuracy", "eval/free_running_accuracy"})
    EXPECT_NE(events.find(tag), std::string::npos) << tag;
}

}  // namespace

// --lstm-bias-lr-scale 2 gives torch.nn.LSTM's dynamics: the LSTM gate biases (and nothing else)
// take Adam steps twice as large.
TEST(Optimizer, LstmBiasScaleDoublesOnlyTheGateBiasSteps) {
  train::TrainOptions o;
  o.model = model::preset("tiny");  // hierarchical: encoder, conductor and decoder stacks
  const auto one_step = [&](double scale) {
    o.lstm_bias_lr_scale = scale;
    torch::manual_seed(3);
    model::MusicVAE m(o.model);
    auto optimizer = train::make_optimizer(*m, o);
    std::map<std::string, torch::Tensor> before;
    for (const auto& p : m->named_parameters()) {
      before[p.key()] = p.value().detach().clone();
      p.value().mutable_grad() = torch::full_like(p.value(), 0.5);
    }
    optimizer->step();
    std::map<std::string, double> moved;  // mean |change| per parameter
    for (const auto& p : m->named_parameters())
      moved[p.key()] = (p.value() - before[p.key()]).abs().mean().item<double>();
    return std::make_pair(moved, optimizer->param_groups().size());
  };
  const auto [plain, plain_groups] = one_step(1.0);
  const auto [scaled, scaled_groups] = one_step(2.0);
  EXPECT_EQ(plain_groups, 1u);
  EXPECT_EQ(scaled_groups, 2u);
  int biases = 0;
  for (const auto& [name, step] : plain) {
    const bool gate_bias = train::is_lstm_gate_bias(name);
    biases += gate_bias;
    EXPECT_NEAR(scaled.at(name) / step, gate_bias ? 2.0 : 1.0, 1e-4) << name;
  }
  EXPECT_EQ(biases, o.model.enc_layers + o.model.cond_layers + o.model.dec_layers);
  EXPECT_FALSE(train::is_lstm_gate_bias("output.bias"));
  EXPECT_FALSE(train::is_lstm_gate_bias("mu.bias"));
}
