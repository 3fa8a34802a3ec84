#include "ui/timeline_strip.h"

#include <QKeyEvent>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include <QtConcurrent/QtConcurrentRun>

#include "pipeline/errors.h"
#include "pipeline/thumbnails.h"
#include "ui/video_player.h"

namespace clipmind::ui {

namespace {

constexpr int kMargin = 6;
constexpr double kBucketSeconds = 0.5;  // hover thumbnails are cached per half second

HoverThumb load_thumb(const QString& path, int bucket,
                      std::shared_ptr<decode::MediaIndexCache> index_cache) {
  HoverThumb out;
  out.bucket = bucket;
  out.path = path;
  const std::string file = path.toStdString();
  try {
    pipeline::ThumbnailOptions options;
    options.max_width = 192;
    options.max_height = 108;
    options.index_cache = std::move(index_cache);
    const double time = bucket * kBucketSeconds;
    const auto frames = pipeline::thumbnail_frames(file, {time}, options);
    if (frames.empty() || frames.front().empty()) {
      throw pipeline::StageError(
          ErrorKind::kInvalidInput, "decode", file,
          "no frame could be decoded near " + format_time(time, true).toStdString());
    }
    const auto& f = frames.front();
    out.image = QImage(f.rgb.data(), f.width, f.height, static_cast<qsizetype>(f.stride()),
                       QImage::Format_RGB888)
                    .copy();
  } catch (...) {
    const pipeline::UserError e = pipeline::describe_error(std::current_exception());
    out.error = QString::fromStdString(e.message);
    out.hint = QString::fromStdString(e.hint);
    // The popup belongs to the hovered file: its line drops the path and keeps the stage
    // ("decode: x.mp4: ..." or "x.mp4: decode: ..." become "decode: ...").
    std::string reason = e.message;
    if (reason.rfind(file + ": ", 0) == 0) reason.erase(0, file.size() + 2);
    const std::string staged = e.stage + ": " + file + ": ";
    if (!e.stage.empty() && reason.rfind(staged, 0) == 0)
      reason = e.stage + ": " + reason.substr(staged.size());
    out.reason = QString::fromStdString(reason);
  }
  return out;
}

}  // namespace

TimelineStrip::TimelineStrip(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
  setFixedHeight(64);
  setToolTip({});
  setAccessibleName(tr("Timeline"));
  setAccessibleDescription(
      tr("Selected clips, merged segments and the answer's moments; click or drag to seek; "
         "Left / Right step 5 seconds, Home / End go to the start / end"));
  setFocusPolicy(Qt::StrongFocus);
  popup_ = new QWidget(this, Qt::ToolTip);
  popup_->setObjectName("timelineHover");
  auto* layout = new QVBoxLayout(popup_);
  layout->setContentsMargins(4, 4, 4, 4);
  popup_image_ = new QLabel(popup_);
  popup_image_->setFixedSize(192, 108);
  popup_image_->setAlignment(Qt::AlignCenter);
  popup_image_->setStyleSheet("background: black; color: gray;");
  popup_text_ = new QLabel(popup_);
  popup_text_->setAlignment(Qt::AlignCenter);
  popup_error_ = new QLabel(popup_);
  popup_error_->setObjectName("timelineHoverError");
  popup_error_->setWordWrap(true);
  popup_error_->setMaximumWidth(320);
  popup_error_->setStyleSheet("color: #c0392b;");
  popup_error_->hide();
  layout->addWidget(popup_image_);
  layout->addWidget(popup_text_);
  layout->addWidget(popup_error_);
  popup_->hide();
  thumb_watcher_ = new QFutureWatcher<HoverThumb>(this);
  connect(thumb_watcher_, &QFutureWatcher<HoverThumb>::finished, this,
          &TimelineStrip::on_thumbnail);
}

TimelineStrip::~TimelineStrip() {
  thumb_watcher_->waitForFinished();
}

void TimelineStrip::setIndexCache(std::shared_ptr<decode::MediaIndexCache> index_cache) {
  index_cache_ = std::move(index_cache);
}

void TimelineStrip::setVideo(const QString& path, double duration) {
  clear();
  path_ = path;
  duration_ = std::max(0.0, duration);
  update();
}

void TimelineStrip::clear() {
  path_.clear();
  duration_ = 0.0;
  position_ = -1.0;
  clips_.clear();
  segments_.clear();
  moments_.clear();
  thumbs_.clear();
  thumb_errors_.clear();
  reported_error_.clear();
  popup_->hide();
  update();
}

void TimelineStrip::setPrepared(const pipeline::PreparedSummary& prepared) {
  clips_.clear();
  segments_.clear();
  for (const auto& c : prepared.clips)
    clips_.push_back({c.t_begin, c.t_end});
  if (clips_.empty()) {
    // Selections without clips (uniform, scene) still show their frames as thin clips.
    for (const auto& f : prepared.frames)
      clips_.push_back({f.time, f.time});
  }
  for (const auto& s : prepared.segments)
    segments_.push_back({s.t_begin, s.t_end});
  if (duration_ <= 0) duration_ = prepared.video.duration_s;
  update();
}

void TimelineStrip::addMoment(double begin, double end) {
  moments_.push_back({begin, end});
  update();
}

void TimelineStrip::setMoments(const std::vector<TimeSpan>& moments) {
  moments_ = moments;
  update();
}

void TimelineStrip::setPosition(double seconds) {
  position_ = seconds;
  update();
}

int TimelineStrip::xOf(double seconds) const {
  const int w = width() - 2 * kMargin;
  if (duration_ <= 0 || w <= 0) return kMargin;
  return kMargin + static_cast<int>(std::lround(std::clamp(seconds / duration_, 0.0, 1.0) * w));
}

double TimelineStrip::timeAt(int x) const {
  const int w = width() - 2 * kMargin;
  if (duration_ <= 0 || w <= 0) return 0.0;
  return std::clamp(static_cast<double>(x - kMargin) / w, 0.0, 1.0) * duration_;
}

QWidget* TimelineStrip::hoverPopup() const {
  return popup_;
}
QString TimelineStrip::hoverText() const {
  return popup_text_->text();
}
bool TimelineStrip::hoverHasThumbnail() const {
  return !popup_image_->pixmap().isNull();
}
QString TimelineStrip::hoverError() const {
  return popup_error_->isHidden() ? QString() : popup_error_->text();
}

void TimelineStrip::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), palette().window().color().darker(115));
  const int lane = (height() - 2 * kMargin) / 3;
  const QRect track(kMargin, kMargin, width() - 2 * kMargin, height() - 2 * kMargin);
  p.fillRect(track, QColor(40, 40, 40));
  if (duration_ <= 0) return;
  auto span_rect = [&](const TimeSpan& s, int row) {
    const int x0 = xOf(s.begin);
    const int x1 = std::max(x0 + 2, xOf(s.end));
    return QRect(x0, kMargin + row * lane + 1, x1 - x0, lane - 2);
  };
  for (const auto& c : clips_)
    p.fillRect(span_rect(c, 0), QColor(70, 130, 220));
  for (size_t i = 0; i < segments_.size(); ++i)
    p.fillRect(span_rect(segments_[i], 1), i % 2 ? QColor(60, 170, 110) : QColor(40, 130, 80));
  for (const auto& m : moments_) {
    QRect r = span_rect(m, 2);
    if (m.end <= m.begin) r = QRect(xOf(m.begin) - 2, r.top(), 5, r.height());
    p.fillRect(r, QColor(240, 150, 40));
  }
  p.setPen(QColor(200, 200, 200));
  QFont f = p.font();
  f.setPointSizeF(std::max(6.0, f.pointSizeF() * 0.75));
  p.setFont(f);
  p.drawText(QRect(track.left() + 2, kMargin, 80, lane), Qt::AlignVCenter, tr("clips"));
  p.drawText(QRect(track.left() + 2, kMargin + lane, 80, lane), Qt::AlignVCenter, tr("segments"));
  p.drawText(QRect(track.left() + 2, kMargin + 2 * lane, 80, lane), Qt::AlignVCenter, tr("answer"));
  if (position_ >= 0) {
    p.setPen(QPen(QColor(230, 40, 40), 2));
    const int x = xOf(position_);
    p.drawLine(x, 0, x, height());
  }
  if (hasFocus()) {
    p.setPen(QPen(palette().highlight().color(), 2));
    p.drawRect(rect().adjusted(1, 1, -1, -1));
  }
}

