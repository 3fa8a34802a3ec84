#include "models/llm/decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "models/llm/runtime.h"

namespace clipmind::models {
namespace {

struct LayerWeights {
  at::Tensor input_norm;
  at::Tensor qkv_w;  // [(Hq + 2 Hkv) hd, D]: q, k, v rows stacked
  at::Tensor qkv_b;
  at::Tensor o_w;
  at::Tensor o_b;
  at::Tensor post_norm;
  at::Tensor gate_up_w;  // [2 I, D]: gate rows, then up rows
  at::Tensor gate_up_b;
  at::Tensor down_w;
  at::Tensor down_b;
};

std::string layer_name(const std::string& prefix, int64_t i, const std::string& rest) {
  return prefix + "layers." + std::to_string(i) + "." + rest;
}

// Attention probabilities the last query row gives every cache entry, averaged over heads.
struct ImportanceCapture {
  at::Tensor row;  // [entries] float32
};

// Restores a cache to its state before a failed or cancelled forward call.
class CacheRollback {
 public:
  explicit CacheRollback(KvCache& cache) : cache_(cache), length_(cache.length()) {
    for (int l = 0; l < cache.num_layers(); ++l)
      sizes_.push_back(cache.layer_size(l));
  }
  CacheRollback(const CacheRollback&) = delete;
  CacheRollback& operator=(const CacheRollback&) = delete;
  ~CacheRollback() {
    if (!committed_) restore_(cache_, sizes_, length_);
  }
  void commit() { committed_ = true; }
  // Set by Decoder (which can reach the cache's internals).
  void (*restore_)(KvCache&, const std::vector<int64_t>&, int64_t) = nullptr;

 private:
  KvCache& cache_;
  int64_t length_;
  std::vector<int64_t> sizes_;
  bool committed_ = false;
};

}  // namespace

std::vector<TensorSpec> decoder_tensor_specs(const DecoderConfig& c,
                                             const DecoderWeightNames& names) {
  const std::string& p = names.prefix;
  const int64_t D = c.hidden_size;
  const int64_t q_out = c.num_heads * c.head_dim;
  const int64_t kv_out = c.num_kv_heads * c.head_dim;
  const int64_t I = c.intermediate_size;
  std::vector<TensorSpec> specs;
  specs.push_back({p + "embed_tokens.weight", {}, true, true});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const auto add = [&](const std::string& rest, std::vector<int64_t> shape) {
      specs.push_back({layer_name(p, i, rest), std::move(shape)});
    };
    add("input_layernorm.weight", {D});
    add("post_attention_layernorm.weight", {D});
    add("self_attn.q_proj.weight", {q_out, D});
    add("self_attn.k_proj.weight", {kv_out, D});
    add("self_attn.v_proj.weight", {kv_out, D});
    add("self_attn.o_proj.weight", {D, q_out});
    if (c.qkv_bias) {
      add("self_attn.q_proj.bias", {q_out});
      add("self_attn.k_proj.bias", {kv_out});
      add("self_attn.v_proj.bias", {kv_out});
    }
    if (c.o_bias) add("self_attn.o_proj.bias", {D});
    add("mlp.gate_proj.weight", {I, D});
    add("mlp.up_proj.weight", {I, D});
    add("mlp.down_proj.weight", {D, I});
    if (c.mlp_bias) {
      add("mlp.gate_proj.bias", {I});
      add("mlp.up_proj.bias", {I});
      add("mlp.down_proj.bias", {D});
    }
  }
  specs.push_back({p + "norm.weight", {D}});
  specs.push_back({names.lm_head, {}, false, true});
  return specs;
}

std::vector<std::string> decoder_ignored_suffixes() {
  return {".rotary_emb.inv_freq"};
}

PromptInput PromptInput::tokens(std::vector<int64_t> ids) {
  PromptInput input;
  input.parts_.push_back({std::move(ids), at::Tensor()});
  return input;
}

PromptInput& PromptInput::add_tokens(std::span<const int64_t> ids) {
  if (!ids.empty()) parts_.push_back({std::vector<int64_t>(ids.begin(), ids.end()), at::Tensor()});
  return *this;
}

