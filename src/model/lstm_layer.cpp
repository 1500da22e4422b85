#include "model/lstm_layer.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "model/precision.h"

namespace mvae::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Time index of step s for direction d.
inline int64_t time_of(int64_t s, int64_t d, int64_t T) { return d == 0 ? s : T - 1 - s; }

// The elementwise part of one backward step, fused for contiguous float CPU tensors (no
// transcendental functions: tanh(c) comes from the forward pass), so the compiler vectorises it.
bool fusable(const torch::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == torch::kFloat; }

// dh: gradient reaching h_s; dc: gradient reaching c_s, updated in place to reach c_{s-1};
// dg: [rows, 4H] pre-activation gate gradients out.
void cell_backward_cpu(const torch::Tensor& a, const torch::Tensor& c_prev, const torch::Tensor& tanh_c,
                       const torch::Tensor& dh, torch::Tensor dc, torch::Tensor dg) {
  const int64_t H = tanh_c.size(-1), rows = tanh_c.numel() / H;
  const float* __restrict A = a.data_ptr<float>();
  const float* __restrict CP = c_prev.data_ptr<float>();
  const float* __restrict TC = tanh_c.data_ptr<float>();
  const float* __restrict DH = dh.data_ptr<float>();
  float* __restrict DC = dc.data_ptr<float>();
  float* __restrict DG = dg.data_ptr<float>();
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* __restrict g = A + r * 4 * H;
      float* __restrict d = DG + r * 4 * H;
      for (int64_t j = 0; j < H; ++j) {
        const float i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
        const float tc = TC[r * H + j], dhj = DH[r * H + j];
        const float dcj = DC[r * H + j] + dhj * o * (1.0f - tc * tc);
        d[j] = dcj * gg * i * (1.0f - i);
        d[H + j] = dcj * CP[r * H + j] * f * (1.0f - f);
        d[2 * H + j] = dcj * i * (1.0f - gg * gg);
        d[3 * H + j] = dhj * tc * o * (1.0f - o);
        DC[r * H + j] = dcj * f;
      }
    }
  });
}

// On a GPU the elementwise part of a step is one kernel each way: ATen's fused LSTM cell (the
// kernels of torch.nn.LSTMCell on CUDA), instead of about eight small kernels per step forward and
// fifteen backward. docs/model.md ("On a GPU") gives the reasons for this over cuDNN's LSTM.
bool cuda_cell(const torch::Tensor& t) { return t.is_cuda(); }

// State slots per direction, indexed by time: direction 0 keeps h_{t-1} in slot t (slot 0 =
// h0) and writes h_t to slot t+1; direction 1 (walking backwards) keeps its previous state in
// slot t+1 (slot T = h0) and writes h_t to slot t. Every per-direction slice used below is then
// contiguous, and outputs come out in natural time order without flips.
inline int64_t prev_slot(int64_t d, int64_t t) { return d == 0 ? t : t + 1; }
inline int64_t new_slot(int64_t d, int64_t t) { return d == 0 ? t + 1 : t; }

