// The job API: what the CLI, the GUI (from a worker thread) and the index job call.
//
//   Session session(config, logger);                       // models load on first use
//   AskResult r = session.ask("clip.mp4", "When does the dog appear?", callbacks, cancel);
//   auto chat = session.open_chat("clip.mp4", callbacks, cancel);   // encodes once
//   chat->ask("What happens first?", callbacks, cancel);            // generates at once
//   chat->ask("And then?", callbacks, cancel);                      // no re-encoding
//
// ask() runs probe -> hash -> load model -> select (scene cuts or F2C relevance) -> decode and
// encode (overlapped, token cache in front) -> merge -> separators + prompt -> streamed
// generation -> moments. A Chat holds the encoded video and its prompt prefix in the decoder's
// KV cache: a question prefills only its own turn. Selection for a chat cannot depend on a
// question it has not seen yet, so a chat uses scene-aware selection where ask would use F2C.
//
// Threads: a Session (and its Chats) is used from one thread at a time; callbacks run on that
// thread (progress also on the decode thread: keep them quick and thread-safe). Cancel from any
// thread with the CancelToken: the job throws clipmind::Cancelled within a second (between
// frames, micro-batches, vision tower layers, decoder layers and tokens) and leaves no partial
// output. Errors are StageError (errors.h) with a user-facing message and hint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "clipmind/progress.h"
#include "pipeline/config.h"
#include "pipeline/job_types.h"
#include "pipeline/log.h"

namespace clipmind::decode {
class MediaIndexCache;  // decode/media_index.h
}  // namespace clipmind::decode

namespace clipmind::pipeline {

class ModelSet;
class TokenCache;
class Chat;
struct SessionState;

// Throws Error(kInvalidArgument) naming what is wrong with a question: empty, only white
// space, or not UTF-8 (with the byte offset inside the question). ask() and Chat::ask() call
// it; front ends call it before loading a model, so a bad question fails at once. `what` names
// the text in the message ("question", or "query" for search).
void check_question(const std::string& question, std::string_view what = "question");

class Session {
 public:
  // `index_cache`: what reads of MPEG-TS/PS files (and files with no stated duration) found,
  // shared with the caller's own probes and samplers (the GUI's player and thumbnails), so a
  // file is read in full once for all of them (decode/media_index.h); null: the session keeps
  // its own.
  explicit Session(PipelineConfig config, Logger log = {},
                   std::shared_ptr<decode::MediaIndexCache> index_cache = nullptr);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const PipelineConfig& config() const;
  const Logger& logger() const;

  // Loads the models now (otherwise the first job does); stage "load model".
  void load_models(const JobCallbacks& callbacks = {}, const CancelToken& cancel = {});

  AskResult ask(const std::filesystem::path& video, const std::string& question,
                const JobCallbacks& callbacks = {}, const CancelToken& cancel = {});

  // Prepares the video (selection, encoding, merging) and prefills its prompt prefix.
  std::unique_ptr<Chat> open_chat(const std::filesystem::path& video,
                                  const JobCallbacks& callbacks = {},
                                  const CancelToken& cancel = {});

  // The token cache (null when disabled) and the models, for other jobs built on the session.
  TokenCache* cache();
  ModelSet& models();
  // For jobs built inside pipeline/ (caption, index): the session's shared state.
  SessionState& state();

 private:
  friend class Chat;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Chat {
 public:
  ~Chat();
  Chat(const Chat&) = delete;
  Chat& operator=(const Chat&) = delete;

  const PreparedSummary& prepared() const;
  // Answers a question about the prepared video; later questions see earlier turns when
  // chat.history is on (and the context has room; else only the video and the question).
  // A question that is empty or whitespace, not UTF-8, or too long for the context even without
  // the earlier turns throws StageError(kInvalidArgument) with stage() "question" before the
  // chat changes (the cache still holds the video and the earlier turns): the caller may go on.
  // After any other failure (generation, I/O, cancellation) the chat should not be used again.
  AskResult ask(const std::string& question, const JobCallbacks& callbacks = {},
                const CancelToken& cancel = {});
  int64_t turns() const;

 private:
  friend class Session;
  struct Impl;
  explicit Chat(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipmind::pipeline