void TimelineStrip::keyPressEvent(QKeyEvent* event) {
  if (duration_ <= 0 || event->modifiers() & ~Qt::KeypadModifier) {
    QWidget::keyPressEvent(event);
    return;
  }
  switch (event->key()) {
    case Qt::Key_Left:
      emit stepRequested(-kKeyStepSeconds);
      break;
    case Qt::Key_Right:
      emit stepRequested(kKeyStepSeconds);
      break;
    case Qt::Key_Home:
      emit seekRequested(0.0);
      break;
    case Qt::Key_End:
      emit seekRequested(duration_);
      break;
    default:
      QWidget::keyPressEvent(event);
  }
}

void TimelineStrip::mouseMoveEvent(QMouseEvent* event) {
  const int x = static_cast<int>(event->position().x());
  if (event->buttons() & Qt::LeftButton && duration_ > 0) emit seekRequested(timeAt(x));
  show_hover(x, event->globalPosition().toPoint());
}

void TimelineStrip::mousePressEvent(QMouseEvent* event) {
  if (event->button() == Qt::LeftButton && duration_ > 0)
    emit seekRequested(timeAt(static_cast<int>(event->position().x())));
}

void TimelineStrip::leaveEvent(QEvent*) {
  popup_->hide();
  hover_bucket_ = -1;
}

