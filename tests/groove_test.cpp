// The groove output (GrooVAE): its tensors, loss, decoding, input transforms and the metrics a
// drummer would check, against values computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "evaluate/metrics.h"
#include "model/musicvae.h"
#include "model/tokens.h"

using namespace mvae::model;

namespace {

constexpr int64_t C = mvae::data::kNumDrumClasses;

ModelConfig groove_config(DecoderKind kind, InputTransform transform = InputTransform::kNone) {
  ModelConfig c = preset("tiny-groove");
  c.decoder = kind;
  c.input_transform = transform;
  c.dec_layers = 2;
  return c;
}

// Random performances [B, T, 27]: about a quarter of the cells hit, velocities and offsets only on hits.
torch::Tensor random_grooves(int64_t B, int64_t T) {
  const torch::Tensor hits = (torch::rand({B, T, C}) < 0.25).to(torch::kFloat);
  const torch::Tensor velocities = torch::randint(1, 128, {B, T, C}).to(torch::kFloat) / 127 * hits;
  const torch::Tensor offsets = (torch::rand({B, T, C}) * 1.6 - 0.8) * hits;
  return torch::cat({hits, velocities, offsets}, -1);
}

}  // namespace

TEST(Groove, TensorsRoundTripToTheArraysMidiIsWrittenFrom) {
  // Two steps: kick (v 100, offset 0.5 = early) and snare (v 30) at step 0; nothing at step 1.
  std::vector<uint8_t> velocities(2 * C, 0);
  std::vector<float> offsets(2 * C, 0.0f);
  velocities[0] = 100;
  offsets[0] = 0.5f;
  velocities[1] = 30;
  offsets[1] = -0.25f;
  offsets[C + 4] = 0.9f;  // an offset without a hit is not a hit and is dropped
  const torch::Tensor g = groove_tensor(velocities.data(), offsets.data(), 1, 2);
  ASSERT_EQ(g.sizes(), (std::vector<int64_t>{1, 2, 27}));
  EXPECT_FLOAT_EQ(g[0][0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(g[0][0][C].item<float>(), 100.0f / 127);
  EXPECT_FLOAT_EQ(g[0][0][2 * C].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(g[0][1][2 * C + 4].item<float>(), 0.0f);
  EXPECT_EQ(tokens_of_hits(g.narrow(-1, 0, C))[0][0].item<int64_t>(), 3);  // kick | snare
  const mvae::data::DrumWindow back = window_of_groove(g[0]);
  EXPECT_EQ(back.tokens, (std::vector<uint16_t>{3, 0}));
  EXPECT_EQ(back.velocities, velocities);
  EXPECT_FLOAT_EQ(back.offsets[0], 0.5f);
  EXPECT_FLOAT_EQ(back.offsets[1], -0.25f);
  EXPECT_FLOAT_EQ(back.offsets[C + 4], 0.0f);
}

TEST(Groove, LossIsMagentasHitCrossEntropyPlusVelocityAndOffsetSquaredErrors) {
  torch::manual_seed(11);
  ModelConfig magenta = groove_config(DecoderKind::kFlat);
  magenta.groove_loss_at_hits = false;  // --groove-loss everywhere
  MusicVAE m(magenta);
  const torch::Tensor x = random_grooves(3, m->config().steps());
  const LossOutput out = m->forward(x, 0.0);
  ASSERT_EQ(out.logits.sizes(), (std::vector<int64_t>{3, m->config().steps(), 27}));
  const torch::Tensor o = out.logits;
  const torch::Tensor p = torch::sigmoid(o.narrow(-1, 0, C)), h = x.narrow(-1, 0, C);
  const torch::Tensor bce = -(h * torch::log(p) + (1 - h) * torch::log(1 - p));
  const torch::Tensor vel = (torch::sigmoid(o.narrow(-1, C, C)) - x.narrow(-1, C, C)).square();
  const torch::Tensor off = (torch::tanh(o.narrow(-1, 2 * C, C)) - x.narrow(-1, 2 * C, C)).square();
  EXPECT_NEAR(out.hits_loss.item<double>(), bce.sum({1, 2}).mean().item<double>(), 1e-3);
  EXPECT_NEAR(out.velocities_loss.item<double>(), vel.sum({1, 2}).mean().item<double>(), 1e-4);
  EXPECT_NEAR(out.offsets_loss.item<double>(), off.sum({1, 2}).mean().item<double>(), 1e-4);
  EXPECT_NEAR(out.r_loss.item<double>(), (bce + vel + off).sum({1, 2}).mean().item<double>(), 1e-3);
  // Accuracy: steps whose nine predicted hits (p > 0.5) all equal the target's.
  const double exact = ((p > 0.5) == (h > 0.5)).all(-1).to(torch::kFloat).mean().item<double>();
  EXPECT_NEAR(out.accuracy.item<double>(), exact, 1e-6);

  // --groove-loss at-hits: velocity and offset errors count only where the drummer hit.
  ModelConfig at_hits = m->config();
  at_hits.groove_loss_at_hits = true;
  MusicVAE masked(at_hits);
  const ReconstructionLoss r = masked->reconstruction_loss(o, x);
  EXPECT_NEAR(r.velocities.mean().item<double>(), (vel * h).sum({1, 2}).mean().item<double>(), 1e-4);
  EXPECT_NEAR(r.offsets.mean().item<double>(), (off * h).sum({1, 2}).mean().item<double>(), 1e-4);
  EXPECT_NEAR(r.hits.mean().item<double>(), out.hits_loss.item<double>(), 1e-4);
}

TEST(Groove, TeacherForcedOutputsEqualStepwiseDecodingForBothDecoders) {
  for (DecoderKind kind : {DecoderKind::kFlat, DecoderKind::kHierarchical}) {
    torch::manual_seed(12);
    MusicVAE m(groove_config(kind));
    m->eval();
    const torch::Tensor x = random_grooves(2, m->config().steps());
    const torch::Tensor z = torch::randn({2, m->config().z});
    const torch::Tensor batched = m->decode_teacher_forced(z, x);
    const DecodeOutput stepwise = m->decode_stepwise(z, x, 0.0, 1.0, false);
    EXPECT_TRUE(torch::allclose(batched, stepwise.logits, 1e-5, 1e-5))
        << (kind == DecoderKind::kFlat ? "flat" : "hierarchical");
    EXPECT_TRUE(torch::equal(stepwise.sequences, x));
    // Gradients reach the groove input weights of both LSTM stacks.
    m->train();
    m->forward(x, 0.2).loss.backward();
    for (const auto& item : m->named_parameters())
      if (item.key().find("input_w") != std::string::npos) {
        EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key();
      }
  }
}

TEST(Groove, DecodingKeepsGivenHitsAndPutsVelocityAndTimingOnHitsOnly) {
  torch::manual_seed(13);
  MusicVAE m(groove_config(DecoderKind::kHierarchical, InputTransform::kHumanize));
  m->eval();
  const int64_t T = m->config().steps();
  const torch::Tensor given = random_grooves(4, T).narrow(-1, 0, C);
  const torch::Tensor z = torch::randn({4, m->config().z});
  for (const bool argmax : {false, true}) {
    const torch::Tensor out = m->sample(z, 1.0, argmax, given);
    EXPECT_TRUE(torch::equal(out.narrow(-1, 0, C), given));
    const torch::Tensor v = out.narrow(-1, C, C), o = out.narrow(-1, 2 * C, C);
    EXPECT_EQ((v * (1 - given)).abs().sum().item<double>(), 0.0);
    EXPECT_EQ((o * (1 - given)).abs().sum().item<double>(), 0.0);
    EXPECT_GT(v.masked_select(given > 0.5).min().item<double>(), 0.0);
    EXPECT_LT(v.max().item<double>(), 1.0);
    EXPECT_LT(o.abs().max().item<double>(), 1.0);
  }
  // Free-running: hits are 0 or 1, by Bernoulli sampling or by logit > 0 (the same every time).
  const torch::Tensor free = m->sample(z, 1.0, true).narrow(-1, 0, C);
  EXPECT_TRUE(torch::equal(free, m->sample(z, 1.0, true).narrow(-1, 0, C)));
  EXPECT_TRUE(((free == 0) | (free == 1)).all().item<bool>());
}

// groove_feedback: masked (ours) feeds back velocities and offsets only where a step hit; raw
// (Magenta's GrooveLstmDecoder) feeds back the heads everywhere, so free-running decodes differ. The
// setting is saved with the model, and a token model refuses it.
TEST(Groove, FeedbackIsMaskedOrMagentasRawHeads) {
  torch::manual_seed(14);
  ModelConfig c = groove_config(DecoderKind::kFlat, InputTransform::kNone);
  MusicVAE masked(c);
  masked->eval();
  c.groove_feedback_masked = false;
  MusicVAE raw(c);
  raw->eval();
  {
    torch::NoGradGuard no_grad;
    for (const auto& p : masked->named_parameters()) raw->named_parameters()[p.key()].copy_(p.value());
  }
  const torch::Tensor z = torch::randn({8, c.z});
  const torch::Tensor m = masked->sample(z, 1.0, true), r = raw->sample(z, 1.0, true);
  const torch::Tensor silent = 1 - r.narrow(-1, 0, C);
  EXPECT_GT((r.narrow(-1, C, C) * silent).abs().sum().item<double>(), 0.0) << "raw heads at silent steps";
  EXPECT_EQ((m.narrow(-1, C, C) * (1 - m.narrow(-1, 0, C))).abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(
      m.select(1, 0),
      r.select(1, 0).mul(torch::cat({torch::ones({8, C}), r.select(1, 0).narrow(-1, 0, C).repeat({1, 2})}, -1))))
      << "the first step reads the same start; only what is fed back differs";
  EXPECT_FALSE(torch::equal(m, r));
  EXPECT_FALSE(ModelConfig::from_json(c.to_json(), "test").groove_feedback_masked);
  ModelConfig tokens = preset("tiny");
  tokens.groove_feedback_masked = false;
  EXPECT_THROW(tokens.validate(), ConfigError);
}

TEST(Groove, InputTransformsHideWhatTheTaskRestores) {
  torch::manual_seed(14);
  const torch::Tensor x = random_grooves(2, 32);
  {
    MusicVAE m(groove_config(DecoderKind::kFlat, InputTransform::kHumanize));
    m->eval();
    const torch::Tensor in = m->encoder_input(x);
    EXPECT_TRUE(torch::equal(in.narrow(-1, 0, C), x.narrow(-1, 0, C)));
    EXPECT_EQ(in.narrow(-1, C, 2 * C).abs().sum().item<double>(), 0.0);
    // The encoder cannot see velocities or timing: another performance of the same score encodes the same.
    torch::Tensor other = x.clone();
    other.narrow(-1, C, 2 * C).mul_(0.5);
    EXPECT_TRUE(torch::equal(m->encode(m->encoder_input(x)).mu, m->encode(m->encoder_input(other)).mu));
  }
  {
    MusicVAE m(groove_config(DecoderKind::kFlat, InputTransform::kTap));
    const torch::Tensor in = m->encoder_input(x);
    const torch::Tensor any = std::get<0>(x.narrow(-1, 0, C).max(-1));  // [B, T]
    const torch::Tensor loudest = x.narrow(-1, C, C).argmax(-1, true);
    // One tap on class 3 per step with any hit, at the loudest hit's timing, at no velocity.
    EXPECT_TRUE(torch::equal(in.select(-1, 3), any));
    EXPECT_EQ(in.narrow(-1, 0, C).sum().item<double>(), any.sum().item<double>());
    EXPECT_EQ(in.narrow(-1, C, C).abs().sum().item<double>(), 0.0);
    EXPECT_TRUE(
        torch::allclose(in.select(-1, 2 * C + 3), x.narrow(-1, 2 * C, C).gather(-1, loudest).squeeze(-1) * any));
  }
}

TEST(Groove, ConfigNamesTheOutputAndTransformAndOldModelsReadAsTokens) {
  const ModelConfig h = preset("groovae_2bar_humanize");
  EXPECT_TRUE(h.groove());
  EXPECT_EQ(h.input_transform, InputTransform::kHumanize);
  EXPECT_EQ(h.enc, 512);
  EXPECT_EQ(h.z, 256);
  EXPECT_EQ(h.dec, 256);
  EXPECT_DOUBLE_EQ(h.dropout_keep, 0.3);
  EXPECT_TRUE(h.groove_loss_at_hits) << "measured better than Magenta's loss everywhere (docs/results.md)";
  EXPECT_EQ(preset("groovae_4bar").bars, 4);
  EXPECT_EQ(preset("groovae_2bar_tap_fixed_velocity").input_transform, InputTransform::kTap);
  const ModelConfig back = ModelConfig::from_json(h.to_json(), "test");
  EXPECT_EQ(back.to_json(), h.to_json());
  std::string old = preset("cat-drums_2bar_small").to_json();
  for (const char* field : {",\"output\":\"tokens\"", ",\"input_transform\":\"none\""})
    old.erase(old.find(field), std::strlen(field));
  EXPECT_FALSE(ModelConfig::from_json(old, "old").groove());
  ModelConfig bad = preset("cat-drums_2bar_small");
  bad.input_transform = InputTransform::kHumanize;
  try {
    bad.validate();
    FAIL() << "a token model with an input transform validated";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "input_transform");
  }
}

TEST(GrooveMetrics, BaselinesAndTimingInMillisecondsFollowTheWindowsTempo) {
  torch::manual_seed(15);
  MusicVAE m(groove_config(DecoderKind::kFlat, InputTransform::kHumanize));
  m->eval();
  const int64_t T = m->config().steps();
  // One hit: kick at step 0, velocity 127 * 0.5, offset 0.4 (early by 0.2 of a step).
  torch::Tensor x = torch::zeros({2, T, 27});
  for (int b = 0; b < 2; ++b) {
    x[b][0][0] = 1.0;
    x[b][0][C] = 0.5;
    x[b][0][2 * C] = 0.4;
  }
  mvae::evaluate::GrooveBaselines baselines;
  baselines.mean_velocity[0] = 70.0;
  baselines.mean_offset[0] = 0.1;
  // At 120 qpm a step is 125 ms and an offset unit 62.5 ms; at 60 qpm twice that.
  const torch::Tensor mu = m->encode(m->encoder_input(x)).mu;
  const auto totals = mvae::evaluate::groove_metrics(m, x, mu, {120.0, 60.0}, baselines, 1.0, true);
  ASSERT_EQ(totals.size(), 2u);
  for (int b = 0; b < 2; ++b) {
    const auto& g = totals[static_cast<size_t>(b)];
    const double unit_ms = b == 0 ? 62.5 : 125.0;
    EXPECT_EQ(g.hits, 1.0);
    EXPECT_NEAR(g.grid_velocity_error, std::abs(80.0 - 63.5), 1e-4);
    EXPECT_NEAR(g.grid_timing_error_ms, 0.4 * unit_ms, 1e-4);
    EXPECT_NEAR(g.mean_velocity_error, std::abs(70.0 - 63.5), 1e-4);
    EXPECT_NEAR(g.mean_timing_error_ms, 0.3 * unit_ms, 1e-4);
    EXPECT_NEAR(g.drummer_timing_ms[0], -0.4 * unit_ms, 1e-4) << "early is negative (ms behind the grid)";
    EXPECT_EQ(g.true_positives + g.false_negatives, 1.0);
    EXPECT_GE(g.velocity_error, 0.0);
  }
}
