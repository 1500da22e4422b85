#include "data/drum_kit.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace mvae::data {

const std::array<const char*, kNumDrumClasses>& drum_class_names() {
  static const std::array<const char*, kNumDrumClasses> names = {
      "kick", "snare", "closed_hihat", "open_hihat", "low_tom", "mid_tom", "high_tom", "crash", "ride"};
  return names;
}

int PitchMap::num_mapped_pitches() const {
  int n = 0;
  for (const auto& c : pitches) n += static_cast<int>(c.size());
  return n;
}

PitchMap PitchMap::from_classes(std::string name, const std::array<std::vector<int>, kNumDrumClasses>& classes) {
  PitchMap map;
  map.name = std::move(name);
  map.pitches = classes;
  map.class_of.fill(-1);
  for (int c = 0; c < kNumDrumClasses; ++c) {
    if (classes[c].empty()) throw InputError(map.name, "class " + std::string(drum_class_names()[c]), "has no pitches");
    for (int p : classes[c]) {
      if (p < 0 || p > 127)
        throw InputError(map.name, "class " + std::string(drum_class_names()[c]),
                         "pitch " + std::to_string(p) + " out of 0..127");
      if (map.class_of[p] != -1) throw InputError(map.name, "pitch " + std::to_string(p), "appears in two classes");
      map.class_of[p] = static_cast<int8_t>(c);
    }
  }
  return map;
}

PitchMap PitchMap::general_midi() {
  return from_classes("gm", {{
                                {36, 35},
                                {38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85},
                                {42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22},
                                {46, 67, 72, 74, 79, 81, 26},
                                {45, 29, 41, 43, 61, 64, 84},
                                {48, 47, 60, 63, 77, 86, 87},
                                {50, 30, 62, 76, 83},
                                {49, 52, 55, 57, 58},
                                {51, 53, 59, 82},
                            }});
}

PitchMap PitchMap::roland_td11() {
  return from_classes("roland", {{
                                    {36},
                                    {38, 37, 40},
                                    {42, 22, 44},
                                    {46, 26},
                                    {43, 58},
                                    {47, 45},
                                    {50, 48},
                                    {49, 52, 55, 57},
                                    {51, 53, 59},
                                }});
}

std::string PitchMap::to_json() const {
  nlohmann::json j;
  j["name"] = name;
  j["classes"] = nlohmann::json::array();
  for (int c = 0; c < kNumDrumClasses; ++c) j["classes"].push_back(pitches[c]);
  return j.dump();
}

PitchMap PitchMap::from_json(const std::string& json_text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const std::exception& e) {
    throw InputError(source, "", std::string("invalid JSON: ") + e.what());
  }
  if (!j.contains("classes") || !j["classes"].is_array() || j["classes"].size() != kNumDrumClasses)
    throw InputError(source, "classes", "expected an array of 9 pitch lists (kick ... ride)");
  std::array<std::vector<int>, kNumDrumClasses> classes;
  try {
    for (int c = 0; c < kNumDrumClasses; ++c) classes[c] = j["classes"][c].get<std::vector<int>>();
  } catch (const std::exception& e) {
    throw InputError(source, "classes", std::string("expected integer pitches: ") + e.what());
  }
  return from_classes(j.value("name", source), classes);
}

PitchMap PitchMap::load(const std::string& name_or_path) {
  if (name_or_path == "gm") return general_midi();
  if (name_or_path == "roland") return roland_td11();
  std::ifstream in(name_or_path);
  if (!in) throw UsageError("{pitch_map} '" + name_or_path + "': not 'gm', 'roland' or a readable JSON file");
  std::stringstream text;
  text << in.rdbuf();
  return from_json(text.str(), name_or_path);
}

}  // namespace mvae::data
