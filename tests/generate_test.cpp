// generate end to end on a small model saved in the test, with real Groove files as inputs.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstring>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "common/npy.h"
#include "data/drum_tokenizer.h"
#include "data/representation.h"
#include "generate/latents.h"
#include "generate/render.h"
#include "inference/trained_model.h"
#include "midi/midi_file.h"
#include "model/musicvae.h"
#include "model_file/model_file.h"
#include "process_util.h"
#include "test_util.h"

using namespace mvae;
namespace fs = std::filesystem;

namespace {

std::pair<int, std::string> run(const std::string& cmd) {
  const test::ProcessRun r = test::run(cmd);
  return {r.status, r.output};
}

// A 2-bar drum file with a distinct groove per seed.
fs::path write_groove(const fs::path& dir, int seed) {
  std::vector<uint16_t> tokens(64, 0);
  for (int s = 0; s < 64; s += 2) tokens[s] = 4;
  for (int s = 0; s < 64; s += 8) tokens[s] |= 1;
  tokens[4 + seed % 4] |= 2;
  tokens[36 + seed % 5] |= 2;
  const fs::path path = dir / ("in" + std::to_string(seed) + ".mid");
  midi::write_midi_file(path.string(), data::tokens_to_midi(tokens, data::PitchMap::general_midi(), 100.0));
  return path;
}

class Generate : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(1);
    model::MusicVAE m(model::preset("tiny"));
    fs::create_directories(dir.path() / "ckpt");
    data::DataRepresentation rep;
    rep.bars = 2;
    rep.default_qpm = 97;  // as preprocess records the training data's median tempo
    model_path = dir.path() / "ckpt" / "model.safetensors";
    model_file::save_model(model_path.string(), m, rep);
  }
  std::string generate(const std::string& args) const { return std::string(MVAE_GENERATE_BIN) + " " + args; }
  test::TempDir dir;
  fs::path model_path;
};

}  // namespace

TEST_F(Generate, SampleWritesReadableMidiOfTheModelsLength) {
  const auto [status, out] =
      run(generate("sample --checkpoint " + model_path.string() + " --n 3 --out " + (dir.path() / "s").string()));
  ASSERT_EQ(status, 0) << out;
  for (int i = 0; i < 3; ++i) {
    const fs::path f = dir.path() / "s" / ("sample-00" + std::to_string(i) + ".mid");
    ASSERT_TRUE(fs::exists(f)) << out;
    const midi::MidiFile m = midi::read_midi_file(f.string());
    EXPECT_EQ(m.end_tick, 32 * 120) << "2 bars of 16 steps at 120 ticks per step";
    ASSERT_EQ(m.tempos.size(), 1u);
    EXPECT_NEAR(m.tempos[0].qpm(), 97.0, 1e-3) << "the training data's tempo is the default";
    for (const auto& n : m.notes) EXPECT_EQ(n.channel, midi::kDrumChannel);
  }
}

