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

namespace mvae::evaluate {

void MetricTotals::add(const MetricTotals& o) {
  r_loss += o.r_loss;
  kl += o.kl;
  tf_correct += o.tf_correct;
  free_correct += o.free_correct;
  steps += o.steps;
  windows += o.windows;
}

MetricTotals evaluate_windows(model::MusicVAE& model, const std::vector<int64_t>& indices, const ReadWindows& read,
                              const EvaluationOptions& options, const torch::Device& device, const EachWindow& each) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  MetricTotals totals;
  for (size_t begin = 0; begin < indices.size(); begin += static_cast<size_t>(options.batch)) {
    const std::vector<int64_t> batch(indices.begin() + begin,
                                     indices.begin() + std::min(indices.size(), begin + static_cast<size_t>(options.batch)));
    const torch::Tensor x = read(batch).to(device);
    const ExampleMetrics m = reconstruction_metrics(model, x, options.temperature, options.argmax);
    // [4, n] on the host: r_loss, kl, tf_correct, free_correct per window.
    const torch::Tensor host = torch::stack({m.r_loss.to(torch::kDouble), m.kl.to(torch::kDouble),
                                             m.tf_correct.to(torch::kDouble), m.free_correct.to(torch::kDouble)})
                                   .cpu();
    const auto v = host.accessor<double, 2>();
    for (size_t k = 0; k < batch.size(); ++k) {
      const MetricTotals window{v[0][k], v[1][k], v[2][k], v[3][k], static_cast<double>(x.size(1)), 1.0};
      totals.add(window);
      if (each) each(batch[k], window);
    }
  }
  if (was_training) model->train();
  return totals;
}

}  // namespace mvae::evaluate
