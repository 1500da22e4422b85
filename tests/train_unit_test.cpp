#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "common/error.h"
#include "test_util.h"
#include "train/gradient_reducer.h"
#include "train/sampler.h"
#include "train/tensorboard.h"
#include "train/train_options.h"

using namespace mvae::train;

TEST(Sampler, RanksTakeDisjointBlocksOfTheSameGlobalBatch) {
  DistributedSampler r0(100, 8, 0, 3, 7), r1(100, 8, 1, 3, 7), r2(100, 8, 2, 3, 7), whole(100, 24, 0, 1, 7);
  EXPECT_EQ(r0.global_batch(), 24);
  EXPECT_EQ(r0.steps_per_epoch(), 4);  // 100 / 24: the tail of 4 windows is dropped
  for (int64_t consumed = 0; consumed < 24 * 10; consumed += 24) {
    std::vector<int64_t> joined;
    for (auto* s : {&r0, &r1, &r2}) {
      const auto b = s->batch(consumed);
      joined.insert(joined.end(), b.begin(), b.end());
    }
    EXPECT_EQ(joined, whole.batch(consumed)) << consumed;  // the same windows as one rank with 3x the batch
    EXPECT_EQ(std::set<int64_t>(joined.begin(), joined.end()).size(), 24u);
  }
}

