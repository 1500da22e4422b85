// Reconstruction metrics (the paper's Table 1 quantities) and the one loop over windows that the
// trainer's validation and the evaluate program share.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "model/musicvae.h"

namespace mvae::evaluate {

struct ExampleMetrics {
  torch::Tensor r_loss;        // [B] cross-entropy summed over steps, z = mu (nats)
  torch::Tensor kl;            // [B] KL(q || prior) (nats)
  torch::Tensor tf_correct;    // [B] teacher-forced steps whose argmax equals the target
  torch::Tensor free_correct;  // [B] free-running decoded steps equal to the target
  torch::Tensor tf_correct_by_bar, free_correct_by_bar;  // [B, bars]: the same, per bar of the window
};

// x: [B, T] tokens on the model's device. Free-running decoding from z = mu samples at
// `temperature` (the paper: 1.0), or takes the argmax.
ExampleMetrics reconstruction_metrics(model::MusicVAE& model, const torch::Tensor& x, double temperature, bool argmax);

// Sums of the metrics over windows; the means are taken at the end.
struct MetricTotals {
  double r_loss = 0, kl = 0;                // nats, summed over windows
  double tf_correct = 0, free_correct = 0;  // steps, summed over windows
  double steps = 0, windows = 0;
  // Per bar of the window: where along the sequence free-running decoding goes wrong (a flat
  // decoder's errors compound over a 16-bar window; a hierarchical one restarts every bar).
  std::vector<double> tf_correct_by_bar, free_correct_by_bar;  // steps, summed over windows
  void add(const MetricTotals& other);
  // Accuracy of bar u over the windows added (steps per bar = steps / windows / bars).
  double tf_accuracy_of_bar(size_t u) const { return tf_correct_by_bar[u] / (steps / tf_correct_by_bar.size()); }
  double free_accuracy_of_bar(size_t u) const { return free_correct_by_bar[u] / (steps / free_correct_by_bar.size()); }
  double tf_accuracy() const { return tf_correct / steps; }
  double free_accuracy() const { return free_correct / steps; }
  double mean_r_loss() const { return r_loss / windows; }
  double mean_kl() const { return kl / windows; }
  double elbo() const { return -(r_loss + kl) / windows; }  // nats per window
};

struct EvaluationOptions {
  int64_t batch = 128;       // windows per forward pass
  double temperature = 1.0;  // free-running sampling temperature
  bool argmax = false;       // free-running by argmax instead
};

// Token windows [n, T] int64 of the given indices (any device; they are moved to the model's).
using ReadWindows = std::function<torch::Tensor(const std::vector<int64_t>& indices)>;
// Called with each window's index and its own metrics.
using EachWindow = std::function<void(int64_t index, const MetricTotals& window)>;

// Evaluates `indices` in batches with the model in eval mode (its mode is restored after) and
// returns the totals; `each` (optional) sees every window.
MetricTotals evaluate_windows(model::MusicVAE& model, const std::vector<int64_t>& indices, const ReadWindows& read,
                              const EvaluationOptions& options, const torch::Device& device, const EachWindow& each = {});

}  // namespace mvae::evaluate
