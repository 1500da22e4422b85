#include "data/drum_tokenizer.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "common/error.h"

namespace mvae::data {
namespace {

// Seconds at a tick as Magenta has them: pretty_midi's tick-to-time table (what note_seq's MIDI
// reader builds its NoteSequence from), in its float64 arithmetic, operation for operation, so that
// a note exactly half-way between two steps rounds as Magenta's quantizer rounds it (the float error
// of the seconds decides such ties). Only the first track's tempos count, as in pretty_midi.
// This file is compiled with -ffp-contract=off: a fused multiply-add would round differently.
class MagentaClock {
 public:
  explicit MagentaClock(const midi::MidiFile& file) : resolution_(file.ticks_per_quarter) {
    segments_.push_back({0, 60.0 / (120.0 * resolution_), 0.0});
    for (const midi::TempoEvent& t : file.tempos) {
      if (t.track != 0) continue;
      const double tick_scale = 60.0 / ((6e7 / t.micros_per_quarter) * resolution_);
      if (t.tick == 0) {
        segments_.assign(1, {0, tick_scale, 0.0});
      } else if (tick_scale != segments_.back().tick_scale) {  // a repeated tempo is ignored
        const Segment& last = segments_.back();
        segments_.push_back({t.tick, tick_scale, seconds_in(last, t.tick)});
      }
    }
  }
  double seconds(int64_t tick) const { return seconds_in(segment_at(tick), tick); }
  // The tempo note_seq records for `tick`: qpm = 60 / (tick scale * resolution).
  double qpm(int64_t tick) const { return 60.0 / (segment_at(tick).tick_scale * resolution_); }

 private:
  struct Segment {
    int64_t start_tick;
    double tick_scale;     // seconds per tick
    double start_seconds;  // the table's value at start_tick
  };
  static double seconds_in(const Segment& s, int64_t tick) {
    return s.start_seconds + s.tick_scale * static_cast<double>(tick - s.start_tick);
  }
  const Segment& segment_at(int64_t tick) const {  // the last segment starting at or before tick
    auto it = std::upper_bound(segments_.begin(), segments_.end(), tick,
                               [](int64_t t, const Segment& s) { return t < s.start_tick; });
    return *std::prev(it);
  }
  int resolution_;
  std::vector<Segment> segments_;
};

// Which note-ons become notes when pretty_midi reads the file (note_seq reads MIDI through it), as
// pretty_midi 0.2.9 pairs them, per track, channel and pitch: a note-off closes every open note-on
// of an earlier tick; a note-on of the note-off's own tick stays open only when the same note-off
// closed an earlier one, and is dropped otherwise; a note-on never closed is dropped. So a drum hit
// written with its note-off at its own tick, and nothing sounding on its pitch, is not a hit for
// Magenta, nor here.
std::vector<bool> notes_pretty_midi_keeps(const midi::MidiFile& file) {
  std::vector<bool> kept(file.notes.size(), false);
  std::map<std::tuple<int, int, int>, std::vector<size_t>> open;  // (track, channel, pitch) -> note-on indices
  for (size_t i = 0; i < file.notes.size(); ++i) {
    const midi::NoteEvent& e = file.notes[i];
    const auto key = std::make_tuple(e.track, int{e.channel}, int{e.pitch});
    if (e.velocity > 0) {
      open[key].push_back(i);
      continue;
    }
    const auto it = open.find(key);
    if (it == open.end()) continue;  // a note-off with nothing open
    std::vector<size_t> same_tick;
    bool closed_any = false;
    for (const size_t on : it->second) {
      if (file.notes[on].tick != e.tick) {
        kept[on] = true;
        closed_any = true;
      } else {
        same_tick.push_back(on);
      }
    }
    if (closed_any && !same_tick.empty())
      it->second = std::move(same_tick);
    else
      open.erase(it);
  }
  return kept;
}

// A stretch of the file with one tempo and one meter (Magenta splits on time changes).
struct Piece {
  int64_t start_tick = 0, end_tick = 0;  // [start, end)
  int numerator = 4, denominator = 4;
  uint32_t micros_per_quarter = 500000;  // the piece's tempo (120 quarters per minute until a tempo event)
};

// Tempos and meters of the first track only (pretty_midi's rule, so Magenta's), in tick order.
std::vector<Piece> split_on_time_changes(const midi::MidiFile& file) {
  struct Change {
    int64_t tick;
    bool is_tempo;
    uint32_t tempo;
    int num, den;
  };
  std::vector<Change> changes;
  for (const auto& t : file.tempos)
    if (t.track == 0) changes.push_back({t.tick, true, t.micros_per_quarter, 0, 0});
  for (const auto& s : file.time_signatures)
    if (s.track == 0) changes.push_back({s.tick, false, 0, s.numerator, s.denominator});
  std::stable_sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) { return a.tick < b.tick; });

