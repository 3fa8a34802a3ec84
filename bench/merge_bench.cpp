// Outer-LLM token merging on CPU: HoliTom, ToMe and DivPrune at their default ratio (0.10) on
// 32 / 64 / 128 frames x 196 tokens x 896 (Qwen2-0.5B) or 3584 (Qwen2-7B) dims.
//
// Reported per run: latency (Google Benchmark), tokens kept, the paper-compatible prefill FLOPs
// the merge saves for the matching model (prompt 64 + newline, methods.md section 7), and
// `merge/prefill_saved`: merge time as a fraction of the prefill time saved. By default the
// prefill time saved is estimated from a GEMM probe measured in the same run (a [2048, d] x
// [d, d] matmul: seconds per multiply-accumulate times the MACs saved). With
// `--real_0_5b=DIR` the 896-dim cases up to `--real_max_frames` (default 32) frames instead time
// the real decoder (models/llm) on a random Qwen2-0.5B-shaped model written to DIR (24 layers,
// d 896, FFN 4864, 14/2 heads; vocabulary cut to 1024 rows, which prefill does not touch):
// prefill of the unmerged and the merged prompt lengths, as input embeddings. Synthetic tokens:
// scenes of 10 frames with a slow drift and 30% of positions changing every frame (like the
// merge-golden realistic cases).
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "compress/budget/prefill_flops.h"
#include "compress/merge/divprune.h"
#include "compress/merge/holitom.h"
#include "compress/merge/tome.h"
#include "models/llm/decoder.h"
#include "models/weights/model_config.h"
#include "models/weights/safetensors.h"

namespace clipmind::bench {

// Hook for a real measurement (the decoder on the `real-0.5b` model once models/ provides it):
// given prompt token counts (full, merged) and the model, return the seconds of prefill saved.
// Unset, the GEMM-probe estimate is used.
std::function<double(int64_t, int64_t, const compress::LlmDims&)>& prefill_timer() {
  static std::function<double(int64_t, int64_t, const compress::LlmDims&)> timer;
  return timer;
}

void set_prefill_timer(std::function<double(int64_t, int64_t, const compress::LlmDims&)> timer) {
  prefill_timer() = std::move(timer);
}

}  // namespace clipmind::bench

namespace {

using namespace clipmind::compress;

constexpr int64_t kPositions = 196;
constexpr int64_t kPromptTokens = 64;
constexpr double kRatio = 0.10;

struct Input {
  at::Tensor tokens;
  at::Tensor attention;
};

const Input& input_for(int64_t frames, int64_t dim) {
  static std::map<std::pair<int64_t, int64_t>, Input> cache;
  auto it = cache.find({frames, dim});
  if (it != cache.end()) return it->second;
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(frames * 7919 + dim));
  std::vector<at::Tensor> list;
  at::Tensor current;
  const int64_t moving = kPositions * 3 / 10;
  for (int64_t t = 0; t < frames; ++t) {
    if (t % 10 == 0) {
      current = at::randn({kPositions, dim}, gen, at::kFloat);
    } else {
      current = current + 0.02 * at::randn({kPositions, dim}, gen, at::kFloat);
    }
    at::Tensor frame = current.clone();
    frame.slice(0, 0, moving).copy_(at::randn({moving, dim}, gen, at::kFloat));
    list.push_back(frame);
  }
  Input input{at::stack(list), at::rand({frames, kPositions}, gen, at::kFloat)};
  return cache.emplace(std::make_pair(frames, dim), std::move(input)).first->second;
}

// Seconds per multiply-accumulate of a d x d projection on this machine, measured once per d.
double seconds_per_mac(int64_t dim) {
  static std::map<int64_t, double> cache;
  if (auto it = cache.find(dim); it != cache.end()) return it->second;
  const at::Tensor x = at::randn({2048, dim});
  const at::Tensor w = at::randn({dim, dim});
  at::mm(x, w);  // warm-up
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    at::Tensor y = at::mm(x, w);
    benchmark::DoNotOptimize(y.data_ptr<float>());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, seconds);
  }
  return cache[dim] = best / (2048.0 * static_cast<double>(dim) * static_cast<double>(dim));
}

double prefill_seconds_saved(int64_t full, int64_t merged, const LlmDims& llm) {
  if (clipmind::bench::prefill_timer()) {
    return clipmind::bench::prefill_timer()(full, merged, llm);
  }
  return (prefill_flops(full, llm) - prefill_flops(merged, llm)) * seconds_per_mac(llm.hidden);
}

void run(benchmark::State& state, const std::string& method, int64_t frames, int64_t dim) {
  const Input& input = input_for(frames, dim);
  const LlmDims llm = dim == 896 ? LlmDims::qwen2_0_5b() : LlmDims::qwen2_7b();
  const TokenBudget budget = TokenBudget::ratio(kRatio);
  int64_t kept = 0;
  double seconds = 0.0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    MergeResult result;
    if (method == "holitom") {
      result = holitom_merge_within(input.tokens, input.attention, {}, budget, {});
    } else if (method == "tome") {
      result = tome_merge(input.tokens, {}, budget);
    } else {
      result = divprune_merge(input.tokens, {}, budget);
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    kept = result.token_count();
    benchmark::DoNotOptimize(kept);
  }
  seconds /= static_cast<double>(state.iterations());
  const int64_t full = kPromptTokens + frames * kPositions + 1;
  const int64_t merged = kPromptTokens + kept + 1;
  state.counters["tokens_in"] = static_cast<double>(frames * kPositions);
  state.counters["tokens_kept"] = static_cast<double>(kept);
  state.counters["flops_saved_pct"] =
      100.0 * (1.0 - prefill_flops(merged, llm) / prefill_flops(full, llm));
  state.counters["flops_saved_0.5B"] =
      prefill_flops(full, LlmDims::qwen2_0_5b()) - prefill_flops(merged, LlmDims::qwen2_0_5b());
  state.counters["flops_saved_7B"] =
      prefill_flops(full, LlmDims::qwen2_7b()) - prefill_flops(merged, LlmDims::qwen2_7b());
  const double saved = prefill_seconds_saved(full, merged, llm);
  state.counters["prefill_saved_s"] = saved;
  state.counters["merge/prefill_saved"] = seconds / saved;
}

