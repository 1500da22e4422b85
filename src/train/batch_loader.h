// Prepares training batches in a background thread: the only thread of the process that calls
// HDF5. Batches come out in step order; the trainer never waits when the loader keeps ahead.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "data/shards.h"
#include "train/sampler.h"

namespace mvae::train {

class BatchLoader {
 public:
  // Starts loading the batches that follow `consumed` samples, `depth` batches ahead. Tokens are
  // int64 [batch, T] in pinned memory when `pin` (for asynchronous copies to a GPU).
  BatchLoader(data::ShardSet& shards, DistributedSampler sampler, int64_t consumed, int depth, bool pin);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch; rethrows a loader error (a corrupt shard) in the caller's thread.
  torch::Tensor next();
  // Seconds the caller spent waiting in next(), and seconds the loader spent producing batches.
  double wait_seconds() const { return wait_seconds_; }
  double load_seconds() const;

 private:
  void run();
  data::ShardSet& shards_;
  DistributedSampler sampler_;
  int64_t consumed_;
  const int depth_;
  const bool pin_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<torch::Tensor> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  double wait_seconds_ = 0, load_seconds_ = 0;
  std::thread thread_;
};

}  // namespace mvae::train
