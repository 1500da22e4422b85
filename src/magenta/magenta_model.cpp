#include "magenta/magenta_model.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

#include "common/error.h"
#include "model/config.h"

namespace mvae::magenta {
namespace {

using model::ModelConfig;

// ---- What each supported Magenta config is.

struct MagentaConfig {
  std::string preset;        // ours with the same structure and hyper-parameters
  bool groove_magenta_loss;  // groovae: Magenta's loss counts velocities and offsets everywhere
  bool roll_input;           // DrumsConverter(roll_input=True): the encoder reads the drum roll
};

const std::map<std::string, MagentaConfig>& magenta_configs() {
  static const std::map<std::string, MagentaConfig> table = {
      {"cat-drums_2bar_small", {"cat-drums_2bar_small", false, true}},
      {"cat-drums_2bar_big", {"cat-drums_2bar_big", false, true}},
      {"groovae_4bar", {"groovae_4bar", true, false}},
      {"groovae_2bar_humanize", {"groovae_2bar_humanize", true, false}},
      {"groovae_2bar_tap_fixed_velocity", {"groovae_2bar_tap_fixed_velocity", true, false}},
      {"hierdec-drums_16bar", {"hierdec-drums_16bar", false, true}},
      {"flat-drums_16bar", {"flat-drums_16bar", false, true}},
  };
  return table;
}

// Where a model's decoder lives in Magenta's variable names.
struct DecoderScopes {
  std::string conductor_cells, conductor_init;  // hierarchical only
  std::string cells, init, output;
};

DecoderScopes decoder_scopes(bool hierarchical) {
  if (!hierarchical)
    return {"", "", "decoder/multi_rnn_cell", "decoder/z_to_initial_state", "decoder/output_projection"};
  return {"decoder/hierarchical_level_0", "decoder/hierarchical_level_0/initial_state",
          "core_decoder/decoder/multi_rnn_cell", "core_decoder/decoder/z_to_initial_state",
          "core_decoder/decoder/output_projection"};
}

std::string encoder_cell(int layer, int direction) {
  return "encoder/cell_" + std::to_string(layer) + "/bidirectional_rnn/" + (direction == 0 ? "fw" : "bw") +
         "/multi_rnn_cell/cell_0/lstm_cell";
}
std::string stack_cell(const std::string& cells, int layer) {
  return cells + "/cell_" + std::to_string(layer) + "/lstm_cell";
}

// ---- Tensors between the two sides.

torch::Tensor to_torch(const TfTensor& t) {
  std::vector<float> values = t.floats();
  return torch::from_blob(values.data(), t.shape, torch::kFloat).clone();
}

TfTensor to_tf(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return TfTensor::of_floats(std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel()), c.sizes().vec());
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Gates i, j, f, o (Magenta) <-> i, f, g, o (ours): blocks 1 and 2 swap, so the permutation is its
// own inverse. Indices into the last dimension of a [..., 4H] tensor.
torch::Tensor gate_permutation(int64_t H) {
  const torch::Tensor r = torch::arange(H);
  return torch::cat({r, r + 2 * H, r + H, r + 3 * H});
}

// An initial-state dense layer's outputs: Magenta's are (c, h) of layer 0, (c, h) of layer 1, ...;
// ours all h, then all c (model/musicvae.cpp, initial_state). Index i: the Magenta column of our row i.
torch::Tensor state_permutation(int64_t layers, int64_t H) {
  std::vector<int64_t> index;
  for (int part = 0; part < 2; ++part)  // 0: h, 1: c
    for (int64_t l = 0; l < layers; ++l)
      for (int64_t k = 0; k < H; ++k) index.push_back((2 * l + (part == 0 ? 1 : 0)) * H + k);
  return torch::tensor(index);
}

constexpr double kForgetBias = 1.0;  // LSTMBlockCell's default, added at run time there

// One input segment of an LSTM layer's kernel rows, in Magenta's concatenation order.
struct Segment {
  enum Kind { kTokens, kFeatures, kDense, kZeros, kLayerBelow } kind;
  int64_t rows;
};

// One LSTM layer (one direction) of one of our stacks.
struct LstmBinding {
  std::string scope;  // Magenta's ".../lstm_cell"
  std::string stack;  // our module: "encoder", "conductor", "decoder"
  int layer, direction, directions;
  int64_t hidden;
  std::vector<Segment> inputs;
};

struct DenseBinding {
  std::string scope;                           // Magenta's dense layer
  std::string linear;                          // ours: "mu", "sigma", "decoder_init", ...
  int64_t state_layers = 0, state_hidden = 0;  // > 0: an initial-state layer (rows permuted)
};

struct Layout {
  std::vector<LstmBinding> lstms;
  std::vector<DenseBinding> denses;
};

Layout layout_of(const ModelConfig& c) {
  Layout layout;
  const int64_t step_input = c.groove() ? model::kGrooveValues : c.vocab;
  const Segment::Kind step_kind = c.groove() ? Segment::kFeatures : Segment::kTokens;
  for (int l = 0; l < c.enc_layers; ++l)
    for (int d = 0; d < 2; ++d) {
      std::vector<Segment> in;
      if (l > 0)
        in = {{Segment::kLayerBelow, 2LL * c.enc}};
      else if (c.roll_input || c.groove())
        in = {{Segment::kFeatures, c.encoder_features()}};
      else
        in = {{Segment::kTokens, c.vocab}};
      layout.lstms.push_back({encoder_cell(l, d), "encoder", l, d, 2, c.enc, in});
    }
  layout.denses.push_back({"encoder/mu", "mu"});
  layout.denses.push_back({"encoder/sigma", "sigma"});
  const DecoderScopes scopes = decoder_scopes(c.hierarchical());
  int64_t decoder_dense = c.z;
  if (c.hierarchical()) {
    for (int l = 0; l < c.cond_layers; ++l) {
      // Magenta's non-autoregressive conductor reads a zero of size 1 at every step.
      const Segment in = l == 0 ? Segment{Segment::kZeros, 1} : Segment{Segment::kLayerBelow, c.cond};
      layout.lstms.push_back({stack_cell(scopes.conductor_cells, l), "conductor", l, 0, 1, c.cond, {in}});
    }
    layout.denses.push_back({scopes.conductor_init, "conductor_init", c.cond_layers, c.cond});
    decoder_dense = c.cond;
  }
  for (int l = 0; l < c.dec_layers; ++l) {
    std::vector<Segment> in = {{Segment::kLayerBelow, c.dec}};
    if (l == 0) in = {{step_kind, step_input}, {Segment::kDense, decoder_dense}};
    layout.lstms.push_back({stack_cell(scopes.cells, l), "decoder", l, 0, 1, c.dec, in});
  }
  layout.denses.push_back({scopes.init, "decoder_init", c.dec_layers, c.dec});
  layout.denses.push_back({scopes.output, "output"});
  return layout;
}

// ---- Reading a checkpoint's variables, with errors that say which and what was expected.

class CheckpointView {
 public:
  CheckpointView(const TfVariables& variables, std::string file, std::string config)
      : variables_(variables), file_(std::move(file)), config_(std::move(config)) {}

