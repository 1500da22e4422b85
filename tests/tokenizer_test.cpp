#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "data/drum_kit.h"
#include "data/drum_tokenizer.h"
#include "test_util.h"

using namespace mvae;
using namespace mvae::data;

namespace {

constexpr int kTpq = 480;
constexpr int kStep = kTpq / 4;  // ticks per 16th

// A 4/4 performance at 120 qpm with hits at (tick, pitch, velocity).
midi::MidiFile performance(const std::vector<std::tuple<int64_t, int, int>>& hits, int num = 4, int den = 4) {
  midi::MidiFile f;
  f.ticks_per_quarter = kTpq;
  f.tempos = {{0, 500000}};
  f.time_signatures = {{0, num, den}};
  for (const auto& [tick, pitch, velocity] : hits) {
    f.notes.push_back({tick, 9, uint8_t(pitch), uint8_t(velocity), 0});
    f.notes.push_back({tick + 10, 9, uint8_t(pitch), 0, 0});
  }
  std::stable_sort(f.notes.begin(), f.notes.end(), [](auto& a, auto& b) { return a.tick < b.tick; });
  return f;
}

// Hits on every quarter (kick) for `bars` bars starting at bar `from`.
std::vector<std::tuple<int64_t, int, int>> quarters(int from, int bars, int pitch = 36) {
  std::vector<std::tuple<int64_t, int, int>> hits;
  for (int s = from * 16; s < (from + bars) * 16; s += 4) hits.emplace_back(int64_t(s) * kStep, pitch, 100);
  return hits;
}

TokenizeResult run(const midi::MidiFile& f, int bars = 2, int max_track_bars = 100) {
  TokenizerOptions o;
  o.bars = bars;
  o.max_track_bars = max_track_bars;
  return tokenize_drums(f, PitchMap::general_midi(), o);
}

}  // namespace

TEST(PitchMap, GeneralMidiMapsSixtyThreePitchesWithMagentaExemplars) {
  const PitchMap gm = PitchMap::general_midi();
  EXPECT_EQ(gm.num_mapped_pitches(), 63);
  for (int p = 22; p <= 87; ++p) {
    if (p >= 23 && p <= 25)
      EXPECT_EQ(gm.class_for(p), -1) << p;
    else
      EXPECT_GE(gm.class_for(p), 0) << p;
  }
  EXPECT_EQ(gm.class_for(21), -1);
  EXPECT_EQ(gm.class_for(88), -1);
  const int exemplars[9] = {36, 38, 42, 46, 45, 48, 50, 49, 51};
  for (int c = 0; c < 9; ++c) EXPECT_EQ(gm.exemplar(c), exemplars[c]);
  EXPECT_EQ(gm.class_for(35), 0);
  EXPECT_EQ(gm.class_for(44), 2);  // pedal hi-hat counts as closed hi-hat
  EXPECT_EQ(gm.class_for(58), 7);
}

TEST(PitchMap, RolandMapDiffersWhereMagentasDoes) {
  const PitchMap r = PitchMap::roland_td11();
  EXPECT_EQ(r.num_mapped_pitches(), 22);
  EXPECT_EQ(r.class_for(45), 5);  // mid tom (GM: low tom)
  EXPECT_EQ(r.class_for(48), 6);  // high tom (GM: mid tom)
  EXPECT_EQ(r.class_for(58), 4);  // low tom (GM: crash)
  EXPECT_EQ(r.class_for(35), -1);
}

TEST(PitchMap, JsonRoundTripAndValidation) {
  const PitchMap gm = PitchMap::general_midi();
  const PitchMap back = PitchMap::from_json(gm.to_json(), "test");
  EXPECT_EQ(back.class_of, gm.class_of);
  EXPECT_THROW(PitchMap::from_json("{\"classes\": [[36]]}", "short.json"), InputError);
  EXPECT_THROW(PitchMap::from_json("{\"classes\": [[36],[36],[1],[2],[3],[4],[5],[6],[7]]}", "dup.json"), InputError);
  EXPECT_THROW(PitchMap::load("/no/such/map.json"), UsageError);
}

