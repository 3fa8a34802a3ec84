// Output types shared by every outer-LLM token reducer (HoliTom, ToMe, DivPrune) and the token
// budget they all accept.
//
// A reducer turns visual tokens [T, N, D] of T frames (with their times) into segments in time
// order. Each segment covers a contiguous run of input frames (segments never overlap and,
// together, cover every frame), carries the time span of those frames, and owns its tokens
// [M, D] plus one TokenOrigin row per token saying where the token came from. Tensors are on
// the input's device and dtype; everything else is plain host data.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

namespace clipmind::compress {

// What one output token is. The numbers are those of the merge-golden fixture index
// (`out_index.npy`): 0 static merged, 1 dynamic kept, 2 newline (grid layout only).
enum class TokenKind : int32_t { kMerged = 0, kKept = 1, kNewline = 2 };

// Where a token came from: frames [frame_begin, frame_end] (input frame indices, inclusive) and
// the spatial position `pos` in 0..N-1 (-1 for a newline). A kept token has
// frame_begin == frame_end. A merged token's pos is its representative's position (HoliTom: the
// DPC-KNN centre; ToMe: the destination token that absorbed the others).
struct TokenOrigin {
  TokenKind kind = TokenKind::kKept;
  int32_t frame_begin = 0;
  int32_t frame_end = 0;
  int32_t pos = 0;

  friend bool operator==(const TokenOrigin&, const TokenOrigin&) = default;
};

struct MergedSegment {
  int64_t frame_begin = 0;  // inclusive input frame indices
  int64_t frame_end = 0;
  double t_begin = 0.0;  // times of frame_begin and frame_end, seconds
  double t_end = 0.0;
  at::Tensor tokens;                 // [M, D]; M may be 0 under a very small budget
  std::vector<TokenOrigin> origins;  // M rows, parallel to tokens
  // Members of each token as flat input indices frame * N + pos, ascending (a kept token has
  // exactly itself). ToMe tokens are the size-weighted mean of their members; HoliTom's static
  // tokens are the beta-merge of their members' temporal means (see holitom.h).
  std::vector<std::vector<int32_t>> members;
};

struct MergeResult {
  std::vector<MergedSegment> segments;  // time order, contiguous, non-overlapping
  int64_t input_tokens = 0;             // T * N
  int64_t budget = 0;                   // the cap the reducer was held to (see TokenBudget)
  double retain_ratio = 0.0;            // the ratio the method actually ran with

  // Visual tokens over all segments (newline rows of the grid layout excluded).
  int64_t token_count() const;
  // Rows over all segments, newline rows included.
  int64_t row_count() const;
  // All segments' tokens concatenated in order: [sum M, D] (an empty [0, D] when there are none).
  at::Tensor concatenated_tokens() const;
  std::vector<TokenOrigin> concatenated_origins() const;
};

// A token budget: either an absolute number of tokens or a ratio of the input tokens.
// cap(n) is the most tokens a reducer may emit for n input tokens:
//   tokens:  min(tokens, n)
//   ratio:   floor(ratio * n + 1e-9), so 0.3 * 10 counts as 3 and not 2.999...
// A reducer given a budget never emits more than cap(n) visual tokens.
class TokenBudget {
 public:
  static TokenBudget tokens(int64_t count);  // count >= 0, else kInvalidArgument
  static TokenBudget ratio(double ratio);    // 0 <= ratio <= 1, else kInvalidArgument

  int64_t cap(int64_t input_tokens) const;
  bool is_ratio() const { return ratio_.has_value(); }
  double ratio_value() const { return ratio_.value_or(0.0); }
  int64_t token_value() const { return tokens_; }

 private:
  TokenBudget() = default;
  int64_t tokens_ = 0;
  std::optional<double> ratio_;
};

// Python's round(): half to even (std::nearbyint in the default rounding mode).
double round_half_even(double value);

}  // namespace clipmind::compress
