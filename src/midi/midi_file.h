// Standard MIDI File (SMF) reading and writing, format 0 and 1, ticks-per-quarter division.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mvae::midi {

constexpr int kDrumChannel = 9;  // "channel 10" in 1-based MIDI numbering

// A note-on (velocity > 0) or note-off (velocity == 0; note-on with velocity 0 is read as off).
struct NoteEvent {
  int64_t tick = 0;
  uint8_t channel = 0;
  uint8_t pitch = 0;
  uint8_t velocity = 0;
  int track = 0;
};

// The tempos a MIDI file can hold: a set-tempo event stores microseconds per quarter note in 24
// bits (1 .. 16,777,215), so 3.58 .. 60,000,000 quarters per minute.
constexpr double kMinQpm = 60e6 / 16777215.0;
constexpr double kMaxQpm = 60e6;

struct TempoEvent {
  int64_t tick = 0;
  uint32_t micros_per_quarter = 500000;  // 120 quarters per minute
  int track = 0;                         // the track chunk it came from (Magenta reads track 0's only)
  double qpm() const { return 60e6 / micros_per_quarter; }
};

struct TimeSignatureEvent {
  int64_t tick = 0;
  int numerator = 4;
  int denominator = 4;  // the actual value, not the power of two stored in the file
  int track = 0;
};

// What the drum pipeline needs of a file: events merged over all tracks, sorted by tick
// (stable, so events at one tick keep their track and file order).
struct MidiFile {
  int format = 0;
  int ticks_per_quarter = 480;
  int num_tracks = 0;
  int64_t end_tick = 0;  // the latest end-of-track tick
  std::vector<NoteEvent> notes;
  std::vector<TempoEvent> tempos;
  std::vector<TimeSignatureEvent> time_signatures;
};

// Parses an SMF held in memory. `name` is used in errors only. Throws mvae::InputError naming
// `name`, the byte offset and the problem for any malformed input; never reads out of bounds
// and allocates at most in proportion to `size`.
MidiFile parse_midi(const uint8_t* data, size_t size, const std::string& name);
MidiFile read_midi_file(const std::string& path);

// Serialises `file` as SMF format 0 (one track): tempos, time signatures, notes (a NoteEvent
// with velocity 0 becomes a note-off). Events at one tick are written offs first.
std::vector<uint8_t> encode_midi(const MidiFile& file);
void write_midi_file(const std::string& path, const MidiFile& file);

}  // namespace mvae::midi
