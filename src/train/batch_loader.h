// Prepares training batches in a background thread, which is the only thread of the process that
// reads the shards while the loader lives (it claims the ShardSet: HDF5 is not thread-safe).
// Batches come out in step order; the trainer never waits when the loader keeps ahead. Other
// reads (validation windows) are requests served by the same thread, ahead of prefetching.
#pragma once

#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/shards.h"
#include "model/window_batch.h"
#include "train/sampler.h"

namespace mvae::train {

class BatchLoader {
 public:
  // Starts loading the training batches that follow `consumed` samples, `depth` batches ahead.
  // Batches hold token ids, or velocities and offsets when `groove`, as the shards store them
  // (model::model_input makes the model's input of one, on its device), in pinned memory when
  // `pin` (for asynchronous copies to a GPU).
  BatchLoader(data::ShardSet& shards, DistributedSampler sampler, int64_t consumed, int depth, bool pin,
              bool groove = false);
  ~BatchLoader();  // stops the thread and hands the ShardSet back to the caller's thread
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next training batch; rethrows a loader error (a corrupt shard) in the caller's thread.
  model::WindowBatch next();
  // Windows `indices` of `split` as the model's input on the CPU, read by the loader thread;
  // rethrows its errors.
  torch::Tensor read(const std::string& split, const std::vector<int64_t>& indices);
  // Seconds the caller spent waiting in next(), and seconds the loader spent producing batches.
  double wait_seconds() const { return wait_seconds_; }
  double load_seconds() const;

 private:
  struct Request {
    std::string split;
    std::vector<int64_t> indices;
    std::promise<torch::Tensor> result;
  };
  void run();

  data::ShardSet& shards_;
  DistributedSampler sampler_;
  int64_t consumed_;
  const int depth_;
  const bool pin_;
  const bool groove_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<model::WindowBatch> ready_;
  std::deque<Request> requests_;
  std::exception_ptr error_;
  bool stop_ = false;
  double wait_seconds_ = 0, load_seconds_ = 0;
  std::thread thread_;
};

}  // namespace mvae::train
