// libFuzzer entry for the model-file reader: the safetensors container and what a model file
// declares in it (format, checksum, configuration, representation, and that the configuration's
// weights are the bytes present). Any bytes must be read or raise InputError, never crash, hang
// or allocate more than they hold; reading one runs no code by construction (it is parsed as JSON
// and bytes).
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "model_file/model_header.h"
#include "tensor_file/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const mvae::tensor_file::SafetensorsFile file =
        mvae::tensor_file::parse_safetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    uint64_t covered = 0;
    for (const auto& t : file.tensors) covered += t.end - t.begin;
    if (covered != file.data_bytes()) __builtin_trap();  // the tensors tile the data exactly
    mvae::model_file::read_model_header(file, "fuzz");
  } catch (const mvae::InputError&) {
  }
  return 0;
}