void TimelineStrip::show_hover(int x, const QPoint& global) {
  if (duration_ <= 0 || path_.isEmpty()) return;
  const double t = timeAt(x);
  hover_bucket_ = static_cast<int>(std::floor(t / kBucketSeconds));
  popup_text_->setText(format_time(t, true));
  const auto cached = thumbs_.find(hover_bucket_);
  const auto failed = thumb_errors_.find(hover_bucket_);
  popup_error_->setVisible(failed != thumb_errors_.end());
  if (cached != thumbs_.end()) {
    popup_image_->setPixmap(QPixmap::fromImage(*cached));
  } else if (failed != thumb_errors_.end()) {
    popup_image_->setPixmap(QPixmap());
    popup_image_->setText(tr("no thumbnail"));
    popup_error_->setText(*failed);
  } else {
    popup_image_->setPixmap(QPixmap());
    popup_image_->setText(tr("…"));
    request_thumbnail(hover_bucket_);
  }
  popup_->adjustSize();
  popup_->move(global + QPoint(-popup_->width() / 2, -popup_->height() - 12));
  popup_->show();
}

void TimelineStrip::request_thumbnail(int bucket) {
  if (thumb_running_ >= 0) {
    thumb_wanted_ = bucket;  // decoded after the running one: only the latest hover matters
    return;
  }
  thumb_running_ = bucket;
  thumb_watcher_->setFuture(QtConcurrent::run(load_thumb, path_, bucket, index_cache_));
}

void TimelineStrip::on_thumbnail() {
  const HoverThumb t = thumb_watcher_->result();
  thumb_running_ = -1;
  if (t.path == path_ && !t.image.isNull()) {
    thumbs_.insert(t.bucket, t.image);
    if (t.bucket == hover_bucket_) popup_image_->setPixmap(QPixmap::fromImage(t.image));
  } else if (t.path == path_ && !t.error.isEmpty()) {
    thumb_errors_.insert(t.bucket, t.reason);
    if (t.bucket == hover_bucket_) {
      popup_image_->setText(tr("no thumbnail"));
      popup_error_->setText(t.reason);
      popup_error_->show();
      popup_->adjustSize();
    }
    // Hovering along a damaged stretch fails bucket after bucket: say it once.
    if (t.error != reported_error_) {
      reported_error_ = t.error;
      emit thumbnailFailed(t.error, t.hint);
    }
  }
  if (thumb_wanted_ >= 0) {
    const int next = thumb_wanted_;
    thumb_wanted_ = -1;
    if (!thumbs_.contains(next) && !thumb_errors_.contains(next)) request_thumbnail(next);
  }
}

}  // namespace clipmind::ui
