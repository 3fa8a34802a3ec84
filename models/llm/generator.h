// Text generation on top of Decoder: prefill a prompt into a KvCache, then sample token by
// token until a stop token, a stop string, max_new_tokens, the end of the context, the
// caller's callback, or cancellation.
//
// Streaming: on_token runs on the calling thread once per generated token with the text that
// became final with it. Text is held back while it could still be the start of a stop string
// or of a UTF-8 character, so a consumer never sees half a character or part of a stop string;
// the last event also carries whatever was held back. Special tokens produce no text; ids the
// tokenizer does not know (padding rows of a resized embedding) are dropped from the text.
//
// The cache afterwards holds the prompt and every generated token except the last one (which
// was sampled but never fed); truncate it to continue a chat from a known point.
// Throws kInvalidInput when the prompt does not fit the context, kInvalidArgument for bad
// options, Cancelled when the token fires (the cache then holds what was fed before), and
// NonFiniteOutput (kInvalidInput, models/non_finite.h) when the logits of the prefill or of any
// step hold NaN or infinity (damaged weights): no token is sampled from them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "clipmind/progress.h"
#include "models/llm/decoder.h"
#include "models/llm/sampler.h"

namespace clipmind::models {

class Tokenizer;

enum class StopReason { kStopToken, kStopString, kMaxTokens, kContextFull, kCallback };
std::string stop_reason_name(StopReason reason);

struct TokenEvent {
  int64_t id = 0;
  int64_t index = 0;  // 0-based position in the generated sequence
  std::string text;   // newly final text (may be empty)
};
// Return false to stop generating.
using TokenCallback = std::function<bool(const TokenEvent&)>;

struct GenerationOptions {
  int64_t max_new_tokens = 256;
  SamplingOptions sampling;
  std::vector<int64_t> stop_tokens;
  std::vector<std::string> stop_strings;  // need a tokenizer
  TokenCallback on_token;
  CancelToken cancel;
  int64_t prefill_chunk = 0;
  const compress::LayerReducer* reducer = nullptr;
  std::vector<compress::VisualSpan> visual;  // indices into the prompt
  bool keep_step_logits = false;
  ProgressCallback progress;
};

struct GenerationResult {
  std::vector<int64_t> ids;  // generated ids, including the stop token that ended them
  std::string text;          // without special tokens and without the stop string
  StopReason stop = StopReason::kMaxTokens;
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  at::Tensor step_logits;  // [ids.size(), V] float32 when keep_step_logits
};

GenerationResult generate(const Decoder& decoder, KvCache& cache, const PromptInput& prompt,
                          const Tokenizer* tokenizer, const GenerationOptions& options);

}  // namespace clipmind::models