  bool has(const std::string& name) const { return variables_.count(name) > 0; }
  // The tensor `name` with exactly `shape`; InputError otherwise.
  torch::Tensor get(const std::string& name, const std::vector<int64_t>& shape) {
    const auto it = variables_.find(name);
    if (it == variables_.end())
      throw InputError(
          file_, "variable " + name,
          "missing: not a checkpoint of Magenta's " + config_ + " (expected shape " + shape_text(shape) + ")");
    if (it->second.shape != shape || it->second.dtype != TfDtype::kFloat)
      throw InputError(file_, "variable " + name,
                       to_string(it->second.dtype) + " " + shape_text(it->second.shape) + ", expected float32 " +
                           shape_text(shape) + " for " + config_);
    used_.insert(name);
    return to_torch(it->second);
  }
  // The size of dimension `dim` of `name`, for reading sizes off the checkpoint.
  int64_t size(const std::string& name, size_t dim) const {
    const auto it = variables_.find(name);
    if (it == variables_.end())
      throw InputError(file_, "variable " + name, "missing: not a checkpoint of Magenta's " + config_);
    if (it->second.shape.size() <= dim)
      throw InputError(file_, "variable " + name, "has shape " + shape_text(it->second.shape));
    return it->second.shape[dim];
  }
  // Model variables nobody read: a structure the config does not have (residual wrappers,
  // control inputs, another decoder). The optimizer's slots and counters are not the model.
  void refuse_unused() const {
    for (const auto& [name, tensor] : variables_) {
      if (used_.count(name) || name == "global_step" || name == "beta1_power" || name == "beta2_power") continue;
      const auto ends_with = [&](const std::string& s) {
        return name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
      };
      if (ends_with("/Adam") || ends_with("/Adam_1")) continue;
      throw InputError(file_, "variable " + name,
                       shape_text(tensor.shape) + " is not part of Magenta's " + config_ +
                           " as this project reads it (another config, or other hparams such as residual layers?)");
    }
  }
  const std::string& file() const { return file_; }

