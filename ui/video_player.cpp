#include "ui/video_player.h"

#include <QAudioOutput>
#include <QHBoxLayout>
#include <QLabel>
#include <QMediaPlayer>
#include <QMetaObject>
#include <QPainter>
#include <QPushButton>
#include <QSlider>
#include <QStyle>
#include <QUrl>
#include <QVBoxLayout>
#include <algorithm>
#include <chrono>
#include <cmath>

#include <QtConcurrent/QtConcurrentRun>

#include "decode/frame_sampler.h"
#include "pipeline/errors.h"

namespace clipmind::ui {

QString format_time(double seconds, bool millis) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  const auto total_ms = static_cast<int64_t>(std::llround(seconds * 1000.0));
  const int64_t ms = total_ms % 1000;
  const int64_t s = (total_ms / 1000) % 60;
  const int64_t m = (total_ms / 60000) % 60;
  const int64_t h = total_ms / 3600000;
  QString text =
      h > 0 ? QString("%1:%2:%3").arg(h).arg(m, 2, 10, QChar('0')).arg(s, 2, 10, QChar('0'))
            : QString("%1:%2").arg(m).arg(s, 2, 10, QChar('0'));
  if (millis) text += QString(".%1").arg(ms, 3, 10, QChar('0'));
  return text;
}

VideoView::VideoView(QWidget* parent) : QWidget(parent) {
  setMinimumSize(320, 180);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  setAttribute(Qt::WA_OpaquePaintEvent);
}

void VideoView::setFrame(const QImage& frame) {
  frame_ = frame;
  message_.clear();
  setAccessibleDescription({});
  update();
}

void VideoView::setMessage(const QString& message) {
  message_ = message;
  frame_ = QImage();
  // Painted text is invisible to screen readers: they read the description.
  setAccessibleDescription(message);
  update();
}

void VideoView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), Qt::black);
  if (!frame_.isNull()) {
    const QSize fitted = frame_.size().scaled(size(), Qt::KeepAspectRatio);
    const QRect target(QPoint((width() - fitted.width()) / 2, (height() - fitted.height()) / 2),
                       fitted);
    p.setRenderHint(QPainter::SmoothPixmapTransform);
    p.drawImage(target, frame_);
  } else {
    p.setPen(Qt::lightGray);
    p.drawText(rect().adjusted(16, 16, -16, -16), Qt::AlignCenter | Qt::TextWordWrap,
               message_.isEmpty() ? tr("Open a video (Ctrl+O) or drop one here") : message_);
  }
}

namespace {

QImage to_qimage(const decode::Frame& frame) {
  if (frame.empty()) return {};
  return QImage(frame.rgb.data(), frame.width, frame.height, static_cast<qsizetype>(frame.stride()),
                QImage::Format_RGB888)
      .copy();
}

decode::SamplerOptions frame_options(int width, int height,
                                     std::shared_ptr<decode::MediaIndexCache> index_cache) {
  decode::SamplerOptions o;
  o.index_cache = std::move(index_cache);
  o.width = width;
  o.height = height;
  o.resize = decode::Resize::kFit;
  o.mode = decode::SampleMode::kAccurate;
  o.threads = 2;
  return o;
}

DecodedFrame decode_at(const std::string& path, double seconds, int width, int height, int id,
                       std::shared_ptr<decode::MediaIndexCache> index_cache) {
  DecodedFrame out;
  out.seek_id = id;
  try {
    pipeline::in_stage("decode", path, [&] {
      decode::FrameSampler sampler(path, {seconds},
                                   frame_options(width, height, std::move(index_cache)));
      if (auto sample = sampler.next()) {
        out.image = to_qimage(sample->frame);
        out.time = sample->frame.time;
      } else {
        throw Error(ErrorKind::kInvalidInput,
                    "no frame could be decoded near " + format_time(seconds, true).toStdString());
      }
    });
  } catch (...) {
    const pipeline::UserError e = pipeline::describe_error(std::current_exception());
    out.error = QString::fromStdString(e.message);
    out.hint = QString::fromStdString(e.hint);
  }
  return out;
}

}  // namespace

VideoPlayer::VideoPlayer(QWidget* parent) : VideoPlayer(Options{}, parent) {}

