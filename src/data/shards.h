// Sharded HDF5 storage of drum windows: one writer call per shard, and a reader over a folder
// of shards with its manifest. The schema is in docs/data_format.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "data/drum_tokenizer.h"
#include "data/representation.h"

namespace mvae::data {

// A window with where it came from, as stored in a shard row.
struct StoredWindow {
  const DrumWindow* window;
  int32_t file_id;  // index into the manifest's "files"
};

// Writes one shard file. `compression` is the deflate level (0 = none). The file is written
// without timestamps, so the same rows give the same bytes.
void write_shard(const std::filesystem::path& path, const std::string& split, int shard_index,
                 const std::vector<StoredWindow>& rows, const DataRepresentation& representation, int compression);

// A source file named by the manifest, with its labels.
struct FileRecord {
  std::string path, split, drummer, style, beat_type;
  int bpm = 0;
};

// Opens a shard folder written by `preprocess`: checks the manifest's format version, every
// shard's size and CRC-32 (when `verify_checksums`), and that each shard's attributes agree
// with the manifest. Windows of a split are addressed by a global index 0..size(split)-1.
// Not thread-safe (HDF5 is built without thread safety): one thread reads at a time. A thread
// that claims the set (the trainer's batch loader does) becomes the only one allowed to read;
// a read from any other thread then fails with an InternalError instead of racing in HDF5.
class ShardSet {
 public:
  explicit ShardSet(const std::filesystem::path& folder, bool verify_checksums = true);
  ~ShardSet();
  ShardSet(const ShardSet&) = delete;
  ShardSet& operator=(const ShardSet&) = delete;

  const DataRepresentation& representation() const { return representation_; }
  const std::vector<FileRecord>& files() const { return files_; }
  const std::filesystem::path& folder() const { return folder_; }
  int64_t size(const std::string& split) const;
  bool has_split(const std::string& split) const { return splits_.count(split) > 0; }

  // Tokens of `indices` into `out` ([indices.size(), T], row-major).
  void read_tokens(const std::string& split, const std::vector<int64_t>& indices, uint16_t* out);
  // Velocities ([indices.size(), T, 9] MIDI 0..127) and offsets (same shape) of `indices`.
  void read_expressive(const std::string& split, const std::vector<int64_t>& indices, uint8_t* velocities,
                       float* offsets);
  // One window whole (its qpm is not stored: left at the default; the file's tempo is in files()).
  DrumWindow read_window(const std::string& split, int64_t index);
  // Where a window came from (cheap: two integers, no window data).
  struct Source {
    int32_t file_id = 0, start_bar = 0;
  };
  Source source(const std::string& split, int64_t index);

  // Only the calling thread may read from now on, until release_reader().
  void claim_reader();
  void release_reader();

  // Keeps each array a read touches (a split's tokens, or its velocities and offsets) in memory,
  // decompressed, from that first read on, while all resident arrays together fit in `bytes`;
  // reads of a resident array are then memory copies instead of one HDF5 read per window
  // (measured: docs/benchmarks.md, "Input pipeline"). 0, the default, reads every window from
  // the files. An array that does not fit stays on the files.
  void set_resident_budget(int64_t bytes);
  int64_t resident_bytes() const { return resident_bytes_; }

 private:
  void check_reader() const;
  struct Shard;
  struct Split {
    std::vector<std::unique_ptr<Shard>> shards;
    std::vector<int64_t> first_row;  // global index of each shard's row 0
    int64_t rows = 0;
    // Whole arrays by dataset name, [rows, row bytes]; an empty one was refused by the budget.
    std::map<std::string, std::vector<unsigned char>> resident;
  };
  Split& split_named(const std::string& split);
  std::pair<Shard*, int64_t> locate(const std::string& split, int64_t index);
  // Rows of dataset `name` of `split`, all of them in memory (read on first use), or nullptr when
  // the budget refuses them (or them and `also_needed` more bytes).
  const unsigned char* resident_array(Split& split, const char* name, int64_t type, size_t row_bytes,
                                      int64_t also_needed = 0);

  std::filesystem::path folder_;
  DataRepresentation representation_;
  std::vector<FileRecord> files_;
  std::map<std::string, Split> splits_;
  std::atomic<std::thread::id> reader_{};  // default id: any thread may read
  int64_t resident_budget_ = 0, resident_bytes_ = 0;
};

}  // namespace mvae::data
