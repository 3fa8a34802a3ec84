// The timeline strip under the player: the selected key clips (top lane), the merged segments
// the model saw (middle lane), the answer's moments (bottom lane, points and ranges) and the
// playhead. Hovering shows a popup with a thumbnail of the video at that time (decoded on a
// pool thread through pipeline::thumbnail_frames, cached per half second) and the time;
// clicking (or dragging) asks the player to seek there. From the keyboard (it takes the focus
// by Tab or a click): Left / Right step kKeyStepSeconds back / forward, Home / End go to the
// start / end. A thumbnail that cannot be decoded says
// why in the popup, labelled with its stage like the CLI's errors ("decode: ..."), and is
// reported once through thumbnailFailed with the full message naming the file.
#pragma once

#include <QFutureWatcher>
#include <QHash>
#include <QImage>
#include <QString>
#include <QWidget>
#include <memory>
#include <vector>

#include "decode/media_index.h"
#include "pipeline/job_types.h"

class QLabel;

namespace clipmind::ui {

struct TimeSpan {
  double begin = 0.0;
  double end = 0.0;
};

struct HoverThumb {
  QImage image;
  int bucket = -1;
  QString path;
  QString error;   // "clip.mp4: decode: ..." when no thumbnail could be made
  QString reason;  // the same without the file: "decode: ..." (the popup's line)
  QString hint;    // what to do, or ""
};

class TimelineStrip : public QWidget {
  Q_OBJECT
 public:
  static constexpr double kKeyStepSeconds = 5.0;

  explicit TimelineStrip(QWidget* parent = nullptr);
  ~TimelineStrip() override;

  // Shared with the player and the pipeline: hover thumbnails of a TS/PS file do not read the
  // whole file again for each half second (decode/media_index.h). Null: each one reads it.
  void setIndexCache(std::shared_ptr<decode::MediaIndexCache> index_cache);
  void setVideo(const QString& path, double duration);
  void clear();
  void setPrepared(const pipeline::PreparedSummary& prepared);
  void addMoment(double begin, double end);
  void setMoments(const std::vector<TimeSpan>& moments);
  void setPosition(double seconds);

  double duration() const { return duration_; }
  double position() const { return position_; }
  const std::vector<TimeSpan>& clips() const { return clips_; }
  const std::vector<TimeSpan>& segments() const { return segments_; }
  const std::vector<TimeSpan>& moments() const { return moments_; }
  // The x coordinate of a time, and the time at an x coordinate (for tests and painting).
  int xOf(double seconds) const;
  double timeAt(int x) const;
  // The hover popup (visible while hovering); its text is the time under the mouse.
  QWidget* hoverPopup() const;
  QString hoverText() const;
  bool hoverHasThumbnail() const;
  // Why the hovered time has no thumbnail ("decode: ..."), "" when it has one or is loading.
  QString hoverError() const;

  QSize sizeHint() const override { return {640, 64}; }
  QSize minimumSizeHint() const override { return {200, 56}; }

 signals:
  void seekRequested(double seconds);
  // A step from where the player is headed (Left / Right): the player adds it to its target,
  // so quick presses add up even before the frames are shown.
  void stepRequested(double seconds);
  // A thumbnail could not be made: `message` names the file and the stage. Once per message.
  void thumbnailFailed(const QString& message, const QString& hint);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;

 private:
  void show_hover(int x, const QPoint& global);
  void request_thumbnail(int bucket);
  void on_thumbnail();

  QString path_;
  std::shared_ptr<decode::MediaIndexCache> index_cache_;
  double duration_ = 0.0;
  double position_ = -1.0;
  std::vector<TimeSpan> clips_;
  std::vector<TimeSpan> segments_;
  std::vector<TimeSpan> moments_;

  QWidget* popup_ = nullptr;
  QLabel* popup_image_ = nullptr;
  QLabel* popup_text_ = nullptr;
  QLabel* popup_error_ = nullptr;
  int hover_bucket_ = -1;
  QHash<int, QImage> thumbs_;
  QHash<int, QString> thumb_errors_;  // bucket -> the popup's reason
  QString reported_error_;
  QFutureWatcher<HoverThumb>* thumb_watcher_ = nullptr;
  int thumb_running_ = -1;
  int thumb_wanted_ = -1;
};

}  // namespace clipmind::ui
