#include "compress/merge/holitom.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "clipmind/error.h"
#include "compress/merge/dpc_knn.h"
#include "compress/merge/merge_common.h"

namespace clipmind::compress {
namespace {

[[noreturn]] void bad_argument(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, "holitom: " + message);
}

void check_tokens(const at::Tensor& tokens) {
  if (!tokens.defined() || tokens.dim() != 3) bad_argument("tokens must be [T, N, D]");
  if (tokens.size(0) < 1 || tokens.size(1) < 1 || tokens.size(2) < 1) {
    bad_argument("tokens [T, N, D] must have T, N, D >= 1");
  }
  if (!at::isFloatingType(tokens.scalar_type())) bad_argument("tokens must be floating point");
  if (!at::isfinite(tokens).all().item<bool>()) {
    throw Error(ErrorKind::kInvalidInput, "holitom: tokens contain NaN or infinity");
  }
}

void check_inputs(const at::Tensor& tokens, const at::Tensor& attention,
                  std::span<const double> times, const HolitomOptions& options,
                  const at::Tensor& newline) {
  check_tokens(tokens);
  const int64_t frames = tokens.size(0);
  const int64_t positions = tokens.size(1);
  if (!attention.defined() || attention.dim() != 2 || attention.size(0) != frames ||
      attention.size(1) != positions) {
    bad_argument("attention must be [T, N] = [" + std::to_string(frames) + ", " +
                 std::to_string(positions) + "]");
  }
  if (!at::isFloatingType(attention.scalar_type()))
    bad_argument("attention must be floating point");
  if (!at::isfinite(attention).all().item<bool>()) {
    throw Error(ErrorKind::kInvalidInput, "holitom: attention contains NaN or infinity");
  }
  if (!times.empty() && static_cast<int64_t>(times.size()) != frames) {
    bad_argument("got " + std::to_string(times.size()) + " frame times for " +
                 std::to_string(frames) + " frames");
  }
  if (!std::isfinite(options.retain_ratio) || options.retain_ratio < 0.0) {
    bad_argument("retain ratio must be finite and >= 0");
  }
  if (!std::isfinite(options.tau)) bad_argument("tau must be finite");
  if (options.beta && !std::isfinite(*options.beta)) bad_argument("beta must be finite");
  if (!(options.contextual_share >= 0.0 && options.contextual_share <= 1.0)) {
    bad_argument("contextual share must be in [0, 1]");
  }
  if (options.k_max < 1) bad_argument("k (kNN size) must be >= 1");
  if (options.max_window < 1) bad_argument("max window must be >= 1");
  if (options.layout == NewlineLayout::kGrid) {
    const auto side = static_cast<int64_t>(std::sqrt(static_cast<double>(positions)));
    if (side * side != positions) {
      bad_argument("the grid layout needs a square number of tokens per frame, got " +
                   std::to_string(positions));
    }
    if (!newline.defined() || newline.numel() != tokens.size(2)) {
      bad_argument("the grid layout needs a newline vector of size D");
    }
  }
}

// Indices of the `count` largest values, ties to the lower index, returned ascending.
std::vector<int64_t> top_indices_ascending(const std::vector<float>& values, int64_t count) {
  std::vector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return values[static_cast<size_t>(a)] > values[static_cast<size_t>(b)];
  });
  order.resize(static_cast<size_t>(count));
  std::sort(order.begin(), order.end());
  return order;
}

// One frame block (or the static part) being assembled: rows as flat sources into a token
// table plus their origins and members.
struct Piece {
  at::Tensor tokens;  // [k, D]
  std::vector<TokenOrigin> origins;
  std::vector<std::vector<int32_t>> members;
};

Piece concat_pieces(std::vector<Piece>& pieces, int64_t dim, const at::TensorOptions& options) {
  Piece out;
  std::vector<at::Tensor> parts;
  for (Piece& piece : pieces) {
    if (piece.origins.empty()) continue;
    parts.push_back(piece.tokens);
    out.origins.insert(out.origins.end(), piece.origins.begin(), piece.origins.end());
    for (auto& m : piece.members)
      out.members.push_back(std::move(m));
  }
  out.tokens = parts.empty() ? at::empty({0, dim}, options) : at::cat(parts, 0);
  return out;
}

