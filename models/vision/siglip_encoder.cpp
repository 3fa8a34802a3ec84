#include "models/vision/siglip_encoder.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "clipmind/error.h"

namespace clipmind::models {
namespace {

// Bytes of attention scores (float32) materialised at once; sequences are processed in chunks
// that fit. One SigLIP-so400m frame needs 16 x 729 x 729 x 4 = 34 MB.
constexpr int64_t kAttentionScoreBudget = int64_t{64} << 20;

std::string layer_prefix(const std::string& prefix, int64_t i) {
  return prefix + "layers." + std::to_string(i) + ".";
}

}  // namespace

LayerCheck cancel_check(const CancelToken& token) {
  return [token](int64_t) { token.throw_if_cancelled(); };
}

LayerCheck chain_checks(LayerCheck first, LayerCheck then) {
  if (!first) return then;
  if (!then) return first;
  return [first = std::move(first), then = std::move(then)](int64_t layer) {
    first(layer);
    then(layer);
  };
}

at::Tensor linear_rows(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  std::vector<int64_t> sizes = x.sizes().vec();
  const int64_t in = sizes.back();
  const at::Tensor rows = x.reshape({-1, in});
  at::Tensor y = bias.defined() ? at::addmm(bias, rows, weight.t()) : at::mm(rows, weight.t());
  sizes.back() = weight.size(0);
  return y.view(sizes);
}

namespace {

bool reduced_precision_cpu(const at::Tensor& t) {
  return t.is_cpu() && (t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kHalf);
}

at::Tensor to_float_if_defined(const at::Tensor& t) {
  return t.defined() ? t.to(at::kFloat) : t;
}

// float32 elements each thread converts and processes at a time in the reduced-precision row
// kernels below: large enough that ATen's per-op dispatch (~5-10 us) stays negligible, small
// enough that a chunk and its float32 scratch stay in cache instead of a whole-tensor float32
// round trip through memory. Measured on so400m shapes (2 threads, one 4-frame layer): chunks of
// 8 rows of 4304 were 2.8x slower than 64-128 rows (dispatch); 64-128 rows (0.25-0.5 M
// elements) were equally fast.
constexpr int64_t kChunkElements = int64_t{1} << 18;

int64_t chunk_rows(int64_t width) {
  return std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, width));
}

// Two float32 scratch buffers of one chunk, owned by one thread for one call.
class ChunkScratch {
 public:
  explicit ChunkScratch(int64_t width) : width_(width), rows_(chunk_rows(width)) {}
  at::Tensor first(int64_t rows) { return view(first_, rows); }
  at::Tensor second(int64_t rows) { return view(second_, rows); }

 private:
  at::Tensor view(at::Tensor& buffer, int64_t rows) {
    if (!buffer.defined()) buffer = at::empty({rows_, width_}, at::TensorOptions(at::kFloat));
    return buffer.narrow(0, 0, rows);
  }
  int64_t width_;
  int64_t rows_;
  at::Tensor first_, second_;
};

// Calls f(first_row, rows, scratch) for consecutive chunks of at most chunk_rows(width) rows of
// a [rows, width] tensor, split over ATen's threads (one contiguous range per thread, so the ATen
// ops inside f run single-threaded on data that stays in that core's cache).
template <class F>
void for_row_chunks(int64_t rows, int64_t width, const F& f) {
  const int64_t chunk = chunk_rows(width);
  at::parallel_for(0, rows, chunk, [&](int64_t begin, int64_t end) {
    ChunkScratch scratch(width);
    for (int64_t r0 = begin; r0 < end; r0 += chunk)
      f(r0, std::min(chunk, end - r0), scratch);
  });
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CLIPMIND_AVX512_KERNELS 1
// GCC 12 reports its own _mm512_undefined_*() (self-initialised on purpose) as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// One pass per row straight from bfloat16 (no float32 copy of the scores): ATen's float32
// softmax spends its time in exp; this one uses a cheaper exp (below) with the same accuracy
// as far as bfloat16 output is concerned. Compiled for AVX-512 by function attribute, chosen at
// run time (cpu_has_avx512bw), so the build needs no -march flags.
#define CLIPMIND_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

bool cpu_has_avx512bw() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}

