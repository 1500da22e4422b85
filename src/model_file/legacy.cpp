// The one place a model file of the old format (a TorchScript archive, read by LibTorch's
// InputArchive, which runs any __setstate__ code the file carries) is opened: generate
// convert-legacy, for files the user trusts. Every other reader refuses such files
// (model_file::refuse_legacy).
#include "common/error.h"
#include "model_file/model_file.h"

namespace mvae::model_file {
namespace {

// The weights' dtype the old format recorded (absent in the oldest files: float32).
void read_legacy_dtype(torch::serialize::InputArchive& archive, model::MusicVAE& model, const std::string& path) {
  c10::IValue dtype_value;
  if (!archive.try_read("mvae_weights_dtype", dtype_value)) return;
  const std::string stored = dtype_value.toStringRef();
  if (stored == "Half")
    model->to(torch::kHalf);
  else if (stored == "BFloat16")
    model->to(torch::kBFloat16);
  else if (stored != "Float")
    throw InputError(path, "mvae_weights_dtype", "weights stored as " + stored + ", not Float, Half or BFloat16");
}

}  // namespace

void convert_legacy_model(const std::string& from, const std::string& to) {
  if (!is_legacy_archive(from))
    throw InputError(from, "", "is not a model file of the old format (a TorchScript archive): nothing to convert");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(from, torch::kCPU);
  } catch (const c10::Error& e) {
    throw InputError(from, "", std::string("not a readable model file: ") + e.what_without_backtrace());
  }
  c10::IValue config_value, representation_value;
  if (!archive.try_read("mvae_config", config_value) || !archive.try_read("mvae_representation", representation_value))
    throw InputError(from, "", "no model configuration inside: not written by this project");
  LoadedModel loaded;
  loaded.config = model::ModelConfig::from_json(config_value.toStringRef(), from);
  loaded.representation = data::DataRepresentation::from_json(representation_value.toStringRef(), from);
  loaded.model = model::MusicVAE(loaded.config);
  read_legacy_dtype(archive, loaded.model, from);
  try {
    loaded.model->load(archive);
  } catch (const c10::Error& e) {
    throw InputError(from, "weights", std::string("do not match the configuration: ") + e.what_without_backtrace());
  }
  save_model(to, loaded.model, loaded.representation);  // in the dtype the old file stored
}

}  // namespace mvae::model_file
