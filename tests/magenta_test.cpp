// Magenta's own MusicVAE as the reference: its trainer (music_vae_train, Magenta 2.1.4 with
// TensorFlow) makes a real checkpoint from Groove windows; `magenta import` turns it into our
// model; on the same windows our posterior, teacher-forced logits, losses and KL must equal what
// Magenta's graph computes from the checkpoint (tools/magenta/magenta_reference.py). Then the
// other way: our model exported by `magenta export`, restored by Magenta's graph and by its
// TrainedModel, gives back the same numbers; exported by `magenta export-js`, TensorFlow.js's
// weights reader reads Magenta's variables back.
//
// Needs MVAE_MAGENTA_PYTHON (the Python of launch/setup.sh --magenta's environment, which
// launch/test.sh sets when that environment exists) and MVAE_GROOVE_ZIP; skipped, with the
// reason, without them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/npy.h"
#include "data/representation.h"
#include "inference/trained_model.h"
#include "magenta/magenta_model.h"
#include "magenta/tf_checkpoint.h"
#include "model/musicvae.h"
#include "model_file/model_file.h"
#include "process_util.h"
#include "test_util.h"

namespace mvae {
namespace {

namespace fs = std::filesystem;

std::string magenta_python() {
  const char* p = std::getenv("MVAE_MAGENTA_PYTHON");
  return p && fs::exists(p) ? p : "";
}

std::string tools_dir() { return std::string(MVAE_SOURCE_DIR) + "/tools/magenta"; }

torch::Tensor npy(const fs::path& path) {
  std::vector<int64_t> shape;
  std::vector<float> values = read_npy(path.string(), &shape);
  return torch::from_blob(values.data(), shape, torch::kFloat).clone();
}

// max |ours - theirs| / max |theirs|: the relative difference of two arrays.
double relative_difference(const torch::Tensor& ours, const torch::Tensor& theirs) {
  return ((ours - theirs).abs().max() / theirs.abs().max().clamp_min(1e-30)).item<double>();
}

class MagentaInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (magenta_python().empty() || test::groove_zip().empty()) return;
    root_ = new test::TempDir();
    // 30 beats of the training split: Magenta's converters cut their windows from these.
    const auto made = test::run(python() + tools_dir() + "/groove_to_tfrecord.py --groove " + test::groove_zip() +
                                " --split train --beat-only --limit 30 --out " + examples());
    ASSERT_EQ(made.status, 0) << made.output;
  }
  static void TearDownTestSuite() {
    delete root_;
    root_ = nullptr;
  }
  void SetUp() override {
    if (magenta_python().empty()) GTEST_SKIP() << "MVAE_MAGENTA_PYTHON is not set (bash launch/setup.sh --magenta)";
    if (test::groove_zip().empty()) GTEST_SKIP() << "MVAE_GROOVE_ZIP is not set";
    ASSERT_NE(root_, nullptr);
  }
  static std::string python() { return "TF_CPP_MIN_LOG_LEVEL=2 " + magenta_python() + " "; }
  static std::string examples() { return (root_->path() / "groove.tfrecord").string(); }
  static fs::path dir(const std::string& name) { return root_->path() / name; }

  // Magenta's trainer, `steps` steps of batch 8 with `hparams` added: the checkpoint folder.
  static fs::path magenta_train(const std::string& config, int steps, const std::string& hparams = "") {
    const fs::path run = dir("run-" + config);
    const auto r = test::run(python() + tools_dir() + "/train.py --config=" + config + " --run_dir=" + run.string() +
                             " --mode=train --examples_path=" + examples() + " --num_steps=" + std::to_string(steps) +
                             " --hparams=batch_size=8" + (hparams.empty() ? "" : "," + hparams));
    EXPECT_EQ(r.status, 0) << r.output.substr(r.output.size() > 4000 ? r.output.size() - 4000 : 0);
    return run / "train";
  }
  // What Magenta's graph computes from `checkpoint` on the first 12 windows.
  static fs::path magenta_reference(const std::string& config, const fs::path& checkpoint, const std::string& name,
                                    const std::string& hparams, bool trained_model = false) {
    const fs::path out = dir(name);
    const auto r =
        test::run(python() + tools_dir() + "/magenta_reference.py --config " + config + " --checkpoint " +
                  checkpoint.string() + " --examples " + examples() + " --windows 12 --out " + out.string() +
                  (hparams.empty() ? "" : " --hparams=" + hparams) + (trained_model ? " --trained-model" : ""));
    EXPECT_EQ(r.status, 0) << r.output.substr(r.output.size() > 4000 ? r.output.size() - 4000 : 0);
    return out;
  }
  static std::string magenta_bin(const std::string& args) {
    const auto r = test::run(std::string(MVAE_MAGENTA_BIN) + " " + args);
    EXPECT_EQ(r.status, 0) << r.output;
    return r.output;
  }

