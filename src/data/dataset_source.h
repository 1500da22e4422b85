// The input of preprocessing: the Groove MIDI Dataset as its zip or unpacked folder (info.csv
// gives splits and labels), or any folder or zip of MIDI files (splits by a stable path hash).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mvae::data {

struct SourceFile {
  std::string path;   // relative to the dataset root, '/'-separated, e.g. drummer1/session1/1_funk_80_beat_4-4.mid
  std::string split;  // train, validation or test
  // Labels from info.csv; empty or 0 without one.
  std::string drummer, style, beat_type, time_signature;
  int bpm = 0;
  std::vector<uint8_t> bytes;  // the MIDI file's contents
};

struct SplitFractions {
  double validation = 0.1;
  double test = 0.1;
};

struct DatasetListing {
  std::string root;  // what the user gave
  bool has_info_csv = false;
  std::vector<SourceFile> files;      // sorted by path: the order does not depend on the file system
  std::vector<std::string> problems;  // rows of info.csv that name missing files, and the like
};

// Reads every MIDI file into memory (the Groove dataset is 3 MB). Throws InputError for an
// unreadable zip or folder, or a malformed info.csv (naming its row).
DatasetListing load_dataset(const std::string& zip_or_folder, const SplitFractions& fractions);

// The split of a file without info.csv: a stable hash of its relative path.
std::string split_by_hash(const std::string& relative_path, const SplitFractions& fractions);

// Parses CSV text (RFC 4180 quoting). Throws InputError naming `source` and the row.
std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& source);

}  // namespace mvae::data
