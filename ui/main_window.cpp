#include "ui/main_window.h"

#include <QAbstractButton>
#include <QAbstractItemView>
#include <QAbstractSlider>
#include <QAction>
#include <QCloseEvent>
#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QScreen>
#include <QShortcut>
#include <QSplitter>
#include <QStatusBar>
#include <QStringList>
#include <QTabBar>
#include <QTabWidget>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <limits>

#include "decode/video_files.h"
#include "ui/chat_panel.h"
#include "ui/gui_wording.h"
#include "ui/search_panel.h"
#include "ui/settings_dialog.h"
#include "ui/timeline_strip.h"
#include "ui/video_player.h"

namespace clipmind::ui {

namespace {

// The open dialog offers what folder scans find (decode/video_files.h).
QString video_filter() {
  QStringList patterns;
  for (const std::string_view ext : decode::video_extensions())
    patterns << QStringLiteral("*") + QString::fromLatin1(ext.data(), static_cast<int>(ext.size()));
  return QObject::tr("Videos (%1);;All files (*)").arg(patterns.join(QLatin1Char(' ')));
}

// What a drop onto the window would open: the first dropped video file, or (path "") why the
// drop is refused, naming what was dropped. Checked at drag-enter so a folder or a text file is
// refused under the pointer instead of failing later as "not a readable video file".
struct DropTarget {
  QString path;
  QString refusal;
};

DropTarget drop_target(const QMimeData* mime) {
  if (!mime->hasUrls()) return {};
  QString first_refusal;
  for (const QUrl& url : mime->urls()) {
    if (!url.isLocalFile()) continue;
    const QString path = url.toLocalFile();
    const QFileInfo info(path);
    QString refusal;
    if (info.isDir()) {
      refusal = QObject::tr(
                    "%1 is a folder: drop a video file. To caption or index every video "
                    "in a folder, run clipmind caption FOLDER or clipmind index FOLDER, "
                    "then search the index in the Search tab.")
                    .arg(QDir::toNativeSeparators(info.absoluteFilePath()));
    } else if (!decode::has_video_extension(path.toStdString())) {
      refusal = QObject::tr(
                    "%1 is not a video file (by its name): drop a video (.mp4, .mkv, "
                    ".mov, .avi, .webm, .ts …). To try a file with another extension, "
                    "use File ▸ Open Video.")
                    .arg(info.fileName());
    } else {
      return {path, {}};
    }
    if (first_refusal.isEmpty()) first_refusal = refusal;
  }
  return {{}, first_refusal};
}

QString stage_label(const QString& stage) {
  if (stage.isEmpty()) return {};
  QString s = stage;
  s[0] = s[0].toUpper();
  return s;
}

}  // namespace

MainWindow::MainWindow(MainWindowOptions options, QWidget* parent)
    : QMainWindow(parent),
      options_(std::move(options)),
      index_cache_(std::make_shared<decode::MediaIndexCache>()) {
  Q_ASSERT(options_.settings != nullptr);
  settings_ = load_settings(*options_.settings);
  QString config_error;
  if (options_.base_config) {
    base_config_ = *options_.base_config;
  } else {
    try {
      base_config_ = user_base_config();
    } catch (const std::exception& e) {
      config_error = QString::fromUtf8(e.what());
    }
  }
  setWindowTitle("clipmind");
  setAcceptDrops(true);
  worker_ = new PipelineWorker(this, index_cache_);

  VideoPlayer::Options player_options;
  player_options.audio = options_.audio;
  player_options.index_cache = index_cache_;
  player_ = new VideoPlayer(player_options, this);
  player_->setObjectName("player");
  timeline_ = new TimelineStrip(this);
  timeline_->setObjectName("timeline");
  timeline_->setIndexCache(index_cache_);
  progress_ = new QProgressBar(this);
  progress_->setObjectName("prepareProgress");
  progress_->setAccessibleName(tr("Progress"));
  progress_->setTextVisible(true);
  progress_label_ = new QLabel(this);
  progress_label_->setObjectName("prepareLabel");
  progress_label_->setMinimumWidth(260);
  cancel_ = new QPushButton(tr("Cancel"), this);
  cancel_->setObjectName("cancelButton");
  cancel_->setToolTip(tr("Stop preparing or answering (Esc)"));
  auto* progress_row = new QWidget(this);
  progress_row->setObjectName("progressRow");
  auto* progress_layout = new QHBoxLayout(progress_row);
  progress_layout->setContentsMargins(0, 0, 0, 0);
  progress_layout->addWidget(progress_label_);
  progress_layout->addWidget(progress_, 1);
  progress_layout->addWidget(cancel_);

  auto* left = new QWidget(this);
  auto* left_layout = new QVBoxLayout(left);
  left_layout->addWidget(player_, 1);
  left_layout->addWidget(timeline_);
  left_layout->addWidget(progress_row);

  chat_ = new ChatPanel(this);
  search_ = new SearchPanel(this);
  search_->setDatabase(settings_.index_db);
  tabs_ = new QTabWidget(this);
  tabs_->setAccessibleName(tr("Chat and search"));
  tabs_->addTab(chat_, tr("Chat"));
  tabs_->addTab(search_, tr("Search"));

  auto* splitter = new QSplitter(Qt::Horizontal, this);
  splitter->addWidget(left);
  splitter->addWidget(tabs_);
  splitter->setStretchFactor(0, 3);
  splitter->setStretchFactor(1, 2);
  setCentralWidget(splitter);
  // Not larger than the screen (a small laptop, or a large scale factor on HiDPI).
  QSize size(1200, 720);
  if (const QScreen* s = screen()) size = size.boundedTo(s->availableGeometry().size() * 0.9);
  resize(size);

  // Tab goes from the question to the answer, then to the player and the timeline.
  QList<QWidget*> tab_order = {chat_->input(), chat_->askButton(), chat_->transcript()};
  tab_order += player_->keyboardControls();
  tab_order << timeline_ << cancel_;
  for (qsizetype i = 1; i < tab_order.size(); ++i)
    setTabOrder(tab_order[i - 1], tab_order[i]);

  build_menus();
  build_shortcuts();
  for (QWidget* child : findChildren<QWidget*>())
    if (child->focusPolicy() != Qt::NoFocus) child->installEventFilter(this);
  set_preparing(false);
  progress_row->setVisible(false);

  connect(player_, &VideoPlayer::positionChanged, timeline_, &TimelineStrip::setPosition);
  connect(player_, &VideoPlayer::errorOccurred, this,
          [this](const QString& message, const QString& hint) {
            show_error(tr("Playback problem"), message, hint, false);
          });
  // Hovering must not raise dialogs: a missing thumbnail is said in the status bar.
  connect(timeline_, &TimelineStrip::thumbnailFailed, this,
          [this](const QString& message) { statusBar()->showMessage(message, 15000); });
  connect(timeline_, &TimelineStrip::seekRequested, player_, &VideoPlayer::seek);
  connect(timeline_, &TimelineStrip::stepRequested, player_, &VideoPlayer::seekBy);
  connect(chat_, &ChatPanel::seekRequested, player_, &VideoPlayer::seek);
  connect(chat_, &ChatPanel::questionAsked, this, &MainWindow::ask);
  // Enter did nothing visible while an answer streamed; say why and what to do.
  connect(chat_, &ChatPanel::questionHeldWhileAnswering, this, [this] {
    statusBar()->showMessage(
        tr("Still answering the last question: yours stays in the box. Press Enter again when "
           "the answer is done, or Esc to stop it."),
        10000);
  });
  connect(cancel_, &QPushButton::clicked, this, &MainWindow::cancelJob);
  connect(search_, &SearchPanel::openRequested, this, [this](const QString& video, double t) {
    if (video == video_ && player_->hasVideo()) {
      player_->seek(t);
    } else {
      openVideo(video, t);
    }
    tabs_->setCurrentWidget(chat_);
  });
  connect(search_, &SearchPanel::databaseChanged, this, [this](const QString& location) {
    settings_.index_db = location;
    save_current_settings();
  });

  connect(worker_, &PipelineWorker::jobStarted, this, &MainWindow::on_job_started);
  connect(worker_, &PipelineWorker::progress, this, &MainWindow::on_progress);
  connect(worker_, &PipelineWorker::prepared, this, &MainWindow::on_prepared);
  connect(worker_, &PipelineWorker::ready, this, [this](int job) {
    if (job < min_job_) return;
    chat_ready_ = true;
    set_preparing(false);
    emit preparationFinished(true);
  });
  connect(worker_, &PipelineWorker::textStreamed, this, [this](int job, const QByteArray& text) {
    if (job >= min_job_) chat_->appendText(text);
  });
  connect(worker_, &PipelineWorker::momentFound, this, [this](int job, const pipeline::Moment& m) {
    if (job < min_job_) return;
    chat_->addMoment(m);
    timeline_->addMoment(m.start_s, m.end_s);
  });
  connect(worker_, &PipelineWorker::answered, this, &MainWindow::on_answered);
  connect(worker_, &PipelineWorker::failed, this, &MainWindow::on_failed);
  connect(worker_, &PipelineWorker::cancelled, this, &MainWindow::on_cancelled);
  connect(worker_, &PipelineWorker::warning, this, [this](int job, const QString& text) {
    if (job < min_job_) return;
    // FFmpeg's own lines (one per damaged packet) are followed by the decode stage's summary
    // ("N decoding error(s): the file has damaged data ..."), which is what a person needs.
    if (text.startsWith("decode: ") && text.contains(": FFmpeg: ")) return;
    const QString shown = gui_wording(text);
    chat_->addWarning(shown);
    statusBar()->showMessage(shown, 15000);
  });
  connect(worker_, &PipelineWorker::idle, this, [this] {
    findChild<QWidget*>("progressRow")->setVisible(false);
    chat_->setInputEnabled(true);
  });

  try {
    search_->setConfig(jobConfig());
  } catch (const std::exception&) {
    // Shown when a job needs the configuration.
  }
  if (!config_error.isEmpty())
    show_error(tr("Configuration problem"), config_error,
               tr("Fix or remove the configuration file; the defaults are used meanwhile."), false);
}

MainWindow::~MainWindow() {
  worker_->cancel();
}

pipeline::PipelineConfig MainWindow::jobConfig() const {
  return apply_settings(base_config_, settings_);
}

void MainWindow::build_menus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open = file->addAction(tr("&Open Video…"), this, &MainWindow::open_dialog);
  open->setShortcut(QKeySequence::Open);
  open->setObjectName("openAction");
  recent_menu_ = file->addMenu(tr("Open &Recent"));
  recent_menu_->setObjectName("recentMenu");
  file->addSeparator();
  QAction* settings = file->addAction(tr("&Settings…"), this, &MainWindow::showSettings);
  settings->setShortcut(QKeySequence::Preferences);
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);
  QMenu* play = menuBar()->addMenu(tr("&Playback"));
  play->addAction(tr("Play / Pause\tSpace, K"), player_, &VideoPlayer::togglePlay);
  play->addAction(tr("Back 5 s\tLeft"), this, [this] { player_->seekBy(-5); });
  play->addAction(tr("Forward 5 s\tRight"), this, [this] { player_->seekBy(5); });
  play->addAction(tr("Back 10 s\tJ"), this, [this] { player_->seekBy(-10); });
  play->addAction(tr("Forward 10 s\tL"), this, [this] { player_->seekBy(10); });
  play->addAction(tr("Previous frame\t,"), this, [this] { player_->stepFrames(-1); });
  play->addAction(tr("Next frame\t."), this, [this] { player_->stepFrames(1); });
  play->addAction(tr("Volume up\tUp"), this, [this] { player_->setVolume(player_->volume() + 5); });
  play->addAction(tr("Volume down\tDown"), this,
                  [this] { player_->setVolume(player_->volume() - 5); });
  rebuild_recent_menu();
}

