// A model whose encoder looks each step's token up in a table (`--encoder-input token`) made into one
// whose encoder reads Magenta's drum roll (9 class bits and a "no drums" bit), which Magenta's
// cat-drums configs and Magenta.js can run. The roll's input weights are the least-squares fit of
// the token table (weighted by how often each token occurs) by a linear function of the roll; every
// other weight is kept. A token table is not linear in the roll, so the result is a starting point
// for `train --init-from ... --encoder-input roll`, which recovers the rest (docs/magenta.md).
#pragma once

#include <torch/torch.h>

#include "model/musicvae.h"

namespace mvae::magenta {

struct RollEncoderFit {
  model::MusicVAE model{nullptr};
  double residual_rms = 0;  // of the fitted gates against the table's, weighted by token frequency
  double table_rms = 0;     // of the table's gates, weighted the same way
};

// `token_counts` [vocab]: how often each token occurs (a token never seen still counts a little).
RollEncoderFit roll_encoder_from_tokens(model::MusicVAE& token_model, const torch::Tensor& token_counts);

}  // namespace mvae::magenta
