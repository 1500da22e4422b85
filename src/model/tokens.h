// Windows as the model takes them: int64 token ids [rows, steps] from the uint16 ids that shards,
// MIDI files and generated patterns hold, or GrooVAE's float vectors [rows, steps, 27] from the
// velocities and offsets beside them; and back. The one place each conversion is written.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "data/drum_tokenizer.h"

namespace mvae::model {

// `ids` holds rows * steps ids, row-major. `pinned`: page-locked host memory, for asynchronous
// copies to a GPU.
torch::Tensor token_tensor(const uint16_t* ids, int64_t rows, int64_t steps, bool pinned = false);
// Windows of equal length: [windows.size(), length].
torch::Tensor token_tensor(const std::vector<std::vector<uint16_t>>& windows);

// Groove vectors [rows, steps, 27] = [hits(9) | velocities(9) | offsets(9)] per step: hit = 1 where
// the velocity (MIDI 1..127, 0 = no hit) is > 0, velocity / 127, and the offset as stored
// (GrooVAE's 2 * (grid - actual) / step, in (-1, 1], positive = early); all 0 where no hit.
// `velocities` and `offsets` hold rows * steps * 9 values, row-major.
torch::Tensor groove_tensor(const uint8_t* velocities, const float* offsets, int64_t rows, int64_t steps,
                            bool pinned = false);
// The same from tensors, on their device: velocities uint8 and offsets float [..., 9] -> [..., 27].
// The training loader sends these 5 bytes a value to the GPU, which builds the 12.
torch::Tensor groove_tensor(const torch::Tensor& velocities, const torch::Tensor& offsets);

// One decoded groove window [steps, 27] as a drum window (tokens, velocities, offsets; what MIDI
// writing takes): a hit where its value is > 0.5, its velocity round(127 v) clamped to 1..127, its
// offset clamped to [-1, 1]; 0 elsewhere.
data::DrumWindow window_of_groove(const torch::Tensor& window);

// Token ids [..., steps] int64 of hit vectors [..., steps, 9] (> 0.5 is a hit): bit c for class c,
// the token the 512-way models use for the same drums.
torch::Tensor tokens_of_hits(const torch::Tensor& hits);

}  // namespace mvae::model
