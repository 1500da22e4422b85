// Small file-system helpers: whole-file reads, checksums, atomic folder publication.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mvae {

std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);
std::string read_text_file(const std::filesystem::path& path);  // InputError when it cannot be read
void write_file_atomic(const std::filesystem::path& path, const std::string& contents);

// CRC-32 (zlib polynomial) of a whole file, read in 1 MiB blocks.
uint32_t file_crc32(const std::filesystem::path& path);
std::string crc32_hex(uint32_t crc);

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

}  // namespace mvae
