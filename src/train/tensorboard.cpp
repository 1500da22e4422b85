#include "train/tensorboard.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "common/error.h"

namespace mvae::train {
namespace {

// Protobuf wire format, just what Event and Summary need.
void varint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}
void key(std::vector<uint8_t>& out, int field, int wire) { varint(out, static_cast<uint64_t>(field << 3 | wire)); }
void fixed(std::vector<uint8_t>& out, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  out.insert(out.end(), b, b + n);  // little-endian hosts only (x86-64, aarch64)
}
void bytes_field(std::vector<uint8_t>& out, int field, const std::vector<uint8_t>& b) {
  key(out, field, 2);
  varint(out, b.size());
  out.insert(out.end(), b.begin(), b.end());
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
std::vector<uint8_t> event(int64_t step, const std::vector<uint8_t>* summary, const std::string* file_version) {
  std::vector<uint8_t> e;
  const double wall = now_seconds();
  key(e, 1, 1);
  fixed(e, &wall, 8);
  key(e, 2, 0);
  varint(e, static_cast<uint64_t>(step));
  if (file_version) bytes_field(e, 3, std::vector<uint8_t>(file_version->begin(), file_version->end()));
  if (summary) bytes_field(e, 5, *summary);
  return e;
}

}  // namespace

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  std::filesystem::create_directories(dir);
  char host[128] = {};
  gethostname(host, sizeof host - 1);
  path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<long long>(now_seconds())) + "." + host;
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_)
    throw InputError(path_, "", std::string("cannot create the TensorBoard event file: ") + std::strerror(errno));
  const std::string version = "brain.Event:2";
  write_record(event(0, nullptr, &version));
}

void TensorBoardWriter::scalar(const std::string& tag, double value, int64_t step) {
  // Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
  std::vector<uint8_t> v;
  bytes_field(v, 1, std::vector<uint8_t>(tag.begin(), tag.end()));
  const float f = static_cast<float>(value);
  key(v, 2, 5);
  fixed(v, &f, 4);
  std::vector<uint8_t> summary;
  bytes_field(summary, 1, v);
  write_record(event(step, &summary, nullptr));
}

void TensorBoardWriter::write_record(const std::vector<uint8_t>& payload) {
  const uint64_t length = payload.size();
  uint8_t header[8];
  std::memcpy(header, &length, 8);
  const uint32_t header_crc = masked_crc32c(header, 8), payload_crc = masked_crc32c(payload.data(), payload.size());
  out_.write(reinterpret_cast<const char*>(header), 8);
  out_.write(reinterpret_cast<const char*>(&header_crc), 4);
  out_.write(reinterpret_cast<const char*>(payload.data()), static_cast<std::streamsize>(payload.size()));
  out_.write(reinterpret_cast<const char*>(&payload_crc), 4);
}

}  // namespace mvae::train
