// Which training windows each rank reads at each step. A global permutation of the N windows
// is drawn from (seed, epoch); step s of an epoch uses positions [s*G, (s+1)*G) of it, where
// G = batch_per_rank * world_size, and rank r takes the r-th block of batch_per_rank. Every
// rank runs the same number of steps (the tail of an epoch that does not fill a global batch
// is dropped). The only state is the global count of consumed samples, so a run resumes
// exactly, and on a different number of ranks it continues from the same place in the same
// permutation.
//
// With a cap of K windows per file (train --windows-per-file, as Magenta's converters take at most K windows of a
// performance per pass), each epoch draws at most K of each file's windows, again from (seed, epoch), and shuffles
// those: an epoch is then sum over files of min(windows, K), and a long performance no longer outweighs a short one.
#pragma once

#include <cstdint>
#include <vector>

namespace mvae::train {

class DistributedSampler {
 public:
  DistributedSampler(int64_t num_windows, int64_t batch_per_rank, int rank, int world_size, uint64_t seed);
  // At most `windows_per_file` windows of each file per epoch; file_of_window[i] is window i's file (any ids).
  DistributedSampler(const std::vector<int32_t>& file_of_window, int windows_per_file, int64_t batch_per_rank, int rank,
                     int world_size, uint64_t seed);

  int64_t global_batch() const { return global_batch_; }
  int64_t windows_per_epoch() const { return epoch_windows_; }
  int64_t steps_per_epoch() const { return epoch_windows_ / global_batch_; }
  // Indices (into the split) of this rank's batch for the global batch that starts after
  // `consumed` samples.
  std::vector<int64_t> batch(int64_t consumed);
  int64_t epoch_of(int64_t consumed) const;

 private:
  void check_batch_fits(int world_size) const;
  const std::vector<int64_t>& permutation(int64_t epoch);
  int64_t num_windows_, batch_per_rank_, global_batch_;
  int64_t epoch_windows_;                      // windows per epoch: num_windows_, or the capped count
  int windows_per_file_ = 0;                   // 0: every window every epoch
  std::vector<std::vector<int64_t>> by_file_;  // with a cap: each file's window indices
  int rank_;
  uint64_t seed_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> cached_;
};

}  // namespace mvae::train
