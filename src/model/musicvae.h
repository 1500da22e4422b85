// MusicVAE (Roberts et al. 2018) for drums: bidirectional LSTM encoder, diagonal Gaussian latent,
// and a hierarchical (conductor + bottom decoder) or flat LSTM decoder. A step is one of 512
// tokens, or (GrooVAE, Gillick et al. 2019) per drum class a hit, a velocity and an offset.
// docs/model.md: the architecture, and where we follow Magenta's code over the paper.
#pragma once

#include <torch/torch.h>

#include "data/representation.h"
#include "model/config.h"
#include "model/lstm.h"

namespace mvae::model {

struct Posterior {
  torch::Tensor mu, sigma;  // [B, Z]
};

// Sequences: tokens [B, T] int64, or groove vectors [B, T, 27] float ([hits | velocities / 127 |
// offsets], model/tokens.h). Outputs ("logits"): [B, T, 512] token logits, or [B, T, 27] groove
// pre-activations: hit logits, velocities before the sigmoid, offsets before the tanh.

// Reconstruction loss per example, summed over steps (Magenta's r_loss): token cross-entropy, or
// for groove per step and class BCE(hit) + MSE(sigmoid velocity) + MSE(tanh offset).
struct ReconstructionLoss {
  torch::Tensor total;                      // [B]
  torch::Tensor hits, velocities, offsets;  // [B] each, groove only (undefined for tokens)
};

// Training objective and metrics of one batch, as Magenta computes them.
struct LossOutput {
  torch::Tensor loss;      // scalar: mean r_loss + beta * mean(max(KL - free_nats, 0))
  torch::Tensor r_loss;    // scalar: reconstruction loss summed over steps, averaged over the batch (nats)
  torch::Tensor kl;        // scalar: KL(q || N(0, I)) averaged over the batch (nats)
  torch::Tensor accuracy;  // scalar: fraction of steps whose predicted drums all equal the target's
  torch::Tensor hits_loss, velocities_loss, offsets_loss;  // scalars, groove only: r_loss's three parts
  torch::Tensor logits;                                    // outputs [B, T, 512 or 27]
};

struct DecodeOutput {
  torch::Tensor sequences;  // what was fed back (sampled, or the target where teacher forced): a sequence
  torch::Tensor logits;     // outputs [B, T, 512 or 27]
};

// How a scheduled-sampling training pass runs. kStepwiseGraph: through decode_stepwise's autograd
// graph of every step. kTwoPass: decode_scheduled. kAuto: auto_sampling_path.
enum class ScheduledSamplingPath { kAuto, kStepwiseGraph, kTwoPass };
// kAuto's choice: two passes on CUDA, where every step of the graph is several kernel launches in
// backward as well; on CPU two passes while fewer than half the sequences of `steps` steps are
// expected to sample at all (1 - (1 - p)^steps < 0.5: the first pass then runs over few rows),
// the stepwise graph beyond, where it measured 4-32% faster than two passes over every row
// (docs/benchmarks.md, "Scheduled sampling").
ScheduledSamplingPath auto_sampling_path(bool cuda, double sampling_probability, int64_t steps);

class MusicVAEImpl : public torch::nn::Module {
 public:
  explicit MusicVAEImpl(const ModelConfig& config);
  const ModelConfig& config() const { return config_; }
  // Redraws every weight as Magenta's trainer starts one (from the global torch seed): LSTM
  // kernels Glorot-uniform over TensorFlow's [inputs + H, 4H] shape, forget biases 1, other biases
  // 0 (LstmStackImpl::reset_like_tensorflow); the posterior (mu, sigma) and initial-state layers
  // N(0, 0.001), the output layer Glorot-uniform, their biases 0.
  void reset_like_magenta();

  // x: a sequence as the encoder reads it (encoder_input of the data) -> q(z | x).
  Posterior encode(const torch::Tensor& x);
  // What the encoder sees of a sequence: the sequence itself, or the configured GrooVAE input
  // transform of it (humanize: velocities and offsets zeroed; tap: hits collapsed onto one class).
  torch::Tensor encoder_input(const torch::Tensor& sequences) const;
  static torch::Tensor reparameterize(const Posterior& q, const torch::Tensor& eps = {});  // mu + sigma * eps

  // Teacher forcing: logits [B, T, V] given z [B, Z] and the targets [B, T]. The hierarchical
  // decoder runs all bars of the batch as one LSTM call over B*U sequences.
  torch::Tensor decode_teacher_forced(const torch::Tensor& z, const torch::Tensor& targets);
  // The same computation bar by bar (the straightforward port); kept to test the batched path.
  torch::Tensor decode_teacher_forced_per_bar(const torch::Tensor& z, const torch::Tensor& targets);

