#include "common/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/files.h"

namespace mvae {

void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape) {
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
  write_file_atomic(path, bytes);
}

std::vector<float> read_npy(const std::string& path, std::vector<int64_t>* shape) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
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
  int64_t count = 1;
  while (std::getline(in, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    dims.push_back(std::stoll(item));
    count *= dims.back();
  }
  if (10 + length + static_cast<size_t>(count) * 4 != bytes.size())
    throw InputError(path, "",
                     "holds " + std::to_string(bytes.size() - 10 - length) + " data bytes, shape needs " +
                         std::to_string(count * 4));
  std::vector<float> data(static_cast<size_t>(count));
  std::memcpy(data.data(), bytes.data() + 10 + length, data.size() * 4);
  if (shape) *shape = dims;
  return data;
}

}  // namespace mvae
