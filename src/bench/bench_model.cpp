// Times MusicVAE training steps (forward, backward, clip, Adam) with the shapes of
// ../shared/bench/musicvae_ref.py, so the two can be compared on one machine.
//   bench_model --bars 4 --enc 256 --z 128 --cond 256 --dec 256 --batch 64
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/model_options.h"
#include "common/run_program.h"
#include "common/runtime.h"
#include "model/musicvae.h"
#include "model/precision.h"

namespace po = boost::program_options;

namespace {

// The model's sizes without timing anything, for tools/scaling_model.py: every parameter tensor
// in registration order (name, elements) and the forward FLOPs per sequence.
void describe(const mvae::model::ModelConfig& c) {
  mvae::model::MusicVAE model(c);
  int64_t total = 0;
  std::string tensors;
  for (const auto& p : model->named_parameters()) {
    total += p.value().numel();
    tensors +=
        std::string(tensors.empty() ? "" : ", ") + "[\"" + p.key() + "\", " + std::to_string(p.value().numel()) + "]";
  }
  std::printf(
      "{\"preset\": \"%s\", \"bars\": %d, \"steps\": %lld, \"params\": %lld, \"forward_flops_per_sequence\": %.6g, "
      "\"parameters\": [%s]}\n",
      c.preset.c_str(), c.bars, static_cast<long long>(c.steps()), static_cast<long long>(total),
      mvae::model::forward_flops_per_sequence(c), tensors.c_str());
}

// What to time: the model and how each step runs.
struct BenchSettings {
  mvae::model::ModelConfig config = mvae::model::preset(mvae::model::kDefaultPreset);
  int batch = 64, iters = 10, warmup = 2, threads = 0;
  std::string device = "cpu";
  bool bf16 = false, tf32 = false, keep_denormals = false, describe_only = false;
  double peak_tflops = 0;
  double sampling_probability = 0;     // scheduled sampling at this probability every step (0: teacher forcing)
  std::string sampling_path = "auto";  // auto, stepwise-graph or two-pass
};

// false when --help was asked (printed). The model options are the trainer's (cli/model_options.h).
bool parse_settings(int argc, char** argv, BenchSettings& b) {
  po::options_description desc("bench_model: training-step throughput of MusicVAE (the model: --preset and sizes)");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("batch", po::value(&b.batch)->default_value(64), "")
    ("iters", po::value(&b.iters)->default_value(10), "")
    ("warmup", po::value(&b.warmup)->default_value(2), "")
    ("threads", po::value(&b.threads)->default_value(0), "intra-op threads (0 = LibTorch's default)")
    ("device", po::value(&b.device)->default_value("cpu"), "cpu or cuda")
    ("bf16", po::bool_switch(&b.bf16), "bf16 autocast of the forward pass")
    ("tf32", po::bool_switch(&b.tf32), "TF32 float32 matrix products (GPU)")
    ("keep-denormals", po::bool_switch(&b.keep_denormals), "do not flush denormals to zero (to measure what flushing saves)")
    ("sampling-probability", po::value(&b.sampling_probability)->default_value(0.0),
     "scheduled sampling: the probability a step reads the model's own sample (0: teacher forcing)")
    ("sampling-path", po::value(&b.sampling_path)->default_value("auto"),
     "how scheduled sampling runs: auto (the trainer's choice for the device), stepwise-graph or two-pass")
    ("peak-tflops", po::value(&b.peak_tflops)->default_value(0.0), "the device's peak for this precision: reports model FLOP utilisation")
    ("describe", po::bool_switch(&b.describe_only), "print the model's parameters per module and forward FLOPs as JSON, and time nothing");
  // clang-format on
  desc.add(mvae::cli::model_options_description());
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, desc), vm);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return false;
  }
  po::notify(vm);
  b.config = mvae::cli::resolve_model_config(vm, mvae::model::kDefaultPreset);
  b.config.sampling_rate = 0;  // the schedule does not apply: --sampling-probability is the probability of every step
  return true;
}

