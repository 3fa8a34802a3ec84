#include "models/weights/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"

static_assert(std::endian::native == std::endian::little, "clipmind assumes a little-endian host");

namespace clipmind::models {
namespace {

// The reference implementation refuses headers above 100 MB; a real one is a few hundred KB.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeEntry {
  StDtype dtype;
  std::string_view name;
  size_t size;
};
constexpr DtypeEntry kDtypes[] = {
    {StDtype::kF64, "F64", 8},   {StDtype::kF32, "F32", 4},        {StDtype::kF16, "F16", 2},
    {StDtype::kBF16, "BF16", 2}, {StDtype::kF8E4M3, "F8_E4M3", 1}, {StDtype::kF8E5M2, "F8_E5M2", 1},
    {StDtype::kI64, "I64", 8},   {StDtype::kI32, "I32", 4},        {StDtype::kI16, "I16", 2},
    {StDtype::kI8, "I8", 1},     {StDtype::kU8, "U8", 1},          {StDtype::kBool, "BOOL", 1},
};

[[noreturn]] void bad_header(const std::string& file, const std::string& what) {
  throw Error(ErrorKind::kInvalidInput, file + ": invalid safetensors header: " + what);
}

at::ScalarType scalar_type_of(StDtype dtype, const std::string& file, const std::string& name) {
  switch (dtype) {
    case StDtype::kF64:
      return at::kDouble;
    case StDtype::kF32:
      return at::kFloat;
    case StDtype::kF16:
      return at::kHalf;
    case StDtype::kBF16:
      return at::kBFloat16;
    case StDtype::kI64:
      return at::kLong;
    case StDtype::kI32:
      return at::kInt;
    case StDtype::kI16:
      return at::kShort;
    case StDtype::kI8:
      return at::kChar;
    case StDtype::kU8:
      return at::kByte;
    case StDtype::kBool:
      return at::kBool;
    case StDtype::kF8E4M3:
    case StDtype::kF8E5M2:
      break;
  }
  throw Error(ErrorKind::kUnsupported, file + ": tensor '" + name + "' has dtype " +
                                           std::string(st_dtype_name(dtype)) +
                                           ", which clipmind cannot load");
}

StDtype st_dtype_of(at::ScalarType type) {
  switch (type) {
    case at::kDouble:
      return StDtype::kF64;
    case at::kFloat:
      return StDtype::kF32;
    case at::kHalf:
      return StDtype::kF16;
    case at::kBFloat16:
      return StDtype::kBF16;
    case at::kLong:
      return StDtype::kI64;
    case at::kInt:
      return StDtype::kI32;
    case at::kShort:
      return StDtype::kI16;
    case at::kChar:
      return StDtype::kI8;
    case at::kByte:
      return StDtype::kU8;
    case at::kBool:
      return StDtype::kBool;
    default:
      throw Error(ErrorKind::kUnsupported, std::string("cannot store tensors of type ") +
                                               at::toString(type) + " in safetensors");
  }
}

// A read-only private mapping of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      throw Error(err == ENOENT ? ErrorKind::kNotFound : ErrorKind::kIo,
                  path.string() + ": cannot open: " + std::strerror(err));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw Error(ErrorKind::kInvalidInput, path.string() + ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (mapped == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw Error(ErrorKind::kIo, path.string() + ": cannot map: " + std::strerror(err));
      }
      data_ = static_cast<const std::byte*>(mapped);
    }
    ::close(fd);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
  }

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

uint64_t read_u64_le(const std::byte* p) {
  uint64_t value = 0;
  std::memcpy(&value, p, sizeof(value));
  return value;
}

}  // namespace

std::string_view st_dtype_name(StDtype dtype) {
  for (const auto& entry : kDtypes) {
    if (entry.dtype == dtype) return entry.name;
  }
  return "?";
}

size_t st_dtype_size(StDtype dtype) {
  for (const auto& entry : kDtypes) {
    if (entry.dtype == dtype) return entry.size;
  }
  return 1;
}

int64_t StTensorInfo::numel() const {
  int64_t count = 1;
  for (const int64_t dim : shape)
    count *= dim;
  return count;
}

