#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "common/error.h"
#include "common/runtime.h"
#include "model/lstm_layer.h"
#include "model/musicvae.h"
#include "model/precision.h"
#include "model_file/model_file.h"
#include "test_util.h"

using namespace mvae::model;
using namespace mvae::model_file;

namespace {

ModelConfig small(DecoderKind kind, int bars = 2) {
  ModelConfig c = preset("tiny");
  c.decoder = kind;
  c.bars = bars;
  c.enc_layers = 2;
  c.cond_layers = 2;
  c.dec_layers = 2;
  return c;
}

torch::Tensor random_tokens(int64_t B, int64_t T) { return torch::randint(0, 512, {B, T}, torch::kLong); }

}  // namespace

TEST(ModelConfig, PresetsHaveThePaperAndMagentaSizes) {
  const ModelConfig h = preset("hierdec-drums_16bar");
  EXPECT_EQ(h.enc, 2048);
  EXPECT_EQ(h.enc_layers, 2);
  EXPECT_EQ(h.z, 512);
  EXPECT_EQ(h.cond, 1024);
  EXPECT_EQ(h.cond_layers, 2);
  EXPECT_EQ(h.dec, 1024);
  EXPECT_EQ(h.dec_layers, 2);
  EXPECT_EQ(h.steps(), 256);
  EXPECT_TRUE(h.hierarchical());
  const ModelConfig s = preset("cat-drums_2bar_small");
  EXPECT_EQ(s.enc, 512);
  EXPECT_EQ(s.z, 256);
  EXPECT_FALSE(s.hierarchical());
  EXPECT_EQ(s.free_bits, 48);
  EXPECT_EQ(s.sampling_rate, 1000);
  EXPECT_THROW(preset("cat-drums_3bar"), mvae::UsageError);
  const ModelConfig back = ModelConfig::from_json(h.to_json(), "test");
  EXPECT_EQ(back.to_json(), h.to_json());
}

TEST(ModelConfig, SchedulesFollowMagenta) {
  ModelConfig c = preset("cat-drums_2bar_small");
  EXPECT_NEAR(sampling_probability_at(c, 0), 1.0 - 1000.0 / 1001.0, 1e-12);
  EXPECT_NEAR(sampling_probability_at(c, 6908), 0.5, 1e-3);  // k ln k
  EXPECT_GT(sampling_probability_at(c, 12000), 0.99);
  EXPECT_EQ(sampling_probability_at(preset("hierdec-drums_16bar"), 50000), 0.0);
  EXPECT_DOUBLE_EQ(beta_at(c, 0), 0.0);  // beta_rate 0: constant max_beta after step 0
  EXPECT_DOUBLE_EQ(beta_at(c, 10), 0.2);
  c.beta_rate = 0.99999;
  EXPECT_NEAR(beta_at(c, 50000), 0.2 * (1 - std::pow(0.99999, 50000)), 1e-12);
}

TEST(Model, ShapesForEveryPreset) {
  torch::NoGradGuard no_grad;
  for (const std::string& name : preset_names()) {
    ModelConfig c = preset(name);
    MusicVAE m(c);
    // Token presets read and write 512-way token ids; groove presets 27 values per step.
    const auto x = c.groove() ? (torch::rand({2, c.steps(), 27}) < 0.3).to(torch::kFloat) : random_tokens(2, c.steps());
    const int64_t out_size = c.groove() ? 27 : 512;
    const Posterior q = m->encode(m->encoder_input(x));
    EXPECT_EQ(q.mu.sizes(), (std::vector<int64_t>{2, c.z})) << name;
    EXPECT_EQ(q.sigma.sizes(), (std::vector<int64_t>{2, c.z})) << name;
    EXPECT_TRUE((q.sigma > 0).all().item<bool>()) << name;
    const auto logits = m->decode_teacher_forced(q.mu, x);
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, c.steps(), out_size})) << name;
    if (c.steps() <= 64) {  // sampling the 16-bar giants step by step is slow on a CPU
      const auto sampled = m->sample(q.mu, 1.0, false);
      EXPECT_EQ(sampled.sizes(), x.sizes()) << name;
      const auto tokens = m->tokens_of(sampled);
      EXPECT_TRUE((tokens >= 0).all().item<bool>() && (tokens < 512).all().item<bool>()) << name;
    }
  }
}

