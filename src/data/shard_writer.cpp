#include <algorithm>

#include "data/hdf5_util.h"
#include "data/shards.h"

namespace mvae::data {
namespace {

// Rows per chunk so that one chunk of the largest dataset is about 256 KiB: big enough for
// fast sequential reads, small enough that a random row read decompresses little.
hsize_t chunk_rows(int window_steps, hsize_t rows) {
  const hsize_t bytes_per_row = static_cast<hsize_t>(window_steps) * kNumDrumClasses * sizeof(float);
  return std::max<hsize_t>(1, std::min<hsize_t>(rows, (256 * 1024) / bytes_per_row));
}

void write_dataset(hid_t file, const std::string& path_for_errors, const char* name, hid_t file_type, hid_t mem_type,
                   const std::vector<hsize_t>& dims, const void* data, int compression) {
  h5::Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_obj_track_times(dcpl.get(), false);  // no timestamps: identical input, identical bytes
  if (dims[0] > 0) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = chunk_rows(static_cast<int>(dims.size() > 1 ? dims[1] : 1), dims[0]);
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    if (compression > 0) {
      H5Pset_shuffle(dcpl.get());
      H5Pset_deflate(dcpl.get(), static_cast<unsigned>(compression));
    }
  }
  h5::Handle dset(H5Dcreate2(file, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT));
  h5::check(dset.get(), path_for_errors, std::string("create dataset ") + name);
  if (dims[0] > 0)
    h5::check(H5Dwrite(dset.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path_for_errors,
              std::string("write dataset ") + name);
}

}  // namespace

void write_shard(const std::filesystem::path& path, const std::string& split, int shard_index,
                 const std::vector<StoredWindow>& rows, const DataRepresentation& representation, int compression) {
  h5::silence_errors();
  const std::string name = path.string();
  const hsize_t n = rows.size();
  const hsize_t T = static_cast<hsize_t>(representation.window_steps());
  const hsize_t C = kNumDrumClasses;

  std::vector<uint16_t> tokens;
  std::vector<uint8_t> velocities;
  std::vector<float> offsets;
  std::vector<int32_t> file_ids, pieces, start_bars;
  tokens.reserve(n * T);
  velocities.reserve(n * T * C);
  offsets.reserve(n * T * C);
  for (const StoredWindow& row : rows) {
    const DrumWindow& w = *row.window;
    tokens.insert(tokens.end(), w.tokens.begin(), w.tokens.end());
    velocities.insert(velocities.end(), w.velocities.begin(), w.velocities.end());
    offsets.insert(offsets.end(), w.offsets.begin(), w.offsets.end());
    file_ids.push_back(row.file_id);
    pieces.push_back(w.piece);
    start_bars.push_back(w.start_bar);
  }

  h5::Handle fcpl(H5Pcreate(H5P_FILE_CREATE));
  H5Pset_obj_track_times(fcpl.get(), false);
  h5::Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST);
  h5::Handle file(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()));
  h5::check(file.get(), name, "create");

  write_dataset(file.get(), name, "tokens", H5T_STD_U16LE, H5T_NATIVE_UINT16, {n, T}, tokens.data(), compression);
  write_dataset(file.get(), name, "velocities", H5T_STD_U8LE, H5T_NATIVE_UINT8, {n, T, C}, velocities.data(),
                compression);
  write_dataset(file.get(), name, "offsets", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {n, T, C}, offsets.data(), compression);
  write_dataset(file.get(), name, "file_id", H5T_STD_I32LE, H5T_NATIVE_INT32, {n}, file_ids.data(), compression);
  write_dataset(file.get(), name, "piece", H5T_STD_I32LE, H5T_NATIVE_INT32, {n}, pieces.data(), compression);
  write_dataset(file.get(), name, "start_bar", H5T_STD_I32LE, H5T_NATIVE_INT32, {n}, start_bars.data(), compression);

  const hid_t root = file.get();
  h5::write_attribute(root, "format_version", kShardFormatVersion);
  h5::write_attribute(root, "representation", representation.name);
  h5::write_attribute(root, "bars", representation.bars);
  h5::write_attribute(root, "steps_per_bar", representation.steps_per_bar);
  h5::write_attribute(root, "steps_per_quarter", representation.steps_per_quarter);
  h5::write_attribute(root, "vocab_size", representation.vocab_size);
  h5::write_attribute(root, "num_classes", representation.num_classes);
  h5::write_attribute(root, "pitch_map", representation.pitch_map_json);
  h5::write_attribute(root, "split", split);
  h5::write_attribute(root, "shard_index", shard_index);
  h5::write_attribute(root, "rows", static_cast<long long>(n));
  h5::check(H5Fflush(root, H5F_SCOPE_GLOBAL), name, "flush");
}

}  // namespace mvae::data
