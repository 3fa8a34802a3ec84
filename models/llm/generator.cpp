#include "models/llm/generator.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "models/non_finite.h"
#include "models/tokenizer/bpe_tokenizer.h"

namespace clipmind::models {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Length of the longest suffix of `text` that is a proper prefix of one of the stop strings.
size_t held_suffix(const std::string& text, const std::vector<std::string>& stops) {
  size_t held = 0;
  for (const auto& stop : stops) {
    for (size_t len = std::min(stop.size() - 1, text.size()); len > held; --len) {
      if (text.compare(text.size() - len, len, stop, 0, len) == 0) {
        held = len;
        break;
      }
    }
  }
  return held;
}

// Damaged language weights load fine and make the logits NaN (models/non_finite.h); the
// sampler would then pick from noise. One reduction per forward pass, on the logits' device.
void require_finite_logits(const at::Tensor& logits, const std::string& when) {
  require_finite(logits, "the language model's output (logits " + when + ")",
                 "the model's language weights look damaged");
}

}  // namespace

std::string stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kStopToken:
      return "stop token";
    case StopReason::kStopString:
      return "stop string";
    case StopReason::kMaxTokens:
      return "max tokens";
    case StopReason::kContextFull:
      return "context full";
    case StopReason::kCallback:
      return "stopped by caller";
  }
  return "?";
}

GenerationResult generate(const Decoder& decoder, KvCache& cache, const PromptInput& prompt,
                          const Tokenizer* tokenizer, const GenerationOptions& options) {
  if (options.max_new_tokens < 0)
    throw Error(ErrorKind::kInvalidArgument, "max new tokens must be >= 0");
  if (!options.stop_strings.empty() && !tokenizer) {
    throw Error(ErrorKind::kInvalidArgument, "stop strings need a tokenizer");
  }
  for (const auto& s : options.stop_strings) {
    if (s.empty()) throw Error(ErrorKind::kInvalidArgument, "stop strings must not be empty");
  }
  const int64_t context = decoder.config().max_position_embeddings;
  if (prompt.empty()) throw Error(ErrorKind::kInvalidInput, "the prompt is empty");
  if (cache.length() + prompt.length() > context) {
    throw Error(ErrorKind::kInvalidInput,
                "the prompt has " + std::to_string(prompt.length()) + " tokens" +
                    (cache.length() > 0 ? " (after " + std::to_string(cache.length()) + " cached)"
                                        : std::string()) +
                    ", more than the model's context of " + std::to_string(context));
  }
  Sampler sampler(options.sampling);

  GenerationResult result;
  result.prompt_tokens = prompt.length();
  const auto prefill_start = std::chrono::steady_clock::now();
  ForwardOptions prefill;
  prefill.logits = LogitsMode::kLast;
  prefill.chunk_size = options.prefill_chunk;
  prefill.reducer = options.reducer;
  prefill.visual = options.visual;
  prefill.cancel = options.cancel;
  prefill.progress = options.progress;
  at::Tensor logits = decoder.forward(prompt, cache, prefill).logits;
  require_finite_logits(logits, "at prefill");
  result.prefill_seconds = seconds_since(prefill_start);

  const auto decode_start = std::chrono::steady_clock::now();
  std::optional<StreamDecoder> stream;
  if (tokenizer) stream.emplace(*tokenizer, /*skip_special=*/true);
  std::string text;    // everything decoded so far
  size_t emitted = 0;  // bytes of `text` already handed to the callback
  std::vector<at::Tensor> step_logits;
  ForwardOptions step;
  step.logits = LogitsMode::kLast;
  step.cancel = options.cancel;

  for (int64_t index = 0; index < options.max_new_tokens; ++index) {
    options.cancel.throw_if_cancelled();
    if (options.keep_step_logits) step_logits.push_back(logits.reshape({1, -1}));
    const int64_t id = sampler.sample(logits);
    result.ids.push_back(id);

    std::optional<StopReason> stop;
    if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), id) !=
        options.stop_tokens.end()) {
      stop = StopReason::kStopToken;
    }
    if (stream && !stop && tokenizer->has_token(id)) text += stream->push(id);
    size_t visible = text.size();
    if (!options.stop_strings.empty()) {
      size_t found = std::string::npos;
      for (const auto& s : options.stop_strings) {
        const size_t from = emitted >= s.size() ? emitted - s.size() + 1 : 0;
        const size_t at = text.find(s, from);
        if (at != std::string::npos && at < found) found = at;
      }
      if (found != std::string::npos) {
        text.resize(found);
        visible = found;
        stop = StopReason::kStopString;
      }
    }
    if (!stop && index + 1 == options.max_new_tokens) stop = StopReason::kMaxTokens;
    if (!stop && cache.length() >= context) stop = StopReason::kContextFull;
    if (stop && *stop != StopReason::kStopString && stream) {
      text += stream->finish();
      visible = text.size();
    } else if (!stop) {
      visible = text.size() - held_suffix(text, options.stop_strings);
    }
    TokenEvent event{id, index, text.substr(emitted, visible > emitted ? visible - emitted : 0)};
    emitted = std::max(emitted, visible);
    const bool keep_going = !options.on_token || options.on_token(event);
    if (stop) {
      result.stop = *stop;
      break;
    }
    if (!keep_going) {
      result.stop = StopReason::kCallback;
      if (stream) text += stream->finish();
      break;
    }
    logits = decoder.forward(PromptInput::tokens({id}), cache, step).logits;
    require_finite_logits(logits, "for generated token " + std::to_string(index + 2));
  }
  result.text = text;
  result.decode_seconds = seconds_since(decode_start);
  if (options.keep_step_logits && !step_logits.empty())
    result.step_logits = at::cat(step_logits, 0);
  return result;
}

}  // namespace clipmind::models
