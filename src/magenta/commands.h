// The `magenta` program's verbs: Magenta MusicVAE checkpoints into our model files and back.
#pragma once

#include <string>

namespace mvae::magenta {

struct MagentaOptions {
  std::string verb;        // import | export | export-js | list
  std::string checkpoint;  // import, list: a TF checkpoint prefix, its .index, or its folder; export: our model
  std::string config;      // Magenta's CONFIG_MAP name
  std::string out;         // import: model.pt; export: a checkpoint prefix (folder/model.ckpt-STEP); export-js: a folder
  bool force = false;      // export-js: replace an --out folder that holds files
  long global_step = -1;   // export: the step recorded (default: the model's own when known, else 0)
};

// Each returns the program's exit status; errors are thrown (InputError, UsageError).
int import_command(const MagentaOptions& o);
int export_command(const MagentaOptions& o);
// Magenta.js's format (what @magenta/music's MusicVAE(checkpointURL) fetches): config.json (the
// model type and its data converter's arguments), weights_manifest.json (TensorFlow.js's weights
// manifest: names, shapes, dtypes) and the weights, float32, in one shard file.
int export_js_command(const MagentaOptions& o);
int list_command(const MagentaOptions& o);

}  // namespace mvae::magenta
