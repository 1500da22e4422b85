#include "common/files.h"

#include <boost/crc.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <system_error>

#include "common/error.h"

namespace fs = std::filesystem;

namespace mvae {

std::vector<uint8_t> read_file_bytes(const fs::path& path, uint64_t max_bytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw InputError(path.string(), "", std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw InputError(path.string(), "", "is not a regular file (a folder, pipe or device): give a file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw InputError(path.string(), "",
                     std::to_string(st.st_size) + " bytes, over the limit of " + std::to_string(max_bytes) +
                         " bytes for a file of this kind: not a file this program reads");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "", std::string("cannot open: ") + std::strerror(errno));
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
    throw InputError(path.string(), "", "read failed (did the file shrink while it was read?)");
  return bytes;
}

std::string read_text_file(const fs::path& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxTextFileBytes);
  return std::string(bytes.begin(), bytes.end());
}

void fsync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string write_failure_reason(const fs::path& path, int error) {
  struct statvfs disk;
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (::statvfs(folder.c_str(), &disk) == 0) {
    const auto free_bytes = static_cast<unsigned long long>(disk.f_bavail) * disk.f_frsize;
    if (error == ENOSPC || free_bytes < (1ull << 20))
      return "no space left on the device (" + std::to_string(free_bytes) +
             " bytes free): free some, or write elsewhere";
  }
  if (error == EDQUOT) return "disk quota exceeded";
  return error != 0 ? std::strerror(error) : "write failed";
}

namespace {

// `contents` into `tmp`, fsynced; on failure `tmp` is removed and InputError names `path`.
void write_temporary(const fs::path& tmp, const fs::path& path, const std::string& contents) {
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw InputError(tmp.string(), "", std::string("cannot create: ") + write_failure_reason(tmp, errno));
  size_t done = 0;
  int error = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error != 0) {
    std::error_code ignored;
    fs::remove(tmp, ignored);  // nothing half-written stays behind; `path` keeps its old contents
    throw InputError(path.string(), "", "cannot write: " + write_failure_reason(path, error));
  }
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::string& contents) {
  if (fs::is_directory(path)) throw InputError(path.string(), "", "is a folder: name a file to write");
  const fs::path tmp = path.string() + ".tmp";
  write_temporary(tmp, path, contents);
  fs::rename(tmp, path);
}

