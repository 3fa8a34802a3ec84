// The bridge between the widgets and pipeline/: one worker thread that owns the pipeline
// Session and the open Chat, runs jobs one after another, and reports back with queued Qt
// signals (so every slot connected from the GUI runs on the GUI thread).
//
// prepare(video, config) opens a chat on the video (select, encode, merge, prefill once);
// ask(question) answers on that chat, so follow-ups never decode or encode again. A Session is
// kept while the configuration stays the same (models load once). Each job gets a job id and
// its own CancelToken; cancel() requests the current job's token from any thread, and the job
// ends with `cancelled`. Failures never escape: they arrive as `failed` with a UserError
// (message naming file and stage, hint). The pipeline's warnings (a video cut short, frames that
// could not be decoded, a token cache on a full disk) arrive as `warning` with the job that
// raised them. The worker thread stops and joins on destruction.
#pragma once

#include <QByteArray>
#include <QObject>
#include <QString>
#include <QThread>
#include <atomic>
#include <memory>
#include <mutex>

#include "clipmind/progress.h"
#include "pipeline/config.h"
#include "pipeline/errors.h"
#include "pipeline/job_types.h"

namespace clipmind::decode {
class MediaIndexCache;
}  // namespace clipmind::decode

namespace clipmind::pipeline {
class Session;
class Chat;
}  // namespace clipmind::pipeline

namespace clipmind::ui {

enum class JobKind { kPrepare, kAsk };

struct JobFailure {
  JobKind kind = JobKind::kPrepare;
  pipeline::UserError error;
  QString video;
  bool model_missing = false;  // the model could not be found or loaded: show what to do
  bool not_prepared = false;   // a question with no prepared video (its preparation failed)
};

class PipelineWorker : public QObject {
  Q_OBJECT
 public:
  // `index_cache` is given to every Session (shared with the player and the thumbnails).
  explicit PipelineWorker(QObject* parent = nullptr,
                          std::shared_ptr<decode::MediaIndexCache> index_cache = nullptr);
  ~PipelineWorker() override;

  // GUI thread. Cancels whatever runs and queues the preparation; returns the job id.
  int prepare(const QString& video, const pipeline::PipelineConfig& config);
  // GUI thread. Queued after any preparation; returns the job id.
  int ask(const QString& question);
  // Any thread: cancels the running job and those queued before this call.
  void cancel();
  bool busy() const;

 signals:
  void jobStarted(int job, clipmind::ui::JobKind kind);
  void progress(int job, const clipmind::pipeline::JobProgress& progress);
  void prepared(int job, const clipmind::pipeline::PreparedSummary& prepared);
  void ready(int job);                                 // the chat is open: questions answer at once
  void textStreamed(int job, const QByteArray& utf8);  // raw bytes: a chunk may split a character
  void momentFound(int job, const clipmind::pipeline::Moment& moment);
  void answered(int job, const clipmind::pipeline::AskResult& result);
  void failed(int job, const clipmind::ui::JobFailure& failure);
  void cancelled(int job, clipmind::ui::JobKind kind);
  // A pipeline warning: "component: message" (e.g. "cache: cannot store encoded tokens (...)").
  void warning(int job, const QString& text);
  void idle();

 private:
  void run_prepare(int job, const QString& video, const pipeline::PipelineConfig& config,
                   const CancelToken& cancel);
  void run_ask(int job, const QString& question, const CancelToken& cancel);
  pipeline::JobCallbacks callbacks(int job);
  void job_done();

  QThread thread_;
  QObject* context_ = nullptr;  // lives on thread_; jobs are queued to it
  std::shared_ptr<decode::MediaIndexCache> index_cache_;
  // Worker-thread state.
  std::unique_ptr<pipeline::Session> session_;
  std::string session_config_;
  std::unique_ptr<pipeline::Chat> chat_;
  QString chat_video_;
  std::atomic<int> running_job_{0};  // the job the pipeline's log records belong to
  // Shared state.
  mutable std::mutex mutex_;
  CancelToken cancel_;
  int next_job_ = 1;
  int pending_ = 0;
};

}  // namespace clipmind::ui

Q_DECLARE_METATYPE(clipmind::ui::JobKind)
Q_DECLARE_METATYPE(clipmind::ui::JobFailure)
Q_DECLARE_METATYPE(clipmind::pipeline::JobProgress)
Q_DECLARE_METATYPE(clipmind::pipeline::PreparedSummary)
Q_DECLARE_METATYPE(clipmind::pipeline::Moment)
Q_DECLARE_METATYPE(clipmind::pipeline::AskResult)
