#include "models/weights/safetensors.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/support/work_dir.h"
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "clipmind/error.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

fs::path work_dir() {
  return test::work_dir("safetensors");
}

// Builds a file by hand: 8-byte little-endian header length, header text, data bytes.
std::string make_file(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

fs::path write_bytes(const std::string& name, const std::string& bytes) {
  const fs::path path = work_dir() / name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string floats_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

// Expects construction to throw clipmind::Error of `kind` whose message contains `needle`.
void expect_rejected(const std::string& bytes, const std::string& needle,
                     ErrorKind kind = ErrorKind::kInvalidInput) {
  const fs::path path = write_bytes("bad.safetensors", bytes);
  try {
    SafetensorsFile file(path);
    FAIL() << "accepted a malformed file; expected an error mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.safetensors"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, ReadsHandWrittenFile) {
  const std::string header =
      R"({"b":{"dtype":"F32","shape":[3],"data_offsets":[8,20]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"format":"pt"}})";
  const auto path = write_bytes("hand.safetensors",
                                make_file(header, floats_bytes({1.5f, -2.0f, 3.0f, 4.0f, 5.25f})));
  SafetensorsFile file(path);
  ASSERT_EQ(file.tensors().size(), 2u);
  EXPECT_EQ(file.tensors()[0].name, "a");
  EXPECT_EQ(file.metadata().at("format"), "pt");
  const at::Tensor a = file.load("a");
  const at::Tensor b = file.load("b");
  EXPECT_TRUE(at::equal(a, at::tensor({1.5f, -2.0f})));
  EXPECT_TRUE(at::equal(b, at::tensor({3.0f, 4.0f, 5.25f})));
  EXPECT_EQ(file.find("c"), nullptr);
  EXPECT_THROW(file.load("c"), Error);
}

TEST(Safetensors, ConvertsHalfAndBfloat16ToFloat) {
  // 1.0 and -2.5 as IEEE half (0x3C00, 0xC100) and as bfloat16 (0x3F80, 0xC020).
  const std::string data("\x00\x3C\x00\xC1\x80\x3F\x20\xC0", 8);
  const std::string header = R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})";
  const auto path = write_bytes("half.safetensors", make_file(header, data));
  SafetensorsFile file(path);
  EXPECT_TRUE(at::equal(file.load("h"), at::tensor({1.0f, -2.5f})));
  EXPECT_TRUE(at::equal(file.load("b"), at::tensor({1.0f, -2.5f})));
  EXPECT_EQ(file.load("b", at::ScalarType::Undefined).scalar_type(), at::kBFloat16);
  EXPECT_EQ(file.load("h", at::kBFloat16).scalar_type(), at::kBFloat16);
}

TEST(Safetensors, UnalignedDataRegionStillLoads) {
  // A 3-byte header puts the data at offset 11: not 4-byte aligned.
  std::string json = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  while ((8 + json.size()) % 8 != 3)
    json += ' ';
  const auto path =
      write_bytes("unaligned.safetensors", make_file(json, floats_bytes({7.0f, 8.0f})));
  SafetensorsFile file(path);
  EXPECT_TRUE(at::equal(file.load("x"), at::tensor({7.0f, 8.0f})));
}

TEST(Safetensors, WriterRoundTripsAndPadsHeader) {
  const at::Tensor f = at::randn({3, 4});
  const at::Tensor bf = at::randn({5}).to(at::kBFloat16);
  const at::Tensor ids = at::arange(6, at::kLong).reshape({2, 3});
  const auto path = work_dir() / "roundtrip.safetensors";
  write_safetensors(path, {{"w.f", f}, {"w.bf", bf}, {"ids", ids}});
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
  SafetensorsFile file(path);
  EXPECT_EQ(file.find("w.bf")->dtype, StDtype::kBF16);
  EXPECT_TRUE(at::equal(file.load("w.f"), f));
  EXPECT_TRUE(at::equal(file.load("w.bf", at::ScalarType::Undefined), bf));
  EXPECT_TRUE(at::equal(file.load("w.bf"), bf.to(at::kFloat)));
  EXPECT_TRUE(at::equal(file.load("ids", at::ScalarType::Undefined), ids));
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_THROW(write_safetensors(path, {{"a", f}, {"a", f}}), Error);
}

TEST(Safetensors, ReadsTheGoldenQwenFixture) {
  SafetensorsFile file(fs::path(CLIPMIND_TEST_DATA_DIR) /
                       "llm-golden/qwen2-tiny/model.safetensors");
  EXPECT_EQ(file.tensors().size(), 26u);  // README: 26 tensors
  const StTensorInfo* embed = file.find("model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->shape, (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(file.find("model.layers.0.self_attn.q_proj.bias")->shape, (std::vector<int64_t>{64}));
  EXPECT_EQ(file.find("model.layers.1.self_attn.k_proj.weight")->shape,
            (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(file.find("lm_head.weight"), nullptr);  // tied
  EXPECT_EQ(file.metadata().at("format"), "pt");
  // Norm weights were drawn as 1 + 0.15 N(0,1): mean near 1.
  const double mean = file.load("model.norm.weight").mean().item<double>();
  EXPECT_NEAR(mean, 1.0, 0.1);
}

TEST(SafetensorsHeader, RejectsMalformedHeaders) {
  const std::string data = floats_bytes({1, 2, 3, 4});
  const auto with = [&](const std::string& header) { return make_file(header, data); };
  expect_rejected("abc", "too short");
  {
    std::string bytes = with(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})");
    const uint64_t huge = 1ull << 40;
    std::memcpy(bytes.data(), &huge, 8);
    expect_rejected(bytes, "header length");
  }
  {
    std::string bytes = with(R"({})");
    const uint64_t beyond = bytes.size();  // larger than what follows the length field
    std::memcpy(bytes.data(), &beyond, 8);
    expect_rejected(bytes, "larger than the file");
  }
  expect_rejected(with(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})"),
                  "malformed JSON");
  expect_rejected(with(R"([1,2])"), "not a JSON object");
  expect_rejected(with("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}"),
                  "malformed JSON");
  expect_rejected(with(R"({"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,16]}})"),
                  "unknown dtype");
  expect_rejected(with(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,32]}})"),
                  "data region");
  expect_rejected(with(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})"),
                  "begin > end");
  expect_rejected(with(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})"),
                  "span 16 bytes");
  expect_rejected(with(R"({"a":{"dtype":"F16","shape":[4],"data_offsets":[0,16]}})"),
                  "span 16 bytes");
  expect_rejected(with(R"({"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})"),
                  "non-negative");
  expect_rejected(with(R"({"a":{"dtype":"F32","shape":[4.0],"data_offsets":[0,16]}})"),
                  "non-negative");
  expect_rejected(with(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[-1,15]}})"),
                  "non-negative");
  expect_rejected(
      with(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}})"),
      "overflows");
  expect_rejected(with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})"),
                  "overlap");
  expect_rejected(with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})"),
                  "listed twice");
  expect_rejected(with(R"({"a":{"dtype":"F32","shape":[4]}})"), "data_offsets");
  expect_rejected(with(R"({"a":{"shape":[4],"data_offsets":[0,16]}})"), "no dtype");
  expect_rejected(with(R"({"a":7})"), "not an object");
  expect_rejected(with(R"({"__metadata__":{"format":3}})"), "not a string");
  expect_rejected(with(R"({"":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})"), "empty name");
}

