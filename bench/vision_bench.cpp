// SigLIP vision tower throughput on CPU (docs/benchmarks.md "Vision tower").
//
// Model: the LLaVA-OneVision tower at real dimensions (SigLIP-so400m, 26 layers, 1152 hidden,
// 16 heads, 4304 MLP, 384 px -> 729 patches), random weights written once by the tiny-model
// writer (`--arch siglip --dims real-0.5b`) and cached under the build tree. Work per frame is the
// LLaVA video path's: all 26 layers, hidden_states[-1] without post_layernorm, plus HoliTom's
// attention A from the last layer.
//
// Baseline in the same run: float32 GEMM throughput of at::mm at the tower's own largest shape
// ([4*729, 1152] x [1152, 4304]) and at 2048^3; the best is "the machine's matmul GFLOP/s".
// Achieved FLOP/s counts 2 FLOPs per multiply-add of every GEMM in the tower (patch embedding,
// q/k/v/out, QK^T, AV, MLP); norms, softmax and GELU are not counted. Peak RSS (VmHWM) is read
// after loading and after encoding all frames.
//
// --dtype float32,bfloat16 loads the tower once per dtype and encodes every micro-batch in each
// dtype in turn (same frames, interleaved so machine drift hits both alike); each dtype is compared
// with the GEMM baseline of its own dtype, and the s/frame ratio against the first dtype is
// printed.
//
//   vision_bench [--model DIR] [--frames 64] [--micro-batch 4] [--threads 0] [--cache DIR]
//                [--dtype float32[,bfloat16]]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "clipmind/error.h"
#include "models/llm/runtime.h"
#include "models/vision/image_preprocess.h"
#include "models/vision/siglip_vision_model.h"
#include "models/vlm/tiny_vlm.h"

namespace fs = std::filesystem;
using clipmind::models::SiglipVisionConfig;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds of all threads of this process: on a shared machine other processes take cores
// away, so FLOPs per CPU-second compares the tower with the GEMM baseline fairly.
double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

long rss_kib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::string(key).size());
  }
  return -1;
}

double gemm_gflops(int64_t m, int64_t k, int64_t n, int reps, double* per_cpu_second = nullptr,
                   at::ScalarType dtype = at::kFloat) {
  const at::Tensor a = at::randn({m, k}).to(dtype);
  const at::Tensor b = at::randn({k, n}).to(dtype);
  at::Tensor c = at::mm(a, b);  // warm-up
  const double work =
      2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n);
  double best = 1e30;
  double best_cpu = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    const double c0 = cpu_now();
    at::mm_out(c, a, b);
    best = std::min(best, now() - t0);
    best_cpu = std::min(best_cpu, cpu_now() - c0);
  }
  if (per_cpu_second) *per_cpu_second = work / best_cpu / 1e9;
  return work / best / 1e9;
}

double tower_flops_per_frame(const SiglipVisionConfig& c, int64_t layers) {
  const double n = static_cast<double>(c.num_positions());
  const double d = static_cast<double>(c.hidden_size);
  const double m = static_cast<double>(c.intermediate_size);
  const double patch = 2.0 * n * (3.0 * c.patch_size * c.patch_size) * d;
  const double per_layer = 2.0 * n * d * (4.0 * d + 2.0 * m) + 4.0 * n * n * d;
  return patch + per_layer * static_cast<double>(layers);
}

}  // namespace

