// Adam's state and the CPU generator's in safetensors files (tensor_file/safetensors.h), so that a
// checkpoint is data only, as a model file is: reading one runs no code.
//   optimizer.safetensors: per parameter, by its name in the model, "exp_avg/<name>",
//   "exp_avg_sq/<name>" (and "max_exp_avg_sq/<name>" with AMSGrad) and the step count
//   "step/<name>" (I64, shape []); parameters Adam has not stepped yet have none.
//   rng-rank00000.safetensors: "state" (U8), the generator's state.
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/musicvae.h"

namespace mvae::train {

void save_adam(const std::string& path, torch::optim::Adam& optimizer, model::MusicVAEImpl& model);
// Into an optimizer over `model`'s parameters (as make_optimizer builds it), its state on `device`.
// Throws InputError naming the file when a tensor is missing, of another shape, or left over.
void load_adam(const std::string& path, torch::optim::Adam& optimizer, model::MusicVAEImpl& model,
               const torch::Device& device);

void save_generator_state(const std::string& path, const torch::Tensor& state);
torch::Tensor load_generator_state(const std::string& path);

}  // namespace mvae::train
