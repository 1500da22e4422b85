// Files from strangers: model files are data (safetensors) and what they declare is checked against
// the bytes present before anything is allocated; old-format files are refused without being
// opened; crafted TensorFlow indexes, .npy vectors, curves and non-files give errors naming the
// file, not crashes. Python's own safetensors package is the oracle for the format.
#include <gtest/gtest.h>
#include <leveldb/env.h>
#include <leveldb/options.h>
#include <leveldb/table_builder.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <functional>

#include "common/files.h"
#include "common/npy.h"
#include "magenta/tf_checkpoint.h"
#include "midi/midi_file.h"
#include "model/musicvae.h"
#include "model_file/model_file.h"
#include "pictures/curves.h"
#include "process_util.h"
#include "tensor_file/safetensors.h"
#include "test_util.h"

using namespace mvae;
namespace fs = std::filesystem;

namespace {

model::ModelConfig tiny() { return model::preset("tiny"); }

std::string saved_tiny(const fs::path& dir, const std::string& name = "model.safetensors") {
  torch::manual_seed(3);
  model::MusicVAE m(tiny());
  const std::string path = (dir / name).string();
  model_file::save_model(path, m, data::DataRepresentation{});
  return path;
}

std::string bytes_of(const std::string& path) { return read_text_file(path); }
void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// The message of the InputError `read` throws, or "accepted" when it throws none.
std::string input_error(const std::function<void()>& read) {
  try {
    read();
  } catch (const InputError& e) {
    return e.what();
  }
  return "accepted";
}

// The InputError's message for loading `path`, or "accepted" when it loads.
std::string load_error(const std::string& path) {
  return input_error([&] { model_file::load_model(path, torch::kCPU); });
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A Python that imports `module`: launch/setup.sh --torch2's environment, or the system's; "" when none does.
std::string python_with(const std::string& module) {
  for (const std::string candidate :
       {std::string(MVAE_SOURCE_DIR) + "/.venv-torch2/bin/python", std::string("python3")})
    if (test::run(candidate + " -c 'import " + module + "' 2>/dev/null").status == 0) return candidate;
  return "";
}

// A safetensors file of one header (raw JSON) and `data` bytes.
std::string container(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

}  // namespace

TEST(Safetensors, CraftedContainersAreRefusedNamingTheProblem) {
  const std::string eight(8, 'x');
  const std::map<std::string, std::string> cases = {
      {"short", "not a safetensors file"},
      {"header past end", "declares"},
      {"not json", "not JSON"},
      {"overflowing shape", "overflows"},
      {"offset near 2^64", "do not hold shape"},
      {"gap", "without gaps or overlaps"},
      {"appended", "truncated, or bytes appended"},
      {"unknown dtype", "is not one of"},
      {"metadata not strings", "must be a string"},
  };
  const std::map<std::string, std::string> files = {
      {"short", "abc"},
      {"header past end", container("{}", "").substr(0, 8) + "{}" + std::string(1, '\xff')},
      {"not json", container("{\"a\":", eight)},
      {"overflowing shape",
       container(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", eight)},
      {"offset near 2^64",
       container(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,7]}})", eight)},
      {"gap", container(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight)},
      {"appended", container(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight)},
      {"unknown dtype", container(R"({"w":{"dtype":"F128","shape":[],"data_offsets":[0,8]}})", eight)},
      {"metadata not strings", container(R"({"__metadata__":{"a":1}})", "")},
  };
  // The header length field claims more than the file holds.
  std::string past_end = container("{}", "");
  past_end[0] = 100;
  for (const auto& [name, expected] : cases) {
    const std::string bytes = name == "header past end" ? past_end : files.at(name);
    const std::string error = input_error([&] { tensor_file::parse_safetensors(bytes, "crafted.safetensors"); });
    EXPECT_EQ(error.rfind("crafted.safetensors: ", 0), 0u) << name << ": " << error;
    EXPECT_TRUE(contains(error, expected)) << name << ": " << error;
  }
}

TEST(ModelFile, SavedModelsReloadExactlyAndFloat16Halves) {
  test::TempDir dir;
  const std::string path = saved_tiny(dir.path());
  const model_file::LoadedModel loaded = model_file::load_model(path, torch::kCPU);
  torch::manual_seed(3);
  model::MusicVAE fresh(tiny());
  for (const auto& p : fresh->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), loaded.model->named_parameters()[p.key()])) << p.key();
  const std::string half = (dir.path() / "half.safetensors").string();
  model_file::export_model({path}, half, torch::kHalf);
  EXPECT_LT(fs::file_size(half), fs::file_size(path) * 6 / 10);
  const model_file::LoadedModel h = model_file::load_model(half, torch::kCPU);
  for (const auto& p : fresh->named_parameters())
    EXPECT_TRUE(torch::allclose(p.value(), h.model->named_parameters()[p.key()], 1e-3, 1e-3)) << p.key();
}

