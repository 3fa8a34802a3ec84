// The inner-LLM reduction hook (compress/merge/layer_reducer.h), checked against an independent
// float64 reference forward pass written here with per-head loops: layers 0..K-1 over the whole
// prompt, then layers K.. over the kept rows at their original position ids with a causal mask
// over the compacted sequence; decoding continues at the full prompt length.
#include "compress/merge/layer_reducer.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "models/llm/decoder.h"
#include "models/npy.h"
#include "models/npy_tensor.h"
#include "models/weights/checkpoint.h"
#include "models/weights/model_config.h"

namespace clipmind::models {
namespace {

namespace fs = std::filesystem;

fs::path golden(const std::string& model) {
  return fs::path(CLIPMIND_TEST_DATA_DIR) / "llm-golden" / model;
}

std::vector<int64_t> ids_of(const fs::path& file) {
  const at::Tensor t = npy_to_tensor(read_npy(file)).to(at::kLong).contiguous();
  return {t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()};
}

// Plain float64 decoder from the Hugging Face definitions; no cache, no fused weights.
class Reference {
 public:
  explicit Reference(const fs::path& dir) : config_(read_decoder_config(dir)) {
    const Checkpoint checkpoint = Checkpoint::open(dir);
    for (const auto& name : checkpoint.names())
      weights_[name] = checkpoint.load(name, at::kDouble);
  }

  at::Tensor embed(const std::vector<int64_t>& ids) const {
    return w("model.embed_tokens.weight").index_select(0, at::tensor(ids, at::kLong));
  }

  // Runs layers [l0, l1) over x [S, D] at `positions`; optionally returns the head-averaged
  // attention row of the last position in layer `capture_layer`.
  at::Tensor layers(at::Tensor x, const std::vector<int64_t>& positions, int l0, int l1,
                    int capture_layer = -1, at::Tensor* captured = nullptr) const {
    const int64_t S = x.size(0);
    const int64_t Hq = config_.num_heads, Hkv = config_.num_kv_heads, hd = config_.head_dim;
    for (int l = l0; l < l1; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      at::Tensor h = rms(x, w(p + "input_layernorm.weight"));
      at::Tensor q = linear(h, p + "self_attn.q_proj").view({S, Hq, hd});
      at::Tensor k = linear(h, p + "self_attn.k_proj").view({S, Hkv, hd});
      const at::Tensor v = linear(h, p + "self_attn.v_proj").view({S, Hkv, hd});
      q = rope(q, positions);
      k = rope(k, positions);
      at::Tensor out = at::zeros({S, Hq, hd}, at::kDouble);
      at::Tensor row = at::zeros({S}, at::kDouble);
      for (int64_t head = 0; head < Hq; ++head) {
        const int64_t kv = head / (Hq / Hkv);
        at::Tensor scores =
            at::matmul(q.select(1, head), k.select(1, kv).t()) / std::sqrt(static_cast<double>(hd));
        for (int64_t i = 0; i < S; ++i) {
          for (int64_t j = i + 1; j < S; ++j)
            scores[i][j] = -INFINITY;
        }
        const at::Tensor probs = at::softmax(scores, 1);
        out.select(1, head).copy_(at::matmul(probs, v.select(1, kv)));
        row += probs[S - 1] / static_cast<double>(Hq);
      }
      if (l == capture_layer && captured) *captured = row;
      x = x + at::matmul(out.reshape({S, Hq * hd}), w(p + "self_attn.o_proj.weight").t());
      h = rms(x, w(p + "post_attention_layernorm.weight"));
      const at::Tensor gate = at::matmul(h, w(p + "mlp.gate_proj.weight").t());
      const at::Tensor up = at::matmul(h, w(p + "mlp.up_proj.weight").t());
      x = x + at::matmul(gate * at::sigmoid(gate) * up, w(p + "mlp.down_proj.weight").t());
    }
    return x;
  }

  at::Tensor logits(const at::Tensor& row) const {
    const at::Tensor head = weights_.count("lm_head.weight") && !config_.tie_word_embeddings
                                ? w("lm_head.weight")
                                : w("model.embed_tokens.weight");
    return at::matmul(rms(row, w("model.norm.weight")), head.t());
  }

  const DecoderConfig& config() const { return config_; }