TEST_F(Generate, InterpolationEndpointsAreTheReconstructions) {
  const fs::path a = write_groove(dir.path(), 1), b = write_groove(dir.path(), 2);
  const std::string common = " --checkpoint " + model_path.string() + " --argmax";
  auto r = run(generate("interpolate" + common + " --from " + a.string() + " --to " + b.string() + " --steps 5 --out " +
                        (dir.path() / "i").string()));
  ASSERT_EQ(r.first, 0) << r.second;
  r = run(generate("reconstruct" + common + " --input " + a.string() + " --out " + (dir.path() / "ra").string()));
  ASSERT_EQ(r.first, 0) << r.second;
  r = run(generate("reconstruct" + common + " --input " + b.string() + " --out " + (dir.path() / "rb").string()));
  ASSERT_EQ(r.first, 0) << r.second;
  const auto notes = [](const fs::path& p) {
    std::vector<std::pair<int64_t, int>> v;
    for (const auto& n : midi::read_midi_file(p.string()).notes)
      if (n.velocity > 0) v.emplace_back(n.tick, n.pitch);
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(notes(dir.path() / "i" / "interpolation-000.mid"), notes(dir.path() / "ra" / "reconstruction.mid"));
  EXPECT_EQ(notes(dir.path() / "i" / "interpolation-004.mid"), notes(dir.path() / "rb" / "reconstruction.mid"));
  const midi::MidiFile all = midi::read_midi_file((dir.path() / "i" / "interpolation-all.mid").string());
  EXPECT_EQ(all.end_tick, 5 * 32 * 120);
}

TEST_F(Generate, PlotDrawsOnePanelPerPattern) {
  const fs::path a = write_groove(dir.path(), 1), b = write_groove(dir.path(), 3);
  const auto r = run(generate("interpolate --checkpoint " + model_path.string() + " --from " + a.string() + " --to " +
                              b.string() + " --steps 4 --plot --out " + (dir.path() / "p").string()));
  ASSERT_EQ(r.first, 0) << r.second;
  std::ifstream in(dir.path() / "p" / "interpolate.svg");
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  size_t panels = 0;
  for (size_t pos = 0; (pos = svg.find(">step ", pos)) != std::string::npos; ++pos) ++panels;
  EXPECT_EQ(panels, 4u);
  // One filled 10x10 cell per hit: as many cells as note-ons in the four MIDI files.
  size_t hits = 0, cells = 0;
  for (int i = 0; i < 4; ++i)
    for (const auto& n :
         midi::read_midi_file((dir.path() / "p" / ("interpolation-00" + std::to_string(i) + ".mid")).string()).notes)
      hits += n.velocity > 0;
  for (size_t pos = 0; (pos = svg.find("width=\"10\" height=\"10\"", pos)) != std::string::npos; ++pos) ++cells;
  EXPECT_GT(hits, 0u);
  EXPECT_EQ(cells, hits);
}

TEST(GenerateMath, SlerpKeepsEndpointsAndNorm) {
  const torch::Tensor a = torch::tensor({1.0f, 0.0f}), b = torch::tensor({0.0f, 1.0f});
  EXPECT_TRUE(torch::allclose(generate::slerp(a, b, 0.0), a));
  EXPECT_TRUE(torch::allclose(generate::slerp(a, b, 1.0), b));
  EXPECT_NEAR(generate::slerp(a, b, 0.5).norm().item<double>(), 1.0, 1e-6);
  EXPECT_TRUE(torch::allclose(generate::slerp(a, a, 0.3), a));  // parallel: falls back to linear
}

TEST_F(Generate, AMissingCheckpointIsNamed) {
  const auto r = run(
      generate("sample --checkpoint " + (dir.path() / "missing").string() + " --out " + (dir.path() / "x").string()));
  EXPECT_EQ(r.first, 1);
  EXPECT_NE(r.second.find("no such checkpoint"), std::string::npos) << r.second;
  EXPECT_FALSE(fs::exists(dir.path() / "x"));
}

TEST_F(Generate, ARunFolderWithoutACheckpointSaysSo) {
  fs::create_directories(dir.path() / "empty_run");
  const auto r = run(
      generate("sample --checkpoint " + (dir.path() / "empty_run").string() + " --out " + (dir.path() / "x").string()));
  EXPECT_EQ(r.first, 1);
  EXPECT_NE(r.second.find("holds no complete checkpoint"), std::string::npos) << r.second;
  EXPECT_FALSE(fs::exists(dir.path() / "x"));
}

TEST_F(Generate, AMidiFileThatYieldsNoWindowNamesTheRule) {
  midi::MidiFile one_bar;
  for (int s = 0; s < 16; s += 4) {
    one_bar.notes.push_back({s * 120, 9, 36, 100, 0});
    one_bar.notes.push_back({s * 120 + 60, 9, 36, 0, 0});
  }
  one_bar.end_tick = 16 * 120;
  midi::write_midi_file((dir.path() / "short.mid").string(), one_bar);
  const auto r = run(generate("reconstruct --checkpoint " + model_path.string() + " --input " +
                              (dir.path() / "short.mid").string() + " --out " + (dir.path() / "x").string()));
  EXPECT_EQ(r.first, 1);
  EXPECT_NE(r.second.find("short.mid: yields no 2-bar window (too_short"), std::string::npos) << r.second;
  EXPECT_FALSE(fs::exists(dir.path() / "x"));
}

TEST_F(Generate, AModelOfAnotherRepresentationIsRefused) {
  torch::manual_seed(2);
  model::MusicVAE m(model::preset("tiny"));
  data::DataRepresentation melody;
  melody.name = "melody_90";
  melody.vocab_size = 90;
  melody.num_classes = 1;
  melody.pitch_map_json = "{}";
  model_file::save_model((dir.path() / "other.safetensors").string(), m, melody);
  const auto r = run(generate("sample --checkpoint " + (dir.path() / "other.safetensors").string() + " --out " +
                              (dir.path() / "x").string()));
  EXPECT_EQ(r.first, 1);
  EXPECT_NE(r.second.find("is 'melody_90'"), std::string::npos) << r.second;
  EXPECT_FALSE(fs::exists(dir.path() / "x"));
}

TEST_F(Generate, EncodeAndAttributeVectorsAreMeanDifferencesOfLabelledLatents) {
  // A labelled dataset: info.csv marks odd files as fills.
  const fs::path data = dir.path() / "labelled";
  fs::create_directories(data / "d");
  std::ofstream csv(data / "info.csv");
  csv << "drummer,session,id,style,bpm,beat_type,time_signature,midi_filename,audio_filename,duration,split\n";
  for (int i = 0; i < 12; ++i) {
    const fs::path f = write_groove(data / "d", i);
    csv << "drummer1,s,id" << i << "," << (i % 3 ? "funk/groove" : "jazz") << ",100," << (i % 2 ? "fill" : "beat")
        << ",4-4,d/" << f.filename().string() << ",,1.0,test\n";
  }
  csv.close();
  auto r = run(std::string(MVAE_PREPROCESS_BIN) + " --groove " + data.string() + " --out " +
               (dir.path() / "sh").string() + " -q");
  ASSERT_EQ(r.first, 0) << r.second;
  const std::string common =
      " --checkpoint " + model_path.string() + " --data " + (dir.path() / "sh").string() + " --split test";
  r = run(generate("encode" + common + " --out " + (dir.path() / "enc").string()));
  ASSERT_EQ(r.first, 0) << r.second;
  r = run(generate("attribute" + common + " --label fill --out " + (dir.path() / "vec").string()));
  ASSERT_EQ(r.first, 0) << r.second;
  EXPECT_NE(r.second.find("windows with it"), std::string::npos) << r.second;

  std::vector<int64_t> shape, vshape;
  const auto mu = read_npy((dir.path() / "enc" / "latents.npy").string(), &shape);
  const auto vec = read_npy((dir.path() / "vec" / "fill.npy").string(), &vshape);
  ASSERT_EQ(shape.size(), 2u);
  EXPECT_EQ(shape[1], 16);  // the tiny preset's z
  EXPECT_EQ(vshape, std::vector<int64_t>{16});
  std::ifstream labels(dir.path() / "enc" / "latents.labels.jsonl");
  std::vector<double> with(16, 0), without(16, 0);
  int n_with = 0, n_without = 0;
  std::string line;
  for (int64_t row = 0; std::getline(labels, line); ++row) {
    const bool fill = nlohmann::json::parse(line)["beat_type"] == "fill";
    (fill ? n_with : n_without)++;
    for (int k = 0; k < 16; ++k) (fill ? with : without)[k] += mu[row * 16 + k];
  }
  ASSERT_GT(n_with, 0);
  ASSERT_GT(n_without, 0);
  for (int k = 0; k < 16; ++k) EXPECT_NEAR(vec[k], with[k] / n_with - without[k] / n_without, 1e-5) << k;

  // apply: adding the vector changes the decoded latent, and the files are written.
  r = run(generate("apply --checkpoint " + model_path.string() + " --input " + (data / "d" / "in1.mid").string() +
                   " --vector " + (dir.path() / "vec" / "fill.npy").string() + " --scale 3 --argmax --out " +
                   (dir.path() / "app").string()));
  ASSERT_EQ(r.first, 0) << r.second;
  EXPECT_TRUE(fs::exists(dir.path() / "app" / "with-attribute.mid"));
  // A vector of the wrong size is named.
  write_npy((dir.path() / "bad.npy").string(), std::vector<float>(5, 0.f), {5});
  r = run(generate("apply --checkpoint " + model_path.string() + " --input " + (data / "d" / "in1.mid").string() +
                   " --vector " + (dir.path() / "bad.npy").string() + " --out " + (dir.path() / "app2").string()));
  EXPECT_EQ(r.first, 1);
  EXPECT_NE(r.second.find("bad.npy: shape: expected a vector of 16"), std::string::npos) << r.second;
}

TEST_F(Generate, RenderWavWritesAudioOrSaysHowToInstallFluidSynth) {
  const auto r = run(generate("sample --checkpoint " + model_path.string() + " --n 1 --render-wav --out " +
                              (dir.path() / "w").string()));
  if (generate::render_setup_problem().empty()) {
    ASSERT_EQ(r.first, 0) << r.second;
    std::ifstream wav(dir.path() / "w" / "sample-000.wav", std::ios::binary);
    char header[44];
    ASSERT_TRUE(wav.read(header, 44));
    EXPECT_EQ(std::string(header, 4), "RIFF");
    EXPECT_EQ(std::string(header + 8, 4), "WAVE");
    uint32_t rate, byte_rate;
    std::memcpy(&rate, header + 24, 4);
    std::memcpy(&byte_rate, header + 28, 4);
    EXPECT_EQ(rate, 44100u);
    // At least the pattern's length: 2 bars at 120 qpm = 4 s.
    EXPECT_GE(static_cast<double>(fs::file_size(dir.path() / "w" / "sample-000.wav")) / byte_rate, 4.0);
  } else {
    EXPECT_EQ(r.first, 2) << r.second;
    EXPECT_NE(r.second.find("apt-get install fluidsynth fluid-soundfont-gm"), std::string::npos) << r.second;
  }
}

// A release: export stores the weights in float16 (half the bytes) and loads back in float32
// within float16's precision; `generate` without --checkpoint uses the released model.
TEST_F(Generate, ExportedFloat16ModelIsTheReleasedDefault) {
  const fs::path exported = dir.path() / "release" / "model.safetensors";
  const auto [status, out] =
      run(generate("export --checkpoint " + model_path.string() + " --out " + exported.string()));
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("float16 weights"), std::string::npos) << out;
  EXPECT_LT(fs::file_size(exported), fs::file_size(model_path) * 6 / 10);
  const model_file::LoadedModel full = model_file::load_model(model_path.string(), torch::kCPU);
  const model_file::LoadedModel half = model_file::load_model(exported.string(), torch::kCPU);
  const auto a = full.model->parameters(), b = half.model->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(b[i].scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-3, 1e-4)) << "parameter " << i;
  }
  EXPECT_EQ(half.representation.to_json(), full.representation.to_json());

  const std::string released = "MVAE_MODEL=" + exported.string() + " ";
  const auto [s2, out2] = run(released + generate("sample --n 2 --out " + (dir.path() / "r").string()));
  ASSERT_EQ(s2, 0) << out2;
  EXPECT_NE(out2.find("released model " + exported.string()), std::string::npos) << out2;
  EXPECT_TRUE(fs::exists(dir.path() / "r" / "sample-001.mid"));
  const auto [s3, out3] = run("MVAE_MODEL=" + (dir.path() / "none.safetensors").string() + " " +
                              generate("sample --n 2 --out " + (dir.path() / "r2").string()));
  EXPECT_EQ(s3, 1) << out3;
  EXPECT_NE(out3.find("none.safetensors: no such checkpoint"), std::string::npos) << out3;
  const auto [s4, out4] =
      run(generate("export --checkpoint " + model_path.string() + " --dtype int8 --out x.safetensors"));
  EXPECT_EQ(s4, 2) << out4;

  // The verbs that encode an input take the reconstruction release; sampling keeps the default.
  const std::string both = released + "MVAE_RECONSTRUCTION_MODEL=" + model_path.string() + " ";
  const fs::path input = write_groove(dir.path(), 5);
  const auto [s5, out5] =
      run(both + generate("reconstruct --input " + input.string() + " --out " + (dir.path() / "r5").string()));
  ASSERT_EQ(s5, 0) << out5;
  EXPECT_NE(out5.find("released model " + model_path.string()), std::string::npos) << out5;
  const auto [s6, out6] = run(both + generate("sample --n 1 --out " + (dir.path() / "r6").string()));
  ASSERT_EQ(s6, 0) << out6;
  EXPECT_NE(out6.find("released model " + exported.string()), std::string::npos) << out6;
}

