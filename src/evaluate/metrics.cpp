#include "evaluate/metrics.h"

#include <algorithm>
#include <cmath>

namespace mvae::evaluate {

ExampleMetrics reconstruction_metrics(model::MusicVAE& model, const torch::Tensor& x, double temperature, bool argmax) {
  torch::NoGradGuard no_grad;
  const int64_t B = x.size(0), T = x.size(1);
  const model::Posterior q = model->encode(model->encoder_input(x));
  const torch::Tensor logits = model->decode_teacher_forced(q.mu, x);  // [B, T, V or 27]
  ExampleMetrics m;
  m.r_loss = model->reconstruction_loss(logits, x).total;
  m.kl = model::MusicVAEImpl::kl_divergence(q);
  m.mu = q.mu;
  const int64_t bars = model->config().bars;
  const torch::Tensor target = model->tokens_of(x);                                              // [B, T]
  const torch::Tensor tf_equal = model->predicted_tokens(logits) == target;                      // [B, T]
  const torch::Tensor free_tokens = model->tokens_of(model->sample(q.mu, temperature, argmax));  // [B, T]
  const torch::Tensor free_equal = free_tokens == target;                                        // [B, T]
  m.target_tokens = target;
  m.free_tokens = free_tokens;
  m.tf_correct = tf_equal.sum(1);
  m.free_correct = free_equal.sum(1);
  m.tf_correct_by_bar = tf_equal.view({B, bars, T / bars}).sum(2);
  m.free_correct_by_bar = free_equal.view({B, bars, T / bars}).sum(2);
  return m;
}

std::vector<GrooveTotals> groove_metrics(model::MusicVAE& model, const torch::Tensor& x, const torch::Tensor& mu,
                                         const std::vector<double>& qpm, const GrooveBaselines& baselines,
                                         double temperature, bool argmax) {
  torch::NoGradGuard no_grad;
  constexpr int64_t C = data::kNumDrumClasses;
  const int64_t B = x.size(0), T = x.size(1);
  const torch::Tensor hits = x.narrow(-1, 0, C);
  const torch::Tensor free_hits = model->sample(mu, temperature, argmax).narrow(-1, 0, C);  // the model's own hits
  const torch::Tensor given = model->sample(mu, temperature, argmax, hits);  // hits given: velocities, offsets
  // [B, T, 9] each, on the host: drummer and model velocity (MIDI units) and offset (GrooVAE units).
  const auto host = [](const torch::Tensor& t) { return t.to(torch::kCPU, torch::kDouble).contiguous(); };
  const torch::Tensor h = host(hits), fh = host(free_hits);
  const torch::Tensor v = host(x.narrow(-1, C, C) * 127), mv = host(given.narrow(-1, C, C) * 127);
  const torch::Tensor o = host(x.narrow(-1, 2 * C, C)), mo = host(given.narrow(-1, 2 * C, C));
  const auto H = h.accessor<double, 3>(), FH = fh.accessor<double, 3>(), V = v.accessor<double, 3>(),
             MV = mv.accessor<double, 3>();
  const auto O = o.accessor<double, 3>(), MO = mo.accessor<double, 3>();
  std::vector<GrooveTotals> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    GrooveTotals& g = out[static_cast<size_t>(b)];
    // An offset of 1 is half a 16th step: 60 / (qpm * 4) / 2 seconds; ms, positive = late (actual - grid).
    const double ms_per_unit = 1000.0 * 60.0 / (qpm[static_cast<size_t>(b)] * 4.0) / 2.0;
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t c = 0; c < C; ++c) {
        const bool drummer = H[b][t][c] > 0.5, model_hit = FH[b][t][c] > 0.5;
        g.true_positives += drummer && model_hit;
        g.false_positives += !drummer && model_hit;
        g.false_negatives += drummer && !model_hit;
        if (!drummer) continue;
        const double late_ms = -O[b][t][c] * ms_per_unit, model_late_ms = -MO[b][t][c] * ms_per_unit;
        g.hits += 1;
        g.velocity_error += std::abs(MV[b][t][c] - V[b][t][c]);
        g.timing_error_ms += std::abs(model_late_ms - late_ms);
        g.grid_velocity_error += std::abs(80.0 - V[b][t][c]);  // Magenta's fixed output velocity
        g.grid_timing_error_ms += std::abs(late_ms);
        g.mean_velocity_error += std::abs(baselines.mean_velocity[c] - V[b][t][c]);
        g.mean_timing_error_ms += std::abs(-baselines.mean_offset[c] * ms_per_unit - late_ms);
        g.class_hits[c] += 1;
        g.drummer_timing_ms[c] += late_ms;
        g.drummer_timing_sq[c] += late_ms * late_ms;
        g.model_timing_ms[c] += model_late_ms;
        g.model_timing_sq[c] += model_late_ms * model_late_ms;
        g.drummer_velocity[c] += V[b][t][c];
        g.model_velocity[c] += MV[b][t][c];
      }
    }
  }
  return out;
}

}  // namespace mvae::evaluate

