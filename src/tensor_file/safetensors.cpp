#include "tensor_file/safetensors.h"

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "common/error.h"

namespace mvae::tensor_file {
namespace {

constexpr const char* kMetadataKey = "__metadata__";

struct DTypeName {
  DType dtype;
  const char* name;
  size_t bytes;
};
constexpr DTypeName kDTypes[] = {
    {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
    {DType::kI64, "I64", 8}, {DType::kU8, "U8", 1},
};

bool parse_dtype(const std::string& name, DType* dtype) {
  for (const DTypeName& d : kDTypes)
    if (name == d.name) {
      *dtype = d.dtype;
      return true;
    }
  return false;
}

uint64_t read_le64(const std::string& bytes) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  return v;
}

// One header entry: dtype, shape, data_offsets, each checked.
TensorEntry parse_entry(const std::string& name, const nlohmann::json& j, const std::string& source) {
  const std::string where = "tensor \"" + name + "\"";
  if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets"))
    throw InputError(source, where, "needs an object with dtype, shape and data_offsets");
  TensorEntry t;
  t.name = name;
  if (!j["dtype"].is_string() || !parse_dtype(j["dtype"].get<std::string>(), &t.dtype))
    throw InputError(source, where, "dtype " + j["dtype"].dump() + " is not one of F32, F16, BF16, I64, U8");
  const nlohmann::json& shape = j["shape"];
  if (!shape.is_array() || shape.size() > kMaxDims)
    throw InputError(source, where, "shape must be a list of at most " + std::to_string(kMaxDims) + " sizes");
  uint64_t elements = 1;
  for (const auto& d : shape) {
    if (!d.is_number_unsigned()) throw InputError(source, where, "shape " + shape.dump() + " holds a non-size");
    const uint64_t size = d.get<uint64_t>();
    if (size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        (size != 0 && elements > std::numeric_limits<uint64_t>::max() / size))
      throw InputError(source, where, "shape " + shape.dump() + " overflows");
    elements *= size;
    t.shape.push_back(static_cast<int64_t>(size));
  }
  const nlohmann::json& offsets = j["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw InputError(source, where, "data_offsets must be [begin, end] in bytes");
  t.begin = offsets[0].get<uint64_t>();
  t.end = offsets[1].get<uint64_t>();
  const uint64_t element_bytes = dtype_bytes(t.dtype);
  if (t.end < t.begin || elements > std::numeric_limits<uint64_t>::max() / element_bytes ||
      t.end - t.begin != elements * element_bytes)
    throw InputError(
        source, where,
        "data_offsets " + offsets.dump() + " do not hold shape " + shape.dump() + " of " + dtype_name(t.dtype));
  return t;
}

void parse_metadata(const nlohmann::json& j, const std::string& source, SafetensorsFile* file) {
  if (!j.is_object()) throw InputError(source, kMetadataKey, "must be an object of strings");
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string()) throw InputError(source, std::string(kMetadataKey) + "." + key, "must be a string");
    file->metadata[key] = value.get<std::string>();
  }
}

// The format's rule: sorted by begin, the ranges tile [0, data bytes) with no gap or overlap.
void check_tiling(SafetensorsFile* file, const std::string& source) {
  std::sort(file->tensors.begin(), file->tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (const TensorEntry& t : file->tensors) {
    if (t.begin != at)
      throw InputError(source, "tensor \"" + t.name + "\"",
                       "starts at data byte " + std::to_string(t.begin) + ", expected " + std::to_string(at) +
                           " (tensors must tile the data section without gaps or overlaps)");
    at = t.end;
  }
  if (at != file->data_bytes())
    throw InputError(source, "data section",
                     "the tensors cover " + std::to_string(at) + " bytes, the file holds " +
                         std::to_string(file->data_bytes()) + " (truncated, or bytes appended)");
}

}  // namespace

const char* dtype_name(DType dtype) {
  for (const DTypeName& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

size_t dtype_bytes(DType dtype) {
  for (const DTypeName& d : kDTypes)
    if (d.dtype == dtype) return d.bytes;
  return 1;
}

uint64_t TensorEntry::elements() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

uint64_t TensorToWrite::bytes() const {
  uint64_t elements = 1;
  for (int64_t d : shape) elements *= static_cast<uint64_t>(d);
  return elements * dtype_bytes(dtype);
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  for (const TensorEntry& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

SafetensorsFile parse_safetensors(std::string bytes, const std::string& source) {
  if (bytes.size() < 8)
    throw InputError(source, "", "not a safetensors file: " + std::to_string(bytes.size()) + " bytes");
  const uint64_t header_bytes = read_le64(bytes);
  if (header_bytes > kMaxHeaderBytes || header_bytes > bytes.size() - 8)
    throw InputError(source, "header",
                     "declares " + std::to_string(header_bytes) + " bytes of header; the file holds " +
                         std::to_string(bytes.size() - 8) + " after the length (limit " +
                         std::to_string(kMaxHeaderBytes) + "): not a safetensors file, or truncated");
  SafetensorsFile file;
  file.data_start = 8 + header_bytes;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + static_cast<std::ptrdiff_t>(file.data_start));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source, "header", std::string("not JSON: ") + e.what());
  }
  if (!header.is_object()) throw InputError(source, "header", "must be a JSON object of tensors");
  file.bytes = std::move(bytes);
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey)
      parse_metadata(value, source, &file);
    else
      file.tensors.push_back(parse_entry(name, value, source));
  }
  check_tiling(&file, source);
  return file;
}

SafetensorsFile read_safetensors(const std::string& path, uint64_t max_file_bytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError(path, "", std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw InputError(path, "", "is not a regular file (a folder, pipe or device)");
  if (static_cast<uint64_t>(st.st_size) > max_file_bytes)
    throw InputError(path, "",
                     std::to_string(st.st_size) + " bytes, over the limit of " + std::to_string(max_file_bytes) +
                         " for a file of this kind");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "", std::string("cannot open: ") + std::strerror(errno));
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  if (!bytes.empty() && !in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw InputError(path, "", "read failed (the file shrank while being read?)");
  return parse_safetensors(std::move(bytes), path);
}

std::string serialize_safetensors(const std::vector<TensorToWrite>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t at = 0;
  for (const TensorToWrite& t : tensors) {
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {at, at + t.bytes()}}};
    at += t.bytes();
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  out.reserve(8 + json.size() + at);
  out += json;
  for (const TensorToWrite& t : tensors) out.append(static_cast<const char*>(t.data), static_cast<size_t>(t.bytes()));
  return out;
}

}  // namespace mvae::tensor_file
