// Averages gradients over ranks in flat buckets, overlapping the communication with backward.
//
// Each parameter's .grad() is a view into a bucket (as DDP's gradient_as_bucket_view), so
// autograd accumulates straight into the buffers that are all-reduced: no copies in or out. A
// hook on every parameter's gradient accumulator counts the gradients still missing from its
// bucket; when a bucket is complete its all-reduce starts while backward goes on with the layers
// below. Buckets start strictly in index order, so every rank issues the same collectives in
// the same order whatever order its hooks fire in.
//
// The first buckets follow reverse registration order, a guess at the order backward produces
// gradients. The first overlapped step records the real order (rank 0's, broadcast) and the
// buckets are rebuilt once in it, as DDP does: one late gradient in a bucket would otherwise
// hold that bucket's communication back to the end of backward.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "comm/communicator.h"

namespace mvae::train {

struct ReducerOptions {
  double bucket_mb = 25;       // bucket size, in MB of float32 gradients
  double first_bucket_mb = 1;  // the first bucket (the last layers, whose gradients come first) is
                               // small so that communication starts early, as in DDP
  bool overlap = true;         // false: every all-reduce after backward (for comparison)
};

// Where the time of one step's gradient averaging went.
struct ReducerTiming {
  double exposed_seconds = 0;       // waiting after backward for the collectives to finish
  int64_t started_in_backward = 0;  // buckets started from a hook, before backward returned
  int64_t buckets = 0;              // buckets averaged
};

class GradientReducer {
 public:
  // Buckets are filled in reverse registration order (roughly the order backward produces
  // gradients), the same on every rank.
  GradientReducer(const std::vector<torch::Tensor>& parameters, comm::Communicator& comm,
                  const ReducerOptions& options);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  void zero();
  // Before the backward of a step's last micro-batch: its hooks start the all-reduces. Earlier
  // micro-batches only accumulate.
  void arm();
  // After that backward: starts the buckets not started yet (gradients that never came, or all
  // of them without overlap), waits for every one, and divides by the world size.
  void finish();
  // Global L2 norm of all gradients (identical on every rank after finish()).
  double norm() const;
  void scale(double factor);
  size_t num_buckets() const { return buckets_.size(); }
  const ReducerTiming& last_timing() const { return timing_; }
  // Called by the hooks: parameter `index` has its gradient for this backward.
  void on_gradient_ready(size_t index);
  // Parameter indices bucket by bucket, in the order they are laid out (for tests and logs).
  std::vector<std::vector<size_t>> layout() const;

 private:
  // Lays the buckets out with parameters in `order`, carrying the gradients over.
  void build_buckets(const std::vector<size_t>& order);
  void rebuild_in_ready_order();
  void start_ready_buckets();

  comm::Communicator& comm_;
  ReducerOptions options_;
  std::thread::id owner_thread_;
  std::vector<torch::Tensor> parameters_;
  std::vector<torch::Tensor> buckets_;
  std::vector<std::vector<size_t>> members_;       // bucket -> parameter indices
  std::vector<size_t> bucket_of_;                  // parameter index -> bucket
  std::vector<int64_t> bucket_size_;               // parameters per bucket
  std::vector<int64_t> missing_;                   // gradients each bucket still waits for
  std::vector<std::unique_ptr<comm::Work>> work_;  // per bucket, while in flight
  size_t next_to_start_ = 0;
  bool armed_ = false;
  bool rebuilt_ = false;
  std::vector<size_t> ready_order_;  // recorded until the rebuild
  ReducerTiming timing_;
  struct Hook;
  std::vector<std::pair<std::shared_ptr<torch::autograd::Node>, uintptr_t>> hooks_;
};

}  // namespace mvae::train
