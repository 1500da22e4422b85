#include "magenta/tf_checkpoint.h"

#include <leveldb/env.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/table.h>
#include <leveldb/table_builder.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "common/error.h"
#include "common/files.h"

namespace mvae::magenta {
namespace {

namespace fs = std::filesystem;

// ---- The protobuf wire format, for the header's and entries' few fields
// (tensorflow/core/protobuf/tensor_bundle.proto, tensor_shape.proto, versions.proto).
enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_key(std::string& out, int field, WireType type) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | type);
}
void put_varint_field(std::string& out, int field, uint64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, v);
}
void put_message_field(std::string& out, int field, const std::string& message) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, message.size());
  out += message;
}

// Reads one message's fields; `where` names the message in errors.
class WireReader {
 public:
  WireReader(const std::string& bytes, std::string file, std::string where)
      : p_(bytes.data()), end_(bytes.data() + bytes.size()), file_(std::move(file)), where_(std::move(where)) {}
  bool done() const { return p_ >= end_; }
  // The next field's number and wire type.
  std::pair<int, WireType> key() {
    const uint64_t k = varint();
    return {static_cast<int>(k >> 3), static_cast<WireType>(k & 7)};
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) fail("a number runs past the end");
      const uint8_t b = static_cast<uint8_t>(*p_++);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("a number longer than 10 bytes");
    return 0;
  }
  std::string bytes() {
    const uint64_t n = varint();
    if (n > static_cast<uint64_t>(end_ - p_)) fail("a field runs past the end");
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  uint32_t fixed32() {
    if (end_ - p_ < 4) fail("a field runs past the end");
    uint32_t v;
    std::memcpy(&v, p_, 4);
    p_ += 4;
    return v;
  }
  void skip(WireType type) {
    switch (type) {
      case kVarint: varint(); break;
      case kFixed64: advance(8); break;
      case kLengthDelimited: bytes(); break;
      case kFixed32: advance(4); break;
      default:
        fail("a field of wire type " + std::to_string(static_cast<int>(type)) + ", which protobuf does not define");
    }
  }
  [[noreturn]] void fail(const std::string& problem) const {
    throw InputError(file_, where_, "not a TensorFlow checkpoint index: " + problem);
  }

 private:
  void advance(int64_t n) {
    if (end_ - p_ < n) fail("a field runs past the end");
    p_ += n;
  }
  const char* p_;
  const char* end_;
  std::string file_, where_;
};

// Bounds on what an index may declare: a dimension (2^40 elements: more than any file holds) and
// a rank (TensorFlow's own limit is 254; Magenta's variables have 1 or 2).
constexpr uint64_t kMaxDimension = uint64_t{1} << 40;
constexpr size_t kMaxRank = 8;

struct BundleEntry {
  TfTensor tensor;  // dtype and shape; bytes filled from the data file
  int shard = 0;
  uint64_t offset = 0, size = 0;
  uint32_t crc32c = 0;
  bool sliced = false;
};

std::vector<int64_t> parse_shape(const std::string& message, const std::string& file, const std::string& where) {
  std::vector<int64_t> shape;
  WireReader r(message, file, where);
  while (!r.done()) {
    const auto [field, type] = r.key();
    if (field == 2 && type == kLengthDelimited) {  // Dim {int64 size = 1; string name = 2}
      const std::string dim_message = r.bytes();   // the reader points into it: it must outlive the reader
      WireReader dim(dim_message, file, where);
      int64_t size = 0;
      while (!dim.done()) {
        const auto [f, t] = dim.key();
        if (f == 1 && t == kVarint) {
          const uint64_t declared = dim.varint();
          // Unknown sizes (-1) and sizes no checkpoint of ours could hold are refused here, so that
          // products of sizes cannot overflow (elements() below).
          if (declared > kMaxDimension) r.fail("a dimension of " + std::to_string(static_cast<int64_t>(declared)));
          size = static_cast<int64_t>(declared);
        } else {
          dim.skip(t);
        }
      }
      if (shape.size() == kMaxRank) r.fail("a shape of more than " + std::to_string(kMaxRank) + " dimensions");
      shape.push_back(size);
    } else if (field == 3 && type == kVarint && r.varint() != 0) {
      r.fail("a shape of unknown rank");
    } else if (field != 3) {
      r.skip(type);
    }
  }
  return shape;
}

