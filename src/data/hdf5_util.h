// RAII and error text for the HDF5 C API. Used only inside src/data.
#pragma once

#include <hdf5.h>

#include <string>

namespace mvae::data::h5 {

// Owns one HDF5 identifier; closes it with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Turns off HDF5's own printing of error stacks (we throw with our own message instead).
void silence_errors();
// The innermost message of HDF5's current error stack, e.g. "truncated file: eof = 1024, ...".
std::string last_error();
// Throws InputError(file, what, last_error()) when `status` < 0 (or an invalid id).
hid_t check(hid_t status, const std::string& file, const std::string& what);

void write_attribute(hid_t object, const std::string& name, long long value);
void write_attribute(hid_t object, const std::string& name, const std::string& value);
long long read_int_attribute(hid_t object, const std::string& name, const std::string& file);
std::string read_string_attribute(hid_t object, const std::string& name, const std::string& file);

}  // namespace mvae::data::h5