  std::vector<Piece> pieces;
  Piece current;
  uint32_t tempo = 500000;
  for (const auto& ch : changes) {
    const bool differs =
        ch.is_tempo ? ch.tempo != tempo : (ch.num != current.numerator || ch.den != current.denominator);
    if (!differs) continue;  // a repeated tempo or meter does not split
    if (ch.tick > current.start_tick) {
      current.end_tick = ch.tick;
      pieces.push_back(current);
      current.start_tick = ch.tick;
    }
    if (ch.is_tempo) {
      tempo = ch.tempo;
      current.micros_per_quarter = tempo;
    } else {
      current.numerator = ch.num;
      current.denominator = ch.den;
    }
  }
  current.end_tick = INT64_MAX;
  pieces.push_back(current);
  return pieces;
}

// All hits of one 16th step: the token and, per class, the loudest hit's velocity and offset.
struct StepHits {
  int64_t step = 0;
  uint16_t token = 0;
  uint8_t velocity[kNumDrumClasses] = {};
  float offset[kNumDrumClasses] = {};
};

// Steps hold their hits; `steps` is sorted by step.
std::vector<StepHits> quantize_piece(const midi::MidiFile& file, const std::vector<bool>& is_note,
                                     const MagentaClock& clock, const Piece& piece, const PitchMap& map,
                                     const TokenizerOptions& options, TokenizeStats& stats) {
  std::map<int64_t, StepHits> by_step;
  // note_seq's quantizer: seconds from the piece's start, step = int(seconds * steps/second + 0.5);
  // GrooVAE's offset = 2 * (step * step length - seconds) / step length.
  const double piece_start = clock.seconds(piece.start_tick);
  const double qpm = clock.qpm(piece.start_tick);
  const double steps_per_second = kStepsPerQuarter * qpm / 60.0;
  const double step_seconds = 60.0 / qpm / kStepsPerQuarter;
  // The notes are sorted by tick (midi::parse_midi): only the piece's own are visited, so a file of
  // many tempo changes costs the notes once, not once per piece.
  const auto first = std::lower_bound(file.notes.begin(), file.notes.end(), piece.start_tick,
                                      [](const midi::NoteEvent& n, int64_t tick) { return n.tick < tick; });
  for (auto it = first; it != file.notes.end() && it->tick < piece.end_tick; ++it) {
    const midi::NoteEvent& note = *it;
    if (note.velocity == 0) continue;
    if (!options.any_channel && note.channel != midi::kDrumChannel) continue;
    if (!is_note[static_cast<size_t>(it - file.notes.begin())]) {
      ++stats.unclosed_notes;
      continue;
    }
    ++stats.drum_notes;
    const int drum_class = map.class_for(note.pitch);
    if (drum_class < 0) {
      ++stats.unmapped_notes;
      continue;
    }
    const double seconds = clock.seconds(note.tick) - piece_start;
    const int64_t step = static_cast<int64_t>(seconds * steps_per_second + 0.5);
    const float offset = static_cast<float>((step_seconds * static_cast<double>(step) - seconds) / step_seconds * 2);
    StepHits& hits = by_step[step];
    hits.step = step;
    hits.token = static_cast<uint16_t>(hits.token | (1u << drum_class));
    if (note.velocity > hits.velocity[drum_class]) {  // collisions keep the loudest hit
      hits.velocity[drum_class] = note.velocity;
      hits.offset[drum_class] = offset;
    }
  }
  std::vector<StepHits> steps;
  steps.reserve(by_step.size());
  for (auto& kv : by_step) steps.push_back(kv.second);
  return steps;
}

