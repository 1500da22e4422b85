#include "train/gradient_reducer.h"

#include <cmath>

namespace mvae::train {

GradientReducer::GradientReducer(const std::vector<torch::Tensor>& parameters, double bucket_mb) {
  const int64_t limit = std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * 1e6 / 4));
  std::vector<std::vector<torch::Tensor>> groups(1);
  int64_t filled = 0;
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    if (filled > 0 && filled + it->numel() > limit) {
      groups.emplace_back();
      filled = 0;
    }
    groups.back().push_back(*it);
    filled += it->numel();
  }
  for (const auto& group : groups) {
    int64_t n = 0;
    for (const auto& p : group) n += p.numel();
    torch::Tensor bucket = torch::zeros({n}, group.front().options());
    int64_t offset = 0;
    for (auto p : group) {
      p.mutable_grad() = bucket.narrow(0, offset, p.numel()).view(p.sizes());
      offset += p.numel();
    }
    buckets_.push_back(bucket);
  }
}

void GradientReducer::zero() {
  for (auto& b : buckets_) b.zero_();
}

void GradientReducer::average(dist::Communicator& comm) {
  if (comm.world_size() == 1) return;
  for (auto& b : buckets_) {
    comm.all_reduce(b, dist::ReduceOp::kSum);
    b.div_(comm.world_size());
  }
}

double GradientReducer::norm() const {
  double sq = 0;
  for (const auto& b : buckets_) {
    const double n = b.norm().item<double>();
    sq += n * n;
  }
  return std::sqrt(sq);
}

void GradientReducer::scale(double factor) {
  for (auto& b : buckets_) b.mul_(factor);
}

}  // namespace mvae::train