// Grid layout of one frame block: tokens sorted by position, a newline after each non-empty row.
Piece grid_block(Piece block, int64_t side, const at::Tensor& newline) {
  const size_t count = block.origins.size();
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return block.origins[a].pos < block.origins[b].pos; });
  std::vector<int64_t> rows;  // into [block tokens ; newline]
  Piece out;
  size_t next = 0;
  for (int64_t row = 0; row < side; ++row) {
    bool any = false;
    while (next < count && block.origins[order[next]].pos / side == row) {
      rows.push_back(static_cast<int64_t>(order[next]));
      out.origins.push_back(block.origins[order[next]]);
      out.members.push_back(std::move(block.members[order[next]]));
      any = true;
      ++next;
    }
    if (any) {
      rows.push_back(static_cast<int64_t>(count));
      out.origins.push_back({TokenKind::kNewline, block.origins[order[next - 1]].frame_begin,
                             block.origins[order[next - 1]].frame_begin, -1});
      out.members.emplace_back();
    }
  }
  const at::Tensor table =
      at::cat({block.tokens, newline.reshape({1, -1}).to(block.tokens.options())}, 0);
  out.tokens = table.index_select(0, detail::index_tensor(rows, table.device()));
  return out;
}

class NoiseSource {
 public:
  explicit NoiseSource(std::optional<uint64_t> seed) {
    if (seed) generator_ = at::detail::createCPUGenerator(*seed);
  }
  // The authors' `torch.rand(shape) * 1e-6`, or an undefined tensor when the noise is off.
  at::Tensor draw(at::IntArrayRef shape) {
    if (!generator_) return {};
    return at::rand(shape, *generator_, at::TensorOptions().dtype(at::kFloat)) * 1e-6;
  }

 private:
  std::optional<at::Generator> generator_;
};