struct Track {
  int64_t start_step, length;  // length is a multiple of 16
};

// note_seq's extract_drum_tracks with min_bars=1, gap_bars=1, pad_end=True and
// max_steps_truncate = max_track_bars * 16.
std::vector<Track> extract_tracks(const std::vector<StepHits>& steps, int max_track_bars, TokenizeStats& stats) {
  std::vector<Track> tracks;
  int64_t search_start = 0;
  size_t i = 0;
  for (;;) {
    while (i < steps.size() && steps[i].step < search_start) ++i;
    if (i == steps.size()) break;
    const int64_t first = steps[i].step;
    const int64_t track_start = first - (first - search_start) % kStepsPerBar;
    int64_t last_index = -1, gap_start = 0;
    for (; i < steps.size(); ++i) {
      const int64_t index = steps[i].step - track_start;
      if (last_index >= 0 && index - gap_start >= kStepsPerBar) break;  // a bar of silence ends the track
      last_index = index;
      gap_start = index + 1;
    }
    int64_t length = last_index + 1;
    length += (kStepsPerBar - length % kStepsPerBar) % kStepsPerBar;  // pad to the bar
    search_start = track_start + length;
    if (length - 1 < kStepsPerBar) {  // note_seq: len - 1 < steps_per_bar * min_bars
      ++stats.tracks_too_short;
      continue;
    }
    const int64_t max_steps = static_cast<int64_t>(max_track_bars) * kStepsPerBar;
    if (length > max_steps) {
      length = max_steps;
      ++stats.tracks_truncated;
    }
    ++stats.tracks;
    tracks.push_back({track_start, length});
  }
  return tracks;
}

// GrooveConverter's one "track": the piece from its first step, padded to the bar after its last hit.
std::vector<Track> whole_piece_track(const std::vector<StepHits>& steps) {
  if (steps.empty()) return {};
  return {{0, (steps.back().step / kStepsPerBar + 1) * kStepsPerBar}};
}

DrumWindow make_window(const std::vector<StepHits>& steps, int64_t first_step, int T) {
  DrumWindow w;
  w.tokens.assign(T, 0);
  w.velocities.assign(static_cast<size_t>(T) * kNumDrumClasses, 0);
  w.offsets.assign(static_cast<size_t>(T) * kNumDrumClasses, 0.0f);
  auto it = std::lower_bound(steps.begin(), steps.end(), first_step,
                             [](const StepHits& s, int64_t step) { return s.step < step; });
  for (; it != steps.end() && it->step < first_step + T; ++it) {
    const int64_t t = it->step - first_step;
    w.tokens[t] = it->token;
    for (int c = 0; c < kNumDrumClasses; ++c) {
      w.velocities[t * kNumDrumClasses + c] = it->velocity[c];
      w.offsets[t * kNumDrumClasses + c] = it->offset[c];
    }
  }
  return w;
}

