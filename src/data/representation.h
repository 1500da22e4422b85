// What the data means: a model trained on shards must agree with them on all of this, so it is
// stored in every shard, in the manifest and in every checkpoint.
#pragma once

#include <string>

#include "data/drum_kit.h"

namespace mvae::data {

constexpr int kShardFormatVersion = 1;
constexpr const char* kRepresentationName = "drums_512";  // 9 classes, 512 tokens, + groove arrays

struct DataRepresentation {
  std::string name = kRepresentationName;
  int bars = 2;
  int steps_per_bar = kStepsPerBar;
  int steps_per_quarter = kStepsPerQuarter;
  int vocab_size = kVocabSize;
  int num_classes = kNumDrumClasses;
  std::string pitch_map_json = PitchMap::general_midi().to_json();  // the training data's map
  // The map a user's MIDI is read and written with when it is not the training data's: Magenta's
  // GrooVAE configs train on Roland TD-11 pitches and read and write General MIDI ones in
  // TrainedModel (GrooveConverter's inference_pitch_classes). "" = pitch_map_json. Not part of what
  // a model and shards must agree on.
  std::string inference_pitch_map_json;
  // Median tempo (quarters per minute) of the training files: the default tempo of generated
  // MIDI. Informative only: not part of what two representations must agree on.
  double default_qpm = 120.0;

  int window_steps() const { return bars * steps_per_bar; }
  const std::string& midi_pitch_map_json() const {
    return inference_pitch_map_json.empty() ? pitch_map_json : inference_pitch_map_json;
  }
  std::string to_json() const;
  static DataRepresentation from_json(const std::string& text, const std::string& source);
  // Empty when equal; otherwise says which field differs, with both values.
  std::string difference(const DataRepresentation& other) const;
};

}  // namespace mvae::data
