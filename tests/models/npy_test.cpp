#include "models/npy.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include "tests/support/work_dir.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"
#include "models/npy_tensor.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

fs::path work_dir() {
  return test::work_dir("npy");
}

std::vector<std::byte> bytes_of(std::string_view text) {
  const auto* raw = reinterpret_cast<const std::byte*>(text.data());
  return {raw, raw + text.size()};
}

TEST(Npy, RoundTripsFloatTensorThroughFile) {
  const at::Tensor original = at::arange(24, at::kFloat).reshape({2, 3, 4}) * 0.5;
  const fs::path path = work_dir() / "roundtrip.npy";
  write_npy(path, tensor_to_npy(original));
  const NpyArray loaded = read_npy(path);
  EXPECT_EQ(loaded.shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(loaded.dtype, NpyDtype::kFloat32);
  EXPECT_TRUE(at::equal(npy_to_tensor(loaded), original));
}

TEST(Npy, HeaderIsAlignedAndReadableAsVersion1) {
  const std::vector<int32_t> ids = {1, 2, 3};
  const auto bytes = serialize_npy(make_npy<int32_t>({3}, ids));
  // Magic, version 1.0, then a header that pads the data start to 64 bytes.
  EXPECT_EQ(static_cast<char>(bytes[0]), '\x93');
  EXPECT_EQ(static_cast<int>(bytes[6]), 1);
  const size_t header_length = static_cast<size_t>(bytes[8]) | (static_cast<size_t>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_length) % 64, 0u);
  const std::string header(reinterpret_cast<const char*>(bytes.data()) + 10, header_length);
  EXPECT_NE(header.find("'shape': (3,)"), std::string::npos) << header;
  const NpyArray parsed = parse_npy(bytes, "mem");
  ASSERT_EQ(parsed.values<int32_t>().size(), 3u);
  EXPECT_EQ(parsed.values<int32_t>()[2], 3);
}

TEST(Npy, ReadsFixtureWrittenByNumpy) {
  const NpyArray ids =
      read_npy(fs::path(CLIPMIND_TEST_DATA_DIR) / "llm-golden/qwen2-tiny/a_ids.npy");
  ASSERT_EQ(ids.shape, (std::vector<int64_t>{7}));
  const auto values = ids.values<int32_t>();
  for (int i = 0; i < 7; ++i)
    EXPECT_EQ(values[static_cast<size_t>(i)], i + 1);
}

TEST(Npy, RejectsMalformedFiles) {
  EXPECT_THROW(parse_npy(bytes_of("not numpy at all"), "x.npy"), Error);
  // Valid header claiming more data than present.
  std::string truncated = "\x93NUMPY";
  truncated += '\x01';
  truncated += '\x00';
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  truncated += static_cast<char>(header.size() & 0xff);
  truncated += static_cast<char>(header.size() >> 8);
  truncated += header;
  truncated += "abcd";
  try {
    parse_npy(bytes_of(truncated), "short.npy");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("short.npy"), std::string::npos);
  }
  // Header length pointing past the end of the file.
  std::string huge = "\x93NUMPY\x01";
  huge += '\x00';
  huge += "\xff\xff";
  EXPECT_THROW(parse_npy(bytes_of(huge), "huge.npy"), Error);
  EXPECT_THROW(read_npy(work_dir() / "missing.npy"), Error);
}

TEST(Npy, RejectsUnsupportedDtypeWithItsName) {
  std::string file = "\x93NUMPY\x01";
  file += '\x00';
  std::string header = "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  file += static_cast<char>(header.size());
  file += '\x00';
  file += header + std::string(8, '\0');
  try {
    parse_npy(bytes_of(file), "c.npy");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("<c8"), std::string::npos);
  }
}

TEST(Npy, FailedWriteLeavesNoFile) {
  const fs::path dir = work_dir() / "no-such-dir";
  EXPECT_THROW(write_npy(dir / "x.npy", make_npy<int32_t>({1}, std::vector<int32_t>{1})), Error);
  EXPECT_FALSE(fs::exists(dir / "x.npy"));
}

}  // namespace
}  // namespace clipmind::models
