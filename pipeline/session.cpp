#include "pipeline/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include <ATen/ATen.h>

#include "clipmind/counted.h"
#include "clipmind/error.h"
#include "compress/budget/prefill_flops.h"
#include "compress/budget/token_plan.h"
#include "compress/merge/inner_reducers.h"
#include "compress/separators/time_separators.h"
#include "models/llm/runtime.h"
#include "models/tokenizer/bpe_tokenizer.h"
#include "models/vlm/llava_onevision.h"
#include "pipeline/encode_stage.h"
#include "pipeline/errors.h"
#include "pipeline/merge_stage.h"
#include "pipeline/model_set.h"
#include "pipeline/session_internal.h"
#include "pipeline/token_cache.h"
#include "pipeline/video_prep.h"

namespace clipmind::pipeline {

namespace {

using Clock = std::chrono::steady_clock;

const std::vector<std::string> kAskStages = {"probe",     "hash",    "load model", "select",
                                             "relevance", "decode",  "encode",     "merge",
                                             "prefill",   "generate"};

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Streams generated text to the callbacks, finds moments as they become final, and notes when
// the first token arrived.
class AnswerStream {
 public:
  AnswerStream(const JobCallbacks& callbacks, double duration, ProgressTracker& progress,
               int64_t max_new_tokens)
      : callbacks_(callbacks),
        moments_(duration, callbacks.on_moment),
        progress_(progress),
        max_new_tokens_(max_new_tokens) {}

  bool on_token(const models::TokenEvent& event) {
    if (!first_) {
      first_ = Clock::now();
      if (prefill_.active()) prefill_.finish();
      generate_ = progress_.begin("generate", max_new_tokens_, "tokens");
    }
    generate_.advance();
    if (!event.text.empty()) {
      if (callbacks_.on_text) callbacks_.on_text(event.text);
      moments_.append(event.text);
    }
    return true;
  }

  ProgressCallback prefill_progress() {
    return [this](const ProgressEvent& e) {
      if (!prefill_.active() && !first_) prefill_ = progress_.begin("prefill", e.total, "layers");
      if (prefill_.active()) prefill_.set_done(e.done);
    };
  }

  void finish() {
    moments_.finish();
    if (prefill_.active()) prefill_.finish();
    if (generate_.active()) generate_.finish();
  }

  std::optional<Clock::time_point> first() const { return first_; }