CLIPMIND_AVX512 inline __m512 load_bf16(const uint16_t* p, __mmask16 m) {
  const __m256i raw = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

// float32 -> bfloat16, round to nearest even (as c10::BFloat16's conversion; inputs are finite).
CLIPMIND_AVX512 inline void store_bf16(uint16_t* p, __m512 v, __mmask16 m) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(
      _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
  _mm256_mask_storeu_epi16(p, m, _mm512_cvtepi32_epi16(rounded));
}

// exp(x): 2^n * 2^f with n = round(x log2 e), |f| <= 0.5, 2^f by its degree-6 Taylor polynomial
// (relative error < 2e-7, far below bfloat16's 2^-9), scaled by vscalefps (0 below float's
// range, inf above; x log2 e is clamped to +-160 so f stays finite for infinite inputs).
CLIPMIND_AVX512 inline __m512 fast_exp(__m512 x) {
  const __m512 t =
      _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _mm512_set1_ps(-160.0f)),
                    _mm512_set1_ps(160.0f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_mul_ps(_mm512_sub_ps(t, n), _mm512_set1_ps(0.693147180559945309f));
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF)
                    : static_cast<__mmask16>((1u << static_cast<unsigned>(left)) - 1u);
}

// Rows [begin, end) of a [rows, n] bfloat16 matrix, softmaxed in place; `wide` holds n floats;
// when `sums` is set, each row's float32 probabilities are added to it.
CLIPMIND_AVX512 void softmax_rows_bf16_avx512(uint16_t* data, int64_t n, int64_t begin, int64_t end,
                                              float* wide, float* sums) {
  for (int64_t r = begin; r < end; ++r) {
    uint16_t* row = data + r * n;
    __m512 vmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 m = tail_mask(n - j);
      vmax = _mm512_mask_max_ps(vmax, m, vmax, load_bf16(row + j, m));
    }
    const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(vmax));
    __m512 vsum = _mm512_setzero_ps();
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 m = tail_mask(n - j);
      const __m512 e = fast_exp(_mm512_sub_ps(load_bf16(row + j, m), mx));
      vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
      _mm512_mask_storeu_ps(wide + j, m, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(vsum));
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 m = tail_mask(n - j);
      const __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, wide + j), inv);
      store_bf16(row + j, p, m);
      if (sums) {
        _mm512_mask_storeu_ps(sums + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sums + j), p));
      }
    }
  }
}

// tanh-GELU in place on `count` bfloat16 values, as x / (1 + exp(-2 sqrt(2/pi) (x + 0.044715
// x^3))) (== 0.5 x (1 + tanh(...))) in float32, rounded once.
CLIPMIND_AVX512 void gelu_tanh_bf16_avx512(uint16_t* data, int64_t count) {
  const __m512 c1 = _mm512_set1_ps(-1.5957691216057308f);
  const __m512 c3 = _mm512_set1_ps(-1.5957691216057308f * 0.044715f);
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t j = 0; j < count; j += 16) {
    const __mmask16 m = tail_mask(count - j);
    const __m512 x = load_bf16(data + j, m);
    const __m512 x2 = _mm512_mul_ps(x, x);
    const __m512 minus_2z = _mm512_mul_ps(x, _mm512_fmadd_ps(c3, x2, c1));
    const __m512 e = fast_exp(minus_2z);
    store_bf16(data + j, _mm512_div_ps(x, _mm512_add_ps(one, e)), m);
  }
}

#pragma GCC diagnostic pop
#endif

// 2 sqrt(2/pi): 0.5 (1 + tanh(z)) == sigmoid(2z).
constexpr double kTwoSqrtTwoOverPi = 1.5957691216057308;
constexpr double kGeluCubic = 0.044715;

// rows: a contiguous reduced-precision CPU [R, W] tensor.
void gelu_tanh_rows_reduced(at::Tensor& rows) {
  for_row_chunks(rows.size(0), rows.size(1), [&](int64_t r0, int64_t r, ChunkScratch& scratch) {
    at::Tensor chunk = rows.narrow(0, r0, r);
    at::Tensor x = scratch.first(r);
    at::Tensor t = scratch.second(r);
    x.copy_(chunk);
    // tanh-GELU as x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)): the same function, but ATen's
    // float32 sigmoid is ~2x faster than its tanh-GELU kernel (so400m MLP, 4 frames, 2 threads:
    // 10 vs 20 ms).
    at::mul_out(t, x, x);
    t.mul_(kGeluCubic * kTwoSqrtTwoOverPi).add_(kTwoSqrtTwoOverPi);
    t.mul_(x);
    at::sigmoid_(t);
    at::mul_out(chunk, x, t);  // computed in float32, rounded once to the model dtype
  });
}

}  // namespace

