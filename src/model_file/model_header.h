// What a model file declares besides its weights, read and checked without LibTorch (so the
// model-file fuzzer needs none): the format mark, the checksum, the configuration (within
// model::kLimits), the data representation, one weight dtype, and that the configuration's
// weights are exactly the bytes the file holds. Nothing is allocated for the model before this
// passes. The writer: model_file.h, save_model.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "data/representation.h"
#include "model/config.h"
#include "tensor_file/safetensors.h"

namespace mvae::model_file {

// The metadata keys of a model file (docs/data_format.md, "Model files").
constexpr const char* kFormatKey = "format";
constexpr const char* kFormatValue = "musicvae-cpp model 1";
constexpr const char* kConfigKey = "mvae_config";
constexpr const char* kRepresentationKey = "mvae_representation";
constexpr const char* kChecksumKey = "checksum";
// The largest model file read: a model at the size limits (model::kLimits) in float32.
constexpr uint64_t kMaxModelFileBytes = uint64_t{9} << 30;

struct ModelHeader {
  model::ModelConfig config;
  data::DataRepresentation representation;
  tensor_file::DType dtype = tensor_file::DType::kF32;  // of every weight: F32, F16 or BF16
};

// "crc32:<8 hex digits>" over every metadata key and value but the checksum's own, then the tensor
// bytes as they lie in the file, given as the consecutive pieces `data` (the whole data section when
// reading; each tensor's bytes when writing, so nothing is serialised twice): a bit flipped in a
// weight or in the configuration is found. The tensor index (names, shapes, offsets) needs none: it
// is checked against the configuration exactly.
using BytePieces = std::vector<std::pair<const void*, uint64_t>>;
std::string content_checksum(const std::map<std::string, std::string>& metadata, const BytePieces& data);

// Throws InputError naming `path`, the place and the fix.
ModelHeader read_model_header(const tensor_file::SafetensorsFile& file, const std::string& path);

}  // namespace mvae::model_file
