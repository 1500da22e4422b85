#include "train/batch_loader.h"

#include <chrono>

namespace mvae::train {

BatchLoader::BatchLoader(data::ShardSet& shards, DistributedSampler sampler, int64_t consumed, int depth, bool pin)
    : shards_(shards), sampler_(std::move(sampler)), consumed_(consumed), depth_(depth), pin_(pin) {
  thread_ = std::thread([this] { run(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

double BatchLoader::load_seconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return load_seconds_;
}

void BatchLoader::run() {
  const int64_t T = shards_.representation().window_steps();
  std::vector<uint16_t> raw;
  try {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stop_ || static_cast<int>(ready_.size()) < depth_; });
        if (stop_) return;
      }
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<int64_t> indices = sampler_.batch(consumed_);
      consumed_ += sampler_.global_batch();
      const int64_t B = static_cast<int64_t>(indices.size());
      raw.resize(static_cast<size_t>(B * T));
      shards_.read_tokens("train", indices, raw.data());
      torch::Tensor batch = torch::empty({B, T}, torch::TensorOptions().dtype(torch::kLong).pinned_memory(pin_));
      int64_t* out = batch.data_ptr<int64_t>();
      for (size_t i = 0; i < raw.size(); ++i) out[i] = raw[i];
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(batch);
        load_seconds_ += seconds;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

torch::Tensor BatchLoader::next() {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty() && error_) std::rethrow_exception(error_);
  torch::Tensor batch = ready_.front();
  ready_.pop_front();
  lock.unlock();
  cv_.notify_all();
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return batch;
}

}  // namespace mvae::train
