// preprocess: the Groove MIDI Dataset (zip or folder) -> tokenized, sharded HDF5.
#include <boost/program_options.hpp>

#include <cstdio>
#include <iostream>

#include "common/error.h"
#include "common/run_program.h"
#include "preprocess/preprocess.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  mvae::preprocess::PreprocessOptions o;
  po::options_description desc(
      "preprocess: turn drum performances into fixed-length token windows in HDF5 shards\n\n"
      "  preprocess --groove groove-v1.0.0-midionly.zip --out shards/\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("groove,g", po::value(&o.input), "the Groove zip as downloaded, its unpacked folder, or any folder/zip of MIDI files")
    ("out,o", po::value(&o.out), "output folder (appears only when complete)")
    ("force", po::bool_switch(&o.force), "replace a non-empty --out")
    ("bars", po::value(&o.tokenizer.bars)->default_value(2), "window length in bars (2, 4, 16, ...)")
    ("hop-bars", po::value(&o.tokenizer.hop_bars)->default_value(1), "hop between windows in bars")
    ("max-track-bars", po::value(&o.tokenizer.max_track_bars)->default_value(100), "drum tracks are cut at this many bars")
    ("max-windows-per-file", po::value(&o.tokenizer.max_windows_per_file)->default_value(0), "keep at most this many windows per file, evenly spaced (0 = unlimited)")
    ("pitch-map", po::value(&o.pitch_map)->default_value("gm"), "gm (General MIDI), roland (TD-11) or a JSON file")
    ("any-channel", po::bool_switch(&o.tokenizer.any_channel), "read drum pitches on every channel, not only channel 10")
    ("shard-size", po::value(&o.shard_size)->default_value(8192), "windows per shard")
    ("seed", po::value(&o.seed)->default_value(1234), "seed of the training-window shuffle")
    ("threads", po::value(&o.threads)->default_value(0), "worker threads (0 = all cores)")
    ("compression", po::value(&o.compression)->default_value(1), "deflate level of the shards, 0..9")
    ("validation-fraction", po::value(&o.fractions.validation)->default_value(0.1), "without info.csv: share of files for validation")
    ("test-fraction", po::value(&o.fractions.test)->default_value(0.1), "without info.csv: share of files for test")
    ("quiet,q", po::bool_switch(&o.quiet), "print only errors");
  // clang-format on
  return mvae::run_program("preprocess", [&] {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help") || argc == 1) {
      std::cout << desc << "\n";
      return argc == 1 ? 2 : 0;
    }
    po::notify(vm);
    const mvae::preprocess::PreprocessSummary s = mvae::preprocess::run_preprocess(o);
    if (!o.quiet) {
      std::printf("preprocess: %lld files, %lld skipped", static_cast<long long>(s.files),
                  static_cast<long long>(s.files_skipped));
      const char* sep = " (";
      for (const auto& [reason, count] : s.skipped_by_reason) {
        std::printf("%s%s %lld", sep, reason.c_str(), static_cast<long long>(count));
        sep = ", ";
      }
      std::printf("%s\n", s.skipped_by_reason.empty() ? "" : ")");
      std::printf("windows of %d bars: train %lld, validation %lld, test %lld\n", o.tokenizer.bars,
                  static_cast<long long>(s.windows.at("train")), static_cast<long long>(s.windows.at("validation")),
                  static_cast<long long>(s.windows.at("test")));
      std::printf("wrote %s (manifest.json, skipped.json) in %.2f s\n", o.out.c_str(), s.seconds);
    }
    return 0;
  });
}
