// The preprocessing job: dataset -> tokenized windows -> shuffled HDF5 shards + manifest.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "data/dataset_source.h"
#include "data/drum_tokenizer.h"

namespace mvae::preprocess {

struct PreprocessOptions {
  std::string input;  // the Groove zip, its unpacked folder, or any folder/zip of MIDI files
  std::string out;
  bool force = false;
  data::TokenizerOptions tokenizer;
  std::string pitch_map = "gm";
  int64_t shard_size = 8192;  // windows per shard
  uint64_t seed = 1234;       // shuffles the training windows
  int threads = 0;            // 0 = all cores
  int compression = 1;        // deflate level, 0 = none
  data::SplitFractions fractions;
  bool quiet = false;

  void validate() const;  // throws UsageError naming the option
};

struct PreprocessSummary {
  int64_t files = 0, files_skipped = 0;
  std::map<std::string, int64_t> windows;  // per split
  std::map<std::string, int64_t> skipped_by_reason;
  double seconds = 0;
};

PreprocessSummary run_preprocess(const PreprocessOptions& options);

}  // namespace mvae::preprocess