  // Our model computes what Magenta's graph did (reference folder `ref`), to 1e-4 relative.
  static void expect_same_as_magenta(const fs::path& model_file, const fs::path& ref) {
    model_file::LoadedModel loaded = model_file::load_model(model_file.string(), torch::kCPU);
    model::MusicVAE& m = loaded.model;
    const auto meta = nlohmann::json::parse(std::ifstream(ref / "meta.json"));
    torch::Tensor targets = npy(ref / "targets.npy");
    if (!loaded.config.groove()) targets = targets.to(torch::kLong);
    torch::NoGradGuard no_grad;
    const torch::Tensor encoder_input = m->encoder_input(targets);
    EXPECT_EQ(relative_difference(encoder_input, npy(ref / "inputs.npy")), 0.0)
        << "what the encoder reads differs from Magenta's";
    const model::Posterior q = m->encode(encoder_input);
    const torch::Tensor logits = m->decode_teacher_forced(q.mu, targets);
    const double mu = relative_difference(q.mu, npy(ref / "mu.npy")),
                 sigma = relative_difference(q.sigma, npy(ref / "sigma.npy"));
    const double outputs = relative_difference(logits, npy(ref / "logits.npy"));
    const double r_loss = relative_difference(m->reconstruction_loss(logits, targets).total, npy(ref / "r_loss.npy"));
    const double kl = relative_difference(model::MusicVAEImpl::kl_divergence(q), npy(ref / "kl.npy"));
    std::printf("%s vs Magenta (relative): mu %.1e, sigma %.1e, logits %.1e, r_loss %.1e, kl %.1e\n",
                ref.filename().c_str(), mu, sigma, outputs, r_loss, kl);
    EXPECT_LE(mu, 1e-4);
    EXPECT_LE(sigma, 1e-4);
    EXPECT_LE(outputs, 1e-4);
    EXPECT_LE(r_loss, 1e-4);
    EXPECT_LE(kl, 1e-4);
    const model::LossOutput out = m->forward(targets, meta.at("beta").get<double>(), 0.0, torch::zeros_like(q.mu));
    EXPECT_NEAR(out.loss.item<double>(), meta.at("loss").get<double>(), 1e-4 * std::abs(meta.at("loss").get<double>()));
  }