VideoPlayer::VideoPlayer(Options options, QWidget* parent) : QWidget(parent), options_(options) {
  view_ = new VideoView(this);
  view_->setAccessibleName(tr("Video"));
  play_button_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaPlay), {}, this);
  play_button_->setToolTip(tr("Play / pause (Space, K)"));
  back_button_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaSeekBackward), {}, this);
  back_button_->setToolTip(tr("Previous frame (,)"));
  back_button_->setAccessibleName(tr("Previous frame"));
  forward_button_ = new QPushButton(style()->standardIcon(QStyle::SP_MediaSeekForward), {}, this);
  forward_button_->setToolTip(tr("Next frame (.)"));
  forward_button_->setAccessibleName(tr("Next frame"));
  for (QPushButton* b : {play_button_, back_button_, forward_button_})
    b->setFocusPolicy(Qt::TabFocus);
  slider_ = new QSlider(Qt::Horizontal, this);
  slider_->setObjectName("seekSlider");
  slider_->setAccessibleName(tr("Position"));
  slider_->setFocusPolicy(Qt::TabFocus);
  slider_->setSingleStep(5000);
  time_label_ = new QLabel(this);
  time_label_->setObjectName("timeLabel");
  time_label_->setAccessibleName(tr("Time"));
  volume_ = new QSlider(Qt::Horizontal, this);
  volume_->setObjectName("volumeSlider");
  volume_->setAccessibleName(tr("Volume"));
  volume_->setRange(0, 100);
  volume_->setValue(80);
  volume_->setMaximumWidth(90);
  volume_->setFocusPolicy(Qt::TabFocus);
  volume_->setSingleStep(5);
  volume_->setToolTip(tr("Volume (Up / Down)"));

  auto* controls = new QHBoxLayout;
  controls->addWidget(back_button_);
  controls->addWidget(play_button_);
  controls->addWidget(forward_button_);
  controls->addWidget(slider_, 1);
  controls->addWidget(time_label_);
  auto* speaker = new QLabel(this);
  speaker->setPixmap(style()->standardIcon(QStyle::SP_MediaVolume).pixmap(16, 16));
  speaker->setAccessibleName(tr("Sound"));
  controls->addWidget(speaker);
  controls->addWidget(volume_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(view_, 1);
  layout->addLayout(controls);

  connect(play_button_, &QPushButton::clicked, this, &VideoPlayer::togglePlay);
  connect(back_button_, &QPushButton::clicked, this, [this] { stepFrames(-1); });
  connect(forward_button_, &QPushButton::clicked, this, [this] { stepFrames(1); });
  connect(slider_, &QSlider::sliderPressed, this, [this] { slider_dragging_ = true; });
  connect(slider_, &QSlider::sliderReleased, this, [this] {
    slider_dragging_ = false;
    seek(slider_->value() / 1000.0);
  });
  connect(slider_, &QSlider::sliderMoved, this, [this](int ms) { seek(ms / 1000.0); });
  connect(slider_, &QSlider::actionTriggered, this, [this](int action) {
    // Clicks beside the handle and, with the focus, the keys: everything but a drag.
    if (action != QAbstractSlider::SliderMove && action != QAbstractSlider::SliderNoAction)
      seek(slider_->sliderPosition() / 1000.0);
  });
  connect(volume_, &QSlider::valueChanged, this, [this](int v) {
    if (audio_output_) audio_output_->setVolume(static_cast<float>(v) / 100.0f);
  });

  seek_watcher_ = new QFutureWatcher<DecodedFrame>(this);
  connect(seek_watcher_, &QFutureWatcher<DecodedFrame>::finished, this, &VideoPlayer::on_seek_done);

  if (options_.audio) {
    audio_player_ = new QMediaPlayer(this);
    audio_output_ = new QAudioOutput(this);
    audio_output_->setVolume(static_cast<float>(volume_->value()) / 100.0f);
    audio_player_->setAudioOutput(audio_output_);
  }
  update_controls();
}

QList<QWidget*> VideoPlayer::keyboardControls() const {
  return {back_button_, play_button_, forward_button_, slider_, volume_};
}

