// TensorBoard event files without TensorFlow: scalar summaries written as TFRecords
// (length, masked CRC-32C, Event protobuf, masked CRC-32C), which `tensorboard --logdir` reads.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace mvae::train {

uint32_t crc32c(const uint8_t* data, size_t size);
inline uint32_t masked_crc32c(const uint8_t* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

class TensorBoardWriter {
 public:
  // Creates <dir>/events.out.tfevents.<seconds>.<host>.
  explicit TensorBoardWriter(const std::string& dir);
  void scalar(const std::string& tag, double value, int64_t step);
  void flush() { out_.flush(); }
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::vector<uint8_t>& payload);
  std::string path_;
  std::ofstream out_;
};

}  // namespace mvae::train