TEST(Model, KlMatchesClosedForm) {
  // KL(N(mu, sigma^2) || N(0, 1)) = 0.5 (mu^2 + sigma^2 - 1) - log sigma, summed over dimensions.
  Posterior q{torch::tensor({{1.0f, 0.0f, -2.0f}}), torch::tensor({{1.0f, 2.0f, 0.5f}})};
  const double expected =
      0.5 * (1 + 1 - 1) - 0 + 0.5 * (0 + 4 - 1) - std::log(2.0) + 0.5 * (4 + 0.25 - 1) - std::log(0.5);
  EXPECT_NEAR(MusicVAEImpl::kl_divergence(q).item<double>(), expected, 1e-5);
  Posterior prior{torch::zeros({2, 5}), torch::ones({2, 5})};
  EXPECT_NEAR(MusicVAEImpl::kl_divergence(prior).abs().max().item<double>(), 0.0, 1e-7);
}

TEST(Model, FreeBitsAndBetaShapeTheLoss) {
  torch::manual_seed(3);
  ModelConfig c = small(DecoderKind::kHierarchical);
  const auto x = random_tokens(1, c.steps());  // one example: the batch means are that example's values
  for (double free_bits : {0.0, 1.0, 1e6}) {
    c.free_bits = free_bits;
    MusicVAE m(c);
    for (double beta : {0.0, 0.5, 2.0}) {
      const LossOutput out = m->forward(x, beta);
      const double kl = out.kl.item<double>(), r = out.r_loss.item<double>();
      const double expected = r + beta * std::max(0.0, kl - free_bits * std::log(2.0));
      EXPECT_NEAR(out.loss.item<double>(), expected, 1e-4 * std::abs(expected)) << free_bits << " " << beta;
      EXPECT_GE(kl, 0.0);
    }
  }
}

TEST(Model, LossIsCrossEntropySummedOverStepsAveragedOverBatch) {
  torch::manual_seed(4);
  ModelConfig c = small(DecoderKind::kFlat);
  MusicVAE m(c);
  const auto x = random_tokens(3, c.steps());
  const LossOutput out = m->forward(x, 0.0);
  const auto log_probs = torch::log_softmax(out.logits, -1);
  const auto nll = -log_probs.gather(-1, x.unsqueeze(-1)).squeeze(-1);  // [B, T]
  EXPECT_NEAR(out.r_loss.item<double>(), nll.sum(1).mean().item<double>(), 1e-3);
  // An untrained model is near uniform: about T * ln(512) nats.
  EXPECT_NEAR(out.r_loss.item<double>(), c.steps() * std::log(512.0), 0.1 * c.steps() * std::log(512.0));
}