TEST(SafetensorsHeader, Float8LoadsAreRefusedClearly) {
  const auto path = write_bytes(
      "f8.safetensors", make_file(R"({"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})",
                                  std::string(4, '\x01')));
  SafetensorsFile file(path);
  try {
    file.load("a");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("F8_E4M3"), std::string::npos);
  }
}

// Random corruptions of a valid file: every outcome is a clean load or a clipmind::Error, and
// when a corrupted file is accepted, every tensor in it loads without reading out of bounds
// (AddressSanitizer builds check the latter).
TEST(SafetensorsHeader, RandomCorruptionsNeverCrash) {
  const auto valid_path = work_dir() / "fuzz-base.safetensors";
  write_safetensors(valid_path, {{"layer.0.w", at::randn({4, 3})},
                                 {"layer.0.b", at::randn({4}).to(at::kBFloat16)},
                                 {"ids", at::arange(5, at::kLong)}});
  std::string base;
  {
    std::ifstream in(valid_path, std::ios::binary);
    base.assign(std::istreambuf_iterator<char>(in), {});
  }
  uint64_t header_length = 0;
  std::memcpy(&header_length, base.data(), 8);
  std::mt19937_64 rng(1234);
  const std::string alphabet = std::string("{}[]\":,0123456789-.eE ") + "\xff" + "\xc3" + "FBUI";
  int accepted = 0;
  int rejected = 0;
  for (int round = 0; round < 1000; ++round) {
    std::string bytes = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      switch (rng() % 6) {
        case 0: {  // flip a header character to something JSON-ish
          const size_t at = 8 + rng() % header_length;
          if (at >= bytes.size()) break;
          bytes[at] = alphabet[rng() % alphabet.size()];
          break;
        }
        case 1: {  // random byte anywhere
          bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xff);
          break;
        }
        case 2:  // truncate
          bytes.resize(rng() % bytes.size());
          break;
        case 3: {  // random header length
          if (bytes.size() < 8) break;
          const uint64_t n = (rng() % 3 == 0) ? rng() : rng() % (bytes.size() + 16);
          std::memcpy(bytes.data(), &n, 8);
          break;
        }
        case 4: {  // change a digit in the header (offsets and shapes)
          for (int tries = 0; tries < 20 && bytes.size() > 8; ++tries) {
            const size_t at = 8 + rng() % std::min<uint64_t>(header_length, bytes.size() - 8);
            if (bytes[at] >= '0' && bytes[at] <= '9') {
              bytes[at] = static_cast<char>('0' + rng() % 10);
              break;
            }
          }
          break;
        }
        default:  // insert junk into the header
          if (bytes.size() > 8)
            bytes.insert(8 + rng() % (bytes.size() - 8), 1, alphabet[rng() % alphabet.size()]);
          break;
      }
    }
    const auto path = write_bytes("fuzz.safetensors", bytes);
    try {
      SafetensorsFile file(path);
      for (const auto& info : file.tensors()) {
        try {
          const at::Tensor t = file.load(info, at::ScalarType::Undefined);
          EXPECT_EQ(static_cast<uint64_t>(t.nbytes()), info.end - info.begin);
        } catch (const Error&) {
          // e.g. a dtype flipped to F8: refused, fine.
        }
      }
      ++accepted;
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 300);
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace clipmind::models