void MainWindow::build_shortcuts() {
  auto add = [this](QKeySequence key, auto slot) {
    auto* s = new QShortcut(key, this);
    s->setContext(Qt::WindowShortcut);
    connect(s, &QShortcut::activated, this, slot);
  };
  add(Qt::Key_Space, [this] { player_->togglePlay(); });
  add(Qt::Key_K, [this] { player_->togglePlay(); });
  add(Qt::Key_J, [this] { player_->seekBy(-10); });
  add(Qt::Key_L, [this] { player_->seekBy(10); });
  add(Qt::Key_Left, [this] { player_->seekBy(-5); });
  add(Qt::Key_Right, [this] { player_->seekBy(5); });
  add(Qt::Key_Up, [this] { player_->setVolume(player_->volume() + 5); });
  add(Qt::Key_Down, [this] { player_->setVolume(player_->volume() - 5); });
  add(Qt::Key_Comma, [this] { player_->stepFrames(-1); });
  add(Qt::Key_Period, [this] { player_->stepFrames(1); });
  add(Qt::Key_Escape, [this] {
    if (worker_->busy()) cancelJob();
  });
}

void MainWindow::rebuild_recent_menu() {
  recent_menu_->clear();
  for (const QString& path : settings_.recent_files) {
    QAction* a = recent_menu_->addAction(QFileInfo(path).fileName(), this,
                                         [this, path] { openVideo(path); });
    a->setToolTip(path);
    a->setData(path);
  }
  if (!settings_.recent_files.isEmpty()) {
    recent_menu_->addSeparator();
    recent_menu_->addAction(tr("Clear"), this, [this] {
      settings_.recent_files.clear();
      save_current_settings();
      rebuild_recent_menu();
    });
  }
  recent_menu_->setEnabled(!settings_.recent_files.isEmpty());
}

