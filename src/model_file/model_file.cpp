#include "model_file/model_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "common/files.h"

namespace mvae::model_file {
namespace {

tensor_file::DType dtype_of(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat32: return tensor_file::DType::kF32;
    case torch::kFloat16: return tensor_file::DType::kF16;
    case torch::kBFloat16: return tensor_file::DType::kBF16;
    case torch::kInt64: return tensor_file::DType::kI64;
    case torch::kUInt8: return tensor_file::DType::kU8;
    default: throw InternalError(__FILE__, __LINE__, std::string("no safetensors dtype for ") + c10::toString(dtype));
  }
}

torch::Dtype torch_dtype_of(tensor_file::DType dtype) {
  switch (dtype) {
    case tensor_file::DType::kF32: return torch::kFloat32;
    case tensor_file::DType::kF16: return torch::kFloat16;
    case tensor_file::DType::kBF16: return torch::kBFloat16;
    case tensor_file::DType::kI64: return torch::kInt64;
    default: return torch::kUInt8;
  }
}

// Copies the file's tensors into a model built from its configuration: every parameter and buffer
// by name and shape, nothing missing and nothing left over.
void copy_weights(const tensor_file::SafetensorsFile& file, model::MusicVAE& model, const std::string& path) {
  torch::NoGradGuard no_grad;
  size_t used = 0;
  const auto copy = [&](const std::string& name, torch::Tensor& into) {
    const tensor_file::TensorEntry* entry = file.find(name);
    if (!entry) throw InputError(path, "tensor \"" + name + "\"", "missing (the configuration has it)");
    if (entry->shape != into.sizes().vec())
      throw InputError(path, "tensor \"" + name + "\"",
                       "has shape " + c10::str(c10::IntArrayRef(entry->shape)) + ", the configuration gives " +
                           c10::str(into.sizes()));
    into.copy_(tensor_of(file, *entry));
    ++used;
  };
  for (auto& p : model->named_parameters()) copy(p.key(), p.value());
  for (auto& b : model->named_buffers()) copy(b.key(), b.value());
  if (used != file.tensors.size())
    throw InputError(path, "tensors",
                     std::to_string(file.tensors.size()) + " in the file, the configuration has " +
                         std::to_string(used) + ": not this configuration's weights");
}

}  // namespace

tensor_file::TensorToWrite tensor_to_write(const std::string& name, const torch::Tensor& tensor,
                                           std::vector<torch::Tensor>* keep) {
  keep->push_back(tensor.detach().to(torch::kCPU).contiguous());
  const torch::Tensor& t = keep->back();
  return {name, dtype_of(t.scalar_type()), t.sizes().vec(), t.data_ptr()};
}

torch::Tensor tensor_of(const tensor_file::SafetensorsFile& file, const tensor_file::TensorEntry& entry) {
  // Copied, not wrapped: the file's bytes need not be aligned for the dtype.
  torch::Tensor t = torch::empty(entry.shape, torch::TensorOptions().dtype(torch_dtype_of(entry.dtype)));
  if (entry.end > entry.begin) std::memcpy(t.data_ptr(), file.data(entry), entry.end - entry.begin);
  return t;
}

void save_model(const std::string& path, model::MusicVAE& model, const data::DataRepresentation& representation) {
  std::vector<torch::Tensor> keep;
  std::vector<tensor_file::TensorToWrite> tensors;
  for (const auto& p : model->named_parameters()) tensors.push_back(tensor_to_write(p.key(), p.value(), &keep));
  for (const auto& b : model->named_buffers()) tensors.push_back(tensor_to_write(b.key(), b.value(), &keep));
  std::map<std::string, std::string> metadata{{kFormatKey, kFormatValue},
                                              {kConfigKey, model->config().to_json()},
                                              {kRepresentationKey, representation.to_json()}};
  BytePieces data;  // the data section: the tensors' bytes, in the order they are written
  for (const auto& t : tensors) data.emplace_back(t.data, t.bytes());
  metadata[kChecksumKey] = content_checksum(metadata, data);
  write_file_atomic(path, tensor_file::serialize_safetensors(tensors, metadata));  // temporary file, fsync, rename
}

