#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/files.h"

namespace fs = std::filesystem;

namespace mvae::train {
namespace {

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

std::string rng_name(int rank) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "rng-rank%05d.pt", rank);
  return buf;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

void save_checkpoint(const fs::path& run, const TrainingState& state, model::MusicVAE& model,
                     torch::optim::Adam& optimizer, const std::string& representation_json,
                     const std::string& options_json, dist::Communicator& comm, int keep) {
  const fs::path dir = run / "checkpoints";
  const fs::path final_path = dir / step_name(state.step);
  const fs::path tmp = dir / (step_name(state.step) + ".tmp");
  if (comm.rank() == 0) {
    fs::create_directories(dir);
    fs::remove_all(tmp);
    fs::create_directories(tmp);
  }
  comm.barrier();
  {  // every rank: its RNG state
    torch::Tensor rng = at::detail::getDefaultCPUGenerator().get_state();
    torch::save(rng, (tmp / rng_name(comm.rank())).string());
    fsync_path(tmp / rng_name(comm.rank()));
  }
  comm.barrier();
  if (comm.rank() == 0) {
    model::save_model((tmp / "model.pt").string(), model, representation_json);
    torch::save(optimizer, (tmp / "optimizer.pt").string());
    nlohmann::ordered_json j;
    j["step"] = state.step;
    j["consumed_samples"] = state.consumed_samples;
    j["world_size"] = state.world_size;
    j["global_batch"] = state.global_batch;
    j["seed"] = state.seed;
    j["options"] = nlohmann::json::parse(options_json);
    write_file_atomic(tmp / "state.json", j.dump(2) + "\n");
    for (const auto& e : fs::directory_iterator(tmp)) fsync_path(e.path());
    fs::remove_all(final_path);
    fs::rename(tmp, final_path);
    write_file_atomic(final_path / "COMPLETE", step_name(state.step) + "\n");
    write_file_atomic(dir / "latest", step_name(state.step) + "\n");
    fsync_path(dir);
    // Keep the newest `keep` complete checkpoints.
    std::vector<fs::path> done;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && fs::exists(e.path() / "COMPLETE")) done.push_back(e.path());
    std::sort(done.begin(), done.end());
    for (size_t i = 0; i + static_cast<size_t>(keep) < done.size(); ++i) fs::remove_all(done[i]);
  }
  comm.barrier();
}

fs::path find_checkpoint(const fs::path& run_or_checkpoint) {
  if (fs::exists(run_or_checkpoint / "COMPLETE")) return run_or_checkpoint;
  if (fs::exists(run_or_checkpoint / "model.pt"))
    throw InputError(run_or_checkpoint.string(), "", "checkpoint is incomplete (no COMPLETE marker): it was being written when the run stopped");
  const fs::path dir = run_or_checkpoint / "checkpoints";
  const fs::path latest = dir / "latest";
  if (!fs::exists(latest)) return {};
  std::string name = slurp(latest);
  name.erase(name.find_last_not_of(" \n\r\t") + 1);
  const fs::path path = dir / name;
  if (!fs::exists(path / "COMPLETE"))
    throw InputError(latest.string(), "", "names " + name + ", which is missing or incomplete");
  return path;
}

TrainingState read_training_state(const fs::path& checkpoint) {
  const fs::path path = checkpoint / "state.json";
  TrainingState s;
  try {
    const auto j = nlohmann::json::parse(slurp(path));
    s.step = j.at("step");
    s.consumed_samples = j.at("consumed_samples");
    s.world_size = j.at("world_size");
    s.global_batch = j.at("global_batch");
    s.seed = j.at("seed");
  } catch (const std::exception& e) {
    throw InputError(path.string(), "", std::string("unreadable training state: ") + e.what());
  }
  return s;
}

void load_optimizer(const fs::path& checkpoint, torch::optim::Adam& optimizer, const torch::Device& device) {
  const fs::path path = checkpoint / "optimizer.pt";
  try {
    torch::load(optimizer, path.string(), device);
  } catch (const c10::Error& e) {
    throw InputError(path.string(), "", std::string("unreadable optimizer state: ") + e.what_without_backtrace());
  }
}

void load_rng(const fs::path& checkpoint, int rank) {
  fs::path path = checkpoint / rng_name(rank);
  if (!fs::exists(path)) path = checkpoint / rng_name(0);
  torch::Tensor state;
  try {
    torch::load(state, path.string());
  } catch (const c10::Error& e) {
    throw InputError(path.string(), "", std::string("unreadable RNG state: ") + e.what_without_backtrace());
  }
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(state);
}

}  // namespace mvae::train
