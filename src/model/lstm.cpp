#include "model/lstm.h"

#include "common/error.h"
#include "model/lstm_layer.h"

#include <cmath>

namespace mvae::model {

LstmStackImpl::LstmStackImpl(const LstmStackOptions& options) : options_(options) {
  const int64_t H = options.hidden, D = options.directions, G = 4 * H;
  MVAE_CHECK(D == 1 || D == 2, "directions must be 1 or 2");
  MVAE_CHECK(options.vocab == 0 || options.features == 0, "layer 0 reads token ids or vectors, not both");
  // PyTorch's LSTM initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias.
  const double bound = 1.0 / std::sqrt(static_cast<double>(H));
  const auto uniform = [bound](std::vector<int64_t> shape) { return torch::empty(shape).uniform_(-bound, bound); };
  for (int64_t d = 0; d < D; ++d) {
    const std::string sfx = D == 2 ? (d == 0 ? "_fw" : "_bw") : "";
    if (options.vocab > 0) {
      auto w = uniform({options.vocab + 1, G});
      w[options.vocab].zero_();  // "no token": contributes nothing, and embedding's padding_idx keeps it so
      token_gates_.push_back(register_parameter("token_gates" + sfx, w));
    }
    if (options.features > 0) feature_w_.push_back(register_parameter("input_w" + sfx, uniform({G, options.features})));
    if (options.dense > 0) dense_w_.push_back(register_parameter("dense_w" + sfx, uniform({G, options.dense})));
  }
  for (int64_t l = 0; l < options.layers; ++l) {
    const std::string n = std::to_string(l);
    if (l > 0) w_ih_.push_back(register_parameter("w_ih" + n, uniform({D, G, D * H})));
    w_hh_.push_back(register_parameter("w_hh" + n, uniform({D, G, H})));
    // Two uniform biases summed, as PyTorch's b_ih + b_hh.
    bias_.push_back(register_parameter("bias" + n, uniform({D, G}) + uniform({D, G})));
  }
}

void LstmStackImpl::reset_like_tensorflow() {
  torch::NoGradGuard no_grad;
  const int64_t H = options_.hidden, D = options_.directions;
  const int64_t layer0_inputs = (options_.vocab > 0 ? options_.vocab : options_.features) + options_.dense;
  const auto glorot = [H](torch::Tensor& w, int64_t inputs) {
    const double limit = std::sqrt(6.0 / static_cast<double>(inputs + H + 4 * H));
    w.uniform_(-limit, limit);
  };
  for (int64_t d = 0; d < D; ++d) {
    if (options_.vocab > 0) {
      glorot(token_gates_[d], layer0_inputs);
      token_gates_[d][options_.vocab].zero_();  // "no token" stays a zero row
    }
    if (options_.features > 0) glorot(feature_w_[d], layer0_inputs);
    if (options_.dense > 0) glorot(dense_w_[d], layer0_inputs);
  }
  for (int64_t l = 0; l < options_.layers; ++l) {
    const int64_t inputs = l == 0 ? layer0_inputs : D * H;
    if (l > 0) glorot(w_ih_[l - 1], inputs);
    glorot(w_hh_[l], inputs);
    bias_[l].zero_();
    bias_[l].slice(/*dim=*/1, H, 2 * H).fill_(1.0);  // gate order i, f, g, o: the forget gates
  }
}

torch::Tensor LstmStackImpl::drop(const torch::Tensor& x, torch::IntArrayRef mask_shape) const {
  if (!dropping()) return x;
  const double keep = options_.input_keep;
  return x * torch::empty(mask_shape, x.options()).bernoulli_(keep).div_(keep);
}

torch::Tensor LstmStackImpl::input_gates(const torch::Tensor& x, int64_t d) const {
  if (options_.vocab > 0) {
    // Dropping a one-hot input drops its whole row of gates: one mask value per step and sequence.
    std::vector<int64_t> mask_shape = x.sizes().vec();
    mask_shape.push_back(1);
    return drop(torch::embedding(token_gates_[d], x, /*padding_idx=*/options_.vocab), mask_shape);
  }
  return torch::matmul(drop(x, x.sizes()), feature_w_[d].t());  // each value dropped on its own, as Magenta's
}

torch::Tensor LstmStackImpl::dense_gates(const torch::Tensor& dense, int64_t d) {
  torch::Tensor g = bias_[0][d];                                                             // [4H]
  if (options_.dense > 0) g = torch::addmm(g, drop(dense, dense.sizes()), dense_w_[d].t());  // [N, 4H]
  return g;
}

torch::Tensor LstmStackImpl::forward(const torch::Tensor& tokens, const torch::Tensor& dense, int64_t steps,
                                     const LstmState& state, LstmState* final_state) {
  const int64_t H = options_.hidden, D = options_.directions, L = options_.layers;
  const int64_t N = tokens.defined() ? tokens.size(0) : (dense.defined() ? dense.size(0) : state.h.size(1));
  const int64_t T = steps;
  const auto opts = w_hh_[0].options();
  torch::Tensor h0 = state.h.defined() ? state.h : torch::zeros({L * D, N, H}, opts);
  torch::Tensor c0 = state.c.defined() ? state.c : torch::zeros({L * D, N, H}, opts);

  std::vector<torch::Tensor> final_h, final_c;
  torch::Tensor layer_out;  // [T, N, D*H], natural time order
  const torch::Tensor tokens_t = tokens.defined() ? tokens.transpose(0, 1) : torch::Tensor();  // [T, N] or [T, N, F]
  for (int64_t l = 0; l < L; ++l) {
    std::vector<torch::Tensor> xg;  // per direction [T, N, 4H]
    for (int64_t d = 0; d < D; ++d) {
      if (l == 0) {
        torch::Tensor base = dense_gates(dense, d);  // [4H] or [N, 4H]
        if (tokens_t.defined())
          xg.push_back(input_gates(tokens_t, d).add_(base));
        else
          xg.push_back(base.expand({T, N, 4 * H}));
      } else {
        // One matrix product over all steps: [T*N, D*H] x [D*H, 4H].
        const torch::Tensor below =
            drop(layer_out, layer_out.sizes());  // its own mask per direction, as Magenta's cells
        xg.push_back(torch::addmm(bias_[l][d], below.reshape({T * N, D * H}), w_ih_[l - 1][d].t()).view({T, N, 4 * H}));
      }
    }
    const auto out = lstm_layer(xg, h0.narrow(0, l * D, D), c0.narrow(0, l * D, D), w_hh_[l]);
    layer_out = D == 1 ? out[0] : torch::cat({out[0], out[1]}, -1);  // [T, N, D*H]
    final_h.push_back(out[D]);
    final_c.push_back(out[D + 1]);
  }
  if (final_state) {
    final_state->h = torch::cat(final_h, 0);
    final_state->c = torch::cat(final_c, 0);
  }
  return layer_out.transpose(0, 1);  // [N, T, D*H]
}

torch::Tensor LstmStackImpl::step(const torch::Tensor& token, const torch::Tensor& dense_gates_0, LstmState& state) {
  MVAE_CHECK(options_.directions == 1, "step() needs a unidirectional stack");
  const int64_t L = options_.layers;
  std::vector<torch::Tensor> hs, cs;
  torch::Tensor x;
  for (int64_t l = 0; l < L; ++l) {
    torch::Tensor gates;
    if (l == 0) {
      gates = dense_gates_0;
      if (token.defined()) gates = gates + input_gates(token, 0);
    } else {
      gates = torch::addmm(bias_[l][0], drop(x, x.sizes()), w_ih_[l - 1][0].t());
    }
    if (gates.is_cuda()) {  // one fused kernel for the cell, as in the layer (model/lstm_layer.cpp)
      const auto [h, c, activated] =
          at::_thnn_fused_lstm_cell(gates, torch::mm(state.h[l], w_hh_[l][0].t()), state.c[l]);
      hs.push_back(h);
      cs.push_back(c);
      x = h;
      continue;
    }
    gates = torch::addmm(gates, state.h[l], w_hh_[l][0].t());
    const auto ifgo = gates.chunk(4, -1);
    const torch::Tensor c =
        torch::addcmul(torch::sigmoid(ifgo[1]) * state.c[l], torch::sigmoid(ifgo[0]), torch::tanh(ifgo[2]));
    const torch::Tensor h = torch::sigmoid(ifgo[3]) * torch::tanh(c);
    hs.push_back(h);
    cs.push_back(c);
    x = h;
  }
  state.h = torch::stack(hs);
  state.c = torch::stack(cs);
  return x;
}

}  // namespace mvae::model
