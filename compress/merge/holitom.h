// HoliTom outer-LLM token merging (Shao et al., arXiv 2505.21334; code cokeshao/HoliTom),
// as specified in docs/design/methods.md "HoliTom" (a)-(c):
//   1. global redundancy-aware temporal segmentation (a dynamic programme over frames),
//   2. temporal merge: a position that stays similar over a segment becomes one mean token,
//   3. spatial merge: DPC-KNN clustering of those static tokens (beta-merge into C centres) and
//      attention top-k of the dynamic tokens in every frame.
//
// holitom_merge() reproduces the authors' code (checked against tests/data/merge-golden): same
// segments, counts and order, tokens within 1e-4. Because the authors round C with round() and
// the dynamic count with ceil(), its output can exceed R*T*N. holitom_merge_within() is the
// budgeted form every pipeline stage uses: it never exceeds TokenBudget::cap(T*N) (see there).
//
// Deterministic choices where the reference is random or unspecified (documented in
// docs/compress.md): the 1e-6 density noise is off unless a seed is given; ties in attention,
// DPC score and nearest centre go to the lower index; distances are exact difference norms (not
// torch.cdist's matrix-product path). Input tensors may live on any device; the result's tensors
// are on that device in float32. Throws clipmind::Error(kInvalidArgument) on bad shapes or
// parameters and kInvalidInput on non-finite values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "compress/merge/merged_segment.h"

namespace clipmind::compress {

// Where newline tokens go. kOneToken (LLaVA-OneVision): no newline rows here; the model appends
// one newline after the whole video. kGrid (LLaVA-Video): a newline row after every non-empty
// spatial row of every frame block (TokenKind::kNewline, pos -1); needs N to be a square.
enum class NewlineLayout { kOneToken, kGrid };

struct HolitomOptions {
  double retain_ratio = 0.10;        // R (env RETAIN_RATIO)
  double tau = 0.80;                 // similarity threshold (env T)
  std::optional<double> beta = 0.6;  // centre weight (env BETA); nullopt = NO_BETA plain mean
  double contextual_share = 0.0;     // env D: share of dynamic tokens merged by DPC-KNN
  int64_t k_max = 7;                 // kNN size cap (env K)
  int64_t max_window = 1024;         // W_max (env MAX_WINDOW_SIZE)
  NewlineLayout layout = NewlineLayout::kOneToken;
  // The authors add U(0,1)*1e-6 to every density to break ties. Off (nullopt) by default; with a
  // seed the noise is drawn from LibTorch's CPU generator in the authors' call order.
  std::optional<uint64_t> density_noise_seed;
};

// Step (a): the partition of frames 0..T-1 into segments and, per segment, which positions are
// static (similar to the next frame above tau over the whole segment; none for a singleton).
struct HolitomSegmentation {
  int64_t frames = 0;                                 // T
  int64_t positions = 0;                              // N
  std::vector<std::pair<int64_t, int64_t>> segments;  // inclusive [s, e], time order
  std::vector<std::vector<uint8_t>> static_mask;      // per segment, N flags
  int64_t reduced = 0;                                // tokens the temporal merge removes
};

// Consecutive-frame cosine similarity S[t, n] of the same position, [T-1, N] float32, computed
// as the authors do (L2-normalise, then cosine_similarity with eps 1e-8).
at::Tensor holitom_similarity(const at::Tensor& tokens);

HolitomSegmentation holitom_segment(const at::Tensor& tokens, double tau, int64_t max_window);

// R' = min(R / ((T*N - reduced) / (T*N)), 1), in the authors' floating-point order.
double holitom_effective_ratio(double retain_ratio, int64_t frames, int64_t positions,
                               int64_t reduced);

// Visual tokens holitom_merge() emits for a segmentation and R' (newlines excluded).
int64_t holitom_token_count(const HolitomSegmentation& segmentation, double effective_ratio);

// The authors' algorithm. tokens [T, N, D] floating, attention [T, N]; times empty (frame
// index = seconds) or T values. newline [D] is required for NewlineLayout::kGrid.
MergeResult holitom_merge(const at::Tensor& tokens, const at::Tensor& attention,
                          std::span<const double> times, const HolitomOptions& options,
                          const at::Tensor& newline = {});

// Budgeted HoliTom: the cap is budget.cap(T*N). It runs with R = the budget's ratio (or
// cap / (T*N) for a token budget); if that would emit more than the cap, it runs with the
// largest R below it whose output fits (the count is monotone in R and computed without merging,
// so this is a search over R, not a trim). options.retain_ratio is ignored; the R used is in
// MergeResult::retain_ratio.
MergeResult holitom_merge_within(const at::Tensor& tokens, const at::Tensor& attention,
                                 std::span<const double> times, const TokenBudget& budget,
                                 const HolitomOptions& options, const at::Tensor& newline = {});

}  // namespace clipmind::compress
