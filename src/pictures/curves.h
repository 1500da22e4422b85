// Training curves as an SVG picture a user reads without the JSON: one panel per metric, steps
// on the x axis, ticks with values on both axes, validation points marked, one colour per run.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace mvae::pictures {

struct Series {
  std::string name;                               // metric key, e.g. "eval_tf_accuracy"
  std::vector<std::pair<double, double>> points;  // (step, value)
};

// The metrics of one run: series of the given keys from its metrics.jsonl.
struct RunCurves {
  std::string label;  // legend text (the run folder)
  std::vector<Series> series;
};

// Reads a run's metrics.jsonl (or the file itself) into series of the given keys; InputError
// names the file and line of a malformed record.
RunCurves read_run_curves(const std::string& run_or_file, const std::vector<std::string>& keys);

// One panel per key, the runs overlaid. Keys starting with "eval_" are validation figures:
// their points are marked.
std::string curves_svg(const std::vector<RunCurves>& runs, const std::vector<std::string>& keys,
                       const std::string& title);

// Round tick values covering [lo, hi], about `count` of them (1, 2 or 5 times a power of ten apart).
std::vector<double> nice_ticks(double lo, double hi, int count);

}  // namespace mvae::pictures
