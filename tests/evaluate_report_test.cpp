// evaluate/report.h: the evaluate program's report on a split, in one process.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/error.h"
#include "data/shards.h"
#include "evaluate/report.h"
#include "model/musicvae.h"
#include "shards_fixture.h"

using namespace mvae;

namespace {

class EvaluateReport : public test::SyntheticShardsSuite {};

}  // namespace

TEST_F(EvaluateReport, FiguresAddUpAndTheTableShowsThem) {
  data::ShardSet shards(shards_);
  torch::manual_seed(3);
  model::MusicVAE m(model::preset("tiny"));
  evaluate::SplitReportOptions o;
  o.split = "train";
  o.eval.batch = 7;  // batches that do not divide the windows
  const auto report = evaluate::evaluate_split(m, shards, o);

  const auto& overall = report.at("overall");
  EXPECT_EQ(overall.at("windows").get<double>(), static_cast<double>(shards.size("train")));
  double styled = 0;
  for (const auto& [style, t] : report.at("per_style").items()) styled += t.at("windows").get<double>();
  EXPECT_EQ(styled, overall.at("windows").get<double>());  // every window in one style
  // The bars are of equal length: the overall accuracy is the mean of the bars'.
  const auto& by_bar = overall.at("teacher_forced_accuracy_by_bar");
  ASSERT_EQ(by_bar.size(), 2u);
  EXPECT_NEAR((by_bar[0].get<double>() + by_bar[1].get<double>()) / 2,
              overall.at("teacher_forced_accuracy").get<double>(), 1e-9);
  EXPECT_NEAR(overall.at("elbo_nats").get<double>(),
              -(overall.at("r_loss_nats").get<double>() + overall.at("kl_bits").get<double>() * std::log(2.0)), 1e-6);
  // The data are their own reference on the structure measure; samples of an untrained model are not.
  const auto& structure = report.at("structure");
  EXPECT_EQ(structure.at("data").at("distance_to_data").get<double>(), 0.0);
  EXPECT_GT(structure.at("prior_samples").at("distance_to_data").get<double>(), 0.0);

  const std::string table = evaluate::report_table(report);
  EXPECT_NE(table.find("overall"), std::string::npos) << table;
  EXPECT_NE(table.find("by bar (overall):"), std::string::npos) << table;
  EXPECT_NE(table.find("prior samples"), std::string::npos) << table;
}

TEST_F(EvaluateReport, TheFirstWindowsOnlyAndAMissingSplitNamed) {
  data::ShardSet shards(shards_);
  model::MusicVAE m(model::preset("tiny"));
  evaluate::SplitReportOptions o;
  o.split = "train";
  o.max_windows = 3;
  EXPECT_EQ(evaluate::evaluate_split(m, shards, o).at("overall").at("windows").get<double>(), 3.0);
  o.split = "valid";
  try {
    evaluate::evaluate_split(m, shards, o);
    FAIL() << "a split the shards lack was evaluated";
  } catch (const UsageError& e) {
    EXPECT_NE(in_option_words(e.what()).find("--split valid: not in"), std::string::npos) << e.what();
  }
}
