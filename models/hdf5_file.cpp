// HDF5 reading and writing for Keras files (models/hdf5_file.h), over HDF5's C API.
#include "models/hdf5_file.h"

#include <hdf5.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "core/error.h"

namespace alz {

namespace {

// HDF5 prints its whole error stack to stderr by default; alz reports one line instead.
void silence_hdf5() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// The innermost message of HDF5's current error stack (the most specific), then clears it.
std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* entry, void* data) -> herr_t {
        if (entry->desc && *entry->desc) *static_cast<std::string*>(data) = entry->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  return reason.empty() ? "the HDF5 library reports an error" : reason;
}

// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

std::string shape_text(const Shape& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    text += i ? ", " : "";
    text += std::to_string(shape[i]);
  }
  return text + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

// ---------------------------------------------------------------- files

H5File H5File::open(const std::string& path) {
  silence_hdf5();
  std::error_code ec;
  ALZ_CHECK(std::filesystem::is_regular_file(path, ec), path << ": no such file");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ALZ_CHECK(id >= 0, path << ": not a readable HDF5 file (" << hdf5_reason() << ")");
  return H5File(path, id);
}

H5File H5File::open_image(const std::string& name, const std::string& bytes) {
  silence_hdf5();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  ALZ_CHECK(fapl.ok() && H5Pset_fapl_core(fapl.get(), 1 << 20, 0) >= 0 &&
                H5Pset_file_image(fapl.get(), const_cast<char*>(bytes.data()), bytes.size()) >= 0,
            name << ": cannot hand the file's bytes to HDF5 (" << hdf5_reason() << ")");
  hid_t id = H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get());
  ALZ_CHECK(id >= 0, name << ": not a readable HDF5 file (" << hdf5_reason() << ")");
  return H5File(name, id);
}

H5File H5File::create_in_memory(const std::string& name) {
  silence_hdf5();
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  ALZ_CHECK(fapl.ok() && H5Pset_fapl_core(fapl.get(), 1 << 20, /*backing_store=*/0) >= 0,
            name << ": cannot set up an in-memory HDF5 file (" << hdf5_reason() << ")");
  hid_t id = H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
  ALZ_CHECK(id >= 0, name << ": cannot create an in-memory HDF5 file (" << hdf5_reason() << ")");
  return H5File(name, id);
}

H5File::H5File(H5File&& other) noexcept : name_(std::move(other.name_)), id_(other.id_) { other.id_ = -1; }

H5File::~H5File() {
  if (id_ >= 0) H5Fclose(id_);
}

std::string H5File::image() {
  ALZ_CHECK(H5Fflush(id_, H5F_SCOPE_GLOBAL) >= 0, name_ << ": cannot flush (" << hdf5_reason() << ")");
  ssize_t size = H5Fget_file_image(id_, nullptr, 0);
  ALZ_CHECK(size > 0, name_ << ": cannot get the file's bytes (" << hdf5_reason() << ")");
  std::string bytes(static_cast<size_t>(size), '\0');
  ALZ_CHECK(H5Fget_file_image(id_, bytes.data(), bytes.size()) == size,
            name_ << ": cannot get the file's bytes (" << hdf5_reason() << ")");
  return bytes;
}

// ---------------------------------------------------------------- reading

namespace {

// The type of the object at `path` (H5I_GROUP, H5I_DATASET), or H5I_BADID when absent. Each
// component is checked with H5Lexists first, as HDF5 requires.
H5I_type_t object_type(hid_t file, const std::string& path) {
  if (path == "/" || path.empty()) return H5I_GROUP;
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    std::string prefix = path.substr(0, slash);
    if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return H5I_BADID;
    }
    if (slash == std::string::npos) break;
  }
  Handle object(H5Oopen(file, path.c_str(), H5P_DEFAULT), H5Oclose);
  if (!object.ok()) {
    H5Eclear2(H5E_DEFAULT);
    return H5I_BADID;
  }
  return H5Iget_type(object.get());
}

}  // namespace

bool H5File::has_group(const std::string& path) const { return object_type(id_, path) == H5I_GROUP; }
bool H5File::has_dataset(const std::string& path) const { return object_type(id_, path) == H5I_DATASET; }

std::vector<std::string> H5File::children(const std::string& group) const {
  ALZ_CHECK(has_group(group), name_ << ": no group '" << group << "'");
  Handle g(H5Gopen2(id_, group.c_str(), H5P_DEFAULT), H5Gclose);
  H5G_info_t info;
  ALZ_CHECK(g.ok() && H5Gget_info(g.get(), &info) >= 0,
            name_ << ": group '" << group << "': cannot list it (" << hdf5_reason() << ")");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t length = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    ALZ_CHECK(length >= 0 && length < 4096,
              name_ << ": group '" << group << "': bad member name (" << hdf5_reason() << ")");
    std::string name(static_cast<size_t>(length) + 1, '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(length));
    names.push_back(name);
  }
  return names;
}

