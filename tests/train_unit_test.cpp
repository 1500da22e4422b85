#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>

#include "test_util.h"
#include "train/sampler.h"
#include "train/tensorboard.h"

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
  EXPECT_THROW(DistributedSampler(10, 8, 0, 2, 1), std::invalid_argument);
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
