// The CPU's arithmetic ceiling, to read the other benchmarks against: float32 FMA and bfloat16
// dot-product (AVX512_BF16 vdpbf16ps) throughput from register-only loops, on 1 and N threads.
// No kernel that multiplies matrices from memory can beat these; vision_bench and llm_bench
// report what fraction of them the model reaches (docs/benchmarks.md, "Vision tower").
//
//   cpu_peak_bench [--threads N]   (N: 0 = every core this process may use)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <immintrin.h>
#include <sched.h>

namespace {

constexpr int kChains = 12;  // independent accumulators: enough to hide the instruction latency
constexpr long kIterations = 100'000'000;

// Keeps the results alive (stored, summed) so the loops are not optimised away.
__attribute__((target("avx512f"))) float sum_lanes(const __m512 (&acc)[kChains]) {
  alignas(64) float lanes[16];
  float sum = 0;
  for (const __m512& a : acc) {
    _mm512_store_ps(lanes, a);
    for (const float v : lanes)
      sum += v;
  }
  return sum;
}

// Each returns GFLOP/s of one thread. The asm barrier keeps the operands in registers without
// letting the compiler fold the loop away.
__attribute__((target("avx512f"))) double fma_f32_gflops() {
  __m512 acc[kChains];
  for (auto& a : acc)
    a = _mm512_setzero_ps();
  __m512 x = _mm512_set1_ps(1.0f), y = _mm512_set1_ps(1e-9f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long n = 0; n < kIterations; ++n) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i)
      acc[i] = _mm512_fmadd_ps(x, y, acc[i]);
    __asm__ volatile("" : "+v"(x));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (sum_lanes(acc) == 1.2345f) std::puts("");
  return kIterations * kChains * 32.0 / s / 1e9;  // 16 lanes x (mul + add)
}

__attribute__((target("avx512f,avx512bf16"))) double dot_bf16_gflops() {
  __m512 acc[kChains];
  for (auto& a : acc)
    a = _mm512_setzero_ps();
  __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3000);
  const auto t0 = std::chrono::steady_clock::now();
  for (long n = 0; n < kIterations; ++n) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i)
      acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
    __asm__ volatile("" : "+v"(x));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (sum_lanes(acc) == 1.2345f) std::puts("");
  return kIterations * kChains * 64.0 / s / 1e9;  // 32 bfloat16 pairs x (mul + add)
}

double on_threads(int threads, double (*kernel)()) {
  std::vector<double> rates(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&rates, t, kernel] { rates[t] = kernel(); });
  for (auto& th : pool)
    th.join();
  double total = 0;
  for (double r : rates)
    total += r;
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: cpu_peak_bench [--threads N]\n");
      return 2;
    }
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  const int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  if (threads <= 0) threads = cores;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f")) {
    std::printf("no AVX-512 on this CPU: nothing to measure\n");
    return 0;
  }
  std::printf("threads: 1 and %d (of %d cores)\n", threads, cores);
  std::printf("float32 FMA (AVX-512):        %7.0f GFLOP/s on 1, %7.0f on %d\n", fma_f32_gflops(),
              on_threads(threads, fma_f32_gflops), threads);
  if (__builtin_cpu_supports("avx512bf16")) {
    std::printf("bfloat16 dot (AVX512_BF16):   %7.0f GFLOP/s on 1, %7.0f on %d\n",
                dot_bf16_gflops(), on_threads(threads, dot_bf16_gflops), threads);
  } else {
    std::printf("bfloat16 dot: no AVX512_BF16 on this CPU\n");
  }
  return 0;
}