  // Import, compare, export, compare again (through Magenta's graph and its TrainedModel).
  // `trained_model`: also load the export with Magenta's TrainedModel (one more TensorFlow graph to build: the
  // hierarchical test, whose 16-bar graph is the slow one, leaves it to the two flat configs).
  static void round_trip(const std::string& config, const fs::path& checkpoint, const std::string& hparams = "",
                         bool trained_model = true, bool from_midi = false) {
    const fs::path imported = dir(config + ".safetensors");
    const std::string sizes = hparams.empty() ? "" : " --hparams " + hparams;
    magenta_bin("import --checkpoint " + checkpoint.string() + " --config " + config + sizes + " --out " +
                imported.string());
    expect_same_as_magenta(imported, magenta_reference(config, checkpoint, "ref-" + config, hparams));
    const fs::path exported = dir("export-" + config) / "model.ckpt-7";
    magenta_bin("export --checkpoint " + imported.string() + " --config " + config + sizes + " --global-step 7 --out " +
                exported.string());
    const fs::path ref =
        magenta_reference(config, exported.parent_path(), "ref-export-" + config, hparams, trained_model);
    expect_same_as_magenta(imported, ref);
    // From MIDI, the imported model reads and decodes what Magenta's TrainedModel does from Magenta's own
    // checkpoint (a model of ours exported: ReleasedGroovaeExportedReadsMidiAsMagenta).
    if (from_midi) expect_midi_encodes_as_magenta(config, checkpoint, imported, "midi-" + config);
    if (trained_model)
      EXPECT_LE(relative_difference(npy(ref / "trained_model_mu.npy"), npy(ref / "mu.npy")), 1e-5)
          << "TrainedModel encodes the exported checkpoint differently from the graph";
    EXPECT_EQ(nlohmann::json::parse(std::ifstream(ref / "meta.json")).at("global_step"), 7);
    if (loaded_config(imported).hierarchical()) return;  // Magenta.js reads no hierarchical model with a flat encoder
    // Magenta.js: TensorFlow.js's own weights reader finds Magenta's original variables.
    const fs::path js = dir("js-" + config);
    magenta_bin("export-js --checkpoint " + imported.string() + " --config " + config + " --out " + js.string());
    const auto check = test::run(python() + tools_dir() + "/check_magenta_js.py --js " + js.string() +
                                 " --checkpoint " + checkpoint.string() + "/" + last_checkpoint_name(checkpoint));
    EXPECT_EQ(check.status, 0) << check.output;
  }
  // From MIDI file to latent, against Magenta's own code: every file of Groove's test split is cut by
  // the config's converter and encoded by Magenta's TrainedModel from `checkpoint`
  // (tools/magenta/encode_files.py), and by ours from `model_file` (TrainedModel::windows_of, the
  // reading `generate encode` does). Each file must give the same windows (Magenta's are a set: matched
  // by equal encoder input) and each window the same posterior mean, to 1e-5 relative.
  // `options`: more of encode_files.py's (--hparams, --limit).
  static void expect_midi_encodes_as_magenta(const std::string& config, const fs::path& checkpoint,
                                             const fs::path& model_file, const std::string& name,
                                             const std::string& options = "") {
    const fs::path ref = dir(name);
    const auto r = test::run(python() + tools_dir() + "/encode_files.py --config " + config + " --checkpoint " +
                             checkpoint.string() + " --groove " + test::groove_zip() + " --split test --out " +
                             ref.string() + " " + options);
    ASSERT_EQ(r.status, 0) << r.output.substr(r.output.size() > 4000 ? r.output.size() - 4000 : 0);
    inference::TrainedModel ours(model_file.string());
    const auto files = nlohmann::json::parse(std::ifstream(ref / "files.json"));
    const torch::Tensor inputs = npy(ref / "inputs.npy"), means = npy(ref / "mu.npy");
    int64_t row = 0, windows = 0;
    int files_differing = 0;
    double worst = 0;
    std::string differences;
    torch::NoGradGuard no_grad;
    for (const auto& f : files) {
      const int64_t n = f.at("windows");
      const torch::Tensor theirs = inputs.narrow(0, row, n);
      std::vector<inference::Pattern> patterns;
      try {
        patterns = ours.windows_of((ref / f.at("file").get<std::string>()).string());
      } catch (const InputError&) {  // no window: Magenta must have none either
      }
      const auto differ = [&](const std::string& why) {
        if (++files_differing <= 10) differences += "\n  " + f.at("path").get<std::string>() + ": " + why;
      };
      if (static_cast<int64_t>(patterns.size()) != n) {
        differ(std::to_string(patterns.size()) + " windows here, " + std::to_string(n) + " in Magenta");
      } else if (n > 0) {
        const torch::Tensor x = ours.model()->encoder_input(ours.sequences_of(patterns)).to(torch::kFloat);
        const torch::Tensor mu = ours.encode_mean(patterns);
        std::vector<bool> used(n, false);
        for (int64_t i = 0; i < n; ++i) {
          int64_t j = 0;
          while (j < n && (used[j] || !torch::equal(x[i], theirs[j]))) ++j;
          if (j == n) {
            differ("window " + std::to_string(i) + "'s encoder input is none of Magenta's");
            break;
          }
          used[j] = true;
          worst = std::max(worst, relative_difference(mu[i], means[row + j]));
        }
      }
      row += n;
      windows += n;
    }
    std::printf("%s: %zu files, %lld windows from MIDI; files differing from Magenta's: %d; posterior mean %.1e\n",
                name.c_str(), files.size(), static_cast<long long>(windows), files_differing, worst);
    EXPECT_EQ(files_differing, 0) << differences;
    EXPECT_LE(worst, 1e-5);
    expect_argmax_decode_as_magenta(ours, means, npy(ref / "decoded.npy"), name);
  }
  // From Magenta's latents, our argmax decoding chooses what Magenta's decoder at temperature 1e-6 chose.
  // That decoder is an argmax except at a near-tie, where its sample is a coin toss, so Magenta's whole
  // decode is fed to ours step by step (teacher forcing reads exactly what free-running decoding fed
  // back): at every step our choice (the argmax token; each hit's logit > 0) must be Magenta's wherever
  // the choice has a margin (1e-4 in logits), and the velocity and offset heads must agree to 1e-4.
  static void expect_argmax_decode_as_magenta(inference::TrainedModel& ours, const torch::Tensor& z,
                                              const torch::Tensor& theirs, const std::string& name) {
    torch::NoGradGuard no_grad;
    constexpr double kMargin = 1e-4;
    const bool groove = ours.config().groove();
    const torch::Tensor targets = groove ? theirs : theirs.to(torch::kLong);
    const torch::Tensor logits = ours.model()->decode_teacher_forced(z, targets);  // [N, T, 512] or [N, T, 27]
    torch::Tensor differ, ties;
    double heads = 0;
    if (!groove) {
      const auto top = logits.topk(2, -1);
      const torch::Tensor margin = std::get<0>(top).select(-1, 0) - std::get<0>(top).select(-1, 1);
      differ = (std::get<1>(top).select(-1, 0) != targets) & (margin > kMargin);
      ties = margin <= kMargin;
    } else {
      const int64_t C = data::kNumDrumClasses;
      const torch::Tensor hit_logits = logits.narrow(-1, 0, C);
      differ = ((hit_logits > 0) != (theirs.narrow(-1, 0, C) > 0.5)) & (hit_logits.abs() > kMargin);
      ties = hit_logits.abs() <= kMargin;
      heads =
          std::max((torch::sigmoid(logits.narrow(-1, C, C)) - theirs.narrow(-1, C, C)).abs().max().item<double>(),
                   (torch::tanh(logits.narrow(-1, 2 * C, C)) - theirs.narrow(-1, 2 * C, C)).abs().max().item<double>());
    }
    const int64_t steps = differ.sum().item<int64_t>(), tied = ties.sum().item<int64_t>();
    std::printf(
        "%s: argmax decodes of %lld latents: steps choosing otherwise than Magenta's %lld (near-ties %lld); "
        "velocity/offset heads %.1e\n",
        name.c_str(), static_cast<long long>(z.size(0)), static_cast<long long>(steps), static_cast<long long>(tied),
        heads);
    EXPECT_EQ(steps, 0);
    EXPECT_LE(heads, 1e-4);
  }
  static model::ModelConfig loaded_config(const fs::path& model_file) {
    return model_file::load_model(model_file.string(), torch::kCPU).config;
  }
  // The prefix's file name the folder's `checkpoint` file names ("model.ckpt-3").
  static std::string last_checkpoint_name(const fs::path& folder) {
    return fs::path(magenta::resolve_checkpoint_prefix(folder.string())).filename().string();
  }

