#include "model/musicvae.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "common/error.h"
#include "common/files.h"

namespace mvae::model {

MusicVAEImpl::MusicVAEImpl(const ModelConfig& config) : config_(config) {
  config_.validate();
  const int64_t V = config.vocab;
  encoder_ = register_module(
      "encoder", LstmStack(LstmStackOptions{config.enc, config.enc_layers, /*directions=*/2, V, /*dense=*/0, config.dropout_keep}));
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
    conductor_init_ = register_module("conductor_init", torch::nn::Linear(config.z, 2 * config.cond_layers * config.cond));
    conductor_ = register_module(
        "conductor", LstmStack(LstmStackOptions{config.cond, config.cond_layers, 1, /*vocab=*/0, /*dense=*/0, config.dropout_keep}));
    decoder_dense = config.cond;
  }
  decoder_init_ = register_module("decoder_init", torch::nn::Linear(decoder_dense, 2 * config.dec_layers * config.dec));
  decoder_ = register_module("decoder", LstmStack(LstmStackOptions{config.dec, config.dec_layers, 1, V, decoder_dense, config.dropout_keep}));
  output_ = register_module("output", torch::nn::Linear(config.dec, V));
}

Posterior MusicVAEImpl::encode(const torch::Tensor& tokens) {
  LstmState final_state;
  encoder_->forward(tokens, {}, tokens.size(1), {}, &final_state);
  const int64_t top = (config_.enc_layers - 1) * 2;
  // Last layer's final forward state and final backward state (at t = 0): [B, 2 * enc].
  const torch::Tensor summary = torch::cat({final_state.h[top], final_state.h[top + 1]}, -1);
  // float32 whatever autocast chose for the products: the KL sums over z and feeds the loss.
  return {mu_(summary).to(torch::kFloat), torch::softplus(sigma_(summary).to(torch::kFloat))};
}

torch::Tensor MusicVAEImpl::reparameterize(const Posterior& q, const torch::Tensor& eps) {
  return q.mu + q.sigma * (eps.defined() ? eps.to(q.sigma.options()) : torch::randn_like(q.sigma));
}

torch::Tensor MusicVAEImpl::kl_divergence(const Posterior& q) {
  // 0.5 * sum(mu^2 + sigma^2 - 1) - sum(log sigma)
  const torch::Tensor log_sigma = torch::log(q.sigma.clamp_min(1e-30));
  return (0.5 * (q.mu.square() + q.sigma.square() - 1.0) - log_sigma).sum(-1);
}

LstmState MusicVAEImpl::initial_state(torch::nn::Linear& dense, const torch::Tensor& x, int64_t layers, int64_t hidden) {
  // tanh(Dense(x)) split into h and c of every layer: [N, 2*L*H] -> 2 x [L, N, H].
  const torch::Tensor s = torch::tanh(dense(x)).view({x.size(0), 2, layers, hidden}).permute({1, 2, 0, 3});
  return {s[0].contiguous(), s[1].contiguous()};
}

torch::Tensor MusicVAEImpl::shifted_inputs(const torch::Tensor& targets) const {
  const int64_t B = targets.size(0);
  const torch::Tensor start = torch::full({B, 1}, config_.vocab, targets.options());
  return torch::cat({start, targets.narrow(1, 0, targets.size(1) - 1)}, 1);
}

torch::Tensor MusicVAEImpl::decode_teacher_forced(const torch::Tensor& z, const torch::Tensor& targets) {
  const int64_t B = targets.size(0), T = targets.size(1), V = config_.vocab;
  const torch::Tensor inputs = shifted_inputs(targets);  // the first input of bar u is the last token of bar u-1
  torch::Tensor hidden;
  if (config_.hierarchical()) {
    const int64_t U = config_.bars, S = config_.steps_per_bar;
    const torch::Tensor c = conductor_->forward({}, {}, U, initial_state(conductor_init_, z, config_.cond_layers, config_.cond));
    const torch::Tensor c_flat = c.reshape({B * U, config_.cond});  // [B*U, cond]
    const LstmState state = initial_state(decoder_init_, c_flat, config_.dec_layers, config_.dec);
    hidden = decoder_->forward(inputs.reshape({B * U, S}), c_flat, S, state);  // [B*U, S, dec]
  } else {
    hidden = decoder_->forward(inputs, z, T, initial_state(decoder_init_, z, config_.dec_layers, config_.dec));
  }
  return output_(hidden).view({B, T, V});
}

