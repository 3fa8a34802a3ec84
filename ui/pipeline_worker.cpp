#include "ui/pipeline_worker.h"

#include <QMetaObject>
#include <exception>

#include <nlohmann/json.hpp>

#include "pipeline/session.h"

namespace clipmind::ui {

PipelineWorker::PipelineWorker(QObject* parent,
                               std::shared_ptr<decode::MediaIndexCache> index_cache)
    : QObject(parent), index_cache_(std::move(index_cache)) {
  qRegisterMetaType<clipmind::ui::JobKind>();
  qRegisterMetaType<clipmind::ui::JobFailure>();
  qRegisterMetaType<clipmind::pipeline::JobProgress>();
  qRegisterMetaType<clipmind::pipeline::PreparedSummary>();
  qRegisterMetaType<clipmind::pipeline::Moment>();
  qRegisterMetaType<clipmind::pipeline::AskResult>();
  thread_.setObjectName("clipmind-pipeline");
  context_ = new QObject;
  context_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, context_, &QObject::deleteLater);
  thread_.start();
}

PipelineWorker::~PipelineWorker() {
  cancel();
  // The chat and session are destroyed on the worker thread, where they were used.
  QMetaObject::invokeMethod(
      context_,
      [this] {
        chat_.reset();
        session_.reset();
      },
      Qt::BlockingQueuedConnection);
  thread_.quit();
  thread_.wait();
}

int PipelineWorker::prepare(const QString& video, const pipeline::PipelineConfig& config) {
  CancelToken token;
  int job = 0;
  {
    std::lock_guard lock(mutex_);
    cancel_.request();  // a new video replaces whatever was being prepared or asked
    cancel_ = CancelToken();
    token = cancel_;
    job = next_job_++;
    ++pending_;
  }
  QMetaObject::invokeMethod(context_, [this, job, video, config, token] {
    run_prepare(job, video, config, token);
    job_done();
  });
  return job;
}

int PipelineWorker::ask(const QString& question) {
  CancelToken token;
  int job = 0;
  {
    std::lock_guard lock(mutex_);
    token = cancel_;
    job = next_job_++;
    ++pending_;
  }
  QMetaObject::invokeMethod(context_, [this, job, question, token] {
    run_ask(job, question, token);
    job_done();
  });
  return job;
}

void PipelineWorker::cancel() {
  std::lock_guard lock(mutex_);
  cancel_.request();
  cancel_ = CancelToken();
}

bool PipelineWorker::busy() const {
  std::lock_guard lock(mutex_);
  return pending_ > 0;
}

void PipelineWorker::job_done() {
  bool now_idle = false;
  {
    std::lock_guard lock(mutex_);
    now_idle = --pending_ == 0;
  }
  if (now_idle) emit idle();
}

pipeline::JobCallbacks PipelineWorker::callbacks(int job) {
  pipeline::JobCallbacks cb;
  cb.on_progress = [this, job](const pipeline::JobProgress& p) { emit progress(job, p); };
  cb.on_text = [this, job](std::string_view text) {
    emit textStreamed(job, QByteArray(text.data(), static_cast<qsizetype>(text.size())));
  };
  cb.on_moment = [this, job](const pipeline::Moment& m) { emit momentFound(job, m); };
  cb.on_prepared = [this, job](const pipeline::PreparedSummary& p) { emit prepared(job, p); };
  return cb;
}

namespace {

JobFailure failure_of(JobKind kind, const QString& video, std::exception_ptr error) {
  JobFailure f;
  f.kind = kind;
  f.video = video;
  f.error = pipeline::describe_error(error);
  f.model_missing =
      f.error.stage == "load model" || f.error.stage == "download" ||
      (f.error.kind == ErrorKind::kNotFound && f.error.message.find("model") != std::string::npos);
  return f;
}

}  // namespace

void PipelineWorker::run_prepare(int job, const QString& video,
                                 const pipeline::PipelineConfig& config,
                                 const CancelToken& cancel) {
  if (cancel.requested()) {
    emit cancelled(job, JobKind::kPrepare);
    return;
  }
  running_job_ = job;
  emit jobStarted(job, JobKind::kPrepare);
  chat_.reset();
  chat_video_.clear();
  try {
    const std::string key = pipeline::to_json(config).dump();
    if (!session_ || key != session_config_) {
      session_.reset();
      // Stage threads log too; the signal is queued to the GUI thread.
      pipeline::Logger log(
          [this](const pipeline::LogRecord& r) {
            emit warning(running_job_.load(),
                         QString::fromStdString(r.component + ": " + r.message));
          },
          pipeline::LogLevel::kWarning);
      session_ = std::make_unique<pipeline::Session>(config, log, index_cache_);
      session_config_ = key;
    }
    chat_ = session_->open_chat(video.toStdString(), callbacks(job), cancel);
    chat_video_ = video;
    emit ready(job);
  } catch (...) {
    chat_.reset();
    const JobFailure f = failure_of(JobKind::kPrepare, video, std::current_exception());
    if (f.error.kind == ErrorKind::kCancelled)
      emit cancelled(job, JobKind::kPrepare);
    else
      emit failed(job, f);
    // A model that failed to load is retried with the next preparation.
    if (f.model_missing) session_.reset();
  }
}

void PipelineWorker::run_ask(int job, const QString& question, const CancelToken& cancel) {
  if (cancel.requested()) {
    emit cancelled(job, JobKind::kAsk);
    return;
  }
  running_job_ = job;
  emit jobStarted(job, JobKind::kAsk);
  if (!chat_) {
    JobFailure f;
    f.kind = JobKind::kAsk;
    f.not_prepared = true;
    f.error.kind = ErrorKind::kInvalidArgument;
    f.error.message = "no video is ready for questions";
    f.error.hint = "open a video and wait until it is prepared (or fix the error shown)";
    emit failed(job, f);
    return;
  }
  try {
    pipeline::AskResult result = chat_->ask(question.toStdString(), callbacks(job), cancel);
    emit answered(job, result);
  } catch (...) {
    const JobFailure f = failure_of(JobKind::kAsk, chat_video_, std::current_exception());
    if (f.error.kind == ErrorKind::kCancelled)
      emit cancelled(job, JobKind::kAsk);
    else
      emit failed(job, f);
  }
}

}  // namespace clipmind::ui