VideoPlayer::~VideoPlayer() {
  stop_playback();
  seek_watcher_->waitForFinished();
}

QString VideoPlayer::open(const QString& path) {
  close();
  try {
    const std::string file = path.toStdString();
    info_ = pipeline::in_stage("probe", file,
                               [&] { return decode::probe(file, options_.index_cache.get()); });
  } catch (...) {
    info_.reset();
    const QString error =
        QString::fromStdString(pipeline::describe_error(std::current_exception()).message);
    view_->setMessage(tr("Cannot play this file:\n%1").arg(error));
    update_controls();
    return error;
  }
  path_ = path;
  slider_->setRange(0, static_cast<int>(std::lround(duration() * 1000.0)));
  slider_->setPageStep(std::max(1, static_cast<int>(duration() * 100)));
  if (audio_player_ && info_->has_audio) audio_player_->setSource(QUrl::fromLocalFile(path));
  emit durationChanged(duration());
  seek(0.0);
  update_controls();
  return {};
}

void VideoPlayer::close() {
  stop_playback();
  if (audio_player_) audio_player_->setSource(QUrl());
  info_.reset();
  path_.clear();
  shown_time_ = -1.0;
  target_ = 0.0;
  queued_seek_.reset();
  ++seek_id_;
  view_->setMessage({});
  update_controls();
}

double VideoPlayer::duration() const {
  if (!info_) return 0.0;
  if (info_->duration > 0) return info_->duration;
  const double fps = frameRate();
  return info_->frame_count > 0 ? static_cast<double>(info_->frame_count) / fps : 0.0;
}

double VideoPlayer::frameRate() const {
  const double fps = info_ ? info_->frame_rate() : 0.0;
  return fps > 0 ? fps : 25.0;
}

int VideoPlayer::volume() const {
  return volume_->value();
}

void VideoPlayer::setVolume(int percent) {
  volume_->setValue(std::clamp(percent, 0, 100));
}

void VideoPlayer::seek(double seconds) {
  if (!info_) return;
  const bool resume = playing_;
  stop_playback();
  seconds = std::clamp(seconds, 0.0, std::max(0.0, duration()));
  target_ = seconds;
  if (audio_player_ && info_->has_audio)
    audio_player_->setPosition(static_cast<qint64>(seconds * 1000.0));
  resume_after_seek_ = resume;
  if (seek_running_) {
    queued_seek_ = seconds;  // only the latest asked position matters
    return;
  }
  start_seek(seconds);
}

void VideoPlayer::start_seek(double seconds) {
  seek_running_ = true;
  const int id = ++seek_id_;
  seek_watcher_->setFuture(QtConcurrent::run(decode_at, path_.toStdString(), seconds,
                                             options_.max_frame_width, options_.max_frame_height,
                                             id, options_.index_cache));
}

void VideoPlayer::on_seek_done() {
  seek_running_ = false;
  const DecodedFrame result = seek_watcher_->result();
  if (queued_seek_) {
    const double next = *queued_seek_;
    queued_seek_.reset();
    start_seek(next);
    return;
  }
  if (result.seek_id != seek_id_) return;  // the video was closed or replaced meanwhile
  if (!result.error.isEmpty()) {
    emit errorOccurred(result.error, result.hint);
    return;
  }
  show_frame(result.image, result.time);
  if (resume_after_seek_) {
    resume_after_seek_ = false;
    play();
  }
}

void VideoPlayer::show_frame(const QImage& image, double time) {
  view_->setFrame(image);
  shown_time_ = time;
  if (playing_) target_ = time;
  update_controls();
  emit positionChanged(time);
}

