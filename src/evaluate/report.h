// The evaluate program's report on a shard split: the figures as JSON (what docs/results.md and the
// tools read) and the same as the table printed on the terminal. Kept out of the program's main so
// the report can be tested in one process.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "data/shards.h"
#include "evaluate/metrics.h"
#include "model/musicvae.h"

namespace mvae::evaluate {

struct SplitReportOptions {
  std::string split = "test";
  int64_t max_windows = 0;  // the split's first N windows (0 = all)
  EvaluationOptions eval;   // batch, temperature, argmax (the structure figures are always computed)
};

// The training split's mean velocity (MIDI units) and offset per drum class, over its hits: the
// second baseline a groove model must beat.
GrooveBaselines training_means(data::ShardSet& shards);

// Evaluates `model` on a split of `shards`: {"split", "free_running", "overall" (with the accuracy
// of each bar), "per_style" (by the style's family, "rock" for "rock/funk"), "structure" (data,
// reconstructions, prior samples), "groove" (groove models)}. Seeded by the caller's
// torch::manual_seed. Throws UsageError naming {split} when the shards lack it or it is empty.
nlohmann::ordered_json evaluate_split(model::MusicVAE& model, data::ShardSet& shards,
                                      const SplitReportOptions& options);

// The report (of evaluate_split, with "checkpoint" and "data" when known) as the terminal table.
std::string report_table(const nlohmann::ordered_json& report);

}  // namespace mvae::evaluate
