#include "train/sampler.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "common/error.h"
#include "common/random.h"

namespace mvae::train {

DistributedSampler::DistributedSampler(int64_t num_windows, int64_t batch_per_rank, int rank, int world_size,
                                       uint64_t seed)
    : num_windows_(num_windows),
      batch_per_rank_(batch_per_rank),
      global_batch_(batch_per_rank * world_size),
      rank_(rank),
      seed_(seed) {
  if (num_windows_ < 1)
    throw UsageError("the shards hold no training windows: preprocess gave none (see its skipped.json)");
  if (global_batch_ > num_windows_) {
    const int64_t most = num_windows_ / world_size;
    throw UsageError("global batch " + std::to_string(global_batch_) + " ({batch} x ranks) exceeds the " +
                     std::to_string(num_windows_) + " training windows: " +
                     (most >= 1
                          ? "pass a {batch} of at most " + std::to_string(most) + " per rank"
                          : "run at most " + std::to_string(num_windows_) + " ranks (each needs a window per step)"));
  }
}

int64_t DistributedSampler::epoch_of(int64_t consumed) const { return consumed / (steps_per_epoch() * global_batch_); }

const std::vector<int64_t>& DistributedSampler::permutation(int64_t epoch) {
  if (epoch != cached_epoch_) {
    cached_.resize(static_cast<size_t>(num_windows_));
    std::iota(cached_.begin(), cached_.end(), 0);
    portable_shuffle(cached_, seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch));
    cached_epoch_ = epoch;
  }
  return cached_;
}

std::vector<int64_t> DistributedSampler::batch(int64_t consumed) {
  const int64_t per_epoch = steps_per_epoch() * global_batch_;
  const int64_t epoch = consumed / per_epoch;
  // Align to a global-batch boundary (a resume with another world size may land mid-batch).
  const int64_t position = (consumed % per_epoch) / global_batch_ * global_batch_;
  const std::vector<int64_t>& perm = permutation(epoch);
  const int64_t begin = position + rank_ * batch_per_rank_;
  return std::vector<int64_t>(perm.begin() + begin, perm.begin() + begin + batch_per_rank_);
}

}  // namespace mvae::train