void gelu_inplace(at::Tensor& x, GeluKind kind) {
  // Only the tanh form is slow in bfloat16 (the erf form is vectorised and as fast as float32).
  if (kind != GeluKind::kTanh || !reduced_precision_cpu(x)) {
    at::gelu_(x, kind == GeluKind::kTanh ? "tanh" : "none");
    return;
  }
  if (x.numel() == 0) return;
#ifdef CLIPMIND_AVX512_KERNELS
  if (x.is_contiguous() && x.scalar_type() == at::kBFloat16 && cpu_has_avx512bw()) {
    auto* data = reinterpret_cast<uint16_t*>(x.data_ptr<at::BFloat16>());
    at::parallel_for(0, x.numel(), kChunkElements / 8, [&](int64_t begin, int64_t end) {
      gelu_tanh_bf16_avx512(data + begin, end - begin);
    });
    return;
  }
#endif
  if (x.is_contiguous()) {
    at::Tensor rows = x.view({-1, x.size(-1)});
    gelu_tanh_rows_reduced(rows);
    return;
  }
  at::Tensor dense = x.contiguous();
  gelu_inplace(dense, kind);
  x.copy_(dense);
}

void layer_norm_last_out(at::Tensor& out, const at::Tensor& x, const at::Tensor& weight,
                         const at::Tensor& bias, double eps) {
  const int64_t d = x.size(-1);
  if (!reduced_precision_cpu(x) || !out.is_contiguous() || x.numel() == 0) {
    out.copy_(layer_norm_last(x, weight, bias, eps));
    return;
  }
  const at::Tensor in = x.reshape({-1, d});
  at::Tensor rows = out.view({-1, d});
  const at::Tensor w = to_float_if_defined(weight);
  const at::Tensor b = to_float_if_defined(bias);
  for_row_chunks(in.size(0), d, [&](int64_t r0, int64_t r, ChunkScratch& scratch) {
    at::Tensor wide = scratch.first(r);
    wide.copy_(in.narrow(0, r0, r));
    rows.narrow(0, r0, r).copy_(at::layer_norm(wide, {d}, w, b, eps));
  });
}

at::Tensor layer_norm_last(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           double eps) {
  const int64_t d = x.size(-1);
  if (!reduced_precision_cpu(x) || x.numel() == 0) return at::layer_norm(x, {d}, weight, bias, eps);
  at::Tensor out = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  layer_norm_last_out(out, x, weight, bias, eps);
  return out;
}

at::Tensor softmax_last_float(const at::Tensor& scores) {
  return at::_softmax(scores.scalar_type() == at::kFloat ? scores : scores.to(at::kFloat), -1,
                      false);
}

