// Model files: a model's weights with its configuration and data representation, in one
// safetensors file (tensor_file/safetensors.h) that is only data: reading one runs no code, and
// what it declares is checked against the bytes it holds before anything is allocated. The one
// format every program reads and writes (releases, checkpoints, exports, averages). Layout:
// docs/data_format.md, "Model files".
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "data/representation.h"
#include "model/musicvae.h"
#include "model_file/model_header.h"
#include "tensor_file/safetensors.h"

namespace mvae::model_file {

// Writes atomically (temporary file, fsync, rename); the weights keep the model's dtype.
void save_model(const std::string& path, model::MusicVAE& model, const data::DataRepresentation& representation);

struct LoadedModel {
  model::MusicVAE model{nullptr};
  model::ModelConfig config;
  data::DataRepresentation representation;  // what the model was trained on
};
// The weights come back in float32 whatever dtype the file stores them in. Throws InputError naming
// the file: not a model file (a file of the old format is refused with the command that converts
// it), a checksum that does not match, a configuration outside the limits, or tensors that are not
// exactly the configuration's.
LoadedModel load_model(const std::string& path, const torch::Device& device);
// The element-wise mean of the weights of several model files of one configuration and data representation
// (checkpoint averaging: a run's last checkpoints differ by the noise of the last few hundred steps, which the mean
// cancels; or a "model soup" of runs fine-tuned from one model, which may differ in the settings that only shape
// training: free bits, beta, the groove loss's weighting, scheduled sampling, dropout). The result keeps from[0]'s
// configuration. Throws InputError naming the first file whose model (sizes, output, input) or representation differs
// from from[0]'s.
LoadedModel average_models(const std::vector<std::string>& from, const torch::Device& device);
// A copy of the model file `from` (or of the average of several) with its weights stored as `dtype` (float16 halves a
// release's size); returns the bytes written.
uint64_t export_model(const std::vector<std::string>& from, const std::string& to, torch::Dtype dtype);

// Tensors to and from safetensors (the checkpoints' optimizer and generator states use them too).
// `keep` must outlive the serialisation: it holds contiguous CPU copies of what the entries point at.
tensor_file::TensorToWrite tensor_to_write(const std::string& name, const torch::Tensor& tensor,
                                           std::vector<torch::Tensor>* keep);
// A CPU copy of an entry's bytes (float32, float16, bfloat16, int64 or uint8).
torch::Tensor tensor_of(const tensor_file::SafetensorsFile& file, const tensor_file::TensorEntry& entry);

// A file written by an earlier version of this project (a TorchScript archive: a zip, which LibTorch
// reads by running code the file may carry): true from its first bytes, without opening it as such.
bool is_legacy_archive(const std::string& path);
// The InputError for such a file, naming the command that converts it (generate convert-legacy).
[[noreturn]] void refuse_legacy(const std::string& path);
// The only place an old-format model file is opened: for files you trust. Reads `from` with
// LibTorch's archive reader and writes it as a model file `to`.
void convert_legacy_model(const std::string& from, const std::string& to);

}  // namespace mvae::model_file
