#include "train/batch_loader.h"

#include <chrono>
#include <memory>

namespace mvae::train {

BatchLoader::BatchLoader(data::ShardSet& shards, DistributedSampler sampler, int64_t consumed, int depth, bool pin,
                         bool groove)
    : shards_(shards), sampler_(std::move(sampler)), consumed_(consumed), depth_(depth), pin_(pin), groove_(groove) {
  // Shared with the thread, so the promise outlives set_value() whenever this constructor returns.
  auto claimed = std::make_shared<std::promise<void>>();
  std::future<void> claimed_future = claimed->get_future();
  thread_ = std::thread([this, claimed] {
    shards_.claim_reader();
    claimed->set_value();
    run();
  });
  claimed_future.wait();  // from here on, reads from any other thread fail loudly
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  shards_.release_reader();
}

double BatchLoader::load_seconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return load_seconds_;
}

void BatchLoader::run() {
  try {
    for (;;) {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stop_ || !requests_.empty() || static_cast<int>(ready_.size()) < depth_; });
      if (stop_) return;
      if (!requests_.empty()) {  // a caller is waiting for these: before prefetching
        Request request = std::move(requests_.front());
        requests_.pop_front();
        lock.unlock();
        try {
          request.result.set_value(model::read_window_tensor(shards_, request.split, request.indices, groove_));
        } catch (...) {
          request.result.set_exception(std::current_exception());
        }
        continue;
      }
      lock.unlock();
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<int64_t> indices = sampler_.batch(consumed_);
      consumed_ += sampler_.global_batch();
      model::WindowBatch batch = model::read_window_batch(shards_, "train", indices, groove_, pin_);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      {
        std::lock_guard<std::mutex> guard(mutex_);
        ready_.push_back(std::move(batch));
        load_seconds_ += seconds;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    for (auto& r : requests_) r.result.set_exception(error_);
    requests_.clear();
    cv_.notify_all();
  }
}

model::WindowBatch BatchLoader::next() {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return !ready_.empty() || error_; });
  if (ready_.empty() && error_) std::rethrow_exception(error_);
  model::WindowBatch batch = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  cv_.notify_all();
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return batch;
}

torch::Tensor BatchLoader::read(const std::string& split, const std::vector<int64_t>& indices) {
  std::future<torch::Tensor> result;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_) std::rethrow_exception(error_);
    Request request{split, indices, {}};
    result = request.result.get_future();
    requests_.push_back(std::move(request));
  }
  cv_.notify_all();
  return result.get();
}

}  // namespace mvae::train