void MainWindow::open_dialog() {
  const QString start = video_.isEmpty() ? QString() : QFileInfo(video_).absolutePath();
  const QString path = QFileDialog::getOpenFileName(this, tr("Open Video"), start, video_filter());
  if (!path.isEmpty()) openVideo(path);
}

bool MainWindow::openVideo(const QString& path, double seconds) {
  const QString error = player_->open(path);
  if (!error.isEmpty()) {
    worker_->cancel();
    min_job_ = std::numeric_limits<int>::max();  // nothing of an earlier video comes through
    video_.clear();
    chat_ready_ = false;
    set_preparing(false);
    timeline_->clear();
    chat_->clear();
    chat_->setNote(tr("Cannot open %1").arg(QFileInfo(path).fileName()));
    setWindowTitle("clipmind");
    QString hint =
        tr("The file may be damaged, incomplete or not a video. Try another file, or "
           "check that it plays with another player.");
    const QString absolute = QFileInfo(path).absoluteFilePath();
    if (!QFileInfo::exists(path)) {
      hint = tr("The file is not there: it may have been moved, renamed or deleted.");
      // A recent file that is gone would fail the same way at every click.
      if (settings_.recent_files.removeAll(absolute) > 0) {
        save_current_settings();
        rebuild_recent_menu();
        hint += " " + tr("It was removed from File ▸ Open Recent.");
      }
    }
    show_error(tr("Cannot open video"), error, hint, false);
    return false;
  }
  video_ = path;
  setWindowTitle(QString("clipmind — %1").arg(QFileInfo(path).fileName()));
  timeline_->setVideo(path, player_->duration());
  chat_->clear();
  if (seconds > 0) player_->seek(seconds);
  add_recent_file(settings_, QFileInfo(path).absoluteFilePath());
  save_current_settings();
  rebuild_recent_menu();
  prepare_current();
  return true;
}

