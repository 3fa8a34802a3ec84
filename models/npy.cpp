#include "models/npy.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <string_view>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"

static_assert(std::endian::native == std::endian::little, "clipmind assumes a little-endian host");

namespace clipmind::models {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
// A header larger than this is not something NumPy writes for a sane array.
constexpr size_t kMaxHeaderLength = 1 << 20;

[[noreturn]] void bad(const std::string& name, const std::string& what) {
  throw Error(ErrorKind::kInvalidInput, name + ": not a valid .npy file: " + what);
}

struct DtypeName {
  NpyDtype dtype;
  std::string_view descr;
};
constexpr DtypeName kDtypes[] = {
    {NpyDtype::kFloat32, "<f4"}, {NpyDtype::kFloat64, "<f8"}, {NpyDtype::kFloat16, "<f2"},
    {NpyDtype::kInt8, "|i1"},    {NpyDtype::kUInt8, "|u1"},   {NpyDtype::kInt32, "<i4"},
    {NpyDtype::kInt64, "<i8"},   {NpyDtype::kBool, "|b1"},
};

// Finds `'key': value` in the header dict and returns the raw value text.
std::string_view dict_value(std::string_view header, std::string_view key, const std::string& name) {
  for (const char quote : {'\'', '"'}) {
    const std::string needle = std::string(1, quote) + std::string(key) + std::string(1, quote);
    size_t at = header.find(needle);
    if (at == std::string_view::npos) continue;
    at = header.find(':', at + needle.size());
    if (at == std::string_view::npos) break;
    ++at;
    while (at < header.size() && header[at] == ' ') ++at;
    size_t end = at;
    if (end < header.size() && header[end] == '(') {
      end = header.find(')', end);
      if (end == std::string_view::npos) bad(name, "unterminated shape");
      return header.substr(at, end - at + 1);
    }
    while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
    return header.substr(at, end - at);
  }
  bad(name, "header has no '" + std::string(key) + "'");
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\'' || text.front() == '"')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\'' || text.back() == '"')) {
    text.remove_suffix(1);
  }
  return text;
}

std::vector<int64_t> parse_shape(std::string_view text, const std::string& name) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') bad(name, "malformed shape");
  text = text.substr(1, text.size() - 2);
  std::vector<int64_t> shape;
  size_t at = 0;
  while (at < text.size()) {
    while (at < text.size() && (text[at] == ' ' || text[at] == ',')) ++at;
    if (at >= text.size()) break;
    int64_t value = 0;
    bool any = false;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (value > (std::numeric_limits<int64_t>::max() - 9) / 10) bad(name, "shape too large");
      value = value * 10 + (text[at] - '0');
      ++at;
      any = true;
    }
    if (!any) bad(name, "malformed shape");
    while (at < text.size() && text[at] == 'L') ++at;  // Python 2 longs
    shape.push_back(value);
  }
  return shape;
}

}  // namespace

size_t npy_dtype_size(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::kFloat64:
    case NpyDtype::kInt64:
      return 8;
    case NpyDtype::kFloat32:
    case NpyDtype::kInt32:
      return 4;
    case NpyDtype::kFloat16:
      return 2;
    case NpyDtype::kInt8:
    case NpyDtype::kUInt8:
    case NpyDtype::kBool:
      return 1;
  }
  return 1;
}

std::string npy_dtype_descr(NpyDtype dtype) {
  for (const auto& entry : kDtypes) {
    if (entry.dtype == dtype) return std::string(entry.descr);
  }
  return "?";
}

int64_t NpyArray::numel() const {
  int64_t count = 1;
  for (const int64_t dim : shape) count *= dim;
  return count;
}

template <typename T>
std::span<const T> NpyArray::values() const {
  constexpr auto expected = [] {
    if constexpr (std::is_same_v<T, float>) return NpyDtype::kFloat32;
    if constexpr (std::is_same_v<T, double>) return NpyDtype::kFloat64;
    if constexpr (std::is_same_v<T, int32_t>) return NpyDtype::kInt32;
    if constexpr (std::is_same_v<T, int64_t>) return NpyDtype::kInt64;
    if constexpr (std::is_same_v<T, uint8_t>) return NpyDtype::kUInt8;
    if constexpr (std::is_same_v<T, int8_t>) return NpyDtype::kInt8;
    if constexpr (std::is_same_v<T, bool>) return NpyDtype::kBool;
  }();
  if (dtype != expected) {
    throw Error(ErrorKind::kInvalidInput,
                "npy array has dtype " + npy_dtype_descr(dtype) + ", expected " +
                    npy_dtype_descr(expected));
  }
  return {reinterpret_cast<const T*>(data.data()), static_cast<size_t>(numel())};
}

template std::span<const float> NpyArray::values<float>() const;
template std::span<const double> NpyArray::values<double>() const;
template std::span<const int32_t> NpyArray::values<int32_t>() const;
template std::span<const int64_t> NpyArray::values<int64_t>() const;
template std::span<const uint8_t> NpyArray::values<uint8_t>() const;
template std::span<const int8_t> NpyArray::values<int8_t>() const;
template std::span<const bool> NpyArray::values<bool>() const;