TEST(Model, BatchedBarsEqualBarByBarDecoding) {
  torch::manual_seed(5);
  ModelConfig c = small(DecoderKind::kHierarchical, 4);
  MusicVAE m(c);
  const auto x = random_tokens(3, c.steps());
  const auto z = torch::randn({3, c.z});
  const auto batched = m->decode_teacher_forced(z, x);
  const auto per_bar = m->decode_teacher_forced_per_bar(z, x);
  EXPECT_TRUE(torch::allclose(batched, per_bar, 1e-5, 1e-5));
  // The step-by-step decoder with teacher forcing computes the same logits too.
  const auto stepwise = m->decode_stepwise(z, x, 0.0, 1.0, false);
  EXPECT_TRUE(torch::allclose(batched, stepwise.logits, 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(stepwise.sequences, x));
}

TEST(Model, FusedLstmLayerMatchesAutogradReference) {
  torch::manual_seed(6);
  for (int64_t D : {1, 2}) {
    const int64_t T = 5, N = 3, H = 4;
    const auto opts = torch::TensorOptions().dtype(torch::kDouble);
    std::vector<torch::Tensor> xg;
    for (int64_t d = 0; d < D; ++d) xg.push_back(torch::randn({T, N, 4 * H}, opts).requires_grad_());
    const auto h0 = torch::randn({D, N, H}, opts).requires_grad_();
    const auto c0 = torch::randn({D, N, H}, opts).requires_grad_();
    const auto w = torch::randn({D, 4 * H, H}, opts).requires_grad_();
    std::vector<torch::Tensor> inputs = xg;
    inputs.insert(inputs.end(), {h0, c0, w});
    const auto run = [&](bool fused) {
      const auto out = fused ? lstm_layer(xg, h0, c0, w) : lstm_layer_reference(xg, h0, c0, w);
      // A loss that uses every output, with different weights so no gradient is symmetric.
      torch::Tensor loss = torch::zeros({}, opts);
      for (size_t k = 0; k < out.size(); ++k) loss = loss + (out[k] * (1.0 + static_cast<double>(k))).sin().sum();
      return std::make_pair(out, torch::autograd::grad({loss}, inputs));
    };
    const auto [out_f, grad_f] = run(true);
    const auto [out_r, grad_r] = run(false);
    for (size_t k = 0; k < out_f.size(); ++k) EXPECT_TRUE(torch::allclose(out_f[k], out_r[k], 1e-10, 1e-10)) << k;
    for (size_t k = 0; k < grad_f.size(); ++k)
      EXPECT_TRUE(torch::allclose(grad_f[k], grad_r[k], 1e-9, 1e-9)) << "D=" << D << " input " << k;
  }
  // The fused float path (CPU kernel) agrees with the reference in float as well.
  const int64_t T = 7, N = 5, H = 8;
  std::vector<torch::Tensor> xg = {torch::randn({T, N, 4 * H}).requires_grad_(),
                                   torch::randn({T, N, 4 * H}).requires_grad_()};
  const auto h0 = torch::randn({2, N, H}).requires_grad_(), c0 = torch::randn({2, N, H}).requires_grad_();
  const auto w = (0.3 * torch::randn({2, 4 * H, H})).requires_grad_();
  const auto gf = torch::autograd::grad({lstm_layer(xg, h0, c0, w)[1].sum()}, {xg[1], w, h0});
  const auto gr = torch::autograd::grad({lstm_layer_reference(xg, h0, c0, w)[1].sum()}, {xg[1], w, h0});
  for (size_t k = 0; k < gf.size(); ++k) EXPECT_TRUE(torch::allclose(gf[k], gr[k], 1e-5, 1e-5)) << k;
}

TEST(Model, GradientsReachEveryParameter) {
  torch::manual_seed(7);
  for (DecoderKind kind : {DecoderKind::kHierarchical, DecoderKind::kFlat}) {
    ModelConfig c = small(kind);
    MusicVAE m(c);
    const auto x = random_tokens(4, c.steps());
    m->forward(x, 1.0).loss.backward();
    for (const auto& p : m->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
    }
  }
}

// --init magenta: every weight drawn as Magenta's TensorFlow trainer draws it, seen on our
// parameters: each LSTM layer's kernel pieces share TensorFlow's Glorot limit over
// [inputs + H, 4H] (layer 0's inputs: the one-hot vocabulary plus z or the conductor's output),
// forget biases 1 and the rest 0, the "no token" row 0, the posterior and initial-state layers
// N(0, 0.001); the global seed decides the draw.
TEST(Model, MagentaInitialisationDrawsAsTensorFlow) {
  for (DecoderKind kind : {DecoderKind::kHierarchical, DecoderKind::kFlat}) {
    const ModelConfig c = small(kind);
    const auto draw = [&](uint64_t seed) {
      torch::manual_seed(seed);
      MusicVAE m(c);
      m->reset_like_magenta();
      return m;
    };
    MusicVAE m = draw(3);
    auto p = m->named_parameters();
    const int64_t H = c.dec, dense = c.hierarchical() ? c.cond : c.z;
    const auto expect_glorot = [&](const std::string& name, int64_t inputs, int64_t outputs) {
      const double limit = std::sqrt(6.0 / static_cast<double>(inputs + outputs));
      const torch::Tensor w = p[name];
      EXPECT_LE(w.abs().max().item<double>(), limit) << name;
      EXPECT_NEAR(w.std().item<double>(), limit / std::sqrt(3.0), 0.05 * limit) << name << ": not U(-l, l)";
    };
    const int64_t layer0 = c.vocab + dense + H;  // TensorFlow's kernel rows of decoder layer 0
    for (const char* piece : {"decoder.token_gates", "decoder.dense_w", "decoder.w_hh0"})
      expect_glorot(piece, layer0, 4 * H);
    expect_glorot("decoder.w_ih1", 2 * H, 4 * H);
    expect_glorot("decoder.w_hh1", 2 * H, 4 * H);
    expect_glorot("output.weight", H, c.output_size());
    EXPECT_EQ(p["decoder.token_gates"][c.vocab].abs().max().item<float>(), 0.0f) << "the no-token row";
    for (const auto& item : p) {
      const std::string& name = item.key();
      const torch::Tensor& tensor = item.value();
      if (name.find("bias") == std::string::npos) continue;
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {  // dense layers
        EXPECT_EQ(tensor.abs().max().item<float>(), 0.0f) << name;
        continue;
      }
      const int64_t h = tensor.size(1) / 4;  // LSTM [D, 4H], gates i, f, g, o
      EXPECT_TRUE(torch::equal(tensor.slice(1, h, 2 * h), torch::ones_like(tensor.slice(1, h, 2 * h)))) << name;
      EXPECT_EQ(tensor.slice(1, 0, h).abs().max().item<float>() + tensor.slice(1, 2 * h).abs().max().item<float>(),
                0.0f)
          << name;
    }
    std::vector<std::string> small_normal = {"mu.weight", "sigma.weight", "decoder_init.weight"};
    if (c.hierarchical()) small_normal.push_back("conductor_init.weight");
    for (const std::string& name : small_normal) EXPECT_NEAR(p[name].std().item<double>(), 0.001, 2e-4) << name;
    EXPECT_TRUE(torch::equal(p["decoder.w_hh0"], draw(3)->named_parameters()["decoder.w_hh0"]));
    EXPECT_FALSE(torch::equal(p["decoder.w_hh0"], draw(4)->named_parameters()["decoder.w_hh0"]));
  }
}

// bf16 autocast (tested through LibTorch's CPU autocast; the CUDA one takes the same path):
// float32 gradients for every parameter, pointing where the float32 ones point.
TEST(Model, Bf16AutocastGivesFloat32GradientsCloseToFloat32Training) {
  for (DecoderKind kind : {DecoderKind::kHierarchical, DecoderKind::kFlat}) {
    torch::manual_seed(9);
    ModelConfig c = small(kind);
    MusicVAE m(c);
    const auto x = random_tokens(8, c.steps());
    const auto eps = torch::randn({8, c.z});
    const auto gradients = [&](Precision precision, double sampling, double* loss) {
      m->zero_grad();
      LossOutput out;
      {
        AutocastScope autocast(torch::kCPU, precision);
        out = m->forward(x, 1.0, sampling, eps);
      }
      EXPECT_EQ(out.loss.scalar_type(), torch::kFloat);
      out.loss.backward();
      *loss = out.loss.item<double>();
      std::vector<torch::Tensor> g;
      for (const auto& p : m->parameters()) g.push_back(p.grad().reshape({-1}).clone());
      return torch::cat(g);
    };
    double loss32 = 0, loss16 = 0;
    const torch::Tensor g32 = gradients(Precision::kFloat32, 0.0, &loss32);
    const torch::Tensor g16 = gradients(Precision::kBFloat16, 0.0, &loss16);
    EXPECT_EQ(g16.scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::isfinite(g16).all().item<bool>());
    EXPECT_NEAR(loss16, loss32, 0.02 * loss32) << static_cast<int>(kind);
    const double cosine = (g16 * g32).sum().item<double>() / (g16.norm() * g32.norm()).item<double>();
    EXPECT_GT(cosine, 0.95) << static_cast<int>(kind);
    // The step-by-step decoder (scheduled sampling) under autocast too.
    double loss_sampled = 0;
    EXPECT_TRUE(torch::isfinite(gradients(Precision::kBFloat16, 0.5, &loss_sampled)).all().item<bool>());
    EXPECT_TRUE(std::isfinite(loss_sampled));
  }
  // The fused LSTM layer itself computes in bfloat16 under the scope.
  {
    AutocastScope autocast(torch::kCPU, Precision::kBFloat16);
    const auto out = lstm_layer({torch::randn({5, 3, 16})}, torch::zeros({1, 3, 4}), torch::zeros({1, 3, 4}),
                                torch::randn({1, 16, 4}));
    EXPECT_EQ(out[0].scalar_type(), torch::kBFloat16);
  }
  // Leaving the scope restores float32.
  MusicVAE m(small(DecoderKind::kFlat));
  {
    AutocastScope autocast(torch::kCPU, Precision::kBFloat16);
    EXPECT_EQ(m->forward(random_tokens(2, m->config().steps()), 1.0).logits.scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(m->forward(random_tokens(2, m->config().steps()), 1.0).logits.scalar_type(), torch::kFloat);
  EXPECT_EQ(autocast_dtype_or(torch::kCPU, torch::kFloat), torch::kFloat);
}

// The two-pass scheduled sampling the trainer uses (inputs drawn without a graph, then the fused
// teacher-forced decoder over them) computes the stepwise graph's logits and gradients: flat and
// hierarchical, token and groove outputs, with the same random draws.
// p = 0.5: every sequence samples somewhere; p = 0.03: some do not, and the first pass runs over
// the others only.
TEST(Model, ScheduledSamplingInTwoPassesEqualsTheStepwiseGraph) {
  for (const double p : {0.5, 0.03})
    for (const bool groove : {false, true}) {
      for (const DecoderKind kind : {DecoderKind::kFlat, DecoderKind::kHierarchical}) {
        torch::manual_seed(8);
        ModelConfig c = small(kind);
        if (groove) c.output = OutputKind::kGroove;
        MusicVAE m(c);
        m->train();
        const auto x = groove ? (torch::rand({4, c.steps(), 27}) < 0.3).to(torch::kFloat) : random_tokens(4, c.steps());
        const auto z = torch::randn({4, c.z});
        const auto weights = torch::randn({4, c.steps(), c.output_size()});  // a loss that reads every logit
        const auto run = [&](bool stepwise, std::vector<torch::Tensor>* grads) {
          for (auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
          const auto zz = z.clone().requires_grad_();
          torch::manual_seed(21);
          const auto logits =
              stepwise ? m->decode_stepwise(zz, x, p, 1.0, false).logits : m->decode_scheduled(zz, x, p);
          (logits * weights).sum().backward();
          for (auto& p : m->parameters())
            grads->push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
          grads->push_back(zz.grad().clone());
          return logits.detach();
        };
        std::vector<torch::Tensor> stepwise_grads, two_pass_grads;
        const auto stepwise = run(true, &stepwise_grads);
        const auto two_pass = run(false, &two_pass_grads);
        const std::string what = std::string(groove ? "groove" : "tokens") +
                                 (kind == DecoderKind::kFlat ? ", flat" : ", hierarchical") + ", p " +
                                 std::to_string(p);
        EXPECT_TRUE(torch::allclose(stepwise, two_pass, 1e-4, 1e-5))
            << what << ": logits differ by " << (stepwise - two_pass).abs().max().item<double>();
        ASSERT_EQ(stepwise_grads.size(), two_pass_grads.size());
        for (size_t i = 0; i < stepwise_grads.size(); ++i) {
          const double scale = stepwise_grads[i].abs().max().item<double>() + 1e-6;
          EXPECT_LT((stepwise_grads[i] - two_pass_grads[i]).abs().max().item<double>() / scale, 1e-4)
              << what << ", gradient " << i;
        }
      }
    }
}

TEST(Model, AutoSamplingPathTakesTwoPassesWhileFewSequencesSample) {
  using P = ScheduledSamplingPath;
  EXPECT_EQ(auto_sampling_path(false, 0.001, 32), P::kTwoPass);        // 3% of sequences sample
  EXPECT_EQ(auto_sampling_path(false, 0.5, 32), P::kStepwiseGraph);    // all of them
  EXPECT_EQ(auto_sampling_path(false, 0.01, 256), P::kStepwiseGraph);  // 16 bars: 92%
  EXPECT_EQ(auto_sampling_path(true, 0.5, 32), P::kTwoPass);
}

TEST(Model, ScheduledSamplingSchedulesFollowMagenta) {
  ModelConfig c = small(DecoderKind::kFlat);
  c.sampling_rate = 0.25;
  c.sampling_schedule = SamplingSchedule::kConstant;
  EXPECT_DOUBLE_EQ(sampling_probability_at(c, 0), 0.25);
  EXPECT_DOUBLE_EQ(sampling_probability_at(c, 100000), 0.25);
  c.sampling_schedule = SamplingSchedule::kExponential;
  c.sampling_rate = 0.9999;
  EXPECT_DOUBLE_EQ(sampling_probability_at(c, 0), 0.0);
  EXPECT_NEAR(sampling_probability_at(c, 10000), 1.0 - std::pow(0.9999, 10000), 1e-12);
  c.sampling_rate = 0;
  EXPECT_EQ(sampling_probability_at(c, 10000), 0.0) << "rate 0 is teacher forcing whatever the schedule";
  c.sampling_rate = 1.5;
  c.sampling_schedule = SamplingSchedule::kConstant;
  EXPECT_THROW(c.validate(), mvae::UsageError) << "a constant probability above 1";
  c.sampling_schedule = SamplingSchedule::kInverseSigmoid;
  c.validate();
  c.sampling_schedule = SamplingSchedule::kExponential;
  const ModelConfig back = ModelConfig::from_json(
      [&] {
        ModelConfig d = c;
        d.sampling_rate = 0.5;
        return d.to_json();
      }(),
      "test");
  EXPECT_EQ(back.sampling_schedule, SamplingSchedule::kExponential);
  EXPECT_THROW(parse_sampling_schedule("linear"), mvae::UsageError);
  // Models saved before the schedule was a choice read as inverse sigmoid.
  std::string old_json = small(DecoderKind::kFlat).to_json();
  const size_t at = old_json.find(",\"sampling_schedule\":\"inverse_sigmoid\"");
  ASSERT_NE(at, std::string::npos) << old_json;
  old_json.erase(at, std::string(",\"sampling_schedule\":\"inverse_sigmoid\"").size());
  EXPECT_EQ(ModelConfig::from_json(old_json, "old").sampling_schedule, SamplingSchedule::kInverseSigmoid);
}

TEST(Model, ScheduledSamplingTrainsThroughTheStepwiseDecoder) {
  torch::manual_seed(8);
  ModelConfig c = small(DecoderKind::kFlat);
  MusicVAE m(c);
  const auto x = random_tokens(4, c.steps());
  for (const auto path :
       {ScheduledSamplingPath::kAuto, ScheduledSamplingPath::kTwoPass, ScheduledSamplingPath::kStepwiseGraph}) {
    const LossOutput out = m->forward(x, 0.2, /*sampling_probability=*/0.5, {}, path);
    out.loss.backward();
    EXPECT_TRUE(m->named_parameters()["output.weight"].grad().defined());
    EXPECT_TRUE(std::isfinite(out.loss.item<double>()));
  }
}

TEST(Model, SaveLoadGivesIdenticalOutputs) {
  mvae::test::TempDir dir;
  torch::manual_seed(9);
  ModelConfig c = small(DecoderKind::kHierarchical);
  MusicVAE m(c);
  const std::string path = (dir.path() / "model.safetensors").string();
  mvae::data::DataRepresentation rep;
  rep.bars = c.bars;
  save_model(path, m, rep);
  LoadedModel loaded = load_model(path, torch::kCPU);
  EXPECT_EQ(loaded.config.to_json(), c.to_json());
  EXPECT_EQ(loaded.representation.to_json(), rep.to_json());
  const auto x = random_tokens(2, c.steps());
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(m->encode(x).mu, loaded.model->encode(x).mu));
  const auto z = torch::randn({2, c.z});
  EXPECT_TRUE(torch::equal(m->decode_teacher_forced(z, x), loaded.model->decode_teacher_forced(z, x)));
  EXPECT_THROW(load_model((dir.path() / "missing.safetensors").string(), torch::kCPU), mvae::InputError);
}

TEST(Model, EncodeAndSampleAreDeterministicWithASeed) {
  ModelConfig c = small(DecoderKind::kHierarchical);
  torch::manual_seed(10);
  MusicVAE m(c);
  const auto x = random_tokens(3, c.steps());
  const auto run = [&] {
    torch::manual_seed(42);
    const Posterior q = m->encode(x);
    return std::make_pair(q.mu, m->sample(MusicVAEImpl::reparameterize(q), 1.0, false));
  };
  const auto a = run(), b = run();
  EXPECT_TRUE(torch::equal(a.first, b.first));
  EXPECT_TRUE(torch::equal(a.second, b.second));
  // argmax decoding needs no seed.
  const auto z = torch::randn({3, c.z});
  EXPECT_TRUE(torch::equal(m->sample(z, 1.0, true), m->sample(z, 1.0, true)));
}

// Magenta's input dropout: active in training only, on every decoder path; a loaded model is in
// eval mode, so inference never drops.
TEST(Model, DropoutActsInTrainingOnlyAndLoadedModelsDoNotDrop) {
  mvae::test::TempDir dir;
  for (const DecoderKind kind : {DecoderKind::kFlat, DecoderKind::kHierarchical}) {
    torch::manual_seed(11);
    ModelConfig c = small(kind);
    c.dropout_keep = 0.5;
    MusicVAE m(c);
    ModelConfig no_dropout_config = c;
    no_dropout_config.dropout_keep = 1.0;
    MusicVAE plain(no_dropout_config);
    {
      torch::NoGradGuard no_grad;
      const auto src = m->parameters(), dst = plain->parameters();
      for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    }
    const auto x = random_tokens(3, c.steps());
    const auto z = torch::randn({3, c.z});
    m->train();
    plain->train();
    torch::NoGradGuard no_grad;
    const auto a = m->decode_teacher_forced(z, x), b = m->decode_teacher_forced(z, x);
    EXPECT_FALSE(torch::allclose(a, b)) << "training passes should draw different masks";
    EXPECT_FALSE(torch::allclose(m->encode(x).mu, plain->encode(x).mu));
    // Stepwise decoding (scheduled sampling) drops too.
    const auto s1 = m->decode_stepwise(z, x, 0.5, 1.0, false).logits,
               s2 = m->decode_stepwise(z, x, 0.5, 1.0, false).logits;
    EXPECT_FALSE(torch::allclose(s1, s2));
    m->eval();
    EXPECT_TRUE(torch::allclose(m->decode_teacher_forced(z, x), plain->decode_teacher_forced(z, x), 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(m->encode(x).mu, plain->encode(x).mu, 1e-5, 1e-7));
    const std::string path = (dir.path() / "dropout.safetensors").string();
    save_model(path, m, mvae::data::DataRepresentation{});
    LoadedModel loaded = load_model(path, torch::kCPU);
    EXPECT_DOUBLE_EQ(loaded.config.dropout_keep, 0.5);
    EXPECT_FALSE(loaded.model->is_training());
    EXPECT_TRUE(torch::equal(loaded.model->decode_teacher_forced(z, x), m->decode_teacher_forced(z, x)));
  }
  // A configuration saved before dropout existed reads as no dropout; bad values name the field.
  std::string old_json = preset("tiny").to_json();
  old_json.erase(old_json.find(",\"dropout_keep\""), std::string(",\"dropout_keep\":1.0").size());
  EXPECT_EQ(old_json.find("dropout"), std::string::npos);
  EXPECT_DOUBLE_EQ(ModelConfig::from_json(old_json, "old.safetensors").dropout_keep, 1.0);
  ModelConfig bad = preset("tiny");
  bad.dropout_keep = 0;
  try {
    bad.validate();
    FAIL() << "keep 0 accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.field(), "dropout_keep");
  }
}

#if defined(__x86_64__)
// Long backpropagation through time makes denormal gradients, 20-100x slower per operation;
// the programs flush them, and threads started afterwards (OpenMP pool, loader) must too.
TEST(Runtime, FlushDenormalsReachesThreadsStartedAfterwards) {
  const unsigned saved = _mm_getcsr();
  const auto product = [] {
    volatile float tiny = 1e-38f, scale = 1e-3f;  // volatile: computed at run time
    return tiny * scale;                          // 1e-41: a denormal unless flushed
  };
  EXPECT_GT(product(), 0.0f) << "denormals are kept by default";
  mvae::flush_denormals();
  EXPECT_EQ(product(), 0.0f);
  float in_thread = -1.0f;
  std::thread([&] { in_thread = product(); }).join();
  EXPECT_EQ(in_thread, 0.0f);
  _mm_setcsr(saved);  // the other tests in this process keep the default
}
#endif
