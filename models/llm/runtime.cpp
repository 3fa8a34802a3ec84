#include "models/llm/runtime.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <thread>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sched.h>

#include "clipmind/error.h"

// OpenBLAS keeps its own thread pool; these resolve only when the BLAS LibTorch loaded is
// OpenBLAS (weak: null otherwise).
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
extern "C" int openblas_get_num_threads() __attribute__((weak));

namespace clipmind::models {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

int set_compute_threads(int n) {
  // More compute threads than cores only adds switching (and a huge count exhausts memory
  // creating OpenMP threads), so the count is lowered to the cores this process may use.
  const int cores = available_cores();
  if (n <= 0 || n > cores) n = cores;
  at::set_num_threads(n);
  if (openblas_set_num_threads) openblas_set_num_threads(n);
  return n;
}

int compute_threads() {
  return at::get_num_threads();
}

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}
}  // namespace

c10::Device parse_device(std::string_view name) {
  const std::string n = lower(name);
  if (n == "cpu") return c10::Device(c10::kCPU);
  if (n == "cuda" || n.rfind("cuda:", 0) == 0) {
    if (!at::hasCUDA()) {
      throw Error(ErrorKind::kUnsupported,
                  "device '" + std::string(name) +
                      "': CUDA is not available (this LibTorch was built without CUDA, or no "
                      "NVIDIA GPU and driver are visible)");
    }
    int index = 0;
    if (n.size() > 5) {
      try {
        index = std::stoi(n.substr(5));
      } catch (const std::exception&) {
        throw Error(ErrorKind::kInvalidArgument,
                    "device '" + std::string(name) + "': bad CUDA index");
      }
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error(ErrorKind::kInvalidArgument,
              "unknown device '" + std::string(name) + "' (use cpu or cuda[:N])");
}

c10::ScalarType parse_dtype(std::string_view name) {
  const std::string n = lower(name);
  if (n == "float32" || n == "f32" || n == "fp32" || n == "float") return c10::kFloat;
  if (n == "bfloat16" || n == "bf16") return c10::kBFloat16;
  if (n == "float16" || n == "f16" || n == "fp16" || n == "half") return c10::kHalf;
  throw Error(ErrorKind::kInvalidArgument,
              "unknown dtype '" + std::string(name) + "' (use float32, bfloat16 or float16)");
}

bool cpu_has_native_bfloat16() {
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports also checks that the OS saves the AVX-512 state.
  return at::hasMKLDNN() && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

c10::ScalarType choose_dtype(std::string_view name, c10::Device device) {
  if (lower(name) != "auto") return parse_dtype(name);
  if (device.is_cuda()) return c10::kBFloat16;
  return cpu_has_native_bfloat16() ? c10::kBFloat16 : c10::kFloat;
}

void check_dtype_supported(c10::ScalarType dtype, c10::Device device) {
  if (dtype == c10::kFloat || dtype == c10::kBFloat16) return;
  if (dtype == c10::kHalf && device.is_cuda()) return;
  throw Error(ErrorKind::kUnsupported, "dtype " + dtype_name(dtype) + " is not supported on " +
                                           device.str() + " (use float32 or bfloat16 on CPU)");
}

std::string dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::kFloat:
      return "float32";
    case c10::kBFloat16:
      return "bfloat16";
    case c10::kHalf:
      return "float16";
    default:
      return c10::toString(dtype);
  }
}

}  // namespace clipmind::models
