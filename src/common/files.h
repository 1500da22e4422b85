// Small file-system helpers: whole-file reads, checksums, atomic folder publication.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mvae {

// Limits on a whole file read into memory, by kind (docs/reliability.md, "Resource limits"): far
// above any real file of the kind, so that a stranger's file (or a sparse one) cannot set the
// memory a program asks for.
constexpr uint64_t kMaxTextFileBytes = uint64_t{64} << 20;  // JSON configs, manifests, state, metrics lines
constexpr uint64_t kMaxMidiFileBytes = uint64_t{16} << 20;  // the largest Groove file is 0.3 MB
constexpr uint64_t kMaxDataFileBytes = uint64_t{16} << 30;  // a TensorFlow checkpoint's weights

// The whole file; InputError naming it when it cannot be read, is not a regular file (a folder, a
// pipe, a device) or is larger than `max_bytes`.
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path, uint64_t max_bytes);
std::string read_text_file(const std::filesystem::path& path);  // at most kMaxTextFileBytes
// Writes a temporary file beside `path`, fsyncs it and renames it over `path`: `path` holds the
// old contents or the new, never a part. On failure the temporary file is removed and an
// InputError says why (a full disk as such).
void write_file_atomic(const std::filesystem::path& path, const std::string& contents);
// Files that belong together (latents and their labels): every one is written to a temporary file
// and fsynced before any is renamed into place, so an error (a full disk) leaves all of them as
// they were; only a crash within the few microseconds of the renames can leave some renamed.
void write_files_atomic(const std::vector<std::pair<std::filesystem::path, std::string>>& files);
// Why writing `path` failed with `error` (an errno, 0 if unknown): "no space left on the device
// (N bytes free): ..." when its file system is (nearly) full, else the system's words.
std::string write_failure_reason(const std::filesystem::path& path, int error);

// CRC-32 (zlib polynomial) of a whole file, read in 1 MiB blocks.
uint32_t file_crc32(const std::filesystem::path& path);
std::string crc32_hex(uint32_t crc);
// CRC-32C (Castagnoli), and masked as TensorFlow stores it in TFRecords and checkpoint indexes
// (rotated and offset, so a CRC over bytes that hold CRCs stays useful).
uint32_t crc32c(const uint8_t* data, size_t size);
uint32_t masked_crc32c(const uint8_t* data, size_t size);

// fsync a file or a folder so a rename that follows is durable.
void fsync_path(const std::filesystem::path& path);

// An exclusive advisory lock (flock) on `lock_file`, created if needed, held while the object
// lives; the OS releases it when the process ends, however it ends (kill -9 included), so a
// stale lock cannot outlive its holder. The file says who holds it ("pid 123 on host h since
// 2026-12-01T09:00:00Z"); it is never deleted (deleting a lock file races with the next taker).
class FolderLock {
 public:
  // Takes the lock; throws UsageError("<what> is in use by pid ... on host ... since ...: <advice>")
  // when another process holds it, InputError when the file cannot be opened.
  FolderLock(const std::filesystem::path& lock_file, const std::string& what, const std::string& advice);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// A sibling folder `<final>.tmp-<pid>` to build output in; publish() renames it into place.
// If the object dies unpublished, the temporary folder is removed: a half-written output
// never appears under the final name. Every program that replaces a folder uses it.
class StagingDir {
 public:
  // Refuses an existing non-empty `final_dir` unless `force`; with or without it, a `final_dir`
  // that is or holds one of `inputs` (replacing it would delete them) or the working folder. One
  // writer per output folder: holds a FolderLock on the hidden sibling `.<final>.lock` while it
  // lives, so a second process writing the same folder is refused, naming the first.
  StagingDir(std::filesystem::path final_dir, bool force, const std::vector<std::filesystem::path>& inputs = {});
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::filesystem::path& path() const { return staging_; }
  void publish();

 private:
  std::filesystem::path final_, staging_;
  bool force_, published_ = false;
  std::unique_ptr<FolderLock> lock_;
};

// What a killed StagingDir owner left beside `final_dir`: its "<final>.tmp-<pid>" folder (tens
// of MB) is removed; killed between publish()'s two renames, the previous output is still under
// "<final>.old-<pid>" with nothing under the final name, and is put back. Folders of processes
// still running are left alone. Returns one line per folder handled, saying what was done.
std::vector<std::string> clean_up_after_killed_staging(std::filesystem::path final_dir);

}  // namespace mvae