 private:
  const TfVariables& variables_;
  std::string file_, config_;
  std::set<std::string> used_;
};

// Units of each layer of a Magenta stack `cells` ("<cells>/cell_<l>/lstm_cell"); they must be one size.
std::pair<int, int> stack_sizes(const CheckpointView& view, const std::string& cells) {
  int layers = 0;
  int64_t units = 0;
  while (view.has(stack_cell(cells, layers) + "/bias")) {
    const std::string bias = stack_cell(cells, layers) + "/bias";
    const int64_t u = view.size(bias, 0) / 4;
    if (layers > 0 && u != units)
      throw InputError(view.file(), "variable " + bias,
                       std::to_string(u) + " units where layer 0 has " + std::to_string(units) +
                           ": this project's stacks have one size for every layer");
    units = u;
    ++layers;
  }
  if (layers == 0)
    throw InputError(view.file(), "variable " + stack_cell(cells, 0) + "/bias", "missing: no LSTM layers at " + cells);
  return {static_cast<int>(units), layers};
}

// ---- Our parameters by name.

torch::Tensor& parameter(std::map<std::string, torch::Tensor>& params, const std::string& name) {
  const auto it = params.find(name);
  MVAE_CHECK(it != params.end(), "the model has no parameter " + name);
  return it->second;
}

std::map<std::string, torch::Tensor> parameters_of(model::MusicVAE& m) {
  std::map<std::string, torch::Tensor> params;
  for (const auto& item : m->named_parameters()) params[item.key()] = item.value();
  return params;
}

std::string direction_suffix(const LstmBinding& b) {
  return b.directions == 2 ? (b.direction == 0 ? "_fw" : "_bw") : "";
}

// Our pieces of one LSTM layer from Magenta's kernel and bias.
void import_lstm(CheckpointView& view, const LstmBinding& b, std::map<std::string, torch::Tensor>& params) {
  const int64_t H = b.hidden;
  int64_t input_rows = 0;
  for (const Segment& s : b.inputs) input_rows += s.rows;
  const torch::Tensor perm = gate_permutation(H);
  const torch::Tensor kernel =
      view.get(b.scope + "/kernel", {input_rows + H, 4 * H}).index_select(1, perm);  // ours' gate order
  torch::Tensor bias = view.get(b.scope + "/bias", {4 * H}).index_select(0, perm);
  bias.narrow(0, H, H).add_(kForgetBias);
  const std::string p = b.stack + ".", sfx = direction_suffix(b), l = std::to_string(b.layer);
  int64_t row = 0;
  for (const Segment& s : b.inputs) {
    const torch::Tensor rows = kernel.narrow(0, row, s.rows);  // [n, 4H]
    switch (s.kind) {
      case Segment::kTokens: parameter(params, p + "token_gates" + sfx).narrow(0, 0, s.rows).copy_(rows); break;
      case Segment::kFeatures: parameter(params, p + "input_w" + sfx).copy_(rows.t()); break;
      case Segment::kDense: parameter(params, p + "dense_w" + sfx).copy_(rows.t()); break;
      case Segment::kLayerBelow: parameter(params, p + "w_ih" + l)[b.direction].copy_(rows.t()); break;
      case Segment::kZeros: break;  // multiplies a constant zero input
    }
    row += s.rows;
  }
  parameter(params, p + "w_hh" + l)[b.direction].copy_(kernel.narrow(0, row, H).t());
  parameter(params, p + "bias" + l)[b.direction].copy_(bias);
}

void export_lstm(const LstmBinding& b, std::map<std::string, torch::Tensor>& params, TfVariables& out) {
  const int64_t H = b.hidden;
  const std::string p = b.stack + ".", sfx = direction_suffix(b), l = std::to_string(b.layer);
  std::vector<torch::Tensor> rows;
  for (const Segment& s : b.inputs) {
    switch (s.kind) {
      case Segment::kTokens: rows.push_back(parameter(params, p + "token_gates" + sfx).narrow(0, 0, s.rows)); break;
      case Segment::kFeatures: rows.push_back(parameter(params, p + "input_w" + sfx).t()); break;
      case Segment::kDense: rows.push_back(parameter(params, p + "dense_w" + sfx).t()); break;
      case Segment::kLayerBelow: rows.push_back(parameter(params, p + "w_ih" + l)[b.direction].t()); break;
      case Segment::kZeros: rows.push_back(torch::zeros({s.rows, 4 * H})); break;
    }
  }
  rows.push_back(parameter(params, p + "w_hh" + l)[b.direction].t());
  const torch::Tensor perm = gate_permutation(H);
  out[b.scope + "/kernel"] = to_tf(torch::cat(rows, 0).index_select(1, perm));
  torch::Tensor bias = parameter(params, p + "bias" + l)[b.direction].clone();
  bias.narrow(0, H, H).sub_(kForgetBias);
  out[b.scope + "/bias"] = to_tf(bias.index_select(0, perm));
}

void import_dense(CheckpointView& view, const DenseBinding& b, std::map<std::string, torch::Tensor>& params) {
  torch::Tensor& weight = parameter(params, b.linear + ".weight");  // [out, in]
  torch::Tensor w = view.get(b.scope + "/kernel", {weight.size(1), weight.size(0)}).t();
  torch::Tensor bias = view.get(b.scope + "/bias", {weight.size(0)});
  if (b.state_layers > 0) {
    const torch::Tensor index = state_permutation(b.state_layers, b.state_hidden);
    w = w.index_select(0, index);
    bias = bias.index_select(0, index);
  }
  weight.copy_(w);
  parameter(params, b.linear + ".bias").copy_(bias);
}

void export_dense(const DenseBinding& b, std::map<std::string, torch::Tensor>& params, TfVariables& out) {
  torch::Tensor w = parameter(params, b.linear + ".weight");  // [out, in]
  torch::Tensor bias = parameter(params, b.linear + ".bias");
  if (b.state_layers > 0) {  // our row i goes to Magenta column index[i]
    const torch::Tensor index = state_permutation(b.state_layers, b.state_hidden);
    w = torch::zeros_like(w).index_copy(0, index, w);
    bias = torch::zeros_like(bias).index_copy(0, index, bias);
  }
  out[b.scope + "/kernel"] = to_tf(w.t());
  out[b.scope + "/bias"] = to_tf(bias);
}

const MagentaConfig& lookup(const std::string& name) {
  const auto it = magenta_configs().find(name);
  if (it == magenta_configs().end()) {
    std::string known;
    for (const auto& n : supported_configs()) known += (known.empty() ? "" : ", ") + n;
    throw UsageError("Magenta config '" + name + "' is not one this project reads or writes; supported: " + known);
  }
  return it->second;
}

}  // namespace

std::vector<std::string> supported_configs() {
  std::vector<std::string> names;
  for (const auto& kv : magenta_configs()) names.push_back(kv.first);
  return names;
}

ModelConfig config_of(const std::string& name) {
  const MagentaConfig& magenta = lookup(name);
  ModelConfig c = model::preset(magenta.preset);
  if (magenta.groove_magenta_loss) c.groove_loss_at_hits = false;
  c.roll_input = magenta.roll_input;
  if (c.groove()) c.groove_feedback_masked = false;  // GrooveLstmDecoder feeds back the raw heads
  if (c.hierarchical()) c.sampling_rate = 0;         // hierdec-mel_16bar's recipe: teacher forcing
  return c;
}

namespace {

// "[256,256]" or "256" as a list of positive sizes; UsageError names the hparam otherwise.
std::vector<int> parse_sizes(const std::string& key, const std::string& text) {
  std::string body = text;
  if (!body.empty() && body.front() == '[' && body.back() == ']') body = body.substr(1, body.size() - 2);
  std::vector<int> sizes;
  std::stringstream items(body);
  for (std::string item; std::getline(items, item, ',');) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0 || v > 65536)
      throw UsageError("{hparams}: " + key + "=" + text + " is not a size or a list of sizes such as [256,256]");
    sizes.push_back(static_cast<int>(v));
  }
  if (sizes.empty()) throw UsageError("{hparams}: " + key + " has no size");
  return sizes;
}