TEST(Tokenizer, TokenBitOrderIsKickFirstRideLast) {
  // One hit of each class on its own step, then everything at once.
  std::vector<std::tuple<int64_t, int, int>> hits;
  const int pitches[9] = {36, 38, 42, 46, 45, 48, 50, 49, 51};
  for (int c = 0; c < 9; ++c) hits.emplace_back(int64_t(c) * kStep, pitches[c], 100);
  for (int c = 0; c < 9; ++c) hits.emplace_back(int64_t(16) * kStep, pitches[c], 100);
  auto r = run(performance(hits));
  ASSERT_EQ(r.windows.size(), 1u);
  const auto& tok = r.windows[0].tokens;
  for (int c = 0; c < 9; ++c) EXPECT_EQ(tok[c], 1 << c) << drum_class_names()[c];
  EXPECT_EQ(tok[9], 0);
  EXPECT_EQ(tok[16], 511);
}

TEST(Tokenizer, QuantizesToNearestSixteenthHalvesUpWithGrooveOffsets) {
  // Bar 0: a kick 59 ticks late of step 0 (-> step 0), a snare exactly half a step after
  // step 2 (-> step 3, rounds up), a hat 1 tick before step 5 (-> step 5, early = positive).
  // Bar 1 keeps the track two bars long.
  auto hits = quarters(1, 1);
  hits.push_back({59, 36, 90});
  hits.push_back({2 * kStep + kStep / 2, 38, 80});
  hits.push_back({5 * kStep - 1, 42, 70});
  auto r = run(performance(hits));
  ASSERT_EQ(r.windows.size(), 1u);
  const DrumWindow& w = r.windows[0];
  EXPECT_EQ(w.tokens[0], 1);
  EXPECT_EQ(w.tokens[2], 0);
  EXPECT_EQ(w.tokens[3], 2);
  EXPECT_EQ(w.tokens[5], 4);
  EXPECT_EQ(w.velocities[0 * 9 + 0], 90);
  EXPECT_FLOAT_EQ(w.offsets[0 * 9 + 0], 2.0f * (0.0f - 59.0f / kStep));  // late: negative
  EXPECT_FLOAT_EQ(w.offsets[3 * 9 + 1], 1.0f);                   // exactly half a step late: +1 after rounding up
  EXPECT_FLOAT_EQ(w.offsets[5 * 9 + 2], 2.0f * (1.0f / kStep));  // early: positive
  EXPECT_EQ(w.velocities[3 * 9 + 0], 0);
}

// Magenta quantizes float seconds (pretty_midi's tick-to-time table times note_seq's steps per
// second), so an onset exactly half-way between two steps lands where that float arithmetic sends
// it. Groove's drummer7/session2/53_rock_135_beat_4-4.mid has a hi-hat at tick 1380 of 480 per
// quarter at 444,444 us per quarter: step 11.5, which note_seq puts on step 11 (its seconds are a
// hair short of the tie), not on 12. MagentaInterop.PreprocessWindowsAreMagentasOnTheWholeDataset
// checks every file against note_seq itself.
TEST(Tokenizer, AHalfWayOnsetGoesWhereNoteSeqsFloatRoundingSendsIt) {
  auto hits = quarters(0, 2);
  hits.push_back({1380, 42, 70});
  midi::MidiFile f = performance(hits);
  f.tempos = {{0, 444444}};
  auto r = run(f);
  ASSERT_EQ(r.windows.size(), 1u);
  EXPECT_EQ(r.windows[0].tokens[11], 4) << "the closed hi-hat on the earlier step";
  EXPECT_EQ(r.windows[0].tokens[12], 1) << "the kick's step, without the hi-hat";
}

