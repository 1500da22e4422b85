// MIDI performance -> fixed-length drum windows, following Magenta's DrumsConverter
// (docs/data_format.md gives every rule with its source), and tokens -> MIDI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/drum_kit.h"
#include "midi/midi_file.h"

namespace mvae::data {

struct TokenizerOptions {
  int bars = 2;                      // window length in bars (T = 16 * bars steps)
  int hop_bars = 1;                  // window hop in bars
  int max_track_bars = 100;          // drum tracks are cut to this many bars (Magenta's configs)
  int64_t max_windows_per_file = 0;  // 0 = unlimited
  bool any_channel = false;          // also read drum pitches outside channel 10
  bool deduplicate = true;           // drop a window equal to an earlier one of its piece (Magenta's rule)
  bool cover_track_end = false;      // also a window ending at each track's last bar when the hop misses it
  // GrooveConverter's windows (Magenta's GrooVAE) instead of drum tracks: the file must hold one tempo
  // and one meter ("time_changes" otherwise); windows start at its first step and every hop after,
  // as long as a whole window fits in the bars up to the last hit; silences do not end anything.
  bool whole_piece = false;
  int window_steps() const { return bars * kStepsPerBar; }
};

// One window: T steps, each a token, plus per step and class the loudest hit's velocity
// (MIDI 1..127, 0 = no hit) and its microtiming offset (GrooVAE: 2 * (grid - actual) / step,
// in (-1, 1], positive = early; 0 = no hit).
struct DrumWindow {
  std::vector<uint16_t> tokens;     // [T]
  std::vector<uint8_t> velocities;  // [T, 9]
  std::vector<float> offsets;       // [T, 9]
  int32_t piece = 0;                // index of the constant-tempo/meter piece of the file
  int32_t start_bar = 0;            // bar within that piece where the window starts
  double qpm = 120.0;               // the piece's tempo, quarters per minute (not stored in shards)
};

struct TokenizeStats {
  int64_t drum_notes = 0;        // note-ons on the drum channel
  int64_t unmapped_notes = 0;    // drum note-ons whose pitch the map drops
  int64_t unclosed_notes = 0;    // drum note-ons no note-off closes after their tick: no note for Magenta either
  int64_t pieces = 0;            // constant tempo and meter pieces
  int64_t pieces_bad_meter = 0;  // pieces whose meter is not 16 steps per bar
  int64_t tracks = 0;            // drum tracks kept
  int64_t tracks_too_short = 0;  // dropped: one bar or less
  int64_t tracks_truncated = 0;  // cut at max_track_bars
  int64_t windows_total = 0;     // before de-duplication
  int64_t windows_duplicate = 0;
  int64_t windows_capped = 0;  // dropped by max_windows_per_file
  void add(const TokenizeStats& o);
};

// The most windows one file may yield: what its windows cost in memory is bounded (256 MiB of
// tokens, velocities and offsets: 178,000 2-bar windows, 22,000 16-bar ones; Groove's longest
// performance gives under 400). A file beyond it is refused ("too_many_windows"), not cut.
constexpr int64_t kWindowMemoryBudgetBytes = int64_t{256} << 20;
int64_t max_windows_of_file(int window_steps);

struct TokenizeResult {
  std::vector<DrumWindow> windows;
  TokenizeStats stats;
  // Set when the file yields no window: "no_drum_notes", "meter", "too_short", "too_many_windows" or
  // (whole_piece) "time_changes".
  std::string skip_reason;
  std::string skip_detail;
};

TokenizeResult tokenize_drums(const midi::MidiFile& file, const PitchMap& map, const TokenizerOptions& options);

// Decodes T tokens (and optional [T, 9] velocities and offsets) to a MIDI file: one 1-step note
// per hit on channel 10 with the class's exemplar pitch, at `qpm`, in 4/4.
midi::MidiFile tokens_to_midi(const std::vector<uint16_t>& tokens, const PitchMap& map, double qpm,
                              const std::vector<uint8_t>* velocities = nullptr,
                              const std::vector<float>* offsets = nullptr);

}  // namespace mvae::data