mvae::model::ScheduledSamplingPath sampling_path(const std::string& name) {
  using P = mvae::model::ScheduledSamplingPath;
  if (name == "auto") return P::kAuto;
  if (name == "stepwise-graph") return P::kStepwiseGraph;
  if (name == "two-pass") return P::kTwoPass;
  throw mvae::UsageError("--sampling-path must be auto, stepwise-graph or two-pass, got '" + name + "'");
}

// Seconds for `iters` training steps (forward, backward, clip, Adam) after `warmup` untimed ones.
double time_steps(const BenchSettings& b, mvae::model::MusicVAE& model, const torch::Tensor& data,
                  double* last_r_loss) {
  const torch::Device device(b.device);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  const auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  const auto precision = b.bf16 ? mvae::model::Precision::kBFloat16 : mvae::model::Precision::kFloat32;
  std::chrono::steady_clock::time_point t0;
  for (int i = 0; i < b.warmup + b.iters; ++i) {
    if (i == b.warmup) {
      sync();
      t0 = std::chrono::steady_clock::now();
    }
    optimizer.zero_grad();
    mvae::model::LossOutput out;
    {
      mvae::model::AutocastScope autocast(device, precision);
      out = model->forward(data, b.config.max_beta, b.sampling_probability, {}, sampling_path(b.sampling_path));
    }
    out.loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();
    if (i == b.warmup + b.iters - 1) *last_r_loss = out.r_loss.item<double>();
  }
  sync();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The benchmark; its JSON line on stdout.
int bench(int argc, char** argv) {
  BenchSettings b;
  if (!parse_settings(argc, argv, b)) return 0;
  sampling_path(b.sampling_path);  // refuses an unknown name before any work
  const mvae::model::ModelConfig& c = b.config;
  if (b.describe_only) return describe(c), 0;
  mvae::use_the_cpus_blas_kernels();
  mvae::tune_allocator();
  if (!b.keep_denormals) mvae::flush_denormals();
  if (b.threads > 0) torch::set_num_threads(b.threads);
  torch::manual_seed(0);
  const torch::Device device(b.device);
  mvae::model::allow_tf32(b.tf32);
  mvae::model::MusicVAE model(c);
  model->to(device);
  const auto on_device = torch::TensorOptions().device(device);
  const torch::Tensor data =
      c.groove() ? (torch::rand({b.batch, c.steps(), mvae::model::kGrooveValues}, on_device) < 0.2).to(torch::kFloat)
                 : torch::randint(0, c.vocab, {b.batch, c.steps()}, on_device.dtype(torch::kLong));
  double loss = 0;
  const double dt = time_steps(b, model, data, &loss);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  const double seq_per_s = b.batch * b.iters / dt;
  // Training FLOPs: forward + backward (about twice the forward); scheduled sampling's first pass not counted.
  const double tflops = 3.0 * mvae::model::forward_flops_per_sequence(c) * seq_per_s / 1e12;
  std::printf(
      "{\"seq_per_s\": %.2f, \"params\": %lld, \"threads\": %d, \"precision\": \"%s\", \"loss\": %.4f, "
      "\"model_tflops\": %.4f, \"mfu\": %.4f, \"tokens_per_s\": %.0f, \"sampling_probability\": %g, \"decoding\": "
      "\"%s\"}\n",
      seq_per_s, static_cast<long long>(params), torch::get_num_threads(), b.bf16 ? "bf16" : (b.tf32 ? "tf32" : "fp32"),
      loss, tflops, b.peak_tflops > 0 ? tflops / b.peak_tflops : 0.0, seq_per_s * static_cast<double>(c.steps()),
      b.sampling_probability, b.sampling_probability <= 0 ? "teacher-forced" : b.sampling_path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return mvae::run_program(
      "bench_model", [&] { return bench(argc, argv); }, mvae::cli::option_name);
}
