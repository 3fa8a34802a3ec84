// Process-wide compute settings for LibTorch, and parsing of device/dtype names.
//
// ATen's intra-op thread pool starts with one thread in this build, and OpenBLAS (which runs
// LibTorch's matrix products on CPU) keeps its own pool; set_compute_threads() sets both. Call
// it once at start-up from the front end (CLI, pipeline, benchmarks) before heavy work; it is
// not meant to be changed while other threads run tensor code.
#pragma once

#include <string>
#include <string_view>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace clipmind::models {

// Sets the number of threads for tensor operations; n <= 0 means one per available core, and
// n above the available cores is lowered to them. Returns the number set.
int set_compute_threads(int n = 0);
int compute_threads();
// Cores this process may run on (sched affinity), at least 1.
int available_cores();

// "cpu", "cuda", "cuda:1". Throws kInvalidArgument for other names and kUnsupported when
// LibTorch was built without CUDA or the device does not exist.
c10::Device parse_device(std::string_view name);
// "float32"/"f32"/"fp32", "bfloat16"/"bf16", "float16"/"f16"/"fp16". Throws kInvalidArgument.
c10::ScalarType parse_dtype(std::string_view name);
// True when this CPU runs bfloat16 matrix products natively (x86 AVX512_BF16, which AMX CPUs also
// have) and LibTorch has oneDNN to use them. Elsewhere bfloat16 GEMMs are emulated and slower than
// float32.
bool cpu_has_native_bfloat16();
// parse_dtype(), plus "auto": bfloat16 on CUDA and on CPUs with cpu_has_native_bfloat16(), float32
// otherwise. bfloat16 is what the LLaVA-OneVision and SigLIP weights are published in; on such a
// CPU it runs the tower 2.8x and the LLM's prefill 3.7x faster than float32 (docs/benchmarks.md).
c10::ScalarType choose_dtype(std::string_view name, c10::Device device);
// Throws kUnsupported when `dtype` cannot run decoder arithmetic on `device` in this LibTorch
// (float16 needs CUDA).
void check_dtype_supported(c10::ScalarType dtype, c10::Device device);
std::string dtype_name(c10::ScalarType dtype);

}  // namespace clipmind::models
