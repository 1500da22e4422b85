// Magenta's MusicVAE checkpoints as our models and back: which Magenta configs we read and write,
// and how each of Magenta's variables is laid out in ours (docs/magenta.md).
//
// Magenta's LSTM cells (LSTMBlockCell) keep one kernel [input + H, 4H] with gates i, j, f, o and
// add a forget bias of 1.0 when they run; ours keep the input, per-sequence and recurrent
// weights apart, [4H, n] each, with gates i, f, g, o and the forget bias inside the bias. Dense
// layers are [in, out] there and [out, in] here. Initial states are (c, h) per layer there and
// all h then all c here. Every such difference is a fixed permutation or an added constant, so
// the conversion is exact both ways.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "magenta/tf_checkpoint.h"
#include "model/musicvae.h"

namespace mvae::magenta {

// The Magenta configs a checkpoint can be (CONFIG_MAP names, plus tools/magenta/drum_configs.py's
// hierdec-drums_16bar).
std::vector<std::string> supported_configs();

// Our model configuration for a checkpoint of Magenta config `name` trained with `hparams` (layer
// sizes, as with_magenta_sizes takes them; "" = the config's own): the sizes read from the
// checkpoint's shapes must be those, since Magenta's graph is built from the config, not from the
// checkpoint; the rest is the config's own (free bits, beta, schedule, dropout, data). Throws
// UsageError for an unsupported name (listing the supported ones) and InputError naming the
// variable or the sizes and what was expected when the checkpoint is not a model of that config.
model::ModelConfig config_from_checkpoint(const TfVariables& variables, const std::string& name,
                                          const std::string& file, const std::string& hparams = "");
// A model's layer sizes in Magenta's --hparams form: "enc_rnn_size=[512],z_size=256,dec_rnn_size=[256,256]".
std::string magenta_sizes(const model::ModelConfig& config);

// Magenta config `name` as our model (its preset with Magenta's settings: drum-roll input,
// Magenta's groove loss, teacher forcing for the hierarchical config). Throws UsageError for an
// unsupported name.
model::ModelConfig config_of(const std::string& name);
// `config` with the layer sizes of a Magenta --hparams string ("enc_rnn_size=[256],z_size=256,
// dec_rnn_size=[256,256]": the sizes Magenta's trainer takes on its command line; a hierarchical
// decoder's conductor takes dec_rnn_size too, as in Magenta's HierarchicalLstmDecoder). Other
// hparams are refused by name: the rest of the config is Magenta's. "" leaves `config` as it is.
model::ModelConfig with_magenta_sizes(model::ModelConfig config, const std::string& hparams);
// A fresh model of Magenta config `name` initialised as Magenta's trainer initialises one
// (MusicVAEImpl::reset_like_magenta: seen as Magenta's variables, LSTM and output kernels
// Glorot-uniform over their TensorFlow shapes, the posterior and initial-state kernels
// N(0, 0.001), biases zero, so each forget gate starts at LSTMBlockCell's +1). `train --init
// magenta` draws any model so; this one is also checked to be exportable as `name`.
// `hparams`: layer sizes as with_magenta_sizes takes them.
model::MusicVAE initialize_like_magenta(const std::string& name, uint64_t seed, const std::string& hparams = "");
// Our model with the checkpoint's weights (exactly: permutations and the forget bias only).
model::MusicVAE import_checkpoint(const TfVariables& variables, const model::ModelConfig& config,
                                  const std::string& file);

// Magenta's variables for our model, as Magenta config `name` names them, plus global_step:
// what tf.train.Saver restores into the graph TrainedModel builds. Throws UsageError when the
// model cannot be that config (another decoder or output, an encoder that looks tokens up
// instead of reading the drum roll, a conductor of another size than the decoder, layer sizes
// other than the config's with `hparams`).
TfVariables export_checkpoint(model::MusicVAE& model, const std::string& name, int64_t global_step,
                              const std::string& hparams = "");

}  // namespace mvae::magenta
