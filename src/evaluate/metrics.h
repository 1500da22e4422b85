// Reconstruction metrics of a batch, per example: the paper's Table 1 quantities.
#pragma once

#include <torch/torch.h>

#include "model/musicvae.h"

namespace mvae::evaluate {

struct ExampleMetrics {
  torch::Tensor r_loss;        // [B] cross-entropy summed over steps, z = mu (nats)
  torch::Tensor kl;            // [B] KL(q || prior) (nats)
  torch::Tensor tf_correct;    // [B] teacher-forced steps whose argmax equals the target
  torch::Tensor free_correct;  // [B] free-running decoded steps equal to the target
};

// x: [B, T] tokens on the model's device. Free-running decoding from z = mu samples at
// `temperature` (the paper: 1.0), or takes the argmax.
ExampleMetrics reconstruction_metrics(model::MusicVAE& model, const torch::Tensor& x, double temperature, bool argmax);

}  // namespace mvae::evaluate
