// The drum representation shared by preprocessing, the model and generation:
// 9 drum classes, 16th-note steps, 512 tokens (one bit per class).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace mvae::data {

constexpr int kNumDrumClasses = 9;
constexpr int kVocabSize = 1 << kNumDrumClasses;  // 512 tokens; 0 = silence
constexpr int kStepsPerQuarter = 4;
constexpr int kStepsPerBar = 16;            // only meters with 16 sixteenth-steps per bar are used
constexpr int kDefaultOutputVelocity = 80;  // Magenta's OUTPUT_VELOCITY for non-expressive drums

// Class names in bit order: bit 0 (LSB) kick ... bit 8 ride.
const std::array<const char*, kNumDrumClasses>& drum_class_names();

// Maps MIDI pitches to the 9 classes. The first pitch of each class is its exemplar, written
// when decoding tokens back to MIDI.
struct PitchMap {
  std::string name;
  std::array<std::vector<int>, kNumDrumClasses> pitches;
  std::array<int8_t, 128> class_of{};  // -1 where the pitch is not mapped (dropped)

  int class_for(int pitch) const { return pitch >= 0 && pitch < 128 ? class_of[pitch] : -1; }
  int exemplar(int drum_class) const { return pitches[drum_class].front(); }
  int num_mapped_pitches() const;

  // Magenta's DEFAULT_DRUM_TYPE_PITCHES (General MIDI, 63 pitches).
  static PitchMap general_midi();
  // Magenta's ROLAND_DRUM_PITCH_CLASSES (Roland TD-11, the GrooVAE training map, 22 pitches).
  static PitchMap roland_td11();
  // "gm", "roland", or a path to a JSON file {"name": ..., "classes": [[36, 35], [38, ...], ...]}.
  static PitchMap load(const std::string& name_or_path);
  // Builds and validates (9 non-empty classes, pitches 0..127, no pitch in two classes).
  static PitchMap from_classes(std::string name, const std::array<std::vector<int>, kNumDrumClasses>& classes);

  std::string to_json() const;
  static PitchMap from_json(const std::string& json_text, const std::string& source);
};

inline bool token_has(uint16_t token, int drum_class) { return (token >> drum_class) & 1; }

}  // namespace mvae::data
