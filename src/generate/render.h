// Renders MIDI files to WAV with FluidSynth and a General MIDI sound font, when installed.
#pragma once

#include <string>

namespace mvae::generate {

// The sound font to use: $MVAE_SOUNDFONT, else Debian's FluidR3 GM font; "" when none exists.
std::string find_soundfont();
// How to install what is missing (FluidSynth's `fluidsynth` program and a sound font), or "".
std::string render_setup_problem();
// Renders `midi_path` to `wav_path` (44.1 kHz stereo). Throws with FluidSynth's output on failure.
void render_wav(const std::string& midi_path, const std::string& wav_path);

}  // namespace mvae::generate
