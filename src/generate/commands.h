// The generate program's verbs, one function each, over one options struct.
#pragma once

#include <string>
#include <vector>

#include "inference/trained_model.h"

namespace mvae::generate {

struct GenerateOptions {
  std::string verb;                 // one of verbs()
  std::string checkpoint;           // run folder, checkpoint folder or model.pt; "" = the released model
  bool best = false;                // a run folder's best checkpoint instead of its newest
  int bars = 0;                     // > 0: the released model of this length, or a check on --checkpoint's
  std::string out;                  // output folder
  bool force = false;               // write over what --out already holds
  std::vector<std::string> inputs;  // reconstruct, humanize, tap2drum, apply: one MIDI file; encode: several
  std::string from, to;             // interpolate: the end points
  int n = 4;                        // sample: patterns
  int steps = 8;                    // interpolate: points, end points included
  enum class Interpolation { kSlerp, kLinear } interpolation = Interpolation::kSlerp;
  int window = 0;                                        // which window of a longer input file
  std::string data_dir, split = "train", label, vector;  // encode, attribute, apply
  int64_t max_windows = 0;
  double scale = 1.0;  // apply: multiple of the attribute vector
  inference::DecodeOptions decode;
  bool qpm_given = false;  // else the input's tempo, or (sample) the training data's median tempo
  bool plot = false, render_wav = false;
  torch::Dtype dtype = torch::kHalf;   // export: how the weights are stored (float32, float16 or bfloat16)
  int average = 1;                     // export: the mean of a run folder's newest N checkpoints' weights
  std::vector<std::string> mean_with;  // export: model files (or run folders) averaged in too ("model soup")

  // Throws UsageError naming the option the verb is missing or that is out of range.
  void validate() const;
};

// The option words of the typed fields above; UsageError naming the option for anything else.
GenerateOptions::Interpolation parse_interpolation(const std::string& text);  // slerp, linear
torch::Dtype parse_export_dtype(const std::string& text);                     // float32, float16, bfloat16

// What a verb wrote, and the patterns --plot draws.
struct GenerateOutput {
  std::vector<std::string> written;
  std::vector<inference::Pattern> drawn;
  std::vector<std::string> titles;
};

GenerateOutput sample(inference::TrainedModel& gen, const GenerateOptions& o);
GenerateOutput reconstruct(inference::TrainedModel& gen, const GenerateOptions& o);
GenerateOutput interpolate(inference::TrainedModel& gen, const GenerateOptions& o);
// humanize (a score -> a performance: the hits kept, velocities and timing from the model) and
// tap2drum (taps -> a kit), over the whole input file, with a groove model trained for the task.
GenerateOutput perform(inference::TrainedModel& gen, const GenerateOptions& o);
GenerateOutput encode(inference::TrainedModel& gen, const GenerateOptions& o);  // also attribute
GenerateOutput apply_attribute(inference::TrainedModel& gen, const GenerateOptions& o);
// export: the model file of --checkpoint written to --out with its weights as --dtype.
int export_model_file(const GenerateOptions& o);

// The verbs, in the order the help lists them: name, the help's example, the function (none for
// export, which loads no model).
struct Verb {
  const char* name;
  const char* example;
  GenerateOutput (*run)(inference::TrainedModel&, const GenerateOptions&);
};
const std::vector<Verb>& verbs();
const Verb* find_verb(const std::string& name);  // nullptr when there is none of that name

// Loads the model, runs the verb, then --render-wav and --plot; prints what was written.
int run_generate(GenerateOptions o);

}  // namespace mvae::generate
