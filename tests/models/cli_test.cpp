// The model commands through the real `clipmind` binary: make-tiny-model, tokenize, llm-eval,
// generate, and their errors on bad input (clear message, non-zero exit, nothing half-written).
#include <gtest/gtest.h>

// GCC 12 reports a false -Wrestrict inside libstdc++ for `"literal" + std::string` chains at
// -O3 (GCC bug 105329); this file builds many command lines that way.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include "models/npy.h"
#include "models/npy_tensor.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

const fs::path kWork = fs::path(CLIPMIND_TEST_WORK_DIR) / "cli-models";
const fs::path kGolden = fs::path(CLIPMIND_TEST_DATA_DIR) / "llm-golden";

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `clipmind ARGS` through /bin/sh (ARGS is shell text).
CliRun clipmind(const std::string& args, const std::string& stdin_text = "") {
  fs::create_directories(kWork);
  const fs::path in = kWork / "stdin.txt", out = kWork / "stdout.txt", err = kWork / "stderr.txt";
  std::ofstream(in, std::ios::binary) << stdin_text;
  const std::string command = std::string("'") + CLIPMIND_CLI + "' " + args + " <'" + in.string() +
                              "' >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(command.c_str());
  CliRun run;
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = slurp(out);
  run.err = slurp(err);
  return run;
}

std::string q(const fs::path& path) {
  return "'" + path.string() + "'";
}

class ModelCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fs::remove_all(kWork);
    fs::create_directories(kWork);
    for (const char* arch : {"qwen2", "llama"}) {
      const CliRun run = clipmind(std::string("make-tiny-model --arch ") + arch + " " +
                                  q(kWork / arch) + " --seed 5");
      ASSERT_EQ(run.code, 0) << run.err;
    }
  }
};

TEST_F(ModelCli, MakeTinyModelWritesTheRealLayout) {
  for (const char* arch : {"qwen2", "llama"}) {
    const fs::path dir = kWork / arch;
    for (const char* file : {"config.json", "model.safetensors", "tokenizer.json",
                             "tokenizer_config.json", "generation_config.json"}) {
      EXPECT_TRUE(fs::exists(dir / file)) << dir / file;
    }
    std::ifstream in(dir / "config.json");
    const auto config = nlohmann::json::parse(in);
    EXPECT_EQ(config["model_type"], arch);
    EXPECT_EQ(config["hidden_size"], 64);
  }
  // No leftovers of the temporary folder.
  for (const auto& entry : fs::directory_iterator(kWork)) {
    EXPECT_EQ(entry.path().filename().string().find(".part-"), std::string::npos) << entry.path();
  }
  const CliRun again = clipmind("make-tiny-model --arch qwen2 " + q(kWork / "qwen2"));
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  const CliRun bad_arch = clipmind("make-tiny-model --arch gpt5 " + q(kWork / "gpt5"));
  EXPECT_NE(bad_arch.code, 0);
  EXPECT_NE(bad_arch.err.find("unknown architecture 'gpt5'"), std::string::npos) << bad_arch.err;
  EXPECT_FALSE(fs::exists(kWork / "gpt5"));
}

TEST_F(ModelCli, TokenizeArgumentsAndStdin) {
  // Specials take the last five ids of the 512-token vocabulary; 'A' (0x41) is byte-level id
  // 0x41 - 0x21 = 32 because the vocabulary starts at '!'.
  CliRun run = clipmind("tokenize --model " + q(kWork / "qwen2") + " 'A<|im_end|>' '<|im_start|>'");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "32 509\n508\n");
  run = clipmind("tokenize --model " + q(kWork / "qwen2") + " --json", "A\n<|endoftext|>\n");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(run.out, "{\"ids\":[32],\"text\":\"A\"}\n{\"ids\":[507],\"text\":\"<|endoftext|>\"}\n");
  run = clipmind("tokenize --model " + q(kWork / "qwen2") + " \"bad $(printf '\\377') text\"");
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find("not valid UTF-8"), std::string::npos) << run.err;
  run = clipmind("tokenize --model " + q(kWork / "nowhere") + " x");
  EXPECT_EQ(run.code, 4);
  EXPECT_NE(run.err.find("tokenizer.json"), std::string::npos) << run.err;
}

