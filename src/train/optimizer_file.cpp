#include "train/optimizer_file.h"

#include <map>
#include <sstream>
#include <type_traits>

#include "common/error.h"
#include "common/files.h"
#include "model_file/model_file.h"
#include "tensor_file/safetensors.h"

namespace mvae::train {
namespace {

constexpr const char* kFormatKey = "format";
constexpr const char* kAdamFormat = "musicvae-cpp adam 1";
constexpr const char* kGeneratorFormat = "musicvae-cpp generator 1";
// Adam's file holds at most four tensors per weight: the limit follows the model file's.
constexpr uint64_t kMaxAdamFileBytes = 4 * model_file::kMaxModelFileBytes;
constexpr uint64_t kMaxGeneratorFileBytes = 1 << 20;  // the CPU generator's state is about 5 KB

// The key LibTorch's optimizers file a parameter's state under: its TensorImpl's address, as text
// (LibTorch 1.x) or as the pointer itself (2.x).
template <typename Map>
typename Map::key_type state_key(const Map&, const torch::Tensor& p) {
  if constexpr (std::is_same_v<typename Map::key_type, std::string>) {
    std::ostringstream key;
    key << p.unsafeGetTensorImpl();
    return key.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

// name -> parameter, for the optimizer's parameters (every one is the model's).
std::map<std::string, torch::Tensor> named(model::MusicVAEImpl& model) {
  std::map<std::string, torch::Tensor> by_name;
  for (const auto& p : model.named_parameters()) by_name[p.key()] = p.value();
  return by_name;
}

void check_format(const tensor_file::SafetensorsFile& file, const char* format, const std::string& path) {
  const auto it = file.metadata.find(kFormatKey);
  if (it == file.metadata.end() || it->second != format)
    throw InputError(
        path, "metadata format",
        "is '" + (it == file.metadata.end() ? std::string() : it->second) + "', expected '" + format + "'");
}

// The entry `name` of `file`, of `shape`, as a tensor on `device`.
torch::Tensor read_entry(const tensor_file::SafetensorsFile& file, const std::string& name,
                         const std::vector<int64_t>& shape, const std::string& path, const torch::Device& device) {
  const tensor_file::TensorEntry* entry = file.find(name);
  if (!entry) throw InputError(path, "tensor \"" + name + "\"", "missing");
  if (entry->shape != shape)
    throw InputError(
        path, "tensor \"" + name + "\"",
        "has shape " + c10::str(c10::IntArrayRef(entry->shape)) + ", expected " + c10::str(c10::IntArrayRef(shape)));
  return model_file::tensor_of(file, *entry).to(device);
}

}  // namespace

void save_adam(const std::string& path, torch::optim::Adam& optimizer, model::MusicVAEImpl& model) {
  std::vector<torch::Tensor> keep;
  std::vector<tensor_file::TensorToWrite> tensors;
  auto& states = optimizer.state();
  for (const auto& [name, p] : named(model)) {
    const auto it = states.find(state_key(states, p));
    if (it == states.end()) continue;  // not stepped yet
    const auto& s = static_cast<const torch::optim::AdamParamState&>(*it->second);
    tensors.push_back(model_file::tensor_to_write("step/" + name, torch::tensor(int64_t{s.step()}), &keep));
    tensors.push_back(model_file::tensor_to_write("exp_avg/" + name, s.exp_avg(), &keep));
    tensors.push_back(model_file::tensor_to_write("exp_avg_sq/" + name, s.exp_avg_sq(), &keep));
    if (s.max_exp_avg_sq().defined())
      tensors.push_back(model_file::tensor_to_write("max_exp_avg_sq/" + name, s.max_exp_avg_sq(), &keep));
  }
  write_file_atomic(path, tensor_file::serialize_safetensors(tensors, {{kFormatKey, kAdamFormat}}));
}

void load_adam(const std::string& path, torch::optim::Adam& optimizer, model::MusicVAEImpl& model,
               const torch::Device& device) {
  if (model_file::is_legacy_archive(path)) model_file::refuse_legacy(path);
  const tensor_file::SafetensorsFile file = tensor_file::read_safetensors(path, kMaxAdamFileBytes);
  check_format(file, kAdamFormat, path);
  auto& states = optimizer.state();
  size_t used = 0;
  for (const auto& [name, p] : named(model)) {
    if (!file.find("step/" + name)) continue;  // not stepped yet when saved
    auto s = std::make_unique<torch::optim::AdamParamState>();
    s->step(read_entry(file, "step/" + name, {}, path, torch::kCPU).item<int64_t>());
    s->exp_avg(read_entry(file, "exp_avg/" + name, p.sizes().vec(), path, device));
    s->exp_avg_sq(read_entry(file, "exp_avg_sq/" + name, p.sizes().vec(), path, device));
    used += 3;
    if (file.find("max_exp_avg_sq/" + name)) {
      s->max_exp_avg_sq(read_entry(file, "max_exp_avg_sq/" + name, p.sizes().vec(), path, device));
      ++used;
    }
    states[state_key(states, p)] = std::move(s);
  }
  if (used != file.tensors.size())
    throw InputError(path, "tensors",
                     std::to_string(file.tensors.size() - used) +
                         " name no parameter of the model: not this model's optimizer state");
}

void save_generator_state(const std::string& path, const torch::Tensor& state) {
  std::vector<torch::Tensor> keep;
  const std::vector<tensor_file::TensorToWrite> tensors{model_file::tensor_to_write("state", state, &keep)};
  write_file_atomic(path, tensor_file::serialize_safetensors(tensors, {{kFormatKey, kGeneratorFormat}}));
}

torch::Tensor load_generator_state(const std::string& path) {
  if (model_file::is_legacy_archive(path)) model_file::refuse_legacy(path);
  const tensor_file::SafetensorsFile file = tensor_file::read_safetensors(path, kMaxGeneratorFileBytes);
  check_format(file, kGeneratorFormat, path);
  const tensor_file::TensorEntry* entry = file.find("state");
  if (!entry || entry->dtype != tensor_file::DType::kU8 || entry->shape.size() != 1)
    throw InputError(path, "tensor \"state\"", "missing, or not a list of bytes");
  return model_file::tensor_of(file, *entry);
}

}  // namespace mvae::train