BundleEntry parse_entry(const std::string& message, const std::string& file, const std::string& name) {
  BundleEntry e;
  const std::string where = "variable " + name;
  WireReader r(message, file, where);
  int dtype = 0;
  while (!r.done()) {
    const auto [field, type] = r.key();
    if (field == 1 && type == kVarint)
      dtype = static_cast<int>(r.varint());
    else if (field == 2 && type == kLengthDelimited)
      e.tensor.shape = parse_shape(r.bytes(), file, where);
    else if (field == 3 && type == kVarint)
      e.shard = static_cast<int>(r.varint());
    else if (field == 4 && type == kVarint)
      e.offset = r.varint();
    else if (field == 5 && type == kVarint)
      e.size = r.varint();
    else if (field == 6 && type == kFixed32)
      e.crc32c = r.fixed32();
    else if (field == 7) {
      e.sliced = true;
      r.skip(type);
    } else
      r.skip(type);
  }
  switch (static_cast<TfDtype>(dtype)) {
    case TfDtype::kFloat:
    case TfDtype::kDouble:
    case TfDtype::kInt32:
    case TfDtype::kInt64:
    case TfDtype::kBool: e.tensor.dtype = static_cast<TfDtype>(dtype); break;
    default:
      throw InputError(file, where,
                       "TensorFlow dtype " + std::to_string(dtype) +
                           " is not one a MusicVAE checkpoint holds (float32, float64, int32, int64, bool)");
  }
  if (e.sliced) throw InputError(file, where, "a partitioned (sliced) variable: save the model without partitioning");
  return e;
}

struct Header {
  int num_shards = 1;
  bool big_endian = false;
};

Header parse_header(const std::string& message, const std::string& file) {
  Header h;
  WireReader r(message, file, "bundle header");
  while (!r.done()) {
    const auto [field, type] = r.key();
    if (field == 1 && type == kVarint)
      h.num_shards = static_cast<int>(r.varint());
    else if (field == 2 && type == kVarint)
      h.big_endian = r.varint() != 0;
    else
      r.skip(type);
  }
  return h;
}

// ---- LevelDB's table code over bytes in memory: the index is small, and our own file functions
// then do the reading and the atomic writing (with their error messages).
class MemoryFile : public leveldb::RandomAccessFile {
 public:
  explicit MemoryFile(const std::string& bytes) : bytes_(bytes) {}
  leveldb::Status Read(uint64_t offset, size_t n, leveldb::Slice* result, char*) const override {
    if (offset > bytes_.size()) return leveldb::Status::IOError("read past the end");
    *result = leveldb::Slice(bytes_.data() + offset, std::min<size_t>(n, bytes_.size() - offset));
    return leveldb::Status::OK();
  }

 private:
  const std::string& bytes_;
};

class MemorySink : public leveldb::WritableFile {
 public:
  leveldb::Status Append(const leveldb::Slice& data) override {
    bytes.append(data.data(), data.size());
    return leveldb::Status::OK();
  }
  leveldb::Status Close() override { return leveldb::Status::OK(); }
  leveldb::Status Flush() override { return leveldb::Status::OK(); }
  leveldb::Status Sync() override { return leveldb::Status::OK(); }
  std::string bytes;
};

std::string data_file(const std::string& prefix, int shard, int num_shards) {
  char suffix[64];
  std::snprintf(suffix, sizeof suffix, ".data-%05d-of-%05d", shard, num_shards);
  return prefix + suffix;
}

size_t dtype_size(TfDtype dtype) {
  switch (dtype) {
    case TfDtype::kDouble:
    case TfDtype::kInt64: return 8;
    case TfDtype::kBool: return 1;
    default: return 4;
  }
}

// ---- LevelDB allocates a block's declared size before it reads the block: every block of the
// table is checked against the bytes present first (table format: leveldb's doc/table_format.md).
// Blocks must be uncompressed, as TensorFlow's BundleWriter writes them.
struct BlockHandle {
  uint64_t offset = 0, size = 0;
};