  static test::TempDir* root_;
};
test::TempDir* MagentaInterop::root_ = nullptr;

TEST_F(MagentaInterop, CatDrums2barSmallComputesWhatMagentaComputesBothWays) {
  round_trip("cat-drums_2bar_small", magenta_train("cat-drums_2bar_small", 3), "", true, /*from_midi=*/true);
}

TEST_F(MagentaInterop, GroovaeHumanizeComputesWhatMagentaComputesBothWays) {
  round_trip("groovae_2bar_humanize", magenta_train("groovae_2bar_humanize", 3), "", true, /*from_midi=*/true);
}

// preprocess's windows of the whole Groove dataset (1,150 files) are the windows Magenta's own
// DrumsConverter cuts from the same files (tools/magenta/compare_windows.py: note_seq reads each
// file, the cat-drums config's converter cuts it; compared per file as multisets of token sequences).
TEST_F(MagentaInterop, PreprocessWindowsAreMagentasOnTheWholeDataset) {
  const fs::path shards = dir("shards-all");
  const auto made = test::run(std::string(MVAE_PREPROCESS_BIN) + " --groove " + test::groove_zip() + " --out " +
                              shards.string() + " --bars 2");
  ASSERT_EQ(made.status, 0) << made.output;
  const auto compared = test::run(python() + tools_dir() + "/compare_windows.py --groove " + test::groove_zip() +
                                  " --shards " + shards.string());
  const size_t summary = compared.output.find("compare_windows:");
  std::printf("%s", compared.output.substr(summary == std::string::npos ? 0 : summary).c_str());
  EXPECT_EQ(compared.status, 0) << compared.output.substr(compared.output.size() > 4000 ? compared.output.size() - 4000
                                                                                        : 0);
}

// The released GrooVAE, exported: Magenta's TrainedModel reads Groove's test split from MIDI into
// the same windows and latents as the model imported back, and decodes them the same; the round trip
// changes nothing the model does with a user's MIDI (the released file encodes bit-identically).
TEST_F(MagentaInterop, ReleasedGroovaeExportedReadsMidiAsMagenta) {
  const std::string config = "groovae_2bar_humanize";
  const fs::path released = fs::path(MVAE_SOURCE_DIR) / "models" / config / "model.safetensors";
  const fs::path exported = dir("export-released") / "model.ckpt-0", back = dir("released-back.safetensors");
  magenta_bin("export --checkpoint " + released.string() + " --config " + config + " --out " + exported.string());
  magenta_bin("import --checkpoint " + exported.parent_path().string() + " --config " + config + " --out " +
              back.string());
  expect_midi_encodes_as_magenta(config, exported.parent_path(), back, "midi-released-" + config);
  inference::TrainedModel original(released.string()), round_tripped(back.string());
  const auto files = nlohmann::json::parse(std::ifstream(dir("midi-released-" + config) / "files.json"));
  for (const auto& f : files) {
    const std::string midi = (dir("midi-released-" + config) / f.at("file").get<std::string>()).string();
    if (f.at("windows") == 0) continue;
    EXPECT_TRUE(torch::equal(original.encode_mean(original.windows_of(midi)),
                             round_tripped.encode_mean(round_tripped.windows_of(midi))))
        << f.at("path");
  }
}

