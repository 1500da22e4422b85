// MusicVAE (Roberts et al. 2018) for 512-token drums: bidirectional LSTM encoder, diagonal
// Gaussian latent, and a hierarchical (conductor + bottom decoder) or flat LSTM decoder.
// docs/model.md: the architecture, and where we follow Magenta's code over the paper.
#pragma once

#include <torch/torch.h>

#include "model/config.h"
#include "model/lstm.h"

namespace mvae::model {

struct Posterior {
  torch::Tensor mu, sigma;  // [B, Z]
};

// Training objective and metrics of one batch, as Magenta computes them.
struct LossOutput {
  torch::Tensor loss;       // scalar: mean r_loss + beta * mean(max(KL - free_nats, 0))
  torch::Tensor r_loss;     // scalar: cross-entropy summed over steps, averaged over the batch (nats)
  torch::Tensor kl;         // scalar: KL(q || N(0, I)) averaged over the batch (nats)
  torch::Tensor accuracy;   // scalar: fraction of steps whose argmax equals the target
  torch::Tensor logits;     // [B, T, V]
};

struct DecodeOutput {
  torch::Tensor tokens;  // [B, T] int64: what was fed back (sampled, or the target where teacher forced)
  torch::Tensor logits;  // [B, T, V]
};

class MusicVAEImpl : public torch::nn::Module {
 public:
  explicit MusicVAEImpl(const ModelConfig& config);
  const ModelConfig& config() const { return config_; }

  // tokens [B, T] int64 -> q(z | x).
  Posterior encode(const torch::Tensor& tokens);
  static torch::Tensor reparameterize(const Posterior& q, const torch::Tensor& eps = {});  // mu + sigma * eps

  // Teacher forcing: logits [B, T, V] given z [B, Z] and the targets [B, T]. The hierarchical
  // decoder runs all bars of the batch as one LSTM call over B*U sequences.
  torch::Tensor decode_teacher_forced(const torch::Tensor& z, const torch::Tensor& targets);
  // The same computation bar by bar (the straightforward port); kept to test the batched path.
  torch::Tensor decode_teacher_forced_per_bar(const torch::Tensor& z, const torch::Tensor& targets);

  // Step-by-step decoding batched over B. Without targets: free-running sampling at
  // `temperature` (argmax when `argmax`). With targets: each step feeds the model's own sample
  // with probability `sampling_probability`, else the target (scheduled sampling).
  DecodeOutput decode_stepwise(const torch::Tensor& z, const torch::Tensor& targets, double sampling_probability,
                               double temperature, bool argmax);
  // Free-running decoding from z: tokens [B, T].
  torch::Tensor sample(const torch::Tensor& z, double temperature, bool argmax);

  // One training (or evaluation) pass: encode, sample z, decode (teacher-forced, or scheduled
  // sampling when sampling_probability > 0), loss. `beta` from beta_at(config, step). `eps`
  // [B, Z]: the noise of z = mu + sigma * eps (drawn here when undefined); the trainer passes its
  // slice of noise drawn for the whole global batch, so results do not depend on the rank count.
  LossOutput forward(const torch::Tensor& tokens, double beta, double sampling_probability = 0.0,
                     const torch::Tensor& eps = {});

  // Analytic KL(N(mu, sigma^2) || N(0, I)) per example, in nats: [B].
  static torch::Tensor kl_divergence(const Posterior& q);

 private:
  LstmState initial_state(torch::nn::Linear& dense, const torch::Tensor& x, int64_t layers, int64_t hidden);
  torch::Tensor shifted_inputs(const torch::Tensor& targets) const;  // [B, T]: "no token", x_0 .. x_{T-2}

  ModelConfig config_;
  LstmStack encoder_{nullptr};
  torch::nn::Linear mu_{nullptr}, sigma_{nullptr};
  LstmStack conductor_{nullptr};
  torch::nn::Linear conductor_init_{nullptr};
  torch::nn::Linear decoder_init_{nullptr};
  LstmStack decoder_{nullptr};
  torch::nn::Linear output_{nullptr};
};
TORCH_MODULE(MusicVAE);

// A saved model: weights, configuration and data representation in one file; loading needs
// nothing else. Writes atomically (temporary file, fsync, rename).
void save_model(const std::string& path, MusicVAE& model, const std::string& representation_json);
struct LoadedModel {
  MusicVAE model{nullptr};
  ModelConfig config;
  std::string representation_json;
};
// The weights come back in float32 whatever dtype the file stores them in.
LoadedModel load_model(const std::string& path, const torch::Device& device);
// A copy of the model file `from` with its weights stored as `dtype` (float16 halves a release's
// size); returns the bytes written.
uint64_t export_model(const std::string& from, const std::string& to, torch::Dtype dtype);

}  // namespace mvae::model