class LstmLayerFunction : public torch::autograd::Function<LstmLayerFunction> {
 public:
  // xg1 is ignored for a unidirectional layer (D = w_hh.size(0) = 1).
  static variable_list forward(AutogradContext* ctx, torch::Tensor xg0, torch::Tensor xg1, torch::Tensor h0,
                               torch::Tensor c0, torch::Tensor w_hh) {
    const int64_t D = w_hh.size(0), T = xg0.size(0), N = xg0.size(1), H = w_hh.size(2);
    const std::vector<torch::Tensor> xg =
        D == 2 ? std::vector<torch::Tensor>{xg0, xg1} : std::vector<torch::Tensor>{xg0};
    const auto opts = xg0.options();
    // Saved for backward, by time: gate activations, tanh(c_t), and the h and c slots.
    torch::Tensor acts = torch::empty({D, T, N, 4 * H}, opts);
    torch::Tensor tanh_cs = torch::empty({D, T, N, H}, opts);
    torch::Tensor cs = torch::empty({D, T + 1, N, H}, opts);
    torch::Tensor hs = torch::empty({D, T + 1, N, H}, opts);
    for (int64_t d = 0; d < D; ++d) {
      cs[d][prev_slot(d, time_of(0, d, T))].copy_(c0[d]);
      hs[d][prev_slot(d, time_of(0, d, T))].copy_(h0[d]);
    }
    const torch::Tensor w_t = w_hh.transpose(1, 2);  // [D, H, 4H]
    for (int64_t s = 0; s < T; ++s) {
      for (int64_t d = 0; d < D; ++d) {
        const int64_t t = time_of(s, d, T);
        torch::Tensor a = acts[d][t];  // [N, 4H]
        if (cuda_cell(a)) {
          // hy, cy and the activated gates (i, f, g, o, PyTorch's order and ours) in one kernel;
          // tanh(c) is not kept: the fused backward recomputes it from c.
          const auto [hy, cy, gates] =
              at::_thnn_fused_lstm_cell(xg[d][t], torch::mm(hs[d][prev_slot(d, t)], w_t[d]), cs[d][prev_slot(d, t)]);
          a.copy_(gates);
          cs[d][new_slot(d, t)].copy_(cy);
          hs[d][new_slot(d, t)].copy_(hy);
          continue;
        }
        torch::addmm_out(a, xg[d][t], hs[d][prev_slot(d, t)], w_t[d]);
        a.narrow(-1, 0, 2 * H).sigmoid_();  // i, f
        a.narrow(-1, 2 * H, H).tanh_();     // g
        a.narrow(-1, 3 * H, H).sigmoid_();  // o
        const torch::Tensor i = a.narrow(-1, 0, H), f = a.narrow(-1, H, H), g = a.narrow(-1, 2 * H, H),
                            o = a.narrow(-1, 3 * H, H);
        torch::Tensor c = cs[d][new_slot(d, t)], tanh_c = tanh_cs[d][t], h = hs[d][new_slot(d, t)];
        torch::mul_out(c, f, cs[d][prev_slot(d, t)]);
        c.addcmul_(i, g);
        torch::tanh_out(tanh_c, c);
        torch::mul_out(h, o, tanh_c);
      }
    }
    ctx->save_for_backward({acts, cs, hs, tanh_cs, w_hh});
    variable_list out;
    std::vector<torch::Tensor> h_last, c_last;
    for (int64_t d = 0; d < D; ++d) {
      out.push_back(hs[d].narrow(0, d == 0 ? 1 : 0, T).clone());
      const int64_t last = new_slot(d, time_of(T - 1, d, T));
      h_last.push_back(hs[d][last]);
      c_last.push_back(cs[d][last]);
    }
    out.push_back(torch::stack(h_last));
    out.push_back(torch::stack(c_last));
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &acts = saved[0], &cs = saved[1], &hs = saved[2], &tanh_cs = saved[3], &w_hh = saved[4];
    const int64_t D = acts.size(0), T = acts.size(1), N = acts.size(2), H = w_hh.size(2);
    const auto opts = acts.options();
    const auto grad_or_zero = [&](const torch::Tensor& g, std::vector<int64_t> shape) {
      return g.defined() ? g : torch::zeros(shape, opts);
    };
    torch::Tensor dgates = torch::empty({D, T, N, 4 * H}, opts);  // pre-activation gate gradients, by time
    torch::Tensor dh_final = grad_or_zero(grads[D], {D, N, H}), dc_final = grad_or_zero(grads[D + 1], {D, N, H});
    torch::Tensor dh0 = torch::empty({D, N, H}, opts), dc0 = torch::empty({D, N, H}, opts);
    for (int64_t d = 0; d < D; ++d) {
      const torch::Tensor dy = grad_or_zero(grads[d], {T, N, H});
      torch::Tensor dh = dh_final[d].clone(), dc = dc_final[d].clone();
      for (int64_t s = T - 1; s >= 0; --s) {
        const int64_t t = time_of(s, d, T);
        dh.add_(dy[t]);
        const torch::Tensor a = acts[d][t], c_prev = cs[d][prev_slot(d, t)], tanh_c = tanh_cs[d][t];
        torch::Tensor dg = dgates[d][t];
        if (cuda_cell(a)) {
          // Gate gradients and the gradient reaching c_{t-1} from (dh, dc, c_{t-1}, c_t, gates).
          const auto [gate_grads, dc_prev, unused_bias] =
              at::_thnn_fused_lstm_cell_backward_impl(dh, dc, c_prev, cs[d][new_slot(d, t)], a, /*has_bias=*/false);
          dg.copy_(gate_grads);
          dc = dc_prev;
        } else if (fusable(a)) {
          cell_backward_cpu(a, c_prev, tanh_c, dh, dc, dg);
        } else {
          const torch::Tensor i = a.narrow(-1, 0, H), f = a.narrow(-1, H, H), g = a.narrow(-1, 2 * H, H),
                              o = a.narrow(-1, 3 * H, H);
          dc.addcmul_(dh * o, 1 - tanh_c * tanh_c);  // through h = o * tanh(c)
          torch::Tensor di = dg.narrow(-1, 0, H), df = dg.narrow(-1, H, H), dgg = dg.narrow(-1, 2 * H, H),
                        do_ = dg.narrow(-1, 3 * H, H);
          torch::mul_out(di, dc, g).mul_(i * (1 - i));
          torch::mul_out(df, dc, c_prev).mul_(f * (1 - f));
          torch::mul_out(dgg, dc, i).mul_(1 - g * g);
          torch::mul_out(do_, dh, tanh_c).mul_(o * (1 - o));
          dc.mul_(f);  // to c_{t-1}
        }
        dh = torch::mm(dg, w_hh[d]);  // to h_{t-1}: [N, 4H] x [4H, H]
      }
      dh0[d].copy_(dh);
      dc0[d].copy_(dc);
    }
    variable_list result(5);
    result[0] = dgates[0];
    if (D == 2) result[1] = dgates[1];
    result[2] = dh0;
    result[3] = dc0;
    // dW_hh[d] = sum_t dgates_t[d]^T h_prev(t)[d]: one product over all steps per direction.
    torch::Tensor dw = torch::empty_like(w_hh);
    for (int64_t d = 0; d < D; ++d) {
      const torch::Tensor g = dgates[d].view({T * N, 4 * H});
      const torch::Tensor h_prev = hs[d].narrow(0, d == 0 ? 0 : 1, T).reshape({T * N, H});
      torch::Tensor dw_d = dw[d];
      torch::mm_out(dw_d, g.t(), h_prev);
    }
    result[4] = dw;
    return result;
  }
};

}  // namespace

