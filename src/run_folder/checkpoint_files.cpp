#include "run_folder/checkpoint_files.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "common/error.h"
#include "common/files.h"

namespace fs = std::filesystem;

namespace mvae::run_folder {
namespace {

constexpr const char* kChecksums = "checksums.json";
constexpr const char* kComplete = "COMPLETE";

}  // namespace

std::vector<fs::path> complete_checkpoints(const fs::path& dir) {
  std::vector<fs::path> done;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && fs::exists(e.path() / kComplete)) done.push_back(e.path());
  std::sort(done.rbegin(), done.rend());  // step-%08d names sort by step
  return done;
}

std::string linked_checkpoint(const fs::path& dir, const std::string& link) {
  if (!fs::exists(dir / link)) return "";
  std::string name = read_text_file(dir / link);
  name.erase(name.find_last_not_of(" \n\r\t") + 1);
  return name;
}

std::string checkpoint_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

void write_checkpoint_checksums(const fs::path& folder) {
  nlohmann::ordered_json files = nlohmann::ordered_json::object();
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.is_regular_file() && e.path().filename() != kChecksums && e.path().filename() != kComplete)
      paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths)
    files[p.filename().string()] = {{"bytes", fs::file_size(p)}, {"crc32", crc32_hex(file_crc32(p))}};
  write_file_atomic(folder / kChecksums, nlohmann::ordered_json{{"files", files}}.dump(2) + "\n");
}

std::string verify_checkpoint(const fs::path& folder) {
  const fs::path list = folder / kChecksums;
  if (!fs::exists(list)) return "";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(list));
  } catch (const std::exception& e) {
    return std::string(kChecksums) + ": unreadable (" + e.what() + ")";
  }
  const nlohmann::json files = j.value("files", nlohmann::json::object());
  for (const auto& [name, expected] : files.items()) {
    const fs::path p = folder / name;
    if (!fs::exists(p)) return name + ": missing";
    const uint64_t bytes = fs::file_size(p);
    if (bytes != expected.value("bytes", uint64_t{0}))
      return name + ": " + std::to_string(bytes) + " bytes, recorded " +
             std::to_string(expected.value("bytes", uint64_t{0}));
    const std::string crc = crc32_hex(file_crc32(p));
    if (crc != expected.value("crc32", std::string()))
      return name + ": CRC-32 " + crc + ", recorded " + expected.value("crc32", std::string());
  }
  return "";
}

namespace {

// The newest complete checkpoint of `dir` that verifies; the newer ones that do not go to
// passed_over. Empty when there is no complete checkpoint at all.
FoundCheckpoint newest_verified(const fs::path& dir) {
  FoundCheckpoint found;
  if (!fs::is_directory(dir)) return found;
  for (const fs::path& candidate : complete_checkpoints(dir)) {
    const std::string problem = verify_checkpoint(candidate);
    if (problem.empty()) {
      found.folder = candidate;
      return found;
    }
    found.passed_over.push_back(candidate.filename().string() + " (" + problem + ")");
  }
  if (found.passed_over.empty()) return found;
  std::string all;
  for (const auto& p : found.passed_over) all += (all.empty() ? "" : "; ") + p;
  throw InputError(dir.string(), "", "no checkpoint passes verification: " + all);
}

// The best checkpoint's name as the newest verified checkpoint's state.json records it ("" if none).
std::string recorded_best(const fs::path& newest) {
  try {
    const long long step = nlohmann::json::parse(read_text_file(newest / "state.json")).value("best_step", -1LL);
    return step >= 0 ? checkpoint_name(step) : "";
  } catch (const std::exception&) {
    return "";  // verified, so readable; an older format without best_step
  }
}

FoundCheckpoint find_best(const fs::path& dir) {
  const std::string name = fs::is_directory(dir) ? linked_checkpoint(dir, "best") : "";
  std::string chosen = name, note;
  if (name.empty() || !fs::exists(dir / name / kComplete)) {  // the link lost: what the checkpoints record
    const FoundCheckpoint newest = newest_verified(dir);
    chosen = newest.folder.empty() ? "" : recorded_best(newest.folder);
    if (chosen.empty() || !fs::exists(dir / chosen / kComplete)) {
      if (newest.folder.empty()) return FoundCheckpoint{};
      throw InputError((dir / "best").string(), "",
                       name.empty() ? "no best checkpoint yet (one is marked at the first validation)"
                                    : "names " + name + ", which is missing or incomplete, and " +
                                          newest.folder.filename().string() + " records no complete best");
    }
    note = (name.empty() ? std::string("best is missing") : "best names " + name + ", which is missing or incomplete") +
           "; using " + chosen + ", the best that " + newest.folder.filename().string() + "/state.json records";
  }
  const std::string problem = verify_checkpoint(dir / chosen);
  if (!problem.empty()) throw InputError((dir / chosen).string(), "", "best checkpoint is damaged: " + problem);
  FoundCheckpoint found;
  found.folder = dir / chosen;
  found.link_note = note;
  return found;
}

}  // namespace

