#include "pictures/piano_roll.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/error.h"
#include "common/text.h"
#include "data/drum_kit.h"

namespace mvae::pictures {
namespace {

// Class colours, kick .. ride.
const char* kColours[data::kNumDrumClasses] = {"#d62728", "#ff7f0e", "#1f77b4", "#17becf", "#8c564b",
                                               "#9467bd", "#e377c2", "#bcbd22", "#2ca02c"};

}  // namespace

std::string piano_roll_svg(const std::vector<data::DrumWindow>& patterns, const std::vector<std::string>& titles,
                           int steps_per_bar) {
  const int cell = 12, label_w = 92, title_h = 18, gap = 14, rows = data::kNumDrumClasses;
  size_t T = 0;
  for (const auto& p : patterns) T = std::max(T, p.tokens.size());
  const int panel_h = title_h + rows * cell;
  const int width = label_w + static_cast<int>(T) * cell + 10;
  const int height = static_cast<int>(patterns.size()) * (panel_h + gap) + 10;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"10\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t k = 0; k < patterns.size(); ++k) {
    const int top = static_cast<int>(k) * (panel_h + gap) + 5;
    svg << "<text x=\"4\" y=\"" << top + 12 << "\" font-weight=\"bold\">"
        << xml_escape(k < titles.size() ? titles[k] : "") << "</text>\n";
    const int grid_top = top + title_h;
    for (int r = 0; r < rows; ++r) {  // kick at the bottom row
      const int c = rows - 1 - r;
      svg << "<text x=\"4\" y=\"" << grid_top + r * cell + 9 << "\">" << data::drum_class_names()[c] << "</text>\n";
    }
    svg << "<rect x=\"" << label_w << "\" y=\"" << grid_top << "\" width=\"" << T * cell << "\" height=\""
        << rows * cell << "\" fill=\"#f4f4f4\" stroke=\"#999\"/>\n";
    const data::DrumWindow& p = patterns[k];
    const bool expressive = p.velocities.size() == p.tokens.size() * rows && p.offsets.size() == p.velocities.size();
    for (size_t t = 0; t < p.tokens.size(); ++t)
      for (int c = 0; c < rows; ++c) {
        if (!data::token_has(p.tokens[t], c)) continue;
        double x = label_w + static_cast<double>(t * cell) + 1, opacity = 1.0;
        if (expressive) {
          const size_t i = t * rows + static_cast<size_t>(c);
          opacity = 0.15 + 0.85 * p.velocities[i] / 127.0;
          x -= 0.5 * std::clamp(static_cast<double>(p.offsets[i]), -1.0, 1.0) * cell;  // offset > 0 is early: left
        }
        svg << "<rect x=\"" << x << "\" y=\"" << grid_top + (rows - 1 - c) * cell + 1 << "\" width=\"" << cell - 2
            << "\" height=\"" << cell - 2 << "\" fill=\"" << kColours[c] << "\" fill-opacity=\"" << opacity << "\"/>\n";
      }
    for (size_t t = 0; t <= T; t += static_cast<size_t>(steps_per_bar / 4))
      svg << "<line x1=\"" << label_w + t * cell << "\" x2=\"" << label_w + t * cell << "\" y1=\"" << grid_top
          << "\" y2=\"" << grid_top + rows * cell << "\" stroke=\"" << (t % steps_per_bar == 0 ? "#444" : "#ccc")
          << "\"/>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace mvae::pictures
