// Where a run's figures go: one record in, three outputs from it, so they cannot disagree:
// the progress line on stdout, a JSON object in <run>/metrics.jsonl, TensorBoard scalars.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "train/loss_figures.h"
#include "train/tensorboard.h"

namespace mvae::train {

// Training figures over the steps since the previous record, averaged over ranks.
struct TrainingRecord {
  int64_t step = 0, total_steps = 0;
  LossFigures losses;   // the means over the steps since the last record and over ranks (KL in nats; printed in bits)
  bool groove = false;  // a groove model: r_loss's parts are printed and logged too
  double lr = 0, grad_norm = 0, beta = 0, sampling_probability = 0;
  double seq_per_s = 0;    // sequences per second over all ranks
  double eta_seconds = 0;  // to the last step at this speed
};

// Validation figures (z = mu) over `windows` windows.
struct ValidationRecord {
  int64_t step = 0, windows = 0;
  double r_loss = 0, kl_bits = 0, elbo = 0;  // nats per window (KL in bits)
  double tf_accuracy = 0, free_accuracy = 0;
  bool best = false;  // the best value of the selection metric so far
};

class MetricsSink {
 public:
  // Appends to <run>/metrics.jsonl (a torn last record, left by a full disk or a kill, cut off
  // first, with a note on `out`), writes TensorBoard events under <run>/tensorboard, prints to
  // `out`. A record that cannot be written is a RunError naming the file and why.
  MetricsSink(const std::filesystem::path& run, std::FILE* out = stdout);
  void training(const TrainingRecord& r);
  void validation(const ValidationRecord& r);

 private:
  // One JSON line and the TensorBoard scalars of (JSON key, TensorBoard tag, value) fields.
  struct Field {
    const char* key;
    std::string tag;
    double value;
  };
  void write(int64_t step, const std::vector<Field>& fields);

  std::FILE* out_;
  std::filesystem::path jsonl_path_;
  std::ofstream jsonl_;
  TensorBoardWriter tensorboard_;
};

std::string format_eta(double seconds);  // "1h05m", "4m09s"

}  // namespace mvae::train