// --bars: without --checkpoint it picks the release of that length ($MVAE_16BAR_MODEL stands in
// for models/groove_16bar here); with one it is a check, refused when the model has another length.
TEST_F(Generate, BarsPicksTheReleaseOfThatLengthAndChecksACheckpoint) {
  model::ModelConfig c = model::preset("tiny");
  c.bars = 16;
  model::MusicVAE m(c);
  data::DataRepresentation rep;
  rep.bars = 16;
  const fs::path long_model = dir.path() / "long.safetensors";
  model_file::save_model(long_model.string(), m, rep);
  const std::string released = "MVAE_16BAR_MODEL=" + long_model.string() + " ";
  const auto [s1, out1] = run(released + generate("sample --bars 16 --n 1 --out " + (dir.path() / "b").string()));
  ASSERT_EQ(s1, 0) << out1;
  EXPECT_NE(out1.find("released model " + long_model.string()), std::string::npos) << out1;
  EXPECT_EQ(midi::read_midi_file((dir.path() / "b" / "sample-000.mid").string()).end_tick, 256 * 120)
      << "16 bars of 16 steps at 120 ticks per step";
  const auto [s2, out2] =
      run(generate("sample --bars 16 --checkpoint " + model_path.string() + " --out " + (dir.path() / "b2").string()));
  EXPECT_EQ(s2, 2) << out2;
  EXPECT_NE(out2.find("--bars 16: " + model_path.string() + " is a model of 2 bars"), std::string::npos) << out2;
  EXPECT_FALSE(fs::exists(dir.path() / "b2"));
  const auto [s3, out3] = run(released + generate("sample --bars 4 --out " + (dir.path() / "b3").string()));
  EXPECT_EQ(s3, 2) << out3;
  EXPECT_NE(out3.find("--bars 4: no released model of that length"), std::string::npos) << out3;
}

