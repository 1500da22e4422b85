// Windows per second the trainer's batch loader delivers, per rank, and how that compares with
// what one GPU would consume. The loader is the trainer's own (train::BatchLoader over the same
// sampler), drained as fast as it produces; under mpirun every rank reads its own part at once.
//   bench_loader --data shards2/ --preset cat-drums_2bar_small --batch 512 [--cold] [--loader-memory-mb 0]
//   mpirun -np 2 bench_loader --data shards2/ ...          two ranks reading at the same time
// Each rate is timed twice: the loader alone, and with the model's input made of each batch on
// --device (as the trainer does). --cold evicts the shard files from the page cache first (posix_fadvise DONTNEED), so
// the first reads come from the disk. docs/benchmarks.md, "Input pipeline", has the figures.
#include <fcntl.h>
#include <unistd.h>
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "comm/communicator.h"
#include "comm/mpi_context.h"
#include "common/error.h"
#include "common/run_program.h"
#include "data/shards.h"
#include "model/config.h"
#include "model/window_batch.h"
#include "train/batch_loader.h"
#include "train/sampler.h"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Drops the page-cache pages of every shard file under `folder` (clean pages of a file read-only
// here; no root needed).
void evict_from_page_cache(const std::filesystem::path& folder) {
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().extension() != ".h5") continue;
    const int fd = ::open(entry.path().c_str(), O_RDONLY);
    if (fd < 0) throw mvae::InputError(entry.path().string(), "", "cannot open to evict it from the page cache");
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

struct Options {
  std::string data, preset, device = "cpu";
  int64_t batch = 512, batches = 200;
  double loader_memory_mb = 2048, peak_tflops = 312, mfu = 0.3;
  bool cold = false, verify = true, pin = false, groove = false;
};

