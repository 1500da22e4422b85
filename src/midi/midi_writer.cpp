// SMF writer: format 0, one track, running status not used (simplest for every reader).
#include <algorithm>
#include <fstream>

#include "common/error.h"
#include "common/files.h"
#include "midi/midi_file.h"

namespace mvae::midi {
namespace {

void put_be(std::vector<uint8_t>& out, uint32_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put_vlq(std::vector<uint8_t>& out, uint32_t v) {
  MVAE_CHECK(v <= 0x0FFFFFFF, "a MIDI delta time of " + std::to_string(v) + " ticks does not fit in 4 bytes");
  uint8_t buf[4];
  int n = 0;
  buf[n++] = v & 0x7F;
  while (v >>= 7) buf[n++] = static_cast<uint8_t>(0x80 | (v & 0x7F));
  while (n) out.push_back(buf[--n]);
}

struct Timed {
  int64_t tick;
  int order;  // 0 meta, 1 note-off, 2 note-on: offs before ons at the same tick
  std::vector<uint8_t> bytes;
};

int log2_exact(int d) {
  int p = 0;
  while ((1 << p) < d) ++p;
  MVAE_CHECK((1 << p) == d, "a time signature denominator of " + std::to_string(d) + " is no power of two");
  return p;
}

}  // namespace

std::vector<uint8_t> encode_midi(const MidiFile& file) {
  std::vector<Timed> events;
  for (const auto& t : file.tempos) {
    MVAE_CHECK(t.micros_per_quarter >= 1 && t.micros_per_quarter <= 0xFFFFFF,
               "tempo of " + std::to_string(t.micros_per_quarter) + " us per quarter does not fit 24 bits");
    events.push_back({t.tick,
                      0,
                      {0xFF, 0x51, 0x03, static_cast<uint8_t>(t.micros_per_quarter >> 16),
                       static_cast<uint8_t>(t.micros_per_quarter >> 8), static_cast<uint8_t>(t.micros_per_quarter)}});
  }
  for (const auto& ts : file.time_signatures)
    events.push_back({ts.tick,
                      0,
                      {0xFF, 0x58, 0x04, static_cast<uint8_t>(ts.numerator),
                       static_cast<uint8_t>(log2_exact(ts.denominator)), 24, 8}});
  for (const auto& n : file.notes) {
    if (n.velocity > 0)
      events.push_back({n.tick, 2, {static_cast<uint8_t>(0x90 | n.channel), n.pitch, n.velocity}});
    else
      events.push_back({n.tick, 1, {static_cast<uint8_t>(0x80 | n.channel), n.pitch, 0x40}});
  }
  std::stable_sort(events.begin(), events.end(), [](const Timed& a, const Timed& b) {
    return a.tick != b.tick ? a.tick < b.tick : a.order < b.order;
  });

  std::vector<uint8_t> track;
  int64_t now = 0;
  for (const auto& e : events) {
    MVAE_CHECK(e.tick >= 0, "a MIDI event at tick " + std::to_string(e.tick));
    put_vlq(track, static_cast<uint32_t>(e.tick - now));
    now = e.tick;
    track.insert(track.end(), e.bytes.begin(), e.bytes.end());
  }
  put_vlq(track, static_cast<uint32_t>(std::max<int64_t>(0, file.end_tick - now)));
  track.insert(track.end(), {0xFF, 0x2F, 0x00});

  std::vector<uint8_t> out = {'M', 'T', 'h', 'd'};
  put_be(out, 6, 4);
  put_be(out, 0, 2);  // format 0
  put_be(out, 1, 2);  // one track
  put_be(out, static_cast<uint32_t>(file.ticks_per_quarter), 2);
  out.insert(out.end(), {'M', 'T', 'r', 'k'});
  put_be(out, static_cast<uint32_t>(track.size()), 4);
  out.insert(out.end(), track.begin(), track.end());
  return out;
}

void write_midi_file(const std::string& path, const MidiFile& file) {
  const std::vector<uint8_t> bytes = encode_midi(file);
  // Atomic: a full disk is an error naming the file, never an empty or cut file under its name.
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace mvae::midi