 private:
  const at::Tensor& w(const std::string& name) const { return weights_.at(name); }
  at::Tensor linear(const at::Tensor& x, const std::string& name) const {
    at::Tensor y = at::matmul(x, w(name + ".weight").t());
    if (weights_.count(name + ".bias")) y = y + w(name + ".bias");
    return y;
  }
  at::Tensor rms(const at::Tensor& x, const at::Tensor& weight) const {
    return x / at::sqrt(x.pow(2).mean(-1, true) + config_.rms_norm_eps) * weight;
  }
  at::Tensor rope(const at::Tensor& x, const std::vector<int64_t>& positions) const {
    const int64_t hd = config_.head_dim, half = hd / 2;
    at::Tensor out = x.clone();
    for (size_t s = 0; s < positions.size(); ++s) {
      for (int64_t i = 0; i < half; ++i) {
        const double angle =
            static_cast<double>(positions[s]) * std::pow(config_.rope_theta, -2.0 * i / hd);
        const at::Tensor a = x[s].select(1, i), b = x[s].select(1, i + half);
        out[s].select(1, i).copy_(a * std::cos(angle) - b * std::sin(angle));
        out[s].select(1, i + half).copy_(b * std::cos(angle) + a * std::sin(angle));
      }
    }
    return out;
  }

  DecoderConfig config_;
  std::map<std::string, at::Tensor> weights_;
};

// Keeps the even offsets of each visual span and every other position.
class KeepEveryOther : public compress::LayerReducer {
 public:
  explicit KeepEveryOther(int k) : k_(k) {}
  int layer() const override { return k_; }
  compress::LayerReduction reduce(const compress::LayerReductionInput& input) const override {
    seen_hidden = input.hidden.clone();
    seen_importance = input.importance.clone();
    seen_spans.assign(input.visual.begin(), input.visual.end());
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < input.hidden.size(0); ++i) {
      bool kept = true;
      for (const auto& span : input.visual) {
        if (i >= span.begin && i < span.begin + span.length) kept = (i - span.begin) % 2 == 0;
      }
      if (kept) keep.push_back(i);
    }
    const at::Tensor index = at::tensor(keep, at::kLong);
    return {index, input.hidden.index_select(0, index.to(input.hidden.device()))};
  }

  mutable at::Tensor seen_hidden;
  mutable at::Tensor seen_importance;
  mutable std::vector<compress::VisualSpan> seen_spans;

 private:
  int k_;
};

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble).reshape({-1}) - b.to(at::kDouble).reshape({-1}))
      .abs()
      .max()
      .item<double>();
}

class Reduction : public ::testing::TestWithParam<std::tuple<std::string, int64_t>> {};

