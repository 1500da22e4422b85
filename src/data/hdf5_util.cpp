#include "data/hdf5_util.h"

#include <cstring>
#include <vector>

#include "common/error.h"

namespace mvae::data::h5 {

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
  id_ = H5I_INVALID_HID;
}

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

std::string last_error() {
  std::string message;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned, const H5E_error2_t* err, void* out) -> herr_t {
        auto* msg = static_cast<std::string*>(out);
        if (msg->empty() && err->desc) *msg = err->desc;
        return 0;
      },
      &message);
  H5Eclear2(H5E_DEFAULT);
  return message.empty() ? "HDF5 call failed" : message;
}

hid_t check(hid_t status, const std::string& file, const std::string& what) {
  if (status < 0) throw InputError(file, what, last_error());
  return status;
}

void write_attribute(hid_t object, const std::string& name, long long value) {
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(H5Acreate2(object, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  check(attr.get(), "<writing>", "attribute " + name);
  check(H5Awrite(attr.get(), H5T_NATIVE_LLONG, &value), "<writing>", "attribute " + name);
}

void write_attribute(hid_t object, const std::string& name, const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), value.empty() ? 1 : value.size());
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR));
  Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
  check(attr.get(), "<writing>", "attribute " + name);
  check(H5Awrite(attr.get(), type.get(), value.empty() ? "" : value.data()), "<writing>", "attribute " + name);
}

long long read_int_attribute(hid_t object, const std::string& name, const std::string& file) {
  Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  check(attr.get(), file, "attribute " + name);
  long long value = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_LLONG, &value), file, "attribute " + name);
  return value;
}

std::string read_string_attribute(hid_t object, const std::string& name, const std::string& file) {
  Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT));
  check(attr.get(), file, "attribute " + name);
  Handle type(H5Aget_type(attr.get()));
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0)
    throw InputError(file, "attribute " + name, "expected a fixed-length string");
  const size_t size = H5Tget_size(type.get());
  std::vector<char> buf(size + 1, '\0');
  check(H5Aread(attr.get(), type.get(), buf.data()), file, "attribute " + name);
  return std::string(buf.data(), strnlen(buf.data(), size));
}

}  // namespace mvae::data::h5