PromptInput& PromptInput::add_embeddings(const at::Tensor& embeddings) {
  if (!embeddings.defined() || embeddings.dim() != 2) {
    throw Error(ErrorKind::kInvalidInput, "input embeddings must be a [n, hidden] matrix");
  }
  if (embeddings.size(0) > 0) parts_.push_back({{}, embeddings});
  return *this;
}

int64_t PromptInput::length() const {
  int64_t n = 0;
  for (const auto& part : parts_) {
    n +=
        part.embeddings.defined() ? part.embeddings.size(0) : static_cast<int64_t>(part.ids.size());
  }
  return n;
}

struct Decoder::Impl {
  DecoderConfig config;
  DecoderOptions options;
  at::Tensor embed;
  std::vector<LayerWeights> layers;
  at::Tensor norm;
  at::Tensor lm_head;
  at::Tensor inv_freq;  // [hd/2] float32
  int64_t D = 0, Hq = 0, Hkv = 0, hd = 0, G = 0, I = 0;

  at::TensorOptions float_options() const {
    return at::TensorOptions().dtype(at::kFloat).device(options.device);
  }

  // HF Qwen2RMSNorm / LlamaRMSNorm: fp32 statistics, cast back, then scale by the weight.
  at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight) const {
    const at::Tensor x32 = x.to(at::kFloat);
    const at::Tensor inverse_rms =
        x32.square().mean(-1, /*keepdim=*/true).add_(config.rms_norm_eps).rsqrt_();
    at::Tensor normed = x32 * inverse_rms;
    if (normed.scalar_type() != x.scalar_type()) normed = normed.to(x.scalar_type());
    return normed.mul_(weight);
  }

  struct Rope {
    at::Tensor cos;  // [n, 1, hd/2] in the model dtype, for keys [n, Hkv, hd]
    at::Tensor sin;
    at::Tensor q_cos;  // [n, 1, 1, hd/2] times hd^-0.5, for queries [n, Hkv, G, hd]
    at::Tensor q_sin;
  };
  Rope rope_for(const std::vector<int64_t>& positions) const {
    const at::Tensor pos = at::tensor(positions, at::TensorOptions().dtype(at::kLong))
                               .to(options.device)
                               .to(at::kFloat);
    const at::Tensor angles = pos.unsqueeze(1) * inv_freq.unsqueeze(0);  // fp32, as HF
    const at::Tensor cos = angles.cos().to(options.dtype);
    const at::Tensor sin = angles.sin().to(options.dtype);
    // Queries carry the attention scale (exact for power-of-two head dims).
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    return {cos.unsqueeze(1), sin.unsqueeze(1), (cos * scale).view({-1, 1, 1, hd / 2}),
            (sin * scale).view({-1, 1, 1, hd / 2})};
  }
  // Rotate-half convention: [x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin], written into `out`
  // (same shape as x, any strides).
  void rope_into(const at::Tensor& out, const at::Tensor& x, const at::Tensor& cos,
                 const at::Tensor& sin) const {
    const int64_t half = hd / 2;
    const at::Tensor x1 = x.narrow(-1, 0, half);
    const at::Tensor x2 = x.narrow(-1, half, half);
    at::Tensor o1 = out.narrow(-1, 0, half);
    at::Tensor o2 = out.narrow(-1, half, half);
    at::mul_out(o1, x1, cos).addcmul_(x2, sin, -1);  // x1 cos + (-x2) sin
    at::mul_out(o2, x2, cos).addcmul_(x1, sin);      // x2 cos + x1 sin
  }

  // Buffers reused by every layer of one run_layers() call, so the large per-layer temporaries
  // are allocated (and page-faulted) once instead of once per layer and attention block.
  struct Workspace {
    at::Tensor qkv;     // [n, (Hq + 2 Hkv) hd]
    at::Tensor q;       // [Hkv, n, G, hd]
    at::Tensor attn;    // [n, Hq hd]
    at::Tensor gu;      // [n, 2 I]
    at::Tensor scores;  // flat, one attention block
    at::Tensor probs;   // flat, float32
    // Reduced precision only: the float32 copy of the scores the softmax reads. Preallocated:
    // a fresh tensor this size (up to 32 MB and beyond) is page-faulted in on every block.
    at::Tensor wide;
    at::Tensor pv;    // flat, [Hkv, block G, hd]
    at::Tensor mask;  // [block, block] causal mask of a block's diagonal part
    int64_t block = 1;
  };

  Workspace workspace(int64_t n, int64_t entries, const at::Tensor& like) const {
    Workspace ws;
    const auto opts = like.options();
    ws.qkv = at::empty({n, (Hq + 2 * Hkv) * hd}, opts);
    ws.q = at::empty({Hkv, n, G, hd}, opts);
    ws.attn = at::empty({n, Hq * hd}, opts);
    ws.gu = at::empty({n, 2 * I}, opts);
    // Scores and probabilities of one block of query rows stay under the byte budget.
    const int64_t bytes_per_row = Hq * entries * static_cast<int64_t>(sizeof(float)) * 2;
    ws.block = std::clamp<int64_t>(
        options.attention_block_bytes / std::max<int64_t>(bytes_per_row, 1), 1, n);
    ws.scores = at::empty({Hkv * ws.block * G * entries}, opts);
    ws.probs = at::empty({Hkv * ws.block * G * entries}, opts.dtype(at::kFloat));
    if (like.scalar_type() != at::kFloat) {
      ws.wide = at::empty({Hkv * ws.block * G * entries}, opts.dtype(at::kFloat));
    }
    ws.pv = at::empty({Hkv * ws.block * G * hd}, opts);
    if (ws.block > 1) {
      ws.mask = at::ones({ws.block, ws.block}, opts.dtype(at::kBool)).triu(1);
    }
    return ws;
  }

  // qg: [Hkv, n, G, hd] rotated and scaled queries (query head h = kv * G + g uses KV head kv,
  // HF's repeat_interleave); the layer's cache already holds this call's keys/values, which
  // start at entry `first`. Writes [n, Hq hd] into ws.attn.
  void attention(const at::Tensor& qg, const at::Tensor& k_cache, const at::Tensor& v_cache,
                 int64_t first, Workspace& ws, ImportanceCapture* capture) const {
    const int64_t n = qg.size(1);
    const at::Tensor& q = qg;
    const at::Tensor out = ws.attn.view({n, Hkv, G, hd});
    for (int64_t q0 = 0; q0 < n; q0 += ws.block) {
      const int64_t b = std::min(ws.block, n - q0);
      const int64_t keys = first + q0 + b;  // causal: nothing after this block's last row
      const at::Tensor qb = qg.narrow(1, q0, b).reshape({Hkv, b * G, hd});
      const at::Tensor kb = k_cache.narrow(1, 0, keys);
      const at::Tensor vb = v_cache.narrow(1, 0, keys);
      at::Tensor scores = ws.scores.narrow(0, 0, Hkv * b * G * keys).view({Hkv, b * G, keys});
      at::bmm_out(scores, qb, kb.transpose(1, 2));
      if (b > 1) {
        const at::Tensor mask = ws.mask.narrow(0, 0, b).narrow(1, 0, b);
        scores.view({Hkv, b, G, keys})
            .narrow(3, first + q0, b)
            .masked_fill_(mask.view({1, b, 1, b}), -std::numeric_limits<float>::infinity());
      }
      // Softmax in float32. LibTorch 1.13's softmax(x, dim, dtype) takes a slow scalar path,
      // so float inputs go through the plain (vectorized) kernel.
      at::Tensor probs = ws.probs.narrow(0, 0, Hkv * b * G * keys).view({Hkv, b * G, keys});
      // Other dtypes: converted into a preallocated float32 buffer, and the probabilities back
      // into the scores' buffer (fresh tensors here cost page faults on every block: bf16
      // prefill of 1024 tokens took 9.2 s with them).
      if (scores.scalar_type() == at::kFloat) {
        at::_softmax_out(probs, scores, -1, false);
      } else {
        at::Tensor wide = ws.wide.narrow(0, 0, Hkv * b * G * keys).view({Hkv, b * G, keys});
        wide.copy_(scores);
        at::_softmax_out(probs, wide, -1, false);
      }
      if (capture && q0 + b == n) {
        capture->row = probs.view({Hkv, b, G, keys}).select(1, b - 1).mean(at::IntArrayRef{0, 1});
      }
      at::Tensor weights = probs;
      if (probs.scalar_type() != q.scalar_type()) {
        weights = scores;
        weights.copy_(probs);
      }
      at::Tensor pv = ws.pv.narrow(0, 0, Hkv * b * G * hd).view({Hkv, b * G, hd});
      at::bmm_out(pv, weights, vb);
      out.narrow(0, q0, b).copy_(pv.view({Hkv, b, G, hd}).permute({1, 0, 2, 3}));
    }
  }

  // out = x W^T (+ b), into a preallocated buffer.
  static void linear_into(at::Tensor& out, const at::Tensor& x, const at::Tensor& w,
                          const at::Tensor& b) {
    if (b.defined()) {
      at::addmm_out(out, b, x, w.t());
    } else {
      at::mm_out(out, x, w.t());
    }
  }
  // x += y W^T (+ b): the residual add is the GEMM's beta = 1.
  static void add_linear(at::Tensor& x, const at::Tensor& y, const at::Tensor& w,
                         const at::Tensor& b) {
    x.addmm_(y, w.t());
    if (b.defined()) x.add_(b);
  }

  // Runs layers [l0, l1) over x ([n, D], owned), appending to the cache.
  at::Tensor run_layers(at::Tensor x, const std::vector<int64_t>& positions, int l0, int l1,
                        KvCache& cache, int capture_layer, ImportanceCapture* capture,
                        const CancelToken& cancel) const {
    const int64_t n = x.size(0);
    const Rope rope = rope_for(positions);
    int64_t most_entries = 0;
    for (int l = l0; l < l1; ++l)
      most_entries = std::max(most_entries, cache.layer_size(l) + n);
    Workspace ws = workspace(n, most_entries, x);
    for (int l = l0; l < l1; ++l) {
      cancel.throw_if_cancelled();
      const LayerWeights& w = layers[static_cast<size_t>(l)];
      linear_into(ws.qkv, rms_norm(x, w.input_norm), w.qkv_w, w.qkv_b);
      // Queries go straight into the grouped [Hkv, n, G, hd] layout attention wants; keys and
      // values straight into the cache.
      rope_into(ws.q.permute({1, 0, 2, 3}), ws.qkv.narrow(1, 0, Hq * hd).view({n, Hkv, G, hd}),
                rope.q_cos, rope.q_sin);
      const auto [k_slot, v_slot] = cache.extend(l, positions);  // [Hkv, n, hd] each
      rope_into(k_slot.permute({1, 0, 2}), ws.qkv.narrow(1, Hq * hd, Hkv * hd).view({n, Hkv, hd}),
                rope.cos, rope.sin);
      v_slot.permute({1, 0, 2}).copy_(
          ws.qkv.narrow(1, (Hq + Hkv) * hd, Hkv * hd).view({n, Hkv, hd}));
      const KvCache::Layer& layer = cache.layers_[static_cast<size_t>(l)];
      attention(ws.q, layer.k, layer.v, layer.size - n, ws, l == capture_layer ? capture : nullptr);
      add_linear(x, ws.attn, w.o_w, w.o_b);
      linear_into(ws.gu, rms_norm(x, w.post_norm), w.gate_up_w, w.gate_up_b);
      // SiLU gating in place on the gate half.
      at::Tensor m = ws.gu.narrow(1, 0, I);
      at::silu_(m);
      m.mul_(ws.gu.narrow(1, I, I));
      add_linear(x, m, w.down_w, w.down_b);
    }
    return x;
  }

  // Layers [l0, l1) over x in chunks. Returns all rows when keep_all, else the last chunk's.
  at::Tensor run_chunked(const at::Tensor& x, const std::vector<int64_t>& positions, int l0, int l1,
                         KvCache& cache, int64_t chunk, bool keep_all, int capture_layer,
                         ImportanceCapture* capture, const ForwardOptions& options,
                         int64_t& layers_done, int64_t layers_total) const {
    const int64_t n = x.size(0);
    if (chunk <= 0 || chunk >= n) {
      at::Tensor out =
          run_layers(x, positions, l0, l1, cache, capture_layer, capture, options.cancel);
      layers_done += l1 - l0;
      if (options.progress) options.progress({"prefill", layers_done, layers_total, ""});
      return out;
    }
    std::vector<at::Tensor> outputs;
    at::Tensor last;
    for (int64_t c0 = 0; c0 < n; c0 += chunk) {
      const int64_t c = std::min(chunk, n - c0);
      const std::vector<int64_t> chunk_positions(positions.begin() + c0,
                                                 positions.begin() + c0 + c);
      const bool is_last = c0 + c == n;
      last = run_layers(x.narrow(0, c0, c).clone(), chunk_positions, l0, l1, cache, capture_layer,
                        is_last ? capture : nullptr, options.cancel);
      if (keep_all) outputs.push_back(last);
      layers_done += (l1 - l0) * c / n;
      if (options.progress) options.progress({"prefill", layers_done, layers_total, ""});
    }
    return keep_all ? at::cat(outputs, 0) : last;
  }

  at::Tensor logits_of(const at::Tensor& hidden) const {
    // Row blocks keep the [rows, V] intermediate small when all positions are requested.
    const int64_t rows = hidden.size(0);
    const int64_t V = lm_head.size(0);
    at::Tensor out = at::empty({rows, V}, at::TensorOptions().dtype(at::kFloat));
    const int64_t block = std::max<int64_t>(1, (256ll << 20) / std::max<int64_t>(V * 4, 1));
    for (int64_t r0 = 0; r0 < rows; r0 += block) {
      const int64_t r = std::min(block, rows - r0);
      const at::Tensor h = rms_norm(hidden.narrow(0, r0, r), norm);
      out.narrow(0, r0, r).copy_(at::linear(h, lm_head).to(at::kFloat).to(at::kCPU));
    }
    return out;
  }

  at::Tensor build_input(const PromptInput& input) const {
    std::vector<at::Tensor> pieces;
    for (const auto& part : input.parts()) {
      if (part.embeddings.defined()) {
        if (part.embeddings.dim() != 2 || part.embeddings.size(1) != D) {
          throw Error(ErrorKind::kInvalidInput,
                      "input embeddings have " + std::to_string(part.embeddings.size(1)) +
                          " columns but the model's hidden size is " + std::to_string(D));
        }
        if (!at::isFloatingType(part.embeddings.scalar_type())) {
          throw Error(ErrorKind::kInvalidInput, "input embeddings must be floating point");
        }
        pieces.push_back(part.embeddings.to(options.device, options.dtype));
      } else if (!part.ids.empty()) {
        pieces.push_back(embed_ids(part.ids));
      }
    }
    return at::cat(pieces, 0);
  }

  at::Tensor embed_ids(std::span<const int64_t> ids) const {
    const int64_t V = embed.size(0);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= V) {
        throw Error(ErrorKind::kInvalidInput,
                    "token id " + std::to_string(ids[i]) + " (at index " + std::to_string(i) +
                        ") is outside the model's vocabulary of " + std::to_string(V));
      }
    }
    const at::Tensor index = at::tensor(std::vector<int64_t>(ids.begin(), ids.end()),
                                        at::TensorOptions().dtype(at::kLong))
                                 .to(options.device);
    return embed.index_select(0, index);
  }
};

