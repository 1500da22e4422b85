// Drum piano rolls as SVG, a picture a user can open in any browser (training curves:
// evaluate/curves.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mvae::generate {

// One panel per pattern (tokens [T]), stacked top to bottom with its title: rows are the 9 drum
// classes (kick at the bottom), columns the 16th steps, bar lines every `steps_per_bar`.
std::string piano_roll_svg(const std::vector<std::vector<uint16_t>>& patterns, const std::vector<std::string>& titles,
                           int steps_per_bar = 16);

}  // namespace mvae::generate
