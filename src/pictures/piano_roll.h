// Drum piano rolls as SVG, a picture a user can open in any browser (training curves beside it:
// pictures/curves.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/drum_tokenizer.h"

namespace mvae::pictures {

// One panel per pattern, stacked top to bottom with its title: rows are the 9 drum classes (kick
// at the bottom), columns the 16th steps, bar lines every `steps_per_bar`. A pattern with
// velocities and offsets shows the groove: each hit's shade is its velocity (pale = soft) and
// it is drawn shifted from its grid cell by its timing (left = early, right = late).
std::string piano_roll_svg(const std::vector<data::DrumWindow>& patterns, const std::vector<std::string>& titles,
                           int steps_per_bar = 16);

}  // namespace mvae::pictures