// Why a file gave no window: the first rule that left nothing, in the order a reader would check.
void explain_no_window(const PitchMap& map, const TokenizerOptions& options, const std::string& bad_meter,
                       TokenizeResult& result) {
  const TokenizeStats& stats = result.stats;
  const int64_t mapped = stats.drum_notes - stats.unmapped_notes;
  if (stats.drum_notes == 0) {
    result.skip_reason = "no_drum_notes";
    const std::string where = options.any_channel ? "" : " on channel 10";
    result.skip_detail =
        stats.unclosed_notes == 0
            ? "no note-on events" + where
            : std::to_string(stats.unclosed_notes) + " note-ons" + where +
                  ", none closed by a note-off after it (Magenta's MIDI reader, pretty_midi, drops a note never "
                  "closed or closed at its own tick; so does this one)";
  } else if (mapped == 0) {
    result.skip_reason = "no_drum_notes";
    result.skip_detail =
        std::to_string(stats.drum_notes) + " drum notes, none with a pitch in the '" + map.name + "' map";
  } else if (!bad_meter.empty() && stats.tracks == 0 && stats.tracks_too_short == 0) {
    result.skip_reason = "meter";
    result.skip_detail =
        "time signature " + bad_meter + "; only meters of 16 sixteenth-steps per bar (4/4, 2/2) are used";
  } else {
    result.skip_reason = "too_short";
    result.skip_detail =
        options.whole_piece
            ? "its hits end before bar " + std::to_string(options.bars) + " (a window starts at the first step)"
            : "no drum track of at least " + std::to_string(options.bars) + " bars (a bar of silence ends a track)";
  }
}

}  // namespace

void TokenizeStats::add(const TokenizeStats& o) {
  drum_notes += o.drum_notes;
  unmapped_notes += o.unmapped_notes;
  unclosed_notes += o.unclosed_notes;
  pieces += o.pieces;
  pieces_bad_meter += o.pieces_bad_meter;
  tracks += o.tracks;
  tracks_too_short += o.tracks_too_short;
  tracks_truncated += o.tracks_truncated;
  windows_total += o.windows_total;
  windows_duplicate += o.windows_duplicate;
  windows_capped += o.windows_capped;
}

int64_t max_windows_of_file(int window_steps) {
  const int64_t bytes_per_window =
      window_steps * static_cast<int64_t>(sizeof(uint16_t) + kNumDrumClasses * (sizeof(uint8_t) + sizeof(float)));
  return kWindowMemoryBudgetBytes / bytes_per_window;
}

TokenizeResult tokenize_drums(const midi::MidiFile& file, const PitchMap& map, const TokenizerOptions& options) {
  TokenizeResult result;
  TokenizeStats& stats = result.stats;
  const int T = options.window_steps();
  const int64_t hop = static_cast<int64_t>(options.hop_bars) * kStepsPerBar;
  std::string bad_meter;

  const int64_t limit = max_windows_of_file(T);
  const std::vector<Piece> pieces = split_on_time_changes(file);
  const MagentaClock clock(file);
  const std::vector<bool> is_note = notes_pretty_midi_keeps(file);
  if (options.whole_piece && pieces.size() > 1) {  // note_seq's MultipleTempoError / MultipleTimeSignatureError
    result.skip_reason = "time_changes";
    result.skip_detail =
        "the tempo or meter changes; a groove model reads files of one tempo and one meter, as "
        "Magenta's GrooveConverter does";
    return result;
  }
  for (size_t p = 0; p < pieces.size(); ++p) {
    const Piece& piece = pieces[p];
    ++stats.pieces;
    const int64_t mapped_before = stats.drum_notes - stats.unmapped_notes;
    std::vector<StepHits> steps = quantize_piece(file, is_note, clock, piece, map, options, stats);
    // steps/bar = 4 * (4 / denominator) * numerator must be 16: 4/4, 2/2, 8/8 pass.
    if (piece.numerator * kStepsPerBar != kStepsPerBar * piece.denominator) {
      if (stats.drum_notes - stats.unmapped_notes > mapped_before) {
        ++stats.pieces_bad_meter;
        bad_meter = std::to_string(piece.numerator) + "/" + std::to_string(piece.denominator);
      }
      continue;
    }
    std::set<std::vector<uint16_t>> seen;  // de-duplication per piece, as Magenta does
    const std::vector<Track> tracks =
        options.whole_piece ? whole_piece_track(steps) : extract_tracks(steps, options.max_track_bars, stats);
    for (const Track& track : tracks) {
      std::vector<int64_t> ends;
      for (int64_t end = T; end <= track.length; end += hop) ends.push_back(end);
      if (options.cover_track_end && !ends.empty() && ends.back() < track.length) ends.push_back(track.length);
      for (const int64_t end : ends) {
        const int64_t first = track.start_step + end - T;
        ++stats.windows_total;
        DrumWindow w = make_window(steps, first, T);
        if (options.deduplicate && !seen.insert(w.tokens).second) {
          ++stats.windows_duplicate;
          continue;
        }
        if (static_cast<int64_t>(result.windows.size()) == limit) {
          result.windows.clear();
          result.skip_reason = "too_many_windows";
          result.skip_detail = "yields more than " + std::to_string(limit) + " " + std::to_string(options.bars) +
                               "-bar windows, the most one file may (their memory is bounded): split the file";
          return result;
        }
        w.piece = static_cast<int32_t>(p);
        w.qpm = 60e6 / piece.micros_per_quarter;
        w.start_bar = static_cast<int32_t>(first / kStepsPerBar);
        result.windows.push_back(std::move(w));
      }
    }
  }

  const int64_t cap = options.max_windows_per_file;
  const int64_t n = static_cast<int64_t>(result.windows.size());
  if (cap > 0 && n > cap) {  // evenly spaced, so the kept windows span the whole performance
    std::vector<DrumWindow> kept;
    for (int64_t k = 0; k < cap; ++k) kept.push_back(std::move(result.windows[k * n / cap]));
    stats.windows_capped = n - cap;
    result.windows = std::move(kept);
  }
  if (result.windows.empty()) explain_no_window(map, options, bad_meter, result);
  return result;
}

