#include "preprocess/preprocess.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "common/progress.h"
#include "common/random.h"
#include "data/shards.h"
#include "midi/midi_file.h"

namespace fs = std::filesystem;

namespace mvae::preprocess {
namespace {

const std::array<const char*, 3> kSplits = {"train", "validation", "test"};

struct FileResult {
  std::vector<data::DrumWindow> windows;
  data::TokenizeStats stats;
  std::string skip_reason, skip_detail;
};

FileResult process_file(const data::SourceFile& file, const std::string& display_name, const data::PitchMap& map,
                        const data::TokenizerOptions& options) {
  FileResult result;
  try {
    const midi::MidiFile midi = midi::parse_midi(file.bytes.data(), file.bytes.size(), display_name);
    data::TokenizeResult t = data::tokenize_drums(midi, map, options);
    result.windows = std::move(t.windows);
    result.stats = t.stats;
    result.skip_reason = std::move(t.skip_reason);
    result.skip_detail = std::move(t.skip_detail);
  } catch (const InputError& e) {
    result.skip_reason = "parse_error";
    result.skip_detail = e.what();
  }
  return result;
}

// Runs fn(i) for i in [0, n) on `threads` workers; results go to fixed slots, so the output
// does not depend on scheduling.
template <typename Fn>
void parallel_for(size_t n, int threads, Fn fn) {
  std::atomic<size_t> next{0};
  const auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

nlohmann::ordered_json stats_json(const data::TokenizeStats& s) {
  nlohmann::ordered_json j;
  j["drum_notes"] = s.drum_notes;
  j["unmapped_notes_dropped"] = s.unmapped_notes;
  j["unclosed_notes_dropped"] = s.unclosed_notes;
  j["pieces"] = s.pieces;
  j["pieces_skipped_meter"] = s.pieces_bad_meter;
  j["drum_tracks"] = s.tracks;
  j["drum_tracks_too_short"] = s.tracks_too_short;
  j["drum_tracks_truncated"] = s.tracks_truncated;
  j["windows_before_dedup"] = s.windows_total;
  j["windows_duplicate"] = s.windows_duplicate;
  j["windows_capped"] = s.windows_capped;
  return j;
}

// Per split: hits per class, silent-step fraction and distinct tokens, for a quick look at the data.
nlohmann::ordered_json token_statistics(const std::vector<const data::DrumWindow*>& windows) {
  std::array<int64_t, data::kNumDrumClasses> hits{};
  std::vector<bool> used(data::kVocabSize, false);
  int64_t steps = 0, silent = 0;
  for (const auto* w : windows)
    for (uint16_t tok : w->tokens) {
      ++steps;
      silent += tok == 0;
      used[tok] = true;
      for (int c = 0; c < data::kNumDrumClasses; ++c) hits[c] += data::token_has(tok, c);
    }
  nlohmann::ordered_json j;
  j["steps"] = steps;
  j["silent_step_fraction"] = steps ? static_cast<double>(silent) / static_cast<double>(steps) : 0.0;
  j["distinct_tokens"] = std::count(used.begin(), used.end(), true);
  nlohmann::ordered_json per_class;
  for (int c = 0; c < data::kNumDrumClasses; ++c) per_class[data::drum_class_names()[c]] = hits[c];
  j["hits_per_class"] = per_class;
  return j;
}

}  // namespace

void PreprocessOptions::validate() const {
  if (input.empty()) throw UsageError("--groove is required: the Groove zip, its folder, or a folder of MIDI files");
  if (out.empty()) throw UsageError("--out is required: the folder to write shards to");
  if (tokenizer.bars < 1 || tokenizer.bars > 64)
    throw UsageError("--bars must be in 1..64, got " + std::to_string(tokenizer.bars));
  if (tokenizer.hop_bars < 1) throw UsageError("--hop-bars must be >= 1, got " + std::to_string(tokenizer.hop_bars));
  if (tokenizer.max_track_bars < tokenizer.bars)
    throw UsageError("--max-track-bars (" + std::to_string(tokenizer.max_track_bars) + ") must be >= --bars (" +
                     std::to_string(tokenizer.bars) + ")");
  if (tokenizer.max_windows_per_file < 0) throw UsageError("--max-windows-per-file must be >= 0 (0 = unlimited)");
  if (shard_size < 1) throw UsageError("--shard-size must be >= 1, got " + std::to_string(shard_size));
  if (threads < 0) throw UsageError("--threads must be >= 0 (0 = all cores)");
  if (compression < 0 || compression > 9) throw UsageError("--compression must be a deflate level in 0..9");
  if (fractions.validation < 0 || fractions.test < 0 || fractions.validation + fractions.test >= 1)
    throw UsageError("--validation-fraction and --test-fraction must be >= 0 and sum to less than 1");
}

namespace {

// The first few listing problems (files info.csv names but the input lacks, files it does not list)
// on stderr; all of them are in the manifest.
void warn_of_listing_problems(const std::vector<std::string>& problems) {
  for (size_t i = 0; i < problems.size() && i < 5; ++i)
    std::fprintf(stderr, "preprocess: warning: %s\n", problems[i].c_str());
  if (problems.size() > 5)
    std::fprintf(stderr,
                 "preprocess: warning: %zu more listing problems in manifest.json (statistics.listing_problems)\n",
                 problems.size() - 5);
}

[[noreturn]] void throw_no_windows(const PreprocessOptions& options, const PreprocessSummary& summary, size_t files) {
  std::string reasons;
  for (const auto& [reason, count] : summary.skipped_by_reason)
    reasons += (reasons.empty() ? "" : ", ") + reason + " " + std::to_string(count);
  throw InputError(options.input, "",
                   "no windows of " + std::to_string(options.tokenizer.bars) + " bars in " + std::to_string(files) +
                       " MIDI files (" + std::to_string(summary.files_skipped) + " skipped" +
                       (reasons.empty() ? "" : ": " + reasons) +
                       "); nothing was written. Files too short for --bars need a smaller --bars; drum tracks on "
                       "another channel than 10 need --any-channel");
}

// Every file tokenized on --threads workers; results in the listing's order.
std::vector<FileResult> tokenize_files(data::DatasetListing& listing, const data::PitchMap& map,
                                       const PreprocessOptions& options) {
  const size_t n = listing.files.size();
  std::vector<FileResult> results(n);
  ProgressBar progress("tokenizing", static_cast<int64_t>(n));
  const int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  parallel_for(n, threads, [&](size_t i) {
    results[i] = process_file(listing.files[i], options.input + ":" + listing.files[i].path, map, options.tokenizer);
    listing.files[i].bytes = std::vector<uint8_t>();  // free as we go
    progress.advance();
  });
  return results;
}

// The windows of every split (pointing into the file results), and what the manifest and
// skipped.json say of each file.
struct CollectedWindows {
  std::map<std::string, std::vector<data::StoredWindow>> rows;  // per split, in file order
  data::TokenizeStats totals;
  nlohmann::ordered_json files_json = nlohmann::ordered_json::array();
  nlohmann::ordered_json skipped_json = nlohmann::ordered_json::array();
};

CollectedWindows collect_windows(const data::DatasetListing& listing, const std::vector<FileResult>& results,
                                 PreprocessSummary& summary) {
  CollectedWindows c;
  for (size_t i = 0; i < results.size(); ++i) {
    const data::SourceFile& f = listing.files[i];
    const FileResult& r = results[i];
    c.totals.add(r.stats);
    c.files_json.push_back({{"path", f.path},
                            {"split", f.split},
                            {"drummer", f.drummer},
                            {"style", f.style},
                            {"bpm", f.bpm},
                            {"beat_type", f.beat_type},
                            {"time_signature", f.time_signature},
                            {"windows", r.windows.size()}});
    if (!r.skip_reason.empty()) {
      ++summary.files_skipped;
      ++summary.skipped_by_reason[r.skip_reason];
      c.skipped_json.push_back({{"file", f.path}, {"reason", r.skip_reason}, {"detail", r.skip_detail}});
    }
    for (const auto& w : r.windows) c.rows[f.split].push_back({&w, static_cast<int32_t>(i)});
  }
  return c;
}

// The median bpm of the training files that gave windows (info.csv); 0 without bpm labels.
int median_training_bpm(const data::DatasetListing& listing, const std::vector<FileResult>& results) {
  std::vector<int> bpms;
  for (size_t i = 0; i < results.size(); ++i)
    if (listing.files[i].split == "train" && listing.files[i].bpm > 0 && !results[i].windows.empty())
      bpms.push_back(listing.files[i].bpm);
  if (bpms.empty()) return 0;
  std::nth_element(bpms.begin(), bpms.begin() + static_cast<std::ptrdiff_t>(bpms.size() / 2), bpms.end());
  return bpms[bpms.size() / 2];
}

// One split's shards, written into the staging folder; the manifest's entry for them.
nlohmann::ordered_json write_split(const char* split, const std::vector<data::StoredWindow>& rows, int64_t files,
                                   const data::DataRepresentation& representation, const PreprocessOptions& options,
                                   const fs::path& staging) {
  const int64_t total = static_cast<int64_t>(rows.size());
  const int64_t num_shards = (total + options.shard_size - 1) / options.shard_size;
  nlohmann::ordered_json shards = nlohmann::ordered_json::array();
  for (int64_t k = 0; k < num_shards; ++k) {
    char name[96];
    std::snprintf(name, sizeof name, "%s-%05lld-of-%05lld.h5", split, static_cast<long long>(k),
                  static_cast<long long>(num_shards));
    const int64_t begin = k * options.shard_size, end = std::min(total, begin + options.shard_size);
    const std::vector<data::StoredWindow> part(rows.begin() + begin, rows.begin() + end);
    const fs::path path = staging / name;
    data::write_shard(path, split, static_cast<int>(k), part, representation, options.compression);
    shards.push_back({{"file", name},
                      {"rows", end - begin},
                      {"bytes", static_cast<int64_t>(fs::file_size(path))},
                      {"crc32", crc32_hex(file_crc32(path))}});
  }
  return {{"windows", total}, {"files", files}, {"shards", shards}};
}

// The options the shards were made with, as the manifest records them.
nlohmann::ordered_json arguments_json(const PreprocessOptions& options) {
  return {{"input", options.input},
          {"bars", options.tokenizer.bars},
          {"hop_bars", options.tokenizer.hop_bars},
          {"max_track_bars", options.tokenizer.max_track_bars},
          {"max_windows_per_file", options.tokenizer.max_windows_per_file},
          {"any_channel", options.tokenizer.any_channel},
          {"pitch_map", options.pitch_map},
          {"shard_size", options.shard_size},
          {"seed", options.seed},
          {"compression", options.compression},
          {"validation_fraction", options.fractions.validation},
          {"test_fraction", options.fractions.test}};
}

}  // namespace

PreprocessSummary run_preprocess(const PreprocessOptions& options) {
  options.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const data::PitchMap map = data::PitchMap::load(options.pitch_map);
  for (const std::string& cleaned : mvae::clean_up_after_killed_staging(options.out))
    std::fprintf(stderr, "preprocess: cleaned up %s\n", cleaned.c_str());
  mvae::StagingDir staging(options.out, options.force, {options.input});  // refuses a non-empty --out early

  data::DatasetListing listing = data::load_dataset(options.input, options.fractions);
  const size_t n = listing.files.size();
  if (n == 0) throw InputError(options.input, "", "no MIDI files (.mid, .midi) found");
  warn_of_listing_problems(listing.problems);
  const std::vector<FileResult> results = tokenize_files(listing, map, options);

  PreprocessSummary summary;
  summary.files = static_cast<int64_t>(n);
  CollectedWindows collected = collect_windows(listing, results, summary);
  auto& rows = collected.rows;
  if (rows["train"].empty() && rows["validation"].empty() &&
      rows["test"].empty())  // one split alone may be wanted (encode)
    throw_no_windows(options, summary, n);
  portable_shuffle(rows["train"], options.seed);

  data::DataRepresentation representation;
  representation.bars = options.tokenizer.bars;
  representation.pitch_map_json = map.to_json();
  if (const int bpm = median_training_bpm(listing, results); bpm > 0) representation.default_qpm = bpm;  // else 120

  nlohmann::ordered_json splits_json, token_stats_json;
  for (const char* split : kSplits) {
    summary.windows[split] = static_cast<int64_t>(rows[split].size());
    const auto split_files =
        std::count_if(listing.files.begin(), listing.files.end(), [&](const auto& f) { return f.split == split; });
    splits_json[split] = write_split(split, rows[split], split_files, representation, options, staging.path());
    std::vector<const data::DrumWindow*> windows;
    for (const auto& r : rows[split]) windows.push_back(r.window);
    token_stats_json[split] = token_statistics(windows);
  }

  nlohmann::ordered_json manifest;
  manifest["format_version"] = data::kShardFormatVersion;
  manifest["created_by"] = "musicvae-cpp preprocess";
  manifest["representation"] = nlohmann::ordered_json::parse(representation.to_json());
  manifest["arguments"] = arguments_json(options);
  manifest["splits"] = splits_json;
  manifest["statistics"] = {{"files", n},
                            {"files_skipped", summary.files_skipped},
                            {"skipped_by_reason", summary.skipped_by_reason},
                            {"split_source", listing.has_info_csv ? "info.csv" : "path hash"},
                            {"listing_problems", listing.problems},
                            {"extraction", stats_json(collected.totals)},
                            {"tokens", token_stats_json}};
  manifest["files"] = collected.files_json;

  // Labels from a stranger's info.csv need not be UTF-8: such bytes are written as U+FFFD rather
  // than failing the run at its end (file names are checked when the dataset is read).
  const auto json_text = [](const nlohmann::json& j) {
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  };
  write_file_atomic(staging.path() / "skipped.json", json_text(collected.skipped_json));
  write_file_atomic(staging.path() / "manifest.json", json_text(manifest));  // written last
  staging.publish();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace mvae::preprocess
