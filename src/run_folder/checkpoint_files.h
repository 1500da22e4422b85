// Where a run folder keeps its checkpoints, and which one a program loads. No LibTorch: the
// trainer writes these folders (train/checkpoint.h), generate and evaluate only find them.
//
//   <run>/checkpoints/step-00000200/
//     model.safetensors          weights + model configuration + data representation (model_file/model_file.h)
//     optimizer.safetensors      Adam state (train/optimizer_file.h)
//     state.json                 step, consumed samples, world size, global batch, seed, best-so-far
//     rng-rank00000.safetensors  each rank's CPU generator state
//     checksums.json             CRC-32 and size of each file above
//     COMPLETE                   written last
//   <run>/checkpoints/latest   "step-00000200": the newest complete checkpoint
//   <run>/checkpoints/best     the checkpoint with the best validation metric so far
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mvae::run_folder {

constexpr const char* kModelFile = "model.safetensors";
// What checkpoints of earlier versions held instead (TorchScript archives, never opened here).
constexpr const char* kLegacyModelFile = "model.pt";
// Throws InputError, with the command that converts its model, when `folder` is such a checkpoint.
void refuse_legacy_checkpoint(const std::filesystem::path& folder);

std::string checkpoint_name(int64_t step);  // "step-00000200"
// Complete checkpoint folders (with COMPLETE) of a checkpoints/ folder, newest first.
std::vector<std::filesystem::path> complete_checkpoints(const std::filesystem::path& checkpoints_dir);
// The checkpoint name a link file (`latest`, `best`) holds, without its newline; "" when there is no link.
std::string linked_checkpoint(const std::filesystem::path& checkpoints_dir, const std::string& link);

// Records the CRC-32 and size of every file in `folder` in its checksums.json.
void write_checkpoint_checksums(const std::filesystem::path& folder);
// "" when every file checksums.json lists has its recorded size and CRC-32; otherwise what
// differs ("model.safetensors: CRC-32 1a2b3c4d, recorded 5e6f7a8b"). A folder without checksums.json
// (written before checksums existed) passes.
std::string verify_checkpoint(const std::filesystem::path& folder);

enum class CheckpointChoice { kLatest, kBest };

struct FoundCheckpoint {
  std::filesystem::path folder;          // empty: the run has no checkpoint yet
  std::vector<std::string> passed_over;  // newer checkpoints that failed verification, and why
  std::string link_note;                 // when `latest` or `best` was missing or named another folder: what and why
};

// The checkpoint to load from a run folder, or a checkpoint folder given directly. The complete
// checkpoint folders are the truth; `latest` and `best` are hints (a crash, a copy or a user can
// lose or break them). kLatest: the newest complete checkpoint that verifies (newer ones that do
// not are listed in passed_over). kBest: the one `best` names; when `best` is missing or names no
// complete checkpoint, the one the newest verified checkpoint's state.json records as best.
// Throws InputError when a checkpoint given directly or the best one fails verification, when no
// checkpoint verifies, or (kBest) when no validation has marked one yet.
FoundCheckpoint find_checkpoint(const std::filesystem::path& run_or_checkpoint,
                                CheckpointChoice choice = CheckpointChoice::kLatest);

// The model file for a run folder, a checkpoint folder or a model file; passed-over checkpoints
// are reported on stderr. Throws InputError when there is none.
std::string resolve_model_file(const std::string& path, CheckpointChoice choice = CheckpointChoice::kLatest);

// The model files of a run folder's `count` newest complete checkpoints that pass verification, newest first
// (checkpoint averaging: generate export --average). Throws InputError when the run holds fewer.
std::vector<std::string> newest_model_files(const std::string& run, int count);

}  // namespace mvae::run_folder