// A varint64 at `*at` of `bytes` below `end`, or false when it runs past `end`.
bool read_varint(const std::string& bytes, size_t* at, size_t end, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64 && *at < end; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(bytes[(*at)++]);
    *value |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

uint32_t read_fixed32(const std::string& bytes, size_t at) {
  uint32_t v;
  std::memcpy(&v, bytes.data() + at, 4);
  return v;
}

// The block `handle` points at: within the table before its footer, with its 5-byte trailer, uncompressed.
void check_block(const std::string& bytes, const BlockHandle& handle, const std::string& path,
                 const std::string& what) {
  constexpr uint64_t kFooter = 48, kTrailer = 5;
  const uint64_t limit = bytes.size() - kFooter;
  if (handle.offset > limit || handle.size > limit - handle.offset || kTrailer > limit - handle.offset - handle.size)
    throw InputError(path, what,
                     "declares bytes " + std::to_string(handle.offset) + " + " + std::to_string(handle.size) +
                         " of a " + std::to_string(bytes.size()) + "-byte file: not a TensorFlow checkpoint index");
  if (bytes[handle.offset + handle.size] != 0)
    throw InputError(path, what, "is compressed: TensorFlow writes checkpoint indexes uncompressed");
}

void check_table_blocks(const std::string& bytes, const std::string& path) {
  if (bytes.size() < 48) throw InputError(path, "", "not a TensorFlow checkpoint index: shorter than its footer");
  size_t at = bytes.size() - 48;
  BlockHandle meta, index;
  if (!read_varint(bytes, &at, bytes.size() - 8, &meta.offset) ||
      !read_varint(bytes, &at, bytes.size() - 8, &meta.size) ||
      !read_varint(bytes, &at, bytes.size() - 8, &index.offset) ||
      !read_varint(bytes, &at, bytes.size() - 8, &index.size))
    throw InputError(path, "footer", "not a TensorFlow checkpoint index: its block handles are malformed");
  check_block(bytes, meta, path, "metaindex block");
  check_block(bytes, index, path, "index block");
  // The index block's entries: shared, unshared and value lengths, the key's tail, then the value,
  // a data block's handle; the restart array and its count close the block.
  if (index.size < 4) throw InputError(path, "index block", "shorter than its restart count");
  const uint64_t restarts = read_fixed32(bytes, index.offset + index.size - 4);
  if (restarts > (index.size - 4) / 4) throw InputError(path, "index block", "declares more restarts than it holds");
  const size_t end = index.offset + index.size - 4 - 4 * restarts;
  std::vector<size_t> entry_starts;  // LevelDB starts decoding at any restart point: each must be one of these
  for (at = index.offset; at < end;) {
    entry_starts.push_back(at - index.offset);
    uint64_t shared, unshared, value_length;
    BlockHandle data;
    if (!read_varint(bytes, &at, end, &shared) || !read_varint(bytes, &at, end, &unshared) ||
        !read_varint(bytes, &at, end, &value_length) || unshared > end - at)
      throw InputError(path, "index block", "an entry runs past the block");
    at += unshared;
    const size_t value_end = value_length > end - at ? end : at + value_length;
    if (!read_varint(bytes, &at, value_end, &data.offset) || !read_varint(bytes, &at, value_end, &data.size))
      throw InputError(path, "index block", "an entry's block handle is malformed");
    check_block(bytes, data, path, "data block at byte " + std::to_string(data.offset));
    at = value_end;
  }
  for (uint64_t r = 0; r < restarts; ++r)
    if (!std::binary_search(entry_starts.begin(), entry_starts.end(), read_fixed32(bytes, end + 4 * r)))
      throw InputError(path, "index block", "a restart point falls inside an entry");
}

// Every (name, entry) of an index file, the header checked.
std::pair<Header, std::vector<std::pair<std::string, BundleEntry>>> parse_index(const std::string& bytes,
                                                                                const std::string& index_path) {
  check_table_blocks(bytes, index_path);
  MemoryFile file(bytes);
  leveldb::Table* table_ptr = nullptr;
  leveldb::Options options;
  const leveldb::Status status = leveldb::Table::Open(options, &file, bytes.size(), &table_ptr);
  if (!status.ok()) throw InputError(index_path, "", "not a TensorFlow checkpoint index (" + status.ToString() + ")");
  std::unique_ptr<leveldb::Table> table(table_ptr);
  leveldb::ReadOptions read_options;
  read_options.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(table->NewIterator(read_options));
  it->SeekToFirst();
  if (!it->Valid() || !it->key().empty())
    throw InputError(index_path, "", "not a TensorFlow checkpoint index: no bundle header");
  const Header header = parse_header(it->value().ToString(), index_path);
  if (header.big_endian)
    throw InputError(index_path, "bundle header", "a big-endian checkpoint: convert it on the machine that wrote it");
  std::vector<std::pair<std::string, BundleEntry>> entries;
  for (it->Next(); it->Valid(); it->Next()) {
    const std::string name = it->key().ToString();
    entries.emplace_back(name, parse_entry(it->value().ToString(), index_path, name));
  }
  if (!it->status().ok()) throw InputError(index_path, "", "damaged index (" + it->status().ToString() + ")");
  return {header, std::move(entries)};
}

}  // namespace