 private:
  const JobCallbacks& callbacks_;
  MomentStream moments_;
  ProgressTracker& progress_;
  int64_t max_new_tokens_;
  ProgressTracker::Stage prefill_;
  ProgressTracker::Stage generate_;
  std::optional<Clock::time_point> first_;
};

models::GenerationOptions generation_options(const PipelineConfig& config,
                                             const CancelToken& cancel) {
  models::GenerationOptions o;
  o.max_new_tokens = config.generate.max_new_tokens;
  o.sampling.temperature = config.generate.temperature;
  o.sampling.top_k = config.generate.top_k;
  o.sampling.top_p = config.generate.top_p;
  o.sampling.seed = config.generate.seed;
  o.cancel = cancel;
  return o;
}

std::unique_ptr<compress::LayerReducer> make_reducer(const PipelineConfig& config,
                                                     const compress::TokenPlan& plan) {
  switch (plan.inner) {
    case compress::InnerMethod::kHolitomInner:
      return std::make_unique<compress::HolitomInnerMerge>(static_cast<int>(plan.inner_layer),
                                                           config.inner.ratio);
    case compress::InnerMethod::kFastV:
      return std::make_unique<compress::FastVPruning>(static_cast<int>(plan.inner_layer),
                                                      config.inner.ratio);
    case compress::InnerMethod::kNone:
      break;
  }
  return nullptr;
}

int64_t visual_rows(const models::AssembledPrompt& prompt) {
  int64_t n = 0;
  for (const compress::VisualSpan& s : prompt.visual)
    n += s.length;
  return n;
}

// Fills the prompt-side counts: totals, the unmerged baseline and the FLOPs.
void count_prompt(TokenCounts& t, const models::AssembledPrompt& prompt, const Prepared& p,
                  const compress::LlmDims& dims, const compress::LayerReducer* reducer,
                  double inner_ratio, int64_t full_tokens) {
  t.prompt_tokens = prompt.length();
  const int64_t visual = visual_rows(prompt);
  const int64_t text = t.prompt_tokens - visual - p.parts.separator_tokens - p.parts.header_tokens;
  t.baseline_prompt_tokens = text + t.frames * full_tokens + 1;
  t.tokens_after_inner = t.prompt_tokens;
  if (reducer) {
    const int64_t kept = compress::inner_keep_count(visual, inner_ratio);
    t.inner_method = compress::to_string(p.plan.plan.inner);
    t.inner_layer = reducer->layer();
    t.tokens_after_inner = t.prompt_tokens - visual + kept;
    t.prefill_flops = compress::prefill_flops_reduced(t.prompt_tokens, t.tokens_after_inner,
                                                      reducer->layer(), dims);
  } else {
    t.prefill_flops = compress::prefill_flops(t.prompt_tokens, dims);
  }
  t.baseline_prefill_flops = compress::prefill_flops(t.baseline_prompt_tokens, dims);
}

std::vector<models::VlmMessage> messages_for(const PipelineConfig& config, const Prepared& p,
                                             const std::optional<std::string>& question) {
  std::vector<models::VlmMessage> messages;
  if (!config.generate.system_prompt.empty()) {
    messages.push_back({"system", {models::PromptPart::make_text(config.generate.system_prompt)}});
  }
  models::VlmMessage user{"user", p.parts.parts};
  if (question) user.parts.push_back(models::PromptPart::make_text(*question));
  messages.push_back(std::move(user));
  return messages;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Preparation shared by ask and chat.

int64_t full_pooled_grid(const PipelineConfig& config, const models::LlavaOnevision& vlm) {
  const models::SiglipVisionConfig& vision = vlm.vision().config().vision;
  return compress::pooled_grid_at_input(config.encode.input_size, vision.patch_size,
                                        vision.image_size, "encode.input_size");
}

Prepared prepare_video(SessionState& s, const std::filesystem::path& path,
                       const std::string& question, bool query_free, ProgressTracker& progress,
                       const CancelToken& cancel, StageClock& clock) {
  Prepared p;
  const std::string file = path.string();
  p.probed = probe_video(path, s.config, s.cache != nullptr, progress, cancel, clock, s.log,
                         s.media_index.get());
  {
    const auto t = Clock::now();
    s.models.load(progress, cancel);
    if (seconds(t, Clock::now()) > 1e-3) clock.add_since("load model", t);
  }
  const models::LlavaOnevision& vlm = s.models.vlm();
  const models::Tokenizer& tok = vlm.tokenizer();
  const double duration = p.probed.info.duration;

  // Selection.
  PipelineConfig config = s.config;
  if (query_free && (config.select.method == "f2c" || config.select.method == "auto")) {
    if (config.select.method == "f2c") {
      s.log.once("select:chat-f2c", LogLevel::kInfo, "select",
                 "a chat encodes the video before its first question, so F2C (which follows the "
                 "question) is replaced by scene-aware selection");
    }
    config.select.method = "scene";
  }
  const int64_t full_grid = full_pooled_grid(config, vlm);
  {
    const auto t = Clock::now();
    auto stage = progress.begin("select", 1, "steps");
    SelectionInputs in;
    in.duration_s = duration;
    in.frame_count = p.probed.info.frame_count;
    in.context_length = vlm.decoder().config().max_position_embeddings;
    in.llm = llm_dims(vlm);
    in.full_grid = full_grid;
    in.separator_tokens = config.separators ? separator_cost(duration, tok) : 0;
    in.prompt_tokens =
        16 +
        static_cast<int64_t>(
            tok.encode(compress::separator_header(duration, true) + "\n" + question, false).size());
    in.low_res_frames = [&](const std::vector<double>& times) {
      return low_res_frames(path, times, cancel, s.log, s.media_index);
    };
    const std::string& hash = p.probed.summary.content_hash;
    if (s.cache && !hash.empty()) {
      const auto key_of = [&](const std::string& settings) {
        return make_cache_key({{"kind", "scene-cuts"}, {"video", hash}, {"settings", settings}});
      };
      in.load_scene_cuts =
          [&, key_of](const std::string& settings) -> std::optional<std::vector<int64_t>> {
        const std::optional<CacheEntry> entry = s.cache->get(key_of(settings));
        const CacheArray* a = entry ? entry->find("cuts") : nullptr;
        if (!a || a->dtype != "int64" || a->shape.size() != 1) return std::nullopt;
        std::vector<int64_t> cuts(static_cast<size_t>(a->shape[0]));
        std::memcpy(cuts.data(), a->bytes.data(), a->bytes.size());
        return cuts;
      };
      in.store_scene_cuts = [&, key_of](const std::string& settings,
                                        const std::vector<int64_t>& cuts) {
        CacheEntry entry;
        entry.meta = "{}";
        CacheArray a{"cuts", "int64", {static_cast<int64_t>(cuts.size())}, {}};
        a.bytes.assign(reinterpret_cast<const char*>(cuts.data()), cuts.size() * sizeof(int64_t));
        entry.arrays.push_back(std::move(a));
        s.cache->put(key_of(settings), entry);
      };
    }
    if (!query_free && s.models.relevance() && !question.empty()) {
      in.relevance = [&](const std::vector<double>& times) {
        return question_relevance(*s.models.relevance(), s.models.relevance_id(), path,
                                  p.probed.summary.content_hash, question, times, s.cache.get(),
                                  progress, cancel, s.log, s.media_index);
      };
    }
    p.plan = in_stage("select", file, [&] { return plan_frames(config, in, s.log); });
    for (const std::string& note : p.plan.notes)
      s.log.info("select", note);
    stage.advance();
    stage.finish();
    clock.add_since("select", t);
  }

  // Decode + encode, overlapped.
  {
    EncodeRequest request;
    request.video = path;
    request.content_hash = p.probed.summary.content_hash;
    request.model_id = s.models.vlm_id();
    request.frames = p.plan.frames;
    request.decode_mode = config.decode.mode;
    request.queue_frames = config.decode.queue_frames;
    request.batch_frames = config.encode.batch_frames;
    request.input_size = config.encode.input_size;
    request.reuse_psnr_db = config.encode.reuse_psnr_db;
    request.index_cache = s.media_index;
    p.frames = encode_frames(request, vlm.vision(), s.cache.get(), progress, cancel, s.log,
                             &p.encode_stats);
    clock.add("decode", p.encode_stats.decode_seconds);
    clock.add("encode", p.encode_stats.encode_seconds);
    clock.add("decode+encode", p.encode_stats.wall_seconds);
  }

  // Merge.
  {
    const auto t = Clock::now();
    auto stage = progress.begin("merge", 1, "steps", config.merge.method);
    int64_t frame_tokens = 0;
    for (const EncodedFrame& f : p.frames)
      frame_tokens += f.grid * f.grid;
    const MergeSettings m = to_merge_settings(config.merge, p.plan.merge_cap, frame_tokens);
    p.merged = in_stage("merge", file, [&] { return merge_frames(p.frames, m); });
    stage.advance();
    stage.finish();
    clock.add_since("merge", t);
  }
  p.parts = video_parts(p.merged, duration, config.separators, tok);

  // Summary.
  PreparedSummary& sum = p.summary;
  sum.video = p.probed.summary;
  sum.selection = p.plan.method;
  sum.merge_method = config.merge.method;
  sum.clips = p.plan.clips;
  sum.notes = p.plan.notes;
  sum.segments = p.parts.segments;
  TokenCounts& t = sum.tokens;
  t.frames_planned = static_cast<int64_t>(p.plan.frames.size());
  t.frames = static_cast<int64_t>(p.frames.size());
  t.frames_from_cache = p.encode_stats.from_cache;
  t.frames_encoded = p.encode_stats.encoded;
  t.frames_reused = p.encode_stats.reused;
  for (const EncodedFrame& f : p.frames) {
    sum.frames.push_back({f.requested_time, f.time, f.grid, f.from_cache, f.reused});
    t.visual_before_merge += f.grid * f.grid;
  }
  t.visual_after_merge = p.merged.token_count();
  t.separator_tokens = p.parts.separator_tokens;
  t.header_tokens = p.parts.header_tokens;
  p.full_tokens = full_grid * full_grid;
  sum.timings = clock.stages();
  if (s.cache) s.cache->trim();
  return p;
}

// ---------------------------------------------------------------------------------------------

Session::Session(PipelineConfig config, Logger log,
                 std::shared_ptr<decode::MediaIndexCache> index_cache)
    : impl_(std::make_unique<Impl>()) {
  validate(config);
  impl_->state = std::make_unique<SessionState>(std::move(config), std::move(log));
  if (index_cache) impl_->state->media_index = std::move(index_cache);
}

Session::~Session() = default;

const PipelineConfig& Session::config() const {
  return impl_->state->config;
}
const Logger& Session::logger() const {
  return impl_->state->log;
}
TokenCache* Session::cache() {
  return impl_->state->cache.get();
}
ModelSet& Session::models() {
  return impl_->state->models;
}
SessionState& Session::state() {
  return *impl_->state;
}

SessionState::SessionState(PipelineConfig c, Logger l)
    : config(std::move(c)), log(std::move(l)), models(config, log) {
  media_index = std::make_shared<decode::MediaIndexCache>(
      decode::MediaIndexCache::kDefaultMaxBytes,
      [logger = log](const decode::IndexNotice& n) { log_index_notice(logger, n); });
  if (config.cache.enabled) {
    cache = std::make_unique<TokenCache>(
        resolve_cache_dir(config.cache),
        static_cast<uint64_t>(std::max(0.0, config.cache.max_gb) * 1024.0 * 1024.0 * 1024.0), log);
  }
}

void SessionState::set_threads() {
  if (threads_set) return;
  const int64_t asked = config.threads;
  const int n = models::set_compute_threads(
      static_cast<int>(std::min<int64_t>(asked, std::numeric_limits<int>::max())));
  if (asked > n) {
    log.warning("session", "threads " + std::to_string(asked) + " is more than the " +
                               counted(n, "core") + " available; using " + std::to_string(n));
  }
  log.debug("session", "compute threads: " + std::to_string(n));
  threads_set = true;
}

void Session::load_models(const JobCallbacks& callbacks, const CancelToken& cancel) {
  impl_->state->set_threads();
  ProgressTracker progress(callbacks.on_progress, {"load model"});
  impl_->state->models.load(progress, cancel);
}

void check_question(const std::string& question, std::string_view what) {
  const std::string the = "the " + std::string(what);
  if (question.empty()) throw Error(ErrorKind::kInvalidArgument, the + " is empty");
  if (const auto bad = models::find_invalid_utf8(question)) {
    throw Error(ErrorKind::kInvalidArgument,
                the + " is not valid UTF-8 (bad byte at offset " + std::to_string(*bad) + " of " +
                    the + "); write it in UTF-8, as terminals and editors do by default");
  }
  if (question.find_first_not_of(" \t\n\r\f\v") == std::string::npos) {
    throw Error(ErrorKind::kInvalidArgument, the + " is only white space");
  }
}

AskResult Session::ask(const std::filesystem::path& video, const std::string& question,
                       const JobCallbacks& callbacks, const CancelToken& cancel) {
  SessionState& s = *impl_->state;
  s.set_threads();
  StageClock clock;
  ProgressTracker progress(callbacks.on_progress, kAskStages);
  check_question(question);
  Prepared p = prepare_video(s, video, question, /*query_free=*/false, progress, cancel, clock);
  if (callbacks.on_prepared) callbacks.on_prepared(p.summary);

  const models::LlavaOnevision& vlm = s.models.vlm();
  const auto t_prompt = Clock::now();
  const auto messages = messages_for(s.config, p, question);
  const models::AssembledPrompt prompt =
      in_stage("prompt", video.string(), [&] { return vlm.assemble(messages); });
  clock.add_since("prompt", t_prompt);

  const std::unique_ptr<compress::LayerReducer> reducer = make_reducer(s.config, p.plan.plan);
  models::GenerationOptions options = generation_options(s.config, cancel);
  options.reducer = reducer.get();
  AnswerStream stream(callbacks, p.probed.info.duration, progress, options.max_new_tokens);
  options.on_token = [&](const models::TokenEvent& e) { return stream.on_token(e); };
  options.progress = stream.prefill_progress();
  models::KvCache kv = vlm.decoder().new_cache();
  const models::GenerationResult generated =
      in_stage("generate", video.string(), [&] { return vlm.generate(prompt, options, &kv); });
  stream.finish();

  AskResult r;
  r.question = question;
  r.answer = generated.text;
  r.moments = moments_in(r.answer, p.probed.info.duration);
  r.stop_reason = models::stop_reason_name(generated.stop);
  r.model = s.models.vlm_id();
  clock.add("prefill", generated.prefill_seconds);
  clock.add("generate", generated.decode_seconds);
  r.first_token_s = stream.first() ? seconds(clock.start(), *stream.first()) : clock.elapsed();
  r.tokens = p.summary.tokens;
  count_prompt(r.tokens, prompt, p, llm_dims(vlm), reducer.get(), s.config.inner.ratio,
               p.full_tokens);
  r.tokens.prefill_tokens = r.tokens.prompt_tokens;
  r.tokens.generated_tokens = static_cast<int64_t>(generated.ids.size());
  r.timings = clock.finish();
  r.prepared = std::move(p.summary);
  r.prepared.tokens = r.tokens;
  return r;
}

// ---------------------------------------------------------------------------------------------
// Chat

struct Chat::Impl {
  SessionState* session = nullptr;
  Prepared prepared;
  models::KvCache kv;
  std::vector<int64_t> prefix_ids;
  int64_t prefix_length = 0;
  std::optional<int64_t> pending;  // the last answer's final id, sampled but never fed
  bool have_history = false;
  int64_t turns = 0;
};

Chat::Chat(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Chat::~Chat() = default;

const PreparedSummary& Chat::prepared() const {
  return impl_->prepared.summary;
}
int64_t Chat::turns() const {
  return impl_->turns;
}

std::unique_ptr<Chat> Session::open_chat(const std::filesystem::path& video,
                                         const JobCallbacks& callbacks, const CancelToken& cancel) {
  SessionState& s = *impl_->state;
  s.set_threads();
  StageClock clock;
  ProgressTracker progress(callbacks.on_progress, kAskStages);
  auto impl = std::make_unique<Chat::Impl>();
  impl->session = &s;
  impl->prepared = prepare_video(s, video, "", /*query_free=*/true, progress, cancel, clock);
  const models::LlavaOnevision& vlm = s.models.vlm();

  // The prompt up to the end of the video (image_newline included) goes into the KV cache now.
  const auto messages = messages_for(s.config, impl->prepared, std::nullopt);
  const models::AssembledPrompt prompt = vlm.assemble(messages, /*add_generation_prompt=*/false);
  impl->prefix_length =
      prompt.visual.empty() ? 0 : prompt.visual.back().begin + prompt.visual.back().length;
  impl->prefix_ids.assign(prompt.ids.begin(), prompt.ids.begin() + impl->prefix_length);
  impl->kv = vlm.decoder().new_cache();
  if (impl->prefix_length > 0) {
    const auto t = Clock::now();
    auto [head, tail] = split_prompt(prompt.input, impl->prefix_length);
    ProgressTracker::Stage stage;
    models::ForwardOptions fo;
    fo.logits = models::LogitsMode::kNone;
    fo.cancel = cancel;
    fo.progress = [&](const ProgressEvent& e) {
      if (!stage.active()) stage = progress.begin("prefill", e.total, "layers");
      stage.set_done(e.done);
    };
    in_stage("prefill", video.string(), [&] { return vlm.decoder().forward(head, impl->kv, fo); });
    if (stage.active()) stage.finish();
    clock.add_since("prefill", t);
  }
  impl->prepared.summary.tokens.prompt_tokens = impl->prefix_length;
  impl->prepared.summary.tokens.prefill_tokens = impl->prefix_length;
  impl->prepared.summary.timings = clock.finish();
  if (callbacks.on_prepared) callbacks.on_prepared(impl->prepared.summary);
  return std::unique_ptr<Chat>(new Chat(std::move(impl)));
}

AskResult Chat::ask(const std::string& question, const JobCallbacks& callbacks,
                    const CancelToken& cancel) {
  Impl& c = *impl_;
  SessionState& s = *c.session;
  // A question the model cannot take is the turn's fault, not the chat's: it is refused with a
  // StageError of stage "question" before anything in the chat changes, so callers can go on.
  const std::string file = c.prepared.probed.info.path.string();
  const auto reject = [&](const std::string& why) {
    throw StageError(ErrorKind::kInvalidArgument, "question", file, why,
                     "The chat goes on; ask another question.");
  };
  try {
    check_question(question);
  } catch (const Error& e) {
    reject(e.what());
  }
  const models::LlavaOnevision& vlm = s.models.vlm();
  const models::Tokenizer& tok = vlm.tokenizer();
  StageClock clock;
  ProgressTracker progress(callbacks.on_progress, {"prefill", "generate"});
  models::GenerationOptions options = generation_options(s.config, cancel);
  const int64_t context = vlm.decoder().config().max_position_embeddings;

  models::AssembledPrompt turn;
  bool with_history = false;
  const auto t_prompt = Clock::now();
  if (s.config.chat.history && c.have_history) {
    // Close the previous answer and open the next user turn, continuing the cached sequence.
    const auto special = [&](const char* name) { return tok.token_id(name).value_or(-1); };
    const int64_t im_start = special("<|im_start|>");
    const int64_t im_end = special("<|im_end|>");
    std::vector<int64_t> ids;
    const std::vector<int64_t> stops = vlm.default_stop_tokens();
    if (c.pending && std::find(stops.begin(), stops.end(), *c.pending) == stops.end()) {
      ids.push_back(*c.pending);
    }
    auto text = [&](const std::string& t) {
      const std::vector<int64_t> e = tok.encode(t, false);
      ids.insert(ids.end(), e.begin(), e.end());
    };
    const bool qwen = vlm.chat_template() == models::VlmTemplate::kLlavaQwen;
    ids.push_back(im_end);
    if (qwen) text("\n");
    ids.push_back(im_start);
    text(qwen ? "user\n" + question : "user \n" + question);
    ids.push_back(im_end);
    if (qwen) text("\n");
    ids.push_back(im_start);
    text("assistant\n");
    if (c.kv.length() + static_cast<int64_t>(ids.size()) + options.max_new_tokens <= context) {
      turn.input = models::PromptInput::tokens(ids);
      turn.ids = std::move(ids);
      with_history = true;
    }
  }
  if (!with_history) {
    const auto messages = messages_for(s.config, c.prepared, question);
    const models::AssembledPrompt full = vlm.assemble(messages);
    if (!std::equal(c.prefix_ids.begin(), c.prefix_ids.end(), full.ids.begin())) {
      throw Error(ErrorKind::kInternal, "chat: the prompt no longer starts with the cached video");
    }
    // Checked before the cache drops the earlier turns, so a refused question costs nothing.
    if (full.length() > context) {
      reject("the question is too long: with the video the prompt has " +
             std::to_string(full.length()) + " tokens, more than the model's context of " +
             std::to_string(context) + " (the video and the template take " +
             std::to_string(c.prefix_length) + ")");
    }
    if (s.config.chat.history && c.have_history) {
      s.log.info("chat", "the conversation no longer fits the context: earlier turns are dropped");
    }
    c.kv.truncate(c.prefix_length);
    turn.input = split_prompt(full.input, c.prefix_length).second;
    turn.ids.assign(full.ids.begin() + c.prefix_length, full.ids.end());
  }
  clock.add_since("prompt", t_prompt);

  AnswerStream stream(callbacks, c.prepared.probed.info.duration, progress, options.max_new_tokens);
  options.on_token = [&](const models::TokenEvent& e) { return stream.on_token(e); };
  options.progress = stream.prefill_progress();
  const models::GenerationResult generated =
      in_stage("generate", c.prepared.probed.info.path.string(),
               [&] { return vlm.generate(turn, options, &c.kv); });
  stream.finish();
  c.pending = generated.ids.empty() ? std::nullopt : std::optional<int64_t>(generated.ids.back());
  c.have_history = true;
  ++c.turns;

  AskResult r;
  r.question = question;
  r.answer = generated.text;
  r.moments = moments_in(r.answer, c.prepared.probed.info.duration);
  r.stop_reason = models::stop_reason_name(generated.stop);
  r.model = s.models.vlm_id();
  clock.add("prefill", generated.prefill_seconds);
  clock.add("generate", generated.decode_seconds);
  r.first_token_s = stream.first() ? seconds(clock.start(), *stream.first()) : clock.elapsed();
  r.tokens = c.prepared.summary.tokens;
  r.tokens.frames_encoded = 0;  // a chat never encodes again
  r.tokens.frames_reused = 0;
  r.tokens.frames_from_cache = 0;
  r.tokens.prefill_tokens = turn.length();
  r.tokens.prompt_tokens =
      c.kv.length() - std::max<int64_t>(0, static_cast<int64_t>(generated.ids.size()) - 1);
  r.tokens.generated_tokens = static_cast<int64_t>(generated.ids.size());
  r.tokens.tokens_after_inner = r.tokens.prefill_tokens;  // chats never reduce inside the LLM
  r.tokens.prefill_flops = compress::prefill_flops(r.tokens.prefill_tokens, llm_dims(vlm));
  r.tokens.baseline_prefill_flops = 0.0;
  r.timings = clock.finish();
  r.prepared = c.prepared.summary;
  return r;
}

}  // namespace clipmind::pipeline