MergeResult run_holitom(const at::Tensor& tokens_in, const at::Tensor& attention,
                        std::span<const double> times, const HolitomSegmentation& segmentation,
                        double retain_ratio, const HolitomOptions& options,
                        const at::Tensor& newline) {
  const at::Tensor tokens = tokens_in.to(at::kFloat).contiguous();
  const int64_t frames = tokens.size(0);
  const int64_t positions = tokens.size(1);
  const int64_t dim = tokens.size(2);
  const at::Tensor flat = tokens.reshape({frames * positions, dim});
  const at::Tensor attn_host = attention.to(at::kCPU).to(at::kFloat).contiguous();
  const float* attn = attn_host.data_ptr<float>();
  const std::vector<double> time = detail::frame_times(times, frames);
  const double ratio =
      holitom_effective_ratio(retain_ratio, frames, positions, segmentation.reduced);
  const auto side = static_cast<int64_t>(std::sqrt(static_cast<double>(positions)));
  NoiseSource noise(options.density_noise_seed);

  MergeResult result;
  result.input_tokens = frames * positions;
  result.retain_ratio = retain_ratio;
  for (size_t index = 0; index < segmentation.segments.size(); ++index) {
    const auto [s, e] = segmentation.segments[index];
    const int64_t length = e - s + 1;
    const std::vector<uint8_t>& is_static = segmentation.static_mask[index];
    std::vector<int64_t> static_pos;
    std::vector<int64_t> dynamic_pos;
    for (int64_t n = 0; n < positions; ++n) {
      (is_static[static_cast<size_t>(n)] ? static_pos : dynamic_pos).push_back(n);
    }

    // Dynamic tokens first (the authors' call order matters for the optional noise).
    const auto n_dynamic = static_cast<int64_t>(dynamic_pos.size());
    const auto total_dyn = static_cast<int64_t>(std::ceil(static_cast<double>(n_dynamic) * ratio));
    const auto k_dom = static_cast<int64_t>(
        round_half_even(static_cast<double>(total_dyn) * (1.0 - options.contextual_share)));
    const int64_t k_ctx = total_dyn - k_dom;
    const at::Tensor ctx_noise = k_ctx > 0 ? noise.draw({length, n_dynamic - k_dom}) : at::Tensor();
    std::vector<Piece> frame_pieces;
    for (int64_t t = s; t <= e; ++t) {
      std::vector<float> scores(static_cast<size_t>(n_dynamic));
      for (int64_t i = 0; i < n_dynamic; ++i) {
        scores[static_cast<size_t>(i)] = attn[t * positions + dynamic_pos[static_cast<size_t>(i)]];
      }
      const std::vector<int64_t> dominant = top_indices_ascending(scores, k_dom);
      Piece piece;
      std::vector<int64_t> rows;
      for (const int64_t local : dominant) {
        const int64_t pos = dynamic_pos[static_cast<size_t>(local)];
        rows.push_back(t * positions + pos);
        piece.origins.push_back({TokenKind::kKept, static_cast<int32_t>(t), static_cast<int32_t>(t),
                                 static_cast<int32_t>(pos)});
        piece.members.push_back({static_cast<int32_t>(t * positions + pos)});
      }
      piece.tokens = flat.index_select(0, detail::index_tensor(rows, flat.device()));
      if (k_ctx > 0) {
        std::vector<uint8_t> taken(static_cast<size_t>(n_dynamic), 0);
        for (const int64_t local : dominant)
          taken[static_cast<size_t>(local)] = 1;
        std::vector<int64_t> rest_pos;
        for (int64_t i = 0; i < n_dynamic; ++i) {
          if (!taken[static_cast<size_t>(i)])
            rest_pos.push_back(dynamic_pos[static_cast<size_t>(i)]);
        }
        std::vector<int64_t> rest_rows;
        for (const int64_t pos : rest_pos)
          rest_rows.push_back(t * positions + pos);
        const at::Tensor rest =
            flat.index_select(0, detail::index_tensor(rest_rows, flat.device()));
        const DpcKnnClusters clusters =
            dpc_knn_cluster(rest, k_ctx, std::min(options.k_max, k_ctx),
                            ctx_noise.defined() ? ctx_noise[t - s] : at::Tensor());
        piece.tokens = at::cat({piece.tokens, dpc_knn_merge(rest, clusters, options.beta)}, 0);
        for (size_t c = 0; c < clusters.centres.size(); ++c) {
          const int64_t pos = rest_pos[static_cast<size_t>(clusters.centres[c])];
          piece.origins.push_back({TokenKind::kMerged, static_cast<int32_t>(t),
                                   static_cast<int32_t>(t), static_cast<int32_t>(pos)});
          std::vector<int32_t> members;
          for (size_t i = 0; i < clusters.assignment.size(); ++i) {
            if (clusters.assignment[i] == static_cast<int64_t>(c)) {
              members.push_back(static_cast<int32_t>(t * positions + rest_pos[i]));
            }
          }
          piece.members.push_back(std::move(members));
        }
      }
      frame_pieces.push_back(std::move(piece));
    }

    // Static tokens: temporal means, then DPC-KNN into C centres.
    Piece static_piece;
    static_piece.tokens = at::empty({0, dim}, tokens.options());
    const auto n_static = static_cast<int64_t>(static_pos.size());
    if (length > 1 && n_static > 0) {
      const auto centres =
          static_cast<int64_t>(round_half_even(static_cast<double>(n_static) * ratio));
      if (centres > 0) {
        const at::Tensor means =
            tokens.slice(0, s, e + 1)
                .index_select(1, detail::index_tensor(static_pos, tokens.device()))
                .mean(0);
        const at::Tensor static_noise = noise.draw({1, n_static});
        const DpcKnnClusters clusters =
            dpc_knn_cluster(means, centres, std::min(options.k_max, centres),
                            static_noise.defined() ? static_noise[0] : at::Tensor());
        static_piece.tokens = dpc_knn_merge(means, clusters, options.beta);
        for (size_t c = 0; c < clusters.centres.size(); ++c) {
          static_piece.origins.push_back(
              {TokenKind::kMerged, static_cast<int32_t>(s), static_cast<int32_t>(e),
               static_cast<int32_t>(static_pos[static_cast<size_t>(clusters.centres[c])])});
          std::vector<int32_t> members;
          for (int64_t t = s; t <= e; ++t) {
            for (size_t i = 0; i < clusters.assignment.size(); ++i) {
              if (clusters.assignment[i] == static_cast<int64_t>(c)) {
                members.push_back(static_cast<int32_t>(t * positions + static_pos[i]));
              }
            }
          }
          std::sort(members.begin(), members.end());
          static_piece.members.push_back(std::move(members));
        }
      }
    }

    Piece assembled;
    if (options.layout == NewlineLayout::kOneToken) {
      std::vector<Piece> all;
      all.push_back(std::move(static_piece));
      for (Piece& piece : frame_pieces)
        all.push_back(std::move(piece));
      assembled = concat_pieces(all, dim, tokens.options());
    } else {
      std::vector<Piece> blocks;
      for (size_t f = 0; f < frame_pieces.size(); ++f) {
        std::vector<Piece> parts;
        if (f == 0) parts.push_back(std::move(static_piece));
        parts.push_back(std::move(frame_pieces[f]));
        blocks.push_back(grid_block(concat_pieces(parts, dim, tokens.options()), side, newline));
      }
      assembled = concat_pieces(blocks, dim, tokens.options());
    }

    MergedSegment segment;
    segment.frame_begin = s;
    segment.frame_end = e;
    segment.t_begin = time[static_cast<size_t>(s)];
    segment.t_end = time[static_cast<size_t>(e)];
    segment.tokens = std::move(assembled.tokens);
    segment.origins = std::move(assembled.origins);
    segment.members = std::move(assembled.members);
    result.segments.push_back(std::move(segment));
  }
  return result;
}

}  // namespace

