// Helpers shared by the tests: hand-built MIDI bytes, temporary folders, the dataset path.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "data/drum_tokenizer.h"
#include "midi/midi_file.h"
#include "preprocess/preprocess.h"

namespace mvae::test {

// Builds SMF bytes chunk by chunk, so each malformed case can be written exactly.
struct MidiBytes {
  std::vector<uint8_t> bytes;
  MidiBytes& raw(std::initializer_list<uint8_t> b) {
    bytes.insert(bytes.end(), b);
    return *this;
  }
  MidiBytes& u32(uint32_t v) { return raw({uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}); }
  MidiBytes& header(uint16_t format, uint16_t ntracks, uint16_t division) {
    raw({'M', 'T', 'h', 'd'}).u32(6);
    return raw({uint8_t(format >> 8), uint8_t(format), uint8_t(ntracks >> 8), uint8_t(ntracks), uint8_t(division >> 8),
                uint8_t(division)});
  }
  MidiBytes& track(const std::vector<uint8_t>& body) {
    raw({'M', 'T', 'r', 'k'}).u32(static_cast<uint32_t>(body.size()));
    bytes.insert(bytes.end(), body.begin(), body.end());
    return *this;
  }
};

// Track body events: variable-length delta then the event bytes.
inline void vlq(std::vector<uint8_t>& out, uint32_t v) {
  uint8_t buf[4];
  int n = 0;
  buf[n++] = v & 0x7F;
  while (v >>= 7) buf[n++] = uint8_t(0x80 | (v & 0x7F));
  while (n) out.push_back(buf[--n]);
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mvae-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The Groove MIDI Dataset zip, from MVAE_GROOVE_ZIP (set by .ci/run from ../shared), or "".
inline std::string groove_zip() {
  const char* p = std::getenv("MVAE_GROOVE_ZIP");
  return p && std::filesystem::exists(p) ? p : "";
}

// Preprocesses the Groove zip into `out` with the default options (2-bar windows); returns `out`.
inline std::filesystem::path preprocess_groove(const std::filesystem::path& out) {
  preprocess::PreprocessOptions o;
  o.input = groove_zip();
  o.out = out.string();
  o.quiet = true;
  preprocess::run_preprocess(o);
  return out;
}

// Synthetic 4-bar grooves, each distinct: a small shard folder made by the real preprocess.
inline std::filesystem::path make_synthetic_shards(const std::filesystem::path& root) {
  std::filesystem::create_directories(root / "midi");
  for (int i = 0; i < 40; ++i) {
    std::vector<uint16_t> tokens(64, 0);
    for (int s = 0; s < 64; s += 4) tokens[s] = 1;
    for (int b = 0; b < 4; ++b) tokens[b * 16 + 2 + (i + b) % 5 * 2] |= 2;
    tokens[1 + i % 13] |= 4;
    tokens[33 + i % 11] |= 8;
    midi::write_midi_file((root / "midi" / ("g" + std::to_string(i) + ".mid")).string(),
                          data::tokens_to_midi(tokens, data::PitchMap::general_midi(), 120.0));
  }
  preprocess::PreprocessOptions o;
  o.input = (root / "midi").string();
  o.out = (root / "shards").string();
  o.quiet = true;
  o.shard_size = 16;
  preprocess::run_preprocess(o);
  return root / "shards";
}

}  // namespace mvae::test