  // Step-by-step decoding batched over B. Without targets: free-running sampling at
  // `temperature` (argmax when `argmax`; groove: hits Bernoulli(sigmoid(logit / temperature)), or
  // logit > 0, velocities and offsets from their heads). With targets: each step feeds the model's
  // own sample with probability `sampling_probability`, else the target (scheduled sampling).
  // `forced_hits` [B, T, 9] (groove, optional): the hits are these instead of sampled ones, the
  // model chooses only velocities and offsets (humanizing keeps the score's notes).
  DecodeOutput decode_stepwise(const torch::Tensor& z, const torch::Tensor& targets, double sampling_probability,
                               double temperature, bool argmax, const torch::Tensor& forced_hits = {});
  // Scheduled sampling for training, in two passes: the inputs each step reads (the true previous
  // step, or with `sampling_probability` the model's own sample) are drawn step by step without
  // an autograd graph, for the sequences with at least one sampled step only, then the decoder
  // runs over exactly those inputs teacher-forced (fused layers, one weight-gradient product per
  // layer). Both paths toss every step's coins first ([B, T]) and sample only where they came up,
  // so with one seed they draw the same samples. The samples are constants to the gradient,
  // as in Magenta, so the logits and gradient equal those of the stepwise graph; only with input
  // dropout (dropout_keep < 1) do the two passes draw different masks. Logits [B, T, V].
  torch::Tensor decode_scheduled(const torch::Tensor& z, const torch::Tensor& targets, double sampling_probability);
  // Free-running decoding from z: a sequence [B, T] or [B, T, 27].
  torch::Tensor sample(const torch::Tensor& z, double temperature, bool argmax, const torch::Tensor& forced_hits = {});

  // Reconstruction loss of outputs [B, T, 512 or 27] against target sequences.
  ReconstructionLoss reconstruction_loss(const torch::Tensor& outputs, const torch::Tensor& targets) const;
  // Token ids [B, T] of what teacher-forced outputs predict (argmax, or hit logits > 0), and of
  // sequences (themselves, or their hits): the drums of a step, comparable across both outputs.
  torch::Tensor predicted_tokens(const torch::Tensor& outputs) const;
  torch::Tensor tokens_of(const torch::Tensor& sequences) const;

  // One training (or evaluation) pass: encode, sample z, decode (teacher-forced, or scheduled
  // sampling when sampling_probability > 0), loss. `beta` from beta_at(config, step). `eps`
  // [B, Z]: the noise of z = mu + sigma * eps (drawn here when undefined); the trainer passes its
  // slice of noise drawn for the whole global batch, so results do not depend on the rank count.
  // `path`: how scheduled sampling runs (the same loss and gradient either way).
  LossOutput forward(const torch::Tensor& tokens, double beta, double sampling_probability = 0.0,
                     const torch::Tensor& eps = {}, ScheduledSamplingPath path = ScheduledSamplingPath::kAuto);

  // Analytic KL(N(mu, sigma^2) || N(0, I)) per example, in nats: [B].
  static torch::Tensor kl_divergence(const Posterior& q);

 private:
  LstmState initial_state(torch::nn::Linear& dense, const torch::Tensor& x, int64_t layers, int64_t hidden);
  // [B, T] bool: the steps of each sequence that read the model's own sample (a coin per step and
  // sequence, as Magenta's ScheduledOutputTrainingHelper tosses).
  torch::Tensor draw_sampling_mask(const torch::Tensor& z, double sampling_probability) const;
  // decode_stepwise with the coins given: no targets, free-running; targets and no mask, teacher
  // forcing; both, each step samples where the mask says so.
  DecodeOutput decode_steps(const torch::Tensor& z, const torch::Tensor& targets, const torch::Tensor& sample_mask,
                            double temperature, bool argmax, const torch::Tensor& forced_hits = {});
  // One step's outputs [R, V] or [R, 27] -> the step fed back, without a graph.
  torch::Tensor sample_step(const torch::Tensor& step_out, double temperature, bool argmax,
                            const torch::Tensor& forced_hits = {});
  // Decoder inputs: "no token" (groove: zeros), x_0 .. x_{T-2}.
  torch::Tensor shifted_inputs(const torch::Tensor& targets) const;
  // A groove step's outputs [B, 27] -> the step fed back: [hits | velocities | offsets], velocity
  // and offset zero where there is no hit (as in the data).
  torch::Tensor sample_groove_step(const torch::Tensor& outputs, double temperature, bool argmax,
                                   const torch::Tensor& forced_hits) const;

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

}  // namespace mvae::model
