// TensorFlow checkpoints (the "tensor bundle" V2 format every tf.train.Saver writes since TF 1.x):
// read and written without TensorFlow, so importing a Magenta model needs only this program.
//
//   PREFIX.index                  a LevelDB-format table: key "" -> the bundle header, then one
//                                 key per variable name -> where its bytes are (protobuf messages)
//   PREFIX.data-00000-of-00001    the tensors' bytes, little-endian, C order, back to back
//   <folder>/checkpoint           text: model_checkpoint_path: "PREFIX's file name"
//
// The index is read and written with LevelDB's own table code (the format TF's is derived from);
// the few protobuf fields of the header and entries are coded here (docs/dependencies.md says why).
// No LibTorch here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mvae::magenta {

// The TensorFlow dtypes checkpoints of these models hold (tensorflow/core/framework/types.proto).
enum class TfDtype : int { kFloat = 1, kDouble = 2, kInt32 = 3, kInt64 = 9, kBool = 10 };
std::string to_string(TfDtype dtype);  // "float32", ...

struct TfTensor {
  TfDtype dtype = TfDtype::kFloat;
  std::vector<int64_t> shape;
  std::string bytes;  // little-endian values, C order

  int64_t elements() const;
  std::vector<float> floats() const;  // float32 tensors only (InternalError otherwise)
  static TfTensor of_floats(const std::vector<float>& values, std::vector<int64_t> shape);
  static TfTensor of_int64(int64_t value);  // a scalar (global_step)
};

// Variable name -> tensor, sorted by name as the index is.
using TfVariables = std::map<std::string, TfTensor>;

// `path`: a checkpoint prefix ("dir/model.ckpt-100"), its .index file, or a folder whose
// `checkpoint` file names the newest prefix (what tf.train.latest_checkpoint reads).
// Returns the prefix; throws InputError naming what is missing.
std::string resolve_checkpoint_prefix(const std::string& path);

// Every variable of the checkpoint at `prefix`, its bytes checked against the CRC-32C the index
// records. Throws InputError naming the file, the variable and what is wrong (a sliced
// (partitioned) variable, a big-endian bundle, a dtype not listed above, a short data file).
TfVariables read_tf_checkpoint(const std::string& prefix);
// The same from bytes in memory, every variable in the one data shard `data` (the fuzzer's entry;
// `name` stands for the files in errors).
TfVariables parse_tf_checkpoint(const std::string& index_bytes, const std::vector<uint8_t>& data,
                                const std::string& name);

// Writes PREFIX.index and PREFIX.data-00000-of-00001 (each through a temporary file renamed into
// place, data first, so a reader never sees an index without its data), then the folder's
// `checkpoint` file naming PREFIX. tf.train.Saver.restore and tf.train.load_checkpoint read it.
void write_tf_checkpoint(const std::string& prefix, const TfVariables& variables);

}  // namespace mvae::magenta