Decoder::Decoder() : impl_(std::make_unique<Impl>()) {}
Decoder::~Decoder() = default;
Decoder::Decoder(Decoder&&) noexcept = default;
Decoder& Decoder::operator=(Decoder&&) noexcept = default;

Decoder Decoder::load(const std::filesystem::path& dir, const DecoderOptions& options,
                      std::vector<PrefixRewrite> rewrites) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw Error(ErrorKind::kNotFound, dir.string() + ": not a model folder");
  }
  const DecoderConfig config = read_decoder_config(dir);
  const Checkpoint checkpoint = Checkpoint::open(dir, std::move(rewrites));
  const auto specs = decoder_tensor_specs(config, options.names);
  const auto suffixes = decoder_ignored_suffixes();
  checkpoint.validate(specs, {}, suffixes);
  return from_checkpoint(config, checkpoint, options);
}

Decoder Decoder::from_checkpoint(const DecoderConfig& config_in, const Checkpoint& checkpoint,
                                 const DecoderOptions& options) {
  check_dtype_supported(options.dtype, options.device);
  Decoder decoder;
  Impl& m = *decoder.impl_;
  m.config = config_in;
  m.options = options;
  DecoderConfig& c = m.config;
  const std::string where = checkpoint.location().string();
  const std::string& p = options.names.prefix;

  // The vocabulary size comes from the embedding (LLaVA-OneVision pads it past the config's).
  const StTensorInfo* embed_info = checkpoint.find(p + "embed_tokens.weight");
  if (!embed_info)
    throw Error(ErrorKind::kInvalidInput, where + ": missing " + p + "embed_tokens.weight");
  if (embed_info->shape.size() != 2 || embed_info->shape[1] != c.hidden_size ||
      embed_info->shape[0] < 1) {
    throw Error(ErrorKind::kInvalidInput,
                where + ": " + p + "embed_tokens.weight is " + describe_shape(embed_info->shape) +
                    ", expected [vocab, " + std::to_string(c.hidden_size) + "]");
  }
  c.vocab_size = embed_info->shape[0];

  std::vector<std::string> problems;
  for (const auto& spec : decoder_tensor_specs(c, options.names)) {
    const StTensorInfo* info = checkpoint.find(spec.name);
    if (!info) {
      if (spec.required) problems.push_back("missing " + spec.name);
    } else if (!spec.any_shape && info->shape != spec.shape) {
      problems.push_back(spec.name + " is " + describe_shape(info->shape) + ", expected " +
                         describe_shape(spec.shape));
    }
  }
  const StTensorInfo* head_info = checkpoint.find(options.names.lm_head);
  if (head_info && !c.tie_word_embeddings && head_info->shape != embed_info->shape) {
    problems.push_back(options.names.lm_head + " is " + describe_shape(head_info->shape) +
                       ", expected " + describe_shape(embed_info->shape));
  }
  if (!problems.empty()) {
    std::string message = where + ": the weights do not match the config:";
    for (const auto& problem : problems)
      message += "\n  " + problem;
    throw Error(ErrorKind::kInvalidInput, message);
  }

  m.D = c.hidden_size;
  m.Hq = c.num_heads;
  m.Hkv = c.num_kv_heads;
  m.hd = c.head_dim;
  m.G = m.Hq / m.Hkv;
  m.I = c.intermediate_size;
  const auto load = [&](const std::string& name) {
    return checkpoint.load(name, options.dtype, options.device);
  };
  m.embed = load(p + "embed_tokens.weight");
  for (int64_t i = 0; i < c.num_layers; ++i) {
    LayerWeights w;
    const auto name = [&](const std::string& rest) { return layer_name(p, i, rest); };
    w.input_norm = load(name("input_layernorm.weight"));
    w.post_norm = load(name("post_attention_layernorm.weight"));
    w.qkv_w = at::cat({load(name("self_attn.q_proj.weight")), load(name("self_attn.k_proj.weight")),
                       load(name("self_attn.v_proj.weight"))},
                      0);
    if (c.qkv_bias) {
      w.qkv_b = at::cat({load(name("self_attn.q_proj.bias")), load(name("self_attn.k_proj.bias")),
                         load(name("self_attn.v_proj.bias"))},
                        0);
    }
    w.o_w = load(name("self_attn.o_proj.weight"));
    if (c.o_bias) w.o_b = load(name("self_attn.o_proj.bias"));
    w.gate_up_w =
        at::cat({load(name("mlp.gate_proj.weight")), load(name("mlp.up_proj.weight"))}, 0);
    if (c.mlp_bias)
      w.gate_up_b = at::cat({load(name("mlp.gate_proj.bias")), load(name("mlp.up_proj.bias"))}, 0);
    w.down_w = load(name("mlp.down_proj.weight"));
    if (c.mlp_bias) w.down_b = load(name("mlp.down_proj.bias"));
    m.layers.push_back(std::move(w));
  }
  m.norm = load(p + "norm.weight");
  // Tied when the config says so, and also when the head is absent (methods.md, section 8).
  m.lm_head = (c.tie_word_embeddings || !head_info) ? m.embed : load(options.names.lm_head);
  // HF: inv_freq = 1 / theta^(arange(0, hd, 2) / hd), computed in float32.
  const at::Tensor exponents =
      at::arange(0, m.hd, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) /
      static_cast<double>(m.hd);
  m.inv_freq = at::reciprocal(at::pow(c.rope_theta, exponents)).to(options.device);
  return decoder;
}

