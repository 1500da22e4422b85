// SMF reader. Every read is bounds-checked against the end of its chunk; errors carry the
// absolute byte offset of the problem.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "common/files.h"
#include "midi/midi_file.h"

namespace mvae::midi {
namespace {

class Cursor {
 public:
  Cursor(const uint8_t* data, size_t begin, size_t end, const std::string& name)
      : data_(data), pos_(begin), end_(end), name_(name) {}

  [[noreturn]] void fail(size_t at, const std::string& problem) const {
    throw InputError(name_, "byte " + std::to_string(at), problem);
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }
  bool at_end() const { return pos_ >= end_; }

  uint8_t u8(const char* what) {
    if (pos_ >= end_) fail(pos_, std::string("truncated: expected ") + what);
    return data_[pos_++];
  }
  uint8_t peek(const char* what) const {
    if (pos_ >= end_) fail(pos_, std::string("truncated: expected ") + what);
    return data_[pos_];
  }
  uint32_t be(int bytes, const char* what) {
    if (remaining() < static_cast<size_t>(bytes)) fail(pos_, std::string("truncated: expected ") + what);
    uint32_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | data_[pos_++];
    return v;
  }
  // Variable-length quantity: at most 4 bytes (28 bits), as the SMF specification allows.
  uint32_t vlq(const char* what) {
    const size_t start = pos_;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const uint8_t b = u8(what);
      v = (v << 7) | (b & 0x7F);
      if ((b & 0x80) == 0) return v;
    }
    fail(start, std::string("variable-length ") + what + " longer than 4 bytes");
  }
  void skip(uint32_t n, const char* what) {
    if (remaining() < n)
      fail(pos_, std::string(what) + " of " + std::to_string(n) + " bytes runs past the end of its chunk (" +
                     std::to_string(remaining()) + " bytes left)");
    pos_ += n;
  }
  const uint8_t* here() const { return data_ + pos_; }

 private:
  const uint8_t* data_;
  size_t pos_, end_;
  const std::string& name_;
};

std::string chunk_id(const uint8_t* p) {
  std::string id(reinterpret_cast<const char*>(p), 4);
  for (char& c : id)
    if (c < 32 || c > 126) c = '?';
  return id;
}

void parse_track(Cursor& c, int track, MidiFile& out) {
  int64_t tick = 0;
  uint8_t running_status = 0;
  while (!c.at_end()) {
    tick += c.vlq("delta time");
    const size_t event_at = c.pos();
    uint8_t status = c.peek("event");
    if (status < 0x80) {
      if (running_status == 0) c.fail(event_at, "data byte without a running status");
      status = running_status;
    } else {
      c.u8("status");
    }

    if (status == 0xFF) {  // meta event
      const uint8_t type = c.u8("meta type");
      const uint32_t len = c.vlq("meta length");
      const uint8_t* body = c.here();
      c.skip(len, "meta event");
      if (type == 0x2F) {  // end of track: bytes after it inside the chunk are ignored
        out.end_tick = std::max(out.end_tick, tick);
        return;
      }
      if (type == 0x51) {
        if (len != 3) c.fail(event_at, "tempo event with length " + std::to_string(len) + " (expected 3)");
        const uint32_t us = (uint32_t{body[0]} << 16) | (uint32_t{body[1]} << 8) | body[2];
        if (us == 0) c.fail(event_at, "tempo of 0 microseconds per quarter");
        out.tempos.push_back({tick, us, track});
      } else if (type == 0x58) {
        if (len < 2) c.fail(event_at, "time signature event with length " + std::to_string(len) + " (expected 4)");
        if (body[1] > 6) c.fail(event_at, "time signature denominator 2^" + std::to_string(body[1]) + " out of range");
        if (body[0] == 0) c.fail(event_at, "time signature numerator 0");
        out.time_signatures.push_back({tick, body[0], 1 << body[1], track});
      }
      continue;
    }
    if (status == 0xF0 || status == 0xF7) {  // sysex or escape: length-prefixed, skipped
      const uint32_t len = c.vlq("sysex length");
      c.skip(len, "sysex event");
      continue;
    }
    if (status >= 0xF0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", status);
      c.fail(event_at, std::string("system message ") + hex + " is not allowed in a MIDI file");
    }

    running_status = status;
    const uint8_t kind = status & 0xF0;
    const uint8_t channel = status & 0x0F;
    const uint8_t d1 = c.u8("data byte");
    if (d1 & 0x80) c.fail(c.pos() - 1, "status byte where a data byte was expected");
    if (kind == 0xC0 || kind == 0xD0) continue;  // program change, channel pressure: 1 data byte
    const uint8_t d2 = c.u8("data byte");
    if (d2 & 0x80) c.fail(c.pos() - 1, "status byte where a data byte was expected");
    if (kind == 0x90 || kind == 0x80) {
      const uint8_t velocity = kind == 0x90 ? d2 : 0;
      out.notes.push_back({tick, channel, d1, velocity, track});
    }
  }
  // A track chunk without an end-of-track event: accepted, ending at its last event.
  out.end_tick = std::max(out.end_tick, tick);
}

}  // namespace

