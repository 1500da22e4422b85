// libFuzzer entry for the TensorFlow checkpoint reader (magenta list / import): any bytes must
// parse or raise InputError, never crash, hang or allocate more than they hold. The input is an
// index and its data shard: a 4-byte little-endian index length, the index, then the data.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "magenta/tf_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const size_t declared = data[0] | (data[1] << 8) | (data[2] << 16) | (size_t{data[3]} << 24);
  const size_t index_bytes = declared < size - 4 ? declared : size - 4;
  const std::string index(reinterpret_cast<const char*>(data + 4), index_bytes);
  const std::vector<uint8_t> shard(data + 4 + index_bytes, data + size);
  try {
    const mvae::magenta::TfVariables variables = mvae::magenta::parse_tf_checkpoint(index, shard, "fuzz");
    // Each variable's bytes are a range of the shard: none can be longer than the shard.
    for (const auto& [name, tensor] : variables)
      if (tensor.bytes.size() > shard.size()) __builtin_trap();
  } catch (const mvae::InputError&) {
  }
  return 0;
}
