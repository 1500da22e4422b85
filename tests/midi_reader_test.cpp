#include <gtest/gtest.h>

#include "common/error.h"
#include "midi/midi_file.h"
#include "test_util.h"

using mvae::InputError;
using mvae::midi::parse_midi;
using mvae::test::MidiBytes;

namespace {

std::vector<uint8_t> simple_track() {
  // tempo 100 qpm, 4/4, kick at 0 (note-on), off via velocity-0 note-on, snare with running status.
  return {0x00, 0xFF, 0x51, 0x03, 0x09, 0x27, 0xC0,        // 600000 us = 100 qpm
          0x00, 0xFF, 0x58, 0x04, 0x04, 0x02, 0x18, 0x08,  // 4/4
          0x00, 0x99, 36,   100,                           // kick on
          0x60, 36,   0,                                   // running status: kick off (vel 0) at 96
          0x00, 38,   90,                                  // running status: snare on at 96
          0x83, 0x60, 0x89, 38,   64,                      // snare off (0x89) at 96+480
          0x00, 0xFF, 0x2F, 0x00};
}

// Runs the parser on malformed bytes and returns the error, failing if none is thrown.
InputError expect_error(const std::vector<uint8_t>& bytes) {
  try {
    parse_midi(bytes.data(), bytes.size(), "bad.mid");
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), "bad.mid");
    EXPECT_EQ(e.where().rfind("byte ", 0), 0u) << e.what();
    return e;
  }
  ADD_FAILURE() << "no error thrown";
  return InputError("", "", "");
}

}  // namespace

TEST(MidiReader, ReadsFormat0WithRunningStatusTempoAndMeter) {
  const auto bytes = MidiBytes().header(0, 1, 480).track(simple_track()).bytes;
  const auto f = parse_midi(bytes.data(), bytes.size(), "ok.mid");
  EXPECT_EQ(f.format, 0);
  EXPECT_EQ(f.ticks_per_quarter, 480);
  ASSERT_EQ(f.tempos.size(), 1u);
  EXPECT_NEAR(f.tempos[0].qpm(), 100.0, 1e-9);
  ASSERT_EQ(f.time_signatures.size(), 1u);
  EXPECT_EQ(f.time_signatures[0].numerator, 4);
  EXPECT_EQ(f.time_signatures[0].denominator, 4);
  ASSERT_EQ(f.notes.size(), 4u);
  EXPECT_EQ(f.notes[0].tick, 0);
  EXPECT_EQ(f.notes[0].channel, 9);
  EXPECT_EQ(f.notes[0].velocity, 100);
  EXPECT_EQ(f.notes[1].tick, 96);
  EXPECT_EQ(f.notes[1].velocity, 0);  // note-on with velocity 0 is a note-off
  EXPECT_EQ(f.notes[2].pitch, 38);
  EXPECT_EQ(f.notes[2].velocity, 90);
  EXPECT_EQ(f.notes[3].tick, 576);
  EXPECT_EQ(f.notes[3].velocity, 0);
  EXPECT_EQ(f.end_tick, 576);
}

TEST(MidiReader, MergesFormat1TracksByTickAndSkipsSysexAndUnknownChunks) {
  std::vector<uint8_t> conductor = {0x00, 0xF0, 0x03, 0x7E, 0x7F, 0xF7,  // sysex
                                    0x00, 0xFF, 0x03, 0x02, 'h',  'i',   // track name
                                    0x00, 0xFF, 0x2F, 0x00};
  std::vector<uint8_t> drums = {0x81, 0x00, 0x99, 42, 70, 0x00, 0xFF, 0x2F, 0x00};  // hat at 128
  MidiBytes m;
  m.header(1, 2, 96).track(conductor);
  m.raw({'X', 'F', 'I', 'H'}).u32(2).raw({1, 2});  // unknown chunk: skipped
  m.track(drums);
  const auto f = parse_midi(m.bytes.data(), m.bytes.size(), "f1.mid");
  EXPECT_EQ(f.format, 1);
  EXPECT_EQ(f.num_tracks, 2);
  ASSERT_EQ(f.notes.size(), 1u);
  EXPECT_EQ(f.notes[0].tick, 128);
  EXPECT_EQ(f.notes[0].track, 1);
}