// The 16-bar release ships with the checkout (models/groove_16bar), so --bars 16 samples with no --checkpoint.
TEST_F(Generate, TheReleased16BarModelSamplesSixteenBars) {
  const auto [status, out] = run(generate("sample --bars 16 --n 1 --out " + (dir.path() / "long").string()));
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("models/groove_16bar/model.safetensors (flat-drums_16bar: 16 bars"), std::string::npos) << out;
  EXPECT_EQ(midi::read_midi_file((dir.path() / "long" / "sample-000.mid").string()).end_tick, 256 * 120)
      << "16 bars of 16 steps at 120 ticks per step";
}

// Checkpoint averaging: export --average N writes the element-wise mean of a run's N newest checkpoints;
// fewer checkpoints than N, or one of another model, are refused naming the folder or file.
TEST_F(Generate, ExportAverageIsTheMeanOfTheNewestCheckpoints) {
  const fs::path run_dir = dir.path() / "run";
  data::DataRepresentation rep;
  rep.bars = 2;
  auto checkpoint = [&](int step, const model::ModelConfig& config) {
    torch::manual_seed(step);
    model::MusicVAE m(config);
    const fs::path folder = run_dir / "checkpoints" / ("step-0000000" + std::to_string(step));
    fs::create_directories(folder);
    model_file::save_model((folder / "model.safetensors").string(), m, rep);
    std::ofstream(folder / "COMPLETE").put('\n');
    return model_file::load_model((folder / "model.safetensors").string(), torch::kCPU);
  };
  checkpoint(1, model::preset("tiny"));  // the oldest: not among the two newest
  const model_file::LoadedModel a = checkpoint(2, model::preset("tiny")), b = checkpoint(3, model::preset("tiny"));
  const fs::path averaged = dir.path() / "avg.safetensors", refused = dir.path() / "refused.safetensors";
  const auto [status, out] = run(
      generate("export --checkpoint " + run_dir.string() + " --average 2 --dtype float32 --out " + averaged.string()));
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("the mean of "), std::string::npos) << out;
  const model_file::LoadedModel mean = model_file::load_model(averaged.string(), torch::kCPU);
  const auto pa = a.model->parameters(), pb = b.model->parameters(), pm = mean.model->parameters();
  ASSERT_EQ(pm.size(), pa.size());
  for (size_t i = 0; i < pm.size(); ++i)
    EXPECT_TRUE(torch::allclose(pm[i], (pa[i] + pb[i]) / 2, 1e-6, 1e-7)) << "parameter " << i;

  const auto [s2, out2] =
      run(generate("export --checkpoint " + run_dir.string() + " --average 4 --out " + refused.string()));
  EXPECT_EQ(s2, 1) << out2;
  EXPECT_NE(out2.find("holds 3 verified checkpoint(s), and 4 were asked"), std::string::npos) << out2;
  model::ModelConfig wider = model::preset("tiny");
  wider.dec = 48;
  checkpoint(4, wider);
  const auto [s3, out3] =
      run(generate("export --checkpoint " + run_dir.string() + " --average 2 --out " + refused.string()));
  EXPECT_EQ(s3, 1) << out3;
  EXPECT_NE(out3.find("step-00000003/model.safetensors: mvae_config: is not the model of"), std::string::npos) << out3;
  const auto [s4, out4] =
      run(generate("export --checkpoint " + run_dir.string() + " --best --average 2 --out " + refused.string()));
  EXPECT_EQ(s4, 2) << out4;
  EXPECT_FALSE(fs::exists(refused));
}