TEST_P(Reduction, KeepEveryOtherMatchesTheIndependentComputation) {
  const auto [model, chunk] = GetParam();
  const fs::path dir = golden(model);
  const Reference ref(dir);
  const Decoder decoder = Decoder::load(dir);
  const auto ids = ids_of(dir / "b_ids.npy");  // 37 tokens
  const int64_t S = static_cast<int64_t>(ids.size());
  const int K = 1;
  const compress::VisualSpan span{5, 20};

  // The reference itself reproduces llama.cpp's unreduced logits.
  std::vector<int64_t> all_positions(static_cast<size_t>(S));
  for (int64_t i = 0; i < S; ++i)
    all_positions[static_cast<size_t>(i)] = i;
  const int L = static_cast<int>(ref.config().num_layers);
  const at::Tensor full_last = ref.logits(ref.layers(ref.embed(ids), all_positions, 0, L)[S - 1]);
  const at::Tensor golden_b = npy_to_tensor(read_npy(dir / "b_logits.npy"));
  ASSERT_LE(max_diff(full_last, golden_b[S - 1]), 1e-4);

  // Reference with the reduction: rows kept, original positions, causal over the kept order.
  at::Tensor ref_importance;
  const at::Tensor h_k = ref.layers(ref.embed(ids), all_positions, 0, K, K - 1, &ref_importance);
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < S; ++i) {
    if (i < span.begin || i >= span.begin + span.length || (i - span.begin) % 2 == 0)
      kept.push_back(i);
  }
  ASSERT_EQ(kept.size(), 27u);
  const at::Tensor kept_index = at::tensor(kept, at::kLong);
  const at::Tensor ref_after = ref.layers(h_k.index_select(0, kept_index), kept, K, L);
  const at::Tensor ref_prefill_logits = ref.logits(ref_after[ref_after.size(0) - 1]);

  // The decoder with the reducer.
  KeepEveryOther reducer(K);
  KvCache cache = decoder.new_cache();
  ForwardOptions options;
  options.reducer = &reducer;
  options.visual = {span};
  options.chunk_size = chunk;
  const ForwardResult result = decoder.forward(PromptInput::tokens(ids), cache, options);

  EXPECT_EQ(reducer.seen_hidden.sizes(), (std::vector<int64_t>{S, 64}));
  EXPECT_LE(max_diff(reducer.seen_hidden, h_k), 1e-4);
  EXPECT_LE(max_diff(reducer.seen_importance, ref_importance), 1e-5);
  EXPECT_NEAR(reducer.seen_importance.sum().item<double>(), 1.0, 1e-5);
  ASSERT_EQ(reducer.seen_spans.size(), 1u);
  EXPECT_TRUE(at::equal(result.kept, kept_index));
  EXPECT_LE(max_diff(result.logits, ref_prefill_logits), 1e-4);
  // The reduction matters: the logits differ from the unreduced ones.
  EXPECT_GT(max_diff(result.logits, golden_b[S - 1]), 1e-2);

  // The cache: full prompt below K, kept positions from K on, next position = full length.
  EXPECT_EQ(cache.length(), S);
  EXPECT_EQ(cache.layer_size(0), S);
  EXPECT_EQ(cache.layer_size(1), 27);
  EXPECT_EQ(cache.layer_positions(1), kept);

  // Two decode steps at positions 37 and 38.
  std::vector<int64_t> sequence = ids;
  std::vector<int64_t> kept_seq = kept;
  for (const int64_t token : {int64_t{5}, int64_t{77}}) {
    const int64_t position = static_cast<int64_t>(sequence.size());
    sequence.push_back(token);
    kept_seq.push_back(position);
    std::vector<int64_t> positions(sequence.size());
    for (size_t i = 0; i < sequence.size(); ++i)
      positions[i] = static_cast<int64_t>(i);
    // Layers < K see every position; the new row's state entering K joins the kept rows.
    const at::Tensor below = ref.layers(ref.embed(sequence), positions, 0, K);
    const at::Tensor rows = below.index_select(0, at::tensor(kept_seq, at::kLong));
    const at::Tensor above = ref.layers(rows, kept_seq, K, L);
    const at::Tensor expected = ref.logits(above[above.size(0) - 1]);
    const at::Tensor got = decoder.forward(PromptInput::tokens({token}), cache).logits;
    EXPECT_LE(max_diff(got, expected), 1e-4) << "decode at position " << position;
  }
  EXPECT_EQ(cache.length(), S + 2);
  EXPECT_EQ(cache.layer_size(1), 29);

  // Truncating to the prompt drops the decoded rows in every layer.
  cache.truncate(S);
  EXPECT_EQ(cache.layer_size(0), S);
  EXPECT_EQ(cache.layer_size(1), 27);
}

INSTANTIATE_TEST_SUITE_P(LlmGolden, Reduction,
                         ::testing::Combine(::testing::Values("qwen2-tiny", "llama-tiny"),
                                            ::testing::Values(int64_t{0}, int64_t{8})));

TEST(ReductionErrors, BadReducerResultsAreRejected) {
  class DropLast : public compress::LayerReducer {
   public:
    int layer() const override { return 1; }
    compress::LayerReduction reduce(const compress::LayerReductionInput& input) const override {
      const at::Tensor keep = at::arange(input.hidden.size(0) - 1, at::kLong);
      return {keep, input.hidden.narrow(0, 0, input.hidden.size(0) - 1)};
    }
  };
  const Decoder decoder = Decoder::load(golden("qwen2-tiny"));
  KvCache cache = decoder.new_cache();
  DropLast reducer;
  ForwardOptions options;
  options.reducer = &reducer;
  EXPECT_THROW(decoder.forward(PromptInput::tokens({1, 2, 3, 4}), cache, options), Error);
  EXPECT_EQ(cache.length(), 0);
  EXPECT_EQ(cache.layer_size(0), 0);
  KeepEveryOther wrong_layer(2);
  options.reducer = &wrong_layer;
  EXPECT_THROW(decoder.forward(PromptInput::tokens({1, 2, 3, 4}), cache, options), Error);
}

}  // namespace
}  // namespace clipmind::models