// Our stacks have one size per stack: [256,256] is 256 units x 2 layers; [512,256] is refused.
std::pair<int, int> uniform_stack(const std::string& key, const std::string& text) {
  const std::vector<int> sizes = parse_sizes(key, text);
  for (const int s : sizes)
    if (s != sizes.front())
      throw UsageError("{hparams}: " + key + "=" + text +
                       ": layers of different sizes are not supported (one size per stack)");
  return {sizes.front(), static_cast<int>(sizes.size())};
}

// "a=1,b=[2,3]" as (key, value) pairs: commas inside brackets belong to the value.
std::vector<std::pair<std::string, std::string>> split_hparams(const std::string& hparams) {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string item;
  int depth = 0;
  const auto flush = [&] {
    if (item.empty()) return;
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("{hparams}: '" + item + "' is not name=value (Magenta's form: enc_rnn_size=[256],z_size=256)");
    pairs.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    item.clear();
  };
  for (const char ch : hparams) {
    depth += ch == '[' ? 1 : ch == ']' ? -1 : 0;
    if (ch == ',' && depth == 0)
      flush();
    else if (ch != ' ')
      item += ch;
  }
  flush();
  return pairs;
}

}  // namespace

ModelConfig with_magenta_sizes(ModelConfig c, const std::string& hparams) {
  for (const auto& [key, value] : split_hparams(hparams)) {
    if (key == "enc_rnn_size") {
      std::tie(c.enc, c.enc_layers) = uniform_stack(key, value);
    } else if (key == "z_size") {
      const std::vector<int> z = parse_sizes(key, value);
      if (z.size() != 1) throw UsageError("{hparams}: z_size=" + value + " is one size, not a list");
      c.z = z.front();
    } else if (key == "dec_rnn_size") {
      std::tie(c.dec, c.dec_layers) = uniform_stack(key, value);
      if (c.hierarchical()) std::tie(c.cond, c.cond_layers) = std::make_pair(c.dec, c.dec_layers);
    } else {
      throw UsageError("{hparams}: " + key +
                       " is not a size this takes (enc_rnn_size, z_size, dec_rnn_size); "
                       "the rest of the config is Magenta's");
    }
  }
  c.validate();
  return c;
}