void VideoPlayer::play() {
  if (!info_ || playing_) return;
  if (seekPending()) {
    resume_after_seek_ = true;
    return;
  }
  const double fps = frameRate();
  const double end = duration();
  double start = std::max(0.0, shown_time_);
  if (start >= end - 1.5 / fps) start = 0.0;  // at the end: play from the start again
  std::vector<double> times;
  // The frame at `start` is usually on screen already: playback begins with the next one.
  const double first = (shown_time_ > 0 && start == shown_time_) ? start + 1.0 / fps : start;
  for (int64_t i = 0;; ++i) {
    const double t = first + static_cast<double>(i) / fps;
    if (t > end + 1e-9) break;
    times.push_back(t);
  }
  if (times.empty()) return;
  playing_ = true;
  play_cancel_ = CancelToken();
  const int generation = ++play_generation_;
  const std::string path = path_.toStdString();
  decode::SamplerOptions o =
      frame_options(options_.max_frame_width, options_.max_frame_height, options_.index_cache);
  o.strategy = decode::Strategy::kSequential;
  o.skip_duplicates = true;
  o.cancel = play_cancel_;
  play_thread_ = std::thread([this, path, times = std::move(times), o, start, generation] {
    using Clock = std::chrono::steady_clock;
    const CancelToken cancel = o.cancel;
    QString error;
    QString hint;
    bool stopped = false;
    try {
      pipeline::in_stage("decode", path, [&] {
        decode::FrameSampler sampler(path, times, o);
        const auto t0 = Clock::now();
        while (auto sample = sampler.next()) {
          const auto due = t0 + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(sample->frame.time - start));
          while (Clock::now() < due && !cancel.requested())
            std::this_thread::sleep_for(
                std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(20)));
          if (cancel.requested()) {
            stopped = true;
            return;
          }
          QImage image = to_qimage(sample->frame);
          const double time = sample->frame.time;
          QMetaObject::invokeMethod(
              this,
              [this, image, time, generation] {
                if (generation == play_generation_ && playing_) show_frame(image, time);
              },
              Qt::QueuedConnection);
        }
      });
      if (stopped) return;
    } catch (const Cancelled&) {
      return;
    } catch (...) {
      const pipeline::UserError e = pipeline::describe_error(std::current_exception());
      error = QString::fromStdString(e.message);
      hint = QString::fromStdString(e.hint);
    }
    QMetaObject::invokeMethod(
        this,
        [this, generation, error, hint] {
          if (generation != play_generation_) return;
          pause();
          if (!error.isEmpty()) emit errorOccurred(error, hint);
        },
        Qt::QueuedConnection);
  });
  if (audio_player_ && info_->has_audio) {
    audio_player_->setPosition(static_cast<qint64>(start * 1000.0));
    audio_player_->play();
  }
  update_controls();
  emit playingChanged(true);
}

void VideoPlayer::stop_playback() {
  resume_after_seek_ = false;
  if (play_thread_.joinable()) {
    play_cancel_.request();
    play_thread_.join();
  }
  ++play_generation_;
  if (audio_player_) audio_player_->pause();
  if (playing_) {
    playing_ = false;
    target_ = std::max(0.0, shown_time_);
    update_controls();
    emit playingChanged(false);
  }
}

void VideoPlayer::pause() {
  stop_playback();
}

void VideoPlayer::togglePlay() {
  if (playing_ || resume_after_seek_)
    pause();
  else
    play();
}

void VideoPlayer::stepFrames(int frames) {
  if (!info_) return;
  pause();
  const double base = seekPending() ? target_ : std::max(0.0, shown_time_);
  seek(base + frames / frameRate());
}

void VideoPlayer::seekBy(double seconds) {
  if (!info_) return;
  const double base = seekPending() || playing_ ? target_ : std::max(0.0, shown_time_);
  seek(base + seconds);
}

void VideoPlayer::update_controls() {
  const bool has = info_.has_value();
  for (QWidget* w :
       std::initializer_list<QWidget*>{play_button_, back_button_, forward_button_, slider_})
    w->setEnabled(has);
  volume_->setEnabled(has && audio_player_ && info_->has_audio);
  play_button_->setIcon(
      style()->standardIcon(playing_ ? QStyle::SP_MediaPause : QStyle::SP_MediaPlay));
  play_button_->setAccessibleName(playing_ ? tr("Pause") : tr("Play"));
  const double pos = std::max(0.0, shown_time_);
  if (!slider_dragging_) {
    const QSignalBlocker block(slider_);
    slider_->setValue(static_cast<int>(std::lround(pos * 1000.0)));
  }
  time_label_->setText(has ? QString("%1 / %2").arg(format_time(pos, true), format_time(duration()))
                           : QString("--:-- / --:--"));
}

}  // namespace clipmind::ui