void MainWindow::prepare_current() {
  if (video_.isEmpty()) return;
  pipeline::PipelineConfig config;
  try {
    config = jobConfig();
  } catch (const std::exception& e) {
    show_error(tr("Invalid settings"), QString::fromUtf8(e.what()),
               tr("Open File ▸ Settings and correct the value."), false);
    return;
  }
  chat_ready_ = false;
  chat_turns_ = 0;
  prepare_error_.clear();
  prepare_job_ = worker_->prepare(video_, config);
  min_job_ = prepare_job_;
  set_preparing(true);
  chat_->setNote(
      tr("Preparing the video for questions… You can ask already; the answer starts "
         "when it is ready."));
}

void MainWindow::ask(const QString& question) {
  if (question.trimmed().isEmpty()) return;
  if (video_.isEmpty()) {
    show_error(tr("No video"), tr("Open a video first (File ▸ Open Video, Ctrl+O)."), {}, false);
    return;
  }
  if (!chat_ready_ && !preparing_) prepare_current();  // after a cancel or a failure
  if (!preparing_ && !chat_ready_) return;             // settings error, already reported
  chat_->beginAnswer(question.trimmed());
  ++chat_turns_;
  chat_->setInputEnabled(false);
  worker_->ask(question.trimmed());
}

void MainWindow::cancelJob() {
  worker_->cancel();
}

