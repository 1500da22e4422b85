#include "train/metrics_sink.h"

#include <algorithm>
#include <cerrno>
#include <cmath>

#include "common/error.h"
#include "common/files.h"

namespace mvae::train {

std::string format_eta(double seconds) {
  char buf[32];
  if (seconds >= 3600)
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(seconds / 3600), static_cast<int>(seconds / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(seconds / 60), static_cast<int>(seconds) % 60);
  return buf;
}

namespace {

// A last line without its newline is a record cut by a full disk or a killed run: appending to it
// would glue the next record on. It is cut off (the steps it covered are logged again after the
// resume), and the console says so.
void cut_torn_record(const std::filesystem::path& path, std::FILE* out) {
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(path, error);
  if (error || size == 0) return;
  std::ifstream in(path, std::ios::binary);
  const uintmax_t block = std::min<uintmax_t>(size, uintmax_t{1} << 20);  // a record is far shorter
  std::string tail(static_cast<size_t>(block), '\0');
  in.seekg(static_cast<std::streamoff>(size - block));
  in.read(tail.data(), static_cast<std::streamsize>(block));
  if (!in || tail.back() == '\n') return;
  const size_t newline = tail.rfind('\n');
  if (newline == std::string::npos && size > block)
    throw InputError(path.string(), "", "has no line end in its last MiB: not a metrics file; move it aside");
  const uintmax_t keep = newline == std::string::npos ? 0 : size - block + newline + 1;
  std::filesystem::resize_file(path, keep);
  std::fprintf(out,
               "note: %s ended in a cut record (%ju bytes after the last whole line: a full disk or a killed "
               "run); cut back to the last whole record\n",
               path.c_str(), size - keep);
}

}  // namespace

MetricsSink::MetricsSink(const std::filesystem::path& run, std::FILE* out)
    : out_(out), jsonl_path_(run / "metrics.jsonl"), tensorboard_((run / "tensorboard").string()) {
  cut_torn_record(jsonl_path_, out);
  jsonl_.open(jsonl_path_, std::ios::app);
  if (!jsonl_)
    throw RunError("cannot open " + jsonl_path_.string() + " to append: " + write_failure_reason(jsonl_path_, errno));
}

void MetricsSink::write(int64_t step, const std::vector<Field>& fields) {
  std::string line = "{\"step\": " + std::to_string(step);
  char value[64];
  for (const Field& f : fields) {
    std::snprintf(value, sizeof value, "%.9g", f.value);  // counts print as integers
    line += std::string(", \"") + f.key + "\": " + value;
    if (!f.tag.empty()) tensorboard_.scalar(f.tag, f.value, step);
  }
  jsonl_ << line << "}\n";
  jsonl_.flush();
  if (!jsonl_)  // a full disk: the record is lost, and the run says so rather than logging nothing
    throw RunError("cannot append to " + jsonl_path_.string() + ": " + write_failure_reason(jsonl_path_, errno) +
                   " (the checkpoints before this step are whole; free space and resume with --resume)");
  tensorboard_.flush();
}

void MetricsSink::training(const TrainingRecord& r) {
  const LossFigures& f = r.losses;
  const double kl_bits = f.kl / std::log(2.0);
  std::fprintf(out_,
               "step %lld/%lld  loss %.3f  r_loss %.3f  kl %.2f bits  acc %.4f  lr %.2e  |g| %.3f  beta %.3f  %.1f "
               "seq/s  ETA %s\n",
               static_cast<long long>(r.step), static_cast<long long>(r.total_steps), f.loss, f.r_loss, kl_bits,
               f.accuracy, r.lr, r.grad_norm, r.beta, r.seq_per_s, format_eta(r.eta_seconds).c_str());
  std::vector<Field> fields = {{"loss", "train/loss", f.loss},
                               {"r_loss", "train/r_loss", f.r_loss},
                               {"kl_bits", "train/kl_bits", kl_bits},
                               {"accuracy", "train/accuracy", f.accuracy},
                               {"lr", "train/lr", r.lr},
                               {"grad_norm", "train/grad_norm", r.grad_norm},
                               {"beta", "train/beta", r.beta},
                               {"sampling_probability", "train/sampling_probability", r.sampling_probability},
                               {"seq_per_s", "train/seq_per_s", r.seq_per_s}};
  if (r.groove) {  // Magenta's GrooVAE logs these three
    std::fprintf(out_, "    hits_loss %.3f  velocities_loss %.3f  offsets_loss %.3f\n", f.hits_loss, f.velocities_loss,
                 f.offsets_loss);
    fields.push_back({"hits_loss", "train/hits_loss", f.hits_loss});
    fields.push_back({"velocities_loss", "train/velocities_loss", f.velocities_loss});
    fields.push_back({"offsets_loss", "train/offsets_loss", f.offsets_loss});
  }
  std::fflush(out_);
  write(r.step, fields);
}

void MetricsSink::validation(const ValidationRecord& r) {
  std::fprintf(
      out_,
      "eval step %lld: %lld validation windows  r_loss %.3f  kl %.2f bits  elbo %.3f  teacher-forced acc %.4f  "
      "free-running acc %.4f%s\n",
      static_cast<long long>(r.step), static_cast<long long>(r.windows), r.r_loss, r.kl_bits, r.elbo, r.tf_accuracy,
      r.free_accuracy, r.best ? "  (best so far)" : "");
  std::fflush(out_);
  write(r.step, {{"eval_windows", "", static_cast<double>(r.windows)},
                 {"eval_r_loss", "eval/r_loss", r.r_loss},
                 {"eval_kl_bits", "eval/kl_bits", r.kl_bits},
                 {"eval_elbo", "eval/elbo", r.elbo},
                 {"eval_tf_accuracy", "eval/teacher_forced_accuracy", r.tf_accuracy},
                 {"eval_free_accuracy", "eval/free_running_accuracy", r.free_accuracy}});
}

}  // namespace mvae::train