variable_list lstm_layer(const std::vector<torch::Tensor>& xg, const torch::Tensor& h0, const torch::Tensor& c0,
                         const torch::Tensor& w_hh) {
  // The layer computes in one dtype: bfloat16 under bf16 autocast (which does not reach the
  // out= products inside), else its inputs' own. The casts are differentiable, so float32
  // parameters get float32 gradients.
  const torch::ScalarType dtype = autocast_dtype_or(w_hh.device(), w_hh.scalar_type());
  const auto as = [dtype](const torch::Tensor& t) { return t.scalar_type() == dtype ? t : t.to(dtype); };
  // Function inputs must be defined tensors: a unidirectional layer passes xg[0] twice and gets
  // no gradient for the second.
  const torch::Tensor x0 = as(xg[0]);
  return LstmLayerFunction::apply(x0, xg.size() == 2 ? as(xg[1]) : x0, as(h0), as(c0), as(w_hh));
}

variable_list lstm_layer_reference(const std::vector<torch::Tensor>& xg, const torch::Tensor& h0,
                                   const torch::Tensor& c0, const torch::Tensor& w_hh) {
  const int64_t D = static_cast<int64_t>(xg.size()), T = xg[0].size(0);
  torch::Tensor h = h0, c = c0;
  std::vector<std::vector<torch::Tensor>> ys(D, std::vector<torch::Tensor>(T));
  for (int64_t s = 0; s < T; ++s) {
    std::vector<torch::Tensor> hs, cs;
    for (int64_t d = 0; d < D; ++d) {
      const auto ifgo = torch::addmm(xg[d][time_of(s, d, T)], h[d], w_hh[d].t()).chunk(4, -1);
      const torch::Tensor cn = torch::sigmoid(ifgo[1]) * c[d] + torch::sigmoid(ifgo[0]) * torch::tanh(ifgo[2]);
      const torch::Tensor hn = torch::sigmoid(ifgo[3]) * torch::tanh(cn);
      ys[d][time_of(s, d, T)] = hn;
      hs.push_back(hn);
      cs.push_back(cn);
    }
    h = torch::stack(hs);
    c = torch::stack(cs);
  }
  variable_list out;
  for (int64_t d = 0; d < D; ++d) out.push_back(torch::stack(ys[d]));
  out.push_back(h);
  out.push_back(c);
  return out;
}

}  // namespace mvae::model
