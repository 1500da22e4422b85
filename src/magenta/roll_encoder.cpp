#include "magenta/roll_encoder.h"

#include <cmath>
#include <map>

#include "common/error.h"

namespace mvae::magenta {
namespace {

// [vocab, 11]: each token's drum roll (9 class bits, then "no drums") and a constant 1, whose fitted
// weight goes to the bias.
torch::Tensor roll_features(int64_t vocab) {
  const torch::Tensor tokens = torch::arange(vocab, torch::kLong).unsqueeze(1);                          // [V, 1]
  const torch::Tensor bits = tokens.bitwise_right_shift(torch::arange(9, torch::kLong)).bitwise_and(1);  // [V, 9]
  return torch::cat({bits, (tokens == 0).to(torch::kLong), torch::ones_like(tokens)}, 1).to(torch::kDouble);
}

}  // namespace

RollEncoderFit roll_encoder_from_tokens(model::MusicVAE& token_model, const torch::Tensor& token_counts) {
  model::ModelConfig config = token_model->config();
  if (config.groove() || config.roll_input)
    throw UsageError("the model's encoder does not look tokens up (it is " + config.summary() +
                     "): nothing to convert");
  const int64_t V = config.vocab;
  MVAE_CHECK(token_counts.numel() == V, "one count per token");
  config.roll_input = true;
  RollEncoderFit fit;
  fit.model = model::MusicVAE(config);
  std::map<std::string, torch::Tensor> from;
  for (const auto& p : token_model->named_parameters()) from[p.key()] = p.value().detach().to(torch::kDouble);
  torch::NoGradGuard no_grad;
  for (auto& p : fit.model->named_parameters())
    if (from.count(p.key()) && from[p.key()].sizes() == p.value().sizes()) p.value().copy_(from[p.key()]);

  const torch::Tensor counts = token_counts.to(torch::kDouble) + 1e-3;  // a token never seen weighs a little
  const torch::Tensor w = (counts / counts.sum()).sqrt().unsqueeze(1);  // [V, 1]
  const torch::Tensor x = roll_features(V);                             // [V, 11]
  double residual = 0, table = 0;
  torch::Tensor bias = fit.model->named_parameters()["encoder.bias0"];  // [2, 4H]
  const char* directions[] = {"_fw", "_bw"};
  for (int64_t d = 0; d < 2; ++d) {
    const torch::Tensor gates = from.at(std::string("encoder.token_gates") + directions[d]).narrow(0, 0, V);  // [V, 4H]
    const torch::Tensor solution = std::get<0>(torch::linalg_lstsq(x * w, gates * w));  // [11, 4H]
    residual += ((x.mm(solution) - gates) * w).pow(2).sum().item<double>();
    table += (gates * w).pow(2).sum().item<double>();
    fit.model->named_parameters()[std::string("encoder.input_w") + directions[d]].copy_(solution.narrow(0, 0, 10).t());
    bias[d].add_(solution[10].to(bias.scalar_type()));
  }
  const double cells = 2.0 * static_cast<double>(bias.size(1));
  fit.residual_rms = std::sqrt(residual / cells);
  fit.table_rms = std::sqrt(table / cells);
  fit.model->eval();
  return fit;
}

}  // namespace mvae::magenta