// note_seq reads MIDI through pretty_midi, which drops a note whose note-off falls on its own tick
// while nothing else sounds on its pitch, and a note-on never closed. Such a hit is not one here
// either; with an earlier note of the pitch still sounding, the same-tick note-on is kept.
TEST(Tokenizer, NotesAreThoseMagentasMidiReaderMakes) {
  midi::MidiFile f = performance(quarters(0, 2));
  const auto add = [&](int64_t tick, int pitch, int velocity) {
    f.notes.push_back({tick, 9, uint8_t(pitch), uint8_t(velocity), 0});
  };
  add(1 * kStep, 38, 90);  // a snare whose note-off is at its own tick: dropped
  add(1 * kStep, 38, 0);
  add(2 * kStep, 42, 90);  // a hi-hat sounding when ...
  add(3 * kStep, 42, 80);  // ... a second starts, and a note-off of that tick closes the first: the second is
  add(3 * kStep, 42, 0);   //     kept open, until
  add(5 * kStep, 42, 0);   //     this note-off
  add(6 * kStep, 46, 90);  // an open hi-hat never closed: dropped
  std::stable_sort(f.notes.begin(), f.notes.end(), [](auto& a, auto& b) { return a.tick < b.tick; });
  auto r = run(f);
  ASSERT_EQ(r.windows.size(), 1u);
  const std::vector<uint16_t> t = r.windows[0].tokens;
  EXPECT_EQ(t[1], 0) << "the zero-length snare";
  EXPECT_EQ(t[2], 4);
  EXPECT_EQ(t[3], 4) << "the hi-hat started on the tick of a note-off that closed another";
  EXPECT_EQ(t[6], 0) << "the open hi-hat never closed";
  EXPECT_EQ(r.stats.unclosed_notes, 2);
  midi::MidiFile unclosed;  // note-ons only: the file yields nothing, and says why
  for (int s = 0; s < 32; s += 4) unclosed.notes.push_back({s * kStep, 9, 36, 100, 0});
  r = run(unclosed);
  EXPECT_EQ(r.skip_reason, "no_drum_notes");
  EXPECT_NE(r.skip_detail.find("8 note-ons on channel 10, none closed by a note-off"), std::string::npos)
      << r.skip_detail;
}

// GrooveConverter's windows: from the first step, one after another, silences inside; a file whose
// tempo changes gives none.
TEST(Tokenizer, WholePieceWindowsAreGrooveConvertersWindows) {
  auto hits = quarters(1, 1);  // bar 0 silent, a bar of kicks, bars 2-3 silent, a kick in bar 4
  hits.push_back({int64_t(4 * 16 + 2) * kStep, 36, 100});
  TokenizerOptions o;
  o.whole_piece = true;
  o.hop_bars = 2;
  o.deduplicate = false;
  auto r = tokenize_drums(performance(hits), PitchMap::general_midi(), o);
  ASSERT_EQ(r.windows.size(), 2u) << "bars 0-1 and 2-3; bar 4 is half a window";
  EXPECT_EQ(r.windows[0].tokens[16], 1);
  EXPECT_EQ(r.windows[0].tokens[0], 0);
  EXPECT_EQ(r.windows[1].start_bar, 2);
  midi::MidiFile changing = performance(hits);
  changing.tempos.push_back({int64_t(32) * kStep, 400000});
  r = tokenize_drums(changing, PitchMap::general_midi(), o);
  EXPECT_TRUE(r.windows.empty());
  EXPECT_EQ(r.skip_reason, "time_changes");
}

TEST(Tokenizer, CollisionsKeepTheLoudestHit) {
  auto hits = quarters(0, 2);
  hits.push_back({int64_t(1) * kStep - 20, 38, 50});
  hits.push_back({int64_t(1) * kStep + 20, 40, 110});  // same class (snare), same step, louder
  auto r = run(performance(hits));
  ASSERT_EQ(r.windows.size(), 1u);
  EXPECT_EQ(r.windows[0].tokens[1], 2);
  EXPECT_EQ(r.windows[0].velocities[1 * 9 + 1], 110);
  EXPECT_FLOAT_EQ(r.windows[0].offsets[1 * 9 + 1], 2.0f * (-20.0f / kStep));
}

