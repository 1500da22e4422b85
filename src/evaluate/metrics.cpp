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
  const int64_t bars = model->config().bars;
  const torch::Tensor tf_equal = logits.argmax(-1) == x;                             // [B, T]
  const torch::Tensor free_equal = model->sample(q.mu, temperature, argmax) == x;  // [B, T]
  m.tf_correct = tf_equal.sum(1);
  m.free_correct = free_equal.sum(1);
  m.tf_correct_by_bar = tf_equal.view({B, bars, T / bars}).sum(2);
  m.free_correct_by_bar = free_equal.view({B, bars, T / bars}).sum(2);
  return m;
}

}  // namespace mvae::evaluate

namespace mvae::evaluate {

namespace {

void add_elementwise(std::vector<double>& into, const std::vector<double>& from) {
  if (into.size() < from.size()) into.resize(from.size(), 0.0);
  for (size_t i = 0; i < from.size(); ++i) into[i] += from[i];
}

}  // namespace

void MetricTotals::add(const MetricTotals& o) {
  add_elementwise(tf_correct_by_bar, o.tf_correct_by_bar);
  add_elementwise(free_correct_by_bar, o.free_correct_by_bar);
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
    // [2, n, bars]: teacher-forced and free-running correct steps per bar.
    const torch::Tensor by_bar = torch::stack({m.tf_correct_by_bar, m.free_correct_by_bar}).to(torch::kDouble).cpu();
    const auto b = by_bar.accessor<double, 3>();
    for (size_t k = 0; k < batch.size(); ++k) {
      MetricTotals window{v[0][k], v[1][k], v[2][k], v[3][k], static_cast<double>(x.size(1)), 1.0, {}, {}};
      for (int64_t u = 0; u < by_bar.size(2); ++u) {
        window.tf_correct_by_bar.push_back(b[0][k][u]);
        window.free_correct_by_bar.push_back(b[1][k][u]);
      }
      totals.add(window);
      if (each) each(batch[k], window);
    }
  }
  if (was_training) model->train();
  return totals;
}

}  // namespace mvae::evaluate