std::string to_string(TfDtype dtype) {
  switch (dtype) {
    case TfDtype::kFloat: return "float32";
    case TfDtype::kDouble: return "float64";
    case TfDtype::kInt32: return "int32";
    case TfDtype::kInt64: return "int64";
    case TfDtype::kBool: return "bool";
  }
  return "?";
}

int64_t TfTensor::elements() const {
  // Each dimension is at most 2^40 (parse_shape); the product saturates instead of overflowing.
  constexpr int64_t kSaturated = int64_t{1} << 62;
  int64_t n = 1;
  for (const int64_t d : shape) n = (d != 0 && n > kSaturated / d) ? kSaturated : n * d;
  return n;
}

std::vector<float> TfTensor::floats() const {
  MVAE_CHECK(dtype == TfDtype::kFloat, "a " + to_string(dtype) + " tensor read as float32");
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

TfTensor TfTensor::of_floats(const std::vector<float>& values, std::vector<int64_t> shape) {
  TfTensor t;
  t.dtype = TfDtype::kFloat;
  t.shape = std::move(shape);
  MVAE_CHECK(t.elements() == static_cast<int64_t>(values.size()), "values do not fill the shape");
  t.bytes.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return t;
}

TfTensor TfTensor::of_int64(int64_t value) {
  TfTensor t;
  t.dtype = TfDtype::kInt64;
  t.bytes.assign(reinterpret_cast<const char*>(&value), sizeof value);
  return t;
}

std::string resolve_checkpoint_prefix(const std::string& path) {
  if (path.size() > 6 && path.compare(path.size() - 6, 6, ".index") == 0) return path.substr(0, path.size() - 6);
  if (fs::exists(path + ".index")) return path;
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".tar") == 0 && fs::is_regular_file(path))
    throw InputError(path, "",
                     "a tar archive (as Magenta releases its checkpoints): unpack it first (tar xf " + path +
                         ") and give the checkpoint prefix inside");
  if (fs::is_directory(path)) {
    const fs::path listing = fs::path(path) / "checkpoint";
    if (!fs::exists(listing))
      throw InputError(
          path, "",
          "a folder without a `checkpoint` file: give the checkpoint prefix (e.g. " + path + "/model.ckpt-100)");
    const std::string text = read_text_file(listing);
    const std::string key = "model_checkpoint_path:";
    const size_t at = text.find(key);
    const size_t open = at == std::string::npos ? at : text.find('"', at);
    const size_t close = open == std::string::npos ? open : text.find('"', open + 1);
    if (close == std::string::npos) throw InputError(listing.string(), "", "no model_checkpoint_path \"...\" line");
    fs::path prefix = text.substr(open + 1, close - open - 1);
    if (prefix.is_relative()) prefix = fs::path(path) / prefix;
    if (!fs::exists(prefix.string() + ".index"))
      throw InputError(listing.string(), "model_checkpoint_path",
                       "names " + prefix.string() + ", which has no .index file");
    return prefix.string();
  }
  throw InputError(path, "",
                   "no TensorFlow checkpoint here (no " + path + ".index, not a folder with a `checkpoint` file)");
}

