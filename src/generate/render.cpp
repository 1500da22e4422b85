#include "generate/render.h"

#include <sys/wait.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/error.h"

namespace fs = std::filesystem;

namespace mvae::generate {
namespace {

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string dirs = path;
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = dirs.find(':', start);
    const std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && fs::exists(fs::path(dir) / program)) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string find_soundfont() {
  if (const char* env = std::getenv("MVAE_SOUNDFONT"); env && fs::exists(env)) return env;
  for (const char* candidate : {"/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
                                "/usr/share/soundfonts/default.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2"})
    if (fs::exists(candidate)) return candidate;
  return "";
}

std::string render_setup_problem() {
  const bool program = on_path("fluidsynth");
  const bool font = !find_soundfont().empty();
  if (program && font) return "";
  std::string missing = !program && !font ? "FluidSynth and a General MIDI sound font are"
                        : !program        ? "FluidSynth is"
                                          : "a General MIDI sound font is";
  return "{render_wav}: " + missing +
         " not installed. On Debian/Ubuntu: sudo apt-get install fluidsynth fluid-soundfont-gm "
         "(or set MVAE_SOUNDFONT to any .sf2 General MIDI sound font).";
}

void render_wav(const std::string& midi_path, const std::string& wav_path) {
  const std::string problem = render_setup_problem();
  if (!problem.empty()) throw RunError(problem);
  const std::string cmd = "fluidsynth -ni -q -r 44100 -F " + quoted(wav_path) + " " + quoted(find_soundfont()) + " " +
                          quoted(midi_path) + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw RunError(std::string("cannot start fluidsynth: ") + std::strerror(errno));
  std::string output;
  std::array<char, 512> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) output.append(buf.data(), n);
  const int status = pclose(pipe);
  if (status != 0 || !fs::exists(wav_path) || fs::file_size(wav_path) <= 44)
    throw RunError(midi_path + ": fluidsynth failed to render " + wav_path + ": " + output);
}

}  // namespace mvae::generate