torch::Tensor MusicVAEImpl::decode_teacher_forced_per_bar(const torch::Tensor& z, const torch::Tensor& targets) {
  MVAE_CHECK(config_.hierarchical(), "per-bar decoding is for the hierarchical decoder");
  const int64_t U = config_.bars, S = config_.steps_per_bar;
  const torch::Tensor inputs = shifted_inputs(targets);
  const torch::Tensor c = conductor_->forward({}, {}, U, initial_state(conductor_init_, z, config_.cond_layers, config_.cond));
  std::vector<torch::Tensor> bars;
  for (int64_t u = 0; u < U; ++u) {
    const torch::Tensor cu = c.select(1, u);
    const LstmState state = initial_state(decoder_init_, cu, config_.dec_layers, config_.dec);
    bars.push_back(output_(decoder_->forward(inputs.narrow(1, u * S, S), cu, S, state)));
  }
  return torch::cat(bars, 1);
}

DecodeOutput MusicVAEImpl::decode_stepwise(const torch::Tensor& z, const torch::Tensor& targets,
                                           double sampling_probability, double temperature, bool argmax) {
  const int64_t B = z.size(0), T = config_.steps(), V = config_.vocab;
  const int64_t U = config_.hierarchical() ? config_.bars : 1;
  const int64_t S = config_.hierarchical() ? config_.steps_per_bar : T;
  const auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(z.device());
  torch::Tensor conductor_out;
  if (config_.hierarchical())
    conductor_out = conductor_->forward({}, {}, U, initial_state(conductor_init_, z, config_.cond_layers, config_.cond));

  torch::Tensor previous = torch::full({B}, V, long_opts);  // "no token" before the first step
  std::vector<torch::Tensor> tokens, logits;
  for (int64_t u = 0; u < U; ++u) {
    const torch::Tensor dense = config_.hierarchical() ? conductor_out.select(1, u) : z;
    LstmState state = initial_state(decoder_init_, dense, config_.dec_layers, config_.dec);  // not carried across bars
    const torch::Tensor dense_gates = decoder_->dense_gates(dense);
    for (int64_t s = 0; s < S; ++s) {
      const torch::Tensor step_logits = output_(decoder_->step(previous, dense_gates, state));  // [B, V]
      torch::Tensor next;
      if (!targets.defined() || sampling_probability > 0) {
        torch::NoGradGuard no_grad;
        next = argmax ? step_logits.argmax(-1)
                      : torch::multinomial(torch::softmax(step_logits / temperature, -1), 1).squeeze(-1);
      }
      if (targets.defined()) {
        const torch::Tensor target = targets.select(1, u * S + s);
        if (sampling_probability > 0) {
          const torch::Tensor use_sample = torch::rand({B}, z.options()) < sampling_probability;
          next = torch::where(use_sample, next, target);
        } else {
          next = target;
        }
      }
      tokens.push_back(next);
      logits.push_back(step_logits);
      previous = next;
    }
  }
  return {torch::stack(tokens, 1), torch::stack(logits, 1)};
}

torch::Tensor MusicVAEImpl::sample(const torch::Tensor& z, double temperature, bool argmax) {
  torch::NoGradGuard no_grad;
  return decode_stepwise(z, {}, 0.0, temperature, argmax).tokens;
}

