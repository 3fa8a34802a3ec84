#include "compress/merge/merged_segment.h"

#include <cfenv>
#include <cmath>
#include <string>

#include <ATen/ATen.h>

#include "clipmind/error.h"

namespace clipmind::compress {

int64_t MergeResult::token_count() const {
  int64_t count = 0;
  for (const MergedSegment& segment : segments) {
    for (const TokenOrigin& origin : segment.origins) {
      if (origin.kind != TokenKind::kNewline) ++count;
    }
  }
  return count;
}

int64_t MergeResult::row_count() const {
  int64_t count = 0;
  for (const MergedSegment& segment : segments)
    count += static_cast<int64_t>(segment.origins.size());
  return count;
}

at::Tensor MergeResult::concatenated_tokens() const {
  std::vector<at::Tensor> parts;
  for (const MergedSegment& segment : segments) {
    if (segment.tokens.defined() && segment.tokens.size(0) > 0) parts.push_back(segment.tokens);
  }
  if (!parts.empty()) return at::cat(parts, 0);
  for (const MergedSegment& segment : segments) {
    if (segment.tokens.defined()) return segment.tokens.new_empty({0, segment.tokens.size(1)});
  }
  return at::empty({0, 0});
}

std::vector<TokenOrigin> MergeResult::concatenated_origins() const {
  std::vector<TokenOrigin> all;
  for (const MergedSegment& segment : segments) {
    all.insert(all.end(), segment.origins.begin(), segment.origins.end());
  }
  return all;
}

TokenBudget TokenBudget::tokens(int64_t count) {
  if (count < 0) {
    throw Error(ErrorKind::kInvalidArgument,
                "token budget must be >= 0, got " + std::to_string(count));
  }
  TokenBudget budget;
  budget.tokens_ = count;
  return budget;
}

TokenBudget TokenBudget::ratio(double ratio) {
  if (!(ratio >= 0.0 && ratio <= 1.0)) {
    throw Error(ErrorKind::kInvalidArgument,
                "retain ratio must be in [0, 1], got " + std::to_string(ratio));
  }
  TokenBudget budget;
  budget.ratio_ = ratio;
  return budget;
}

int64_t TokenBudget::cap(int64_t input_tokens) const {
  if (input_tokens <= 0) return 0;
  if (!ratio_) return std::min(tokens_, input_tokens);
  const double scaled = std::floor(*ratio_ * static_cast<double>(input_tokens) + 1e-9);
  return std::min(static_cast<int64_t>(scaled), input_tokens);
}

double round_half_even(double value) {
  // The default rounding mode is round-to-nearest-even; nothing in clipmind changes it.
  return std::nearbyint(value);
}

}  // namespace clipmind::compress
