#include "evaluate/structure.h"

#include <algorithm>
#include <cmath>

namespace mvae::evaluate {

void StructureTotals::add(const StructureTotals& o) {
  const auto add_into = [](std::vector<double>& into, const std::vector<double>& from) {
    if (into.size() < from.size()) into.resize(from.size(), 0.0);
    for (size_t i = 0; i < from.size(); ++i) into[i] += from[i];
  };
  sequences += o.sequences;
  add_into(previous_by_bar, o.previous_by_bar);
  add_into(best_earlier_by_bar, o.best_earlier_by_bar);
  add_into(exact_by_bar, o.exact_by_bar);
}

double StructureTotals::mean_over_bars(const std::vector<double>& by_bar) const {
  if (empty()) return 0.0;
  double sum = 0;
  for (size_t u = 1; u < by_bar.size(); ++u) sum += by_bar[u];
  return sum / (sequences * static_cast<double>(by_bar.size() - 1));
}

double StructureTotals::distance_to(const StructureTotals& reference) const {
  if (empty() || reference.empty()) return 0.0;
  const size_t bars = std::min(best_earlier_by_bar.size(), reference.best_earlier_by_bar.size());
  double sum = 0;
  for (size_t u = 1; u < bars; ++u) sum += std::abs(best_earlier_of_bar(u) - reference.best_earlier_of_bar(u));
  return sum / static_cast<double>(bars - 1);
}

StructureTotals bar_structure(const torch::Tensor& tokens, int64_t bars) {
  torch::NoGradGuard no_grad;
  const int64_t B = tokens.size(0), T = tokens.size(1), S = T / bars;
  constexpr int64_t kClasses = data::kNumDrumClasses;  // a token's 9 bits, one per drum class
  const torch::Tensor classes = torch::arange(kClasses, tokens.options().dtype(torch::kLong));
  const torch::Tensor hits = tokens.to(torch::kLong)
                                 .unsqueeze(-1)
                                 .bitwise_right_shift(classes)
                                 .bitwise_and(1)  // [B, T, 9]
                                 .to(torch::kFloat)
                                 .reshape({B, bars, S * kClasses});   // [B, U, S*9]
  const torch::Tensor both = torch::bmm(hits, hits.transpose(1, 2));  // [B, U, U]
  const torch::Tensor count = hits.sum(-1);                           // [B, U]
  const torch::Tensor either = count.unsqueeze(2) + count.unsqueeze(1) - both;
  const torch::Tensor jaccard =
      torch::where(either > 0, both / either.clamp_min(1), torch::ones_like(both));  // [B, U, U]
  // Only bars before u count: the rest of each row is masked to -1 before the max.
  const torch::Tensor earlier = torch::ones({bars, bars}, jaccard.options()).tril(-1).to(torch::kBool);
  const torch::Tensor best =
      torch::where(earlier, jaccard, torch::full_like(jaccard, -1)).amax(2).clamp_min(0);  // [B, U]
  const torch::Tensor previous =
      torch::cat({torch::zeros({B, 1}, jaccard.options()), jaccard.diagonal(-1, 1, 2)}, 1);  // [B, U]
  const torch::Tensor sums =
      torch::stack({previous.sum(0), best.sum(0), (best == 1).to(torch::kFloat).sum(0)}).to(torch::kDouble).cpu();
  const auto s = sums.accessor<double, 2>();
  StructureTotals t;
  t.sequences = static_cast<double>(B);
  for (int64_t u = 0; u < bars; ++u) {
    t.previous_by_bar.push_back(u == 0 ? 0.0 : s[0][u]);
    t.best_earlier_by_bar.push_back(u == 0 ? 0.0 : s[1][u]);
    t.exact_by_bar.push_back(u == 0 ? 0.0 : s[2][u]);
  }
  return t;
}

StructureTotals prior_sample_structure(model::MusicVAE& model, int64_t n, int64_t batch, double temperature,
                                       bool argmax, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  StructureTotals totals;
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t b = std::min(batch, n - begin);
    const torch::Tensor z = torch::randn({b, model->config().z}).to(device);
    totals.add(bar_structure(model->tokens_of(model->sample(z, temperature, argmax)), model->config().bars));
  }
  if (was_training) model->train();
  return totals;
}

}  // namespace mvae::evaluate