TEST(MidiReader, MissingHeaderIsAnError) {
  std::vector<uint8_t> bytes = {'R', 'I', 'F', 'F', 0, 0, 0, 6, 0, 0, 0, 1, 0, 96};
  const auto e = expect_error(bytes);
  EXPECT_EQ(e.where(), "byte 0");
  EXPECT_NE(std::string(e.what()).find("missing MThd"), std::string::npos) << e.what();
}

TEST(MidiReader, ChunkLongerThanFileIsAnError) {
  MidiBytes m;
  m.header(0, 1, 96).raw({'M', 'T', 'r', 'k'}).u32(1000000).raw({0x00, 0xFF, 0x2F, 0x00});
  const auto e = expect_error(m.bytes);
  EXPECT_EQ(e.where(), "byte 14");
  EXPECT_NE(e.problem().find("exceeds the 4 bytes left"), std::string::npos) << e.what();
}

TEST(MidiReader, TruncatedEventIsAnError) {
  // Note-on with one data byte, then the chunk ends.
  const auto bytes = MidiBytes().header(0, 1, 96).track({0x00, 0x99, 36}).bytes;
  const auto e = expect_error(bytes);
  EXPECT_EQ(e.where(), "byte 25");
  EXPECT_NE(e.problem().find("truncated"), std::string::npos) << e.what();
}

TEST(MidiReader, MissingTracksAreAnError) {
  const auto bytes = MidiBytes().header(1, 3, 96).track({0x00, 0xFF, 0x2F, 0x00}).bytes;
  const auto e = expect_error(bytes);
  EXPECT_NE(e.problem().find("declares 3 tracks, found 1"), std::string::npos) << e.what();
}

TEST(MidiReader, VariableLengthNumberOverFourBytesIsAnError) {
  const auto bytes = MidiBytes().header(0, 1, 96).track({0x81, 0x82, 0x83, 0x84, 0x05, 0x99, 36, 100}).bytes;
  const auto e = expect_error(bytes);
  EXPECT_EQ(e.where(), "byte 22");
  EXPECT_NE(e.problem().find("longer than 4 bytes"), std::string::npos) << e.what();
}

TEST(MidiReader, GarbageAfterLastTrackIsAnError) {
  auto m = MidiBytes().header(0, 1, 96).track({0x00, 0xFF, 0x2F, 0x00});
  m.raw({0xDE, 0xAD, 0xBE});
  const auto e = expect_error(m.bytes);
  EXPECT_EQ(e.where(), "byte 26");
  EXPECT_NE(e.problem().find("3 bytes of trailing data"), std::string::npos) << e.what();
}

TEST(MidiReader, SmpteDivisionIsAClearError) {
  const auto bytes = MidiBytes().header(0, 1, 0xE728).track({0x00, 0xFF, 0x2F, 0x00}).bytes;
  const auto e = expect_error(bytes);
  EXPECT_NE(e.problem().find("SMPTE"), std::string::npos) << e.what();
}

TEST(MidiReader, DataByteWithoutRunningStatusIsAnError) {
  const auto bytes = MidiBytes().header(0, 1, 96).track({0x00, 36, 100}).bytes;
  const auto e = expect_error(bytes);
  EXPECT_NE(e.problem().find("without a running status"), std::string::npos) << e.what();
}

TEST(MidiReader, EveryPrefixOfAValidFileFailsCleanly) {
  // Truncation at any byte must give an InputError, never a crash or an out-of-bounds read.
  const auto bytes = MidiBytes().header(0, 1, 480).track(simple_track()).bytes;
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(parse_midi(bytes.data(), n, "prefix.mid"), InputError) << "prefix of " << n << " bytes";
  }
}
