#include "train/gradient_reducer.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <cmath>

#include "common/error.h"

namespace mvae::train {

// Runs after autograd has accumulated a parameter's gradient into its .grad() (a post hook on
// the parameter's AccumulateGrad node; it fires once per backward, after all uses are summed).
struct GradientReducer::Hook : torch::autograd::FunctionPostHook {
  Hook(GradientReducer* reducer, size_t index) : reducer(reducer), index(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    reducer->on_gradient_ready(index);
    return outputs;
  }
  GradientReducer* reducer;
  size_t index;
};

GradientReducer::GradientReducer(const std::vector<torch::Tensor>& parameters, comm::Communicator& comm,
                                 const ReducerOptions& options)
    : comm_(comm), options_(options), owner_thread_(std::this_thread::get_id()), parameters_(parameters) {
  std::vector<size_t> reverse(parameters.size());
  for (size_t k = 0; k < reverse.size(); ++k) reverse[k] = reverse.size() - 1 - k;
  build_buckets(reverse);
  if (comm_.world_size() > 1 && options_.overlap) {
    for (size_t k = 0; k < parameters.size(); ++k) {
      std::shared_ptr<torch::autograd::Node> accumulator = torch::autograd::impl::grad_accumulator(parameters[k]);
      MVAE_CHECK(accumulator, "gradient reducer: parameter " + std::to_string(k) + " is not a leaf that requires grad");
      const uintptr_t key = accumulator->add_post_hook(std::make_unique<Hook>(this, k));
      hooks_.emplace_back(std::move(accumulator), key);
    }
  } else {
    rebuilt_ = true;  // nothing to learn the order for
  }
}

void GradientReducer::build_buckets(const std::vector<size_t>& order) {
  const auto floats = [](double mb) { return std::max<int64_t>(1, static_cast<int64_t>(mb * 1e6 / 4)); };
  std::vector<std::vector<size_t>> groups(1);
  int64_t filled = 0;
  for (size_t k : order) {
    const int64_t limit =
        floats(groups.size() == 1 ? std::min(options_.first_bucket_mb, options_.bucket_mb) : options_.bucket_mb);
    if (filled > 0 && filled + parameters_[k].numel() > limit) {
      groups.emplace_back();
      filled = 0;
    }
    groups.back().push_back(k);
    filled += parameters_[k].numel();
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> buckets;
  bucket_of_.assign(parameters_.size(), 0);
  bucket_size_.clear();
  for (size_t b = 0; b < groups.size(); ++b) {
    int64_t n = 0;
    for (size_t k : groups[b]) n += parameters_[k].numel();
    torch::Tensor bucket = torch::zeros({n}, parameters_[groups[b].front()].options());
    int64_t offset = 0;
    for (size_t k : groups[b]) {
      torch::Tensor p = parameters_[k];
      torch::Tensor view = bucket.narrow(0, offset, p.numel()).view(p.sizes());
      if (p.grad().defined()) view.copy_(p.grad());
      p.mutable_grad() = view;
      bucket_of_[k] = b;
      offset += p.numel();
    }
    buckets.push_back(bucket);
    bucket_size_.push_back(static_cast<int64_t>(groups[b].size()));
  }
  buckets_ = std::move(buckets);
  members_ = std::move(groups);
  missing_ = bucket_size_;
  work_.clear();
  work_.resize(buckets_.size());
}

void GradientReducer::rebuild_in_ready_order() {
  // Rank 0's order, so that every rank lays its buckets out alike. Parameters whose gradient
  // never came (unused in that step) go last.
  std::vector<int64_t> order(parameters_.size(), -1);
  std::vector<bool> seen(parameters_.size(), false);
  size_t n = 0;
  for (size_t k : ready_order_)
    if (!seen[k]) seen[k] = true, order[n++] = static_cast<int64_t>(k);
  for (size_t k = parameters_.size(); k-- > 0;)
    if (!seen[k]) order[n++] = static_cast<int64_t>(k);
  torch::Tensor shared = torch::tensor(order, torch::kLong);  // a host tensor: over MPI with either communicator
  comm_.broadcast(shared, 0);
  const int64_t* agreed = shared.data_ptr<int64_t>();
  build_buckets(std::vector<size_t>(agreed, agreed + parameters_.size()));
  ready_order_.clear();
}

std::vector<std::vector<size_t>> GradientReducer::layout() const { return members_; }

GradientReducer::~GradientReducer() {
  for (auto& [node, key] : hooks_) node->del_post_hook(key);
  for (auto& w : work_)
    if (w) w->wait();
}

void GradientReducer::zero() {
  for (auto& b : buckets_) b.zero_();
}

void GradientReducer::arm() {
  missing_ = bucket_size_;
  next_to_start_ = 0;
  timing_ = ReducerTiming{};
  armed_ = comm_.world_size() > 1 && options_.overlap;
}

void GradientReducer::on_gradient_ready(size_t index) {
  if (!armed_) return;
  // MPI may only be called from the main thread; backward of CUDA graphs runs on autograd's
  // device threads. There the buckets start in finish() unless the communicator allows it.
  if (!comm_.any_thread() && std::this_thread::get_id() != owner_thread_) return;
  if (!rebuilt_) ready_order_.push_back(index);
  const size_t bucket = bucket_of_[index];
  MVAE_CHECK(missing_[bucket] > 0,
             "gradient reducer: parameter " + std::to_string(index) + " reported twice in one backward");
  --missing_[bucket];
  const size_t before = next_to_start_;
  start_ready_buckets();
  timing_.started_in_backward += static_cast<int64_t>(next_to_start_ - before);
  // Drive the collectives already in flight forward (Open MPI progresses only inside MPI calls).
  for (size_t b = 0; b < next_to_start_; ++b)
    if (work_[b]) work_[b]->test();
}

void GradientReducer::start_ready_buckets() {
  while (next_to_start_ < buckets_.size() && missing_[next_to_start_] == 0) {
    work_[next_to_start_] = comm_.all_reduce_async(buckets_[next_to_start_], comm::ReduceOp::kSum);
    ++next_to_start_;
  }
}

void GradientReducer::finish() {
  armed_ = false;
  if (comm_.world_size() == 1) return;
  const auto t0 = std::chrono::steady_clock::now();
  // Whatever backward did not complete (unused parameters, hooks on another thread, no
  // overlap) starts now, still in index order.
  std::fill(missing_.begin(), missing_.end(), 0);
  start_ready_buckets();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    work_[b]->wait();
    work_[b].reset();
    buckets_[b].div_(comm_.world_size());
  }
  timing_.exposed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  timing_.buckets = static_cast<int64_t>(buckets_.size());
  if (!rebuilt_) {             // the same decision on every rank: hooks exist on all or on none
    rebuild_in_ready_order();  // the averaged gradients move into the new buckets
    rebuilt_ = true;
  }
}

double GradientReducer::norm() const {
  // Summed in double, so that the norm (and so the clipping) does not depend on how the
  // parameters are grouped into buckets, which changes with the bucket size and the rebuild.
  // Accumulated on the device: one host synchronisation, not one per bucket.
  torch::Tensor sq = torch::zeros({}, buckets_.front().options().dtype(torch::kDouble));
  for (const auto& b : buckets_) sq += b.to(torch::kDouble).square().sum();
  return std::sqrt(sq.item<double>());
}

void GradientReducer::scale(double factor) {
  for (auto& b : buckets_) b.mul_(factor);
}

}  // namespace mvae::train