void softmax_rows_inplace(at::Tensor& scores, at::Tensor* column_sums, int64_t rows_per_sum) {
  const int64_t n = scores.size(-1);
  const int64_t total = n == 0 ? 0 : scores.numel() / n;
  if (column_sums && (rows_per_sum <= 0 || total % rows_per_sum != 0)) {
    throw Error(ErrorKind::kInternal, "softmax_rows_inplace: " + std::to_string(total) +
                                          " rows do not split into groups of " +
                                          std::to_string(rows_per_sum));
  }
  if (!reduced_precision_cpu(scores) || !scores.is_contiguous() || total == 0) {
    const at::Tensor probs = softmax_last_float(scores);
    if (column_sums) *column_sums = probs.reshape({-1, rows_per_sum, n}).sum(1);
    scores.copy_(probs);
    return;
  }
  at::Tensor rows = scores.view({total, n});
  if (column_sums) {
    *column_sums = at::zeros({total / rows_per_sum, n}, scores.options().dtype(at::kFloat));
  }
  std::mutex sums_mutex;
#ifdef CLIPMIND_AVX512_KERNELS
  if (scores.scalar_type() == at::kBFloat16 && cpu_has_avx512bw()) {
    auto* data = reinterpret_cast<uint16_t*>(rows.data_ptr<at::BFloat16>());
    float* sums = column_sums ? column_sums->data_ptr<float>() : nullptr;
    at::parallel_for(0, total, chunk_rows(n) / 8, [&](int64_t begin, int64_t end) {
      std::vector<float> wide(static_cast<size_t>(n));
      std::vector<float> local(sums ? static_cast<size_t>(n) : 0);
      for (int64_t a = begin; a < end;) {
        // One group (sequence) at a time: its column sums are added under the lock once.
        const int64_t group = sums ? a / rows_per_sum : 0;
        const int64_t b = sums ? std::min(end, (group + 1) * rows_per_sum) : end;
        std::fill(local.begin(), local.end(), 0.0f);
        softmax_rows_bf16_avx512(data, n, a, b, wide.data(), sums ? local.data() : nullptr);
        if (sums) {
          const std::lock_guard<std::mutex> lock(sums_mutex);
          float* dst = sums + group * n;
          for (int64_t j = 0; j < n; ++j)
            dst[j] += local[static_cast<size_t>(j)];
        }
        a = b;
      }
    });
    return;
  }
#endif
  for_row_chunks(total, n, [&](int64_t r0, int64_t r, ChunkScratch& scratch) {
    at::Tensor chunk = rows.narrow(0, r0, r);
    at::Tensor wide = scratch.first(r);
    at::Tensor probs = scratch.second(r);
    wide.copy_(chunk);
    at::_softmax_out(probs, wide, -1, false);
    chunk.copy_(probs);
    if (!column_sums) return;
    // Sums from the float32 probabilities; a chunk may straddle groups.
    for (int64_t a = r0; a < r0 + r;) {
      const int64_t group = a / rows_per_sum;
      const int64_t b = std::min(r0 + r, (group + 1) * rows_per_sum);
      const at::Tensor part = probs.narrow(0, a - r0, b - a).sum(0);
      const std::lock_guard<std::mutex> lock(sums_mutex);
      (*column_sums)[group].add_(part);
      a = b;
    }
  });
}

std::vector<TensorSpec> siglip_encoder_specs(const std::string& prefix,
                                             const SiglipEncoderShape& s) {
  std::vector<TensorSpec> specs;
  const int64_t d = s.hidden_size;
  const int64_t m = s.intermediate_size;
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const std::string p = layer_prefix(prefix, i);
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      specs.push_back({p + "self_attn." + proj + ".weight", {d, d}});
      specs.push_back({p + "self_attn." + proj + ".bias", {d}});
    }
    for (const char* norm : {"layer_norm1", "layer_norm2"}) {
      specs.push_back({p + norm + ".weight", {d}});
      specs.push_back({p + norm + ".bias", {d}});
    }
    specs.push_back({p + "mlp.fc1.weight", {m, d}});
    specs.push_back({p + "mlp.fc1.bias", {m}});
    specs.push_back({p + "mlp.fc2.weight", {d, m}});
    specs.push_back({p + "mlp.fc2.bias", {d}});
  }
  return specs;
}

SiglipEncoder::SiglipEncoder(const Checkpoint& checkpoint, const std::string& prefix,
                             const SiglipEncoderShape& shape, int64_t layers_to_load,
                             at::ScalarType dtype, at::Device device)
    : shape_(shape) {
  if (layers_to_load < 0 || layers_to_load > shape.num_layers) {
    throw Error(ErrorKind::kInternal, "SiglipEncoder: cannot load " +
                                          std::to_string(layers_to_load) + " of " +
                                          std::to_string(shape.num_layers) + " layers");
  }
  const auto load = [&](const std::string& name) { return checkpoint.load(name, dtype, device); };
  // Reduced precision: the attention scale head_dim^-0.5 is folded into q's weight and bias here
  // (scaled in float32, rounded once, as the unscaled weights would be), so no pass over the
  // [heads, N, N] scores scales them. float32 keeps the unscaled weights (its GEMM applies the
  // scale as alpha for free).
  q_prescaled_ = dtype == at::kBFloat16 || dtype == at::kHalf;
  const double q_scale =
      1.0 /
      std::sqrt(static_cast<double>(shape.hidden_size / std::max<int64_t>(1, shape.num_heads)));
  const auto load_q = [&](const std::string& name) {
    if (!q_prescaled_) return load(name);
    return checkpoint.load(name, at::kFloat, device).mul_(q_scale).to(dtype);
  };
  layers_.reserve(static_cast<size_t>(layers_to_load));
  for (int64_t i = 0; i < layers_to_load; ++i) {
    const std::string p = layer_prefix(prefix, i);
    const std::string a = p + "self_attn.";
    Layer layer;
    layer.ln1_w = load(p + "layer_norm1.weight");
    layer.ln1_b = load(p + "layer_norm1.bias");
    layer.qkv_w =
        at::cat({load_q(a + "q_proj.weight"), load(a + "k_proj.weight"), load(a + "v_proj.weight")},
                0)
            .contiguous();
    layer.qkv_b =
        at::cat({load_q(a + "q_proj.bias"), load(a + "k_proj.bias"), load(a + "v_proj.bias")}, 0);
    layer.out_w = load(a + "out_proj.weight");
    layer.out_b = load(a + "out_proj.bias");
    layer.ln2_w = load(p + "layer_norm2.weight");
    layer.ln2_b = load(p + "layer_norm2.bias");
    layer.fc1_w = load(p + "mlp.fc1.weight");
    layer.fc1_b = load(p + "mlp.fc1.bias");
    layer.fc2_w = load(p + "mlp.fc2.weight");
    layer.fc2_b = load(p + "mlp.fc2.bias");
    layers_.push_back(std::move(layer));
  }
}

