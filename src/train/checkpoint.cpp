#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "common/error.h"
#include "common/files.h"
#include "model_file/model_file.h"
#include "run_folder/checkpoint_files.h"
#include "train/optimizer_file.h"

namespace fs = std::filesystem;

namespace mvae::train {
namespace {

constexpr const char* kOptimizerFile = "optimizer.safetensors";

std::string rng_name(int rank) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "rng-rank%05d.safetensors", rank);
  return buf;
}

// Keeps the newest `keep` complete checkpoints and the one `best` names.
void prune(const fs::path& dir, int keep) {
  const std::string best = run_folder::linked_checkpoint(dir, "best");
  const std::vector<fs::path> done = run_folder::complete_checkpoints(dir);  // newest first
  for (size_t i = static_cast<size_t>(keep); i < done.size(); ++i)
    if (done[i].filename() != best) fs::remove_all(done[i]);
}

// Rank 0's files of a checkpoint into its temporary folder `tmp`, each written atomically, then
// their checksums.
void write_checkpoint_folder(const fs::path& tmp, const TrainingState& state, model::MusicVAE& model,
                             torch::optim::Adam& optimizer, const data::DataRepresentation& representation,
                             const std::string& options_json) {
  model_file::save_model((tmp / run_folder::kModelFile).string(), model, representation);
  save_adam((tmp / kOptimizerFile).string(), optimizer, *model);
  nlohmann::ordered_json j;
  j["step"] = state.step;
  j["consumed_samples"] = state.consumed_samples;
  j["world_size"] = state.world_size;
  j["global_batch"] = state.global_batch;
  j["seed"] = state.seed;
  if (state.best_step >= 0) {
    j["best_value"] = state.best_value;
    j["best_step"] = state.best_step;
    j["evals_since_best"] = state.evals_since_best;
  }
  j["options"] = nlohmann::json::parse(options_json);
  write_file_atomic(tmp / "state.json", j.dump(2) + "\n");
  run_folder::write_checkpoint_checksums(tmp);
}

}  // namespace

void save_checkpoint(const fs::path& run, const TrainingState& state, model::MusicVAE& model,
                     torch::optim::Adam& optimizer, const data::DataRepresentation& representation,
                     const std::string& options_json, comm::Communicator& comm, int keep, bool is_best) {
  const fs::path dir = run / "checkpoints";
  const std::string name = run_folder::checkpoint_name(state.step);
  const fs::path final_path = dir / name;
  const fs::path tmp = dir / (name + ".tmp");
  if (comm.rank() == 0) {
    fs::create_directories(dir);
    fs::remove_all(tmp);
    fs::create_directories(tmp);
  }
  comm.barrier();
  try {
    // every rank: its RNG state
    save_generator_state((tmp / rng_name(comm.rank())).string(), at::detail::getDefaultCPUGenerator().get_state());
    comm.barrier();
    if (comm.rank() == 0) write_checkpoint_folder(tmp, state, model, optimizer, representation, options_json);
  } catch (...) {
    std::error_code ignored;
    if (comm.rank() == 0) fs::remove_all(tmp, ignored);  // the space back; the previous checkpoints stay as they were
    throw;                                               // the job ends (with MPI_Abort when it has several ranks)
  }
  if (comm.rank() == 0) {
    fs::remove_all(final_path);
    fs::rename(tmp, final_path);
    write_file_atomic(final_path / "COMPLETE", name + "\n");
    write_file_atomic(dir / "latest", name + "\n");
    if (is_best) write_file_atomic(dir / "best", name + "\n");
    fsync_path(dir);
    prune(dir, keep);
  }
  comm.barrier();
}

void mark_best_checkpoint(const fs::path& run, int64_t step) {
  const fs::path dir = run / "checkpoints";
  const std::string name = run_folder::checkpoint_name(step);
  MVAE_CHECK(fs::exists(dir / name / "COMPLETE"), "no complete checkpoint " + name + " to mark best");
  write_file_atomic(dir / "best", name + "\n");
  fsync_path(dir);
}

TrainingState read_training_state(const fs::path& checkpoint) {
  const fs::path path = checkpoint / "state.json";
  TrainingState s;
  try {
    const auto j = nlohmann::json::parse(read_text_file(path));
    s.step = j.at("step");
    s.consumed_samples = j.at("consumed_samples");
    s.world_size = j.at("world_size");
    s.global_batch = j.at("global_batch");
    s.seed = j.at("seed");
    if (j.contains("options")) {
      s.lstm_bias_lr_scale = j.at("options").value("lstm_bias_lr_scale", 1.0);
      s.windows_per_file = j.at("options").value("windows_per_file", 0);
      s.best_metric = j.at("options").value("best_metric", std::string("elbo"));
    }
    if (j.contains("best_step")) {
      s.best_value = j.at("best_value");
      s.best_step = j.at("best_step");
      s.evals_since_best = j.at("evals_since_best");
    }
  } catch (const std::exception& e) {
    throw InputError(path.string(), "", std::string("unreadable training state: ") + e.what());
  }
  return s;
}

void load_optimizer(const fs::path& checkpoint, torch::optim::Adam& optimizer, model::MusicVAEImpl& model,
                    const torch::Device& device) {
  load_adam((checkpoint / kOptimizerFile).string(), optimizer, model, device);
}

void load_rng(const fs::path& checkpoint, int rank) {
  fs::path path = checkpoint / rng_name(rank);
  if (!fs::exists(path)) path = checkpoint / rng_name(0);
  const torch::Tensor state = load_generator_state(path.string());
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  try {
    generator.set_state(state);
  } catch (const c10::Error& e) {
    throw InputError(path.string(), "state", std::string("not a CPU generator state: ") + e.what_without_backtrace());
  }
}

}  // namespace mvae::train