TEST_F(ModelCli, LlmEvalMatchesTheGoldenLogits) {
  const fs::path out = kWork / "a_logits.npy";
  CliRun run = clipmind("llm-eval --model " + q(kGolden / "qwen2-tiny") + " --ids-npy " +
                        q(kGolden / "qwen2-tiny/a_ids.npy") + " --out " + q(out));
  ASSERT_EQ(run.code, 0) << run.err;
  const at::Tensor logits = npy_to_tensor(read_npy(out));
  const at::Tensor golden = npy_to_tensor(read_npy(kGolden / "qwen2-tiny/a_logits.npy"));
  EXPECT_LE((logits - golden).abs().max().item<double>(), 1e-4);

  run = clipmind("llm-eval --model " + q(kGolden / "llama-tiny") + " --embeds-npy " +
                 q(kGolden / "llama-tiny/d_embeds.npy") + " --ids-npy " +
                 q(kGolden / "llama-tiny/d_ids.npy") + " --out " + q(out) + " --chunk 4");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_LE(
      (npy_to_tensor(read_npy(out)) - npy_to_tensor(read_npy(kGolden / "llama-tiny/d_logits.npy")))
          .abs()
          .max()
          .item<double>(),
      1e-4);

  run = clipmind("llm-eval --model " + q(kGolden / "qwen2-tiny") + " --ids 1,2,3");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("positions 3, vocab 512"), std::string::npos) << run.out;
}

TEST_F(ModelCli, LlmEvalBadInputs) {
  const std::string model = " --model " + q(kGolden / "qwen2-tiny");
  CliRun run = clipmind("llm-eval" + model + " --ids 1,999");
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find("token id 999"), std::string::npos) << run.err;
  run = clipmind("llm-eval" + model + " --ids 1,x");
  EXPECT_EQ(run.code, 2);
  EXPECT_NE(run.err.find("'x' is not an integer"), std::string::npos) << run.err;
  std::ofstream(kWork / "broken.npy") << "\x93NUMPY garbage";
  run = clipmind("llm-eval" + model + " --ids-npy " + q(kWork / "broken.npy"));
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find("broken.npy"), std::string::npos) << run.err;
  write_npy(kWork / "floats.npy", tensor_to_npy(at::ones({3})));
  run = clipmind("llm-eval" + model + " --ids-npy " + q(kWork / "floats.npy"));
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find("int32 or int64"), std::string::npos) << run.err;
  write_npy(kWork / "narrow.npy", tensor_to_npy(at::ones({2, 8})));
  run = clipmind("llm-eval" + model + " --embeds-npy " + q(kWork / "narrow.npy"));
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find("hidden size is 64"), std::string::npos) << run.err;
  const fs::path out = kWork / "never.npy";
  run = clipmind("llm-eval --model " + q(kWork / "missing-model") + " --ids 1 --out " + q(out));
  EXPECT_EQ(run.code, 4);
  EXPECT_FALSE(fs::exists(out));

  // Config and weights that disagree.
  const fs::path mismatch = kWork / "mismatch";
  fs::create_directories(mismatch);
  fs::copy_file(kGolden / "llama-tiny/model.safetensors", mismatch / "model.safetensors",
                fs::copy_options::overwrite_existing);
  {
    std::ifstream in(kGolden / "qwen2-tiny/config.json");
    std::ofstream(mismatch / "config.json") << in.rdbuf();
  }
  run = clipmind("llm-eval --model " + q(mismatch) + " --ids 1");
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find("missing"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("q_proj.bias"), std::string::npos) << run.err;

  // Pickle-only folder.
  const fs::path pickle = kWork / "pickle";
  fs::create_directories(pickle);
  fs::copy_file(kGolden / "qwen2-tiny/config.json", pickle / "config.json",
                fs::copy_options::overwrite_existing);
  std::ofstream(pickle / "pytorch_model.bin") << "PK";
  run = clipmind("llm-eval --model " + q(pickle) + " --ids 1");
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find("pickle is not supported"), std::string::npos) << run.err;
}

TEST_F(ModelCli, GenerateStreamsDeterministically) {
  for (const char* arch : {"qwen2", "llama"}) {
    const std::string args =
        std::string("generate --model ") + q(kWork / arch) +
        " 'What happens in the video?' --max-tokens 12 --temperature 0.8 --seed 3 --stats";
    const CliRun first = clipmind(args);
    ASSERT_EQ(first.code, 0) << first.err;
    EXPECT_FALSE(first.out.empty());
    EXPECT_NE(first.err.find("generated"), std::string::npos) << first.err;
    const CliRun second = clipmind(args);
    EXPECT_EQ(first.out, second.out);
  }
  const CliRun raw =
      clipmind("generate --model " + q(kWork / "qwen2") + " --raw - --max-tokens 3", "Hello");
  EXPECT_EQ(raw.code, 0) << raw.err;
}