std::string describe_shape(std::span<const int64_t> shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

StHeader parse_safetensors_header(std::string_view text, uint64_t data_size,
                                  const std::string& file) {
  nlohmann::json root;
  std::set<std::string> top_keys;
  std::string duplicate;
  try {
    // The callback sees every key; the top-level object is depth 1. nlohmann keeps only the
    // last of duplicate keys, which would hide a tensor, so duplicates are an error.
    const nlohmann::json::parser_callback_t on_event =
        [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
          if (event == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string()) {
            if (!top_keys.insert(parsed.get<std::string>()).second && duplicate.empty()) {
              duplicate = parsed.get<std::string>();
            }
          }
          return true;
        };
    root = nlohmann::json::parse(text.begin(), text.end(), on_event);
  } catch (const nlohmann::json::exception& e) {
    bad_header(file, std::string("malformed JSON (") + e.what() + ")");
  }
  if (!duplicate.empty()) bad_header(file, "tensor '" + duplicate + "' is listed twice");
  if (!root.is_object()) bad_header(file, "the header is not a JSON object");

  StHeader header;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) bad_header(file, "__metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string())
          bad_header(file, "__metadata__ value '" + m.key() + "' is not a string");
        header.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (name.empty()) bad_header(file, "a tensor has an empty name");
    if (!entry.is_object()) bad_header(file, where + " is not an object");
    const auto dtype_it = entry.find("dtype");
    const auto shape_it = entry.find("shape");
    const auto offsets_it = entry.find("data_offsets");
    if (dtype_it == entry.end() || !dtype_it->is_string())
      bad_header(file, where + " has no dtype");
    if (shape_it == entry.end() || !shape_it->is_array()) bad_header(file, where + " has no shape");
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
      bad_header(file, where + " needs data_offsets [begin, end]");
    }

    StTensorInfo info;
    info.name = name;
    const std::string dtype_name = dtype_it->get<std::string>();
    const auto found = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                                    [&](const DtypeEntry& d) { return d.name == dtype_name; });
    if (found == std::end(kDtypes))
      bad_header(file, where + " has unknown dtype '" + dtype_name + "'");
    info.dtype = found->dtype;

    uint64_t count = 1;
    bool overflow = false;
    for (const auto& dim : *shape_it) {
      if (!dim.is_number_unsigned())
        bad_header(file, where + " has a shape entry that is not a non-negative integer");
      const uint64_t value = dim.get<uint64_t>();
      if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
      if (value != 0 && count > std::numeric_limits<uint64_t>::max() / value) overflow = true;
      if (!overflow) count *= value;
      info.shape.push_back(
          static_cast<int64_t>(std::min<uint64_t>(value, std::numeric_limits<int64_t>::max())));
    }
    if (overflow || count > std::numeric_limits<uint64_t>::max() / found->size) {
      bad_header(file, where + " has a shape whose size overflows");
    }
    const uint64_t nbytes = count * found->size;

    for (const auto& offset : *offsets_it) {
      if (!offset.is_number_unsigned())
        bad_header(file, where + " has data_offsets that are not non-negative integers");
    }
    info.begin = (*offsets_it)[0].get<uint64_t>();
    info.end = (*offsets_it)[1].get<uint64_t>();
    if (info.begin > info.end) bad_header(file, where + " has data_offsets with begin > end");
    if (info.end > data_size) {
      bad_header(file, where + " ends at byte " + std::to_string(info.end) +
                           " but the data region has only " + std::to_string(data_size) + " bytes");
    }
    if (info.end - info.begin != nbytes) {
      bad_header(file, where + " is " + std::string(found->name) + " " +
                           describe_shape(info.shape) + " (" + std::to_string(nbytes) +
                           " bytes) but its data_offsets span " +
                           std::to_string(info.end - info.begin) + " bytes");
    }
    header.tensors.push_back(std::move(info));
  }

  // Overlap check on the byte ranges (empty tensors overlap nothing).
  std::vector<const StTensorInfo*> by_offset;
  for (const auto& info : header.tensors) {
    if (info.end > info.begin) by_offset.push_back(&info);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const StTensorInfo* a, const StTensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      bad_header(file, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
                           "' overlap");
    }
  }
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const StTensorInfo& a, const StTensorInfo& b) { return a.name < b.name; });
  return header;
}