const DecoderConfig& Decoder::config() const {
  return impl_->config;
}
at::Device Decoder::device() const {
  return impl_->options.device;
}
at::ScalarType Decoder::dtype() const {
  return impl_->options.dtype;
}

KvCache Decoder::new_cache() const {
  KvCache cache;
  cache.init(static_cast<int>(impl_->layers.size()), impl_->Hkv, impl_->hd,
             at::TensorOptions().dtype(impl_->options.dtype).device(impl_->options.device));
  return cache;
}

at::Tensor Decoder::embed(std::span<const int64_t> ids) const {
  return impl_->embed_ids(ids);
}

int64_t Decoder::parameter_bytes() const {
  const Impl& m = *impl_;
  int64_t total = static_cast<int64_t>(m.embed.nbytes() + m.norm.nbytes());
  if (!m.lm_head.is_same(m.embed)) total += static_cast<int64_t>(m.lm_head.nbytes());
  for (const auto& w : m.layers) {
    for (const at::Tensor* t : {&w.input_norm, &w.qkv_w, &w.qkv_b, &w.o_w, &w.o_b, &w.post_norm,
                                &w.gate_up_w, &w.gate_up_b, &w.down_w, &w.down_b}) {
      if (t->defined()) total += static_cast<int64_t>(t->nbytes());
    }
  }
  return total;
}

