#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "data/hdf5_util.h"
#include "data/shards.h"

namespace fs = std::filesystem;

namespace mvae::data {

struct ShardSet::Shard {
  std::string path;
  int64_t rows = 0;
  int window_steps = 0;
  int vocab_size = 0;
  h5::Handle file, tokens, velocities, offsets, file_id, piece, start_bar;

  h5::Handle open_dataset(const char* name, std::vector<hsize_t> expected_dims) {
    h5::Handle dapl(H5Pcreate(H5P_DATASET_ACCESS));
    // A chunk cache of 16 MiB per dataset: random row reads hit memory after the first touch.
    H5Pset_chunk_cache(dapl.get(), 1021, 16 << 20, 1.0);
    h5::Handle d(H5Dopen2(file.get(), name, dapl.get()));
    h5::check(d.get(), path, std::string("dataset ") + name);
    h5::Handle space(H5Dget_space(d.get()));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    if (dims != expected_dims) {
      std::ostringstream got, want;
      for (auto v : dims) got << "[" << v << "]";
      for (auto v : expected_dims) want << "[" << v << "]";
      throw InputError(path, std::string("dataset ") + name, "shape " + got.str() + ", expected " + want.str());
    }
    return d;
  }

  const h5::Handle& dataset(const std::string& name) const {
    if (name == "tokens") return tokens;
    if (name == "velocities") return velocities;
    MVAE_CHECK(name == "offsets", "no resident copy of dataset " + name);
    return offsets;
  }

  // Reads `count` consecutive rows starting at `row` of a dataset whose rows hold `row_elems`.
  void read_rows(const h5::Handle& d, const char* name, hid_t mem_type, int64_t row, int64_t count, void* out) {
    h5::Handle space(H5Dget_space(d.get()));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(rank), start(rank, 0), size(rank);
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    size = dims;
    start[0] = static_cast<hsize_t>(row);
    size[0] = static_cast<hsize_t>(count);
    h5::check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, size.data(), nullptr), path,
              std::string("select ") + name);
    h5::Handle mem(H5Screate_simple(rank, size.data(), nullptr));
    h5::check(H5Dread(d.get(), mem_type, mem.get(), space.get(), H5P_DEFAULT, out), path,
              std::string("read ") + name + " row " + std::to_string(row));
    if (d.get() == tokens.get()) check_token_ids(row, count, static_cast<const uint16_t*>(out));
  }

  // A token id the model has no embedding for would end training in LibTorch's index check,
  // with a backtrace and no file named: refused here, where the row is known.
  void check_token_ids(int64_t row, int64_t count, const uint16_t* ids) const {
    for (int64_t i = 0; i < count * window_steps; ++i)
      if (ids[i] >= vocab_size)
        throw InputError(
            path, "tokens row " + std::to_string(row + i / window_steps) + " step " + std::to_string(i % window_steps),
            "token id " + std::to_string(ids[i]) + " is outside the vocabulary (0.." + std::to_string(vocab_size - 1) +
                ") the manifest gives: the shard is damaged or from another representation; run preprocess again");
  }
};

namespace {

nlohmann::json read_manifest(const fs::path& folder) {
  const fs::path path = folder / "manifest.json";
  if (!fs::exists(folder)) throw InputError(folder.string(), "", "no such shard folder");
  if (!fs::exists(path))
    throw InputError(path.string(), "", "missing: not a shard folder written by preprocess, or an unfinished one");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  try {
    return nlohmann::json::parse(text.str());
  } catch (const std::exception& e) {
    throw InputError(path.string(), "", std::string("invalid JSON: ") + e.what());
  }
}

}  // namespace