TEST(Sampler, EachEpochIsAPermutationAndEpochsDiffer) {
  DistributedSampler s(50, 10, 0, 1, 3);
  std::set<int64_t> seen;
  std::vector<int64_t> first;
  for (int64_t c = 0; c < 50; c += 10) {
    const auto b = s.batch(c);
    seen.insert(b.begin(), b.end());
    if (c == 0) first = b;
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_NE(s.batch(50), first);  // epoch 1 is reshuffled
  EXPECT_EQ(s.epoch_of(50), 1);
  EXPECT_THROW(DistributedSampler(10, 8, 0, 2, 1), mvae::UsageError);  // exit 2, with the largest --batch that fits
}

// --windows-per-file K: an epoch holds min(windows, K) distinct windows of each file, drawn afresh each epoch from
// (seed, epoch) alone, so ranks split the same global batch and a resumed sampler continues identically.
TEST(Sampler, WindowsPerFileCapsEachFilesWindowsInAnEpochAndRedrawsThem) {
  std::vector<int32_t> file_of_window;  // file 7: 40 windows, file 3: 12, file 9: 2 (interleaved, as shards are not)
  for (int i = 0; i < 40; ++i) file_of_window.push_back(7);
  for (int i = 0; i < 12; ++i) file_of_window.insert(file_of_window.begin() + 3 * i, 3);
  file_of_window.push_back(9);
  file_of_window.push_back(9);
  DistributedSampler s(file_of_window, 5, 4, 0, 1, 11), again(file_of_window, 5, 4, 0, 1, 11);
  EXPECT_EQ(s.windows_per_epoch(), 5 + 5 + 2);
  EXPECT_EQ(s.steps_per_epoch(), 3);
  std::vector<std::set<int64_t>> epochs;
  for (int64_t epoch = 0; epoch < 4; ++epoch) {
    std::set<int64_t> seen;
    std::map<int32_t, int> per_file;
    for (int64_t c = epoch * 12; c < (epoch + 1) * 12; c += 4) {
      const auto b = s.batch(c);
      EXPECT_EQ(b, again.batch(c)) << "the same (seed, epoch) gives the same windows";
      for (int64_t w : b) {
        seen.insert(w);
        ++per_file[file_of_window[static_cast<size_t>(w)]];
      }
    }
    EXPECT_EQ(seen.size(), 12u) << "distinct windows, epoch " << epoch;
    EXPECT_EQ(per_file[7], 5);
    EXPECT_EQ(per_file[3], 5);
    EXPECT_EQ(per_file[9], 2) << "a file with fewer than K gives all of them";
    epochs.push_back(seen);
  }
  EXPECT_NE(epochs[0], epochs[1]) << "each epoch draws its own windows of the long files";
  DistributedSampler r0(file_of_window, 5, 2, 0, 2, 11), r1(file_of_window, 5, 2, 1, 2, 11);
  for (int64_t c = 0; c < 24; c += 4) {
    std::vector<int64_t> joined = r0.batch(c);
    const auto b1 = r1.batch(c);
    joined.insert(joined.end(), b1.begin(), b1.end());
    EXPECT_EQ(joined, s.batch(c)) << "two ranks split one rank's global batch";
  }
  EXPECT_THROW(DistributedSampler(file_of_window, 5, 13, 0, 1, 1), mvae::UsageError);  // 12 windows an epoch
  EXPECT_THROW(DistributedSampler(file_of_window, 0, 4, 0, 1, 1), mvae::UsageError);
}

namespace {

struct Record {
  std::vector<uint8_t> payload;
};

std::vector<Record> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<Record> out;
  for (;;) {
    uint8_t header[8];
    uint32_t header_crc, payload_crc;
    if (!in.read(reinterpret_cast<char*>(header), 8)) break;
    in.read(reinterpret_cast<char*>(&header_crc), 4);
    uint64_t length;
    std::memcpy(&length, header, 8);
    EXPECT_EQ(header_crc, masked_crc32c(header, 8));
    Record r;
    r.payload.resize(length);
    in.read(reinterpret_cast<char*>(r.payload.data()), static_cast<std::streamsize>(length));
    in.read(reinterpret_cast<char*>(&payload_crc), 4);
    EXPECT_EQ(payload_crc, masked_crc32c(r.payload.data(), r.payload.size()));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

TEST(LearningRate, WarmupRisesLinearlyToTheDecayedSchedule) {
  TrainOptions o;
  o.lr = 2e-3;
  o.min_lr = 1e-5;
  o.lr_decay = 0.999;
  const auto scheduled = [&](int64_t step) {
    return (o.lr - o.min_lr) * std::pow(o.lr_decay, static_cast<double>(step)) + o.min_lr;
  };
  EXPECT_DOUBLE_EQ(o.learning_rate_at(0), o.lr);  // no warmup by default
  EXPECT_DOUBLE_EQ(o.learning_rate_at(500), scheduled(500));
  o.lr_warmup_steps = 100;
  EXPECT_DOUBLE_EQ(o.learning_rate_at(0), scheduled(0) / 100);
  EXPECT_DOUBLE_EQ(o.learning_rate_at(49), scheduled(49) / 2);
  EXPECT_DOUBLE_EQ(o.learning_rate_at(99), scheduled(99));
  EXPECT_DOUBLE_EQ(o.learning_rate_at(100), scheduled(100));
  EXPECT_DOUBLE_EQ(o.learning_rate_at(5000), scheduled(5000));
  // A continued stage (--schedule-offset N) reads the schedule N steps on; its warm-up counts from its own step 0.
  o.schedule_offset = 3000;
  EXPECT_DOUBLE_EQ(o.learning_rate_at(0), scheduled(3000) / 100);
  EXPECT_DOUBLE_EQ(o.learning_rate_at(100), scheduled(3100));
  EXPECT_EQ(o.schedule_step(250), 3250);
  o.schedule_offset = 0;
  o.lr_warmup_steps = -1;
  o.data = "d";
  o.run = "r";
  EXPECT_THROW(o.validate(), mvae::UsageError);
}

TEST(TensorBoard, Crc32cMatchesTheStandardCheckValue) {
  const char* check = "123456789";
  EXPECT_EQ(crc32c(reinterpret_cast<const uint8_t*>(check), 9), 0xE3069283u);
}

TEST(TensorBoard, WritesFramedEventsWithTagsAndValues) {
  mvae::test::TempDir dir;
  std::string path;
  {
    TensorBoardWriter w((dir.path() / "tb").string());
    w.scalar("train/loss", 1.5, 10);
    w.scalar("eval/elbo", -2.25, 20);
    path = w.path();
  }
  const auto records = read_records(path);
  ASSERT_EQ(records.size(), 3u);
  const std::string first(records[0].payload.begin(), records[0].payload.end());
  EXPECT_NE(first.find("brain.Event:2"), std::string::npos);
  const std::string second(records[1].payload.begin(), records[1].payload.end());
  EXPECT_NE(second.find("train/loss"), std::string::npos);
  // The float simple_value is the last 4 bytes of the payload: field 2, wire type 5, then the value.
  float value;
  std::memcpy(&value, records[2].payload.data() + records[2].payload.size() - 4, 4);
  EXPECT_FLOAT_EQ(value, -2.25f);
  EXPECT_EQ(records[2].payload[records[2].payload.size() - 5], (2 << 3) | 5);
}

// The gradient reducer's hooks and bucket order, in one process: a communicator that stands for
// two ranks holding identical gradients (an all-reduce doubles) and records when buckets start.
namespace {

class TwoIdenticalRanks : public mvae::comm::Communicator {
 public:
  std::string name() const override { return "two-identical-ranks"; }
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  void all_reduce(torch::Tensor& t, mvae::comm::ReduceOp) override {
    t.mul_(2);
    ++started;
  }
  void broadcast(torch::Tensor&, int) override {}
  double all_reduce_scalar(double value, mvae::comm::ReduceOp) override { return value; }
  void barrier() override {}
  int started = 0;  // all-reduces so far
};

// Three parameters, registered in the order a, b, c. Backward produces c's gradient first, then
// a's, then b's: forward uses b, then a, then c. Reverse registration order guesses c, b, a.
struct ThreeParameters {
  torch::Tensor a = torch::full({4}, 0.5).requires_grad_();
  torch::Tensor b = torch::full({3000}, 0.25).requires_grad_();  // big enough for a bucket of its own
  torch::Tensor c = torch::full({4}, 2.0).requires_grad_();
  torch::Tensor unused = torch::zeros({5}).requires_grad_();
  std::vector<torch::Tensor> all() const { return {a, b, c, unused}; }
  torch::Tensor loss(const torch::Tensor& x) const {
    const torch::Tensor h = torch::tanh(x * b.sum() / 1000);  // [4]
    return ((torch::sin(h * a)) * c).sum();
  }
};

std::vector<torch::Tensor> plain_gradients(const ThreeParameters& p, const torch::Tensor& x) {
  return torch::autograd::grad({p.loss(x)}, {p.a, p.b, p.c});
}

}  // namespace

TEST(GradientReducer, BucketsStartDuringBackwardAndAverageToThePlainGradients) {
  ThreeParameters p;
  TwoIdenticalRanks comm;
  // 4 KB buckets: b alone, the small ones together.
  GradientReducer reducer(p.all(), comm, ReducerOptions{0.004, 0.004, /*overlap=*/true});
  const torch::Tensor x = torch::linspace(-1, 1, 4);
  const auto expected = plain_gradients(p, x);
  for (int step = 0; step < 3; ++step) {
    reducer.zero();
    reducer.arm();
    p.loss(x).backward();
    const int during_backward = comm.started;
    reducer.finish();
    // From the second step (buckets in ready order) all but the unused parameter's bucket start
    // inside backward; that one starts in finish().
    if (step > 0) EXPECT_EQ(during_backward, static_cast<int>(reducer.num_buckets()) - 1) << "step " << step;
    EXPECT_EQ(reducer.last_timing().buckets, static_cast<int64_t>(reducer.num_buckets()));
    comm.started = 0;
    EXPECT_TRUE(torch::allclose(p.a.grad(), expected[0])) << step;
    EXPECT_TRUE(torch::allclose(p.b.grad(), expected[1])) << step;
    EXPECT_TRUE(torch::allclose(p.c.grad(), expected[2])) << step;
    EXPECT_EQ(p.unused.grad().abs().sum().item<float>(), 0.0f);
  }
}

TEST(GradientReducer, BucketsAreRebuiltInTheOrderBackwardProducedGradients) {
  ThreeParameters p;
  TwoIdenticalRanks comm;
  GradientReducer reducer(p.all(), comm, ReducerOptions{0.004, 0.004, /*overlap=*/true});
  const torch::Tensor x = torch::linspace(-1, 1, 4);
  // First guess: reverse registration, unused and c in the first bucket, b alone, a last.
  EXPECT_EQ(reducer.layout(), (std::vector<std::vector<size_t>>{{3, 2}, {1}, {0}}));
  reducer.zero();
  reducer.arm();
  p.loss(x).backward();
  reducer.finish();
  // Observed: c (2), a (0), b (1); the unused parameter last. c and a share the first bucket,
  // so that it is complete before b's gradient (the end of backward) arrives.
  const auto layout = reducer.layout();
  std::vector<size_t> order;
  for (const auto& bucket : layout) order.insert(order.end(), bucket.begin(), bucket.end());
  EXPECT_EQ(order, (std::vector<size_t>{2, 0, 1, 3}));
  EXPECT_EQ(layout.front(), (std::vector<size_t>{2, 0}));
  // The averaged gradients moved into the new buckets.
  const auto expected = plain_gradients(p, x);
  EXPECT_TRUE(torch::allclose(p.a.grad(), expected[0]));
  EXPECT_TRUE(torch::allclose(p.b.grad(), expected[1]));
  EXPECT_TRUE(torch::allclose(p.c.grad(), expected[2]));
}

TEST(GradientReducer, WithoutOverlapEveryBucketStartsAfterBackward) {
  ThreeParameters p;
  TwoIdenticalRanks comm;
  GradientReducer reducer(p.all(), comm, ReducerOptions{0.004, 0.004, /*overlap=*/false});
  reducer.zero();
  reducer.arm();
  p.loss(torch::linspace(-1, 1, 4)).backward();
  EXPECT_EQ(comm.started, 0);
  reducer.finish();
  EXPECT_EQ(comm.started, static_cast<int>(reducer.num_buckets()));
  EXPECT_EQ(reducer.last_timing().started_in_backward, 0);
}
