// Everything a training run is configured by. Parsed by train_options.cpp (command line and
// config file, Boost.Program_options) into typed fields, each parsed once; validated with errors
// that name the option.
#pragma once

#include <cstdint>
#include <string>

#include "model/config.h"
#include "model/precision.h"

namespace mvae::train {

struct TrainOptions {
  std::string data;  // shard folder written by preprocess
  std::string run;   // run folder: config, metrics, checkpoints
  model::ModelConfig model = model::preset(model::kDefaultPreset);
  int64_t batch = 64;  // per rank, per micro-batch
  // At most this many windows of each source file per epoch, drawn afresh each epoch (Magenta's converters: 5 for
  // its 2-bar drum configs, 20 for GrooVAE's); 0 = every window every epoch. train/sampler.h.
  int windows_per_file = 0;
  int accumulate = 1;    // micro-batches per optimizer step (communication on the last only)
  int64_t steps = 1000;  // optimizer steps in total
  double lr = 1e-3, lr_decay = 0.9999, min_lr = 1e-5;  // lr = (lr - min_lr) * decay^step + min_lr
  // The first steps' learning rate rises linearly to that, reaching it at step `lr_warmup_steps`
  // (0 = none): for large global batches with a scaled --lr (docs/distributed.md, "Scaling model").
  int64_t lr_warmup_steps = 0;
  // Steps an earlier stage trained before this run continued its weights (--init-from): the learning-rate,
  // KL-weight and sampling schedules read step + schedule_offset, so a run carried between machines as
  // weights alone keeps its schedules (the warm-up still counts from this run's step 0). 0 = a fresh start.
  int64_t schedule_offset = 0;
  double grad_clip = 1.0;  // global-norm clipping after averaging
  // Learning rate of the LSTM gate biases relative to --lr. 2 reproduces torch.nn.LSTM's training
  // dynamics: it keeps two bias vectors (b_ih, b_hh) that always appear summed, and Adam moves each
  // by about lr per step, so their sum moves twice as fast as one bias (ours, and Magenta's).
  // The default 2 is measured: better validation and test metrics on Groove (docs/results.md).
  double lstm_bias_lr_scale = 2.0;
  double clip_to_zero_norm = 1e4;  // a step with a larger norm applies no update
  uint64_t seed = 1;
  int64_t log_every = 10;
  int64_t eval_every = 200;
  int64_t eval_windows = 512;  // validation windows per evaluation (all of them if fewer)
  int64_t checkpoint_every = 200;
  int keep_checkpoints = 3;  // newest kept, besides the one `best` names
  // Model selection: the validation metric whose best value `checkpoints/best` marks (elbo,
  // tf_accuracy, free_accuracy; higher is better), and early stopping after `early_stop`
  // validations without an improvement larger than `early_stop_min_delta` (0 = never).
  std::string best_metric = "elbo";
  int early_stop = 0;
  double early_stop_min_delta = 0;
  bool resume = false;
  // A new run starts from this model's weights (a run folder's latest checkpoint, a checkpoint
  // folder or a model.pt) instead of a random initialisation; optimizer and step start afresh, and
  // the schedules too unless schedule_offset says where they stood. For fine-tuning with other
  // regularisation (dropout, free bits, scheduled sampling), or to continue a run carried as weights.
  // With --resume, a run that already has checkpoints continues from them.
  std::string init_from;
  // How a new run without --init-from draws its weights (model::Initialization).
  model::Initialization init = model::Initialization::kPyTorch;
  std::string device = "auto";  // auto, cpu, cuda
  int threads = 0;              // intra-op threads per rank (0 = cores / local ranks)
  double bucket_mb = 25;        // gradient all-reduce bucket size
  // Memory per rank for the decompressed training and validation windows, read once at their
  // first batch; batches are then memory copies (data::ShardSet::set_resident_budget). 0 reads
  // each window from the shards (the older loader; about 7x slower: docs/benchmarks.md).
  double loader_memory_mb = 2048;
  bool overlap = true;                // start each bucket's all-reduce during backward
  double collective_timeout_s = 600;  // a collective (MPI or NCCL) unfinished after this long ends the job
  model::Precision precision = model::Precision::kFloat32;  // or bf16 autocast of forward passes
  bool tf32 = false;                                        // TF32 float32 matrix products on GPU
  // Fault injection for the tests: at step `fail_at_step`, rank `fail_rank` fails by `fail_mode`
  // (--fail-mode exception, kill, nan).
  enum class FailMode { kNone, kException, kKill, kNan };
  int64_t fail_at_step = -1;
  int fail_rank = 0;
  FailMode fail_mode = FailMode::kNone;

  void validate() const;
  std::string to_json() const;
  // The learning rate of optimizer step `step` (0-based, this run's).
  double learning_rate_at(int64_t step) const;
  // The step the schedules of β and scheduled sampling read at this run's step `step`.
  int64_t schedule_step(int64_t step) const { return step + schedule_offset; }
};

// Parses argv (and --config FILE). Returns false when --help was printed.
bool parse_train_options(int argc, char** argv, TrainOptions& options, bool print_help);

}  // namespace mvae::train
