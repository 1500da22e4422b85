#include "evaluate/metrics.h"

namespace mvae::evaluate {

ExampleMetrics reconstruction_metrics(model::MusicVAE& model, const torch::Tensor& x, double temperature, bool argmax) {
  torch::NoGradGuard no_grad;
  const int64_t B = x.size(0), T = x.size(1);
  const model::Posterior q = model->encode(x);
  const torch::Tensor logits = model->decode_teacher_forced(q.mu, x);  // [B, T, V]
  ExampleMetrics m;
  m.r_loss = torch::nn::functional::cross_entropy(logits.reshape({B * T, -1}), x.reshape({-1}),
                                                  torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                 .view({B, T})
                 .sum(1);
  m.kl = model::MusicVAEImpl::kl_divergence(q);
  m.tf_correct = (logits.argmax(-1) == x).sum(1);
  m.free_correct = (model->sample(q.mu, temperature, argmax) == x).sum(1);
  return m;
}

}  // namespace mvae::evaluate