// A bit flipped anywhere in a weight or in the configuration is found by the file's own checksum.
TEST(ModelFile, AFlippedBitIsFoundByTheChecksum) {
  test::TempDir dir;
  const std::string path = saved_tiny(dir.path());
  const std::string good = bytes_of(path);
  const size_t config_at = good.find("\\\"enc\\\":32");
  ASSERT_NE(config_at, std::string::npos);
  for (const size_t at : {good.size() - 5, good.size() / 2, config_at + 9}) {
    std::string bad = good;
    bad[at] ^= 0x01;
    write_bytes(path, bad);
    const std::string error = load_error(path);
    EXPECT_TRUE(contains(error, "checksum") && contains(error, path)) << "byte " << at << ": " << error;
  }
}

// A configuration with absurd sizes, its checksum made right, is refused by the limits or by the
// bytes the file holds, before the model is built.
TEST(ModelFile, DeclaredSizesAreCheckedAgainstLimitsAndBytesPresent) {
  test::TempDir dir;
  const std::string path = saved_tiny(dir.path());
  const tensor_file::SafetensorsFile file = tensor_file::read_safetensors(path, 1 << 30);
  const auto rewrite = [&](const std::string& from, const std::string& to) {
    std::map<std::string, std::string> metadata = file.metadata;
    const size_t at = metadata[model_file::kConfigKey].find(from);
    EXPECT_NE(at, std::string::npos);
    metadata[model_file::kConfigKey].replace(at, from.size(), to);
    metadata[model_file::kChecksumKey] =
        model_file::content_checksum(metadata, {{file.data_section(), file.data_bytes()}});
    std::vector<tensor_file::TensorToWrite> tensors;
    for (const auto& t : file.tensors) tensors.push_back({t.name, t.dtype, t.shape, file.data(t)});
    write_bytes(path, tensor_file::serialize_safetensors(tensors, metadata));
    return load_error(path);
  };
  std::string error = rewrite("\"enc\":32", "\"enc\":100000000");
  EXPECT_TRUE(contains(error, path) && contains(error, "field enc") && contains(error, "<= 8192")) << error;
  error = rewrite("\"enc\":32", "\"enc\":8000");
  EXPECT_TRUE(contains(error, path) && contains(error, "needs")) << error;
  error = rewrite("\"enc\":32", "\"enc\":32.5");
  EXPECT_TRUE(contains(error, "must be an integer")) << error;
}

// A file of the old format (a LibTorch archive, which runs code when read) is refused from its
// first bytes, with the command that converts it; that command gives the same model.
TEST(ModelFile, OldFormatIsRefusedWithTheConvertCommandWhichGivesTheSameModel) {
  test::TempDir dir;
  torch::manual_seed(5);
  model::MusicVAE m(tiny());
  torch::serialize::OutputArchive archive;  // what earlier versions wrote
  m->save(archive);
  archive.write("mvae_config", c10::IValue(m->config().to_json()));
  archive.write("mvae_representation", c10::IValue(data::DataRepresentation{}.to_json()));
  const std::string legacy = (dir.path() / "model.pt").string();
  archive.save_to(legacy);
  const std::string error = load_error(legacy);
  EXPECT_TRUE(contains(error, "old format") && contains(error, "generate convert-legacy --input " + legacy)) << error;
  const test::ProcessRun refused = test::run(std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + legacy +
                                             " --n 1 --out " + (dir.path() / "s").string());
  EXPECT_NE(refused.status, 0);
  EXPECT_TRUE(contains(refused.output, "convert-legacy")) << refused.output;
  const std::string converted = (dir.path() / "model.safetensors").string();
  const test::ProcessRun convert =
      test::run(std::string(MVAE_GENERATE_BIN) + " convert-legacy --input " + legacy + " --out " + converted);
  ASSERT_EQ(convert.status, 0) << convert.output;
  EXPECT_TRUE(contains(convert.output, "files you trust")) << convert.output;
  const model_file::LoadedModel loaded = model_file::load_model(converted, torch::kCPU);
  for (const auto& p : m->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), loaded.model->named_parameters()[p.key()])) << p.key();
}

