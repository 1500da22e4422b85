#include <gtest/gtest.h>

#include "midi/midi_file.h"
#include "test_util.h"

using namespace mvae::midi;

TEST(MidiWriter, RoundTripsNotesTemposAndMeters) {
  MidiFile in;
  in.ticks_per_quarter = 480;
  in.tempos = {{0, 500000}, {1920, 400000}};
  in.time_signatures = {{0, 4, 4}, {3840, 2, 2}};
  in.notes = {{0, 9, 36, 100, 0}, {120, 9, 36, 0, 0}, {120, 9, 38, 127, 0},
              {240, 9, 38, 0, 0}, {300, 0, 60, 1, 0}, {100000, 0, 60, 0, 0}};
  in.end_tick = 100000;
  const std::vector<uint8_t> bytes = encode_midi(in);
  const MidiFile out = parse_midi(bytes.data(), bytes.size(), "roundtrip.mid");
  EXPECT_EQ(out.format, 0);
  EXPECT_EQ(out.ticks_per_quarter, 480);
  ASSERT_EQ(out.tempos.size(), 2u);
  EXPECT_EQ(out.tempos[1].tick, 1920);
  EXPECT_EQ(out.tempos[1].micros_per_quarter, 400000u);
  ASSERT_EQ(out.time_signatures.size(), 2u);
  EXPECT_EQ(out.time_signatures[1].numerator, 2);
  EXPECT_EQ(out.time_signatures[1].denominator, 2);
  ASSERT_EQ(out.notes.size(), in.notes.size());
  for (size_t i = 0; i < in.notes.size(); ++i) {
    EXPECT_EQ(out.notes[i].tick, in.notes[i].tick) << i;
    EXPECT_EQ(out.notes[i].pitch, in.notes[i].pitch) << i;
    EXPECT_EQ(out.notes[i].channel, in.notes[i].channel) << i;
    EXPECT_EQ(out.notes[i].velocity, in.notes[i].velocity) << i;
  }
  EXPECT_EQ(out.end_tick, 100000);
}

TEST(MidiWriter, WritesAFileTheReaderReads) {
  mvae::test::TempDir dir;
  MidiFile in;
  in.notes = {{0, 9, 42, 64, 0}, {60, 9, 42, 0, 0}};
  in.end_tick = 60;
  const std::string path = (dir.path() / "hat.mid").string();
  write_midi_file(path, in);
  const MidiFile out = read_midi_file(path);
  ASSERT_EQ(out.notes.size(), 2u);
  EXPECT_EQ(out.notes[0].pitch, 42);
}
