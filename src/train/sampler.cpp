#include "train/sampler.h"

#include <algorithm>
#include <map>
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
      epoch_windows_(num_windows),
      rank_(rank),
      seed_(seed) {
  check_batch_fits(world_size);
}

DistributedSampler::DistributedSampler(const std::vector<int32_t>& file_of_window, int windows_per_file,
                                       int64_t batch_per_rank, int rank, int world_size, uint64_t seed)
    : num_windows_(static_cast<int64_t>(file_of_window.size())),
      batch_per_rank_(batch_per_rank),
      global_batch_(batch_per_rank * world_size),
      epoch_windows_(0),
      rank_(rank),
      seed_(seed) {
  if (windows_per_file < 1)
    throw UsageError("--windows-per-file must be >= 1 (or 0: every window), got " + std::to_string(windows_per_file));
  windows_per_file_ = windows_per_file;
  std::map<int32_t, std::vector<int64_t>> groups;  // ordered by file id: the same on every rank
  for (size_t i = 0; i < file_of_window.size(); ++i) groups[file_of_window[i]].push_back(static_cast<int64_t>(i));
  for (auto& [file, windows] : groups) {
    epoch_windows_ += std::min<int64_t>(static_cast<int64_t>(windows.size()), windows_per_file);
    by_file_.push_back(std::move(windows));
  }
  check_batch_fits(world_size);
}

void DistributedSampler::check_batch_fits(int world_size) const {
  if (num_windows_ < 1)
    throw UsageError("the shards hold no training windows: preprocess gave none (see its skipped.json)");
  if (global_batch_ > epoch_windows_) {
    const int64_t most = epoch_windows_ / world_size;
    throw UsageError(
        "global batch " + std::to_string(global_batch_) + " ({batch} x ranks) exceeds the " +
        std::to_string(epoch_windows_) + " training windows of an epoch" +
        (windows_per_file_ > 0 ? " (" + std::to_string(windows_per_file_) + " per file at most)" : "") + ": " +
        (most >= 1 ? "pass a {batch} of at most " + std::to_string(most) + " per rank"
                   : "run at most " + std::to_string(epoch_windows_) + " ranks (each needs a window per step)"));
  }
}

int64_t DistributedSampler::epoch_of(int64_t consumed) const { return consumed / (steps_per_epoch() * global_batch_); }

const std::vector<int64_t>& DistributedSampler::permutation(int64_t epoch) {
  if (epoch != cached_epoch_) {
    const uint64_t epoch_seed = seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch);
    if (windows_per_file_ == 0) {
      cached_.resize(static_cast<size_t>(num_windows_));
      std::iota(cached_.begin(), cached_.end(), 0);
    } else {
      cached_.clear();
      for (size_t f = 0; f < by_file_.size(); ++f) {
        std::vector<int64_t> windows = by_file_[f];
        if (static_cast<int64_t>(windows.size()) > windows_per_file_) {
          portable_shuffle(windows, fnv1a64("windows-per-file") ^ (epoch_seed + f * 0xBF58476D1CE4E5B9ULL));
          windows.resize(static_cast<size_t>(windows_per_file_));
        }
        cached_.insert(cached_.end(), windows.begin(), windows.end());
      }
    }
    portable_shuffle(cached_, epoch_seed);
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
