#include "model/musicvae.h"

#include <cmath>

#include "common/error.h"
#include "model/tokens.h"

namespace mvae::model {

MusicVAEImpl::MusicVAEImpl(const ModelConfig& config) : config_(config) {
  config_.validate();
  // Layer 0 of the encoder and decoder reads token ids (vocab) or groove vectors (features).
  const int64_t V = config.groove() ? 0 : config.vocab, F = config.step_features();
  const int64_t encoder_vocab = config.roll_input ? 0 : V, encoder_features = config.encoder_features();
  encoder_ = register_module("encoder",
                             LstmStack(LstmStackOptions{config.enc, config.enc_layers, /*directions=*/2, encoder_vocab,
                                                        encoder_features, /*dense=*/0, config.dropout_keep}));
  mu_ = register_module("mu", torch::nn::Linear(2 * config.enc, config.z));
  sigma_ = register_module("sigma", torch::nn::Linear(2 * config.enc, config.z));
  // Magenta initialises the posterior layers with N(0, 0.001) and zero biases.
  for (auto* layer : {&mu_, &sigma_}) {
    torch::NoGradGuard no_grad;
    (*layer)->weight.normal_(0.0, 0.001);
    (*layer)->bias.zero_();
  }
  int64_t decoder_dense = config.z;
  if (config.hierarchical()) {
    conductor_init_ =
        register_module("conductor_init", torch::nn::Linear(config.z, 2 * config.cond_layers * config.cond));
    conductor_ =
        register_module("conductor", LstmStack(LstmStackOptions{config.cond, config.cond_layers, 1, /*vocab=*/0, 0,
                                                                /*dense=*/0, config.dropout_keep}));
    decoder_dense = config.cond;
  }
  decoder_init_ = register_module("decoder_init", torch::nn::Linear(decoder_dense, 2 * config.dec_layers * config.dec));
  decoder_ = register_module("decoder", LstmStack(LstmStackOptions{config.dec, config.dec_layers, 1, V, F,
                                                                   decoder_dense, config.dropout_keep}));
  output_ = register_module("output", torch::nn::Linear(config.dec, config.output_size()));
}

void MusicVAEImpl::reset_like_magenta() {
  torch::NoGradGuard no_grad;
  encoder_->reset_like_tensorflow();
  if (!conductor_.is_empty()) conductor_->reset_like_tensorflow();
  decoder_->reset_like_tensorflow();
  const auto small_normal = [](torch::nn::Linear& dense) {  // Magenta's random_normal_initializer(stddev=0.001)
    dense->weight.normal_(0.0, 0.001);
    dense->bias.zero_();
  };
  small_normal(mu_);
  small_normal(sigma_);
  small_normal(decoder_init_);
  if (!conductor_init_.is_empty()) small_normal(conductor_init_);
  // tf.layers.Dense's default glorot_uniform over [inputs, outputs].
  const double limit = std::sqrt(6.0 / static_cast<double>(output_->weight.size(0) + output_->weight.size(1)));
  output_->weight.uniform_(-limit, limit);
  output_->bias.zero_();
}

Posterior MusicVAEImpl::encode(const torch::Tensor& x) {
  LstmState final_state;
  encoder_->forward(x, {}, x.size(1), {}, &final_state);
  const int64_t top = (config_.enc_layers - 1) * 2;
  // Last layer's final forward state and final backward state (at t = 0): [B, 2 * enc].
  const torch::Tensor summary = torch::cat({final_state.h[top], final_state.h[top + 1]}, -1);
  // float32 whatever autocast chose for the products: the KL sums over z and feeds the loss.
  return {mu_(summary).to(torch::kFloat), torch::softplus(sigma_(summary).to(torch::kFloat))};
}

torch::Tensor MusicVAEImpl::encoder_input(const torch::Tensor& sequences) const {
  if (config_.roll_input) {  // tokens [B, T] -> [B, T, 10]: class bits, then "no drums"
    const torch::Tensor bits = torch::arange(data::kNumDrumClasses, sequences.options());
    const torch::Tensor roll = torch::bitwise_and(torch::bitwise_right_shift(sequences.unsqueeze(-1), bits), 1);
    return torch::cat({roll, (sequences == 0).unsqueeze(-1).to(roll.scalar_type())}, -1).to(torch::kFloat);
  }
  if (!config_.groove() || config_.input_transform == InputTransform::kNone) return sequences;
  constexpr int64_t C = data::kNumDrumClasses;
  const torch::Tensor hits = sequences.narrow(-1, 0, C);     // [B, T, 9]
  if (config_.input_transform == InputTransform::kHumanize)  // Magenta's humanize: a quantized score at one velocity
    return torch::cat({hits, torch::zeros_like(sequences.narrow(-1, C, 2 * C))}, -1);
  // Magenta's tapify with fixed velocities: each step with any hit becomes one hit on class 3 at
  // the timing of the step's loudest hit.
  constexpr int64_t kTapClass = 3;
  const torch::Tensor any_hit = std::get<0>(hits.max(-1, /*keepdim=*/true));                  // [B, T, 1]
  const torch::Tensor loudest = sequences.narrow(-1, C, C).argmax(-1, /*keepdim=*/true);      // [B, T, 1]
  const torch::Tensor offset = sequences.narrow(-1, 2 * C, C).gather(-1, loudest) * any_hit;  // [B, T, 1]
  torch::Tensor out = torch::zeros_like(sequences);
  out.narrow(-1, kTapClass, 1).copy_(any_hit);
  out.narrow(-1, 2 * C + kTapClass, 1).copy_(offset);
  return out;
}

torch::Tensor MusicVAEImpl::reparameterize(const Posterior& q, const torch::Tensor& eps) {
  return q.mu + q.sigma * (eps.defined() ? eps.to(q.sigma.options()) : torch::randn_like(q.sigma));
}

torch::Tensor MusicVAEImpl::kl_divergence(const Posterior& q) {
  // 0.5 * sum(mu^2 + sigma^2 - 1) - sum(log sigma)
  const torch::Tensor log_sigma = torch::log(q.sigma.clamp_min(1e-30));
  return (0.5 * (q.mu.square() + q.sigma.square() - 1.0) - log_sigma).sum(-1);
}

LstmState MusicVAEImpl::initial_state(torch::nn::Linear& dense, const torch::Tensor& x, int64_t layers,
                                      int64_t hidden) {
  // tanh(Dense(x)) split into h and c of every layer: [N, 2*L*H] -> 2 x [L, N, H].
  const torch::Tensor s = torch::tanh(dense(x)).view({x.size(0), 2, layers, hidden}).permute({1, 2, 0, 3});
  return {s[0].contiguous(), s[1].contiguous()};
}

torch::Tensor MusicVAEImpl::shifted_inputs(const torch::Tensor& targets) const {
  std::vector<int64_t> start_shape = targets.sizes().vec();
  start_shape[1] = 1;
  const torch::Tensor start = config_.groove() ? torch::zeros(start_shape, targets.options())
                                               : torch::full(start_shape, config_.vocab, targets.options());
  return torch::cat({start, targets.narrow(1, 0, targets.size(1) - 1)}, 1);
}

namespace {

// [B, U*S, ...] -> [B*U, S, ...]: every bar of every sequence as a sequence of its own.
torch::Tensor bars_as_sequences(const torch::Tensor& x, int64_t bars) {
  std::vector<int64_t> shape = x.sizes().vec();
  shape[0] *= bars;
  shape[1] /= bars;
  return x.reshape(shape);
}

}  // namespace

torch::Tensor MusicVAEImpl::decode_teacher_forced(const torch::Tensor& z, const torch::Tensor& targets) {
  const int64_t B = targets.size(0), T = targets.size(1), V = config_.output_size();
  const torch::Tensor inputs = shifted_inputs(targets);  // the first input of bar u is the last step of bar u-1
  torch::Tensor hidden;
  if (config_.hierarchical()) {
    const int64_t U = config_.bars, S = config_.steps_per_bar;
    const torch::Tensor c =
        conductor_->forward({}, {}, U, initial_state(conductor_init_, z, config_.cond_layers, config_.cond));
    const torch::Tensor c_flat = c.reshape({B * U, config_.cond});  // [B*U, cond]
    const LstmState state = initial_state(decoder_init_, c_flat, config_.dec_layers, config_.dec);
    hidden = decoder_->forward(bars_as_sequences(inputs, U), c_flat, S, state);  // [B*U, S, dec]
  } else {
    hidden = decoder_->forward(inputs, z, T, initial_state(decoder_init_, z, config_.dec_layers, config_.dec));
  }
  return output_(hidden).view({B, T, V});
}

torch::Tensor MusicVAEImpl::decode_teacher_forced_per_bar(const torch::Tensor& z, const torch::Tensor& targets) {
  MVAE_CHECK(config_.hierarchical(), "per-bar decoding is for the hierarchical decoder");
  const int64_t U = config_.bars, S = config_.steps_per_bar;
  const torch::Tensor inputs = shifted_inputs(targets);
  const torch::Tensor c =
      conductor_->forward({}, {}, U, initial_state(conductor_init_, z, config_.cond_layers, config_.cond));
  std::vector<torch::Tensor> bars;
  for (int64_t u = 0; u < U; ++u) {
    const torch::Tensor cu = c.select(1, u);
    const LstmState state = initial_state(decoder_init_, cu, config_.dec_layers, config_.dec);
    bars.push_back(output_(decoder_->forward(inputs.narrow(1, u * S, S), cu, S, state)));
  }
  return torch::cat(bars, 1);
}

torch::Tensor MusicVAEImpl::sample_groove_step(const torch::Tensor& outputs, double temperature, bool argmax,
                                               const torch::Tensor& forced_hits) const {
  constexpr int64_t C = data::kNumDrumClasses;
  const torch::Tensor logits = outputs.narrow(-1, 0, C).to(torch::kFloat);
  torch::Tensor hits;
  if (forced_hits.defined())
    hits = forced_hits.to(logits.options());
  else if (argmax)
    hits = (logits > 0).to(torch::kFloat);
  else
    hits = torch::bernoulli(torch::sigmoid(logits / temperature));
  const torch::Tensor velocities = torch::sigmoid(outputs.narrow(-1, C, C).to(torch::kFloat));
  const torch::Tensor offsets = torch::tanh(outputs.narrow(-1, 2 * C, C).to(torch::kFloat));
  if (!config_.groove_feedback_masked) return torch::cat({hits, velocities, offsets}, -1);  // Magenta's
  return torch::cat({hits, velocities * hits, offsets * hits}, -1);
}

torch::Tensor MusicVAEImpl::draw_sampling_mask(const torch::Tensor& z, double sampling_probability) const {
  return torch::rand({z.size(0), config_.steps()}, z.options().dtype(torch::kFloat)) < sampling_probability;
}

DecodeOutput MusicVAEImpl::decode_stepwise(const torch::Tensor& z, const torch::Tensor& targets,
                                           double sampling_probability, double temperature, bool argmax,
                                           const torch::Tensor& forced_hits) {
  const torch::Tensor mask =
      targets.defined() && sampling_probability > 0 ? draw_sampling_mask(z, sampling_probability) : torch::Tensor();
  return decode_steps(z, targets, mask, temperature, argmax, forced_hits);
}

torch::Tensor MusicVAEImpl::sample_step(const torch::Tensor& step_out, double temperature, bool argmax,
                                        const torch::Tensor& forced_hits) {
  torch::NoGradGuard no_grad;
  if (config_.groove()) return sample_groove_step(step_out, temperature, argmax, forced_hits);
  return argmax ? step_out.argmax(-1) : torch::multinomial(torch::softmax(step_out / temperature, -1), 1).squeeze(-1);
}

DecodeOutput MusicVAEImpl::decode_steps(const torch::Tensor& z, const torch::Tensor& targets,
                                        const torch::Tensor& sample_mask, double temperature, bool argmax,
                                        const torch::Tensor& forced_hits) {
  MVAE_CHECK(!forced_hits.defined() || config_.groove(), "forced hits need the groove output");
  const int64_t B = z.size(0);
  const int64_t U = config_.hierarchical() ? config_.bars : 1;
  const int64_t S = config_.hierarchical() ? config_.steps_per_bar : config_.steps();
  torch::Tensor conductor_out;
  if (config_.hierarchical())
    conductor_out =
        conductor_->forward({}, {}, U, initial_state(conductor_init_, z, config_.cond_layers, config_.cond));

  // Before the first step: "no token" (groove: a step with nothing).
  torch::Tensor previous = config_.groove() ? torch::zeros({B, kGrooveValues}, z.options().dtype(torch::kFloat))
                                            : torch::full({B}, config_.vocab, z.options().dtype(torch::kLong));
  // The coins on the host, read once: the rows that sample at a step are then found without a
  // device synchronisation per step (on CUDA a nonzero() of a device tensor waits for the GPU).
  const torch::Tensor mask_on_host = sample_mask.defined() ? sample_mask.to(torch::kCPU) : torch::Tensor();
  std::vector<torch::Tensor> sequence, outputs;
  for (int64_t u = 0; u < U; ++u) {
    const torch::Tensor dense = config_.hierarchical() ? conductor_out.select(1, u) : z;
    LstmState state = initial_state(decoder_init_, dense, config_.dec_layers, config_.dec);  // not carried across bars
    const torch::Tensor dense_gates = decoder_->dense_gates(dense);
    for (int64_t s = 0; s < S; ++s) {
      const int64_t t = u * S + s;
      const torch::Tensor step_out = output_(decoder_->step(previous, dense_gates, state));  // [B, V] or [B, 27]
      torch::Tensor next;
      if (!targets.defined()) {
        next =
            sample_step(step_out, temperature, argmax, forced_hits.defined() ? forced_hits.select(1, t) : forced_hits);
      } else if (!sample_mask.defined()) {
        next = targets.select(1, t);
      } else {
        // Only the sequences whose coin came up at this step draw a sample: [R] rows of [B].
        const torch::Tensor rows_on_host = mask_on_host.select(1, t).nonzero().squeeze(1);
        next = targets.select(1, t);
        if (rows_on_host.numel() > 0) {
          const torch::Tensor rows = rows_on_host.to(z.device());
          next = next.index_copy(0, rows, sample_step(step_out.index_select(0, rows), temperature, false));
        }
      }
      sequence.push_back(next);
      outputs.push_back(step_out);
      previous = next;
    }
  }
  return {torch::stack(sequence, 1), torch::stack(outputs, 1)};
}

torch::Tensor MusicVAEImpl::decode_scheduled(const torch::Tensor& z, const torch::Tensor& targets,
                                             double sampling_probability) {
  const torch::Tensor mask = draw_sampling_mask(z, sampling_probability);  // [B, T]
  torch::Tensor inputs_read = targets;  // [B, T] or [B, T, 27]: what step t + 1 reads, sample or target
  // Only the sequences with at least one sampled step need the first pass; the others read their
  // targets throughout. Early in Magenta's schedules (p ~ 0.001-0.02) that is a few rows of the
  // batch, so scheduled sampling then costs about what teacher forcing costs.
  const torch::Tensor rows = mask.any(1).nonzero().squeeze(1);
  if (rows.numel() > 0) {
    torch::NoGradGuard no_grad;
    const torch::Tensor read =
        decode_steps(z.index_select(0, rows), targets.index_select(0, rows), mask.index_select(0, rows), 1.0, false)
            .sequences;
    inputs_read = targets.index_copy(0, rows, read);
  }
  // decode_teacher_forced reads its "targets" shifted by one step: the inputs of the first pass.
  return decode_teacher_forced(z, inputs_read);
}

torch::Tensor MusicVAEImpl::sample(const torch::Tensor& z, double temperature, bool argmax,
                                   const torch::Tensor& forced_hits) {
  torch::NoGradGuard no_grad;
  return decode_stepwise(z, {}, 0.0, temperature, argmax, forced_hits).sequences;
}

ReconstructionLoss MusicVAEImpl::reconstruction_loss(const torch::Tensor& outputs, const torch::Tensor& targets) const {
  namespace F = torch::nn::functional;
  const int64_t B = targets.size(0), T = targets.size(1);
  ReconstructionLoss r;
  if (!config_.groove()) {
    r.total = F::cross_entropy(outputs.reshape({B * T, -1}).to(torch::kFloat), targets.reshape({B * T}),
                               F::CrossEntropyFuncOptions().reduction(torch::kNone))
                  .view({B, T})
                  .sum(1);  // [B], nats
    return r;
  }
  constexpr int64_t C = data::kNumDrumClasses;
  const torch::Tensor out = outputs.to(torch::kFloat);
  // Summed over steps and classes: [B] each. Velocity and offset errors count at every step and
  // class, where the target is 0 without a hit, as Magenta's GrooveLstmDecoder does; or only at
  // the target's hits (groove_loss_at_hits).
  const torch::Tensor hits = targets.narrow(-1, 0, C);
  r.hits = F::binary_cross_entropy_with_logits(out.narrow(-1, 0, C), hits,
                                               F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
               .sum({1, 2});
  torch::Tensor velocity_error = (torch::sigmoid(out.narrow(-1, C, C)) - targets.narrow(-1, C, C)).square();
  torch::Tensor offset_error = (torch::tanh(out.narrow(-1, 2 * C, C)) - targets.narrow(-1, 2 * C, C)).square();
  if (config_.groove_loss_at_hits) {
    velocity_error = velocity_error * hits;
    offset_error = offset_error * hits;
  }
  r.velocities = velocity_error.sum({1, 2});
  r.offsets = offset_error.sum({1, 2});
  r.total = r.hits + r.velocities + r.offsets;
  return r;
}

torch::Tensor MusicVAEImpl::predicted_tokens(const torch::Tensor& outputs) const {
  if (!config_.groove()) return outputs.argmax(-1);
  return tokens_of_hits((outputs.narrow(-1, 0, data::kNumDrumClasses) > 0).to(torch::kFloat));  // sigmoid > 0.5
}

torch::Tensor MusicVAEImpl::tokens_of(const torch::Tensor& sequences) const {
  return config_.groove() ? tokens_of_hits(sequences.narrow(-1, 0, data::kNumDrumClasses)) : sequences;
}

ScheduledSamplingPath auto_sampling_path(bool cuda, double sampling_probability, int64_t steps) {
  if (cuda) return ScheduledSamplingPath::kTwoPass;
  const double rows_sampling = 1.0 - std::pow(1.0 - sampling_probability, static_cast<double>(steps));
  return rows_sampling < 0.5 ? ScheduledSamplingPath::kTwoPass : ScheduledSamplingPath::kStepwiseGraph;
}

LossOutput MusicVAEImpl::forward(const torch::Tensor& x, double beta, double sampling_probability,
                                 const torch::Tensor& eps, ScheduledSamplingPath path) {
  const int64_t T = x.size(1);
  MVAE_CHECK(T == config_.steps(),
             "sequences of " + std::to_string(T) + " steps, model expects " + std::to_string(config_.steps()));
  MVAE_CHECK(config_.groove() ? x.dim() == 3 && x.size(2) == kGrooveValues : x.dim() == 2,
             config_.groove() ? "a groove model takes [B, T, 27] vectors" : "a token model takes [B, T] token ids");
  const Posterior q = encode(encoder_input(x));
  const torch::Tensor z = reparameterize(q, eps);
  if (path == ScheduledSamplingPath::kAuto) path = auto_sampling_path(x.is_cuda(), sampling_probability, T);
  torch::Tensor logits;
  if (sampling_probability <= 0)
    logits = decode_teacher_forced(z, x);
  else if (path == ScheduledSamplingPath::kStepwiseGraph)
    logits = decode_stepwise(z, x, sampling_probability, 1.0, false).logits;
  else
    logits = decode_scheduled(z, x, sampling_probability);
  const ReconstructionLoss r_loss = reconstruction_loss(logits, x);
  const torch::Tensor kl = kl_divergence(q);  // [B], nats
  const double free_nats = config_.free_bits * std::log(2.0);
  const torch::Tensor kl_cost = torch::clamp_min(kl - free_nats, 0.0);  // free bits on the total KL per example
  LossOutput out;
  out.r_loss = r_loss.total.mean();
  out.kl = kl.mean();
  out.loss = out.r_loss + beta * kl_cost.mean();
  {
    torch::NoGradGuard no_grad;
    out.accuracy = (predicted_tokens(logits) == tokens_of(x)).to(torch::kFloat).mean();
    if (config_.groove()) {
      out.hits_loss = r_loss.hits.mean();
      out.velocities_loss = r_loss.velocities.mean();
      out.offsets_loss = r_loss.offsets.mean();
    }
  }
  out.logits = logits;
  return out;
}

}  // namespace mvae::model
