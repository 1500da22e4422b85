// The multi-node path on one machine: `mpirun --hostfile` across two network namespaces, each a
// "node" with its own hostname and address (tests/netns/two_nodes.sh), MPI over TCP between them.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "process_util.h"
#include "run_folder_util.h"
#include "test_util.h"

using namespace mvae;
namespace fs = std::filesystem;

namespace {

const std::string kTwoNodes = "bash " + (fs::path(MVAE_SOURCE_DIR) / "tests/netns/two_nodes.sh").string();

// Removes the namespaces however the test ends.
struct Namespaces {
  explicit Namespaces(int id) : id(id) {}
  ~Namespaces() { test::run(kTwoNodes + " down " + std::to_string(id)); }
  int id;
};

std::string train_args(const fs::path& shards, const fs::path& run_dir) {
  return std::string(MVAE_TRAIN_BIN) + " --data " + shards.string() + " --run " + run_dir.string() +
         " --preset tiny --batch 8 --steps 40 --threads 1 --log-every 10 --eval-every 1000 --eval-windows 16 "
         "--checkpoint-every 1000";
}

}  // namespace

// Two ranks on two nodes must be one 2-rank world whose ranks are each local rank 0 of their node
// (so each would take cuda:0 of its own node), and train exactly as two ranks on one node.
TEST(TwoNodes, RanksOnTwoNodesTrainAsTwoRanksOnOne) {
  const test::ProcessRun check = test::run(kTwoNodes + " check");
  if (check.status != 0) GTEST_SKIP() << "no network namespaces here: " << check.output;
  test::TempDir dir;
  const fs::path shards = test::make_synthetic_shards(dir.path());

  const test::ProcessRun one_node = test::run(test::mpirun(2) + " " + train_args(shards, dir.path() / "one-node"));
  ASSERT_EQ(one_node.status, 0) << one_node.output;

  const int id = 1 + getpid() % 200;  // names and subnet of this test's namespaces
  Namespaces namespaces(id);
  const test::ProcessRun up = test::run(kTwoNodes + " up " + std::to_string(id));
  ASSERT_EQ(up.status, 0) << up.output;
  const std::string root = geteuid() == 0 ? " --allow-run-as-root" : "";
  const test::ProcessRun two_nodes = test::run("timeout 120 " + kTwoNodes + " mpirun " + std::to_string(id) + root +
                                               " -np 2 " + train_args(shards, dir.path() / "two-nodes"));
  ASSERT_EQ(two_nodes.status, 0) << two_nodes.output;
  EXPECT_NE(two_nodes.output.find("rank 0 of 2 on node1: local rank 0 of 1"), std::string::npos) << two_nodes.output;
  EXPECT_NE(two_nodes.output.find("rank 1 of 2 on node2: local rank 0 of 1"), std::string::npos) << two_nodes.output;
  EXPECT_NE(two_nodes.output.find("train: 2 rank(s)"), std::string::npos) << two_nodes.output;
  const double diff = test::max_difference(test::final_parameters(dir.path() / "one-node"),
                                           test::final_parameters(dir.path() / "two-nodes"));
  EXPECT_EQ(diff, 0.0) << "two nodes and one node differ by " << diff;
}
