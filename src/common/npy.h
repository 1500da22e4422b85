// NumPy .npy files (version 1.0, little-endian float32, C order): what other tools read with
// numpy.load. Only what the latent tools need.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mvae {

// The file's bytes (to write with others as one pair: write_files_atomic), and the file written atomically.
std::string npy_bytes(const std::vector<float>& data, const std::vector<int64_t>& shape);
void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int64_t>& shape);
// Throws InputError naming the file for anything but a float32 C-order array.
std::vector<float> read_npy(const std::string& path, std::vector<int64_t>* shape);

}  // namespace mvae
