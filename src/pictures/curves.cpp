#include "pictures/curves.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "common/error.h"
#include "common/text.h"

namespace mvae::pictures {
namespace {

const char* kRunColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

std::string tick_label(double v) {
  char buf[32];
  if (v != 0 && (std::abs(v) >= 1e5 || std::abs(v) < 1e-3))
    std::snprintf(buf, sizeof buf, "%.0e", v);
  else
    std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, count);
  // A range too wide for doubles (values near 1e308) or too narrow for their precision gets its
  // ends as ticks: stepping through it would overflow or never advance.
  if (!std::isfinite(raw) || raw <= std::max(std::abs(lo), std::abs(hi)) * 1e-12) return {lo, hi};
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9 && ticks.size() <= 2 * size_t(count) + 2;
       t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  if (ticks.empty()) return {lo, hi};
  return ticks;
}

RunCurves read_run_curves(const std::string& run_or_file, const std::vector<std::string>& keys) {
  std::filesystem::path path(run_or_file);
  if (std::filesystem::is_directory(path)) path /= "metrics.jsonl";
  std::ifstream in(path);
  if (!in)
    throw InputError(path.string(), "",
                     "cannot open: give a run folder (train writes metrics.jsonl in it) or a metrics.jsonl file");
  RunCurves run;
  run.label = run_or_file;
  for (const auto& k : keys) run.series.push_back({k, {}});
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    // A line cut by a full disk or a killed run (the trainer cuts it off when it resumes) is skipped
    // with a warning, not the whole run refused; so are values that are not finite numbers.
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
      std::fprintf(stderr, "warning: %s: line %d: not a whole JSON record (a torn write?); skipped\n", path.c_str(),
                   line_number);
      continue;
    }
    for (auto& s : run.series)
      if (j.contains(s.name) && j.contains("step") && j[s.name].is_number() && j["step"].is_number() &&
          std::isfinite(j[s.name].get<double>()) && std::isfinite(j["step"].get<double>()))
        s.points.emplace_back(j["step"].get<double>(), j[s.name].get<double>());
  }
  return run;
}

std::string curves_svg(const std::vector<RunCurves>& runs, const std::vector<std::string>& keys,
                       const std::string& title) {
  const int w = 720, panel_h = 160, left = 70, right = 20, gap = 58;
  const int legend_h = 18 * static_cast<int>(runs.size());
  const int top = 34 + legend_h;
  const int height = top + static_cast<int>(keys.size()) * (panel_h + gap);
  const double inf = std::numeric_limits<double>::infinity();
  double x_max = 0;
  for (const auto& r : runs)
    for (const auto& s : r.series)
      for (const auto& p : s.points) x_max = std::max(x_max, p.first);
  if (x_max <= 0) x_max = 1;
  const std::vector<double> x_ticks = nice_ticks(0, x_max, 8);
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << height
      << "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << left << "\" y=\"18\" font-weight=\"bold\">" << xml_escape(title) << "</text>\n";
  for (size_t r = 0; r < runs.size(); ++r) {
    const int y = 30 + 18 * static_cast<int>(r);
    svg << "<line x1=\"" << left << "\" x2=\"" << left + 24 << "\" y1=\"" << y - 4 << "\" y2=\"" << y - 4
        << "\" stroke=\"" << kRunColours[r % 6] << "\" stroke-width=\"2\"/><text x=\"" << left + 30 << "\" y=\"" << y
        << "\">" << xml_escape(runs[r].label) << "</text>\n";
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    const bool validation = keys[k].rfind("eval_", 0) == 0;
    const int y0 = top + static_cast<int>(k) * (panel_h + gap) + 10;
    double lo = inf, hi = -inf;
    for (const auto& r : runs)
      for (const auto& p : r.series[k].points) {
        lo = std::min(lo, p.second);
        hi = std::max(hi, p.second);
      }
    if (lo == inf) lo = 0, hi = 1;
    if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
    const std::vector<double> y_ticks = nice_ticks(lo, hi, 4);
    lo = std::min(lo, y_ticks.front());
    hi = std::max(hi, y_ticks.back());
    const auto px = [&](double x) { return left + (w - left - right) * x / x_max; };
    const auto py = [&](double y) { return y0 + panel_h - panel_h * (y - lo) / (hi - lo); };
    svg << "<text x=\"" << left << "\" y=\"" << y0 - 5 << "\" font-weight=\"bold\">" << xml_escape(keys[k])
        << (validation ? " (validation; points are evaluations)" : " (training)") << "</text>\n";
    for (double t : y_ticks)
      svg << "<line x1=\"" << left << "\" x2=\"" << w - right << "\" y1=\"" << py(t) << "\" y2=\"" << py(t)
          << "\" stroke=\"#e5e5e5\"/><text x=\"" << left - 6 << "\" y=\"" << py(t) + 4 << "\" text-anchor=\"end\">"
          << tick_label(t) << "</text>\n";
    for (double t : x_ticks)
      svg << "<line x1=\"" << px(t) << "\" x2=\"" << px(t) << "\" y1=\"" << y0 + panel_h << "\" y2=\""
          << y0 + panel_h + 4 << "\" stroke=\"#666\"/><text x=\"" << px(t) << "\" y=\"" << y0 + panel_h + 16
          << "\" text-anchor=\"middle\">" << tick_label(t) << "</text>\n";
    svg << "<rect x=\"" << left << "\" y=\"" << y0 << "\" width=\"" << w - left - right << "\" height=\"" << panel_h
        << "\" fill=\"none\" stroke=\"#999\"/>\n<text x=\"" << (left + w - right) / 2 << "\" y=\"" << y0 + panel_h + 30
        << "\" text-anchor=\"middle\" fill=\"#555\">step</text>\n";
    for (size_t r = 0; r < runs.size(); ++r) {
      const auto& points = runs[r].series[k].points;
      if (points.empty()) continue;
      const char* colour = kRunColours[r % 6];
      svg << "<polyline fill=\"none\" stroke=\"" << colour << "\" stroke-width=\"1.5\" points=\"";
      for (const auto& p : points) svg << px(p.first) << "," << py(p.second) << " ";
      svg << "\"/>\n";
      if (validation)
        for (const auto& p : points)
          svg << "<circle cx=\"" << px(p.first) << "\" cy=\"" << py(p.second) << "\" r=\"2.5\" fill=\"" << colour
              << "\"/>\n";
    }
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace mvae::pictures