ForwardResult Decoder::forward(const PromptInput& input, KvCache& cache,
                               const ForwardOptions& options) const {
  const Impl& m = *impl_;
  const int num_layers = static_cast<int>(m.layers.size());
  const int64_t n = input.length();
  if (n == 0) throw Error(ErrorKind::kInvalidArgument, "forward: the input is empty");
  if (cache.num_layers() == 0) cache = new_cache();
  if (cache.num_layers() != num_layers || cache.kv_heads_ != m.Hkv || cache.head_dim_ != m.hd ||
      cache.options_.device() != m.options.device ||
      cache.options_.dtype().toScalarType() != m.options.dtype) {
    throw Error(ErrorKind::kInvalidArgument, "forward: the KV cache belongs to a different model");
  }

  // Position ids.
  std::vector<int64_t> positions;
  if (options.positions.empty()) {
    positions.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      positions[static_cast<size_t>(i)] = cache.length() + i;
  } else {
    positions = options.positions;
    if (static_cast<int64_t>(positions.size()) != n) {
      throw Error(ErrorKind::kInvalidArgument, "forward: " + std::to_string(positions.size()) +
                                                   " position ids for " + std::to_string(n) +
                                                   " inputs");
    }
    for (size_t i = 0; i < positions.size(); ++i) {
      if ((i == 0 && positions[0] < cache.length()) ||
          (i > 0 && positions[i] <= positions[i - 1])) {
        throw Error(ErrorKind::kInvalidArgument,
                    "forward: position ids must increase and start at or after the cache length");
      }
    }
  }
  const int64_t context = m.config.max_position_embeddings;
  if (positions.back() >= context) {
    throw Error(ErrorKind::kInvalidInput,
                "the input needs position " + std::to_string(positions.back()) + " (" +
                    std::to_string(cache.length()) + " cached + " + std::to_string(n) +
                    " new) but the model's context is " + std::to_string(context) + " positions");
  }

  const compress::LayerReducer* reducer = options.reducer;
  int K = num_layers;
  if (reducer) {
    K = reducer->layer();
    if (K < 1 || K >= num_layers) {
      throw Error(ErrorKind::kInvalidArgument, "reducer layer " + std::to_string(K) +
                                                   " must be in [1, " +
                                                   std::to_string(num_layers - 1) + "]");
    }
    int64_t previous_end = 0;
    for (const auto& span : options.visual) {
      if (span.begin < previous_end || span.length < 0 || span.begin + span.length > n) {
        throw Error(ErrorKind::kInvalidArgument,
                    "visual spans must be ascending, disjoint and inside the input");
      }
      previous_end = span.begin + span.length;
    }
  }

  at::Tensor x = m.build_input(input);
  CacheRollback rollback(cache);
  rollback.restore_ = [](KvCache& c, const std::vector<int64_t>& sizes, int64_t length) {
    for (size_t l = 0; l < sizes.size(); ++l) {
      c.layers_[l].size = sizes[l];
      c.layers_[l].positions.resize(static_cast<size_t>(sizes[l]));
    }
    c.length_ = length;
  };
  int64_t max_entries = 0;
  for (int l = 0; l < num_layers; ++l)
    max_entries = std::max(max_entries, cache.layer_size(l));
  cache.reserve(max_entries + n);

  const bool need_all_rows = options.logits == LogitsMode::kAll;
  int64_t layers_done = 0;
  const int64_t layers_total = num_layers;
  ForwardResult result;
  at::Tensor hidden;
  if (!reducer) {
    hidden = m.run_chunked(x, positions, 0, num_layers, cache, options.chunk_size, need_all_rows,
                           -1, nullptr, options, layers_done, layers_total);
  } else {
    ImportanceCapture capture;
    const int64_t entries_before = cache.layer_size(K - 1);
    const at::Tensor h = m.run_chunked(x, positions, 0, K, cache, options.chunk_size, true, K - 1,
                                       &capture, options, layers_done, layers_total);
    const at::Tensor importance = capture.row.narrow(0, entries_before, n).contiguous();
    const compress::LayerReductionInput reduction_input{h, importance, options.visual};
    compress::LayerReduction reduction = reducer->reduce(reduction_input);
    const at::Tensor kept = reduction.keep.to(at::kCPU).to(at::kLong).contiguous();
    const int64_t kept_n = kept.dim() == 1 ? kept.size(0) : -1;
    if (kept_n < 1 || !reduction.hidden.defined() || reduction.hidden.dim() != 2 ||
        reduction.hidden.size(0) != kept_n || reduction.hidden.size(1) != m.D) {
      throw Error(ErrorKind::kInternal, "reducer returned inconsistent keep/hidden tensors");
    }
    std::vector<int64_t> kept_positions;
    const int64_t* k = kept.data_ptr<int64_t>();
    for (int64_t i = 0; i < kept_n; ++i) {
      if (k[i] < 0 || k[i] >= n || (i > 0 && k[i] <= k[i - 1])) {
        throw Error(ErrorKind::kInternal,
                    "reducer returned keep indices that are not strictly ascending in [0, S)");
      }
      kept_positions.push_back(positions[static_cast<size_t>(k[i])]);
    }
    if (k[kept_n - 1] != n - 1)
      throw Error(ErrorKind::kInternal, "reducer dropped the last prompt position");
    const at::Tensor h2 = reduction.hidden.to(m.options.device, m.options.dtype).clone();
    hidden = m.run_chunked(h2, kept_positions, K, num_layers, cache, options.chunk_size,
                           need_all_rows, -1, nullptr, options, layers_done, layers_total);
    result.kept = kept;
  }
  if (options.logits == LogitsMode::kLast) {
    result.logits = m.logits_of(hidden.narrow(0, hidden.size(0) - 1, 1));
  } else if (options.logits == LogitsMode::kAll) {
    result.logits = m.logits_of(hidden);
  }
  cache.length_ = positions.back() + 1;
  rollback.commit();
  return result;
}

}  // namespace clipmind::models