TEST(Tokenizer, WindowsHopOneBarAndDuplicatesAreRemoved) {
  // Four identical bars of quarter kicks: windows at bars 0, 1, 2 are all the same -> one kept.
  auto r = run(performance(quarters(0, 4)));
  EXPECT_EQ(r.stats.windows_total, 3);
  EXPECT_EQ(r.stats.windows_duplicate, 2);
  ASSERT_EQ(r.windows.size(), 1u);
  // Now make every bar different: a snare on step b of bar b.
  auto hits = quarters(0, 4);
  for (int b = 0; b < 4; ++b) hits.push_back({int64_t(b * 16 + 1 + b) * kStep, 38, 100});
  r = run(performance(hits));
  ASSERT_EQ(r.windows.size(), 3u);
  EXPECT_EQ(r.windows[1].start_bar, 1);
  EXPECT_EQ(r.windows[1].tokens[2], 2);  // bar 1's snare on step 1+1
}

TEST(Tokenizer, GapOfABarEndsTrackAndTracksStartOnTheBar) {
  // Track A: bars 0-1 (last hit step 28). Silence from step 29 to step 44 (16 steps) ends it.
  // Track B: first hit at step 45 (bar 2, step 13): starts at bar 2; bars 2-4.
  std::vector<std::tuple<int64_t, int, int>> hits = {
      {0, 36, 100},          {8 * kStep, 36, 100},  {16 * kStep, 36, 100}, {24 * kStep, 36, 100},
      {28 * kStep, 38, 100}, {45 * kStep, 42, 100}, {60 * kStep, 36, 100}, {70 * kStep, 36, 100}};
  auto r = run(performance(hits));
  EXPECT_EQ(r.stats.tracks, 2);
  ASSERT_EQ(r.windows.size(), 3u);
  EXPECT_EQ(r.windows[0].start_bar, 0);
  EXPECT_EQ(r.windows[0].tokens[28], 2);
  EXPECT_EQ(r.windows[1].start_bar, 2);
  EXPECT_EQ(r.windows[1].tokens[13], 4);
  EXPECT_EQ(r.windows[2].start_bar, 3);
  // A gap of 15 empty steps does not end the track.
  hits = {{0, 36, 100}, {16 * kStep, 36, 100}, {32 * kStep, 36, 100}};
  r = run(performance(hits));
  EXPECT_EQ(r.stats.tracks, 1);
}

TEST(Tokenizer, OneBarTracksAreDroppedAndShortFilesSayWhy) {
  auto r = run(performance(quarters(0, 1)));
  EXPECT_EQ(r.stats.tracks_too_short, 1);
  EXPECT_TRUE(r.windows.empty());
  EXPECT_EQ(r.skip_reason, "too_short");
  // A track of one bar and one step is kept by extraction (padded to 2 bars) and yields one window.
  auto hits = quarters(0, 1);
  hits.push_back({16 * kStep, 36, 100});
  r = run(performance(hits));
  EXPECT_EQ(r.stats.tracks, 1);
  ASSERT_EQ(r.windows.size(), 1u);
  EXPECT_EQ(r.windows[0].tokens[16], 1);
}

TEST(Tokenizer, TracksAreCutAtMaxTrackBars) {
  auto hits = quarters(0, 10);
  for (int b = 0; b < 10; ++b) hits.push_back({int64_t(b * 16 + 1 + b) * kStep, 38, 100});
  auto r = run(performance(hits), 2, 5);
  EXPECT_EQ(r.stats.tracks_truncated, 1);
  EXPECT_EQ(r.windows.size(), 4u);  // windows of 2 bars in 5 bars
}

TEST(Tokenizer, OnlySixteenStepMetersAreUsed) {
  auto r = run(performance(quarters(0, 4), 3, 4));
  EXPECT_TRUE(r.windows.empty());
  EXPECT_EQ(r.skip_reason, "meter");
  EXPECT_NE(r.skip_detail.find("3/4"), std::string::npos);
  EXPECT_FALSE(run(performance(quarters(0, 4), 2, 2)).windows.empty());
}

