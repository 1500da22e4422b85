// Averages gradients over ranks in flat buckets. Each parameter's .grad() is a view into a
// bucket (as DDP's gradient_as_bucket_view), so autograd accumulates straight into the
// buffers that are all-reduced: no copies in or out.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "dist/communicator.h"

namespace mvae::train {

class GradientReducer {
 public:
  // Buckets of about `bucket_mb` MB, filled in reverse registration order (roughly the order
  // backward produces gradients), the same on every rank.
  GradientReducer(const std::vector<torch::Tensor>& parameters, double bucket_mb);
  void zero();
  // All-reduce (sum) every bucket and divide by the world size.
  void average(dist::Communicator& comm);
  // Global L2 norm of all gradients (identical on every rank after average()).
  double norm() const;
  void scale(double factor);
  size_t num_buckets() const { return buckets_.size(); }

 private:
  std::vector<torch::Tensor> buckets_;
};

}  // namespace mvae::train
