// A tiny model must memorise a handful of real Groove windows: the whole stack (shards ->
// tokens -> model -> loss -> Adam) learns.
#include <gtest/gtest.h>

#include "data/shards.h"
#include "model/musicvae.h"
#include "preprocess/preprocess.h"
#include "test_util.h"

using namespace mvae;

TEST(ModelOverfit, TinyModelMemorisesEightGrooveWindows) {
  if (test::groove_zip().empty()) GTEST_SKIP() << "MVAE_GROOVE_ZIP not set";
  test::TempDir dir;
  data::ShardSet shards(test::preprocess_groove(dir.path() / "shards"));
  const int64_t B = 8, T = shards.representation().window_steps();
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < B; ++i) indices.push_back(i * 101);
  std::vector<uint16_t> tokens(B * T);
  shards.read_tokens("train", indices, tokens.data());
  const std::vector<int64_t> wide(tokens.begin(), tokens.end());
  const torch::Tensor x = torch::tensor(wide, torch::kLong).view({B, T});

  torch::manual_seed(0);
  model::ModelConfig c = model::preset("tiny");
  c.bars = shards.representation().bars;
  model::MusicVAE m(c);
  torch::optim::Adam adam(m->parameters(), torch::optim::AdamOptions(1e-2));
  double accuracy = 0;
  int step = 0;
  for (; step < 600 && accuracy < 0.98; ++step) {
    adam.zero_grad();
    const auto out = m->forward(x, model::beta_at(c, step));
    out.loss.backward();
    torch::nn::utils::clip_grad_norm_(m->parameters(), 1.0);
    adam.step();
    accuracy = out.accuracy.item<double>();
  }
  EXPECT_GE(accuracy, 0.98) << "after " << step << " steps";
  RecordProperty("steps_to_98_percent", step);
}
