// The `magenta` program's verbs: Magenta MusicVAE checkpoints into our model files and back.
#pragma once

#include <string>

namespace mvae::magenta {

struct MagentaOptions {
  std::string verb;        // import | export | list
  std::string checkpoint;  // import, list: a TF checkpoint prefix, its .index, or its folder; export: our model
  std::string config;      // Magenta's CONFIG_MAP name
  std::string out;         // import: model.pt; export: a checkpoint prefix (folder/model.ckpt-STEP)
  long global_step = -1;   // export: the step recorded (default: the model's own when known, else 0)
};

// Each returns the program's exit status; errors are thrown (InputError, UsageError).
int import_command(const MagentaOptions& o);
int export_command(const MagentaOptions& o);
int list_command(const MagentaOptions& o);

}  // namespace mvae::magenta
