// A stack of LSTM layers whose first layer reads tokens by lookup instead of a one-hot matrix
// product (exact: one_hot(x) @ W^T == W[:, x]^T), plus an optional input that is constant over
// the sequence (z or a conductor embedding), projected once per sequence rather than per step.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace mvae::model {

struct LstmStackOptions {
  int64_t hidden = 256;
  int64_t layers = 1;
  int64_t directions = 1;  // 2: bidirectional (outputs of both directions concatenated)
  int64_t vocab = 0;       // > 0: layer 0 reads token ids in [0, vocab]; id `vocab` means "no token"
  int64_t features = 0;    // > 0 (instead of vocab): layer 0 reads a vector of this size per step (GrooVAE)
  int64_t dense = 0;       // > 0: a per-sequence input of this size feeds every step of layer 0
  // Input dropout in training, as Magenta's DropoutWrapper(input_keep_prob) on every layer: each
  // step's token input and each layer's input from the layer below are kept with this
  // probability (and scaled by 1/keep). The per-sequence input is dropped once per sequence
  // (one mask for all its steps), which keeps its projection at one product per sequence.
  double input_keep = 1.0;
};

// h and c of every layer and direction: [layers * directions, N, H].
struct LstmState {
  torch::Tensor h, c;
};

class LstmStackImpl : public torch::nn::Module {
 public:
  explicit LstmStackImpl(const LstmStackOptions& options);

  // tokens: [N, T] int64 ids (vocab > 0), [N, T, features] float vectors (features > 0), or
  // undefined (neither); dense: [N, dense] (or undefined);
  // state: initial state (undefined tensors = zeros). Returns outputs [N, T, D*H] of the top
  // layer; `final_state` (if given) receives the state after the last step of each direction.
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& dense, int64_t steps, const LstmState& state,
                        LstmState* final_state = nullptr);

  // One step of a unidirectional stack, for autoregressive decoding: `token` [N] int64 ids or
  // [N, features] vectors, as forward() reads them. `dense_gates` is
  // dense_gates(dense) computed once per sequence. Updates `state`; returns the top h [N, H].
  torch::Tensor step(const torch::Tensor& token, const torch::Tensor& dense_gates, LstmState& state);
  // Layer-0 gate contribution of the per-sequence input (its projection plus the bias): [N, 4H].
  torch::Tensor dense_gates(const torch::Tensor& dense, int64_t direction = 0);

  const LstmStackOptions& options() const { return options_; }

  // Redraws the weights as TensorFlow's LSTMBlockCell under Magenta starts them: each layer and
  // direction's kernel, one [inputs + H, 4H] matrix there, Glorot-uniform over that shape (limit
  // sqrt(6 / (inputs + H + 4H))); biases zero but the forget gates' 1.0 (LSTMBlockCell's
  // forget_bias, added when it runs). `inputs` of layer 0 is the one-hot vocabulary (or the
  // feature count) plus the per-sequence input, as Magenta concatenates them.
  void reset_like_tensorflow();

 private:
  bool dropping() const { return is_training() && options_.input_keep < 1.0; }
  // Layer-0 gate contribution of the per-step input x ([T, N] ids or [T, N, F] vectors, or [N] /
  // [N, F] for one step), input dropout applied: [..., N, 4H].
  torch::Tensor input_gates(const torch::Tensor& x, int64_t direction) const;
  // x * Bernoulli(keep) / keep with a mask of `mask_shape` broadcast over x; x itself when not dropping.
  torch::Tensor drop(const torch::Tensor& x, torch::IntArrayRef mask_shape) const;

  LstmStackOptions options_;
  std::vector<torch::Tensor> token_gates_;  // per direction: [vocab + 1, 4H]; row `vocab` stays 0
  std::vector<torch::Tensor> feature_w_;    // per direction: [4H, features]
  std::vector<torch::Tensor> dense_w_;      // per direction: [4H, dense]
  std::vector<torch::Tensor> w_ih_;         // per layer >= 1, stacked over directions: [D, 4H, D_in*H]
  std::vector<torch::Tensor> w_hh_;         // per layer: [D, 4H, H]
  std::vector<torch::Tensor> bias_;         // per layer: [D, 4H] (input and recurrent biases in one)
};
TORCH_MODULE(LstmStack);

}  // namespace mvae::model
