// Latent codes of many windows with their labels, and the paper's attribute vectors: the mean
// latent of windows with a label minus the mean of those without it.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/shards.h"
#include "inference/trained_model.h"

namespace mvae::generate {

struct WindowLabel {
  std::string file, split, drummer, style, beat_type;
  int bpm = 0;
  int32_t start_bar = 0;
};

struct EncodedWindows {
  torch::Tensor mu;  // [N, z]
  std::vector<WindowLabel> labels;
};

EncodedWindows encode_split(inference::TrainedModel& gen, data::ShardSet& shards, const std::string& split,
                            int64_t max_windows, int64_t batch);
EncodedWindows encode_midi_files(inference::TrainedModel& gen, const std::vector<std::string>& files);
// <path> gets the [N, z] float32 array; <path minus .npy>.labels.jsonl one JSON object per row.
void save_encoded(const std::string& npy_path, const EncodedWindows& encoded);

// "fill" / "beat" (beat_type), "style=funk" (the style or its family: funk/groove1 counts as
// funk), "drummer=drummer3".
bool has_label(const WindowLabel& label, const std::string& rule);
// Mean mu with the label minus mean mu without it: [z]. Throws UsageError when either side is empty.
torch::Tensor attribute_vector(const EncodedWindows& encoded, const std::string& rule, int64_t* with, int64_t* without);

// Spherical interpolation between a and b ([z]) at t in [0, 1]; linear when they are parallel.
torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double t);

}  // namespace mvae::generate