// The released 16-bar model (flat decoder, drum-roll encoder, 256 units), exported as the paper's flat
// 16-bar config with its sizes: Magenta's TrainedModel reads the first 40 files of Groove's test split
// from MIDI into the same 16-bar windows and latents, and decodes them the same, 256 steps each.
TEST_F(MagentaInterop, ReleasedSixteenBarModelExportedReadsMidiAsMagenta) {
  const std::string config = "flat-drums_16bar", sizes = "enc_rnn_size=[256],z_size=256,dec_rnn_size=[256,256]";
  const fs::path released = fs::path(MVAE_SOURCE_DIR) / "models" / "groove_16bar" / "model.safetensors";
  const fs::path exported = dir("export-16bar") / "model.ckpt-0";
  magenta_bin("export --checkpoint " + released.string() + " --config " + config + " --hparams " + sizes + " --out " +
              exported.string());
  expect_midi_encodes_as_magenta(config, exported.parent_path(), released, "midi-released-16bar",
                                 "--hparams " + sizes + " --limit 40");
}

// The hierarchical config at small sizes (building Magenta's 16-bar graph is what takes the time).
TEST_F(MagentaInterop, HierarchicalDrums16barComputesWhatMagentaComputesBothWays) {
  const std::string sizes = "enc_rnn_size=[64],dec_rnn_size=[48,48],z_size=32";
  round_trip("hierdec-drums_16bar", magenta_train("hierdec-drums_16bar", 1, sizes), sizes, /*trained_model=*/false);
  // `magenta init --hparams` reads Magenta's sizes as Magenta's trainer does: the same layers as the
  // checkpoint that trainer made from the same string (the conductor takes dec_rnn_size too).
  const fs::path init = dir("init-hierdec.safetensors");
  magenta_bin("init --config hierdec-drums_16bar --hparams '" + sizes + "' --out " + init.string());
  const model::ModelConfig ours = loaded_config(init), magentas = loaded_config(dir("hierdec-drums_16bar.safetensors"));
  EXPECT_EQ(ours.summary(), magentas.summary());
}

// A checkpoint of another config is refused naming the variable and what was expected.
}  // namespace
}  // namespace mvae