void write_files_atomic(const std::vector<std::pair<fs::path, std::string>>& files) {
  std::vector<fs::path> written;
  for (const auto& [path, contents] : files)
    if (fs::is_directory(path)) throw InputError(path.string(), "", "is a folder: name a file to write");
  try {
    for (const auto& [path, contents] : files) {
      write_temporary(path.string() + ".tmp", path, contents);
      written.push_back(path.string() + ".tmp");
    }
  } catch (...) {
    std::error_code ignored;
    for (const fs::path& tmp : written) fs::remove(tmp, ignored);
    throw;
  }
  for (const auto& [path, contents] : files) fs::rename(path.string() + ".tmp", path);
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

uint32_t crc32c(const uint8_t* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

uint32_t masked_crc32c(const uint8_t* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string crc32_hex(uint32_t crc) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", crc);
  return buf;
}

namespace {

// True when `inner` is `outer` or lies inside it (both made absolute, links resolved where they exist).
bool is_within(const fs::path& inner, const fs::path& outer) {
  std::error_code ignored;
  const fs::path in = fs::weakly_canonical(fs::absolute(inner), ignored);
  const fs::path out = fs::weakly_canonical(fs::absolute(outer), ignored);
  const auto [end, _] = std::mismatch(out.begin(), out.end(), in.begin(), in.end());
  return end == out.end();
}

}  // namespace

StagingDir::StagingDir(fs::path final_dir, bool force, const std::vector<fs::path>& inputs)
    : final_(std::move(final_dir)), force_(force) {
  if (final_.has_filename() == false) final_ = final_.parent_path();  // "shards/" -> "shards"
  if (final_.empty() || final_.filename() == "." || final_.filename() == ".." || is_within(fs::current_path(), final_))
    throw UsageError("{out} " + final_.string() +
                     " is (or holds) the folder this program runs in, and the output replaces it whole: name a "
                     "folder of its own");
  for (const fs::path& input : inputs)
    if (is_within(input, final_))
      throw UsageError("{out} " + final_.string() +
                       (is_within(final_, input) ? " is the input" : " holds the input " + input.string()) +
                       ": replacing it would delete the input; write to a folder of its own");
  const fs::path parent = final_.has_parent_path() ? final_.parent_path() : fs::path(".");
  fs::create_directories(parent);
  lock_ = std::make_unique<FolderLock>(parent / ("." + final_.filename().string() + ".lock"),
                                       "{out} " + final_.string(), "wait for it to finish, or write to another folder");
  if (fs::exists(final_)) {
    if (!fs::is_directory(final_)) throw UsageError("{out} " + final_.string() + " exists and is not a folder");
    if (!fs::is_empty(final_) && !force_)
      throw UsageError("{out} " + final_.string() + " exists and is not empty; pass {force} to replace it");
  }
  staging_ = final_.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(staging_);
  fs::create_directories(staging_);
}

namespace {

// The pid in "<name>.tmp-<pid>" or "<name>.old-<pid>" when `entry` is such a sibling of `final`, else 0.
pid_t staging_pid(const fs::path& entry, const fs::path& final, const char* kind) {
  const std::string prefix = final.filename().string() + kind;
  const std::string name = entry.filename().string();
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return 0;
  const std::string digits = name.substr(prefix.size());
  if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<pid_t>(std::stol(digits));
}

bool process_is_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

}  // namespace

std::vector<std::string> clean_up_after_killed_staging(fs::path final_dir) {
  if (!final_dir.has_filename()) final_dir = final_dir.parent_path();
  std::vector<std::string> cleaned;
  const fs::path parent = final_dir.parent_path().empty() ? fs::path(".") : final_dir.parent_path();
  std::error_code ec;
  std::vector<std::pair<fs::path, pid_t>> staged, moved_aside;  // listed first: removing while listing is unspecified
  for (const auto& entry : fs::directory_iterator(parent, ec)) {
    if (const pid_t pid = staging_pid(entry.path(), final_dir, ".tmp-"); pid > 0 && process_is_gone(pid))
      staged.emplace_back(entry.path(), pid);
    if (const pid_t pid = staging_pid(entry.path(), final_dir, ".old-"); pid > 0 && process_is_gone(pid))
      moved_aside.emplace_back(entry.path(), pid);
  }
  for (const auto& [path, pid] : staged) {
    fs::remove_all(path, ec);
    cleaned.push_back(path.string() + " (unfinished output of process " + std::to_string(pid) + ", removed)");
  }
  for (const auto& [path, pid] : moved_aside) {
    if (!fs::exists(final_dir)) {
      fs::rename(path, final_dir);
      cleaned.push_back(path.string() + " (the previous output, put back as " + final_dir.string() + ")");
    } else {
      fs::remove_all(path, ec);
      cleaned.push_back(path.string() + " (replaced output, removed)");
    }
  }
  return cleaned;
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

FolderLock::FolderLock(const fs::path& lock_file, const std::string& what, const std::string& advice) {
  fd_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw InputError(lock_file.string(), "", std::string("cannot open the lock file: ") + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string holder;
    char buffer[256];
    const ssize_t n = ::pread(fd_, buffer, sizeof buffer - 1, 0);
    if (n > 0) holder.assign(buffer, static_cast<size_t>(n));
    holder.erase(holder.find_last_not_of(" \n") + 1);
    ::close(fd_);
    fd_ = -1;
    if (error != EWOULDBLOCK)
      throw InputError(lock_file.string(), "", std::string("cannot lock: ") + std::strerror(error));
    throw UsageError(what + " is in use by " + (holder.empty() ? std::string("another process") : holder) + " (lock " +
                     lock_file.string() + "): " + advice);
  }
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  const std::string holder = "pid " + std::to_string(::getpid()) + " on host " + host + " since " + when + "\n";
  // Best effort: the lock itself is what counts, the text only names the holder.
  [[maybe_unused]] const bool named = ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, holder.data(), holder.size(), 0) > 0;
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace mvae