int main(int argc, char** argv) {
  fs::path model_dir;
  fs::path cache = fs::path(CLIPMIND_BENCH_WORK_DIR) / "siglip-real-0.5b";
  int64_t frames = 64;
  int64_t micro_batch = 4;
  int threads = 0;
  std::vector<at::ScalarType> dtypes = {at::kFloat};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "vision_bench: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--model") {
      model_dir = value();
    } else if (arg == "--cache") {
      cache = value();
    } else if (arg == "--frames") {
      frames = std::stoll(value());
    } else if (arg == "--micro-batch") {
      micro_batch = std::stoll(value());
    } else if (arg == "--threads") {
      threads = std::stoi(value());
    } else if (arg == "--dtype") {
      dtypes.clear();
      std::stringstream list(value());
      std::string name;
      try {
        while (std::getline(list, name, ','))
          dtypes.push_back(clipmind::models::parse_dtype(name));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "vision_bench: %s\n", e.what());
        return 2;
      }
      if (dtypes.empty()) dtypes = {at::kFloat};
    } else {
      std::fprintf(stderr,
                   "usage: vision_bench [--model DIR] [--cache DIR] [--frames N] "
                   "[--micro-batch B] [--threads T] [--dtype float32[,bfloat16]]\n");
      return 2;
    }
  }
  try {
    const int used_threads = clipmind::models::set_compute_threads(threads);
    std::printf("threads: %d (cores available: %d)\n", used_threads,
                clipmind::models::available_cores());

    // Baseline: float32 GEMM throughput.
    const double g_tower = gemm_gflops(4 * 729, 1152, 4304, 5);
    const double g_square = gemm_gflops(2048, 2048, 2048, 5);
    const double matmul = std::max(g_tower, g_square);
    std::printf(
        "matmul float32: %.1f GFLOP/s at [2916x1152]x[1152x4304], %.1f GFLOP/s at 2048^3"
        " -> baseline %.1f GFLOP/s\n",
        g_tower, g_square, matmul);

    if (model_dir.empty()) {
      model_dir = cache;
      if (!fs::exists(model_dir / "model.safetensors")) {
        std::printf("writing the real-0.5b SigLIP tower to %s ...\n", model_dir.c_str());
        const fs::path temp = model_dir.string() + ".part";
        fs::remove_all(temp);
        clipmind::models::write_tiny_siglip_vision(temp, "real-0.5b", 1);
        fs::remove_all(model_dir);
        fs::rename(temp, model_dir);
      }
    }
    const long rss_before_load = rss_kib("VmRSS:");
    struct Run {
      at::ScalarType dtype;
      clipmind::models::SiglipVisionModel model;
      double seconds = 0, cpu = 0, baseline_sum = 0, baseline_cpu_sum = 0;
      std::vector<double> ratios;
    };
    std::vector<Run> runs;
    for (const at::ScalarType dtype : dtypes) {
      clipmind::models::VisionRuntime runtime;
      runtime.dtype = dtype;
      const double t_load = now();
      runs.push_back(
          {dtype, clipmind::models::load_siglip_vision_model(model_dir, runtime), 0, 0, 0, 0, {}});
      const auto& config = runs.back().model.config;
      std::printf(
          "loaded %s as %s in %.1f s (%lld layers, %lldx%lld patches); RSS %.0f -> %.0f "
          "MiB\n",
          model_dir.c_str(), clipmind::models::dtype_name(dtype).c_str(), now() - t_load,
          static_cast<long long>(config.num_layers), static_cast<long long>(config.grid()),
          static_cast<long long>(config.grid()), rss_before_load / 1024.0,
          rss_kib("VmRSS:") / 1024.0);
    }
    const auto& model = runs.front().model;
    if (dtypes.size() > 1 || dtypes.front() != at::kFloat) {
      for (const at::ScalarType dtype : dtypes) {
        std::printf("matmul %s: %.1f GFLOP/s at [2916x1152]x[1152x4304]\n",
                    clipmind::models::dtype_name(dtype).c_str(),
                    gemm_gflops(4 * 729, 1152, 4304, 3, nullptr, dtype));
      }
    }

    // Frames: random RGB at the model size (decode can deliver 384x384 directly) and a 640x360
    // frame to time the resize.
    const int64_t size = model.config.image_size;
    std::vector<uint8_t> rgb(static_cast<size_t>(size * size * 3));
    for (size_t i = 0; i < rgb.size(); ++i)
      rgb[i] = static_cast<uint8_t>((i * 2654435761u) >> 24);
    std::vector<uint8_t> wide(static_cast<size_t>(640 * 360 * 3));
    for (size_t i = 0; i < wide.size(); ++i)
      wide[i] = static_cast<uint8_t>((i * 40503u) >> 8);
    {
      const clipmind::models::RgbImageView view{wide.data(), 360, 640, 0};
      const std::vector<clipmind::models::RgbImageView> views(16, view);
      const double t0 = now();
      (void)clipmind::models::preprocess_frames(views, model.preprocess, at::kFloat, at::kCPU);
      std::printf("preprocess 640x360 -> %lldx%lld (bicubic AA): %.2f ms/frame\n",
                  static_cast<long long>(size), static_cast<long long>(size),
                  (now() - t0) / 16 * 1000);
    }

    clipmind::models::VisionRequest request;
    request.layers = {model.config.num_layers};
    request.attention = true;
    const double flops = tower_flops_per_frame(model.config, model.config.num_layers);
    const clipmind::models::RgbImageView frame{rgb.data(), size, size, 0};
    at::NoGradGuard no_grad;
    for (const Run& run : runs) {  // warm-up
      const std::vector<clipmind::models::RgbImageView> one(1, frame);
      (void)run.model.tower.forward(
          clipmind::models::preprocess_frames(one, model.preprocess, at::kFloat, at::kCPU),
          request);
    }
    const long hwm_before = rss_kib("VmHWM:");
    std::printf("encoding %lld frames in micro-batches of %lld (%.1f GFLOP per frame) ...\n",
                static_cast<long long>(frames), static_cast<long long>(micro_batch), flops / 1e9);
    // This machine is shared: its GEMM speed drifts. Re-measure the baseline right before every
    // micro-batch and compare each batch with its own baseline as well as the totals.
    int batches = 0;
    for (int64_t b = 0; b < frames; b += micro_batch) {
      const int64_t n = std::min(micro_batch, frames - b);
      ++batches;
      for (Run& run : runs) {
        double baseline_cpu = 0;
        const double baseline = gemm_gflops(4 * 729, 1152, 4304, 2, &baseline_cpu, run.dtype);
        run.baseline_cpu_sum += baseline_cpu;
        run.baseline_sum += baseline;
        const std::vector<clipmind::models::RgbImageView> views(static_cast<size_t>(n), frame);
        const double tb = now();
        const double cb = cpu_now();
        const at::Tensor pixels =
            clipmind::models::preprocess_frames(views, model.preprocess, at::kFloat, at::kCPU);
        const auto out = run.model.tower.forward(pixels, request);
        if (!out.attention.defined()) throw std::runtime_error("no attention");
        const double dt = now() - tb;
        run.cpu += cpu_now() - cb;
        run.seconds += dt;
        run.ratios.push_back(flops * static_cast<double>(n) / dt / 1e9 / baseline);
        std::printf("  batch %d %s: %.2f s/frame, %.1f GFLOP/s, baseline %.1f GFLOP/s -> %.0f%%\n",
                    batches, clipmind::models::dtype_name(run.dtype).c_str(),
                    dt / static_cast<double>(n), flops * static_cast<double>(n) / dt / 1e9,
                    baseline, 100.0 * run.ratios.back());
        std::fflush(stdout);
      }
    }
    for (Run& run : runs) {
      std::sort(run.ratios.begin(), run.ratios.end());
      const double fps = static_cast<double>(frames) / run.seconds;
      const double achieved = fps * flops / 1e9;
      const double mean_baseline = run.baseline_sum / batches;
      const std::string name = clipmind::models::dtype_name(run.dtype);
      std::printf("%s frames/s: %.3f (%.2f s/frame)\n", name.c_str(), fps, 1.0 / fps);
      std::printf(
          "%s achieved: %.1f GFLOP/s = %.0f%% of the mean per-batch %s matmul baseline "
          "(%.1f GFLOP/s); median per-batch ratio %.0f%%; vs the float32 start-up "
          "baseline %.0f%%\n",
          name.c_str(), achieved, 100.0 * achieved / mean_baseline, name.c_str(), mean_baseline,
          100.0 * run.ratios[run.ratios.size() / 2], 100.0 * achieved / matmul);
      const double per_cpu = flops * static_cast<double>(frames) / run.cpu / 1e9;
      std::printf(
          "%s per CPU-second (robust to other processes): tower %.1f GFLOP, matmul %.1f "
          "GFLOP -> %.0f%%\n",
          name.c_str(), per_cpu, run.baseline_cpu_sum / batches,
          100.0 * per_cpu / (run.baseline_cpu_sum / batches));
    }
    for (size_t i = 1; i < runs.size(); ++i) {
      std::printf("%s vs %s (same run, interleaved): %.2fx the speed (s/frame %.2f vs %.2f)\n",
                  clipmind::models::dtype_name(runs[i].dtype).c_str(),
                  clipmind::models::dtype_name(runs[0].dtype).c_str(),
                  runs[0].seconds / runs[i].seconds, runs[i].seconds / static_cast<double>(frames),
                  runs[0].seconds / static_cast<double>(frames));
    }
    std::printf("peak RSS: %.0f MiB after load+warm-up, %.0f MiB after %lld frames\n",
                hwm_before / 1024.0, rss_kib("VmHWM:") / 1024.0, static_cast<long long>(frames));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vision_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
