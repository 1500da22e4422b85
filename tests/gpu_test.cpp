// The GPU paths, which CI cannot run (no GPU there): every test is skipped, with the reason, without
// a CUDA device. launch/gpu_check.sh runs them on a GPU machine (`ctest -R Gpu`).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "model/lstm_layer.h"
#include "process_util.h"
#include "run_folder_util.h"
#include "test_util.h"

using namespace mvae;
namespace fs = std::filesystem;

namespace {

int gpus() { return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0; }

std::string train(int ranks, const fs::path& shards, const fs::path& run_dir, const std::string& args) {
  std::ostringstream c;
  c << test::mpirun(ranks) << " " << MVAE_TRAIN_BIN << " --data " << shards << " --run " << run_dir
    << " --threads 1 --eval-every 1000 --eval-windows 16 " << args;
  return c.str();
}

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (gpus() == 0) GTEST_SKIP() << "no CUDA device (this LibTorch has no CUDA, or no GPU is visible)";
    shards = test::make_synthetic_shards(dir.path());
  }
  test::TempDir dir;
  fs::path shards;
};

}  // namespace

// One rank on the GPU (NCCL communicator) and one on the CPU (MPI communicator), same data, same
// seed: the same parameters up to float32 rounding of different kernels.
TEST_F(Gpu, NcclRankTrainsLikeTheMpiPathOnTheCpu) {
  const test::ProcessRun gpu = test::run(
      train(1, shards, dir.path() / "gpu", "--preset tiny --batch 16 --steps 12 --log-every 4 --device cuda"));
  ASSERT_EQ(gpu.status, 0) << gpu.output;
  EXPECT_NE(gpu.output.find("nccl communicator, device cuda:0"), std::string::npos) << gpu.output;
  const test::ProcessRun cpu =
      test::run(train(1, shards, dir.path() / "cpu", "--preset tiny --batch 16 --steps 12 --log-every 4 --device cpu"));
  ASSERT_EQ(cpu.status, 0) << cpu.output;
  const double diff =
      test::max_difference(test::final_parameters(dir.path() / "gpu"), test::final_parameters(dir.path() / "cpu"));
  EXPECT_LT(diff, 1e-3) << "GPU and CPU parameters after 12 steps differ by " << diff;
  RecordProperty("max_parameter_difference", std::to_string(diff));
}

// Two ranks: with two GPUs they all-reduce over NCCL and equal one rank with twice the batch; with
// one GPU they are refused at start (NCCL does not allow two ranks on one device).
TEST_F(Gpu, TwoRanksUseTwoGpusOrAreRefusedOnOne) {
  const test::ProcessRun two =
      test::run(train(2, shards, dir.path() / "two", "--preset tiny --batch 8 --steps 12 --log-every 4 --device cuda"));
  if (gpus() < 2) {
    EXPECT_NE(two.status, 0);
    EXPECT_NE(two.output.find("one rank per GPU"), std::string::npos) << two.output;
    return;
  }
  ASSERT_EQ(two.status, 0) << two.output;
  const test::ProcessRun one = test::run(
      train(1, shards, dir.path() / "one", "--preset tiny --batch 16 --steps 12 --log-every 4 --device cuda"));
  ASSERT_EQ(one.status, 0) << one.output;
  EXPECT_LT(
      test::max_difference(test::final_parameters(dir.path() / "one"), test::final_parameters(dir.path() / "two")),
      1e-4);
}

// bf16 autocast on real Groove windows: the loss falls and stays finite.
TEST_F(Gpu, Bf16TrainingOnGrooveWindowsLearns) {
  if (test::groove_zip().empty()) GTEST_SKIP() << "MVAE_GROOVE_ZIP not set";
  const std::string groove = test::preprocess_groove(dir.path() / "groove").string();
  const test::ProcessRun r =
      test::run(train(1, groove, dir.path() / "bf16",
                      "--preset hierdec-drums_4bar --bars 2 --batch 256 --steps 200 --log-every 50 "
                      "--device cuda --precision bf16"));
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream metrics(dir.path() / "bf16" / "metrics.jsonl");
  std::vector<double> losses;
  std::string line;
  while (std::getline(metrics, line))
    if (line.find("\"loss\"") != std::string::npos) losses.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  ASSERT_EQ(losses.size(), 4u);
  for (double l : losses) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(losses.back(), 0.8 * losses.front()) << "bf16 training did not learn";
}

// A run stopped and resumed on the GPU ends where an uninterrupted one does.
TEST_F(Gpu, ResumeOnTheGpuContinuesTheRun) {
  const std::string common = "--preset tiny --batch 16 --device cuda --log-every 5 --checkpoint-every 10 ";
  ASSERT_EQ(test::run(train(1, shards, dir.path() / "straight", common + "--steps 20")).status, 0);
  ASSERT_EQ(test::run(train(1, shards, dir.path() / "resumed", common + "--steps 10")).status, 0);
  const test::ProcessRun r = test::run(train(1, shards, dir.path() / "resumed", common + "--steps 20 --resume"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_LT(test::max_difference(test::final_parameters(dir.path() / "straight"),
                                 test::final_parameters(dir.path() / "resumed")),
            1e-4);
}

// The fused CUDA cell (model/lstm_layer.cpp) computes what the CPU layer computes: outputs, final
// states and every gradient, for one and two directions.
TEST_F(Gpu, FusedCudaCellMatchesTheCpuLayer) {
  torch::manual_seed(7);
  for (int64_t D : {1, 2}) {
    const int64_t T = 12, N = 5, H = 16;
    std::vector<torch::Tensor> xg;
    for (int64_t d = 0; d < D; ++d) xg.push_back(torch::randn({T, N, 4 * H}));
    const torch::Tensor h0 = torch::randn({D, N, H}), c0 = torch::randn({D, N, H}),
                        w = torch::randn({D, 4 * H, H}) * 0.3;
    const auto run_on = [&](const torch::Device& device) {
      std::vector<torch::Tensor> x;
      for (const auto& t : xg) x.push_back(t.to(device).requires_grad_());
      const torch::Tensor h = h0.to(device).requires_grad_(), c = c0.to(device).requires_grad_(),
                          wd = w.to(device).requires_grad_();
      const auto out = model::lstm_layer(x, h, c, wd);
      torch::Tensor loss = out[D].sum() * 0.3 + out[D + 1].square().sum();
      for (int64_t d = 0; d < D; ++d) loss = loss + (out[d] * torch::linspace(-1, 1, H, out[d].options())).sum();
      loss.backward();
      std::vector<torch::Tensor> all(out.begin(), out.end());
      for (const auto& t : x) all.push_back(t.grad());
      for (const auto& t : {h, c, wd}) all.push_back(t.grad());
      for (auto& t : all) t = t.cpu();
      return all;
    };
    const auto cpu = run_on(torch::kCPU), gpu = run_on(torch::Device(torch::kCUDA, 0));
    ASSERT_EQ(cpu.size(), gpu.size());
    for (size_t k = 0; k < cpu.size(); ++k)
      EXPECT_TRUE(torch::allclose(cpu[k], gpu[k], 1e-4, 1e-4))
          << "D " << D << ", tensor " << k << ": max difference " << (cpu[k] - gpu[k]).abs().max().item<double>();
  }
}
