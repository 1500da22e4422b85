// Times MusicVAE training steps (forward, backward, clip, Adam) with the shapes of
// ../shared/bench/musicvae_ref.py, so the two can be compared on one machine.
//   bench_model --bars 4 --enc 256 --z 128 --cond 256 --dec 256 --batch 64
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

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
    tensors += std::string(tensors.empty() ? "" : ", ") + "[\"" + p.key() + "\", " + std::to_string(p.value().numel()) + "]";
  }
  std::printf("{\"preset\": \"%s\", \"bars\": %d, \"steps\": %lld, \"params\": %lld, \"forward_flops_per_sequence\": %.6g, "
              "\"parameters\": [%s]}\n",
              c.preset.c_str(), c.bars, static_cast<long long>(c.steps()), static_cast<long long>(total),
              mvae::model::forward_flops_per_sequence(c), tensors.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  mvae::model::ModelConfig c = mvae::model::preset("hierdec-drums_4bar");
  int batch = 64, iters = 10, warmup = 2, threads = 0;
  std::string device_name = "cpu", decoder = "hierarchical";
  bool bf16 = false, tf32 = false, keep_denormals = false;
  std::string preset_name;
  double peak_tflops = 0;
  po::options_description desc("bench_model: training-step throughput of MusicVAE");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("vocab", po::value(&c.vocab)->default_value(512), "")
    ("enc", po::value(&c.enc)->default_value(256), "")
    ("enc-layers", po::value(&c.enc_layers)->default_value(1), "")
    ("z", po::value(&c.z)->default_value(128), "")
    ("cond", po::value(&c.cond)->default_value(256), "")
    ("cond-layers", po::value(&c.cond_layers)->default_value(2), "")
    ("dec", po::value(&c.dec)->default_value(256), "")
    ("dec-layers", po::value(&c.dec_layers)->default_value(2), "")
    ("bars", po::value(&c.bars)->default_value(4), "")
    ("steps-per-bar", po::value(&c.steps_per_bar)->default_value(16), "")
    ("decoder", po::value(&decoder)->default_value("hierarchical"), "hierarchical or flat")
    ("batch", po::value(&batch)->default_value(64), "")
    ("iters", po::value(&iters)->default_value(10), "")
    ("warmup", po::value(&warmup)->default_value(2), "")
    ("threads", po::value(&threads)->default_value(0), "intra-op threads (0 = LibTorch's default)")
    ("device", po::value(&device_name)->default_value("cpu"), "cpu or cuda")
    ("bf16", po::bool_switch(&bf16), "bf16 autocast of the forward pass")
    ("tf32", po::bool_switch(&tf32), "TF32 float32 matrix products (GPU)")
    ("keep-denormals", po::bool_switch(&keep_denormals), "do not flush denormals to zero (to measure what flushing saves)")
    ("preset", po::value(&preset_name), "start from this preset's sizes (the size options above then do not apply)")
    ("peak-tflops", po::value(&peak_tflops)->default_value(0.0), "the device's peak for this precision: reports model FLOP utilisation")
    ("describe", "print the model's parameters per module and forward FLOPs as JSON, and time nothing");
  // clang-format on
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, desc), vm);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  po::notify(vm);
  if (!preset_name.empty()) {
    c = mvae::model::preset(preset_name);
    c.sampling_rate = 0;  // teacher forcing: the throughput of the batched decoder
  } else {
    c.preset = "";
    c.decoder = decoder == "flat" ? mvae::model::DecoderKind::kFlat : mvae::model::DecoderKind::kHierarchical;
    c.free_bits = 48;
    c.max_beta = 0.2;
    c.sampling_rate = 0;
  }
  if (vm.count("describe")) return describe(c), 0;
  mvae::tune_allocator();
  if (!keep_denormals) mvae::flush_denormals();
  if (threads > 0) torch::set_num_threads(threads);
  torch::manual_seed(0);
  const torch::Device device(device_name);
  mvae::model::allow_tf32(tf32);
  mvae::model::MusicVAE model(c);
  model->to(device);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  const torch::Tensor data =
      c.groove() ? (torch::rand({batch, c.steps(), mvae::model::kGrooveValues}, torch::TensorOptions().device(device)) < 0.2).to(torch::kFloat)
                 : torch::randint(0, c.vocab, {batch, c.steps()}, torch::TensorOptions().dtype(torch::kLong).device(device));
  const auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  std::chrono::steady_clock::time_point t0;
  double loss = 0;
  for (int i = 0; i < warmup + iters; ++i) {
    if (i == warmup) {
      sync();
      t0 = std::chrono::steady_clock::now();
    }
    optimizer.zero_grad();
    mvae::model::LossOutput out;
    {
      mvae::model::AutocastScope autocast(device, bf16 ? mvae::model::Precision::kBFloat16 : mvae::model::Precision::kFloat32);
      out = model->forward(data, c.max_beta);
    }
    out.loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();
    if (i == warmup + iters - 1) loss = out.r_loss.item<double>();
  }
  sync();
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  const double seq_per_s = batch * iters / dt;
  // Training FLOPs: forward + backward (about twice the forward).
  const double tflops = 3.0 * mvae::model::forward_flops_per_sequence(c) * seq_per_s / 1e12;
  std::printf("{\"seq_per_s\": %.2f, \"params\": %lld, \"threads\": %d, \"precision\": \"%s\", \"loss\": %.4f, "
              "\"model_tflops\": %.4f, \"mfu\": %.4f, \"tokens_per_s\": %.0f}\n",
              seq_per_s, static_cast<long long>(params), torch::get_num_threads(), bf16 ? "bf16" : (tf32 ? "tf32" : "fp32"), loss, tflops,
              peak_tflops > 0 ? tflops / peak_tflops : 0.0, seq_per_s * static_cast<double>(c.steps()));
  return 0;
}
