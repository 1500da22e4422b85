// One LSTM layer (one or two directions) over a whole sequence as a single autograd function.
// The backward pass walks the recurrence by hand and computes the recurrent weight gradient
// as one [4H, T*N] x [T*N, H] product, instead of autograd accumulating T separate products.
// The elementwise cell of each step is one fused loop on CPU (float32) and ATen's fused LSTM
// cell kernel on CUDA (docs/model.md, "On a GPU").
#pragma once

#include <torch/torch.h>

namespace mvae::model {

// xg[d]: [T, N, 4H] input contributions (x W_ih^T + b) of direction d, in natural time order;
// direction 1 runs from t = T-1 down to 0. h0, c0: [D, N, H]. w_hh: [D, 4H, H]. Gate order i, f, g, o.
// Returns {y_0, ..., y_{D-1}, h_T, c_T}: y_d [T, N, H] in natural time order; h_T, c_T [D, N, H]
// the states after each direction's last step.
torch::autograd::variable_list lstm_layer(const std::vector<torch::Tensor>& xg, const torch::Tensor& h0,
                                          const torch::Tensor& c0, const torch::Tensor& w_hh);

// The same with plain autograd over per-step operations: the reference the tests compare with.
torch::autograd::variable_list lstm_layer_reference(const std::vector<torch::Tensor>& xg, const torch::Tensor& h0,
                                                    const torch::Tensor& c0, const torch::Tensor& w_hh);

}  // namespace mvae::model