// Buffers reused by every layer of one forward call: after the first layer no large tensor is
// allocated, which matters on CPUs where fresh multi-megabyte allocations are page-faulted in.
struct SiglipEncoder::Workspace {
  at::Tensor x;       // [B, N, D] hidden states (the output of the last layer run)
  at::Tensor y;       // [B, N, D] after the attention block
  at::Tensor qkv;     // [B*N, 3D]
  at::Tensor ctx;     // [B*N, D]
  at::Tensor mlp;     // [B*N, M]
  at::Tensor normed;  // [B*N, D] LayerNorm output (reduced-precision CPU only)
  at::Tensor scores;  // [heads per group, N, N] float32 (CPU float path)
  at::Tensor probs;   // [heads per group, N, N] float32 (CPU float path)
  // Reduced precision on CPU: [sequences per chunk * heads, N, N] scores in the model dtype,
  // softmaxed in place in float32 row chunks (softmax_rows_inplace), and the AV output
  // [sequences per chunk * heads, N, head_dim] before it is interleaved into ctx. Preallocated
  // because fresh multi-megabyte buffers per sequence and layer are page-faulted in every time
  // (measured on so400m, 4 frames, one layer, bf16: converting and softmax took 1060 ms with
  // fresh tensors vs 90 ms with buffers).
  at::Tensor scores_low;
  at::Tensor heads_out;
  bool per_head = false;  // attention_cpu (float32 on CPU) rather than attention_batched
};

void SiglipEncoder::attention_cpu(Workspace& ws, int64_t batch, int64_t n,
                                  at::Tensor* attention) const {
  // Per sequence: the QK^T GEMMs of a group of heads (strided views of qkv; BLAS takes the row
  // stride) into one [heads, N, N] buffer, ONE softmax over the group, then the AV GEMMs. This
  // ATen build runs batched matmul far below its GEMM speed, so one GEMM per head is faster
  // than bmm. Grouping the softmax matters as much: GEMMs run on OpenBLAS's threads and softmax
  // on ATen's OpenMP pool, whose threads spin after each parallel region; alternating the two
  // 48 times per frame made the cores fight (measured on 2 cores: attention of 4 so400m frames
  // 222 ms per layer interleaved vs ~100 ms for the same ops run grouped; 3-4x when the machine
  // is loaded).
  const int64_t d = shape_.hidden_size;
  const int64_t heads = shape_.num_heads;
  const int64_t hd = d / heads;
  const int64_t group = ws.scores.size(0);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  for (int64_t b = 0; b < batch; ++b) {
    const at::Tensor rows = ws.qkv.slice(0, b * n, (b + 1) * n);
    const at::Tensor ctx = ws.ctx.slice(0, b * n, (b + 1) * n);
    at::Tensor received;
    if (attention) received = at::zeros({n}, rows.options());
    for (int64_t h0 = 0; h0 < heads; h0 += group) {
      const int64_t g = std::min(group, heads - h0);
      at::Tensor scores = ws.scores.narrow(0, 0, g);
      at::Tensor probs = ws.probs.narrow(0, 0, g);
      for (int64_t j = 0; j < g; ++j) {
        const int64_t h = h0 + j;
        at::Tensor s = scores[j];
        at::addmm_out(s, s, rows.narrow(1, h * hd, hd), rows.narrow(1, d + h * hd, hd).t(),
                      /*beta=*/0, /*alpha=*/scale);
      }
      at::_softmax_out(probs, scores, -1, false);
      if (attention) received.add_(probs.sum(at::IntArrayRef{0, 1}));
      for (int64_t j = 0; j < g; ++j) {
        const int64_t h = h0 + j;
        at::Tensor out = ctx.narrow(1, h * hd, hd);
        at::mm_out(out, probs[j], rows.narrow(1, 2 * d + h * hd, hd));
      }
    }
    // Mean over heads and queries: the attention each key token receives.
    if (attention) (*attention)[b].copy_(received.div_(static_cast<double>(heads * n)));
  }
}