namespace {

// The variables of a parsed index, their bytes from the data shard `shard_bytes` returns.
TfVariables read_variables(const std::string& index_bytes, const std::string& index_path,
                           const std::function<const std::vector<uint8_t>&(int shard, int num_shards)>& shard_bytes,
                           const std::function<std::string(int shard, int num_shards)>& shard_name) {
  auto [header, entries] = parse_index(index_bytes, index_path);
  TfVariables variables;
  for (auto& [name, e] : entries) {
    const std::string where = "variable " + name;
    if (e.shard < 0 || e.shard >= header.num_shards)
      throw InputError(index_path, where,
                       "shard " + std::to_string(e.shard) + " of " + std::to_string(header.num_shards));
    const std::vector<uint8_t>& data = shard_bytes(e.shard, header.num_shards);
    const std::string data_path = shard_name(e.shard, header.num_shards);
    if (e.offset > data.size() || e.size > data.size() - e.offset)  // without overflow
      throw InputError(data_path, where,
                       "bytes " + std::to_string(e.offset) + " + " + std::to_string(e.size) + " run past the end (" +
                           std::to_string(data.size()) + " bytes): a truncated copy");
    if (e.size != static_cast<uint64_t>(e.tensor.elements()) * dtype_size(e.tensor.dtype))
      throw InputError(index_path, where,
                       std::to_string(e.size) + " bytes do not hold its shape of " + to_string(e.tensor.dtype));
    e.tensor.bytes.assign(reinterpret_cast<const char*>(data.data() + e.offset), e.size);
    const uint32_t crc = masked_crc32c(reinterpret_cast<const uint8_t*>(e.tensor.bytes.data()), e.tensor.bytes.size());
    if (crc != e.crc32c) throw InputError(data_path, where, "CRC-32C differs from the index's: a damaged copy");
    variables.emplace(name, std::move(e.tensor));
  }
  return variables;
}

}  // namespace

TfVariables read_tf_checkpoint(const std::string& prefix) {
  const std::string index_path = prefix + ".index";
  const std::vector<uint8_t> raw = read_file_bytes(index_path, kMaxTextFileBytes);
  std::map<int, std::vector<uint8_t>> shards;
  const auto name = [&](int shard, int num_shards) { return data_file(prefix, shard, num_shards); };
  const auto bytes = [&](int shard, int num_shards) -> const std::vector<uint8_t>& {
    if (!shards.count(shard)) {
      const std::string data_path = name(shard, num_shards);
      if (!fs::exists(data_path))
        throw InputError(data_path, "", "missing: the checkpoint's data file (copy it beside " + index_path + ")");
      shards[shard] = read_file_bytes(data_path, kMaxDataFileBytes);
    }
    return shards[shard];
  };
  return read_variables(std::string(raw.begin(), raw.end()), index_path, bytes, name);
}

TfVariables parse_tf_checkpoint(const std::string& index_bytes, const std::vector<uint8_t>& data,
                                const std::string& name) {
  const auto shard_name = [&](int, int) { return name + ".data"; };
  const auto bytes = [&](int, int) -> const std::vector<uint8_t>& { return data; };
  return read_variables(index_bytes, name + ".index", bytes, shard_name);
}

void write_tf_checkpoint(const std::string& prefix, const TfVariables& variables) {
  std::string data;
  MemorySink index;
  leveldb::Options options;
  options.compression = leveldb::kNoCompression;  // what TensorFlow's BundleWriter writes
  leveldb::TableBuilder builder(options, &index);
  std::string header, version;
  put_varint_field(version, 1, 1);  // producer: tensor bundle version 1
  put_varint_field(header, 1, 1);   // one shard
  put_varint_field(header, 2, 0);   // little-endian
  put_message_field(header, 3, version);
  builder.Add("", header);
  for (const auto& [name, tensor] : variables) {  // a std::map: sorted, as a table must be
    std::string shape, entry;
    for (const int64_t d : tensor.shape) {
      std::string dim;
      put_varint_field(dim, 1, static_cast<uint64_t>(d));
      put_message_field(shape, 2, dim);
    }
    put_varint_field(entry, 1, static_cast<uint64_t>(tensor.dtype));
    put_message_field(entry, 2, shape);
    if (!data.empty()) put_varint_field(entry, 4, data.size());  // shard 0; offset 0 is protobuf's default
    put_varint_field(entry, 5, tensor.bytes.size());
    put_key(entry, 6, kFixed32);
    const uint32_t crc = masked_crc32c(reinterpret_cast<const uint8_t*>(tensor.bytes.data()), tensor.bytes.size());
    entry.append(reinterpret_cast<const char*>(&crc), 4);
    builder.Add(name, entry);
    data += tensor.bytes;
  }
  const leveldb::Status status = builder.Finish();
  MVAE_CHECK(status.ok(), status.ToString());
  write_file_atomic(data_file(prefix, 0, 1), data);
  write_file_atomic(prefix + ".index", index.bytes);
  const fs::path folder = fs::path(prefix).parent_path();
  write_file_atomic((folder.empty() ? fs::path(".") : folder) / "checkpoint",
                    "model_checkpoint_path: \"" + fs::path(prefix).filename().string() +
                        "\"\nall_model_checkpoint_paths: \"" + fs::path(prefix).filename().string() + "\"\n");
}

}  // namespace mvae::magenta