LoadedModel load_model(const std::string& path, const torch::Device& device) {
  if (!std::filesystem::exists(path)) throw InputError(path, "", "no such model file");
  if (is_legacy_archive(path)) refuse_legacy(path);
  tensor_file::SafetensorsFile file;
  try {
    file = tensor_file::read_safetensors(path, kMaxModelFileBytes);
  } catch (const InputError& e) {  // the container's problem, and what a model file is
    throw InputError(path, e.where(),
                     e.problem() +
                         " (a model file is the model.safetensors that train, generate export or "
                         "magenta import writes; --checkpoint also takes a run or checkpoint folder)");
  }
  const ModelHeader header = read_model_header(file, path);  // checked against the bytes present
  LoadedModel loaded;
  loaded.config = header.config;
  loaded.representation = header.representation;
  loaded.model = model::MusicVAE(loaded.config);
  copy_weights(file, loaded.model, path);
  loaded.model->to(device, torch::kFloat32);
  loaded.model->eval();  // inference: no dropout; the trainer switches to train() itself
  return loaded;
}

bool is_legacy_archive(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "PK\x03\x04", 4) == 0;
}

void refuse_legacy(const std::string& path) {
  throw InputError(path, "",
                   "is a model file of the old format (a TorchScript archive, which can run code when it is read), so "
                   "it is not opened. If you trust where it came from, convert it once: generate convert-legacy "
                   "--input " +
                       path + " --out " + std::filesystem::path(path).replace_extension(".safetensors").string());
}

namespace {
// The configuration without the settings that only shape training (the loss's KL budget and weight and
// where groove errors count, scheduled sampling, dropout): models that agree on it compute the same function of their
// weights, so runs fine-tuned from one model with other regularisation can be averaged (a "model soup").
std::string inference_config_json(model::ModelConfig c) {
  const model::ModelConfig defaults;
  c.preset = defaults.preset;
  c.groove_loss_at_hits = defaults.groove_loss_at_hits;
  c.free_bits = defaults.free_bits;
  c.max_beta = defaults.max_beta;
  c.beta_rate = defaults.beta_rate;
  c.sampling_schedule = defaults.sampling_schedule;
  c.sampling_rate = defaults.sampling_rate;
  c.dropout_keep = defaults.dropout_keep;
  return c.to_json();
}
}  // namespace

LoadedModel average_models(const std::vector<std::string>& from, const torch::Device& device) {
  MVAE_CHECK(!from.empty(), "average_models: no model files");
  LoadedModel mean = load_model(from.front(), device);
  torch::NoGradGuard no_grad;
  for (size_t i = 1; i < from.size(); ++i) {
    const LoadedModel other = load_model(from[i], device);
    if (inference_config_json(other.config) != inference_config_json(mean.config))
      throw InputError(from[i], kConfigKey,
                       "is not the model of " + from.front() + " (" + other.config.summary() + " against " +
                           mean.config.summary() +
                           "): average checkpoints of one run, or of runs fine-tuned from one model");
    const std::string representation = mean.representation.difference(other.representation);
    if (!representation.empty())
      throw InputError(from[i], kRepresentationKey,
                       "differs from " + from.front() + "'s (" + representation + "): average checkpoints of one run");
    const auto theirs = other.model->named_parameters();
    for (auto& p : mean.model->named_parameters()) p.value().add_(theirs[p.key()]);
    const auto their_buffers = other.model->named_buffers();
    for (auto& b : mean.model->named_buffers())
      if (b.value().is_floating_point()) b.value().add_(their_buffers[b.key()]);
  }
  const double n = static_cast<double>(from.size());
  for (auto& p : mean.model->parameters()) p.div_(n);
  for (auto& b : mean.model->buffers())
    if (b.is_floating_point()) b.div_(n);
  return mean;
}

uint64_t export_model(const std::vector<std::string>& from, const std::string& to, torch::Dtype dtype) {
  LoadedModel loaded = average_models(from, torch::kCPU);
  loaded.model->to(dtype);
  save_model(to, loaded.model, loaded.representation);
  return std::filesystem::file_size(to);
}

}  // namespace mvae::model_file
