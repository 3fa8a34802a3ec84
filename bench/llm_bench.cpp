// Decoder LLM benchmark on the random-weight `real-0.5b` model (Qwen2-0.5B dimensions), CPU.
//
// Prints, in one run: the machine's float32 matmul GFLOP/s (the baseline), prefill tokens/s at
// several prompt lengths with achieved FLOP/s as a fraction of that baseline, decode tokens/s
// at a long context, and peak RSS per stage. FLOPs use methods.md section 7's "exact" count
// (2 FLOPs per multiply-add, GQA-aware projections, SwiGLU's three matrices, causal attention,
// one LM-head row); the paper-style count is printed beside it, never mixed.
//
//   llm_bench [--model DIR] [--threads N] [--sizes 1024,4096,8192] [--repeat R]
//             [--decode-context 4096] [--decode-steps 32] [--dtype float32|bfloat16]
// --dtype bfloat16 loads the weights as bfloat16 and adds a bfloat16 GEMM line to the baseline;
// "of matmul" stays relative to the float32 baseline so two runs compare directly.
// Without --model the model is generated once into <build>/bench-work/qwen2-real-0.5b.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <sys/resource.h>
#include <torch/version.h>

#include "clipmind/error.h"
#include "models/llm/decoder.h"
#include "models/llm/runtime.h"
#include "models/tiny/tiny_model.h"

namespace {

using namespace clipmind::models;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Peak resident set since the last reset_peak_rss(), in MiB (VmHWM).
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

double current_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

// Best-of-N GEMM throughput (float32 unless told) for C[m,n] = A[m,k] B[k,n].
double matmul_gflops(int64_t m, int64_t k, int64_t n, int reps, at::ScalarType dtype = at::kFloat) {
  const at::Tensor a = at::randn({m, k}).to(dtype);
  const at::Tensor b = at::randn({k, n}).to(dtype);
  at::Tensor c = at::mm(a, b);  // warm-up
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    c = at::mm(a, b);
    const double s = seconds_since(start);
    best = std::max(best, 2.0 * static_cast<double>(m) * static_cast<double>(k) *
                              static_cast<double>(n) / s / 1e9);
  }
  return best;
}

// methods.md section 7, "exact" count.
double exact_prefill_flops(const DecoderConfig& c, double n) {
  const double d = static_cast<double>(c.hidden_size), m = static_cast<double>(c.intermediate_size);
  const double hkv = static_cast<double>(c.num_kv_heads), hq = static_cast<double>(c.num_heads);
  const double hd = static_cast<double>(c.head_dim), V = static_cast<double>(c.vocab_size);
  const double per_layer =
      2 * n * d * d * 2 + 2 * n * d * hkv * hd * 2 + 6 * n * d * m + 4 * hd * hq * n * (n + 1) / 2;
  return static_cast<double>(c.num_layers) * per_layer + 2 * d * V;
}

// methods.md section 7, paper-compatible (FastV) count.
double paper_prefill_flops(const DecoderConfig& c, double n) {
  const double d = static_cast<double>(c.hidden_size), m = static_cast<double>(c.intermediate_size);
  return static_cast<double>(c.num_layers) * (4 * n * d * d + 2 * n * n * d + 2 * n * d * m);
}

std::vector<int64_t> random_ids(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (auto& id : ids)
    id = static_cast<int64_t>(rng() % static_cast<uint64_t>(vocab));
  return ids;
}