void refuse_legacy_checkpoint(const fs::path& folder) {
  if (fs::exists(folder / kModelFile) || !fs::exists(folder / kLegacyModelFile)) return;
  throw InputError(folder.string(), "",
                   "is a checkpoint of the old format (TorchScript files, which can run code when they are read), "
                   "so it is not opened. If you trust where it came from, take its model out once with generate "
                   "convert-legacy --input " +
                       (folder / kLegacyModelFile).string() +
                       " --out model.safetensors, and train on with "
                       "--init-from model.safetensors");
}

namespace {

FoundCheckpoint find_checkpoint_folder(const fs::path& run_or_checkpoint, CheckpointChoice choice) {
  if (fs::exists(run_or_checkpoint / kComplete)) {
    const std::string problem = verify_checkpoint(run_or_checkpoint);
    if (!problem.empty()) throw InputError(run_or_checkpoint.string(), "", "checkpoint is damaged: " + problem);
    FoundCheckpoint found;
    found.folder = run_or_checkpoint;
    return found;
  }
  if (fs::exists(run_or_checkpoint / kModelFile) || fs::exists(run_or_checkpoint / kLegacyModelFile))
    throw InputError(run_or_checkpoint.string(), "",
                     "checkpoint is incomplete (no COMPLETE marker): it was being written when the run stopped");
  const fs::path dir = run_or_checkpoint / "checkpoints";
  if (choice == CheckpointChoice::kBest) return find_best(dir);
  FoundCheckpoint found = newest_verified(dir);
  const std::string name = fs::is_directory(dir) ? linked_checkpoint(dir, "latest") : "";
  if (found.folder.empty() && !name.empty())  // there were checkpoints: no silent restart from step 0
    throw InputError((dir / "latest").string(), "",
                     "names " + name + ", which is missing or incomplete, and no complete checkpoint is left");
  if (!found.folder.empty() && name != found.folder.filename().string()) {
    const bool failed = std::any_of(found.passed_over.begin(), found.passed_over.end(),
                                    [&](const std::string& p) { return p.rfind(name + " (", 0) == 0; });
    if (!failed)  // else the passed-over warning says why
      found.link_note =
          (name.empty() ? std::string("latest is missing or empty")
                        : "latest names " + name + ", which is " +
                              (fs::exists(dir / name / kComplete) ? "not the newest" : "missing or incomplete")) +
          "; using the newest complete checkpoint, " + found.folder.filename().string();
  }
  return found;
}

}  // namespace

FoundCheckpoint find_checkpoint(const fs::path& run_or_checkpoint, CheckpointChoice choice) {
  FoundCheckpoint found = find_checkpoint_folder(run_or_checkpoint, choice);
  if (!found.folder.empty()) refuse_legacy_checkpoint(found.folder);
  return found;
}

std::string resolve_model_file(const std::string& path, CheckpointChoice choice) {
  const fs::path p(path);
  if (!fs::exists(p)) throw InputError(path, "", "no such checkpoint, run folder or model file");
  if (fs::is_regular_file(p)) return p.string();
  const FoundCheckpoint found = find_checkpoint(p, choice);
  if (found.folder.empty()) throw InputError(path, "", "holds no complete checkpoint (has training written one yet?)");
  for (const auto& skipped : found.passed_over)
    std::fprintf(stderr, "warning: checkpoint %s failed verification; using %s\n", skipped.c_str(),
                 found.folder.filename().c_str());
  if (!found.link_note.empty()) std::fprintf(stderr, "warning: %s\n", found.link_note.c_str());
  return (found.folder / kModelFile).string();
}

std::vector<std::string> newest_model_files(const std::string& run, int count) {
  const fs::path dir = fs::path(run) / "checkpoints";
  if (!fs::is_directory(dir))
    throw InputError(run, "", "is not a run folder (no checkpoints/ inside): averaging takes a run's checkpoints");
  std::vector<std::string> files;
  for (const fs::path& candidate : complete_checkpoints(dir)) {
    if (static_cast<int>(files.size()) == count) break;
    const std::string problem = verify_checkpoint(candidate);
    if (problem.empty()) {
      refuse_legacy_checkpoint(candidate);
      files.push_back((candidate / kModelFile).string());
    } else
      std::fprintf(stderr, "warning: checkpoint %s failed verification (%s); not averaged\n",
                   candidate.filename().c_str(), problem.c_str());
  }
  if (static_cast<int>(files.size()) < count)
    throw InputError(dir.string(), "",
                     "holds " + std::to_string(files.size()) + " verified checkpoint(s), and " + std::to_string(count) +
                         " were asked to be averaged: average fewer, or train with --keep-checkpoints " +
                         std::to_string(count) + " or more");
  return files;
}

}  // namespace mvae::run_folder