// A crafted file of the old format whose __setstate__ never returns (tests/crafted_legacy_model.py,
// made by PyTorch's own TorchScript): LibTorch's reader would run it and hang; every program refuses
// it at once, from its first bytes, naming the convert command.
TEST(ModelFile, ACraftedOldFormatFileIsRefusedWithoutRunningItsCode) {
  const std::string python = python_with("torch");
  if (python.empty()) GTEST_SKIP() << "no Python with PyTorch to craft the file (bash launch/setup.sh --torch2)";
  test::TempDir dir;
  const std::string crafted = (dir.path() / "model.pt").string();
  const test::ProcessRun made =
      test::run(python + " " + MVAE_SOURCE_DIR + "/tests/crafted_legacy_model.py " + crafted + " 2>&1");
  ASSERT_EQ(made.status, 0) << made.output;
  for (const std::string command :
       {std::string(MVAE_GENERATE_BIN) + " sample --checkpoint " + crafted + " --n 1 --out " +
            (dir.path() / "s").string(),
        std::string(MVAE_EVALUATE_BIN) + " --checkpoint " + crafted + " --data " + (dir.path() / "none").string()}) {
    const test::ProcessRun refused = test::run("timeout 60 " + command);
    EXPECT_EQ(refused.status, 1) << command << "\n" << refused.output;  // 124: it ran the file's loop
    EXPECT_TRUE(contains(refused.output, "old format") && contains(refused.output, "convert-legacy")) << refused.output;
  }
  EXPECT_FALSE(fs::exists(dir.path() / "s"));
}

// Python's own safetensors package reads our model files: the same names, shapes and values.
TEST(ModelFile, PythonSafetensorsReadsOurFiles) {
  const std::string python = python_with("safetensors.numpy");
  if (python.empty())
    GTEST_SKIP() << "Python's safetensors is not installed (bash launch/setup.sh --torch2 installs it)";
  test::TempDir dir;
  const std::string path = saved_tiny(dir.path());
  const test::ProcessRun read =
      test::run(python +
                " -c 'import json,sys; from safetensors.numpy import load_file; from safetensors import safe_open; "
                "t = load_file(sys.argv[1]); m = safe_open(sys.argv[1], \"np\").metadata(); "
                "print(json.dumps({\"sums\": {k: float(v.astype(\"float64\").sum()) for k, v in t.items()}, "
                "\"shapes\": {k: list(v.shape) for k, v in t.items()}, \"config\": m[\"mvae_config\"]}))' " +
                path);
  ASSERT_EQ(read.status, 0) << read.output;
  const auto j = nlohmann::json::parse(read.output);
  model::MusicVAE m(tiny());
  const model_file::LoadedModel ours = model_file::load_model(path, torch::kCPU);
  EXPECT_EQ(j["sums"].size(), ours.model->named_parameters().size());
  for (const auto& p : ours.model->named_parameters()) {
    EXPECT_EQ(j["shapes"][p.key()].get<std::vector<int64_t>>(), p.value().sizes().vec()) << p.key();
    EXPECT_NEAR(j["sums"][p.key()].get<double>(), p.value().to(torch::kDouble).sum().item<double>(), 1e-9) << p.key();
  }
  EXPECT_EQ(j["config"].get<std::string>(), tiny().to_json());
}

