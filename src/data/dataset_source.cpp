#include "data/dataset_source.h"

#include <zip.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "common/error.h"
#include "common/files.h"
#include "common/random.h"

namespace fs = std::filesystem;

namespace mvae::data {
namespace {

bool is_midi_name(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto ends = [&](const char* s) {
    const std::string suffix(s);
    return lower.size() >= suffix.size() && lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends(".mid") || ends(".midi");
}

// name -> bytes for every entry of the archive or folder that we may need.
struct RawTree {
  std::map<std::string, std::vector<uint8_t>> midi;  // relative path -> bytes
  std::map<std::string, std::string> csv;            // relative path of each info.csv -> text
  uint64_t bytes = 0;                                // of both, for kMaxDatasetBytes
  std::vector<std::string> problems;                 // files left out, and why
};

// Whether `s` is well-formed UTF-8 (names go into JSON, which holds nothing else).
bool is_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += n;
  }
  return true;
}

// `s` with bytes outside printable ASCII as \xNN, to name a file whose name is not UTF-8.
std::string escaped(const std::string& s) {
  std::string out;
  char buf[8];
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  return out;
}

// False (and a problem recorded) for a name that cannot be written into the manifest.
bool usable_name(const std::string& source, const std::string& name, RawTree* tree) {
  if (is_utf8(name)) return true;
  tree->problems.push_back(source + ":" + escaped(name) + ": its name is not UTF-8; left out (rename it to use it)");
  return false;
}
// The files of one dataset are held in memory together: Groove is 5 MB unpacked, so 2 GiB is
// far above any real drum dataset and below what a 2-core, 24 GiB machine holds.
constexpr uint64_t kMaxDatasetBytes = uint64_t{2} << 30;

// What the dataset's files hold in memory together, checked as each is added.
void charge_dataset_bytes(const std::string& path, uint64_t bytes, RawTree* tree) {
  tree->bytes += bytes;
  if (tree->bytes > kMaxDatasetBytes)
    throw InputError(path, "",
                     "holds more than " + std::to_string(kMaxDatasetBytes >> 20) +
                         " MiB of MIDI and info.csv files, the most one preprocess run reads: split the dataset");
}

RawTree read_zip(const std::string& path) {
  int err = 0;
  std::unique_ptr<zip_t, decltype(&zip_close)> archive(zip_open(path.c_str(), ZIP_RDONLY, &err), &zip_close);
  if (!archive) {
    zip_error_t error;
    zip_error_init_with_code(&error, err);
    const std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    throw InputError(path, "", "cannot open zip archive: " + message);
  }
  RawTree tree;
  const zip_int64_t entries = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t st;
    if (zip_stat_index(archive.get(), i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) continue;
    const std::string name = st.name;
    const bool is_csv = fs::path(name).filename() == "info.csv";
    if (!is_csv && !is_midi_name(name)) continue;
    if (name.find("__MACOSX") != std::string::npos || !usable_name(path, name, &tree)) continue;
    // The sizes an entry declares are checked before anything is allocated (a zip bomb declares
    // gigabytes in a few kilobytes); zip_fread stops at the declared size, and libzip checks the CRC.
    const uint64_t limit = is_csv ? kMaxTextFileBytes : kMaxMidiFileBytes;
    if (!(st.valid & ZIP_STAT_SIZE) || st.size > limit)
      throw InputError(path, "entry " + name,
                       "declares " + std::to_string(st.size) + " bytes uncompressed, over the limit of " +
                           std::to_string(limit) + " for a file of this kind: not a dataset this program reads");
    charge_dataset_bytes(path, st.size, &tree);
    std::unique_ptr<zip_file_t, decltype(&zip_fclose)> entry(zip_fopen_index(archive.get(), i, 0), &zip_fclose);
    if (!entry) throw InputError(path, "entry " + name, std::string("cannot open: ") + zip_strerror(archive.get()));
    std::vector<uint8_t> bytes(st.size);
    const zip_int64_t got = bytes.empty() ? 0 : zip_fread(entry.get(), bytes.data(), bytes.size());
    if (got < 0 || static_cast<zip_uint64_t>(got) != st.size)
      throw InputError(path, "entry " + name, std::string("read failed: ") + zip_file_strerror(entry.get()));
    if (is_csv)
      tree.csv[name] = std::string(bytes.begin(), bytes.end());
    else
      tree.midi[name] = std::move(bytes);
  }
  return tree;
}

RawTree read_folder(const std::string& root) {
  RawTree tree;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::follow_directory_symlink);
       it != fs::recursive_directory_iterator(); ++it) {
    if (!it->is_regular_file()) continue;
    const std::string rel = fs::relative(it->path(), root).generic_string();
    if ((it->path().filename() == "info.csv" || is_midi_name(rel)) && !usable_name(root, rel, &tree)) continue;
    if (it->path().filename() == "info.csv") {
      const std::vector<uint8_t> bytes = read_file_bytes(it->path(), kMaxTextFileBytes);
      charge_dataset_bytes(root, bytes.size(), &tree);
      tree.csv[rel] = std::string(bytes.begin(), bytes.end());
    } else if (is_midi_name(rel)) {
      tree.midi[rel] = read_file_bytes(it->path(), kMaxMidiFileBytes);
      charge_dataset_bytes(root, tree.midi[rel].size(), &tree);
    }
  }
  return tree;
}

