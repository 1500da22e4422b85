// safetensors files (Hugging Face's format for tensors that is only data): an 8-byte little-endian
// header length N, N bytes of JSON naming each tensor's dtype, shape and byte range, then the
// bytes. Reading one cannot run code; every size it declares is checked against the bytes present
// before anything is allocated. The reader and the writer side by side; no LibTorch (the model
// files on top of it: model_file/model_file.h). Format: docs/data_format.md, "Model files".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mvae::tensor_file {

enum class DType { kF32, kF16, kBF16, kI64, kU8 };
const char* dtype_name(DType dtype);  // "F32", "F16", "BF16", "I64", "U8": safetensors' names
size_t dtype_bytes(DType dtype);

struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // bytes, relative to the start of the data section
  uint64_t elements() const;    // product of shape (checked against end - begin when read)
};

// Limits on what a file may declare: the JSON header is read whole, so its size is capped (as
// safetensors' own reader caps it at 100 MB); a file is read whole, so its size is capped by the
// caller (read_safetensors' max_file_bytes, named in the message).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kMaxDims = 8;

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;  // "__metadata__": string to string
  std::vector<TensorEntry> tensors;             // in the order of their bytes
  std::string bytes;                            // the whole file
  uint64_t data_start = 0;                      // 8 + N

  const TensorEntry* find(const std::string& name) const;  // nullptr when absent
  const char* data(const TensorEntry& t) const { return bytes.data() + data_start + t.begin; }
  const char* data_section() const { return bytes.data() + data_start; }
  uint64_t data_bytes() const { return bytes.size() - data_start; }
};

// Parses `bytes` (a whole file; `source` names it in errors). Throws InputError naming the
// source, the place and what is wrong: a header longer than the file, JSON that is not an object
// of tensors, an unknown dtype, a shape whose product overflows or disagrees with its byte range,
// ranges that overlap, leave gaps or run past the end (the format's rule: the tensors tile the
// data section exactly), metadata that is not strings.
SafetensorsFile parse_safetensors(std::string bytes, const std::string& source);
// Reads and parses a file of at most `max_file_bytes` (InputError naming the file, and the limit).
SafetensorsFile read_safetensors(const std::string& path, uint64_t max_file_bytes);

// A tensor to write: its bytes are copied from `data` (elements() * dtype_bytes(dtype) of them).
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  uint64_t bytes() const;  // elements x dtype_bytes
};
// The file's bytes: tensors in the order given, the header padded with spaces to a multiple of 8
// (so every tensor's bytes are 8-aligned, as safetensors' own writer does).
std::string serialize_safetensors(const std::vector<TensorToWrite>& tensors,
                                  const std::map<std::string, std::string>& metadata);

}  // namespace mvae::tensor_file
