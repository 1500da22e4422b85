// The `magenta` program's verbs: Magenta MusicVAE checkpoints into our model files and back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mvae::magenta {

struct MagentaOptions {
  std::string verb;        // one of verbs()
  std::string checkpoint;  // import, list: a TF checkpoint prefix, its .index, or its folder; export: our model
  std::string config;      // Magenta's CONFIG_MAP name
  std::string out;        // import: model.pt; export: a checkpoint prefix (folder/model.ckpt-STEP); export-js: a folder
  bool force = false;     // export-js: replace an --out folder that holds files
  long global_step = -1;  // export: the step recorded (default: the model's own when known, else 0)
  uint64_t seed = 1;      // init: draws the weights
  std::string data;       // roll-encoder: the shards folder whose training windows weigh the tokens
  std::string hparams;    // layer sizes in Magenta's --hparams form (enc_rnn_size=[256],z_size=256,...): init draws
                          // them; import, export and export-js check the model has them ("": the config's)
};

// Each returns the program's exit status; errors are thrown (InputError, UsageError).
int import_command(const MagentaOptions& o);
int export_command(const MagentaOptions& o);
// Magenta.js's format (what @magenta/music's MusicVAE(checkpointURL) fetches): config.json (the
// model type and its data converter's arguments), weights_manifest.json (TensorFlow.js's weights
// manifest: names, shapes, dtypes) and the weights, float32, in one shard file.
int export_js_command(const MagentaOptions& o);
int list_command(const MagentaOptions& o);
// A model file of Magenta config --config initialised as Magenta's trainer initialises one
// (magenta_model.h, initialize_like_magenta): `train --init-from` it to train our way from
// Magenta's starting point.
int init_command(const MagentaOptions& o);
// A model whose encoder looks tokens up, as a model whose encoder reads the drum roll, the roll's
// weights fitted to the token table (roll_encoder.h): `train --init-from` it with --encoder-input roll
// to fine-tune it into one Magenta runs.
int roll_encoder_command(const MagentaOptions& o);

// The verbs, in the order the help lists them: name, what it does, the function.
struct Verb {
  const char* name;
  const char* summary;
  int (*run)(const MagentaOptions&);
};
const std::vector<Verb>& verbs();

}  // namespace mvae::magenta
