#include "generate/latents.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/files.h"
#include "common/npy.h"
#include "model/window_batch.h"

namespace mvae::generate {

using inference::DecodeOptions;
using inference::Pattern;
using inference::TrainedModel;

EncodedWindows encode_split(TrainedModel& gen, data::ShardSet& shards, const std::string& split, int64_t max_windows,
                            int64_t batch) {
  if (!shards.has_split(split)) throw UsageError("{split} " + split + ": not in " + shards.folder().string());
  const std::string diff = shards.representation().difference(gen.representation());
  if (!diff.empty()) throw UsageError("the shards and the model disagree: " + diff);
  const int64_t n = max_windows > 0 ? std::min(max_windows, shards.size(split)) : shards.size(split);
  EncodedWindows out;
  std::vector<torch::Tensor> parts;
  for (int64_t begin = 0; begin < n; begin += batch) {
    std::vector<int64_t> indices;
    for (int64_t i = begin; i < std::min(n, begin + batch); ++i) indices.push_back(i);
    for (const int64_t index : indices) {
      const data::ShardSet::Source src = shards.source(split, index);
      const data::FileRecord& f = shards.files().at(src.file_id);
      out.labels.push_back({f.path, f.split, f.drummer, f.style, f.beat_type, f.bpm, src.start_bar});
    }
    parts.push_back(gen.encode_mean(model::read_window_tensor(shards, split, indices, gen.config().groove())).cpu());
  }
  out.mu = parts.empty() ? torch::zeros({0, gen.config().z}) : torch::cat(parts);
  return out;
}

EncodedWindows encode_midi_files(TrainedModel& gen, const std::vector<std::string>& files) {
  EncodedWindows out;
  std::vector<torch::Tensor> parts;
  for (const auto& file : files) {
    const auto windows = gen.windows_of(file);
    for (size_t k = 0; k < windows.size(); ++k)
      out.labels.push_back({file, "", "", "", "", 0, static_cast<int32_t>(k)});
    parts.push_back(gen.encode_mean(windows).cpu());
  }
  out.mu = torch::cat(parts);
  return out;
}

void save_encoded(const std::string& npy_path, const EncodedWindows& encoded) {
  const torch::Tensor mu = encoded.mu.to(torch::kFloat).contiguous();
  std::string base = npy_path;
  if (base.size() > 4 && base.compare(base.size() - 4, 4, ".npy") == 0) base.resize(base.size() - 4);
  std::string labels;
  for (const auto& l : encoded.labels)
    labels +=
        nlohmann::json{{"file", l.file},           {"split", l.split}, {"drummer", l.drummer},    {"style", l.style},
                       {"beat_type", l.beat_type}, {"bpm", l.bpm},     {"start_bar", l.start_bar}}
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
        "\n";
  // One row of latents per label line, written as a pair: neither is replaced unless both are whole.
  write_files_atomic({{npy_path, npy_bytes(std::vector<float>(mu.data_ptr<float>(), mu.data_ptr<float>() + mu.numel()),
                                           {mu.size(0), mu.size(1)})},
                      {base + ".labels.jsonl", labels}});
}

bool has_label(const WindowLabel& label, const std::string& rule) {
  if (rule == "fill" || rule == "beat") return label.beat_type == rule;
  const size_t eq = rule.find('=');
  if (eq == std::string::npos) throw UsageError("{label} '" + rule + "': use fill, beat, style=NAME or drummer=NAME");
  const std::string key = rule.substr(0, eq), value = rule.substr(eq + 1);
  if (key == "style") return label.style == value || label.style.rfind(value + "/", 0) == 0;
  if (key == "drummer") return label.drummer == value;
  throw UsageError("{label} '" + rule + "': the key must be style or drummer");
}

torch::Tensor attribute_vector(const EncodedWindows& encoded, const std::string& rule, int64_t* with,
                               int64_t* without) {
  std::vector<int64_t> yes, no;
  for (size_t i = 0; i < encoded.labels.size(); ++i)
    (has_label(encoded.labels[i], rule) ? yes : no).push_back(static_cast<int64_t>(i));
  if (yes.empty() || no.empty())
    throw UsageError("{label} " + rule + ": " + std::to_string(yes.size()) + " windows have it and " +
                     std::to_string(no.size()) + " do not; both sides need at least one");
  if (with) *with = static_cast<int64_t>(yes.size());
  if (without) *without = static_cast<int64_t>(no.size());
  const auto mean_of = [&](const std::vector<int64_t>& rows) {
    return encoded.mu.index_select(0, torch::tensor(rows, torch::kLong)).mean(0);
  };
  return mean_of(yes) - mean_of(no);
}

torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double t) {
  const double na = a.norm().item<double>(), nb = b.norm().item<double>();
  const double cosine = std::clamp((a * b).sum().item<double>() / std::max(na * nb, 1e-12), -1.0, 1.0);
  const double omega = std::acos(cosine);
  if (std::abs(std::sin(omega)) < 1e-6) return (1 - t) * a + t * b;
  return (std::sin((1 - t) * omega) * a + std::sin(t * omega) * b) / std::sin(omega);
}

}  // namespace mvae::generate
