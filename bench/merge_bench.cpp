// Outer-LLM token merging on CPU: HoliTom, ToMe and DivPrune at their default ratio (0.10) on
// 32 / 64 / 128 frames x 196 tokens x 896 (Qwen2-0.5B) or 3584 (Qwen2-7B) dims.
//
// Reported per run: latency (Google Benchmark), tokens kept, the paper-compatible prefill FLOPs
// the merge saves for the matching model (prompt 64 + newline, methods.md section 7), and
// `merge/prefill_saved`: merge time as a fraction of the prefill time saved. Without a decoder in
// this build, the prefill time saved is estimated from a GEMM probe measured in the same run (a
// [2048, d] x [d, d] matmul: seconds per multiply-accumulate times the MACs saved), so the ratio
// compares like with like on this machine. A real decoder measurement can replace the probe
// through `set_prefill_timer`. Synthetic tokens: scenes of 10 frames with a slow drift and 30%
// of positions changing every frame (like the merge-golden realistic cases).
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "compress/budget/prefill_flops.h"
#include "compress/merge/divprune.h"
#include "compress/merge/holitom.h"
#include "compress/merge/tome.h"

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
  if (clipmind::bench::prefill_timer()) return clipmind::bench::prefill_timer()(full, merged, llm);
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

}  // namespace

int main(int argc, char** argv) {
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
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("torch_threads", std::to_string(threads));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