at::Tensor holitom_similarity(const at::Tensor& tokens) {
  check_tokens(tokens);
  const at::Tensor x = tokens.to(at::kFloat);
  const int64_t frames = x.size(0);
  if (frames < 2) return at::empty({0, x.size(1)}, x.options());
  // torch.nn.functional.normalize(x, p=2, dim=-1), eps 1e-12.
  const at::Tensor normed = x / x.norm(2, {-1}, true).clamp_min(1e-12);
  // torch.nn.functional.cosine_similarity(a, b, dim=-1), eps 1e-8, as torch 2.x computes it.
  const at::Tensor a = normed.slice(0, 0, frames - 1);
  const at::Tensor b = normed.slice(0, 1, frames);
  const at::Tensor na = a.norm(2, {-1}, true).clamp_min(1e-8);
  const at::Tensor nb = b.norm(2, {-1}, true).clamp_min(1e-8);
  return ((a / na) * (b / nb)).sum(-1);
}

HolitomSegmentation holitom_segment(const at::Tensor& tokens, double tau, int64_t max_window) {
  if (max_window < 1) bad_argument("max window must be >= 1");
  const at::Tensor similarity = holitom_similarity(tokens);
  const int64_t frames = tokens.size(0);
  const int64_t positions = tokens.size(1);
  // `S > tau` in float32, as the authors compare a float tensor with a Python float.
  const at::Tensor above_t = similarity.gt(tau).to(at::kCPU).to(at::kByte).contiguous();
  const uint8_t* above = above_t.data_ptr<uint8_t>();

  // best[i]: most tokens removable in frames 0..i; start[i]: first frame of the last segment.
  std::vector<int64_t> best(static_cast<size_t>(frames), 0);
  std::vector<int64_t> start(static_cast<size_t>(frames), 0);
  std::vector<uint8_t> running(static_cast<size_t>(positions));
  for (int64_t i = 0; i < frames; ++i) {
    best[static_cast<size_t>(i)] = i > 0 ? best[static_cast<size_t>(i - 1)] : 0;
    start[static_cast<size_t>(i)] = i;
    std::fill(running.begin(), running.end(), 1);
    const int64_t widest = std::min(i + 1, max_window);
    for (int64_t w = 2; w <= widest; ++w) {
      const int64_t s = i - w + 1;  // segment [s, i]; the previous one ends at j = s - 1
      int64_t count = 0;
      const uint8_t* row = above + s * positions;
      for (int64_t n = 0; n < positions; ++n) {
        running[static_cast<size_t>(n)] &= row[n];
        count += running[static_cast<size_t>(n)];
      }
      // With no static position left, wider windows gain nothing and cannot win (strict '>').
      if (count == 0) break;
      const int64_t value = (s >= 1 ? best[static_cast<size_t>(s - 1)] : 0) + count * (w - 1);
      if (value > best[static_cast<size_t>(i)]) {
        best[static_cast<size_t>(i)] = value;
        start[static_cast<size_t>(i)] = s;
      }
    }
  }

  HolitomSegmentation result;
  result.frames = frames;
  result.positions = positions;
  result.reduced = best[static_cast<size_t>(frames - 1)];
  for (int64_t i = frames - 1; i >= 0; i = start[static_cast<size_t>(i)] - 1) {
    result.segments.emplace_back(start[static_cast<size_t>(i)], i);
  }
  std::reverse(result.segments.begin(), result.segments.end());
  for (const auto& [s, e] : result.segments) {
    std::vector<uint8_t> mask(static_cast<size_t>(positions), e > s ? 1 : 0);
    for (int64_t t = s; t < e; ++t) {
      for (int64_t n = 0; n < positions; ++n)
        mask[static_cast<size_t>(n)] &= above[t * positions + n];
    }
    result.static_mask.push_back(std::move(mask));
  }
  return result;
}