Options parse(int argc, char** argv, bool lead, bool* help) {
  Options o;
  po::options_description desc(
      "bench_loader: windows/s per rank from the trainer's batch loader (run under mpirun for several ranks)");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("data", po::value(&o.data)->required(), "shard folder written by preprocess")
    ("preset", po::value(&o.preset), "model whose consumption on one GPU to compare with (sets --groove from the preset)")
    ("groove", po::bool_switch(&o.groove), "read velocities and offsets (GrooVAE batches) instead of tokens (a groove preset implies it)")
    ("batch", po::value(&o.batch)->default_value(o.batch), "windows per rank per batch")
    ("batches", po::value(&o.batches)->default_value(o.batches), "batches timed per rank")
    ("loader-memory-mb", po::value(&o.loader_memory_mb)->default_value(o.loader_memory_mb), "as train's: 0 reads every window from the shards")
    ("cold", po::bool_switch(&o.cold), "evict the shard files from the page cache first")
    ("no-verify", "skip the CRC-32 check at open (train always checks; it reads every shard once)")
    ("pin", po::bool_switch(&o.pin), "batches in pinned memory, as for a GPU (needs CUDA)")
    ("device", po::value(&o.device)->default_value(o.device), "where the model's input of each batch is made: cpu or cuda")
    ("peak-tflops", po::value(&o.peak_tflops)->default_value(o.peak_tflops), "the GPU's peak (A100 bf16 dense: 312)")
    ("mfu", po::value(&o.mfu)->default_value(o.mfu), "the model FLOP utilisation assumed for the GPU");
  // clang-format on
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, desc), vm);
  *help = vm.count("help") > 0;
  if (*help) {
    if (lead) std::cout << desc << "\n";
    return o;
  }
  po::notify(vm);
  o.verify = vm.count("no-verify") == 0;
  if (o.batch < 1 || o.batches < 1) throw mvae::UsageError("--batch and --batches must be >= 1");
  if (!(o.loader_memory_mb >= 0)) throw mvae::UsageError("--loader-memory-mb must be >= 0");
  if (!o.preset.empty())
    o.groove =
        o.groove || mvae::model::preset(o.preset).groove();  // --groove: groove batches for a token preset's need
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  mvae::comm::MpiContext mpi(&argc, &argv);
  return mvae::run_program("bench_loader", [&] {
    bool help = false;
    const Options o = parse(argc, argv, mpi.info().rank == 0, &help);
    if (help) return 0;
    auto comm = mvae::comm::make_mpi_communicator();
    if (o.cold && comm->rank() == 0) evict_from_page_cache(o.data);
    comm->barrier();

    auto t0 = Clock::now();
    mvae::data::ShardSet shards(o.data, o.verify);
    const double open_s = seconds_since(t0);
    if (!o.preset.empty() && mvae::model::preset(o.preset).bars != shards.representation().bars)
      throw mvae::UsageError("--preset " + o.preset + " has " + std::to_string(mvae::model::preset(o.preset).bars) +
                             " bars, the shards in " + o.data + " " + std::to_string(shards.representation().bars));
    shards.set_resident_budget(static_cast<int64_t>(o.loader_memory_mb * (1 << 20)));
    mvae::train::DistributedSampler sampler(shards.size("train"), o.batch, comm->rank(), comm->world_size(),
                                            /*seed=*/1);
    comm->barrier();
    t0 = Clock::now();
    mvae::train::BatchLoader loader(shards, sampler, /*consumed=*/0, /*depth=*/4, o.pin, o.groove);
    loader.next();  // the first batch includes reading the resident arrays
    const double first_s = seconds_since(t0);
    t0 = Clock::now();
    for (int64_t b = 0; b < o.batches; ++b) loader.next();
    const double rate = static_cast<double>(o.batch * o.batches) / seconds_since(t0);
    // As the trainer takes them: each batch also made the model's input on --device.
    const torch::Device device(o.device);
    t0 = Clock::now();
    for (int64_t b = 0; b < o.batches; ++b) mvae::model::model_input(loader.next(), device);
    if (device.is_cuda()) torch::cuda::synchronize();
    const double input_rate = static_cast<double>(o.batch * o.batches) / seconds_since(t0);
    const double slowest = comm->all_reduce_scalar(rate, mvae::comm::ReduceOp::kMin);
    const double fastest = comm->all_reduce_scalar(rate, mvae::comm::ReduceOp::kMax);
    const double slowest_input = comm->all_reduce_scalar(input_rate, mvae::comm::ReduceOp::kMin);
    const double resident_mb =
        comm->all_reduce_scalar(static_cast<double>(shards.resident_bytes()) / (1 << 20), mvae::comm::ReduceOp::kMax);
    if (comm->rank() != 0) return 0;
    std::printf(
        "{\"ranks\": %d, \"bars\": %d, \"groove\": %s, \"batch\": %lld, \"cold\": %s, \"verify\": %s, "
        "\"loader_memory_mb\": %.0f, "
        "\"resident_mb\": %.1f, \"open_s\": %.3f, \"first_batch_s\": %.3f, \"windows_per_s_per_rank\": %.0f, "
        "\"fastest_rank\": %.0f, \"device\": \"%s\", \"with_model_input_per_s\": %.0f",
        comm->world_size(), shards.representation().bars, o.groove ? "true" : "false", static_cast<long long>(o.batch),
        o.cold ? "true" : "false", o.verify ? "true" : "false", o.loader_memory_mb, resident_mb, open_s, first_s,
        slowest, fastest, o.device.c_str(), slowest_input);
    if (!o.preset.empty() && o.peak_tflops > 0 && o.mfu > 0) {
      // Training consumes 3x the forward FLOPs per window (forward, and backward at about twice it).
      const double flops = 3.0 * mvae::model::forward_flops_per_sequence(mvae::model::preset(o.preset));
      const double gpu = o.peak_tflops * 1e12 * o.mfu / flops;
      std::printf(
          ", \"preset\": \"%s\", \"train_gflop_per_window\": %.3f, \"gpu_windows_per_s\": %.0f, \"margin\": %.2f",
          o.preset.c_str(), flops / 1e9, gpu, slowest / gpu);
    }
    std::printf("}\n");
    return 0;
  });
}