MidiFile parse_midi(const uint8_t* data, size_t size, const std::string& name) {
  MidiFile out;
  Cursor file(data, 0, size, name);
  if (size < 14 || std::memcmp(data, "MThd", 4) != 0)
    file.fail(0, size < 4 ? "file too short for a MIDI header" : "missing MThd header (not a Standard MIDI File)");
  file.skip(4, "header id");
  const uint32_t header_len = file.be(4, "header length");
  if (header_len < 6) file.fail(4, "header length " + std::to_string(header_len) + " (expected 6)");
  const size_t header_body = file.pos();
  out.format = static_cast<int>(file.be(2, "format"));
  const uint32_t ntracks = file.be(2, "track count");
  const uint32_t division = file.be(2, "division");
  file.skip(header_len - 6, "header");
  if (out.format > 1)
    file.fail(header_body, "format " + std::to_string(out.format) + " is not supported (only 0 and 1)");
  if (division & 0x8000) file.fail(header_body + 4, "SMPTE time division is not supported (ticks per quarter only)");
  if (division == 0) file.fail(header_body + 4, "division of 0 ticks per quarter");
  out.ticks_per_quarter = static_cast<int>(division);
  if (out.format == 0 && ntracks != 1)
    file.fail(header_body + 2, "format 0 file declares " + std::to_string(ntracks) + " tracks (expected 1)");

  uint32_t tracks_read = 0;
  while (tracks_read < ntracks) {
    if (file.at_end())
      file.fail(file.pos(), "truncated: header declares " + std::to_string(ntracks) + " tracks, found " +
                                std::to_string(tracks_read));
    if (file.remaining() < 8) file.fail(file.pos(), "truncated chunk header");
    const size_t chunk_at = file.pos();
    const std::string id = chunk_id(file.here());
    file.skip(4, "chunk id");
    const uint32_t len = file.be(4, "chunk length");
    if (len > file.remaining())
      file.fail(chunk_at, "chunk '" + id + "' length " + std::to_string(len) + " exceeds the " +
                              std::to_string(file.remaining()) + " bytes left in the file");
    if (id == "MTrk") {
      Cursor track(data, file.pos(), file.pos() + len, name);
      parse_track(track, static_cast<int>(tracks_read), out);
      ++tracks_read;
    }  // other chunk types are skipped, as the specification asks
    file.skip(len, "chunk");
  }
  if (!file.at_end())
    file.fail(file.pos(), std::to_string(file.remaining()) + " bytes of trailing data after the last track");
  out.num_tracks = static_cast<int>(tracks_read);

  const auto by_tick = [](const auto& a, const auto& b) { return a.tick < b.tick; };
  std::stable_sort(out.notes.begin(), out.notes.end(), by_tick);
  std::stable_sort(out.tempos.begin(), out.tempos.end(), by_tick);
  std::stable_sort(out.time_signatures.begin(), out.time_signatures.end(), by_tick);
  return out;
}

MidiFile read_midi_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, kMaxMidiFileBytes);
  return parse_midi(bytes.data(), bytes.size(), path);
}

}  // namespace mvae::midi