double holitom_effective_ratio(double retain_ratio, int64_t frames, int64_t positions,
                               int64_t reduced) {
  const auto total = static_cast<double>(frames * positions);
  const double kept_share = (total - static_cast<double>(reduced)) / total;
  return std::min(retain_ratio / kept_share, 1.0);
}

int64_t holitom_token_count(const HolitomSegmentation& segmentation, double effective_ratio) {
  int64_t count = 0;
  for (size_t index = 0; index < segmentation.segments.size(); ++index) {
    const auto [s, e] = segmentation.segments[index];
    const int64_t n_static = std::accumulate(segmentation.static_mask[index].begin(),
                                             segmentation.static_mask[index].end(), int64_t{0});
    const int64_t n_dynamic = segmentation.positions - n_static;
    if (e > s && n_static > 0) {
      count +=
          static_cast<int64_t>(round_half_even(static_cast<double>(n_static) * effective_ratio));
    }
    count += (e - s + 1) *
             static_cast<int64_t>(std::ceil(static_cast<double>(n_dynamic) * effective_ratio));
  }
  return count;
}

MergeResult holitom_merge(const at::Tensor& tokens, const at::Tensor& attention,
                          std::span<const double> times, const HolitomOptions& options,
                          const at::Tensor& newline) {
  check_inputs(tokens, attention, times, options, newline);
  const HolitomSegmentation segmentation = holitom_segment(tokens, options.tau, options.max_window);
  MergeResult result =
      run_holitom(tokens, attention, times, segmentation, options.retain_ratio, options, newline);
  result.budget = result.token_count();
  return result;
}

MergeResult holitom_merge_within(const at::Tensor& tokens, const at::Tensor& attention,
                                 std::span<const double> times, const TokenBudget& budget,
                                 const HolitomOptions& options, const at::Tensor& newline) {
  check_inputs(tokens, attention, times, options, newline);
  const int64_t frames = tokens.size(0);
  const int64_t positions = tokens.size(1);
  const int64_t total = frames * positions;
  const int64_t cap = budget.cap(total);
  const HolitomSegmentation segmentation = holitom_segment(tokens, options.tau, options.max_window);
  auto count_at = [&](double r) {
    return holitom_token_count(segmentation,
                               holitom_effective_ratio(r, frames, positions, segmentation.reduced));
  };
  double ratio = budget.is_ratio() ? budget.ratio_value()
                                   : static_cast<double>(cap) / static_cast<double>(total);
  if (count_at(ratio) > cap) {
    // count_at(0) == 0 <= cap; keep count_at(low) <= cap < count_at(high).
    double low = 0.0;
    double high = ratio;
    for (int iteration = 0; iteration < 100 && high - low > 1e-15; ++iteration) {
      const double mid = 0.5 * (low + high);
      (count_at(mid) <= cap ? low : high) = mid;
    }
    ratio = low;
  }
  MergeResult result = run_holitom(tokens, attention, times, segmentation, ratio, options, newline);
  result.budget = cap;
  if (result.token_count() > cap) {
    throw Error(ErrorKind::kInternal, "holitom: budgeted merge exceeded its cap");
  }
  return result;
}

}  // namespace clipmind::compress