LossOutput MusicVAEImpl::forward(const torch::Tensor& tokens, double beta, double sampling_probability,
                                 const torch::Tensor& eps) {
  const int64_t B = tokens.size(0), T = tokens.size(1), V = config_.vocab;
  MVAE_CHECK(T == config_.steps(), "sequences of " + std::to_string(T) + " steps, model expects " + std::to_string(config_.steps()));
  const Posterior q = encode(tokens);
  const torch::Tensor z = reparameterize(q, eps);
  const torch::Tensor logits = sampling_probability > 0 ? decode_stepwise(z, tokens, sampling_probability, 1.0, false).logits
                                                        : decode_teacher_forced(z, tokens);
  const torch::Tensor r_loss =
      torch::nn::functional::cross_entropy(logits.reshape({B * T, V}).to(torch::kFloat), tokens.reshape({B * T}),
                                           torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
          .view({B, T})
          .sum(1);                                   // [B], nats
  const torch::Tensor kl = kl_divergence(q);         // [B], nats
  const double free_nats = config_.free_bits * std::log(2.0);
  const torch::Tensor kl_cost = torch::clamp_min(kl - free_nats, 0.0);  // free bits on the total KL per example
  LossOutput out;
  out.r_loss = r_loss.mean();
  out.kl = kl.mean();
  out.loss = out.r_loss + beta * kl_cost.mean();
  {
    torch::NoGradGuard no_grad;
    out.accuracy = (logits.argmax(-1) == tokens).to(torch::kFloat).mean();
  }
  out.logits = logits;
  return out;
}

void save_model(const std::string& path, MusicVAE& model, const std::string& representation_json) {
  torch::serialize::OutputArchive archive;
  model->save(archive);
  archive.write("mvae_config", c10::IValue(model->config().to_json()));
  archive.write("mvae_representation", c10::IValue(representation_json));
  // The dtype the weights are stored in: loading must read them into tensors of that dtype
  // (LibTorch's Module::load reuses the parameter's storage, it does not convert).
  archive.write("mvae_weights_dtype", c10::IValue(std::string(c10::toString(model->parameters().front().scalar_type()))));
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());  // temporary file, fsync, rename
}

LoadedModel load_model(const std::string& path, const torch::Device& device) {
  if (!std::filesystem::exists(path)) throw InputError(path, "", "no such model file");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, device);
  } catch (const c10::Error& e) {
    throw InputError(path, "", std::string("not a readable model file: ") + e.what_without_backtrace());
  }
  c10::IValue config_value, representation_value;
  if (!archive.try_read("mvae_config", config_value) || !archive.try_read("mvae_representation", representation_value))
    throw InputError(path, "", "no model configuration inside: not written by this project");
  LoadedModel loaded;
  loaded.config = ModelConfig::from_json(config_value.toStringRef(), path);
  loaded.representation_json = representation_value.toStringRef();
  loaded.model = MusicVAE(loaded.config);
  c10::IValue dtype_value;
  if (archive.try_read("mvae_weights_dtype", dtype_value)) {  // absent in files from before exports: float32
    const std::string stored = dtype_value.toStringRef();
    if (stored == "Half") loaded.model->to(torch::kHalf);
    else if (stored == "BFloat16") loaded.model->to(torch::kBFloat16);
    else if (stored != "Float") throw InputError(path, "mvae_weights_dtype", "weights stored as " + stored + ", not Float, Half or BFloat16");
  }
  try {
    loaded.model->load(archive);
  } catch (const c10::Error& e) {
    throw InputError(path, "weights", std::string("do not match the configuration: ") + e.what_without_backtrace());
  }
  // Float32 whatever the file stores (a released model keeps its weights in float16).
  loaded.model->to(device, torch::kFloat32);
  loaded.model->eval();  // inference: no dropout; the trainer switches to train() itself
  return loaded;
}

uint64_t export_model(const std::string& from, const std::string& to, torch::Dtype dtype) {
  LoadedModel loaded = load_model(from, torch::kCPU);
  loaded.model->to(dtype);
  save_model(to, loaded.model, loaded.representation_json);
  return std::filesystem::file_size(to);
}

}  // namespace mvae::model
