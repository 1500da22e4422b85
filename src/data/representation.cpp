#include "data/representation.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace mvae::data {

std::string DataRepresentation::to_json() const {
  nlohmann::ordered_json j;
  j["name"] = name;
  j["bars"] = bars;
  j["steps_per_bar"] = steps_per_bar;
  j["steps_per_quarter"] = steps_per_quarter;
  j["vocab_size"] = vocab_size;
  j["num_classes"] = num_classes;
  j["pitch_map"] = nlohmann::json::parse(pitch_map_json);
  if (!inference_pitch_map_json.empty()) j["inference_pitch_map"] = nlohmann::json::parse(inference_pitch_map_json);
  j["default_qpm"] = default_qpm;
  return j.dump();
}

DataRepresentation DataRepresentation::from_json(const std::string& text, const std::string& source) {
  DataRepresentation r;
  try {
    const auto j = nlohmann::json::parse(text);
    r.name = j.at("name").get<std::string>();
    r.bars = j.at("bars").get<int>();
    r.steps_per_bar = j.at("steps_per_bar").get<int>();
    r.steps_per_quarter = j.at("steps_per_quarter").get<int>();
    r.vocab_size = j.at("vocab_size").get<int>();
    r.num_classes = j.at("num_classes").get<int>();
    r.pitch_map_json = j.at("pitch_map").dump();
    if (j.contains("inference_pitch_map")) r.inference_pitch_map_json = j.at("inference_pitch_map").dump();
    r.default_qpm = j.value("default_qpm", 120.0);
  } catch (const std::exception& e) {
    throw InputError(source, "representation", std::string("malformed: ") + e.what());
  }
  return r;
}

std::string DataRepresentation::difference(const DataRepresentation& o) const {
  const auto field = [](const char* name, const auto& a, const auto& b) -> std::string {
    if (a == b) return "";
    std::string sa, sb;
    if constexpr (std::is_same_v<std::decay_t<decltype(a)>, std::string>) {
      sa = a;
      sb = b;
    } else {
      sa = std::to_string(a);
      sb = std::to_string(b);
    }
    return std::string(name) + " is " + sa + " here but " + sb + " there";
  };
  for (const std::string& d :
       {field("representation", name, o.name), field("bars", bars, o.bars),
        field("steps_per_bar", steps_per_bar, o.steps_per_bar),
        field("steps_per_quarter", steps_per_quarter, o.steps_per_quarter),
        field("vocab_size", vocab_size, o.vocab_size), field("num_classes", num_classes, o.num_classes),
        field("pitch_map", pitch_map_json, o.pitch_map_json)})
    if (!d.empty()) return d;
  return "";
}

}  // namespace mvae::data
