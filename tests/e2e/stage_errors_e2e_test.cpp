// Errors name the stage that really failed, through the real `clipmind` binary: a model whose
// vision weights hold NaN (they load fine; only the tower's forward pass shows it) fails in
// "encode" with the model hint, never the damaged-video hint of "decode"; NaN in the language
// model fails in "generate" with no answer, NaN in the relevance model in "relevance" with the
// --relevance-model hint; a video whose frame data is zeroed (it probes fine; no frame decodes)
// still fails in "decode" with that hint; a token-cache entry of the wrong layout (a valid file,
// so its checksum passes) is recomputed with a warning instead of failing the job.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pipeline/token_cache.h"

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kDamagedVideoHint = "The video looks damaged";

fs::path stage_video() {
  return e2e_video("stage-errors", 60, 10, 128, 96);  // 6 s
}

std::vector<std::string> ask_args(const fs::path& video, const fs::path& model,
                                  const std::vector<std::string>& more = {}) {
  std::vector<std::string> a = {
      "ask", video.string(), "What happens?", "--model", model.string(), "--max-new-tokens", "4"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// The safetensors layout (u64 little-endian header length, JSON header with byte ranges
// relative to the data after it), read here from the format, not through models/.
struct StTensor {
  std::string dtype;
  std::vector<uint64_t> shape;
  uint64_t begin = 0;  // absolute file offsets
  uint64_t end = 0;
};
StTensor find_tensor(const std::string& file, const std::string& name_part) {
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i)
    header_size = (header_size << 8) | static_cast<unsigned char>(file[static_cast<size_t>(i)]);
  const json header = json::parse(file.substr(8, header_size));
  for (const auto& [name, info] : header.items()) {
    if (name.find(name_part) == std::string::npos) continue;
    const auto offsets = info.at("data_offsets");
    return {info.at("dtype").get<std::string>(), info.at("shape").get<std::vector<uint64_t>>(),
            8 + header_size + offsets[0].get<uint64_t>(),
            8 + header_size + offsets[1].get<uint64_t>()};
  }
  return {};
}

// A copy of the model folder `original` whose float32 tensor `tensor` (a name part) is NaN: all
// of it, or only row `row` of a 2-D one. 0xFFFFFFFF is a float32 NaN; shapes, dtypes and sizes
// are unchanged, so loading succeeds and only a forward pass can show it.
fs::path model_with_nan(const fs::path& original, const std::string& name,
                        const std::string& tensor, int64_t row = -1) {
  const fs::path model = fresh_dir(name) / "model";
  fs::copy(original, model, fs::copy_options::recursive);
  std::string weights = read_file(model / "model.safetensors");
  const StTensor found = find_tensor(weights, tensor);
  EXPECT_EQ(found.dtype, "F32") << tensor;
  EXPECT_GT(found.end, found.begin) << tensor;
  uint64_t begin = found.begin;
  uint64_t end = found.end;
  if (row >= 0) {
    EXPECT_EQ(found.shape.size(), 2u) << tensor;
    const uint64_t row_bytes = 4 * found.shape.at(1);
    begin += static_cast<uint64_t>(row) * row_bytes;
    end = begin + row_bytes;
    EXPECT_LE(end, found.end) << tensor;
  }
  std::memset(weights.data() + begin, 0xFF, end - begin);
  write_bytes(model / "model.safetensors", weights);
  return model;
}

TEST(CliStageErrors, NanVisionWeightsFailInEncodeWithTheModelHintNotTheVideoHint) {
  const fs::path model = model_with_nan(
      tiny_vlm(), "stage-nan-model", "vision_tower.vision_model.embeddings.patch_embedding.weight");

  const RunResult r = run_cli(ask_args(stage_video(), model, {"--no-cache"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("stage-errors"), std::string::npos) << "names the video: " << r.err;
  EXPECT_NE(r.err.find(": encode: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("NaN"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hint: The model's weights look damaged"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("decode:"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(kDamagedVideoHint), std::string::npos) << r.err;

  // The same model with the weights intact answers: the failure was the NaN, nothing else.
  EXPECT_EQ(run_cli(ask_args(stage_video(), tiny_vlm(), {"--no-cache"})).exit_code, 0);
}

TEST(CliStageErrors, NanLanguageWeightsFailInGenerateWithTheModelHintAndNoAnswer) {
  // One NaN row of the (tied) token embedding: the vision tower and the prompt are fine, one
  // logit of 512 is NaN. The sampler used to skip it and answer from the other 511.
  const fs::path model =
      model_with_nan(tiny_vlm(), "stage-nan-llm", "language_model.model.embed_tokens.weight", 511);
  const RunResult r = run_cli(ask_args(stage_video(), model, {"--no-cache"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(r.out.empty()) << "no answer from NaN logits: " << r.out;
  EXPECT_NE(r.err.find("stage-errors"), std::string::npos) << "names the video: " << r.err;
  EXPECT_NE(r.err.find(": generate: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("language model's output (logits at prefill) holds NaN"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("hint: The model's weights look damaged"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(kDamagedVideoHint), std::string::npos) << r.err;

  // caption goes through the same generator: the file fails with the same stage, no captions.
  const fs::path out = fresh_dir("stage-nan-llm-captions");
  const RunResult c = run_cli({"caption", stage_video().string(), "--out", out.string(), "--model",
                               model.string(), "--no-cache", "--max-new-tokens", "4"});
  EXPECT_NE(c.exit_code, 0) << c.err;
  EXPECT_NE(c.err.find("generate: "), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("NaN"), std::string::npos) << c.err;
  EXPECT_TRUE(files_under(out).empty()) << c.err;
}

// F2C selection with a relevance model whose image tower (or text tower) gives NaN: the frame
// ranking would be random with no error. It fails in the relevance step of selection, with the
// --relevance-model hint, and the VLM never runs.
TEST(CliStageErrors, NanRelevanceWeightsFailInRelevanceWithTheRelevanceModelHint) {
  for (const std::string tensor :
       {"vision_model.embeddings.patch_embedding.weight", "text_model.head.weight"}) {
    SCOPED_TRACE(tensor);
    const fs::path relevance = model_with_nan(tiny_siglip(), "stage-nan-siglip", tensor);
    const RunResult r = run_cli(
        ask_args(stage_video(), tiny_vlm(),
                 {"--no-cache", "--select", "f2c", "--relevance-model", relevance.string()}));
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_NE(r.err.find(": relevance: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("SigLIP"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("NaN"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(relevance.string()), std::string::npos) << "names the model: " << r.err;
    EXPECT_NE(r.err.find("hint: The relevance model's weights look damaged"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("--relevance-model"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(kDamagedVideoHint), std::string::npos) << r.err;
  }
  // The intact relevance model selects and answers: the failure was the NaN.
  EXPECT_EQ(run_cli(ask_args(stage_video(), tiny_vlm(),
                             {"--no-cache", "--select", "f2c", "--relevance-model",
                              tiny_siglip().string()}))
                .exit_code,
            0);
}

TEST(CliStageErrors, AVideoWhoseFramesDoNotDecodeFailsInDecodeWithTheVideoHint) {
  // moov first, then the frame data (mdat) zeroed: the file probes as a 6 s H.264 video, but no
  // frame can be decoded from it.
  const fs::path whole =
      e2e_video("stage-errors-faststart", 60, 10, 128, 96, {"-movflags", "+faststart"});
  std::string bytes = read_file(whole);
  const size_t mdat = bytes.find("mdat");
  ASSERT_NE(mdat, std::string::npos);
  std::memset(bytes.data() + mdat + 4, 0, bytes.size() - mdat - 4);
  const fs::path damaged = fresh_dir("stage-zeroed") / "zeroed-frames.mp4";
  write_bytes(damaged, bytes);

  const RunResult r = run_cli(ask_args(damaged, tiny_vlm(), {"--no-cache", "--select", "uniform"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("zeroed-frames.mp4: decode: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hint: " + kDamagedVideoHint), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("encode:"), std::string::npos) << r.err;
}

// Every frame-token entry of the cache rewritten through TokenCache (so the file is valid and
// its checksum passes) with a layout the encode stage cannot use.
int tamper_frame_entries(const fs::path& cache_home) {
  int tampered = 0;
  for (const auto& e : fs::recursive_directory_iterator(cache_home)) {
    if (!e.is_regular_file() || e.path().extension() != ".cmt") continue;
    // "CMTOKEN1", u64 header length, header JSON with the key (pipeline/token_cache.h).
    const std::string file = read_file(e.path());
    uint64_t header_size = 0;
    for (int i = 15; i >= 8; --i)
      header_size = (header_size << 8) | static_cast<unsigned char>(file[static_cast<size_t>(i)]);
    const std::string key = json::parse(file.substr(16, header_size)).at("key");
    if (key.find("kind=vlm-frame-tokens") == std::string::npos) continue;
    const fs::path root = e.path().parent_path().parent_path().parent_path();
    pipeline::TokenCache cache(root, 0);
    std::optional<pipeline::CacheEntry> entry = cache.get(key);
    if (!entry) continue;
    if (tampered % 2 == 0) {
      entry->meta = R"({"time": "soon"})";  // not a number
    } else {
      for (pipeline::CacheArray& a : entry->arrays) {
        if (a.name != "tokens") continue;
        a.shape[1] /= 2;  // half the model's hidden size
        a.bytes.resize(a.bytes.size() / 2);
      }
    }
    if (cache.put(key, *entry)) ++tampered;
  }
  return tampered;
}

TEST(CliStageErrors, ACacheEntryOfTheWrongLayoutIsRecomputedNotAFailure) {
  RunOptions options;
  options.env = {{"XDG_CACHE_HOME", fresh_dir("stage-cache").string()}};
  const std::vector<std::string> args =
      ask_args(stage_video(), tiny_vlm(), {"--json", "--select", "uniform", "--frames", "6"});
  const RunResult first = run_cli(args, options);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const json before = json::parse(first.out);
  const int encoded = before.at("tokens").at("frames_encoded").get<int>();
  ASSERT_GT(encoded, 0);

  EXPECT_GE(tamper_frame_entries(options.env.at("XDG_CACHE_HOME")), 2);

  const RunResult second = run_cli(args, options);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("unexpected layout; recomputing it"), std::string::npos) << second.err;
  const json after = json::parse(second.out);
  EXPECT_EQ(after.at("tokens").at("frames_from_cache").get<int>(), 0);
  EXPECT_EQ(after.at("tokens").at("frames_encoded").get<int>(), encoded);
  EXPECT_EQ(after.at("answer"), before.at("answer")) << "recomputed tokens, the same answer";
}

}  // namespace
}  // namespace clipmind::e2e