ShardSet::ShardSet(const fs::path& folder, bool verify_checksums) : folder_(folder) {
  h5::silence_errors();
  const nlohmann::json manifest = read_manifest(folder);
  const std::string manifest_name = (folder / "manifest.json").string();
  try {
    const int version = manifest.at("format_version").get<int>();
    if (version != kShardFormatVersion)
      throw InputError(manifest_name, "format_version",
                       "is " + std::to_string(version) + "; this build reads version " +
                           std::to_string(kShardFormatVersion) + " (re-run preprocess)");
    representation_ = DataRepresentation::from_json(manifest.at("representation").dump(), manifest_name);
    for (const auto& f : manifest.at("files")) {
      FileRecord r;
      r.path = f.at("path").get<std::string>();
      r.split = f.at("split").get<std::string>();
      r.drummer = f.value("drummer", "");
      r.style = f.value("style", "");
      r.beat_type = f.value("beat_type", "");
      r.bpm = f.value("bpm", 0);
      files_.push_back(std::move(r));
    }
    for (const auto& [split_name, split_json] : manifest.at("splits").items()) {
      Split& split = splits_[split_name];
      for (const auto& s : split_json.at("shards")) {
        auto shard = std::make_unique<Shard>();
        const fs::path path = folder / s.at("file").get<std::string>();
        shard->path = path.string();
        shard->rows = s.at("rows").get<int64_t>();
        shard->window_steps = representation_.window_steps();
        if (!fs::exists(path)) throw InputError(shard->path, "", "shard listed in the manifest is missing");
        const auto bytes = static_cast<int64_t>(fs::file_size(path));
        if (bytes != s.at("bytes").get<int64_t>())
          throw InputError(shard->path, "",
                           "size " + std::to_string(bytes) + " bytes, manifest says " +
                               std::to_string(s.at("bytes").get<int64_t>()) + " (truncated or replaced)");
        if (verify_checksums) {
          const std::string crc = crc32_hex(file_crc32(path));
          if (crc != s.at("crc32").get<std::string>())
            throw InputError(
                shard->path, "",
                "CRC-32 " + crc + " does not match the manifest's " + s.at("crc32").get<std::string>() + " (corrupt)");
        }
        h5::Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
        H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
        shard->file = h5::Handle(H5Fopen(shard->path.c_str(), H5F_ACC_RDONLY, fapl.get()));
        h5::check(shard->file.get(), shard->path, "open");
        const hid_t root = shard->file.get();
        const auto expect = [&](const char* attr, long long want) {
          const long long got = h5::read_int_attribute(root, attr, shard->path);
          if (got != want)
            throw InputError(shard->path, std::string("attribute ") + attr,
                             "is " + std::to_string(got) + ", manifest says " + std::to_string(want));
        };
        expect("format_version", kShardFormatVersion);
        expect("bars", representation_.bars);
        expect("vocab_size", representation_.vocab_size);
        expect("rows", shard->rows);
        const hsize_t n = static_cast<hsize_t>(shard->rows), T = static_cast<hsize_t>(shard->window_steps);
        const hsize_t C = static_cast<hsize_t>(representation_.num_classes);
        shard->tokens = shard->open_dataset("tokens", {n, T});
        shard->vocab_size = representation_.vocab_size;
        shard->velocities = shard->open_dataset("velocities", {n, T, C});
        shard->offsets = shard->open_dataset("offsets", {n, T, C});
        shard->file_id = shard->open_dataset("file_id", {n});
        shard->piece = shard->open_dataset("piece", {n});
        shard->start_bar = shard->open_dataset("start_bar", {n});
        split.first_row.push_back(split.rows);
        split.rows += shard->rows;
        split.shards.push_back(std::move(shard));
      }
      if (split.rows != split_json.at("windows").get<int64_t>())
        throw InputError(
            manifest_name, "splits." + split_name,
            "shards hold " + std::to_string(split.rows) + " rows, manifest says " + split_json.at("windows").dump());
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(manifest_name, "", std::string("malformed manifest: ") + e.what());
  }
}

ShardSet::~ShardSet() = default;

int64_t ShardSet::size(const std::string& split) const {
  const auto it = splits_.find(split);
  return it == splits_.end() ? 0 : it->second.rows;
}

void ShardSet::claim_reader() { reader_ = std::this_thread::get_id(); }
void ShardSet::release_reader() { reader_ = std::thread::id(); }

void ShardSet::check_reader() const {
  const std::thread::id owner = reader_;
  MVAE_CHECK(owner == std::thread::id() || owner == std::this_thread::get_id(),
             folder_.string() + " is read by another thread (HDF5 is not thread-safe): read through its owner");
}

ShardSet::Split& ShardSet::split_named(const std::string& split) {
  check_reader();
  const auto it = splits_.find(split);
  if (it == splits_.end()) {
    std::string known;
    for (const auto& kv : splits_) known += (known.empty() ? "" : ", ") + kv.first;
    throw UsageError("split '" + split + "' is not in the shard folder " + folder_.string() + " (it has: " + known +
                     ")");
  }
  return it->second;
}

namespace {

void check_index(int64_t index, int64_t rows, const std::string& split) {
  MVAE_CHECK(index >= 0 && index < rows,
             "window " + std::to_string(index) + " of split '" + split + "' (" + std::to_string(rows) + " windows)");
}

// Copies rows `indices` of a resident array ([rows, row_bytes]) to `out`, in the order given.
void gather_rows(const unsigned char* array, size_t row_bytes, int64_t rows, const std::vector<int64_t>& indices,
                 const std::string& split, void* out) {
  auto* to = static_cast<unsigned char*>(out);
  for (size_t i = 0; i < indices.size(); ++i) {
    check_index(indices[i], rows, split);
    std::memcpy(to + i * row_bytes, array + static_cast<size_t>(indices[i]) * row_bytes, row_bytes);
  }
}

}  // namespace

std::pair<ShardSet::Shard*, int64_t> ShardSet::locate(const std::string& split, int64_t index) {
  Split& s = split_named(split);
  check_index(index, s.rows, split);
  const size_t k =
      static_cast<size_t>(std::upper_bound(s.first_row.begin(), s.first_row.end(), index) - s.first_row.begin() - 1);
  return {s.shards[k].get(), index - s.first_row[k]};
}

void ShardSet::set_resident_budget(int64_t bytes) {
  resident_budget_ = std::max<int64_t>(bytes, 0);
  for (auto& [name, split] : splits_)  // arrays refused before may fit now
    for (auto it = split.resident.begin(); it != split.resident.end();)
      it = it->second.empty() ? split.resident.erase(it) : std::next(it);
}

const unsigned char* ShardSet::resident_array(Split& s, const char* name, int64_t type, size_t row_bytes,
                                              int64_t also_needed) {
  const auto found = s.resident.find(name);
  if (found != s.resident.end()) return found->second.empty() ? nullptr : found->second.data();
  const int64_t need = s.rows * static_cast<int64_t>(row_bytes);
  if (need == 0 || resident_bytes_ + need + also_needed > resident_budget_) {
    s.resident[name];  // refused: read from the files
    return nullptr;
  }
  std::vector<unsigned char> rows(static_cast<size_t>(need));  // stored only once complete (a read can fail)
  for (size_t k = 0; k < s.shards.size(); ++k) {               // one read of each whole shard: its chunks in file order
    Shard& shard = *s.shards[k];
    shard.read_rows(shard.dataset(name), name, type, 0, shard.rows,
                    rows.data() + s.first_row[k] * static_cast<int64_t>(row_bytes));
  }
  resident_bytes_ += need;
  return (s.resident[name] = std::move(rows)).data();
}

void ShardSet::read_tokens(const std::string& split, const std::vector<int64_t>& indices, uint16_t* out) {
  const int64_t T = representation_.window_steps();
  Split& s = split_named(split);
  const size_t row_bytes = static_cast<size_t>(T) * sizeof(uint16_t);
  if (const unsigned char* rows = resident_array(s, "tokens", H5T_NATIVE_UINT16, row_bytes))
    return gather_rows(rows, row_bytes, s.rows, indices, split, out);
  for (size_t i = 0; i < indices.size(); ++i) {
    auto [shard, row] = locate(split, indices[i]);
    shard->read_rows(shard->tokens, "tokens", H5T_NATIVE_UINT16, row, 1, out + static_cast<int64_t>(i) * T);
  }
}

void ShardSet::read_expressive(const std::string& split, const std::vector<int64_t>& indices, uint8_t* velocities,
                               float* offsets) {
  const int64_t values = static_cast<int64_t>(representation_.window_steps()) * representation_.num_classes;
  Split& s = split_named(split);
  // Both arrays or neither: velocities alone would only take memory.
  const unsigned char* resident_velocities =
      resident_array(s, "velocities", H5T_NATIVE_UINT8, static_cast<size_t>(values),
                     s.rows * values * static_cast<int64_t>(sizeof(float)));
  const unsigned char* resident_offsets =
      resident_velocities ? resident_array(s, "offsets", H5T_NATIVE_FLOAT, static_cast<size_t>(values) * sizeof(float))
                          : nullptr;
  if (resident_offsets) {
    gather_rows(resident_velocities, static_cast<size_t>(values), s.rows, indices, split, velocities);
    gather_rows(resident_offsets, static_cast<size_t>(values) * sizeof(float), s.rows, indices, split, offsets);
    return;
  }
  for (size_t i = 0; i < indices.size(); ++i) {
    auto [shard, row] = locate(split, indices[i]);
    shard->read_rows(shard->velocities, "velocities", H5T_NATIVE_UINT8, row, 1,
                     velocities + static_cast<int64_t>(i) * values);
    shard->read_rows(shard->offsets, "offsets", H5T_NATIVE_FLOAT, row, 1, offsets + static_cast<int64_t>(i) * values);
  }
}

DrumWindow ShardSet::read_window(const std::string& split, int64_t index) {
  auto [shard, row] = locate(split, index);
  const size_t T = static_cast<size_t>(representation_.window_steps());
  const size_t C = static_cast<size_t>(representation_.num_classes);
  DrumWindow w;
  w.tokens.resize(T);
  w.velocities.resize(T * C);
  w.offsets.resize(T * C);
  shard->read_rows(shard->tokens, "tokens", H5T_NATIVE_UINT16, row, 1, w.tokens.data());
  shard->read_rows(shard->velocities, "velocities", H5T_NATIVE_UINT8, row, 1, w.velocities.data());
  shard->read_rows(shard->offsets, "offsets", H5T_NATIVE_FLOAT, row, 1, w.offsets.data());
  shard->read_rows(shard->piece, "piece", H5T_NATIVE_INT32, row, 1, &w.piece);
  shard->read_rows(shard->start_bar, "start_bar", H5T_NATIVE_INT32, row, 1, &w.start_bar);
  return w;
}

ShardSet::Source ShardSet::source(const std::string& split, int64_t index) {
  auto [shard, row] = locate(split, index);
  Source s;
  shard->read_rows(shard->file_id, "file_id", H5T_NATIVE_INT32, row, 1, &s.file_id);
  shard->read_rows(shard->start_bar, "start_bar", H5T_NATIVE_INT32, row, 1, &s.start_bar);
  return s;
}

}  // namespace mvae::data