NpyArray parse_npy(std::span<const std::byte> bytes, const std::string& name) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    bad(name, "missing the \\x93NUMPY magic");
  }
  const auto major = static_cast<uint8_t>(bytes[6]);
  size_t header_length = 0;
  size_t header_start = 0;
  if (major == 1) {
    header_length = static_cast<size_t>(bytes[8]) | (static_cast<size_t>(bytes[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) bad(name, "truncated header");
    header_length = 0;
    for (int i = 0; i < 4; ++i) header_length |= static_cast<size_t>(bytes[8 + i]) << (8 * i);
    header_start = 12;
  } else {
    bad(name, "unsupported format version " + std::to_string(major));
  }
  if (header_length > kMaxHeaderLength || header_start + header_length > bytes.size()) {
    bad(name, "header length " + std::to_string(header_length) + " exceeds the file");
  }
  const std::string_view header(reinterpret_cast<const char*>(bytes.data()) + header_start,
                                header_length);

  const std::string descr(trim(dict_value(header, "descr", name)));
  if (trim(dict_value(header, "fortran_order", name)) != "False") {
    bad(name, "Fortran-order arrays are not supported");
  }
  NpyArray array;
  const auto found = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                                  [&](const DtypeName& d) { return d.descr == descr; });
  // "<u1"/"<i1"/"<b1" are the same as their "|" spelling.
  const auto found_alt =
      std::find_if(std::begin(kDtypes), std::end(kDtypes), [&](const DtypeName& d) {
        return descr.size() == 3 && d.descr[0] == '|' && descr[0] == '<' &&
               d.descr.substr(1) == std::string_view(descr).substr(1);
      });
  if (found != std::end(kDtypes)) {
    array.dtype = found->dtype;
  } else if (found_alt != std::end(kDtypes)) {
    array.dtype = found_alt->dtype;
  } else {
    throw Error(ErrorKind::kUnsupported, name + ": unsupported .npy dtype '" + descr + "'");
  }
  array.shape = parse_shape(dict_value(header, "shape", name), name);

  // Overflow-safe element count.
  uint64_t count = 1;
  for (const int64_t dim : array.shape) {
    if (dim != 0 && count > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(dim)) {
      bad(name, "shape overflows");
    }
    count *= static_cast<uint64_t>(dim);
  }
  const size_t data_start = header_start + header_length;
  const uint64_t available = bytes.size() - data_start;
  const uint64_t element = npy_dtype_size(array.dtype);
  if (count > available / element || count * element != available) {
    bad(name, "data is " + std::to_string(available) + " bytes, shape needs " +
                  std::to_string(count) + " x " + std::to_string(element));
  }
  array.data.assign(bytes.begin() + static_cast<ptrdiff_t>(data_start), bytes.end());
  return array;
}

NpyArray read_npy(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(ErrorKind::kNotFound, path.string() + ": no such file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::kIo, path.string() + ": cannot open");
  std::vector<std::byte> bytes(std::filesystem::file_size(path));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw Error(ErrorKind::kIo, path.string() + ": read failed");
  return parse_npy(bytes, path.string());
}

std::vector<std::byte> serialize_npy(const NpyArray& array) {
  if (array.data.size() != static_cast<size_t>(array.numel()) * npy_dtype_size(array.dtype)) {
    throw Error(ErrorKind::kInternal, "npy array data does not match its shape");
  }
  std::string header = "{'descr': '" + npy_dtype_descr(array.dtype) +
                       "', 'fortran_order': False, 'shape': (";
  for (const int64_t dim : array.shape) header += std::to_string(dim) + ", ";
  if (array.shape.size() > 1) header.resize(header.size() - 2);
  if (array.shape.size() == 1) header.pop_back();  // "(n,)"
  header += "), }";
  // Pad with spaces so the data starts on a 64-byte boundary, then a newline.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';

  std::vector<std::byte> out;
  out.reserve(10 + header.size() + array.data.size());
  for (const char c : kMagic) out.push_back(static_cast<std::byte>(c));
  out.push_back(std::byte{1});
  out.push_back(std::byte{0});
  out.push_back(static_cast<std::byte>(header.size() & 0xff));
  out.push_back(static_cast<std::byte>(header.size() >> 8));
  for (const char c : header) out.push_back(static_cast<std::byte>(c));
  out.insert(out.end(), array.data.begin(), array.data.end());
  return out;
}

void write_npy(const std::filesystem::path& path, const NpyArray& array) {
  const auto bytes = serialize_npy(array);
  AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

template <typename T>
NpyArray make_npy(std::vector<int64_t> shape, std::span<const T> values) {
  NpyArray array;
  if constexpr (std::is_same_v<T, float>) array.dtype = NpyDtype::kFloat32;
  if constexpr (std::is_same_v<T, double>) array.dtype = NpyDtype::kFloat64;
  if constexpr (std::is_same_v<T, int32_t>) array.dtype = NpyDtype::kInt32;
  if constexpr (std::is_same_v<T, int64_t>) array.dtype = NpyDtype::kInt64;
  if constexpr (std::is_same_v<T, uint8_t>) array.dtype = NpyDtype::kUInt8;
  array.shape = std::move(shape);
  if (array.numel() != static_cast<int64_t>(values.size())) {
    throw Error(ErrorKind::kInternal, "make_npy: shape does not match the number of values");
  }
  const auto* raw = reinterpret_cast<const std::byte*>(values.data());
  array.data.assign(raw, raw + values.size_bytes());
  return array;
}

template NpyArray make_npy<float>(std::vector<int64_t>, std::span<const float>);
template NpyArray make_npy<double>(std::vector<int64_t>, std::span<const double>);
template NpyArray make_npy<int32_t>(std::vector<int64_t>, std::span<const int32_t>);
template NpyArray make_npy<int64_t>(std::vector<int64_t>, std::span<const int64_t>);
template NpyArray make_npy<uint8_t>(std::vector<int64_t>, std::span<const uint8_t>);

}  // namespace clipmind::models
