// MPI collectives over CPU tensors, each one non-blocking and waited for with a deadline: a rank
// that stops without dying (SIGSTOP, a frozen node, a debugger) would otherwise hang every other
// rank forever, since MPI collectives have no timeout. On the deadline the waiting rank asks
// every other rank whether it is alive (a ping on a communicator of its own, answered by any
// rank that is itself waiting in a collective), names those that did not answer, and ends the
// job: the same promise as --collective-timeout's on NCCL.
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "comm/communicator.h"
#include "comm/mpi_context.h"
#include "common/error.h"

namespace mvae::comm {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kPingTag = 1, kPongTag = 2;
constexpr double kLivenessGraceSeconds = 5;     // how long live ranks get to answer the ping
constexpr double kAnswerPingsAfterSeconds = 1;  // a waiting rank answers pings once it has waited this long
constexpr int kHostChars = 64;

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    case torch::kLong: return MPI_INT64_T;
    case torch::kInt: return MPI_INT32_T;
    default: MVAE_CHECK(false, std::string("MPI communicator: unsupported dtype ") + c10::toString(t.scalar_type()));
  }
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::kSum ? MPI_SUM : op == ReduceOp::kMax ? MPI_MAX : MPI_MIN; }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The liveness side channel: a duplicate of MPI_COMM_WORLD (its messages never meet the
// collectives'), and every rank's host name for the message.
class Liveness {
 public:
  explicit Liveness(int rank, int size) : rank_(rank), size_(size) {
    MVAE_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
    char host[kHostChars] = {};
    gethostname(host, kHostChars - 1);
    std::vector<char> all(static_cast<size_t>(kHostChars) * size);
    MVAE_MPI_CHECK(MPI_Allgather(host, kHostChars, MPI_CHAR, all.data(), kHostChars, MPI_CHAR, MPI_COMM_WORLD));
    for (int r = 0; r < size; ++r) hosts_.emplace_back(all.data() + static_cast<size_t>(r) * kHostChars);
  }
  ~Liveness() { MPI_Comm_free(&comm_); }

  // Answers the pings of ranks that have given up waiting (called while this rank waits).
  void answer_pings() {
    for (;;) {
      int pending = 0;
      MPI_Status status;
      MVAE_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, kPingTag, comm_, &pending, &status));
      if (!pending) return;
      int who = 0;
      MVAE_MPI_CHECK(MPI_Recv(&who, 1, MPI_INT, status.MPI_SOURCE, kPingTag, comm_, MPI_STATUS_IGNORE));
      MVAE_MPI_CHECK(MPI_Send(&rank_, 1, MPI_INT, status.MPI_SOURCE, kPongTag, comm_));
    }
  }

  // Pings every other rank and waits up to the grace period: the ranks that did not answer.
  std::vector<int> silent_ranks() {
    std::vector<MPI_Request> sends;
    for (int r = 0; r < size_; ++r) {
      if (r == rank_) continue;
      sends.emplace_back();
      MVAE_MPI_CHECK(MPI_Isend(&rank_, 1, MPI_INT, r, kPingTag, comm_, &sends.back()));
    }
    std::vector<bool> answered(size_, false);
    answered[rank_] = true;
    int answers = 0;
    const auto started = Clock::now();
    while (answers < size_ - 1 && seconds_since(started) < kLivenessGraceSeconds) {
      answer_pings();
      int pending = 0;
      MPI_Status status;
      MVAE_MPI_CHECK(MPI_Iprobe(MPI_ANY_SOURCE, kPongTag, comm_, &pending, &status));
      if (!pending) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      int who = 0;
      MVAE_MPI_CHECK(MPI_Recv(&who, 1, MPI_INT, status.MPI_SOURCE, kPongTag, comm_, MPI_STATUS_IGNORE));
      if (!answered[status.MPI_SOURCE]) ++answers;
      answered[status.MPI_SOURCE] = true;
    }
    std::vector<int> silent;
    for (int r = 0; r < size_; ++r)
      if (!answered[r]) silent.push_back(r);
    return silent;  // the sends to silent ranks stay pending: the job ends now
  }

  const std::string& host(int rank) const { return hosts_[rank]; }

 private:
  int rank_, size_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::vector<std::string> hosts_;
};

// A collective being waited for: which, since when, and when a stop signal was first seen during
// the wait. A stop requested before it started is not counted: that collective belongs to the
// checkpoint the ranks agreed on, which gets the whole deadline (a slow disk is no missing rank).
struct Pending {
  const char* what = "";
  int64_t number = 0;
  Clock::time_point started;
  bool stop_before_start = false;
  std::optional<Clock::time_point> stop_seen;
};

class MpiCommunicator;

// An MPI_Iallreduce in flight. Keeps the tensor alive until it completes.
class MpiWork : public Work {
 public:
  MpiWork(MpiCommunicator& comm, torch::Tensor tensor, MPI_Request request, Pending pending)
      : comm_(comm), tensor_(std::move(tensor)), request_(request), pending_(pending) {}
  ~MpiWork() override;
  bool test() override;
  void wait() override;