// A TensorFlow index whose entry declares an offset near 2^64 (which once wrapped the bounds check
// and read before the buffer) is refused, naming the variable.
TEST(TfCheckpoint, AnOffsetNear2To64IsRefusedNotRead) {
  test::TempDir dir;
  const std::string index_path = (dir.path() / "crafted.index").string();
  leveldb::WritableFile* out = nullptr;
  ASSERT_TRUE(leveldb::Env::Default()->NewWritableFile(index_path, &out).ok());
  leveldb::Options options;
  leveldb::TableBuilder builder(options, out);
  builder.Add("", std::string("\x08\x01", 2));  // BundleHeaderProto: num_shards = 1
  // BundleEntryProto: dtype float (1), shape [4], shard 0, offset 2^64 - 8, size 16.
  std::string entry = std::string("\x08\x01\x12\x04\x12\x02\x08\x04", 8) + "\x20" +
                      std::string("\xf8\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10) + "\x28\x10";
  builder.Add("w", entry);
  ASSERT_TRUE(builder.Finish().ok());
  ASSERT_TRUE(out->Close().ok());
  delete out;
  const std::vector<uint8_t> data(64, 0);
  const std::string error = input_error([&] { magenta::parse_tf_checkpoint(bytes_of(index_path), data, "crafted"); });
  EXPECT_TRUE(contains(error, "variable w") && contains(error, "run past the end")) << error;
}

// Readers of whole files refuse what is not a file, and files beyond their kind's limit, by name.
TEST(Inputs, FoldersPipesAndHugeFilesAreRefusedByName) {
  test::TempDir dir;
  std::string error = input_error([&] { midi::read_midi_file(dir.path().string()); });
  EXPECT_TRUE(contains(error, "not a regular file")) << error;
  const fs::path sparse = dir.path() / "sparse.mid";
  std::ofstream(sparse).close();
  fs::resize_file(sparse, kMaxMidiFileBytes + 1);  // a sparse file: no space used
  error = input_error([&] { midi::read_midi_file(sparse.string()); });
  EXPECT_TRUE(contains(error, "over the limit")) << error;
  // A .npy header whose shape multiplies past 2^64, over 16 bytes of data.
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 4), }";
  header.append(63 - header.size() % 64, ' ');
  header += '\n';
  const std::string npy = (dir.path() / "v.npy").string();
  write_bytes(npy, std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size() & 0xff) +
                       static_cast<char>(header.size() >> 8) + header + std::string(16, '\0'));
  std::vector<int64_t> shape;
  error = input_error([&] { read_npy(npy, &shape); });
  EXPECT_TRUE(contains(error, "holds 16 data bytes, which its shape does not fit")) << error;
}

// An output named where a folder is, or a folder named where a file goes, is refused by name.
TEST(Inputs, OutputsOfTheWrongKindAreRefusedByName) {
  test::TempDir dir;
  const fs::path file = dir.path() / "a-file";
  write_bytes(file.string(), "x");
  const test::ProcessRun sampled =
      test::run(std::string(MVAE_GENERATE_BIN) + " sample --n 1 --force --out " + file.string());
  EXPECT_EQ(sampled.status, 2) << sampled.output;
  EXPECT_TRUE(contains(sampled.output, "is a file: --out names the folder")) << sampled.output;
  const std::string error = input_error([&] { write_file_atomic(dir.path(), "x"); });
  EXPECT_TRUE(contains(error, "is a folder: name a file to write")) << error;
}

// A metrics file with values near 1e308 and a torn last line still draws; the torn line is skipped.
TEST(Inputs, CurvesOfHugeValuesAndATornLineDraw) {
  test::TempDir dir;
  const fs::path metrics = dir.path() / "metrics.jsonl";
  std::ofstream(metrics) << "{\"step\": 1, \"loss\": -1e308}\n{\"step\": 2, \"loss\": 1e308}\n"
                         << "{\"step\": 3, \"loss\": 1.7976931348623157e308}\n{\"step\": 4, \"lo";
  const pictures::RunCurves run = pictures::read_run_curves(dir.path().string(), {"loss"});
  ASSERT_EQ(run.series.front().points.size(), 3u);
  const std::string svg = pictures::curves_svg({run}, {"loss"}, "huge");
  EXPECT_TRUE(contains(svg, "<svg"));
}
