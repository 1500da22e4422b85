// Reading what train left in a run folder, for tests that compare runs.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "model/musicvae.h"
#include "model_file/model_file.h"

namespace mvae::test {

// The parameters of the run's newest checkpoint (checkpoints/latest).
inline std::vector<torch::Tensor> final_parameters(const std::filesystem::path& run_dir) {
  std::ifstream latest(run_dir / "checkpoints" / "latest");
  std::string name;
  latest >> name;
  model_file::LoadedModel m =
      model_file::load_model((run_dir / "checkpoints" / name / "model.safetensors").string(), torch::kCPU);
  return m.model->parameters();
}

// Largest absolute difference between two parameter lists of the same model.
inline double max_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  return worst;
}

}  // namespace mvae::test