 private:
  MpiCommunicator& comm_;
  torch::Tensor tensor_;
  MPI_Request request_;
  Pending pending_;
};

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(const CollectiveDeadline& deadline) : deadline_(deadline) {
    MVAE_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    MVAE_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
    if (size_ > 1) liveness_ = std::make_unique<Liveness>(rank_, size_);
  }
  std::string name() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }

  // GPU tensors (a CUDA LibTorch without NCCL) are staged through host memory: correct, not fast.
  void all_reduce(torch::Tensor& t, ReduceOp op) override {
    if (size_ == 1) return;
    MVAE_CHECK(t.is_contiguous(), "MPI all_reduce needs a contiguous tensor");
    torch::Tensor host = t.device().is_cpu() ? t : t.cpu();
    MPI_Request request = MPI_REQUEST_NULL;
    MVAE_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, host.data_ptr(), static_cast<int>(host.numel()), mpi_type(host),
                                  mpi_op(op), MPI_COMM_WORLD, &request));
    wait(request, start("all-reduce"));
    if (!t.device().is_cpu()) t.copy_(host);
  }
  std::unique_ptr<Work> all_reduce_async(torch::Tensor& t, ReduceOp op) override {
    if (size_ == 1 || !t.device().is_cpu()) return Communicator::all_reduce_async(t, op);
    MVAE_CHECK(t.is_contiguous(), "MPI all_reduce needs a contiguous tensor");
    MPI_Request request = MPI_REQUEST_NULL;
    MVAE_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), mpi_op(op),
                                  MPI_COMM_WORLD, &request));
    return std::make_unique<MpiWork>(*this, t, request, start("all-reduce"));
  }
  void broadcast(torch::Tensor& t, int root) override {
    if (size_ == 1) return;
    MVAE_CHECK(t.is_contiguous(), "MPI broadcast needs a contiguous tensor");
    torch::Tensor host = t.device().is_cpu() ? t : t.cpu();
    MPI_Request request = MPI_REQUEST_NULL;
    MVAE_MPI_CHECK(
        MPI_Ibcast(host.data_ptr(), static_cast<int>(host.numel()), mpi_type(host), root, MPI_COMM_WORLD, &request));
    wait(request, start("broadcast"));
    if (!t.device().is_cpu()) t.copy_(host);
  }
  double all_reduce_scalar(double value, ReduceOp op) override {
    if (size_ == 1) return value;
    double out = 0;
    MPI_Request request = MPI_REQUEST_NULL;
    MVAE_MPI_CHECK(MPI_Iallreduce(&value, &out, 1, MPI_DOUBLE, mpi_op(op), MPI_COMM_WORLD, &request));
    wait(request, start("all-reduce"));
    return out;
  }
  void barrier() override {
    if (size_ == 1) return;
    MPI_Request request = MPI_REQUEST_NULL;
    MVAE_MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &request));
    wait(request, start("barrier"));
  }

  // One MPI_Test; answers liveness pings meanwhile, and ends the job past the deadline, or 30 s
  // after a stop signal came during the wait (a missing rank would otherwise hold the stop up
  // for the whole deadline).
  bool test(MPI_Request& request, Pending& p) {
    if (request == MPI_REQUEST_NULL) return true;
    int done = 0;
    MVAE_MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return true;
    // Pings come only from a rank past its deadline, and this rank is then stuck in the same wait:
    // a second into it is soon enough, and keeps the probe out of the fast collectives of a step.
    if (seconds_since(p.started) > kAnswerPingsAfterSeconds) liveness_->answer_pings();
    if (!p.stop_before_start && !p.stop_seen && stop_requested()) p.stop_seen = Clock::now();
    if (seconds_since(p.started) > deadline_.seconds ||
        (p.stop_seen && seconds_since(*p.stop_seen) > kStopGraceSeconds))
      end_job(p);
    return false;
  }

  // Spins briefly (a step's collectives finish in micro- to milliseconds), then sleeps between tests.
  void wait(MPI_Request& request, Pending p) {
    for (int polls = 0; !test(request, p); ++polls)
      if (polls > 2000) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }

 private:
  static constexpr double kStopGraceSeconds = 30;

  bool stop_requested() const { return deadline_.stop_requested && deadline_.stop_requested(); }
  Pending start(const char* what) { return {what, ++collectives_, Clock::now(), stop_requested(), std::nullopt}; }

  static std::string seconds_text(double seconds) {
    std::ostringstream text;
    text.precision(1);
    text << std::fixed << seconds;
    return text.str();
  }

  [[noreturn]] void end_job(const Pending& p) {
    std::ostringstream m;
    m << "collective timeout on " << liveness_->host(rank_) << ": " << p.what << " #" << p.number << " has waited "
      << seconds_text(seconds_since(p.started)) << " s (--collective-timeout " << deadline_.seconds << ")";
    if (p.stop_seen) m << ", and a stop was requested " << seconds_text(seconds_since(*p.stop_seen)) << " s ago";
    const std::vector<int> silent = liveness_->silent_ranks();  // takes up to the grace period
    if (silent.empty()) {
      m << "; every rank answered a liveness check, so the ranks disagree on which collective comes next (a bug: "
           "please report it)";
    } else {
      m << "; rank(s)";
      for (int r : silent) m << " " << r << " (" << liveness_->host(r) << ")";
      m << " did not answer a liveness check within " << kLivenessGraceSeconds
        << " s: stopped (SIGSTOP, a frozen node, a debugger) or busy outside MPI for that long";
    }
    m << ". Ending the job; continue from the newest checkpoint with --resume";
    MpiContext::abort_job(1, m.str());
  }

  CollectiveDeadline deadline_;
  int rank_ = 0, size_ = 1;
  int64_t collectives_ = 0;
  std::unique_ptr<Liveness> liveness_;
};

MpiWork::~MpiWork() {
  if (request_ != MPI_REQUEST_NULL) comm_.wait(request_, pending_);
}
bool MpiWork::test() { return comm_.test(request_, pending_); }
void MpiWork::wait() { comm_.wait(request_, pending_); }

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(const CollectiveDeadline& deadline) {
  return std::make_unique<MpiCommunicator>(deadline);
}

}  // namespace mvae::comm