TEST(Tokenizer, SplitsOnTempoChangesAndQuantizesEachPieceWithItsTempo) {
  // 2 bars at 120 qpm, then a tempo change: the second piece restarts its bars at 0.
  auto f = performance(quarters(0, 4));
  f.tempos.push_back({int64_t(32) * kStep, 400000});
  auto r = run(f);
  EXPECT_EQ(r.stats.pieces, 2);
  // Identical windows in two pieces are both kept (Magenta de-duplicates per piece).
  ASSERT_EQ(r.windows.size(), 2u);
  EXPECT_EQ(r.windows[0].tokens, r.windows[1].tokens);
  EXPECT_EQ(r.windows[1].piece, 1);
  EXPECT_EQ(r.windows[1].start_bar, 0);
  // Each window knows its piece's tempo: what a reconstruction is written at.
  EXPECT_DOUBLE_EQ(r.windows[0].qpm, 120.0);
  EXPECT_DOUBLE_EQ(r.windows[1].qpm, 150.0);
}

TEST(Tokenizer, CoveringWindowsKeepRepeatsAndReachTheLastBar) {
  // Five identical bars: Magenta's rules keep one 2-bar window; covering the piece (humanize)
  // keeps every hop-2 window, repeats included, and one more ending at bar 5.
  TokenizerOptions o;
  o.bars = 2;
  const auto f = performance(quarters(0, 5));
  EXPECT_EQ(tokenize_drums(f, PitchMap::general_midi(), o).windows.size(), 1u);
  o.hop_bars = 2;
  o.deduplicate = false;
  o.cover_track_end = true;
  const auto r = tokenize_drums(f, PitchMap::general_midi(), o);
  ASSERT_EQ(r.windows.size(), 3u);
  EXPECT_EQ(r.windows[0].start_bar, 0);
  EXPECT_EQ(r.windows[1].start_bar, 2);
  EXPECT_EQ(r.windows[2].start_bar, 3);
}

TEST(Tokenizer, DropsUnmappedPitchesAndOtherChannels) {
  auto f = performance(quarters(0, 2));
  f.notes.push_back({9 * kStep, 0, 38, 100, 0});  // snare pitch, but on channel 1
  f.notes.push_back({9 * kStep + 10, 0, 38, 0, 0});
  f.notes.push_back({10 * kStep, 9, 100, 100, 0});  // channel 10, unmapped pitch
  f.notes.push_back({10 * kStep + 10, 9, 100, 0, 0});
  std::stable_sort(f.notes.begin(), f.notes.end(), [](auto& a, auto& b) { return a.tick < b.tick; });
  auto r = run(f);
  ASSERT_EQ(r.windows.size(), 1u);
  EXPECT_EQ(r.windows[0].tokens[9], 0);
  EXPECT_EQ(r.windows[0].tokens[10], 0);
  EXPECT_EQ(r.stats.unmapped_notes, 1);
  midi::MidiFile only_piano;
  only_piano.notes = {{0, 0, 60, 100, 0}};
  EXPECT_EQ(run(only_piano).skip_reason, "no_drum_notes");
}

TEST(Tokenizer, DecodingTokensAndTokenizingAgainGivesTheSameWindow) {
  auto hits = quarters(0, 2);
  hits.push_back({3 * kStep + 17, 42, 64});
  hits.push_back({20 * kStep - 33, 51, 30});
  auto r = run(performance(hits));
  ASSERT_EQ(r.windows.size(), 1u);
  const DrumWindow& w = r.windows[0];
  for (bool expressive : {false, true}) {
    const auto decoded = tokens_to_midi(w.tokens, PitchMap::general_midi(), 97.0, expressive ? &w.velocities : nullptr,
                                        expressive ? &w.offsets : nullptr);
    const auto bytes = midi::encode_midi(decoded);
    auto again = run(midi::parse_midi(bytes.data(), bytes.size(), "decoded.mid"));
    ASSERT_EQ(again.windows.size(), 1u);
    EXPECT_EQ(again.windows[0].tokens, w.tokens);
    if (expressive) {
      EXPECT_EQ(again.windows[0].velocities, w.velocities);
      for (size_t k = 0; k < w.offsets.size(); ++k)
        EXPECT_NEAR(again.windows[0].offsets[k], w.offsets[k], 2.0 / 120) << k;
    }
  }
}