TEST_F(ModelCli, GenerateBadInputs) {
  const std::string model = "generate --model " + q(kWork / "qwen2");
  // 5000 digits are 5000 tokens (digits are split one by one): more than the 4096 context.
  const std::string digits(5000, '7');
  CliRun run = clipmind(model + " --raw " + digits);
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find("more than the model's context of 4096"), std::string::npos) << run.err;
  run = clipmind(model + " \"$(printf 'x\\300y')\"");
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find("not valid UTF-8"), std::string::npos) << run.err;
  run = clipmind(model + " hi --top-p 0");
  EXPECT_EQ(run.code, 2);
  EXPECT_NE(run.err.find("top-p"), std::string::npos) << run.err;
  run = clipmind(model + " hi --dtype float16");
  EXPECT_EQ(run.code, 3);
  EXPECT_NE(run.err.find("float16 is not supported on cpu"), std::string::npos) << run.err;
}

// A binary PPM (OpenCV reads it like any image): left half `a`, right half `b`.
void write_ppm(const fs::path& path, int w, int h, uint8_t a, uint8_t b) {
  std::ofstream out(path, std::ios::binary);
  out << "P6\n" << w << " " << h << "\n255\n";
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const uint8_t v = x < w / 2 ? a : b;
      const char px[3] = {static_cast<char>(v), static_cast<char>(255 - v),
                          static_cast<char>((x * 7 + y * 3) % 256)};
      out.write(px, 3);
    }
  }
}

// make-tiny-model's vision archs write loadable folders, and `embed` prints unit-norm
// embeddings, self-similarity 1, and image-text SigLIP scores; bad images are named.
TEST_F(ModelCli, EmbedWithTinySiglipDual) {
  const fs::path dual = kWork / "siglip-dual";
  CliRun run = clipmind("make-tiny-model --arch siglip-dual " + q(dual) + " --seed 2");
  ASSERT_EQ(run.code, 0) << run.err;
  for (const char* file : {"config.json", "model.safetensors", "spiece.model",
                           "preprocessor_config.json", "tokenizer_config.json"}) {
    EXPECT_TRUE(fs::exists(dual / file)) << file;
  }
  run = clipmind("make-tiny-model --arch llava-onevision " + q(kWork / "llava"));
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(fs::exists(kWork / "llava" / "video_preprocessor_config.json"));

  write_ppm(kWork / "a.ppm", 40, 30, 20, 230);
  write_ppm(kWork / "b.ppm", 40, 30, 230, 20);
  run = clipmind("embed --model " + q(dual) + " --image " + q(kWork / "a.ppm") + " " +
                 q(kWork / "b.ppm") + " --text 'a dog runs on the road' --json");
  ASSERT_EQ(run.code, 0) << run.err;
  const auto out = nlohmann::json::parse(run.out);
  const int64_t size = out["embedding_size"];
  ASSERT_EQ(out["images"].size(), 2u);
  ASSERT_EQ(out["texts"].size(), 1u);
  std::vector<std::vector<float>> vectors;
  for (const auto& item : {out["images"][0], out["images"][1], out["texts"][0]}) {
    const std::vector<float> v = item["embedding"];
    ASSERT_EQ(static_cast<int64_t>(v.size()), size);
    double norm = 0;
    for (const float x : v)
      norm += static_cast<double>(x) * x;
    EXPECT_NEAR(norm, 1.0, 1e-4);
    vectors.push_back(v);
  }
  EXPECT_NE(vectors[0], vectors[1]);

  run = clipmind("embed --model " + q(dual) + " --image " + q(kWork / "a.ppm") + " " +
                 q(kWork / "b.ppm") + " --sim --json");
  ASSERT_EQ(run.code, 0) << run.err;
  const auto sim = nlohmann::json::parse(run.out)["similarity"];
  ASSERT_EQ(sim.size(), 4u);
  EXPECT_NEAR(sim[0]["cosine"].get<double>(), 1.0, 1e-4);
  EXPECT_LT(sim[1]["cosine"].get<double>(), 0.9999);

  run = clipmind("embed --model " + q(dual) + " --image " + q(kWork / "a.ppm") +
                 " --text 'a dog' --sim --json");
  ASSERT_EQ(run.code, 0) << run.err;
  const auto pair = nlohmann::json::parse(run.out)["similarity"][0];
  const double logit = pair["logit"];
  EXPECT_NEAR(pair["probability"].get<double>(), 1.0 / (1.0 + std::exp(-logit)), 1e-6);

  std::ofstream(kWork / "not-an-image.png") << "hello";
  run = clipmind("embed --model " + q(dual) + " --image " + q(kWork / "not-an-image.png"));
  EXPECT_NE(run.code, 0);
  EXPECT_NE(run.err.find("not-an-image.png"), std::string::npos) << run.err;
  run = clipmind("embed --model " + q(kWork / "qwen2") + " --text hi");
  EXPECT_NE(run.code, 0);
  EXPECT_FALSE(run.err.empty());
}

}  // namespace
}  // namespace clipmind::models