void MainWindow::showSettings() {
  auto* dialog = new SettingsDialog(settings_, this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  connect(dialog, &QDialog::accepted, this, [this, dialog] { applySettings(dialog->settings()); });
  dialog->open();
}

void MainWindow::applySettings(const GuiSettings& settings) {
  // What the prepared video (and so the chat's context) is made with. The relevance model is
  // not among them: a chat is prepared before any question, so it selects without it.
  const bool prefix_changed = settings.model != settings_.model ||
                              settings.device != settings_.device ||
                              settings.budget_mode != settings_.budget_mode ||
                              settings.budget_tokens != settings_.budget_tokens ||
                              settings.budget_ratio != settings_.budget_ratio ||
                              settings.select_method != settings_.select_method ||
                              settings.merge_method != settings_.merge_method;
  settings_ = settings;
  save_current_settings();
  search_->setDatabase(settings_.index_db);
  try {
    search_->setConfig(jobConfig());
  } catch (const std::exception& e) {
    show_error(tr("Invalid settings"), QString::fromUtf8(e.what()), {}, false);
    return;
  }
  if (!prefix_changed || video_.isEmpty() || !(chat_ready_ || preparing_ || !last_error_.isEmpty()))
    return;
  const bool had_turns = chat_turns_ > 0;
  prepare_current();
  if (had_turns && preparing_) {
    // The model forgets the turns above; saying so keeps a follow-up from being read as one.
    const QString said = tr("Settings changed: the next question starts a new chat.");
    chat_->endConversation(said);
    statusBar()->showMessage(said, 15000);
  }
}

QString MainWindow::progressText() const {
  return progress_label_->text();
}

void MainWindow::set_preparing(bool preparing) {
  preparing_ = preparing;
  cancel_->setEnabled(worker_->busy() || preparing);
  if (preparing) {
    findChild<QWidget*>("progressRow")->setVisible(true);
    progress_->setRange(0, 0);
    progress_label_->setText(tr("Preparing…"));
  }
}

void MainWindow::save_current_settings() {
  const QString error = save_settings(*options_.settings, settings_);
  // Saved on every opened file: say it once, not at each, while the disk stays full.
  if (!error.isEmpty() && error != settings_error_) statusBar()->showMessage(error, 15000);
  settings_error_ = error;
}

void MainWindow::on_job_started(int job, JobKind kind) {
  if (job < min_job_) return;
  findChild<QWidget*>("progressRow")->setVisible(true);
  cancel_->setEnabled(true);
  if (kind == JobKind::kAsk) {
    progress_->setRange(0, 0);
    progress_label_->setText(tr("Answering…"));
  }
}

void MainWindow::on_progress(int job, const pipeline::JobProgress& p) {
  if (job < min_job_) return;
  QString text = stage_label(QString::fromStdString(p.stage));
  if (p.stage_count > 0 && p.stage_index >= 0)
    text = tr("%1 (%2/%3)").arg(text).arg(p.stage_index + 1).arg(p.stage_count);
  if (p.total > 0) {
    progress_->setRange(0, static_cast<int>(std::min<int64_t>(p.total, 1 << 30)));
    progress_->setValue(static_cast<int>(std::min<int64_t>(p.done, 1 << 30)));
    text += QString(" %1/%2 %3").arg(p.done).arg(p.total).arg(QString::fromStdString(p.unit));
  } else {
    progress_->setRange(0, 0);
  }
  if (p.eta_s >= 0 && !p.finished)
    text += tr(" · ETA %1").arg(QString::fromStdString(pipeline::format_duration(p.eta_s)));
  progress_label_->setText(text.trimmed());
}

void MainWindow::on_prepared(int job, const pipeline::PreparedSummary& prepared) {
  if (job < min_job_) return;
  timeline_->setPrepared(prepared);
  chat_->setNote(tr("%1 frames selected (%2), %3 segments after %4 merging, %5 visual tokens.")
                     .arg(prepared.frames.size())
                     .arg(QString::fromStdString(prepared.selection))
                     .arg(prepared.segments.size())
                     .arg(QString::fromStdString(prepared.merge_method))
                     .arg(prepared.tokens.visual_after_merge));
}

void MainWindow::on_answered(int job, const pipeline::AskResult& result) {
  if (job < min_job_) return;
  chat_->finishAnswer(result.answer, result.moments);
  std::vector<TimeSpan> spans;
  for (const auto& m : result.moments)
    spans.push_back({m.start_s, m.end_s});
  timeline_->setMoments(spans);
  emit answerFinished(result);
}

void MainWindow::on_failed(int job, const JobFailure& f) {
  if (job < min_job_) return;
  const QString message = gui_wording(QString::fromStdString(f.error.message));
  const QString hint = gui_wording(QString::fromStdString(f.error.hint));
  if (f.kind == JobKind::kPrepare) {
    chat_ready_ = false;
    prepare_error_ = message;
    set_preparing(false);
    chat_->setNote(tr("Could not prepare the video: %1").arg(message));
    emit preparationFinished(false);
  } else if (f.not_prepared && !prepare_error_.isEmpty()) {
    // The question waited for that preparation: its dialog (often the model one, with its
    // "Open Settings…" button) says what to do and must not be replaced.
    chat_->failAnswer(
        tr("Not answered: the video could not be prepared (%1).").arg(prepare_error_));
    return;
  } else {
    chat_->failAnswer(message);
  }
  if (f.model_missing) {
    show_error(tr("Model not available"), message, hint, true);
  } else {
    show_error(f.kind == JobKind::kPrepare ? tr("Cannot prepare the video") : tr("Cannot answer"),
               message, hint, false);
  }
}

void MainWindow::on_cancelled(int job, JobKind kind) {
  if (job < min_job_) return;
  if (kind == JobKind::kPrepare) {
    chat_ready_ = false;
    set_preparing(false);
    chat_->setNote(tr("Preparation cancelled. Ask a question to prepare the video again."));
    emit preparationFinished(false);
  } else {
    chat_->failAnswer(tr("Cancelled."));
  }
}

void MainWindow::show_error(const QString& title, const QString& cli_message,
                            const QString& cli_hint, bool model_missing) {
  // Every text shown here may come from the pipeline, which words it for the command line.
  const QString message = gui_wording(cli_message);
  const QString hint = gui_wording(cli_hint);
  last_error_ = message;
  last_error_model_missing_ = model_missing;
  statusBar()->showMessage(message, 10000);
  if (!error_box_) {
    error_box_ = new QMessageBox(this);
    error_box_->setObjectName("errorBox");
    error_box_->setIcon(QMessageBox::Warning);
  }
  for (QAbstractButton* b : error_box_->buttons()) {
    error_box_->removeButton(b);
    b->deleteLater();
  }
  error_box_->setWindowTitle(title);
  if (model_missing) {
    error_box_->setText(tr("The model could not be loaded.\n\n%1").arg(message));
    error_box_->setInformativeText(
        tr("clipmind needs a LLaVA-OneVision model (e.g. "
           "llava-hf/llava-onevision-qwen2-0.5b-ov-hf)."
           "\n• Choose a model folder or a Hugging Face repo id in File ▸ Settings ▸ Model."
           "\n• A repo id is downloaded once, the first time, with an internet connection "
           "(unless \"offline\" is true in %1).\n• To try the program without a real model: "
           "clipmind "
           "make-tiny-model --arch llava-onevision DIR in a terminal, then choose DIR.")
            .arg(gui_config_file()) +
        (hint.isEmpty() ? QString() : "\n\n" + hint));
    QPushButton* open_settings =
        error_box_->addButton(tr("Open Settings…"), QMessageBox::ActionRole);
    connect(open_settings, &QPushButton::clicked, this, &MainWindow::showSettings,
            Qt::SingleShotConnection);
    error_box_->addButton(QMessageBox::Close);
  } else {
    error_box_->setText(message);
    error_box_->setInformativeText(hint);
    error_box_->addButton(QMessageBox::Ok);
  }
  error_box_->open();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  const DropTarget target = drop_target(event->mimeData());
  if (!target.path.isEmpty()) {
    event->acceptProposedAction();
    return;
  }
  event->ignore();
  if (!target.refusal.isEmpty()) statusBar()->showMessage(target.refusal, 15000);
}

void MainWindow::dropEvent(QDropEvent* event) {
  // Qt delivers drops only after an accepted drag-enter; checked again all the same.
  const DropTarget target = drop_target(event->mimeData());
  if (target.path.isEmpty()) {
    event->ignore();
    if (!target.refusal.isEmpty()) statusBar()->showMessage(target.refusal, 15000);
    return;
  }
  event->acceptProposedAction();
  openVideo(target.path);
}

bool MainWindow::eventFilter(QObject* watched, QEvent* event) {
  if (event->type() != QEvent::ShortcutOverride) return QMainWindow::eventFilter(watched, event);
  const auto* key = static_cast<QKeyEvent*>(event);
  if (key->modifiers() != Qt::NoModifier && key->modifiers() != Qt::KeypadModifier) return false;
  const int k = key->key();
  const bool arrow =
      k == Qt::Key_Up || k == Qt::Key_Down || k == Qt::Key_Left || k == Qt::Key_Right;
  // Accepting the override gives the key to the focused widget, as QLineEdit does for text.
  // The transcript keeps none: after clicking a time there, Space plays and arrows seek.
  // The focused timeline seeks with Left / Right (Up / Down stay the volume's); a focused
  // slider (position or volume) moves with every arrow.
  if ((k == Qt::Key_Space && qobject_cast<QAbstractButton*>(watched)) ||
      ((arrow || k == Qt::Key_Space) && qobject_cast<QAbstractItemView*>(watched)) ||
      (arrow && (qobject_cast<QTabBar*>(watched) || qobject_cast<QAbstractSlider*>(watched))) ||
      ((k == Qt::Key_Left || k == Qt::Key_Right) && qobject_cast<TimelineStrip*>(watched)))
    event->accept();
  return false;
}

void MainWindow::closeEvent(QCloseEvent* event) {
  worker_->cancel();
  player_->pause();
  save_current_settings();
  QMainWindow::closeEvent(event);
}

}  // namespace clipmind::ui