model::MusicVAE initialize_like_magenta(const std::string& name, uint64_t seed, const std::string& hparams) {
  const ModelConfig config = with_magenta_sizes(config_of(name), hparams);
  torch::manual_seed(seed);
  model::MusicVAE fresh(config);
  fresh->reset_like_magenta();
  export_checkpoint(fresh, name, 0, hparams);  // refuses what Magenta's config cannot hold
  fresh->eval();
  return fresh;
}

std::string magenta_sizes(const ModelConfig& c) {
  const auto stack = [](int units, int layers) {
    std::string s;
    for (int i = 0; i < layers; ++i) s += (i ? "," : "") + std::to_string(units);
    return "[" + s + "]";
  };
  return "enc_rnn_size=" + stack(c.enc, c.enc_layers) + ",z_size=" + std::to_string(c.z) +
         ",dec_rnn_size=" + stack(c.dec, c.dec_layers);
}

ModelConfig config_from_checkpoint(const TfVariables& variables, const std::string& name, const std::string& file,
                                   const std::string& hparams) {
  const ModelConfig expected = with_magenta_sizes(config_of(name), hparams);
  ModelConfig c = expected;
  const CheckpointView view(variables, file, name);
  c.enc = static_cast<int>(view.size(encoder_cell(0, 0) + "/bias", 0) / 4);
  c.enc_layers = 0;
  while (view.has(encoder_cell(c.enc_layers, 0) + "/bias")) ++c.enc_layers;
  c.z = static_cast<int>(view.size("encoder/mu/bias", 0));
  const DecoderScopes scopes = decoder_scopes(c.hierarchical());
  std::tie(c.dec, c.dec_layers) = stack_sizes(view, scopes.cells);
  if (c.hierarchical()) std::tie(c.cond, c.cond_layers) = stack_sizes(view, scopes.conductor_cells);
  c.validate();
  // Magenta builds the graph from the config's hparams, not from the checkpoint: a checkpoint of
  // other sizes is another config's, or needs the --hparams it was trained with on both sides.
  if (magenta_sizes(c) != magenta_sizes(expected) || c.cond != expected.cond || c.cond_layers != expected.cond_layers)
    throw InputError(file, "layer sizes",
                     "the checkpoint's are " + magenta_sizes(c) + ", Magenta's " + name +
                         (hparams.empty() ? "" : " with --hparams " + hparams) + " has " + magenta_sizes(expected) +
                         ": name the config it was trained with, or pass the sizes it was trained with (--hparams " +
                         magenta_sizes(c) + ")");
  return c;
}

