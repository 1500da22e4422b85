#include "common/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/files.h"

namespace mvae {

std::string npy_bytes(const std::vector<float>& data, const std::vector<int64_t>& shape) {
  std::ostringstream dict;
  dict << "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict << shape[i] << (shape.size() == 1 || i + 1 < shape.size() ? ", " : "");
  dict << "), }";
  std::string header = dict.str();
  const size_t unpadded = 10 + header.size() + 1;  // magic(6) + version(2) + length(2) + dict + '\n'
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string bytes = "\x93NUMPY";
  bytes.push_back('\x01');
  bytes.push_back('\x00');
  const uint16_t length = static_cast<uint16_t>(header.size());
  bytes.push_back(static_cast<char>(length & 0xFF));
  bytes.push_back(static_cast<char>(length >> 8));
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  return bytes;
}

void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape) {
  write_file_atomic(path, npy_bytes(data, shape));
}

std::vector<float> read_npy(const std::string& path, std::vector<int64_t>* shape) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxDataFileBytes);
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
    throw InputError(path, "byte 0", "not a .npy file");
  if (bytes[6] != 1) throw InputError(path, "byte 6", "npy version " + std::to_string(bytes[6]) + " (expected 1)");
  const size_t length = bytes[8] | (bytes[9] << 8);
  if (10 + length > bytes.size()) throw InputError(path, "byte 8", "header runs past the end of the file");
  const std::string header(bytes.begin() + 10, bytes.begin() + 10 + static_cast<std::ptrdiff_t>(length));
  if (header.find("'<f4'") == std::string::npos) throw InputError(path, "header", "dtype is not little-endian float32");
  if (header.find("'fortran_order': False") == std::string::npos) throw InputError(path, "header", "not C order");
  const size_t open = header.find("'shape': ("), close = header.find(')', open);
  if (open == std::string::npos || close == std::string::npos) throw InputError(path, "header", "no shape");
  std::vector<int64_t> dims;
  std::istringstream in(header.substr(open + 10, close - open - 10));
  std::string item;
  // Each size a plain decimal number; the product checked against the bytes present as it grows,
  // so no shape can overflow or ask for more than the file holds.
  const uint64_t data_bytes = bytes.size() - 10 - length;
  uint64_t count = 1;
  bool too_big = false;  // the product passed the data bytes (refused, even if a later size is 0)
  while (std::getline(in, item, ',')) {
    const size_t first = item.find_first_not_of(' '), last = item.find_last_not_of(' ');
    if (first == std::string::npos) continue;
    const std::string digits = item.substr(first, last - first + 1);
    if (digits.empty() || digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string::npos)
      throw InputError(path, "header", "shape holds '" + digits + "', not a size");
    dims.push_back(std::stoll(digits));
    const uint64_t size = static_cast<uint64_t>(dims.back());
    too_big = too_big || (size != 0 && count > data_bytes / size);
    count = too_big ? count : count * size;
  }
  if (too_big || count * 4 != data_bytes)
    throw InputError(path, "",
                     "holds " + std::to_string(data_bytes) + " data bytes, which its shape does not fit (" +
                         header.substr(open, close - open + 1) + ", float32)");
  std::vector<float> data(static_cast<size_t>(count));
  std::memcpy(data.data(), bytes.data() + 10 + length, data.size() * 4);
  if (shape) *shape = dims;
  return data;
}

}  // namespace mvae
