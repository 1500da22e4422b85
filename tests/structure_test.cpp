// The structure measure of evaluate (docs/results.md): bars compared by the Jaccard similarity of
// their hits, on hand-built sequences whose answers are known.
#include <gtest/gtest.h>

#include "evaluate/structure.h"

using mvae::evaluate::bar_structure;
using mvae::evaluate::StructureTotals;

namespace {

// One bar of 16 steps: `bits` (a drum token) at the given steps, silence elsewhere.
std::vector<int64_t> bar(std::initializer_list<int> steps, int64_t bits) {
  std::vector<int64_t> b(16, 0);
  for (int s : steps) b[static_cast<size_t>(s)] = bits;
  return b;
}

torch::Tensor sequence(const std::vector<std::vector<int64_t>>& bars) {
  std::vector<int64_t> all;
  for (const auto& b : bars) all.insert(all.end(), b.begin(), b.end());
  return torch::tensor(all, torch::kLong).unsqueeze(0);  // [1, T]
}

}  // namespace

TEST(Structure, RepeatsAndVariationsScoreAsTheirHitsOverlap) {
  const auto kick = bar({0, 4, 8, 12}, 1), snare = bar({2, 6, 10, 14}, 2);
  // A A B A: bar 2 repeats bar 1; bar 3 shares no hit; bar 4 is bar 1 again, not its predecessor.
  const StructureTotals aaba = bar_structure(sequence({kick, kick, snare, kick}), 4);
  EXPECT_DOUBLE_EQ(aaba.previous(), (1.0 + 0.0 + 0.0) / 3);
  EXPECT_DOUBLE_EQ(aaba.best_earlier(), (1.0 + 0.0 + 1.0) / 3);
  EXPECT_DOUBLE_EQ(aaba.exact(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(aaba.best_earlier_of_bar(3), 1.0);
  // A variation: three of the four kicks kept, the fourth replaced by a snare: 3 shared of 5.
  const auto varied = bar({0, 4, 8}, 1);
  auto with_snare = varied;
  with_snare[12] = 2;
  const StructureTotals v = bar_structure(sequence({kick, with_snare}), 2);
  EXPECT_NEAR(v.previous(), 3.0 / 5, 1e-6);
  EXPECT_EQ(v.exact(), 0.0);
  // Two drums on one step count as two hits: kick+snare against kick shares one of two.
  const StructureTotals both = bar_structure(sequence({bar({0}, 3), bar({0}, 1)}), 2);
  EXPECT_NEAR(both.previous(), 0.5, 1e-6);
  // Silence repeats silence exactly.
  const StructureTotals silent = bar_structure(sequence({bar({}, 0), bar({}, 0)}), 2);
  EXPECT_DOUBLE_EQ(silent.exact(), 1.0);
}

TEST(Structure, TotalsAddOverBatchesAndMeasureTheDistanceToTheData) {
  const auto kick = bar({0, 4, 8, 12}, 1), snare = bar({2, 6, 10, 14}, 2);
  const torch::Tensor repeating = sequence({kick, kick, kick}), changing = sequence({kick, snare, kick});
  StructureTotals data = bar_structure(repeating, 3);
  data.add(bar_structure(changing, 3));
  const StructureTotals batch = bar_structure(torch::cat({repeating, changing}), 3);
  EXPECT_DOUBLE_EQ(data.sequences, 2);
  EXPECT_DOUBLE_EQ(data.best_earlier(), batch.best_earlier());
  EXPECT_DOUBLE_EQ(data.best_earlier_of_bar(1), 0.5);  // bar 2: 1 (repeat) and 0 (snare)
  EXPECT_DOUBLE_EQ(data.best_earlier_of_bar(2), 1.0);  // bar 3: kick again in both
  EXPECT_DOUBLE_EQ(data.distance_to(data), 0.0);
  const StructureTotals only_changing = bar_structure(changing, 3);
  EXPECT_DOUBLE_EQ(only_changing.distance_to(data), (0.5 + 0.0) / 2);
  EXPECT_TRUE(bar_structure(sequence({kick}), 1).empty()) << "one bar has nothing before it";
}
