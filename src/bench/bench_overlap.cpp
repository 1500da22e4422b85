// How much of the gradient all-reduce the hooks hide behind backward. Under mpirun, each rank
// times training steps (forward, backward, gradient averaging) on random tokens, first with every
// all-reduce after backward, then with all-reduces started from the gradient hooks, and finally
// the all-reduces alone. Ranks meet at a barrier before every step, and a step's exposed
// communication is the shortest wait over the ranks (the last rank to finish backward waits only
// for the communication), so waiting for a slower rank is not counted as communication.
//   mpirun -np 2 bench_overlap --preset hierdec-drums_4bar --enc 256 --z 128 --cond 256 --dec 256 --batch 64
#include <boost/program_options.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/model_options.h"
#include "comm/communicator.h"
#include "comm/mpi_context.h"
#include "common/run_program.h"
#include "common/runtime.h"
#include "model/musicvae.h"
#include "train/gradient_reducer.h"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct ModeTimes {
  double step = 0, backward_end = 0, exposed = 0;  // medians, seconds
  double started_in_backward = 0;                  // buckets per step
};

ModeTimes time_steps(mvae::model::MusicVAE& model, const torch::Tensor& data, mvae::comm::Communicator& comm,
                     const mvae::train::ReducerOptions& options, int warmup, int iters, size_t* buckets) {
  std::vector<torch::Tensor> params = model->parameters();
  mvae::train::GradientReducer reducer(params, comm, options);
  std::vector<double> step, backward, exposed;
  ModeTimes t;
  for (int i = 0; i < warmup + iters; ++i) {
    comm.barrier();
    const auto t0 = Clock::now();
    reducer.zero();
    const auto out = model->forward(data, 0.2);
    reducer.arm();
    out.loss.backward();
    const auto t1 = Clock::now();
    reducer.finish();
    const auto t2 = Clock::now();
    if (i < warmup) continue;  // includes the step that rebuilds the buckets in ready order
    // The rank that finished backward last waits only for the communication itself; the others
    // also wait for it. The minimum over ranks is the communication left exposed.
    const double exposed_here = seconds(t1, t2);
    step.push_back(seconds(t0, t2));
    backward.push_back(seconds(t0, t1));
    exposed.push_back(comm.all_reduce_scalar(exposed_here, mvae::comm::ReduceOp::kMin));
    t.started_in_backward += static_cast<double>(reducer.last_timing().started_in_backward) / iters;
  }
  *buckets = reducer.num_buckets();
  t.step = median(step);
  t.backward_end = median(backward);
  t.exposed = median(exposed);
  return t;
}

// The same buckets' all-reduces with nothing else running.
double time_communication(mvae::model::MusicVAE& model, mvae::comm::Communicator& comm, double bucket_mb, int iters) {
  std::vector<torch::Tensor> params = model->parameters();
  mvae::train::GradientReducer reducer(params, comm, {bucket_mb, 1.0, /*overlap=*/false});
  std::vector<double> times;
  for (int i = 0; i < iters + 1; ++i) {
    comm.barrier();
    const auto t0 = Clock::now();
    reducer.arm();
    reducer.finish();
    if (i > 0) times.push_back(seconds(t0, Clock::now()));
  }
  return median(times);
}

}  // namespace

int main(int argc, char** argv) {
  mvae::comm::MpiContext mpi(&argc, &argv);
  return mvae::run_program(
      "bench_overlap",
      [&] {
        int batch = 64, iters = 20, warmup = 3, threads = 1;
        double bucket_mb = 25;
        po::options_description desc("bench_overlap: gradient all-reduce hidden behind backward (run under mpirun)");
        // clang-format off
    desc.add_options()
      ("help,h", "show this help")
      ("batch", po::value(&batch)->default_value(batch), "sequences per rank")
      ("iters", po::value(&iters)->default_value(iters), "timed steps per mode")
      ("warmup", po::value(&warmup)->default_value(warmup), "untimed steps per mode")
      ("threads", po::value(&threads)->default_value(threads), "intra-op threads per rank")
      ("bucket-mb", po::value(&bucket_mb)->default_value(bucket_mb), "gradient bucket size in MB");
        // clang-format on
        desc.add(mvae::cli::model_options_description());
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help")) {
          if (mpi.info().rank == 0) std::cout << desc << "\n";
          return 0;
        }
        po::notify(vm);
        const mvae::model::ModelConfig config = mvae::cli::resolve_model_config(vm, mvae::model::kDefaultPreset);
        mvae::tune_cpu();
        torch::set_num_threads(threads);
        auto comm = mvae::comm::make_mpi_communicator();
        torch::manual_seed(1 + comm->rank());
        mvae::model::MusicVAE model(config);
        const torch::Tensor data = torch::randint(0, config.vocab, {batch, config.steps()}, torch::kLong);

        size_t buckets = 0;
        const ModeTimes after = time_steps(model, data, *comm, {bucket_mb, 1.0, false}, warmup, iters, &buckets);
        const ModeTimes overlap = time_steps(model, data, *comm, {bucket_mb, 1.0, true}, warmup, iters, &buckets);
        const double alone = time_communication(model, *comm, bucket_mb, iters);
        if (comm->rank() == 0) {
          std::printf(
              "{\"ranks\": %d, \"threads\": %d, \"batch\": %d, \"bucket_mb\": %.1f, \"buckets\": %zu,\n"
              " \"after_backward\": {\"step_ms\": %.1f, \"exposed_ms\": %.2f},\n"
              " \"overlap\": {\"step_ms\": %.1f, \"exposed_ms\": %.2f, \"buckets_started_in_backward\": %.1f},\n"
              " \"communication_alone_ms\": %.2f, \"hidden_fraction\": %.3f, \"step_speedup\": %.3f}\n",
              comm->world_size(), threads, batch, bucket_mb, buckets, after.step * 1e3, after.exposed * 1e3,
              overlap.step * 1e3, overlap.exposed * 1e3, overlap.started_in_backward, alone * 1e3,
              alone > 0 ? std::clamp(1.0 - overlap.exposed / alone, 0.0, 1.0) : 0.0, after.step / overlap.step);
        }
        return 0;
      },
      mvae::cli::option_name);
}