namespace mvae {
namespace {

// The checkpoint format alone, no TensorFlow needed: what is written reads back, and damage is
// named (the Magenta tests above check that TensorFlow reads what we write).
TEST(TfCheckpoint, WhatIsWrittenReadsBackAndDamageIsNamed) {
  test::TempDir dir;
  const std::string prefix = (dir.path() / "model.ckpt-5").string();
  magenta::TfVariables variables;
  variables["a/kernel"] = magenta::TfTensor::of_floats({1, 2, 3, 4, 5, 6}, {2, 3});
  variables["a/bias"] = magenta::TfTensor::of_floats({-1.5f, 0.25f, 7}, {3});
  variables["global_step"] = magenta::TfTensor::of_int64(5);
  magenta::write_tf_checkpoint(prefix, variables);
  EXPECT_EQ(magenta::resolve_checkpoint_prefix(dir.path().string()), prefix)
      << "the folder's `checkpoint` file names it";
  const magenta::TfVariables back = magenta::read_tf_checkpoint(prefix);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back.at("a/kernel").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(back.at("a/kernel").floats(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(back.at("a/bias").floats(), (std::vector<float>{-1.5f, 0.25f, 7}));
  EXPECT_EQ(back.at("global_step").dtype, magenta::TfDtype::kInt64);
  const std::string data = prefix + ".data-00000-of-00001";
  {
    std::fstream f(data, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);  // inside a/kernel (a/bias, 12 bytes, comes first: the index is sorted)
    f.put('\x7f');
  }
  try {
    magenta::read_tf_checkpoint(prefix);
    FAIL() << "a damaged data file was read";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), data);
    EXPECT_EQ(e.where(), "variable a/kernel");
    EXPECT_NE(std::string(e.what()).find("CRC-32C"), std::string::npos) << e.what();
  }
  fs::resize_file(data, 20);
  EXPECT_THROW(magenta::read_tf_checkpoint(prefix), InputError);
  fs::remove(data);
  try {
    magenta::read_tf_checkpoint(prefix);
    FAIL() << "a checkpoint without its data file was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
  EXPECT_THROW(magenta::resolve_checkpoint_prefix((dir.path() / "nothing").string()), InputError);
}

}  // namespace
}  // namespace mvae

namespace mvae {
namespace {

// What the program refuses, with the reason, before any work (no TensorFlow needed).
// A checkpoint of one Magenta config read as another: refused naming the first variable that
// does not fit and what that config needs, and nothing written. The checkpoint is our export of a
// cat-drums_2bar_small model (the tests above show TensorFlow restores such exports), so this needs
// no TensorFlow.
TEST(MagentaCommands, ACheckpointOfAnotherConfigIsRefusedNamingTheVariable) {
  test::TempDir dir;
  model::MusicVAE cat_drums(model::preset("cat-drums_2bar_small"));
  const std::string prefix = (dir.path() / "model.ckpt-0").string();
  magenta::write_tf_checkpoint(prefix, magenta::export_checkpoint(cat_drums, "cat-drums_2bar_small", 0));
  const fs::path out = dir.path() / "wrong.safetensors";
  const auto r = test::run(std::string(MVAE_MAGENTA_BIN) + " import --checkpoint " + dir.path().string() +
                           " --config groovae_2bar_humanize --out " + out.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("variable encoder/cell_0/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("expected float32 [539, 2048] for groovae_2bar_humanize"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

// A checkpoint of a config's sizes read as a config of other sizes (cat-drums_2bar_small as _big):
// Magenta would build the big graph and fail to restore it, so import refuses, naming both sizes and
// the --hparams that would make them agree; with those hparams it imports, and export then asks for
// the same hparams (which Magenta's side needs too).
TEST(MagentaCommands, LayerSizesMustBeTheConfigsOrItsHparams) {
  test::TempDir dir;
  model::MusicVAE small(magenta::config_of("cat-drums_2bar_small"));
  const std::string prefix = (dir.path() / "model.ckpt-0").string();
  magenta::write_tf_checkpoint(prefix, magenta::export_checkpoint(small, "cat-drums_2bar_small", 0));
  const std::string bin = std::string(MVAE_MAGENTA_BIN) + " ", big = " --config cat-drums_2bar_big";
  const fs::path out = dir.path() / "big.safetensors";
  const auto refused = test::run(bin + "import --checkpoint " + prefix + big + " --out " + out.string());
  EXPECT_EQ(refused.status, 1) << refused.output;
  EXPECT_NE(refused.output.find("model.ckpt-0.index: layer sizes: the checkpoint's are enc_rnn_size=[512],z_size=256,"
                                "dec_rnn_size=[256,256], Magenta's cat-drums_2bar_big has enc_rnn_size=[2048],"
                                "z_size=512,dec_rnn_size=[2048,2048,2048]"),
            std::string::npos)
      << refused.output;
  EXPECT_FALSE(fs::exists(out));
  const std::string sizes = " --hparams enc_rnn_size=[512],z_size=256,dec_rnn_size=[256,256]";
  const auto imported = test::run(bin + "import --checkpoint " + prefix + big + sizes + " --out " + out.string());
  EXPECT_EQ(imported.status, 0) << imported.output;
  const std::string back = (dir.path() / "back" / "model.ckpt-0").string();
  const auto unsized = test::run(bin + "export --checkpoint " + out.string() + big + " --out " + back);
  EXPECT_EQ(unsized.status, 2) << unsized.output;
  EXPECT_NE(unsized.output.find("the model's layer sizes are enc_rnn_size=[512],z_size=256,dec_rnn_size=[256,256], "
                                "the config's enc_rnn_size=[2048]"),
            std::string::npos)
      << unsized.output;
  const auto exported = test::run(bin + "export --checkpoint " + out.string() + big + sizes + " --out " + back);
  EXPECT_EQ(exported.status, 0) << exported.output;
  EXPECT_NE(exported.output.find("config.hparams.parse('enc_rnn_size=[512],z_size=256,dec_rnn_size=[256,256]')"),
            std::string::npos)
      << exported.output;
}

// `magenta roll-encoder`: a token table that is linear in the drum roll is recovered exactly, so the
// converted model, whose encoder reads the roll, encodes every window as the token model does; every
// other weight is kept.
TEST(MagentaCommands, RollEncoderRefitsATokenTableThatIsLinearInTheRoll) {
  test::TempDir dir;
  const fs::path shards = test::make_synthetic_shards(dir.path());
  torch::manual_seed(5);
  model::ModelConfig c = model::preset("cat-drums_2bar_small");
  c.roll_input = false;
  c.enc = 32;
  c.z = 16;
  c.dec = 32;
  model::MusicVAE token(c);
  const torch::Tensor ids = torch::arange(512, torch::kLong).unsqueeze(1);
  const torch::Tensor roll =
      torch::cat({ids.bitwise_right_shift(torch::arange(9, torch::kLong)).bitwise_and(1), (ids == 0).to(torch::kLong)},
                 1)
          .to(torch::kFloat);  // [512, 10]
  {
    torch::NoGradGuard no_grad;
    for (const char* d : {"encoder.token_gates_fw", "encoder.token_gates_bw"}) {
      torch::Tensor table = token->named_parameters()[d];  // [513, 4H]
      table.narrow(0, 0, 512).copy_(roll.mm(torch::randn({10, table.size(1)})) + torch::randn({table.size(1)}));
    }
  }
  model_file::save_model((dir.path() / "token.safetensors").string(), token, data::DataRepresentation{});
  const fs::path out = dir.path() / "roll.safetensors";
  const auto r =
      test::run(std::string(MVAE_MAGENTA_BIN) + " roll-encoder --checkpoint " +
                (dir.path() / "token.safetensors").string() + " --data " + shards.string() + " --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  model_file::LoadedModel converted = model_file::load_model(out.string(), torch::kCPU);
  EXPECT_TRUE(converted.config.roll_input);
  torch::NoGradGuard no_grad;
  token->eval();
  const torch::Tensor windows = torch::randint(0, 512, {16, 32}, torch::kLong);
  const torch::Tensor ours = converted.model->encode(converted.model->encoder_input(windows)).mu;
  const torch::Tensor theirs = token->encode(token->encoder_input(windows)).mu;
  EXPECT_LE(relative_difference(ours, theirs), 1e-4);
  EXPECT_TRUE(
      torch::equal(converted.model->named_parameters()["output.weight"], token->named_parameters()["output.weight"]));
}

// `magenta init`: a model file that, seen as Magenta's variables, is what Magenta's trainer starts
// from: zero biases (the forget gates' +1 is LSTMBlockCell's), N(0, 0.001) posterior and
// initial-state kernels, Glorot-uniform LSTM and output kernels; the seed decides the draw.
TEST(MagentaCommands, InitStartsFromMagentasInitialisation) {
  test::TempDir dir;
  const auto init = [&](const std::string& file, int seed) {
    const auto r = test::run(std::string(MVAE_MAGENTA_BIN) + " init --config cat-drums_2bar_small --seed " +
                             std::to_string(seed) + " --out " + (dir.path() / file).string());
    EXPECT_EQ(r.status, 0) << r.output;
    return model_file::load_model((dir.path() / file).string(), torch::kCPU);
  };
  model_file::LoadedModel a = init("a.safetensors", 3), again = init("again.safetensors", 3),
                          other = init("other.safetensors", 4);
  EXPECT_TRUE(a.config.roll_input) << "Magenta's cat-drums encoder reads the drum roll";
  const magenta::TfVariables v = magenta::export_checkpoint(a.model, "cat-drums_2bar_small", 0);
  const auto values = [&](const std::string& name) {
    const std::vector<float> f = v.at(name).floats();
    return torch::tensor(f);
  };
  int64_t biases = 0;
  for (const auto& [name, tensor] : v) {
    if (name.size() < 5 || name.compare(name.size() - 5, 5, "/bias") != 0) continue;
    ++biases;
    EXPECT_EQ(values(name).abs().max().item<float>(), 0.0f) << name;
  }
  EXPECT_GE(biases, 6);
  for (const char* name : {"encoder/mu/kernel", "encoder/sigma/kernel", "decoder/z_to_initial_state/kernel"})
    EXPECT_NEAR(values(name).std().item<double>(), 0.001, 1e-4) << name;
  const std::string cell = "decoder/multi_rnn_cell/cell_0/lstm_cell/kernel";
  const auto& shape = v.at(cell).shape;
  const double limit = std::sqrt(6.0 / static_cast<double>(shape[0] + shape[1]));
  EXPECT_LE(values(cell).abs().max().item<double>(), limit * (1 + 1e-6));
  EXPECT_NEAR(values(cell).std().item<double>(), limit / std::sqrt(3.0), 0.02 * limit);  // U(-l, l)
  for (const auto& p : a.model->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), again.model->named_parameters()[p.key()]))
        << p.key() << ": the same seed drew other weights";
  EXPECT_FALSE(torch::equal(a.model->named_parameters()["decoder_init.weight"],
                            other.model->named_parameters()["decoder_init.weight"]));
}

// `magenta init --hparams`: the sizes Magenta's trainer takes on its command line make the same
// model here (the hierarchical decoder's conductor takes dec_rnn_size, as in Magenta's); what
// init cannot honour is refused, naming the hparam, and no file is written.
TEST(MagentaCommands, InitTakesMagentasSizeHparams) {
  test::TempDir dir;
  const std::string bin = std::string(MVAE_MAGENTA_BIN) + " init --config hierdec-drums_16bar --out ";
  const fs::path file = dir.path() / "small.safetensors";
  const auto r = test::run(bin + file.string() + " --hparams 'enc_rnn_size=[64],z_size=32,dec_rnn_size=[48,48]'");
  ASSERT_EQ(r.status, 0) << r.output;
  const model::ModelConfig c = model_file::load_model(file.string(), torch::kCPU).config;
  EXPECT_EQ(std::vector<int>({c.enc, c.enc_layers, c.z, c.cond, c.cond_layers, c.dec, c.dec_layers}),
            std::vector<int>({64, 1, 32, 48, 2, 48, 2}));
  EXPECT_TRUE(c.roll_input);
  EXPECT_EQ(c.free_bits, 256) << "the rest of the config stays Magenta's";
  for (const auto& [hparams, expected] : std::vector<std::pair<std::string, std::string>>{
           {"batch_size=64", "--hparams: batch_size is not a size this takes"},
           {"enc_rnn_size=[256,128]", "layers of different sizes are not supported"},
           {"z_size=big", "z_size=big is not a size"},
           {"z_size=[256,256]", "z_size=[256,256] is one size, not a list"},
           {"z_size", "'z_size' is not name=value"}}) {
    const fs::path refused = dir.path() / "refused.safetensors";
    const auto bad = test::run(bin + refused.string() + " --hparams '" + hparams + "'");
    EXPECT_EQ(bad.status, 2) << hparams << ": " << bad.output;
    EXPECT_NE(bad.output.find(expected), std::string::npos) << bad.output;
    EXPECT_FALSE(fs::exists(refused)) << hparams;
  }
}

TEST(MagentaCommands, UnknownConfigsAndModelsMagentaCannotReadAreRefusedWithTheReason) {
  test::TempDir dir;
  const std::string prefix = (dir.path() / "model.ckpt-1").string();
  magenta::TfVariables variables;
  variables["global_step"] = magenta::TfTensor::of_int64(1);
  magenta::write_tf_checkpoint(prefix, variables);
  const std::string bin = MVAE_MAGENTA_BIN;
  const auto unknown = test::run(bin + " import --checkpoint " + prefix + " --config mel_2bar_small --out " +
                                 (dir.path() / "m.safetensors").string());
  EXPECT_EQ(unknown.status, 2) << unknown.output;
  EXPECT_NE(unknown.output.find(
                "supported: cat-drums_2bar_big, cat-drums_2bar_small, flat-drums_16bar, groovae_2bar_humanize"),
            std::string::npos)
      << unknown.output;
  const auto tar =
      test::run(bin + " import --checkpoint " + prefix + ".tar --config cat-drums_2bar_small --out m.safetensors");
  EXPECT_EQ(tar.status, 1) << tar.output;
  model::MusicVAE tiny(model::preset("tiny"));  // hierarchical, its encoder looks tokens up
  const fs::path tiny_file = dir.path() / "tiny.safetensors";
  model_file::save_model(tiny_file.string(), tiny, data::DataRepresentation{});
  const auto js = test::run(bin + " export-js --checkpoint " + tiny_file.string() +
                            " --config hierdec-drums_16bar --out " + (dir.path() / "js").string());
  EXPECT_EQ(js.status, 2) << js.output;
  EXPECT_NE(js.output.find("Magenta.js plays a hierarchical decoder only beneath a hierarchical encoder"),
            std::string::npos)
      << js.output;
  EXPECT_FALSE(fs::exists(dir.path() / "js"));
  const auto lookup =
      test::run(bin + " export --checkpoint " + tiny_file.string() + " --config cat-drums_2bar_small --out " +
                (dir.path() / "tf" / "model.ckpt-0").string());
  EXPECT_EQ(lookup.status, 2) << lookup.output;
  EXPECT_NE(lookup.output.find("cannot export as Magenta's cat-drums_2bar_small: the model's decoder is hierarchical"),
            std::string::npos)
      << lookup.output;
}

}  // namespace
}  // namespace mvae