// A random Qwen2-0.5B-shaped decoder in `dir` (written once), loaded in float32 on the CPU.
std::shared_ptr<clipmind::models::Decoder> random_qwen2_0_5b(const std::filesystem::path& dir) {
  namespace m = clipmind::models;
  m::DecoderConfig config;
  config.arch = m::DecoderArch::kQwen2;
  config.vocab_size = 1024;
  config.hidden_size = 896;
  config.intermediate_size = 4864;
  config.num_layers = 24;
  config.num_heads = 14;
  config.num_kv_heads = 2;
  config.head_dim = 64;
  config.max_position_embeddings = 32768;
  config.rope_theta = 1000000.0;
  config.tie_word_embeddings = true;
  config.qkv_bias = true;
  if (!std::filesystem::exists(dir / "model.safetensors")) {
    std::filesystem::create_directories(dir);
    at::Generator gen = at::detail::createCPUGenerator(42);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const m::TensorSpec& spec : m::decoder_tensor_specs(config, {})) {
      if (!spec.required) continue;
      std::vector<int64_t> shape = spec.shape;
      if (spec.any_shape) shape = {config.vocab_size, config.hidden_size};
      at::Tensor t = spec.name.find("norm") != std::string::npos
                         ? at::ones(shape)
                         : at::randn(shape, gen, at::kFloat) * 0.02;
      tensors.emplace_back(spec.name, t.to(at::kHalf));
    }
    m::write_safetensors(dir / "model.safetensors", tensors);
    std::ofstream(dir / "config.json") << m::decoder_config_json(config).dump(2);
  }
  return std::make_shared<m::Decoder>(m::Decoder::load(dir));
}

// Seconds of one prefill of `tokens` input embeddings (best of `repeats`).
double time_prefill(const clipmind::models::Decoder& decoder, int64_t tokens, int repeats) {
  namespace m = clipmind::models;
  const at::Tensor embeddings = at::randn({tokens, decoder.config().hidden_size}) * 0.02;
  m::PromptInput input;
  input.add_embeddings(embeddings);
  m::ForwardOptions options;
  options.logits = m::LogitsMode::kNone;
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    m::KvCache cache = decoder.new_cache();
    const auto start = std::chrono::steady_clock::now();
    decoder.forward(input, cache, options);
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  // Our own flags, removed before Google Benchmark sees the rest.
  std::string real_dir;
  int64_t real_max_frames = 32;
  for (int i = 1; i < argc;) {
    const std::string arg = argv[i];
    if (arg.rfind("--real_0_5b=", 0) == 0) {
      real_dir = arg.substr(12);
    } else if (arg.rfind("--real_max_frames=", 0) == 0) {
      real_max_frames = std::stoll(arg.substr(18));
    } else {
      ++i;
      continue;
    }
    std::memmove(argv + i, argv + i + 1, sizeof(char*) * static_cast<size_t>(argc - i));
    --argc;
  }
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  for (const int64_t dim : {896, 3584}) {
    for (const int64_t frames : {32, 64, 128}) {
      for (const std::string method : {"holitom", "tome", "divprune"}) {
        const std::string name =
            "merge/" + method + "/frames:" + std::to_string(frames) + "/dim:" + std::to_string(dim);
        benchmark::RegisterBenchmark(
            name.c_str(), [=](benchmark::State& state) { run(state, method, frames, dim); })
            ->Unit(benchmark::kMillisecond)
            ->Iterations(frames * dim >= 64 * 3584 ? 1 : 3);
      }
    }
  }
  std::shared_ptr<clipmind::models::Decoder> decoder;
  if (!real_dir.empty()) {
    try {
      decoder = random_qwen2_0_5b(real_dir);
    } catch (const clipmind::Error& e) {
      std::fprintf(stderr, "merge_bench: %s\n", e.what());
      return 1;
    }
    auto cache = std::make_shared<std::map<int64_t, double>>();
    clipmind::bench::set_prefill_timer(
        [decoder, cache, real_max_frames](int64_t full, int64_t merged, const LlmDims& llm) {
          if (llm.hidden != 896 || full > kPromptTokens + real_max_frames * kPositions + 1) {
            return (prefill_flops(full, llm) - prefill_flops(merged, llm)) *
                   seconds_per_mac(llm.hidden);
          }
          for (const int64_t n : {full, merged}) {
            if (!cache->count(n)) (*cache)[n] = time_prefill(*decoder, n, n > 2000 ? 1 : 3);
          }
          return cache->at(full) - cache->at(merged);
        });
  }
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext(
      "prefill_saved",
      decoder ? "real decoder (0.5B cases up to real_max_frames)" : "GEMM-probe estimate");
  benchmark::AddCustomContext("torch_threads", std::to_string(threads));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