// A model soup: export --mean-with averages in checkpoints of other runs fine-tuned from one model, which may
// differ in what only shapes training (free bits, scheduled sampling); the mean keeps --checkpoint's settings.
TEST_F(Generate, ExportMeanWithAveragesRunsThatDifferOnlyInTraining) {
  data::DataRepresentation rep;
  rep.bars = 2;
  auto save = [&](const std::string& name, int seed, const model::ModelConfig& config) {
    torch::manual_seed(seed);
    model::MusicVAE m(config);
    const fs::path file = dir.path() / (name + ".safetensors");
    model_file::save_model(file.string(), m, rep);
    return std::make_pair(file, model_file::load_model(file.string(), torch::kCPU));
  };
  model::ModelConfig sampled = model::preset("tiny");
  sampled.free_bits = 256;
  sampled.sampling_rate = 1000;
  const auto [teacher_file, teacher] = save("teacher", 1, model::preset("tiny"));
  const auto [sampled_file, sampling] = save("sampled", 2, sampled);
  const fs::path soup = dir.path() / "soup.safetensors";
  const auto [status, out] = run(generate("export --checkpoint " + teacher_file.string() + " --mean-with " +
                                          sampled_file.string() + " --dtype float32 --out " + soup.string()));
  ASSERT_EQ(status, 0) << out;
  const model_file::LoadedModel mean = model_file::load_model(soup.string(), torch::kCPU);
  EXPECT_EQ(mean.config.to_json(), teacher.config.to_json()) << "the first model's settings";
  const auto pa = teacher.model->parameters(), pb = sampling.model->parameters(), pm = mean.model->parameters();
  ASSERT_EQ(pm.size(), pa.size());
  for (size_t i = 0; i < pm.size(); ++i)
    EXPECT_TRUE(torch::allclose(pm[i], (pa[i] + pb[i]) / 2, 1e-6, 1e-7)) << "parameter " << i;

  model::ModelConfig deeper = model::preset("tiny");
  deeper.dec_layers = 2;
  const auto [other_file, other] = save("other", 3, deeper);
  const auto [s2, out2] =
      run(generate("export --checkpoint " + teacher_file.string() + " --mean-with " + other_file.string() + " --out " +
                   (dir.path() / "refused.safetensors").string()));
  EXPECT_EQ(s2, 1) << out2;
  EXPECT_NE(out2.find("other.safetensors: mvae_config: is not the model of"), std::string::npos) << out2;
  EXPECT_FALSE(fs::exists(dir.path() / "refused.safetensors"));
}