midi::MidiFile tokens_to_midi(const std::vector<uint16_t>& tokens, const PitchMap& map, double qpm,
                              const std::vector<uint8_t>* velocities, const std::vector<float>* offsets) {
  midi::MidiFile out;
  out.format = 0;
  out.ticks_per_quarter = 480;
  const int64_t step_ticks = out.ticks_per_quarter / kStepsPerQuarter;  // 120
  MVAE_CHECK(qpm >= midi::kMinQpm && qpm <= midi::kMaxQpm,
             "a tempo of " + std::to_string(qpm) + " qpm does not fit a MIDI file");
  out.tempos.push_back({0, static_cast<uint32_t>(std::lround(60e6 / qpm))});
  out.time_signatures.push_back({0, 4, 4});
  const int64_t end_tick = static_cast<int64_t>(tokens.size()) * step_ticks;
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (int c = 0; c < kNumDrumClasses; ++c) {
      if (!token_has(tokens[t], c)) continue;
      const size_t k = t * kNumDrumClasses + c;
      int velocity = velocities ? (*velocities)[k] : kDefaultOutputVelocity;
      velocity = std::clamp(velocity, 1, 127);
      int64_t tick = static_cast<int64_t>(t) * step_ticks;
      if (offsets) {  // actual = grid - offset / 2 steps, kept inside this step's rounding interval
        const double shift = -0.5 * std::clamp(static_cast<double>((*offsets)[k]), -1.0, 1.0) * step_ticks;
        tick += std::clamp<int64_t>(std::llround(shift), -step_ticks / 2, step_ticks / 2 - 1);
        tick = std::max<int64_t>(tick, 0);
      }
      const uint8_t pitch = static_cast<uint8_t>(map.exemplar(c));
      out.notes.push_back({tick, midi::kDrumChannel, pitch, static_cast<uint8_t>(velocity), 0});
      // A late hit in the last step ends with the pattern, so the file is exactly its length.
      out.notes.push_back({std::min(tick + step_ticks, end_tick), midi::kDrumChannel, pitch, 0, 0});
    }
  }
  std::stable_sort(out.notes.begin(), out.notes.end(),
                   [](const midi::NoteEvent& a, const midi::NoteEvent& b) { return a.tick < b.tick; });
  out.end_tick = end_tick;
  return out;
}

}  // namespace mvae::data
