// The loss figures of training as one record: filled by a step, summed over a progress window,
// averaged over ranks by one all-reduce, and written by the MetricsSink, without listing the
// fields at each stage.
#pragma once

#include <array>
#include <cstddef>

namespace mvae::train {

struct LossFigures {
  double loss = 0, r_loss = 0, kl = 0, accuracy = 0;            // nats per sequence (KL too); accuracy in [0, 1]
  double hits_loss = 0, velocities_loss = 0, offsets_loss = 0;  // groove models: r_loss's parts (0 otherwise)

  static constexpr size_t kCount = 7;
  // The figures in the order above: what travels in one tensor.
  std::array<double, kCount> values() const {
    return {loss, r_loss, kl, accuracy, hits_loss, velocities_loss, offsets_loss};
  }
  static LossFigures from_values(const double* v) { return {v[0], v[1], v[2], v[3], v[4], v[5], v[6]}; }

  LossFigures& operator+=(const LossFigures& other) {
    const auto theirs = other.values();
    auto mine = values();
    for (size_t i = 0; i < kCount; ++i) mine[i] += theirs[i];
    return *this = from_values(mine.data());
  }
  LossFigures scaled(double factor) const {
    auto mine = values();
    for (double& v : mine) v *= factor;
    return from_values(mine.data());
  }
};

}  // namespace mvae::train