void SiglipEncoder::attention_batched(Workspace& ws, int64_t batch, int64_t n,
                                      at::Tensor* attention) const {
  const int64_t d = shape_.hidden_size;
  const int64_t heads = shape_.num_heads;
  const int64_t hd = d / heads;
  const double scale = q_prescaled_ ? 1.0 : 1.0 / std::sqrt(static_cast<double>(hd));
  const at::Tensor qkv = ws.qkv.view({batch, n, 3, heads, hd});
  const at::Tensor context = ws.ctx.view({batch, n, d});
  const int64_t per_sequence = heads * n * n * 4;
  const bool buffers = ws.scores_low.defined();
  const int64_t chunk =
      buffers ? ws.scores_low.size(0) / heads
              : std::max<int64_t>(1, kAttentionScoreBudget / std::max<int64_t>(1, per_sequence));
  for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
    const int64_t b1 = std::min(batch, b0 + chunk);
    const int64_t c = b1 - b0;
    // [c, n, 3, H, hd] -> three [c*H, n, hd] operands for batched GEMMs (views when c == 1).
    const at::Tensor part = qkv.slice(0, b0, b1).permute({2, 0, 3, 1, 4});
    const at::Tensor q = part[0].reshape({c * heads, n, hd});
    const at::Tensor k = part[1].reshape({c * heads, n, hd});
    const at::Tensor v = part[2].reshape({c * heads, n, hd});
    at::Tensor out;  // [c*H, n, hd]
    if (buffers) {
      // Scores in the model dtype, softmaxed in place in float32 row chunks (no float32 copy of
      // the whole [c*H, n, n] block); the scale is already in q (q_prescaled_).
      at::Tensor low = ws.scores_low.narrow(0, 0, c * heads);
      at::bmm_out(low, q, k.transpose(1, 2));
      if (scale != 1.0) low.mul_(scale);
      at::Tensor received;  // [c, n] float32 column sums of the probabilities
      softmax_rows_inplace(low, attention ? &received : nullptr, heads * n);
      if (attention) {
        attention->slice(0, b0, b1).copy_(received.div_(static_cast<double>(heads * n)));
      }
      out = ws.heads_out.narrow(0, 0, c * heads);
      at::bmm_out(out, low, v);
    } else {
      // Scale and softmax in float32 (softmax_last_float says why not at::softmax(.., kFloat)).
      at::Tensor scores = at::bmm(q, k.transpose(1, 2)).to(at::kFloat);
      if (scale != 1.0) scores.mul_(scale);
      const at::Tensor probs = softmax_last_float(scores);
      if (attention) {
        attention->slice(0, b0, b1).copy_(probs.view({c, heads * n, n}).mean(1));
      }
      const at::Tensor weights =
          probs.scalar_type() == qkv.scalar_type() ? probs : probs.to(qkv.scalar_type());
      out = at::bmm(weights, v);
    }
    context.slice(0, b0, b1)
        .view({c, n, heads, hd})
        .copy_(out.view({c, heads, n, hd}).transpose(1, 2));
  }
}

