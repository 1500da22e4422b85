// Reconstruction metrics (the paper's Table 1 quantities) and the one loop over windows that the
// trainer's validation and the evaluate program share.
#pragma once

#include <torch/torch.h>

#include <array>
#include <functional>
#include <vector>

#include "evaluate/structure.h"
#include "model/musicvae.h"

namespace mvae::evaluate {

// Two baselines for a groove model's velocities and timing, at the drummer's hits: a drum machine
// (every hit on the grid at velocity 80) and the training set's mean velocity and offset per class.
struct GrooveBaselines {
  std::array<double, 9> mean_velocity{};  // MIDI units, per class, over the training split's hits
  std::array<double, 9> mean_offset{};    // GrooVAE offset units (2 * (grid - actual) / step), per class
};

// What a drummer would check of a groove model, per window (sums; means are taken at the end):
// hits of free-running decoding against the drummer's, and velocities and timing at the
// drummer's hits when the hits are given (what humanizing does).
struct GrooveTotals {
  double true_positives = 0, false_positives = 0, false_negatives = 0;  // hits, free-running decoding
  double hits = 0;                                                      // the drummer's hits
  double velocity_error = 0, timing_error_ms = 0;                       // model: sums of |model - drummer|
  double grid_velocity_error = 0, grid_timing_error_ms = 0;             // baseline: velocity 80, on the grid
  double mean_velocity_error = 0, mean_timing_error_ms = 0;             // baseline: the training set's class means
  // Per class: hit count, and sums and squared sums of timing (ms, positive = late) and velocity.
  std::array<double, 9> class_hits{}, drummer_timing_ms{}, drummer_timing_sq{}, model_timing_ms{}, model_timing_sq{};
  std::array<double, 9> drummer_velocity{}, model_velocity{};
  void add(const GrooveTotals& other);
  double precision() const { return true_positives / std::max(1.0, true_positives + false_positives); }
  double recall() const { return true_positives / std::max(1.0, true_positives + false_negatives); }
  double f1() const {
    const double p = precision(), r = recall();
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
  }
};

struct ExampleMetrics {
  torch::Tensor r_loss;                                  // [B] reconstruction loss summed over steps, z = mu (nats)
  torch::Tensor kl;                                      // [B] KL(q || prior) (nats)
  torch::Tensor tf_correct;                              // [B] teacher-forced steps whose argmax equals the target
  torch::Tensor free_correct;                            // [B] free-running decoded steps equal to the target
  torch::Tensor tf_correct_by_bar, free_correct_by_bar;  // [B, bars]: the same, per bar of the window
  torch::Tensor mu;  // [B, Z] the posterior means decoded from (groove_metrics decodes from them too)
  torch::Tensor target_tokens, free_tokens;  // [B, T] the windows' drum tokens, and the free-running decoding's
};

// x: sequences [B, T] (tokens) or [B, T, 27] (groove) on the model's device. Free-running
// decoding from z = mu samples at `temperature` (the paper: 1.0), or takes the argmax.
ExampleMetrics reconstruction_metrics(model::MusicVAE& model, const torch::Tensor& x, double temperature, bool argmax);

// Groove models: GrooveTotals of each window of x [B, T, 27], decoded from its posterior means mu
// [B, Z], whose tempi are `qpm` [B] (for milliseconds), against `baselines`.
std::vector<GrooveTotals> groove_metrics(model::MusicVAE& model, const torch::Tensor& x, const torch::Tensor& mu,
                                         const std::vector<double>& qpm, const GrooveBaselines& baselines,
                                         double temperature, bool argmax);

// Sums of the metrics over windows; the means are taken at the end.
struct MetricTotals {
  double r_loss = 0, kl = 0;                // nats, summed over windows
  double tf_correct = 0, free_correct = 0;  // steps, summed over windows
  double steps = 0, windows = 0;
  // Per bar of the window: where along the sequence free-running decoding goes wrong (a flat
  // decoder's errors compound over a 16-bar window; a hierarchical one restarts every bar).
  std::vector<double> tf_correct_by_bar, free_correct_by_bar;  // steps, summed over windows
  GrooveTotals groove;                                         // groove models, when evaluated with baselines
  // How bars repeat earlier bars, in the windows and in their free-running reconstructions (with
  // EvaluationOptions::structure, over the whole evaluation only: per-window totals leave them empty).
  StructureTotals data_structure, reconstruction_structure;
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
  bool structure = false;    // also MetricTotals' structure figures (evaluate reports them; validation does not)
  // Groove models: also GrooveTotals against these baselines, with each window's tempo
  // (quarters per minute) from `qpm_of(index)` (120 when unset).
  const GrooveBaselines* groove_baselines = nullptr;
  std::function<double(int64_t index)> qpm_of;
};

// Windows of the given indices as the model takes them (any device; they are moved to the model's).
using ReadWindows = std::function<torch::Tensor(const std::vector<int64_t>& indices)>;
// Called with each window's index and its own metrics.
using EachWindow = std::function<void(int64_t index, const MetricTotals& window)>;

// Evaluates `indices` in batches with the model in eval mode (its mode is restored after) and
// returns the totals; `each` (optional) sees every window.
MetricTotals evaluate_windows(model::MusicVAE& model, const std::vector<int64_t>& indices, const ReadWindows& read,
                              const EvaluationOptions& options, const torch::Device& device,
                              const EachWindow& each = {});

}  // namespace mvae::evaluate
