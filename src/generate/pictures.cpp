#include "generate/pictures.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "data/drum_kit.h"

namespace mvae::generate {
namespace {

// Class colours, kick .. ride.
const char* kColours[data::kNumDrumClasses] = {"#d62728", "#ff7f0e", "#1f77b4", "#17becf", "#8c564b",
                                               "#9467bd", "#e377c2", "#bcbd22", "#2ca02c"};

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

}  // namespace

std::string piano_roll_svg(const std::vector<std::vector<uint16_t>>& patterns, const std::vector<std::string>& titles,
                           int steps_per_bar) {
  const int cell = 12, label_w = 92, title_h = 18, gap = 14, rows = data::kNumDrumClasses;
  size_t T = 0;
  for (const auto& p : patterns) T = std::max(T, p.size());
  const int panel_h = title_h + rows * cell;
  const int width = label_w + static_cast<int>(T) * cell + 10;
  const int height = static_cast<int>(patterns.size()) * (panel_h + gap) + 10;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"10\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  for (size_t k = 0; k < patterns.size(); ++k) {
    const int top = static_cast<int>(k) * (panel_h + gap) + 5;
    svg << "<text x=\"4\" y=\"" << top + 12 << "\" font-weight=\"bold\">" << esc(k < titles.size() ? titles[k] : "") << "</text>\n";
    const int grid_top = top + title_h;
    for (int r = 0; r < rows; ++r) {  // kick at the bottom row
      const int c = rows - 1 - r;
      svg << "<text x=\"4\" y=\"" << grid_top + r * cell + 9 << "\">" << data::drum_class_names()[c] << "</text>\n";
    }
    svg << "<rect x=\"" << label_w << "\" y=\"" << grid_top << "\" width=\"" << T * cell << "\" height=\"" << rows * cell
        << "\" fill=\"#f4f4f4\" stroke=\"#999\"/>\n";
    for (size_t t = 0; t < patterns[k].size(); ++t)
      for (int c = 0; c < rows; ++c)
        if (data::token_has(patterns[k][t], c))
          svg << "<rect x=\"" << label_w + t * cell + 1 << "\" y=\"" << grid_top + (rows - 1 - c) * cell + 1
              << "\" width=\"" << cell - 2 << "\" height=\"" << cell - 2 << "\" fill=\"" << kColours[c] << "\"/>\n";
    for (size_t t = 0; t <= T; t += static_cast<size_t>(steps_per_bar / 4))
      svg << "<line x1=\"" << label_w + t * cell << "\" x2=\"" << label_w + t * cell << "\" y1=\"" << grid_top << "\" y2=\""
          << grid_top + rows * cell << "\" stroke=\"" << (t % steps_per_bar == 0 ? "#444" : "#ccc") << "\"/>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

std::string curves_svg(const std::vector<Series>& series, const std::string& title) {
  const int w = 640, panel_h = 150, left = 70, right = 20, top = 30, gap = 40;
  const int height = top + static_cast<int>(series.size()) * (panel_h + gap);
  double x_max = 1;
  for (const auto& s : series)
    for (const auto& p : s.points) x_max = std::max(x_max, p.first);
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << left << "\" y=\"18\" font-weight=\"bold\">" << esc(title) << "</text>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const int y0 = top + static_cast<int>(k) * (panel_h + gap) + 10;
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& p : s.points) {
      lo = std::min(lo, p.second);
      hi = std::max(hi, p.second);
    }
    if (s.points.empty()) lo = 0, hi = 1;
    if (hi - lo < 1e-12) hi = lo + 1;
    const auto px = [&](double x) { return left + (w - left - right) * x / x_max; };
    const auto py = [&](double y) { return y0 + panel_h - panel_h * (y - lo) / (hi - lo); };
    svg << "<rect x=\"" << left << "\" y=\"" << y0 << "\" width=\"" << w - left - right << "\" height=\"" << panel_h
        << "\" fill=\"none\" stroke=\"#999\"/>\n<text x=\"" << left << "\" y=\"" << y0 - 4 << "\">" << esc(s.name) << "</text>\n"
        << "<text x=\"4\" y=\"" << y0 + 10 << "\">" << hi << "</text><text x=\"4\" y=\"" << y0 + panel_h << "\">" << lo
        << "</text>\n<text x=\"" << w - right - 40 << "\" y=\"" << y0 + panel_h + 14 << "\">step " << x_max << "</text>\n";
    if (s.points.empty()) continue;
    svg << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"";
    for (const auto& p : s.points) svg << px(p.first) << "," << py(p.second) << " ";
    svg << "\"/>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

std::vector<Series> read_metric_series(const std::string& run_or_file, const std::vector<std::string>& keys) {
  std::filesystem::path path(run_or_file);
  if (std::filesystem::is_directory(path)) path /= "metrics.jsonl";
  std::ifstream in(path);
  if (!in) throw InputError(path.string(), "", "cannot open metrics file");
  std::vector<Series> series;
  for (const auto& k : keys) series.push_back({k, {}});
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw InputError(path.string(), "line " + std::to_string(line_number), std::string("not JSON: ") + e.what());
    }
    for (auto& s : series)
      if (j.contains(s.name) && j.contains("step")) s.points.emplace_back(j["step"].get<double>(), j[s.name].get<double>());
  }
  return series;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  if (!out) throw std::runtime_error(path + ": cannot create");
  out << text;
}

}  // namespace mvae::generate