namespace mvae::evaluate {

namespace {

void add_elementwise(std::vector<double>& into, const std::vector<double>& from) {
  if (into.size() < from.size()) into.resize(from.size(), 0.0);
  for (size_t i = 0; i < from.size(); ++i) into[i] += from[i];
}

}  // namespace

void GrooveTotals::add(const GrooveTotals& o) {
  true_positives += o.true_positives;
  false_positives += o.false_positives;
  false_negatives += o.false_negatives;
  hits += o.hits;
  velocity_error += o.velocity_error;
  timing_error_ms += o.timing_error_ms;
  grid_velocity_error += o.grid_velocity_error;
  grid_timing_error_ms += o.grid_timing_error_ms;
  mean_velocity_error += o.mean_velocity_error;
  mean_timing_error_ms += o.mean_timing_error_ms;
  for (size_t c = 0; c < class_hits.size(); ++c) {
    class_hits[c] += o.class_hits[c];
    drummer_timing_ms[c] += o.drummer_timing_ms[c];
    drummer_timing_sq[c] += o.drummer_timing_sq[c];
    model_timing_ms[c] += o.model_timing_ms[c];
    model_timing_sq[c] += o.model_timing_sq[c];
    drummer_velocity[c] += o.drummer_velocity[c];
    model_velocity[c] += o.model_velocity[c];
  }
}

void MetricTotals::add(const MetricTotals& o) {
  groove.add(o.groove);
  data_structure.add(o.data_structure);
  reconstruction_structure.add(o.reconstruction_structure);
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
    const std::vector<int64_t> batch(
        indices.begin() + begin,
        indices.begin() + std::min(indices.size(), begin + static_cast<size_t>(options.batch)));
    const torch::Tensor x = read(batch).to(device);
    const ExampleMetrics m = reconstruction_metrics(model, x, options.temperature, options.argmax);
    if (options.structure) {
      totals.data_structure.add(bar_structure(m.target_tokens, model->config().bars));
      totals.reconstruction_structure.add(bar_structure(m.free_tokens, model->config().bars));
    }
    std::vector<GrooveTotals> groove;
    if (options.groove_baselines && model->config().groove()) {
      std::vector<double> qpm;
      for (const int64_t index : batch) qpm.push_back(options.qpm_of ? options.qpm_of(index) : 120.0);
      groove = groove_metrics(model, x, m.mu, qpm, *options.groove_baselines, options.temperature, options.argmax);
    }
    // [4, n] on the host: r_loss, kl, tf_correct, free_correct per window.
    const torch::Tensor host = torch::stack({m.r_loss.to(torch::kDouble), m.kl.to(torch::kDouble),
                                             m.tf_correct.to(torch::kDouble), m.free_correct.to(torch::kDouble)})
                                   .cpu();
    const auto v = host.accessor<double, 2>();
    // [2, n, bars]: teacher-forced and free-running correct steps per bar.
    const torch::Tensor by_bar = torch::stack({m.tf_correct_by_bar, m.free_correct_by_bar}).to(torch::kDouble).cpu();
    const auto b = by_bar.accessor<double, 3>();
    for (size_t k = 0; k < batch.size(); ++k) {
      MetricTotals window{v[0][k], v[1][k], v[2][k], v[3][k], static_cast<double>(x.size(1)), 1.0, {}, {}, {}, {}, {}};
      if (!groove.empty()) window.groove = groove[k];
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
