// Pictures a user can open in any browser: drum piano rolls and training curves, as SVG.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mvae::generate {

// One panel per pattern (tokens [T]), stacked top to bottom with its title: rows are the 9 drum
// classes (kick at the bottom), columns the 16th steps, bar lines every `steps_per_bar`.
std::string piano_roll_svg(const std::vector<std::vector<uint16_t>>& patterns, const std::vector<std::string>& titles,
                           int steps_per_bar = 16);

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (step, value)
};
// Line charts, one panel per series, sharing the step axis.
std::string curves_svg(const std::vector<Series>& series, const std::string& title);

// Reads a run's metrics.jsonl (or the file itself) into series of the given keys.
std::vector<Series> read_metric_series(const std::string& run_or_file, const std::vector<std::string>& keys);

void write_text_file(const std::string& path, const std::string& text);

}  // namespace mvae::generate