model::MusicVAE import_checkpoint(const TfVariables& variables, const ModelConfig& config, const std::string& file) {
  model::MusicVAE m(config);
  CheckpointView view(variables, file, config.preset);
  std::map<std::string, torch::Tensor> params = parameters_of(m);
  torch::NoGradGuard no_grad;
  const Layout layout = layout_of(config);
  for (const LstmBinding& b : layout.lstms) import_lstm(view, b, params);
  for (const DenseBinding& b : layout.denses) import_dense(view, b, params);
  view.refuse_unused();
  m->eval();
  return m;
}

TfVariables export_checkpoint(model::MusicVAE& m, const std::string& name, int64_t global_step,
                              const std::string& hparams) {
  const ModelConfig& c = m->config();
  const ModelConfig target = with_magenta_sizes(config_of(name), hparams);
  const auto refuse = [&](const std::string& why) {
    throw UsageError("cannot export as Magenta's " + name + ": " + why);
  };
  if (c.hierarchical() != target.hierarchical())
    refuse(std::string("the model's decoder is ") + (c.hierarchical() ? "hierarchical" : "flat"));
  if (c.groove() != target.groove())
    refuse("the model predicts " + to_string(c.output) + ", the config " + to_string(target.output));
  if (c.roll_input != target.roll_input)
    refuse(c.roll_input
               ? "the model's encoder reads the drum roll, the config's does not"
               : "the model's encoder looks tokens up (trained with --encoder-input token), Magenta's reads the "
                 "drum roll: only a model trained with --encoder-input roll, the cat-drums presets' default, can be "
                 "exported to it");
  if (c.input_transform != target.input_transform)
    refuse("the model's input transform is " + to_string(c.input_transform) + ", the config's " +
           to_string(target.input_transform));
  if (c.bars != target.bars) refuse(std::to_string(c.bars) + " bars, the config has " + std::to_string(target.bars));
  if (c.hierarchical() && (c.cond != c.dec || c.cond_layers != c.dec_layers))
    refuse("Magenta's conductor has the decoder's size (dec_rnn_size); this one has " + std::to_string(c.cond) +
           " units x " + std::to_string(c.cond_layers) + ", the decoder " + std::to_string(c.dec) + " x " +
           std::to_string(c.dec_layers));
  if (magenta_sizes(c) != magenta_sizes(target))  // TrainedModel builds the config's sizes, then restores
    refuse("the model's layer sizes are " + magenta_sizes(c) + ", the config's " +
           (hparams.empty() ? "" : "with --hparams " + hparams + " ") + magenta_sizes(target) + ": pass --hparams " +
           magenta_sizes(c) + " here and the same hparams to Magenta");
  std::map<std::string, torch::Tensor> params = parameters_of(m);
  torch::NoGradGuard no_grad;
  TfVariables out;
  const Layout layout = layout_of(c);
  for (const LstmBinding& b : layout.lstms) export_lstm(b, params, out);
  for (const DenseBinding& b : layout.denses) export_dense(b, params, out);
  out["global_step"] = TfTensor::of_int64(global_step);
  return out;
}

}  // namespace mvae::magenta