bool H5File::has_attribute(const std::string& object, const std::string& attribute) const {
  if (object_type(id_, object) == H5I_BADID) return false;
  htri_t exists = H5Aexists_by_name(id_, object.c_str(), attribute.c_str(), H5P_DEFAULT);
  if (exists < 0) H5Eclear2(H5E_DEFAULT);
  return exists > 0;
}

std::vector<std::string> H5File::string_attribute(const std::string& object, const std::string& attribute) const {
  std::string where = name_ + ": attribute '" + attribute + "' of '" + object + "'";
  if (!has_attribute(object, attribute)) {  // Keras's chunked form: attribute0, attribute1, ...
    ALZ_CHECK(has_attribute(object, attribute + "0"), where << " is missing");
    std::vector<std::string> all;
    for (int chunk = 0; has_attribute(object, attribute + std::to_string(chunk)); ++chunk) {
      std::vector<std::string> part = string_attribute(object, attribute + std::to_string(chunk));
      all.insert(all.end(), part.begin(), part.end());
    }
    return all;
  }
  Handle attr(H5Aopen_by_name(id_, object.c_str(), attribute.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  ALZ_CHECK(attr.ok(), where << ": cannot open it (" << hdf5_reason() << ")");
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  ALZ_CHECK(type.ok() && space.ok(), where << ": unreadable (" << hdf5_reason() << ")");
  int ndims = H5Sget_simple_extent_ndims(space.get());
  ALZ_CHECK(ndims == 0 || ndims == 1, where << ": expected a string or a list of strings, got " << ndims << "-d");
  hssize_t count = H5Sget_simple_extent_npoints(space.get());
  ALZ_CHECK(count >= 0, where << ": unreadable (" << hdf5_reason() << ")");
  if (count == 0) return {};  // Keras writes an empty list as an empty float array
  ALZ_CHECK(H5Tget_class(type.get()) == H5T_STRING, where << ": expected strings");
  std::vector<std::string> values;
  if (H5Tis_variable_str(type.get()) > 0) {
    ALZ_CHECK(count <= kMaxAttributeBytes / 8, where << ": " << count << " strings, more than the limit");
    Handle memory(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(memory.get(), H5T_VARIABLE);
    H5Tset_cset(memory.get(), H5Tget_cset(type.get()));
    std::vector<char*> pointers(static_cast<size_t>(count), nullptr);
    ALZ_CHECK(H5Aread(attr.get(), memory.get(), pointers.data()) >= 0,
              where << ": unreadable (" << hdf5_reason() << ")");
    for (char* p : pointers) {
      values.emplace_back(p ? p : "");
      if (p) H5free_memory(p);
    }
    return values;
  }
  size_t size = H5Tget_size(type.get());
  ALZ_CHECK(size > 0 && static_cast<int64_t>(size) * count <= kMaxAttributeBytes,
            where << ": " << count << " strings of " << size << " bytes, more than the limit of " << kMaxAttributeBytes
                  << " bytes");
  std::string buffer(size * static_cast<size_t>(count), '\0');
  ALZ_CHECK(H5Aread(attr.get(), type.get(), buffer.data()) >= 0, where << ": unreadable (" << hdf5_reason() << ")");
  for (hssize_t i = 0; i < count; ++i) {
    std::string value = buffer.substr(static_cast<size_t>(i) * size, size);
    value.resize(std::strlen(value.c_str()));  // NUL-padded
    while (!value.empty() && value.back() == ' ' && H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD) value.pop_back();
    values.push_back(value);
  }
  return values;
}

Shape H5File::dataset_shape(const std::string& path) const {
  ALZ_CHECK(has_dataset(path), name_ << ": no dataset '" << path << "'");
  Handle dataset(H5Dopen2(id_, path.c_str(), H5P_DEFAULT), H5Dclose);
  Handle space(H5Dget_space(dataset.get()), H5Sclose);
  int ndims = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  ALZ_CHECK(ndims >= 0 && ndims <= 8,
            name_ << ": dataset '" << path << "': unreadable shape (" << hdf5_reason() << ")");
  std::vector<hsize_t> dims(static_cast<size_t>(ndims));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  Shape shape;
  for (hsize_t d : dims) shape.push_back(static_cast<int64_t>(d));
  return shape;
}

Tensor H5File::read_f32(const std::string& path) const {
  std::string where = name_ + ": dataset '" + path + "'";
  Shape shape = dataset_shape(path);
  // The element count, bounded before anything is allocated (a damaged or hostile file may
  // claim any shape).
  int64_t count = 1;
  for (int64_t d : shape) {
    ALZ_CHECK(d >= 0 && (d == 0 || count <= kMaxTensorBytes / 4 / d), where << ": shape " << shape_text(shape)
                                                                            << " is larger than the limit of "
                                                                            << kMaxTensorBytes << " bytes per tensor");
    count *= d;
  }
  Handle dataset(H5Dopen2(id_, path.c_str(), H5P_DEFAULT), H5Dclose);
  Handle type(H5Dget_type(dataset.get()), H5Tclose);
  ALZ_CHECK(type.ok() && H5Tget_class(type.get()) == H5T_FLOAT,
            where << ": expected floating-point weights, got another type");
  Handle plist(H5Dget_create_plist(dataset.get()), H5Pclose);
  if (plist.ok() && H5Pget_layout(plist.get()) == H5D_CONTIGUOUS) {
    hsize_t stored = H5Dget_storage_size(dataset.get());
    hsize_t needed = static_cast<hsize_t>(count) * H5Tget_size(type.get());
    ALZ_CHECK(stored >= needed,
              where << ": holds " << stored << " bytes, its shape " << shape_text(shape) << " needs " << needed);
  }
  Tensor tensor = Tensor::empty(shape, DType::F32);
  if (count > 0)
    ALZ_CHECK(H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, tensor.data<float>()) >= 0,
              where << ": unreadable (" << hdf5_reason() << ")");
  return tensor;
}

// ---------------------------------------------------------------- writing

namespace {

Handle intermediate_groups() {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  return Handle(lcpl, H5Pclose);
}

// Keras's HDF5_OBJECT_HEADER_LIMIT: attributes larger than this are split into chunks.
constexpr size_t kObjectHeaderLimit = 64512;

}  // namespace

void H5File::create_group(const std::string& path) {
  Handle lcpl = intermediate_groups();
  Handle group(H5Gcreate2(id_, path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
  ALZ_CHECK(group.ok(), name_ << ": cannot create group '" << path << "' (" << hdf5_reason() << ")");
}

void H5File::write_string_list(const std::string& object, const std::string& attribute,
                               const std::vector<std::string>& values) {
  size_t width = 1;
  for (const std::string& v : values) width = std::max(width, v.size());
  // As numpy's array_split: the first (n % k) chunks hold one more.
  size_t chunks = 1;
  while (((values.size() + chunks - 1) / chunks) * width > kObjectHeaderLimit) ++chunks;
  Handle target(H5Oopen(id_, object.c_str(), H5P_DEFAULT), H5Oclose);
  ALZ_CHECK(target.ok(), name_ << ": no object '" << object << "' (" << hdf5_reason() << ")");
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), width);
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  size_t begin = 0;
  for (size_t chunk = 0; chunk < chunks; ++chunk) {
    size_t count = values.size() / chunks + (chunk < values.size() % chunks ? 1 : 0);
    std::string buffer(std::max<size_t>(count, 1) * width, '\0');
    for (size_t i = 0; i < count; ++i)
      std::memcpy(&buffer[i * width], values[begin + i].data(), values[begin + i].size());
    hsize_t dims[1] = {count};
    Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    std::string name = chunks == 1 ? attribute : attribute + std::to_string(chunk);
    Handle attr(H5Acreate2(target.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    ALZ_CHECK(attr.ok() && H5Awrite(attr.get(), type.get(), buffer.data()) >= 0,
              name_ << ": cannot write attribute '" << name << "' of '" << object << "' (" << hdf5_reason() << ")");
    begin += count;
  }
}

void H5File::write_string(const std::string& object, const std::string& attribute, const std::string& value) {
  Handle target(H5Oopen(id_, object.c_str(), H5P_DEFAULT), H5Oclose);
  ALZ_CHECK(target.ok(), name_ << ": no object '" << object << "' (" << hdf5_reason() << ")");
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(target.get(), attribute.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* text = value.c_str();
  ALZ_CHECK(attr.ok() && H5Awrite(attr.get(), type.get(), &text) >= 0,
            name_ << ": cannot write attribute '" << attribute << "' of '" << object << "' (" << hdf5_reason() << ")");
}

void H5File::write_f32(const std::string& path, const Tensor& tensor) {
  Tensor host = tensor.to(Device::cpu()).to(DType::F32);
  std::vector<hsize_t> dims;
  for (int64_t d : host.shape()) dims.push_back(static_cast<hsize_t>(d));
  Handle space(
      dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
      H5Sclose);
  Handle lcpl = intermediate_groups();
  Handle dataset(H5Dcreate2(id_, path.c_str(), H5T_IEEE_F32LE, space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                 H5Dclose);
  ALZ_CHECK(dataset.ok(), name_ << ": cannot create dataset '" << path << "' (" << hdf5_reason() << ")");
  if (host.numel() > 0)
    ALZ_CHECK(H5Dwrite(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, host.data<float>()) >= 0,
              name_ << ": cannot write dataset '" << path << "' (" << hdf5_reason() << ")");
}

}  // namespace alz