std::vector<int64_t> parse_sizes(const std::string& text) {
  std::vector<int64_t> sizes;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ','))
    sizes.push_back(std::stoll(item));
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model;
  int threads = 0;
  std::vector<int64_t> sizes = {1024, 4096, 8192};
  int repeat = 1;
  int64_t decode_context = 4096;
  int decode_steps = 32;
  std::string dtype_arg = "float32";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "llm_bench: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--model") {
      model = value();
    } else if (arg == "--threads") {
      threads = std::stoi(value());
    } else if (arg == "--sizes") {
      sizes = parse_sizes(value());
    } else if (arg == "--repeat") {
      repeat = std::max(1, std::stoi(value()));
    } else if (arg == "--decode-context") {
      decode_context = std::stoll(value());
    } else if (arg == "--decode-steps") {
      decode_steps = std::stoi(value());
    } else if (arg == "--dtype") {
      dtype_arg = value();
    } else {
      std::fprintf(
          stderr,
          "usage: llm_bench [--model DIR] [--threads N] [--sizes 1024,4096,8192] [--repeat R] "
          "[--decode-context N] [--decode-steps N] [--dtype float32|bfloat16]\n");
      return 2;
    }
  }
  try {
    const int used_threads = set_compute_threads(threads);
    if (model.empty()) {
      model = std::string(CLIPMIND_BENCH_WORK_DIR) + "/qwen2-real-0.5b";
      if (!std::filesystem::exists(std::filesystem::path(model) / "model.safetensors")) {
        std::printf("generating %s (random weights, Qwen2-0.5B dims) ...\n", model.c_str());
        std::fflush(stdout);
        std::filesystem::remove_all(model);
        TinyModelOptions options;
        options.dims = TinyDims::kReal05B;
        write_tiny_model("qwen2", model, options);
      }
    }
    std::printf("threads: %d (cores available: %d), LibTorch %s\n", used_threads, available_cores(),
                TORCH_VERSION);

    // Baseline: float32 GEMM, square and with the model's MLP shape; the larger is the reference.
    const double square = matmul_gflops(2048, 2048, 2048, 5);
    const double mlp_shape = matmul_gflops(4096, 896, 4864, 5);
    const double baseline = std::max(square, mlp_shape);
    std::printf(
        "matmul float32: %.1f GFLOP/s (2048^3), %.1f GFLOP/s (4096x896x4864); baseline %.1f "
        "GFLOP/s\n",
        square, mlp_shape, baseline);

    DecoderOptions load_options;
    load_options.dtype = parse_dtype(dtype_arg);
    if (load_options.dtype != at::kFloat) {
      std::printf("matmul %s: %.1f GFLOP/s (4096x896x4864)\n",
                  dtype_name(load_options.dtype).c_str(),
                  matmul_gflops(4096, 896, 4864, 5, load_options.dtype));
    }

    reset_peak_rss();
    const auto load_start = Clock::now();
    const Decoder decoder = Decoder::load(model, load_options);
    const DecoderConfig& config = decoder.config();
    std::printf(
        "model: %s, %lld layers, hidden %lld, vocab %lld; loaded in %.1f s, %.0f MiB of %s "
        "weights, peak RSS %.0f MiB\n",
        model.c_str(), static_cast<long long>(config.num_layers),
        static_cast<long long>(config.hidden_size), static_cast<long long>(config.vocab_size),
        seconds_since(load_start), static_cast<double>(decoder.parameter_bytes()) / (1 << 20),
        dtype_name(load_options.dtype).c_str(), peak_rss_mib());

    std::printf("\n%-8s %-10s %-12s %-14s %-10s %-16s %-12s\n", "tokens", "seconds", "tokens/s",
                "exact GFLOP/s", "of matmul", "paper TFLOP", "peak RSS MiB");
    for (const int64_t n : sizes) {
      std::vector<double> times;
      double peak = 0;
      for (int r = 0; r < repeat; ++r) {
        KvCache cache = decoder.new_cache();
        const auto ids = random_ids(n, config.vocab_size, static_cast<uint64_t>(n + r));
        reset_peak_rss();
        const auto start = Clock::now();
        decoder.forward(PromptInput::tokens(ids), cache);
        times.push_back(seconds_since(start));
        peak = std::max(peak, peak_rss_mib());
      }
      const double best = *std::min_element(times.begin(), times.end());
      const double flops = exact_prefill_flops(config, static_cast<double>(n));
      std::printf("%-8lld %-10.2f %-12.1f %-14.1f %-10.2f %-16.3f %-12.0f",
                  static_cast<long long>(n), best, static_cast<double>(n) / best,
                  flops / best / 1e9, flops / best / 1e9 / baseline,
                  paper_prefill_flops(config, static_cast<double>(n)) / 1e12, peak);
      if (repeat > 1) {
        std::printf(" (all runs:");
        for (const double t : times)
          std::printf(" %.2f", t);
        std::printf(" s)");
      }
      std::printf("\n");
      std::fflush(stdout);
    }

    if (decode_steps > 0) {
      KvCache cache = decoder.new_cache();
      decoder.forward(PromptInput::tokens(random_ids(decode_context, config.vocab_size, 99)),
                      cache);
      std::mt19937_64 rng(7);
      reset_peak_rss();
      const auto start = Clock::now();
      for (int s = 0; s < decode_steps; ++s) {
        const int64_t id = static_cast<int64_t>(rng() % static_cast<uint64_t>(config.vocab_size));
        decoder.forward(PromptInput::tokens({id}), cache);
      }
      const double seconds = seconds_since(start);
      std::printf(
          "\ndecode at %lld context: %d tokens in %.2f s = %.2f tokens/s (%.0f ms/token), peak RSS "
          "%.0f MiB\n",
          static_cast<long long>(decode_context), decode_steps, seconds, decode_steps / seconds,
          1000.0 * seconds / decode_steps, peak_rss_mib());
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("process peak RSS: %.0f MiB (current %.0f MiB)\n",
                static_cast<double>(usage.ru_maxrss) / 1024.0, current_rss_mib());
  } catch (const clipmind::Error& e) {
    std::fprintf(stderr, "llm_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
