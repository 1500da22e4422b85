// libFuzzer entry: any bytes must parse or raise InputError, never crash, hang or over-allocate.
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "midi/midi_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const mvae::midi::MidiFile f = mvae::midi::parse_midi(data, size, "fuzz.mid");
    // Parsed events can never outnumber the bytes they came from.
    if (f.notes.size() + f.tempos.size() + f.time_signatures.size() > size) __builtin_trap();
  } catch (const mvae::InputError&) {
  }
  return 0;
}
