// TensorBoard event files without TensorFlow: scalar summaries written as TFRecords
// (length, masked CRC-32C, Event protobuf, masked CRC-32C), which `tensorboard --logdir` reads.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "common/files.h"

namespace mvae::train {

using ::mvae::crc32c;  // common/files.h: the record framing's checksums
using ::mvae::masked_crc32c;

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
