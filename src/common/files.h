// Small file-system helpers: whole-file reads, checksums, atomic folder publication.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mvae {

std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);
std::string read_text_file(const std::filesystem::path& path);  // InputError when it cannot be read
// Writes a temporary file beside `path`, fsyncs it and renames it over `path`: `path` holds the
// old contents or the new, never a part. On failure the temporary file is removed and an
// InputError says why (a full disk as such).
void write_file_atomic(const std::filesystem::path& path, const std::string& contents);
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

// A sibling folder `<final>.tmp-<pid>` to build output in; publish() renames it into place.
// If the object dies unpublished, the temporary folder is removed: a half-written output
// never appears under the final name.
class StagingDir {
 public:
  // Refuses an existing non-empty `final_dir` unless `force`.
  StagingDir(std::filesystem::path final_dir, bool force);
  ~StagingDir();
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;

  const std::filesystem::path& path() const { return staging_; }
  void publish();

 private:
  std::filesystem::path final_, staging_;
  bool force_, published_ = false;
};

// What a killed StagingDir owner left beside `final_dir`: its "<final>.tmp-<pid>" folder (tens
// of MB) is removed; killed between publish()'s two renames, the previous output is still under
// "<final>.old-<pid>" with nothing under the final name, and is put back. Folders of processes
// still running are left alone. Returns one line per folder handled, saying what was done.
std::vector<std::string> clean_up_after_killed_staging(std::filesystem::path final_dir);

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

}  // namespace mvae
