// The video player: frames come from the project's own decode stage (decode::FrameSampler in
// accurate mode), so a seek shows exactly the frame nearest the asked time, whatever the
// codec's keyframe spacing; sound (and the volume control) comes from QMediaPlayer with a
// QAudioOutput, kept in step on play, pause and seek (best effort: a file without sound or a
// machine without an audio device simply plays silently).
//
// Threads: seeks decode on a pool thread (QtConcurrent) and only the latest asked position is
// shown; playback runs one sequential FrameSampler on its own std::thread that paces frames by
// their presentation times and hands them to the GUI thread. Stopping playback cancels and
// joins that thread. Errors (unreadable file) come back as return values / `errorOccurred`,
// never as exceptions into Qt; they name the file and the stage like the CLI's
// ("clip.mp4: probe: ..." when opening, "clip.mp4: decode: ..." when showing frames).
#pragma once

#include <QFutureWatcher>
#include <QImage>
#include <QString>
#include <QWidget>
#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "clipmind/progress.h"
#include "decode/media_index.h"
#include "decode/video_info.h"

class QAudioOutput;
class QLabel;
class QMediaPlayer;
class QPushButton;
class QSlider;

namespace clipmind::ui {

// Paints the current frame, letterboxed, on black.
class VideoView : public QWidget {
  Q_OBJECT
 public:
  explicit VideoView(QWidget* parent = nullptr);
  void setFrame(const QImage& frame);
  const QImage& frame() const { return frame_; }
  void setMessage(const QString& message);
  QSize sizeHint() const override { return {640, 360}; }

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  QImage frame_;
  QString message_;
};

struct DecodedFrame {
  QImage image;
  double time = -1.0;
  int seek_id = 0;
  QString error;
  QString hint;
};

class VideoPlayer : public QWidget {
  Q_OBJECT
 public:
  struct Options {
    bool audio = true;          // QMediaPlayer for sound
    int max_frame_width = 960;  // frames are decoded to fit this box (aspect kept)
    int max_frame_height = 540;
    // Shared with the pipeline and the thumbnails: a TS/PS file is read in full once, not at
    // every seek (decode/media_index.h). Null: each probe and seek reads it again.
    std::shared_ptr<decode::MediaIndexCache> index_cache;
  };
  explicit VideoPlayer(QWidget* parent = nullptr);
  VideoPlayer(Options options, QWidget* parent);
  ~VideoPlayer() override;

  // Probes the file and shows its first frame. Returns "" or a readable error
  // ("clip.mp4: probe: ...").
  QString open(const QString& path);
  void close();
  bool hasVideo() const { return info_.has_value(); }
  QString path() const { return path_; }

  double duration() const;
  double frameRate() const;
  // The time of the frame on screen (its presentation time); -1 before the first frame.
  double position() const { return shown_time_; }
  // Where the player is headed: the last asked seek, or the playing position.
  double targetPosition() const { return target_; }
  bool isPlaying() const { return playing_; }
  bool seekPending() const { return seek_running_ || queued_seek_.has_value(); }
  int volume() const;
  VideoView* view() const { return view_; }
  // The controls in the order Tab reaches them: previous frame, play, next frame, position,
  // volume. They take the focus by Tab only (a click leaves it where it was); a focused
  // position slider seeks with the arrows (5 s), Page Up / Down (a tenth) and Home / End.
  QList<QWidget*> keyboardControls() const;

 public slots:
  void seek(double seconds);
  void play();
  void pause();
  void togglePlay();
  void stepFrames(int frames);
  void seekBy(double seconds);
  void setVolume(int percent);

 signals:
  void positionChanged(double seconds);  // a new frame is on screen
  void durationChanged(double seconds);
  void playingChanged(bool playing);
  void errorOccurred(const QString& message, const QString& hint);

 private:
  void start_seek(double seconds);
  void on_seek_done();
  void show_frame(const QImage& image, double time);
  void stop_playback();
  void update_controls();

  Options options_;
  QString path_;
  std::optional<decode::VideoInfo> info_;
  double shown_time_ = -1.0;
  double target_ = 0.0;
  bool playing_ = false;
  bool slider_dragging_ = false;
  bool resume_after_seek_ = false;

  // Seeks.
  QFutureWatcher<DecodedFrame>* seek_watcher_ = nullptr;
  bool seek_running_ = false;
  std::optional<double> queued_seek_;
  int seek_id_ = 0;

  // Playback.
  std::thread play_thread_;
  CancelToken play_cancel_;
  int play_generation_ = 0;

  VideoView* view_ = nullptr;
  QPushButton* play_button_ = nullptr;
  QPushButton* back_button_ = nullptr;
  QPushButton* forward_button_ = nullptr;
  QSlider* slider_ = nullptr;
  QSlider* volume_ = nullptr;
  QLabel* time_label_ = nullptr;
  QMediaPlayer* audio_player_ = nullptr;
  QAudioOutput* audio_output_ = nullptr;
};

// "1:02.480" style time for labels and links (minutes:seconds.millis, hours when needed).
QString format_time(double seconds, bool millis = false);

}  // namespace clipmind::ui
