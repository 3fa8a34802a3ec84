// The main window of clipmind-gui: the player with the timeline strip under it, the prepare
// progress bar (stage, ETA, Cancel), and tabs for the chat about the open video and the Search
// over an index database. Owns the PipelineWorker (the only place pipeline jobs run) and the
// GUI settings (QSettings given by the caller, so tests use a temporary ini file).
//
// Opening a video (dialog, drag and drop, recent files, command line, a search result) shows it
// at once and prepares a chat on the worker thread; questions asked meanwhile wait for it. A
// drop of a folder or of a file whose name is not a video's is refused at drag-enter, with the
// reason in the status bar. The player, the timeline's thumbnails and the worker share one
// decode::MediaIndexCache. Closing the window cancels the running job (a model load included).
// Errors become a message box (non-modal) and a line in the chat; a missing model gets a dialog
// that says how to fix it, with a button to the Settings. A question that waited for a
// preparation that failed is closed in the chat with that reason and leaves the dialog alone.
#pragma once

#include <QMainWindow>
#include <QSettings>
#include <QString>
#include <memory>
#include <optional>

#include "decode/media_index.h"
#include "pipeline/config.h"
#include "ui/gui_settings.h"
#include "ui/pipeline_worker.h"

class QLabel;
class QMenu;
class QMessageBox;
class QProgressBar;
class QPushButton;
class QTabWidget;

namespace clipmind::ui {

class ChatPanel;
class SearchPanel;
class TimelineStrip;
class VideoPlayer;

struct MainWindowOptions {
  QSettings* settings = nullptr;  // required; not owned
  // The configuration the GUI settings apply to; default: user_base_config().
  std::optional<pipeline::PipelineConfig> base_config;
  bool audio = true;  // QMediaPlayer for sound (tests turn it off)
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(MainWindowOptions options, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Opens `path` and seeks to `seconds`; false (and an error dialog) when it cannot be played.
  bool openVideo(const QString& path, double seconds = 0.0);
  void ask(const QString& question);
  void cancelJob();
  // Applies new settings (persists them). When one that the prepared video depends on changed
  // (model, device, visual tokens, selection, merging), the open video is prepared again, and
  // a chat that has turns says so in the transcript and the status bar: the next question
  // starts a new chat. Others (index database, relevance model) leave the chat as it is.
  void applySettings(const GuiSettings& settings);
  void showSettings();

  const GuiSettings& settings() const { return settings_; }
  // The configuration jobs run with; throws when the settings are invalid.
  pipeline::PipelineConfig jobConfig() const;

  VideoPlayer* player() const { return player_; }
  TimelineStrip* timeline() const { return timeline_; }
  ChatPanel* chat() const { return chat_; }
  SearchPanel* search() const { return search_; }
  QTabWidget* tabs() const { return tabs_; }
  QProgressBar* progressBar() const { return progress_; }
  QPushButton* cancelButton() const { return cancel_; }
  QMenu* recentMenu() const { return recent_menu_; }
  bool preparing() const { return preparing_; }
  bool chatReady() const { return chat_ready_; }
  bool busy() const { return worker_->busy(); }
  PipelineWorker* worker() const { return worker_; }
  // What full reads of TS/PS files found, shared by the player, the hover thumbnails and the
  // pipeline's jobs: such a file is read once, not at every seek.
  const decode::MediaIndexCache& indexCache() const { return *index_cache_; }
  QString progressText() const;
  // The last error shown to the user ("" when none) and whether it was the missing-model one.
  QString lastError() const { return last_error_; }
  bool lastErrorWasModelMissing() const { return last_error_model_missing_; }
  QMessageBox* errorBox() const { return error_box_; }
  // Why the settings could not be saved the last time (a full disk), "" when they were.
  QString settingsError() const { return settings_error_; }

 signals:
  void answerFinished(const clipmind::pipeline::AskResult& result);
  void preparationFinished(bool ok);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;
  void closeEvent(QCloseEvent* event) override;
  // Lets a focused control keep the keys it is operated with (Space on a button, arrows in the
  // results list or the tab bar) instead of the window-wide player shortcuts.
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void build_menus();
  void build_shortcuts();
  void rebuild_recent_menu();
  void open_dialog();
  void prepare_current();
  void show_error(const QString& title, const QString& cli_message, const QString& cli_hint,
                  bool model_missing);
  void on_progress(int job, const pipeline::JobProgress& p);
  void on_prepared(int job, const pipeline::PreparedSummary& prepared);
  void on_job_started(int job, JobKind kind);
  void on_failed(int job, const JobFailure& failure);
  void on_cancelled(int job, JobKind kind);
  void on_answered(int job, const pipeline::AskResult& result);
  void set_preparing(bool preparing);
  // Saves settings_; a failure is shown in the status bar (once per distinct reason).
  void save_current_settings();

  MainWindowOptions options_;
  std::shared_ptr<decode::MediaIndexCache> index_cache_;
  pipeline::PipelineConfig base_config_;
  GuiSettings settings_;
  PipelineWorker* worker_ = nullptr;

  VideoPlayer* player_ = nullptr;
  TimelineStrip* timeline_ = nullptr;
  ChatPanel* chat_ = nullptr;
  SearchPanel* search_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* progress_label_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QMenu* recent_menu_ = nullptr;
  QMessageBox* error_box_ = nullptr;

  QString video_;
  int prepare_job_ = 0;
  int min_job_ = 0;  // events of older jobs (a replaced video) are ignored
  bool preparing_ = false;
  bool chat_ready_ = false;
  int chat_turns_ = 0;  // questions asked since the current preparation began
  QString last_error_;
  QString prepare_error_;  // why the current video's last preparation failed, "" otherwise
  bool last_error_model_missing_ = false;
  QString settings_error_;
};

}  // namespace clipmind::ui