void SiglipEncoder::layer_forward(const Layer& layer, Workspace& ws, at::Tensor* attention) const {
  const int64_t batch = ws.x.size(0);
  const int64_t n = ws.x.size(1);
  const int64_t d = shape_.hidden_size;
  const double eps = shape_.layer_norm_eps;
  at::Tensor x_rows = ws.x.view({batch * n, d});
  at::Tensor y_rows = ws.y.view({batch * n, d});
  // Reduced precision on CPU: LayerNorm in float32 row chunks into a reused buffer (a fresh
  // float32 copy and output per call were page-faulted in: 20-40 ms per so400m LayerNorm of 4
  // frames vs ~2.5 ms chunked).
  const auto norm = [&](const at::Tensor& rows, const at::Tensor& w, const at::Tensor& b) {
    if (!ws.normed.defined()) return layer_norm_last(rows, w, b, eps);
    layer_norm_last_out(ws.normed, rows, w, b, eps);
    return ws.normed;
  };
  at::addmm_out(ws.qkv, layer.qkv_b, norm(x_rows, layer.ln1_w, layer.ln1_b), layer.qkv_w.t());
  if (attention) *attention = at::empty({batch, n}, ws.x.options().dtype(at::kFloat));
  if (ws.per_head) {
    attention_cpu(ws, batch, n, attention);
  } else {
    attention_batched(ws, batch, n, attention);
  }
  at::addmm_out(y_rows, layer.out_b, ws.ctx, layer.out_w.t());
  ws.y.add_(ws.x);  // residual: y = x + Attn(LN1(x))
  at::addmm_out(ws.mlp, layer.fc1_b, norm(y_rows, layer.ln2_w, layer.ln2_b), layer.fc1_w.t());
  gelu_inplace(ws.mlp, shape_.act);
  at::addmm_out(x_rows, layer.fc2_b, ws.mlp, layer.fc2_w.t());
  ws.x.add_(ws.y);  // residual: x = y + MLP(LN2(y))
}

at::Tensor SiglipEncoder::forward(at::Tensor x, int64_t end_layer, at::Tensor* attention_out,
                                  const std::function<void(int64_t, const at::Tensor&)>& record,
                                  const LayerCheck& check) const {
  if (end_layer < 0 || end_layer > loaded_layers()) {
    throw Error(ErrorKind::kInvalidArgument,
                "SigLIP encoder: layer " + std::to_string(end_layer) + " requested but only " +
                    std::to_string(loaded_layers()) + " layers are loaded");
  }
  if (attention_out && end_layer == 0) {
    throw Error(ErrorKind::kInvalidArgument,
                "SigLIP encoder: attention requested from the embeddings (feature layer 0)");
  }
  if (end_layer == 0) return x;
  const int64_t batch = x.size(0);
  const int64_t n = x.size(1);
  const int64_t d = shape_.hidden_size;
  Workspace ws;
  ws.x = x.contiguous().clone();  // the caller's tensor is never modified
  ws.y = at::empty_like(ws.x);
  ws.qkv = at::empty({batch * n, 3 * d}, x.options());
  ws.ctx = at::empty({batch * n, d}, x.options());
  ws.mlp = at::empty({batch * n, shape_.intermediate_size}, x.options());
  if (x.is_cpu() && (x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf)) {
    ws.normed = at::empty({batch * n, d}, x.options());
    // Whole sequences per chunk while their float32 scores would fit the budget (so400m: one).
    const int64_t per_sequence = shape_.num_heads * n * n * 4;
    const int64_t rows =
        std::clamp<int64_t>(kAttentionScoreBudget / per_sequence, 1, batch) * shape_.num_heads;
    ws.scores_low = at::empty({rows, n, n}, x.options());
    ws.heads_out = at::empty({rows, n, d / shape_.num_heads}, x.options());
  }
  if (x.is_cpu() && x.scalar_type() == at::kFloat) {
    // Heads per softmax group: all of them when their scores fit the budget (so400m: 16 x 729^2
    // floats = 34 MB), fewer for long sequences.
    const int64_t group =
        std::clamp<int64_t>(kAttentionScoreBudget / (n * n * 4), 1, shape_.num_heads);
    ws.scores = at::empty({group, n, n}, x.options());
    ws.probs = at::empty({group, n, n}, x.options());
    ws.per_head = true;
  }
  for (int64_t i = 0; i < end_layer; ++i) {
    if (check) check(i);
    const bool last = i + 1 == end_layer;
    layer_forward(layers_[static_cast<size_t>(i)], ws, last ? attention_out : nullptr);
    // The buffer is overwritten by the next layer: recorders get a copy.
    if (record) record(i + 1, last ? ws.x : ws.x.clone());
  }
  return ws.x;
}

}  // namespace clipmind::models
