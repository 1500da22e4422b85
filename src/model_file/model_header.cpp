#include "model_file/model_header.h"

#include <zlib.h>

#include "common/error.h"
#include "common/files.h"

namespace mvae::model_file {
namespace {

// The weights' dtype: one floating dtype for every tensor.
tensor_file::DType weights_dtype(const tensor_file::SafetensorsFile& file, const std::string& path) {
  if (file.tensors.empty()) throw InputError(path, "tensors", "none: not a model file");
  const tensor_file::DType dtype = file.tensors.front().dtype;
  for (const auto& t : file.tensors)
    if (t.dtype != dtype ||
        (dtype != tensor_file::DType::kF32 && dtype != tensor_file::DType::kF16 && dtype != tensor_file::DType::kBF16))
      throw InputError(path, "tensor \"" + t.name + "\"",
                       std::string("is ") + tensor_file::dtype_name(t.dtype) +
                           "; a model's weights are all F32, all F16 or all BF16");
  return dtype;
}

}  // namespace

std::string content_checksum(const std::map<std::string, std::string>& metadata, const BytePieces& data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& [key, value] : metadata) {
    if (key == kChecksumKey) continue;
    for (const std::string* s : {&key, &value}) {
      crc = crc32_z(crc, reinterpret_cast<const Bytef*>(s->data()), s->size());
      crc = crc32_z(crc, reinterpret_cast<const Bytef*>(""), 1);  // a separator: "ab"+"c" is not "a"+"bc"
    }
  }
  for (const auto& [bytes, size] : data)
    crc = crc32_z(crc, static_cast<const Bytef*>(bytes), static_cast<z_size_t>(size));
  return "crc32:" + crc32_hex(static_cast<uint32_t>(crc));
}

ModelHeader read_model_header(const tensor_file::SafetensorsFile& file, const std::string& path) {
  const auto value = [&](const char* key) -> const std::string& {
    const auto it = file.metadata.find(key);
    if (it == file.metadata.end())
      throw InputError(path, std::string("metadata ") + key, "missing: not a model file of this project");
    return it->second;
  };
  if (value(kFormatKey) != kFormatValue)
    throw InputError(path, "metadata format",
                     "is '" + value(kFormatKey) + "', this version reads '" + kFormatValue + "'");
  const std::string expected = content_checksum(file.metadata, {{file.data_section(), file.data_bytes()}});
  if (value(kChecksumKey) != expected)
    throw InputError(path, "checksum",
                     "the file's contents give " + expected + ", it records " + value(kChecksumKey) +
                         ": the file is damaged (copy it again)");
  ModelHeader header;
  header.dtype = weights_dtype(file, path);
  header.config = model::ModelConfig::from_json(value(kConfigKey), path);
  header.representation = data::DataRepresentation::from_json(value(kRepresentationKey), path);
  // Before anything is allocated: the configuration's weights must be the bytes the file holds.
  const uint64_t needed =
      static_cast<uint64_t>(model::parameter_count(header.config)) * tensor_file::dtype_bytes(header.dtype);
  if (needed != file.data_bytes())
    throw InputError(path, "tensors",
                     "hold " + std::to_string(file.data_bytes()) + " bytes; the configuration (" +
                         header.config.summary() + ") needs " + std::to_string(needed));
  return header;
}

}  // namespace mvae::model_file
