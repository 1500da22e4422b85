// A measure of long-term structure (docs/results.md, "A measure of structure"): how much each bar
// of a drum sequence repeats the bars before it. Two bars are compared by their hits, as the
// Jaccard similarity of their (step, drum class) hit sets: |A and B| / |A or B|, 1 when both are
// silent. The same figures on the data's windows are the reference a model's samples and
// reconstructions should come close to.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/musicvae.h"

namespace mvae::evaluate {

// Sums over sequences; the means are taken at the end. Index u is bar u + 1; bar 1 has nothing
// before it and stays 0.
struct StructureTotals {
  double sequences = 0;
  std::vector<double> previous_by_bar;      // J(bar u, bar u - 1)
  std::vector<double> best_earlier_by_bar;  // max over earlier bars v of J(bar u, bar v)
  std::vector<double> exact_by_bar;         // 1 when bar u's hits equal an earlier bar's
  void add(const StructureTotals& other);
  bool empty() const { return sequences == 0 || previous_by_bar.size() < 2; }
  // Means over sequences and bars 2..U.
  double previous() const { return mean_over_bars(previous_by_bar); }
  double best_earlier() const { return mean_over_bars(best_earlier_by_bar); }
  double exact() const { return mean_over_bars(exact_by_bar); }
  double best_earlier_of_bar(size_t u) const { return best_earlier_by_bar[u] / sequences; }
  // Mean absolute difference of the best-earlier profile (bars 2..U) from `reference`'s.
  double distance_to(const StructureTotals& reference) const;

 private:
  double mean_over_bars(const std::vector<double>& by_bar) const;
};

// tokens [B, T]: drum tokens (bit c = class c hit) of `bars` bars of T / bars steps each.
StructureTotals bar_structure(const torch::Tensor& tokens, int64_t bars);

// `n` sequences sampled from the prior (z ~ N(0, I)) at `temperature` (or by argmax), in batches
// of `batch`, and their structure. Seeded by the caller's torch::manual_seed.
StructureTotals prior_sample_structure(model::MusicVAE& model, int64_t n, int64_t batch, double temperature,
                                       bool argmax, const torch::Device& device);

}  // namespace mvae::evaluate