std::string parent_prefix(const std::string& rel) {
  const size_t slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash + 1);
}

}  // namespace

std::vector<std::vector<std::string>> parse_csv(const std::string& text, const std::string& source) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    any = true;
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
      ++line;
    } else {
      field += c;
    }
  }
  if (quoted) throw InputError(source, "line " + std::to_string(line), "unterminated quoted field");
  if (any) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string split_by_hash(const std::string& relative_path, const SplitFractions& fractions) {
  const double u = static_cast<double>(fnv1a64(relative_path) % 1000000) / 1e6;
  if (u < fractions.test) return "test";
  if (u < fractions.test + fractions.validation) return "validation";
  return "train";
}

DatasetListing load_dataset(const std::string& zip_or_folder, const SplitFractions& fractions) {
  if (!fs::exists(zip_or_folder)) throw UsageError("{groove} " + zip_or_folder + ": no such file or folder");
  DatasetListing listing;
  listing.root = zip_or_folder;
  RawTree tree = fs::is_directory(zip_or_folder) ? read_folder(zip_or_folder) : read_zip(zip_or_folder);
  listing.problems = tree.problems;

  if (!tree.csv.empty()) {
    // The shallowest info.csv is the dataset's (the zip has groove/info.csv).
    const auto csv_it = std::min_element(tree.csv.begin(), tree.csv.end(), [](const auto& a, const auto& b) {
      return std::count(a.first.begin(), a.first.end(), '/') < std::count(b.first.begin(), b.first.end(), '/');
    });
    const std::string csv_name = zip_or_folder + ":" + csv_it->first;
    const std::string prefix = parent_prefix(csv_it->first);
    const auto rows = parse_csv(csv_it->second, csv_name);
    if (rows.empty()) throw InputError(csv_name, "", "empty file");
    std::map<std::string, size_t> col;
    for (size_t i = 0; i < rows[0].size(); ++i) col[rows[0][i]] = i;
    for (const char* needed : {"midi_filename", "split"})
      if (!col.count(needed)) throw InputError(csv_name, "header", std::string("missing column '") + needed + "'");
    const auto get = [&](const std::vector<std::string>& r, const char* name) -> std::string {
      const auto it = col.find(name);
      return it != col.end() && it->second < r.size() ? r[it->second] : std::string();
    };
    listing.has_info_csv = true;
    for (size_t r = 1; r < rows.size(); ++r) {
      const auto& row = rows[r];
      if (row.size() == 1 && row[0].empty()) continue;  // blank line
      if (row.size() != rows[0].size())
        throw InputError(csv_name, "row " + std::to_string(r + 1),
                         std::to_string(row.size()) + " fields, header has " + std::to_string(rows[0].size()));
      SourceFile f;
      f.path = get(row, "midi_filename");
      f.split = get(row, "split");
      if (f.split != "train" && f.split != "validation" && f.split != "test")
        throw InputError(csv_name, "row " + std::to_string(r + 1), "unknown split '" + f.split + "'");
      f.drummer = get(row, "drummer");
      f.style = get(row, "style");
      f.beat_type = get(row, "beat_type");
      f.time_signature = get(row, "time_signature");
      const std::string bpm = get(row, "bpm");
      f.bpm = bpm.empty() ? 0 : std::atoi(bpm.c_str());
      auto midi_it = tree.midi.find(prefix + f.path);
      if (midi_it == tree.midi.end()) {
        listing.problems.push_back(csv_name + ": row " + std::to_string(r + 1) + ": file '" + f.path + "' not found");
        continue;
      }
      f.bytes = std::move(midi_it->second);
      tree.midi.erase(midi_it);
      listing.files.push_back(std::move(f));
    }
    // Nothing is dropped in silence: other info.csv files are named, and MIDI files the one read
    // does not list are kept, split by path hash and unlabelled.
    for (const auto& kv : tree.csv)
      if (kv.first != csv_it->first)
        listing.problems.push_back(zip_or_folder + ":" + kv.first + ": another info.csv, not read (" + csv_name +
                                   " is, the shallowest); its files are split by path hash, without labels");
    if (!tree.midi.empty())
      listing.problems.push_back(std::to_string(tree.midi.size()) + " MIDI files not listed in " + csv_name +
                                 " (the first: " + tree.midi.begin()->first + "): split by path hash, without labels");
    for (auto& kv : tree.midi) {
      SourceFile f;
      f.path = kv.first.rfind(prefix, 0) == 0 ? kv.first.substr(prefix.size()) : kv.first;
      f.split = split_by_hash(f.path, fractions);
      f.bytes = std::move(kv.second);
      listing.files.push_back(std::move(f));
    }
  } else {
    for (auto& kv : tree.midi) {
      SourceFile f;
      f.path = kv.first;
      f.split = split_by_hash(f.path, fractions);
      f.bytes = std::move(kv.second);
      listing.files.push_back(std::move(f));
    }
  }
  std::sort(listing.files.begin(), listing.files.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.path < b.path; });
  return listing;
}

}  // namespace mvae::data