struct SafetensorsFile::Impl {
  explicit Impl(const std::filesystem::path& p) : path(p), map(p) {}
  std::filesystem::path path;
  MappedFile map;
  const std::byte* data = nullptr;  // start of the data region
  uint64_t data_size = 0;
  StHeader header;
};

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : impl_(std::make_unique<Impl>(path)) {
  const std::string file = path.string();
  const size_t size = impl_->map.size();
  if (size < 8) bad_header(file, "the file is " + std::to_string(size) + " bytes, too short");
  const uint64_t header_bytes = read_u64_le(impl_->map.data());
  if (header_bytes > kMaxHeaderBytes || header_bytes > size - 8) {
    bad_header(file, "header length " + std::to_string(header_bytes) + " is larger than " +
                         (header_bytes > kMaxHeaderBytes
                              ? std::string("the 100 MB limit")
                              : "the file (" + std::to_string(size) + " bytes)"));
  }
  const std::string_view text(reinterpret_cast<const char*>(impl_->map.data()) + 8, header_bytes);
  impl_->data = impl_->map.data() + 8 + header_bytes;
  impl_->data_size = size - 8 - header_bytes;
  impl_->header = parse_safetensors_header(text, impl_->data_size, file);
}

SafetensorsFile::~SafetensorsFile() = default;
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;

const std::filesystem::path& SafetensorsFile::path() const {
  return impl_->path;
}
const std::vector<StTensorInfo>& SafetensorsFile::tensors() const {
  return impl_->header.tensors;
}
const std::map<std::string, std::string>& SafetensorsFile::metadata() const {
  return impl_->header.metadata;
}

const StTensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto& tensors = impl_->header.tensors;
  const auto it =
      std::lower_bound(tensors.begin(), tensors.end(), name,
                       [](const StTensorInfo& a, std::string_view b) { return a.name < b; });
  if (it == tensors.end() || it->name != name) return nullptr;
  return &*it;
}

std::span<const std::byte> SafetensorsFile::bytes(const StTensorInfo& info) const {
  return {impl_->data + info.begin, static_cast<size_t>(info.end - info.begin)};
}

at::Tensor SafetensorsFile::load(std::string_view name, at::ScalarType dtype,
                                 at::Device device) const {
  const StTensorInfo* info = find(name);
  if (!info) {
    throw Error(ErrorKind::kNotFound,
                impl_->path.string() + ": no tensor named '" + std::string(name) + "'");
  }
  return load(*info, dtype, device);
}

at::Tensor SafetensorsFile::load(const StTensorInfo& info, at::ScalarType dtype,
                                 at::Device device) const {
  const at::ScalarType stored = scalar_type_of(info.dtype, impl_->path.string(), info.name);
  if (dtype == at::ScalarType::Undefined) dtype = stored;
  const auto raw = bytes(info);
  const auto options = at::TensorOptions().dtype(stored);
  at::Tensor source;
  if (reinterpret_cast<uintptr_t>(raw.data()) % st_dtype_size(info.dtype) == 0) {
    // Read-only memory: from_blob never writes, and .to(copy=true) below always copies.
    source = at::from_blob(const_cast<std::byte*>(raw.data()), info.shape, options);
  } else {
    source = at::empty(info.shape, options);
    if (!raw.empty()) std::memcpy(source.data_ptr(), raw.data(), raw.size());
  }
  return source.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
}

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> contiguous;
  contiguous.reserve(tensors.size());
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__" || !names.insert(name).second) {
      throw Error(ErrorKind::kInvalidArgument,
                  path.string() + ": tensor name '" + name + "' is empty, reserved or repeated");
    }
    at::Tensor cpu = tensor.to(at::kCPU).contiguous();
    const StDtype dtype = st_dtype_of(cpu.scalar_type());
    const uint64_t nbytes = cpu.nbytes();
    header[name] = {{"dtype", std::string(st_dtype_name(dtype))},
                    {"shape", std::vector<int64_t>(cpu.sizes().begin(), cpu.sizes().end())},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    contiguous.push_back(std::move(cpu));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t length = text.size();

  AtomicFile file(path);
  file.write(&length, sizeof(length));
  file.write(text);
  for (const auto& tensor : contiguous)
    file.write(tensor.data_ptr(), tensor.nbytes());
  file.commit();
}

}  // namespace clipmind::models
