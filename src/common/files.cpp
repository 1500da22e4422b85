#include "common/files.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <system_error>

#include "common/error.h"

namespace fs = std::filesystem;

namespace mvae {

std::vector<uint8_t> read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "", std::string("cannot open: ") + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    throw InputError(path.string(), "", "read failed");
  return bytes;
}

std::string read_text_file(const fs::path& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_file_atomic(const fs::path& path, const std::string& contents) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(tmp.string() + ": cannot create: " + std::strerror(errno));
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    if (!out) throw std::runtime_error(tmp.string() + ": write failed");
  }
  fsync_path(tmp);
  fs::rename(tmp, path);
}

uint32_t file_crc32(const fs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw InputError(path.string(), "", std::string("cannot open: ") + std::strerror(errno));
  std::vector<unsigned char> block(1 << 20);
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t n;
  while ((n = std::fread(block.data(), 1, block.size(), f)) > 0) crc = crc32(crc, block.data(), static_cast<uInt>(n));
  std::fclose(f);
  return static_cast<uint32_t>(crc);
}

std::string crc32_hex(uint32_t crc) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

StagingDir::StagingDir(fs::path final_dir, bool force) : final_(std::move(final_dir)), force_(force) {
  if (final_.has_filename() == false) final_ = final_.parent_path();  // "shards/" -> "shards"
  if (fs::exists(final_)) {
    if (!fs::is_directory(final_)) throw UsageError("--out " + final_.string() + " exists and is not a folder");
    if (!fs::is_empty(final_) && !force_)
      throw UsageError("--out " + final_.string() + " exists and is not empty; pass --force to replace it");
  }
  staging_ = final_.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(staging_);
  fs::create_directories(staging_);
}

StagingDir::~StagingDir() {
  if (!published_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
}

void StagingDir::publish() {
  for (const auto& entry : fs::directory_iterator(staging_)) fsync_path(entry.path());
  fsync_path(staging_);
  if (fs::exists(final_)) {
    // Move the old output aside first so there is never a moment with a mix of both.
    const fs::path old = final_.string() + ".old-" + std::to_string(::getpid());
    fs::rename(final_, old);
    fs::rename(staging_, final_);
    fs::remove_all(old);
  } else {
    if (final_.has_parent_path()) fs::create_directories(final_.parent_path());
    fs::rename(staging_, final_);
  }
  fsync_path(final_.parent_path().empty() ? fs::path(".") : final_.parent_path());
  published_ = true;
}

}  // namespace mvae