namespace {

// A quantized 5-bar beat (80 steps) at 100 qpm, every hit at velocity 80: a score to humanize.
fs::path write_score(const fs::path& dir) {
  std::vector<uint16_t> tokens(80, 0);
  for (int s = 0; s < 80; s += 2) tokens[s] = 4;                  // closed hi-hat on 8ths
  for (int s = 0; s < 80; s += 8) tokens[s] |= (s % 16 ? 2 : 1);  // kick on 1, snare on 3
  const fs::path path = dir / "score-in.mid";
  midi::write_midi_file(path.string(), data::tokens_to_midi(tokens, data::PitchMap::general_midi(), 100.0));
  return path;
}

// (step, pitch) of every note-on, the step being the nearest 16th: a performance's notes on the grid.
std::vector<std::pair<int64_t, int>> notes_on_grid(const fs::path& p) {
  std::vector<std::pair<int64_t, int>> v;
  for (const auto& n : midi::read_midi_file(p.string()).notes)
    if (n.velocity > 0) v.emplace_back((n.tick + 60) / 120, n.pitch);
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_F(Generate, HumanizePlaysTheWholeScoreAtItsTempoWithItsNotes) {
  torch::manual_seed(3);
  model::MusicVAE groove(model::preset("tiny-groove"));  // untrained: what generate does, not how well
  data::DataRepresentation rep;
  const fs::path groove_path = dir.path() / "groove.safetensors";
  model_file::save_model(groove_path.string(), groove, rep);
  const fs::path score = write_score(dir.path());
  const auto r = run(generate("humanize --checkpoint " + groove_path.string() + " --input " + score.string() +
                              " --plot --out " + (dir.path() / "h").string()));
  ASSERT_EQ(r.first, 0) << r.second;
  const midi::MidiFile played = midi::read_midi_file((dir.path() / "h" / "humanized.mid").string());
  ASSERT_EQ(played.tempos.size(), 1u);
  EXPECT_NEAR(played.tempos[0].qpm(), 100.0, 1e-3) << "played at the score's tempo";
  EXPECT_EQ(played.end_tick, 80 * 120) << "all five bars (two windows and one for the last bar)";
  // Every note of the score, no other, each near its grid step; velocities and timing the model's.
  EXPECT_EQ(notes_on_grid(dir.path() / "h" / "humanized.mid"), notes_on_grid(score));
  EXPECT_EQ(notes_on_grid(dir.path() / "h" / "score.mid"), notes_on_grid(score));
  std::set<int> velocities;
  int off_grid = 0;
  for (const auto& n : played.notes)
    if (n.velocity > 0) velocities.insert(n.velocity), off_grid += n.tick % 120 != 0;
  EXPECT_GT(velocities.size(), 1u);
  EXPECT_GT(off_grid, 0);
  // The picture shows velocity as shade.
  std::ifstream in(dir.path() / "h" / "humanize.svg");
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(svg.find(">humanized</text>"), std::string::npos);
  EXPECT_NE(svg.find("fill-opacity=\"0."), std::string::npos);

  // Without --checkpoint: the released humanizing model ($MVAE_HUMANIZE_MODEL overrides it).
  const auto released = run("MVAE_HUMANIZE_MODEL=" + groove_path.string() + " " +
                            generate("humanize --input " + score.string() + " --out " + (dir.path() / "h2").string()));
  ASSERT_EQ(released.first, 0) << released.second;
  EXPECT_NE(released.second.find("released model " + groove_path.string()), std::string::npos) << released.second;

  // The token model has no velocities to give: the error says which model to use.
  const auto wrong = run(generate("humanize --checkpoint " + model_path.string() + " --input " + score.string() +
                                  " --out " + (dir.path() / "w").string()));
  EXPECT_EQ(wrong.first, 2) << "a usage error";
  EXPECT_NE(wrong.second.find("groovae_2bar_humanize"), std::string::npos) << wrong.second;
}

TEST_F(Generate, TapToDrumsTakesTapsOfAnyPitchOnAnyChannel) {
  torch::manual_seed(4);
  model::ModelConfig c = model::preset("tiny-groove");
  c.input_transform = model::InputTransform::kTap;
  model::MusicVAE tap(c);
  data::DataRepresentation rep;
  const fs::path tap_path = dir.path() / "tap.safetensors";
  model_file::save_model(tap_path.string(), tap, rep);
  midi::MidiFile taps;  // quarter-note taps on a piano key, channel 1, two bars at 90 qpm
  taps.tempos.push_back({0, static_cast<uint32_t>(60e6 / 90)});
  for (int s = 0; s < 32; s += 4) {
    taps.notes.push_back({s * 120, 0, 60, 90, 0});
    taps.notes.push_back({s * 120 + 60, 0, 60, 0, 0});
  }
  taps.end_tick = 32 * 120;
  midi::write_midi_file((dir.path() / "taps-in.mid").string(), taps);
  const auto r = run(generate("tap2drum --checkpoint " + tap_path.string() + " --input " +
                              (dir.path() / "taps-in.mid").string() + " --out " + (dir.path() / "t").string()));
  ASSERT_EQ(r.first, 0) << r.second;
  const midi::MidiFile drums = midi::read_midi_file((dir.path() / "t" / "drums.mid").string());
  EXPECT_NEAR(drums.tempos.at(0).qpm(), 90.0, 1e-3);
  EXPECT_EQ(drums.end_tick, 32 * 120);
  EXPECT_EQ(notes_on_grid(dir.path() / "t" / "taps.mid").size(), 8u) << "the eight taps, read whatever their pitch";
}

TEST_F(Generate, ReconstructionIsWrittenAtTheInputsTempoUnlessQpmIsGiven) {
  const fs::path a = write_groove(dir.path(), 1);  // 100 qpm
  for (const std::string& qpm : {std::string(), std::string(" --qpm 130")}) {
    const auto r = run(generate("reconstruct --checkpoint " + model_path.string() + " --input " + a.string() + qpm +
                                " --force --out " + (dir.path() / "r").string()));
    ASSERT_EQ(r.first, 0) << r.second;
    for (const char* name : {"original.mid", "reconstruction.mid"})
      EXPECT_NEAR(midi::read_midi_file((dir.path() / "r" / name).string()).tempos.at(0).qpm(),
                  qpm.empty() ? 100.0 : 130.0, 1e-3)
          << name << qpm;
  }
}

namespace {

// The "Core: NAME" lines OpenBLAS prints at load with OPENBLAS_VERBOSE=2, in order.
std::vector<std::string> openblas_cores(const std::string& output) {
  std::vector<std::string> cores;
  for (size_t at = output.find("Core: "); at != std::string::npos; at = output.find("Core: ", at + 1))
    cores.push_back(output.substr(at + 6, output.find('\n', at) - at - 6));
  return cores;
}

// OpenBLAS 0.3.21 took recent Xeons for Prescott (SSE3) and ran 3.6x slower; the programs then
// run again with kernels for the CPU's instructions (common/runtime.h). A user's choice stays.
TEST(Runtime, ProgramsRunOpenBlasKernelsForTheCpusInstructions) {
  const auto run =
      test::run("env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 " + std::string(MVAE_GENERATE_BIN) + " --help");
  ASSERT_NE(run.output.find("generate VERB"), std::string::npos) << run.output;  // it ran (its help)
  const std::vector<std::string> cores = openblas_cores(run.output);
  if (cores.empty()) GTEST_SKIP() << "LibTorch's BLAS here is not a dynamic-architecture OpenBLAS";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    const std::set<std::string> before_avx2 = {"Katmai", "Coppermine", "Northwood",  "Prescott", "Banias",     "Atom",
                                               "Core2",  "Penryn",     "Dunnington", "Nehalem",  "Sandybridge"};
    EXPECT_EQ(before_avx2.count(cores.back()), 0u)
        << "the program ran with OpenBLAS's " << cores.back() << " kernels on an AVX2 CPU";
  }
  EXPECT_LE(cores.size(), 2u) << "re-executed more than once";
  const auto chosen =
      test::run("OPENBLAS_CORETYPE=Nehalem OPENBLAS_VERBOSE=2 " + std::string(MVAE_GENERATE_BIN) + " --help");
  EXPECT_EQ(openblas_cores(chosen.output), std::vector<std::string>{"Nehalem"})
      << "the user's OPENBLAS_CORETYPE was overridden";
}

}  // namespace
