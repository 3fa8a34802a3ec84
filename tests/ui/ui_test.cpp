// The GUI driven like a person would: real widgets under the offscreen platform, the real
// pipeline with a tiny random LLaVA-OneVision, generated videos whose frames show their own
// index (so a test reads back WHICH frame the player shows), a real SQLite index.
#include <QAbstractButton>
#include <QAccessible>
#include <QApplication>
#include <QComboBox>
#include <QDropEvent>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QScreen>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStatusBar>
#include <QTabBar>
#include <QTabWidget>
#include <QTest>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTextCursor>
#include <QTextDocument>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/decode/test_videos.h"
#include "tests/e2e/e2e_support.h"
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "index/store.h"
#include "pipeline/errors.h"
#include "pipeline/moments.h"
#include "pipeline/segment_analysis.h"
#include "pipeline/session.h"
#include "pipeline/thumbnails.h"
#include "ui/chat_panel.h"
#include "ui/gui_settings.h"
#include "ui/gui_wording.h"
#include "ui/main_window.h"
#include "ui/search_panel.h"
#include "ui/settings_dialog.h"
#include "ui/timeline_strip.h"
#include "ui/video_player.h"

namespace clipmind {
namespace {

namespace fs = std::filesystem;
using ui::MainWindow;

QApplication& app() {
  static int argc = 1;
  static char name[] = "ui_tests";
  static char* argv[] = {name, nullptr};
  static QApplication* instance = [] {
    qputenv("QT_QPA_PLATFORM", "offscreen");
    return new QApplication(argc, argv);  // lives until the process ends
  }();
  return *instance;
}

// 50 frames at 25 fps (2 s), a keyframe every 12 frames: seeks between keyframes must decode.
fs::path short_video() {
  test::VideoSpec spec;
  spec.name = "ui-short";
  spec.width = 160;
  spec.height = 120;
  spec.frames = 50;
  spec.fps = 25;
  spec.gop = 12;
  return test::make_video(spec);
}

// The same video the e2e cancellation test uses: 120 s, so preparing 128 frames takes a while.
fs::path long_video() {
  test::VideoSpec spec;
  spec.name = "session-long";
  spec.width = 128;
  spec.height = 96;
  spec.frames = 2400;
  spec.fps = 20;
  spec.gop = 20;
  return test::make_video(spec);
}

pipeline::PipelineConfig tiny_config() {
  pipeline::PipelineConfig c;
  c.model = e2e::tiny_vlm().string();
  c.offline = true;
  c.cache.enabled = false;
  c.generate.max_new_tokens = 16;
  c.select.method = "uniform";
  c.select.max_frames = 8;
  return c;
}

std::optional<uint32_t> shown_code(const ui::VideoPlayer& player) {
  QImage image = player.view()->frame().convertToFormat(QImage::Format_RGB888);
  if (image.isNull()) return std::nullopt;
  return test::read_code(image.constBits(), image.width(), image.height(),
                         static_cast<size_t>(image.bytesPerLine()));
}

class UiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app();
    dir_ = e2e::fresh_dir(std::string("ui-") +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    settings_ = std::make_unique<QSettings>(QString::fromStdString((dir_ / "gui.ini").string()),
                                            QSettings::IniFormat);
  }
  std::unique_ptr<MainWindow> window(std::optional<pipeline::PipelineConfig> config = {}) {
    ui::MainWindowOptions o;
    o.settings = settings_.get();
    o.base_config = config ? *config : tiny_config();
    o.audio = false;
    auto w = std::make_unique<MainWindow>(o);
    w->show();
    EXPECT_TRUE(QTest::qWaitForWindowExposed(w.get()));
    return w;
  }
  static bool settle(ui::VideoPlayer* player) {
    return QTest::qWaitFor([&] { return !player->seekPending(); }, 20000);
  }
  fs::path dir_;
  std::unique_ptr<QSettings> settings_;
};

TEST_F(UiTest, SeekShowsTheExactFrameAndStepsOneFrame) {
  auto w = window();
  const fs::path video = short_video();
  ASSERT_TRUE(w->openVideo(QString::fromStdString(video.string())));
  ui::VideoPlayer* player = w->player();
  ASSERT_TRUE(settle(player));
  EXPECT_NEAR(player->duration(), 2.0, 0.05);
  EXPECT_EQ(shown_code(*player), 0u);
  // 1.24 s = frame 31, between keyframes 24 and 36.
  player->seek(1.24);
  ASSERT_TRUE(settle(player));
  EXPECT_EQ(shown_code(*player), 31u);
  EXPECT_NEAR(player->position(), 1.24, 0.5 / 25);
  EXPECT_NEAR(w->timeline()->position(), player->position(), 1e-9);
  // Frame step forward and back: the next / previous frame, never a keyframe.
  QTest::keyClick(w.get(), Qt::Key_Period);
  ASSERT_TRUE(settle(player));
  EXPECT_EQ(shown_code(*player), 32u);
  QTest::keyClick(w.get(), Qt::Key_Comma);
  QTest::keyClick(w.get(), Qt::Key_Comma);
  ASSERT_TRUE(settle(player));
  EXPECT_EQ(shown_code(*player), 30u);
}

TEST_F(UiTest, SpaceAndKPlayAndPauseArrowsSeekAndVolume) {
  auto w = window();
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  ui::VideoPlayer* player = w->player();
  ASSERT_TRUE(settle(player));
  QTest::keyClick(w.get(), Qt::Key_Space);
  EXPECT_TRUE(player->isPlaying());
  ASSERT_TRUE(QTest::qWaitFor([&] { return player->position() >= 0.4; }, 10000));
  QTest::keyClick(w.get(), Qt::Key_K);
  EXPECT_FALSE(player->isPlaying());
  const double paused_at = player->position();
  QTest::qWait(200);
  EXPECT_EQ(player->position(), paused_at);
  // The frame on screen is the frame of the reported time.
  EXPECT_EQ(shown_code(*player), static_cast<uint32_t>(std::lround(paused_at * 25)));
  QTest::keyClick(w.get(), Qt::Key_Left);  // back 5 s: clamps to the start
  ASSERT_TRUE(settle(player));
  EXPECT_EQ(shown_code(*player), 0u);
  QTest::keyClick(w.get(), Qt::Key_L);  // forward 10 s: clamps to the end
  ASSERT_TRUE(settle(player));
  EXPECT_EQ(shown_code(*player), 49u);
  const int volume = player->volume();
  QTest::keyClick(w.get(), Qt::Key_Down);
  EXPECT_EQ(player->volume(), volume - 5);
}

TEST_F(UiTest, AskStreamsAnAnswerAndTheTimelineShowsThePreparedVideo) {
  auto w = window();
  QStringList stages;
  QObject::connect(w->worker(), &ui::PipelineWorker::progress, w.get(),
                   [&](int, const pipeline::JobProgress& p) {
                     if (!stages.contains(QString::fromStdString(p.stage)))
                       stages << QString::fromStdString(p.stage);
                   });
  int streamed = 0;
  QObject::connect(w->worker(), &ui::PipelineWorker::textStreamed, w.get(),
                   [&](int, const QByteArray&) { ++streamed; });
  QSignalSpy answered(w.get(), &MainWindow::answerFinished);
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  EXPECT_TRUE(w->preparing());
  EXPECT_TRUE(w->progressBar()->isVisible());
  EXPECT_TRUE(w->cancelButton()->isEnabled());
  // Typed into the chat box while the video is still being prepared: it waits, then answers.
  QTest::keyClicks(w->chat()->input(), "What happens in the video?");
  QTest::keyClick(w->chat()->input(), Qt::Key_Return);
  EXPECT_EQ(w->chat()->turnCount(), 1);
  ASSERT_TRUE(answered.wait(120000) || answered.count() > 0);
  const auto result = answered.front().front().value<pipeline::AskResult>();
  EXPECT_TRUE(w->chatReady());
  EXPECT_TRUE(w->chat()->lastAnswerDone());
  EXPECT_EQ(w->chat()->lastAnswer().toStdString(), result.answer);
  EXPECT_FALSE(result.answer.empty());
  EXPECT_GT(streamed, 0);
  EXPECT_TRUE(stages.contains("encode")) << stages.join(",").toStdString();
  EXPECT_TRUE(stages.contains("generate")) << stages.join(",").toStdString();
  // The strip shows what the pipeline prepared: its clips (or frames) and merged segments.
  EXPECT_EQ(w->timeline()->clips().size(), result.prepared.clips.empty()
                                               ? result.prepared.frames.size()
                                               : result.prepared.clips.size());
  EXPECT_EQ(w->timeline()->segments().size(), result.prepared.segments.size());
  EXPECT_FALSE(w->timeline()->segments().empty());
  for (const auto& s : w->timeline()->segments()) {
    EXPECT_GE(s.begin, 0.0);
    EXPECT_LE(s.end, 2.0 + 1e-6);
  }
  // A follow-up reuses the encoded video: no decode or encode stage runs again.
  stages.clear();
  answered.clear();
  w->ask("And then?");
  ASSERT_TRUE(answered.wait(120000) || answered.count() > 0);
  EXPECT_EQ(w->chat()->turnCount(), 2);
  EXPECT_FALSE(stages.contains("encode")) << stages.join(",").toStdString();
  EXPECT_FALSE(stages.contains("decode")) << stages.join(",").toStdString();
  const auto second = answered.front().front().value<pipeline::AskResult>();
  EXPECT_EQ(second.tokens.frames_encoded, 0);
}

// Settings changed in the middle of a chat: one the prepared video is made with (merging)
// prepares it again and says in the transcript and the status bar that the next question
// starts a new chat; one it is not made with (the index database, the relevance model) keeps
// the chat, and a follow-up then still runs without decode or encode.
TEST_F(UiTest, ChangingSettingsMidChatSaysANewChatStartsOrKeepsTheChat) {
  auto w = window();
  QStringList stages;
  QObject::connect(
      w->worker(), &ui::PipelineWorker::progress, w.get(),
      [&](int, const pipeline::JobProgress& p) { stages << QString::fromStdString(p.stage); });
  QSignalSpy answered(w.get(), &MainWindow::answerFinished);
  const QString said = "Settings changed: the next question starts a new chat";
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  // No turns yet: preparing again needs no word.
  ui::GuiSettings next = w->settings();
  next.budget_mode = "tokens";
  next.budget_tokens = 1500;
  w->applySettings(next);
  EXPECT_TRUE(w->preparing());
  EXPECT_FALSE(w->chat()->transcript()->toPlainText().contains(said));
  w->ask("What happens?");
  ASSERT_TRUE(answered.wait(120000) || answered.count() > 0);

  next.index_db = QString::fromStdString((dir_ / "other.db").string());
  next.relevance_model = QString::fromStdString(e2e::tiny_siglip().string());
  w->applySettings(next);
  EXPECT_FALSE(w->preparing());
  EXPECT_TRUE(w->chatReady());
  EXPECT_FALSE(w->chat()->transcript()->toPlainText().contains(said));
  stages.clear();
  answered.clear();
  w->ask("And then?");
  ASSERT_TRUE(answered.wait(120000) || answered.count() > 0);
  EXPECT_FALSE(stages.contains("encode")) << stages.join(",").toStdString();
  EXPECT_EQ(answered.front().front().value<pipeline::AskResult>().tokens.frames_encoded, 0);

  next.merge_method = "tome";
  w->applySettings(next);
  EXPECT_TRUE(w->preparing());
  const QString transcript = w->chat()->transcript()->toPlainText();
  EXPECT_TRUE(transcript.contains(said)) << transcript.toStdString();
  EXPECT_TRUE(w->statusBar()->currentMessage().contains(said))
      << w->statusBar()->currentMessage().toStdString();
  // Said once, after the turns it closes; those stay on screen.
  EXPECT_EQ(transcript.count(said), 1);
  EXPECT_GT(transcript.indexOf(said), transcript.indexOf("And then?"));
  EXPECT_EQ(w->chat()->turnCount(), 2);
  answered.clear();
  stages.clear();
  w->ask("What now?");
  ASSERT_TRUE(answered.wait(120000) || answered.count() > 0)
      << w->lastError().toStdString() << "\n"
      << w->chat()->transcript()->toPlainText().toStdString();
  EXPECT_TRUE(stages.contains("merge")) << stages.join(",").toStdString();
  EXPECT_EQ(answered.front().front().value<pipeline::AskResult>().prepared.merge_method, "tome");
  EXPECT_TRUE(w->lastError().isEmpty()) << w->lastError().toStdString();
}

// Finds the link to `href` in the transcript and clicks it with the mouse.
bool click_link(QTextBrowser* browser, const QString& href) {
  QTextDocument* doc = browser->document();
  for (QTextBlock block = doc->begin(); block.isValid(); block = block.next()) {
    for (auto it = block.begin(); !it.atEnd(); ++it) {
      const QTextFragment f = it.fragment();
      if (!f.charFormat().isAnchor() || f.charFormat().anchorHref() != href) continue;
      QTextCursor cursor(doc);
      cursor.setPosition(f.position() + f.length() / 2);
      const QRect r = browser->cursorRect(cursor);
      QTest::mouseClick(browser->viewport(), Qt::LeftButton, {}, r.center());
      return true;
    }
  }
  return false;
}

TEST_F(UiTest, ClickingATimeInTheAnswerSeeksThePlayerToThatFrame) {
  auto w = window();
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  ASSERT_TRUE(settle(w->player()));
  w->cancelJob();  // this test feeds the answer itself; the model is not needed
  // An answer as the model would stream it; its moments come from the pipeline's parser.
  const std::string answer = "The square turns at 0:01 and again from 1.52s to 1.8s.";
  const auto moments = pipeline::moments_in(answer, 2.0);
  ASSERT_EQ(moments.size(), 2u);
  ui::ChatPanel* chat = w->chat();
  chat->beginAnswer("When does it turn?");
  chat->appendText(QByteArray::fromStdString(answer));
  chat->finishAnswer(answer, moments);
  EXPECT_EQ(chat->lastLinks(), (std::vector<double>{1.0, 1.52}));
  ASSERT_TRUE(click_link(chat->transcript(), "seek:1.520"));
  ASSERT_TRUE(QTest::qWaitFor([&] { return w->player()->targetPosition() == 1.52; }, 5000));
  ASSERT_TRUE(settle(w->player()));
  EXPECT_EQ(shown_code(*w->player()), 38u);  // 1.52 s * 25 fps
  EXPECT_NEAR(w->timeline()->position(), 1.52, 0.5 / 25);
  ASSERT_TRUE(click_link(chat->transcript(), "seek:1.000"));
  ASSERT_TRUE(QTest::qWaitFor([&] { return w->player()->targetPosition() == 1.0; }, 5000));
  ASSERT_TRUE(settle(w->player()));
  EXPECT_EQ(shown_code(*w->player()), 25u);
}

TEST_F(UiTest, TimelineHoverShowsThumbnailAndTimeAndClickSeeks) {
  auto w = window();
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  ui::TimelineStrip* timeline = w->timeline();
  ASSERT_TRUE(settle(w->player()));
  const int x = timeline->xOf(0.8);
  QTest::mouseMove(timeline, QPoint(x, timeline->height() / 2));
  ASSERT_TRUE(QTest::qWaitFor([&] { return timeline->hoverPopup()->isVisible(); }, 5000));
  EXPECT_TRUE(timeline->hoverText().startsWith("0:00.")) << timeline->hoverText().toStdString();
  EXPECT_NEAR(timeline->timeAt(x), 0.8, 2.0 / timeline->width() * 2);
  ASSERT_TRUE(QTest::qWaitFor([&] { return timeline->hoverHasThumbnail(); }, 20000));
  QTest::mouseClick(timeline, Qt::LeftButton, {}, QPoint(x, timeline->height() / 2));
  ASSERT_TRUE(settle(w->player()));
  EXPECT_NEAR(w->player()->position(), timeline->timeAt(x), 0.5 / 25 + 1e-9);
  EXPECT_EQ(shown_code(*w->player()), static_cast<uint32_t>(std::lround(timeline->timeAt(x) * 25)));
}

// An MPEG-TS file has no index: what reading all its packets finds is kept in the window's
// decode::MediaIndexCache and shared by the player (probe, every seek), the hover thumbnails
// and the pipeline's preparation, so the file is read in full once, not at every seek.
TEST_F(UiTest, SeeksThumbnailsAndPreparationOfATransportStreamReadItOnce) {
  test::VideoSpec spec;
  spec.name = "ui-ts";
  spec.container = "ts";
  spec.frames = 50;
  spec.fps = 25;
  spec.gop = 12;
  const fs::path video = test::make_video(spec);
  auto w = window();
  QSignalSpy finished(w.get(), &MainWindow::preparationFinished);
  ASSERT_TRUE(w->openVideo(QString::fromStdString(video.string())));
  ui::VideoPlayer* player = w->player();
  ASSERT_TRUE(settle(player));
  EXPECT_EQ(w->indexCache().reads(), 1) << "opening shows the first frame: one full read";
  const int64_t reuses = w->indexCache().reuses();
  player->seek(1.24);
  ASSERT_TRUE(settle(player));
  EXPECT_EQ(shown_code(*player), 31u);
  player->seek(0.52);
  ASSERT_TRUE(settle(player));
  EXPECT_EQ(shown_code(*player), 13u);
  EXPECT_EQ(w->indexCache().reads(), 1) << "a seek read the file again";
  EXPECT_GE(w->indexCache().reuses(), reuses + 2);

  ui::TimelineStrip* timeline = w->timeline();
  QTest::mouseMove(timeline, QPoint(timeline->xOf(1.6), timeline->height() / 2));
  ASSERT_TRUE(QTest::qWaitFor([&] { return timeline->hoverHasThumbnail(); }, 20000))
      << timeline->hoverError().toStdString();
  EXPECT_EQ(w->indexCache().reads(), 1) << "a thumbnail read the file again";

  ASSERT_TRUE(finished.wait(120000) || finished.count() > 0);
  EXPECT_TRUE(finished.front().front().toBool()) << w->lastError().toStdString();
  EXPECT_EQ(w->indexCache().reads(), 1) << "the preparation read the file again";
}

// The video is replaced by garbage after it was opened (a download that was overwritten, a
// disk that went bad): the timeline's hover thumbnail and the player's seek both say which file
// and which stage failed, like the CLI ("...: decode: ..."), instead of a popup that waits
// forever.
TEST_F(UiTest, ThumbnailAndSeekErrorsNameTheFileAndTheStage) {
  const fs::path video = dir_ / "damaged-later.mp4";
  fs::copy_file(short_video(), video);
  auto w = window();
  ASSERT_TRUE(w->openVideo(QString::fromStdString(video.string())));
  ASSERT_TRUE(settle(w->player()));
  w->cancelJob();
  ASSERT_TRUE(QTest::qWaitFor([&] { return !w->busy(); }, 60000));
  {
    std::ofstream out(video, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 4096; ++i)
      out.put(static_cast<char>((i * 7919) & 0xff));
  }
  ui::TimelineStrip* timeline = w->timeline();
  const QPoint at(timeline->xOf(1.3), timeline->height() / 2);
  QTest::mouseMove(timeline, at);
  ASSERT_TRUE(QTest::qWaitFor([&] { return timeline->hoverPopup()->isVisible(); }, 5000));
  ASSERT_TRUE(QTest::qWaitFor([&] { return !timeline->hoverError().isEmpty(); }, 20000));
  // The popup is about the file under the mouse: its line keeps the stage, not the long path.
  EXPECT_TRUE(timeline->hoverError().startsWith("decode: "))
      << timeline->hoverError().toStdString();
  EXPECT_FALSE(timeline->hoverError().contains("damaged-later.mp4"))
      << timeline->hoverError().toStdString();
  EXPECT_FALSE(timeline->hoverHasThumbnail());
  EXPECT_TRUE(timeline->hoverText().startsWith("0:01.")) << timeline->hoverText().toStdString();
  const QString status = w->statusBar()->currentMessage();
  EXPECT_TRUE(status.contains("damaged-later.mp4")) << status.toStdString();
  EXPECT_TRUE(status.contains("decode: ")) << status.toStdString();
  // Moving away and back shows the same reason at once (no second decode is needed).
  QTest::mouseMove(timeline, at + QPoint(1, 0));
  EXPECT_TRUE(timeline->hoverError().contains("decode: ")) << timeline->hoverError().toStdString();

  // A click seeks; the player cannot decode the frame and says so in the window.
  QTest::mouseClick(timeline, Qt::LeftButton, {}, at);
  ASSERT_TRUE(QTest::qWaitFor([&] { return w->errorBox() && w->errorBox()->isVisible(); }, 20000));
  EXPECT_TRUE(w->lastError().contains("damaged-later.mp4")) << w->lastError().toStdString();
  EXPECT_TRUE(w->lastError().contains("decode: ")) << w->lastError().toStdString();
  EXPECT_TRUE(w->errorBox()->informativeText().contains("damaged"))
      << w->errorBox()->informativeText().toStdString();
}

TEST_F(UiTest, CancelStopsPreparation) {
  pipeline::PipelineConfig config = tiny_config();
  config.select.max_frames = 128;
  config.encode.batch_frames = 1;
  auto w = window(config);
  QSignalSpy finished(w.get(), &MainWindow::preparationFinished);
  bool clicked = false;
  QObject::connect(w->worker(), &ui::PipelineWorker::progress, w.get(),
                   [&](int, const pipeline::JobProgress& p) {
                     if (p.stage == "encode" && p.done >= 1 && !clicked) {
                       clicked = true;
                       QTest::mouseClick(w->cancelButton(), Qt::LeftButton);
                     }
                   });
  ASSERT_TRUE(w->openVideo(QString::fromStdString(long_video().string())));
  ASSERT_TRUE(finished.wait(120000) || finished.count() > 0);
  EXPECT_TRUE(clicked);
  EXPECT_FALSE(finished.front().front().toBool());
  EXPECT_FALSE(w->preparing());
  EXPECT_FALSE(w->chatReady());
  ASSERT_TRUE(QTest::qWaitFor([&] { return !w->busy(); }, 10000));
  EXPECT_TRUE(w->lastError().isEmpty()) << w->lastError().toStdString();  // not an error
  // The player stays usable after a cancel.
  w->player()->seek(60.0);
  ASSERT_TRUE(settle(w->player()));
  EXPECT_EQ(shown_code(*w->player()), 1200u);
}

// A keyboard user: Escape in the question box stops the preparation like the Cancel button.
TEST_F(UiTest, EscapeInTheQuestionBoxCancelsPreparation) {
  pipeline::PipelineConfig config = tiny_config();
  config.select.max_frames = 128;
  config.encode.batch_frames = 1;
  auto w = window(config);
  QSignalSpy finished(w.get(), &MainWindow::preparationFinished);
  bool pressed = false;
  QObject::connect(w->worker(), &ui::PipelineWorker::progress, w.get(),
                   [&](int, const pipeline::JobProgress& p) {
                     if (p.stage == "encode" && p.done >= 1 && !pressed) {
                       pressed = true;
                       QTest::keyClick(w->chat()->input(), Qt::Key_Escape);
                     }
                   });
  ASSERT_TRUE(w->openVideo(QString::fromStdString(long_video().string())));
  w->chat()->input()->setFocus();
  ASSERT_TRUE(finished.wait(120000) || finished.count() > 0);
  EXPECT_TRUE(pressed);
  EXPECT_FALSE(finished.front().front().toBool());  // cancelled, not finished
  EXPECT_FALSE(w->chatReady());
  EXPECT_TRUE(w->lastError().isEmpty()) << w->lastError().toStdString();
  ASSERT_TRUE(QTest::qWaitFor([&] { return !w->busy(); }, 10000));
  // Escape with nothing running does nothing (and does not fail).
  QTest::keyClick(w->chat()->input(), Qt::Key_Escape);
  EXPECT_TRUE(w->player()->hasVideo());
}

// Enter while an answer is still streaming (the Ask button disabled): the question stays in
// the box, is not sent, and the status bar says why and what to do.
TEST_F(UiTest, EnterWhileAnsweringKeepsTheQuestionAndSaysWhy) {
  auto w = window();
  QSignalSpy asked(w->chat(), &ui::ChatPanel::questionAsked);
  w->chat()->setInputEnabled(false);  // as MainWindow::ask leaves it until the answer ends
  w->chat()->input()->setFocus();
  QTest::keyClicks(w->chat()->input(), "and then?");
  QTest::keyClick(w->chat()->input(), Qt::Key_Return);
  EXPECT_EQ(asked.count(), 0);
  EXPECT_EQ(w->chat()->input()->text(), "and then?");
  EXPECT_TRUE(w->statusBar()->currentMessage().contains("Still answering"))
      << w->statusBar()->currentMessage().toStdString();
  w->chat()->setInputEnabled(true);
  QTest::keyClick(w->chat()->input(), Qt::Key_Return);
  EXPECT_EQ(asked.count(), 1);
  EXPECT_TRUE(w->chat()->input()->text().isEmpty());
}

// A recent file that was deleted since: the error names it and says so, and the entry leaves
// File > Open Recent (and the saved settings) instead of failing at every click.
TEST_F(UiTest, ARecentFileDeletedSinceIsExplainedAndLeavesTheMenu) {
  const fs::path video = dir_ / "gone-later.mp4";
  fs::copy_file(short_video(), video);
  const QString path = QFileInfo(QString::fromStdString(video.string())).absoluteFilePath();
  {
    auto w = window();
    ASSERT_TRUE(w->openVideo(path));
    w->cancelJob();
    ASSERT_TRUE(QTest::qWaitFor([&] { return !w->busy(); }, 60000));
  }
  fs::remove(video);
  auto w = window();
  QAction* recent = nullptr;
  for (QAction* a : w->recentMenu()->actions())
    if (a->data().toString() == path) recent = a;
  ASSERT_NE(recent, nullptr);
  recent->trigger();
  EXPECT_FALSE(w->player()->hasVideo());
  EXPECT_TRUE(w->lastError().contains("gone-later.mp4")) << w->lastError().toStdString();
  ASSERT_NE(w->errorBox(), nullptr);
  EXPECT_TRUE(w->errorBox()->isVisible());
  const QString hint = w->errorBox()->informativeText();
  EXPECT_TRUE(hint.contains("moved, renamed or deleted")) << hint.toStdString();
  EXPECT_TRUE(hint.contains("Open Recent")) << hint.toStdString();
  for (QAction* a : w->recentMenu()->actions())
    EXPECT_NE(a->data().toString(), path);
  EXPECT_FALSE(w->settings().recent_files.contains(path));
  QSettings reread(settings_->fileName(), QSettings::IniFormat);
  EXPECT_FALSE(ui::load_settings(reread).recent_files.contains(path));
}

// The pipeline's warnings reach the window: a video cut short (the header promises 6 s, the
// data ends near 3 s) is prepared from what is there, and the chat and the status bar say so.
TEST_F(UiTest, AVideoCutShortIsPreparedAndTheWindowSaysSo) {
  const std::string bytes = e2e::read_file(
      e2e::e2e_video("ui-cut-faststart", 60, 10, 96, 72, {"-movflags", "+faststart"}));
  const fs::path cut = dir_ / "cut.mp4";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto w = window();
  QSignalSpy finished(w.get(), &MainWindow::preparationFinished);
  ASSERT_TRUE(w->openVideo(QString::fromStdString(cut.string())));
  ASSERT_TRUE(finished.wait(120000) || finished.count() > 0);
  EXPECT_TRUE(finished.front().front().toBool()) << w->lastError().toStdString();
  const QStringList warnings = w->chat()->warnings();
  ASSERT_FALSE(warnings.isEmpty());
  const QString warning = warnings.front();
  EXPECT_TRUE(warning.startsWith("probe: ")) << warning.toStdString();
  EXPECT_TRUE(warning.contains("cut.mp4")) << warning.toStdString();
  EXPECT_TRUE(warning.contains("cut short")) << warning.toStdString();
  // The damaged tail is summed up once; FFmpeg's line per damaged packet is not listed.
  for (const QString& w : warnings)
    EXPECT_FALSE(w.contains("FFmpeg:")) << w.toStdString();
  EXPECT_TRUE(w->chat()->transcript()->toPlainText().contains("cut short"));
  EXPECT_EQ(w->statusBar()->currentMessage(), warnings.back());  // the latest one
  // Another video starts with a clean slate.
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  EXPECT_TRUE(w->chat()->warnings().isEmpty());
  w->cancelJob();
}

// A token cache on a disk that is full costs speed, never the answer: the video is prepared and
// the window says the cache could not be written and why (a real small tmpfs, filled up).
TEST_F(UiTest, ATokenCacheOnAFullDiskIsReportedAndThePreparationGoesOn) {
  std::string why;
  const auto disk = e2e::small_disk("ui-full-cache", 1 << 20, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  pipeline::PipelineConfig config = tiny_config();
  config.cache.enabled = true;
  config.cache.dir = disk->outside("cache").string();
  disk->fill(0);
  auto w = window(config);
  QSignalSpy finished(w.get(), &MainWindow::preparationFinished);
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  ASSERT_TRUE(finished.wait(120000) || finished.count() > 0);
  EXPECT_TRUE(finished.front().front().toBool()) << w->lastError().toStdString();
  EXPECT_TRUE(w->lastError().isEmpty()) << w->lastError().toStdString();
  ASSERT_FALSE(w->chat()->warnings().isEmpty());
  const QString warning = w->chat()->warnings().join("\n");
  EXPECT_TRUE(warning.contains("cannot store encoded tokens")) << warning.toStdString();
  EXPECT_TRUE(warning.contains("no space left", Qt::CaseInsensitive)) << warning.toStdString();
  // In the window's words: what to do here, not the CLI's --verbose.
  EXPECT_FALSE(warning.contains("--")) << warning.toStdString();
  EXPECT_TRUE(warning.contains("Free space on that disk")) << warning.toStdString();
  EXPECT_TRUE(warning.contains("\"max_gb\"")) << warning.toStdString();
  EXPECT_TRUE(w->statusBar()->currentMessage().contains("Free space on that disk"));
}

// The pipeline's texts name CLI flags (--relevance-model, --model, --help ...); the window says
// where the same choice is made in it instead, and the CLI keeps its wording. Through the real
// window for a warning (F2C without a relevance model) and the model dialog, and through
// pipeline::describe_error for the hints the pipeline gives each kind of failure.
TEST_F(UiTest, PipelineTextsInTheWindowNameSettingsNotCommandLineFlags) {
  pipeline::PipelineConfig config = tiny_config();
  config.generate.max_new_tokens = 1 << 20;  // leaves the video no room in the context
  auto w = window(config);
  QSignalSpy finished(w.get(), &MainWindow::preparationFinished);
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  ASSERT_TRUE(finished.wait(120000) || finished.count() > 0);
  EXPECT_FALSE(finished.front().front().toBool());
  const QString said = w->errorBox()->text() + "\n" + w->errorBox()->informativeText();
  EXPECT_TRUE(said.contains("answer reserve is too large")) << said.toStdString();
  EXPECT_TRUE(said.contains("\"max_new_tokens\"")) << said.toStdString();
  EXPECT_FALSE(said.contains("--")) << said.toStdString();
  EXPECT_FALSE(w->lastError().contains("--")) << w->lastError().toStdString();

  const std::vector<std::pair<ErrorKind, std::string>> failures = {
      {ErrorKind::kNotFound, "load model"},
      {ErrorKind::kInvalidInput, "load model"},
      {ErrorKind::kInvalidInput, "encode"},
      {ErrorKind::kInvalidArgument, "generate"},
  };
  for (const auto& [kind, stage] : failures) {
    const pipeline::UserError cli = pipeline::describe_error(
        std::make_exception_ptr(pipeline::StageError(kind, stage, "clip.mp4", "something failed")));
    EXPECT_NE(cli.hint.find("--"), std::string::npos) << "the CLI keeps its flags: " << cli.hint;
    const QString gui = ui::gui_wording(QString::fromStdString(cli.hint));
    EXPECT_FALSE(gui.contains("--")) << stage << ": " << gui.toStdString();
    EXPECT_TRUE(gui.contains("File ▸ Settings")) << stage << ": " << gui.toStdString();
  }
}

// gui_wording() finds the pipeline's CLI phrases by their exact text. Each must still stand in
// the sources that write it (adjacent string literals joined, \" read as "): a reworded message
// would otherwise reach the window with its command-line flags again, unnoticed.
TEST(GuiWording, EveryCliPhraseIsStillWrittenByThePipeline) {
  std::string sources;
  for (const char* folder : {"pipeline", "compress", "models"}) {
    for (const auto& entry :
         fs::recursive_directory_iterator(fs::path(CLIPMIND_SOURCE_DIR) / folder)) {
      if (entry.path().extension() != ".cpp") continue;
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      sources += text.str();
    }
  }
  ASSERT_GT(sources.size(), 100000u) << "the sources were not found under " << CLIPMIND_SOURCE_DIR;
  sources = std::regex_replace(sources, std::regex(R"("\s+")"), "");
  for (size_t at = 0; (at = sources.find("\\\"", at)) != std::string::npos;)
    sources.erase(at, 1);
  const QStringList phrases = ui::gui_wording_cli_phrases();
  ASSERT_GE(phrases.size(), 10);
  for (const QString& phrase : phrases) {
    EXPECT_NE(sources.find(phrase.toStdString()), std::string::npos)
        << "no longer in pipeline/, compress/ or models/: " << phrase.toStdString();
  }
}

// Every control a screen reader reaches has a name: buttons that show only an icon, sliders,
// the question box, the transcript, the timeline and the picture itself. Read through Qt's
// accessibility interface, as assistive technology reads it.
TEST_F(UiTest, EveryControlHasAnAccessibleName) {
  auto w = window();
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  w->cancelJob();
  const std::set<QAccessible::Role> controls = {
      QAccessible::Button,       QAccessible::PushButton,  QAccessible::Slider,
      QAccessible::EditableText, QAccessible::ProgressBar, QAccessible::List,
      QAccessible::ComboBox,     QAccessible::SpinBox,     QAccessible::CheckBox,
      QAccessible::RadioButton,  QAccessible::Graphic,     QAccessible::Chart,
      QAccessible::Canvas,       QAccessible::Animation,   QAccessible::StaticText};
  QStringList unnamed;
  auto check = [&](QWidget* root) {
    for (QWidget* c : root->findChildren<QWidget*>()) {
      if (!c->isVisibleTo(root) || c->isWindow()) continue;
      QAccessibleInterface* a = QAccessible::queryAccessibleInterface(c);
      if (!a) continue;
      const bool control = controls.count(a->role()) > 0 || c->focusPolicy() != Qt::NoFocus ||
                           c == w->player()->view() || c == w->timeline();
      if (!control) continue;
      if (a->text(QAccessible::Name).trimmed().isEmpty())
        unnamed << QString("%1 (%2, role %3)")
                       .arg(c->objectName(), c->metaObject()->className())
                       .arg(static_cast<int>(a->role()));
    }
  };
  check(w.get());
  w->tabs()->setCurrentWidget(w->search());
  check(w->search());
  ui::SettingsDialog dialog(w->settings(), w.get());
  dialog.show();
  check(&dialog);
  EXPECT_TRUE(unnamed.isEmpty()) << unnamed.join("\n").toStdString();
  // The play button says what it will do.
  QAccessibleInterface* play = nullptr;
  for (QPushButton* b : w->player()->findChildren<QPushButton*>()) {
    QAccessibleInterface* a = QAccessible::queryAccessibleInterface(b);
    if (a && a->text(QAccessible::Name) == "Play") play = a;
  }
  ASSERT_NE(play, nullptr);
  ASSERT_TRUE(settle(w->player()));
  w->player()->play();
  ASSERT_TRUE(w->player()->isPlaying());
  EXPECT_EQ(play->text(QAccessible::Name).toStdString(), "Pause");
  w->player()->pause();
  EXPECT_EQ(play->text(QAccessible::Name).toStdString(), "Play");
  // What the picture area paints instead of a frame (a file that cannot be played) is read out.
  const fs::path bad = dir_ / "not-a-video.mp4";
  std::ofstream(bad, std::ios::binary) << std::string(2048, 'x');
  EXPECT_FALSE(w->openVideo(QString::fromStdString(bad.string())));
  const QString said =
      QAccessible::queryAccessibleInterface(w->player()->view())->text(QAccessible::Description);
  EXPECT_TRUE(said.contains("not-a-video.mp4")) << said.toStdString();
}

// Quitting (the window closed, then destroyed as at the end of main) while the video is being
// encoded: no crash, the job stops, the token cache holds no half-written entry, and a new
// window prepares the same video from that cache without a warning about a damaged entry.
TEST_F(UiTest, QuittingWhilePreparingLeavesNoHalfWrittenCache) {
  pipeline::PipelineConfig config = tiny_config();
  config.select.max_frames = 128;
  config.encode.batch_frames = 1;
  config.cache.enabled = true;
  config.cache.dir = (dir_ / "cache").string();
  const QString video = QString::fromStdString(long_video().string());
  auto w = window(config);
  bool closed = false;
  QObject::connect(w->worker(), &ui::PipelineWorker::progress, w.get(),
                   [&](int, const pipeline::JobProgress& p) {
                     if (p.stage == "encode" && p.done >= 3 && !closed) {
                       closed = true;
                       w->close();
                     }
                   });
  ASSERT_TRUE(w->openVideo(video));
  ASSERT_TRUE(QTest::qWaitFor([&] { return closed; }, 120000));
  w.reset();  // joins the worker: returns once the job has stopped
  const std::vector<std::string> cached = e2e::files_under(dir_ / "cache");
  EXPECT_FALSE(cached.empty()) << "the frames encoded before quitting were kept";
  for (const std::string& f : cached) {
    EXPECT_EQ(f.find(".part-"), std::string::npos) << f << " was left half-written";
    EXPECT_EQ(f.find(".tmp"), std::string::npos) << f << " was left half-written";
  }
  config.select.max_frames = 8;
  auto again = window(config);
  QSignalSpy finished(again.get(), &MainWindow::preparationFinished);
  ASSERT_TRUE(again->openVideo(video));
  ASSERT_TRUE(finished.wait(120000) || finished.count() > 0);
  EXPECT_TRUE(finished.front().front().toBool()) << again->lastError().toStdString();
  EXPECT_TRUE(again->chat()->warnings().isEmpty())
      << again->chat()->warnings().join("\n").toStdString();
}

// Quitting while the model loads: the load is cancelled (the loader checks between tensors),
// the window closes and is destroyed without a crash, and the pipeline thread is gone (its
// kernel task, read from /proc, not left running detached).
TEST_F(UiTest, QuittingWhileTheModelLoadsLeavesNoThreadBehind) {
  auto w = window();
  std::atomic<long> worker_task{0};
  QObject::connect(
      w->worker(), &ui::PipelineWorker::jobStarted, w->worker(),
      [&](int, ui::JobKind) { worker_task = ::syscall(SYS_gettid); }, Qt::DirectConnection);
  bool closed = false;
  QObject::connect(w->worker(), &ui::PipelineWorker::progress, w.get(),
                   [&](int, const pipeline::JobProgress& p) {
                     if (p.stage == "load model" && !closed) {
                       closed = true;
                       w->close();
                     }
                   });
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  ASSERT_TRUE(QTest::qWaitFor([&] { return closed; }, 60000));
  EXPECT_FALSE(w->isVisible());
  ASSERT_NE(worker_task.load(), 0);
  const fs::path task = fs::path("/proc/self/task") / std::to_string(worker_task.load());
  EXPECT_TRUE(fs::exists(task)) << "the pipeline thread runs until the window is destroyed";
  w.reset();
  // QThread::wait() returns once the thread's run() has finished, a moment before the kernel
  // drops the task: poll briefly. A thread left running would still be there after seconds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fs::exists(task) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(fs::exists(task)) << "the pipeline thread was left running";
}

// A second video opened while the first is still being prepared replaces it: the first job's
// events never reach the window, the second is prepared and answers about itself.
TEST_F(UiTest, OpeningAnotherVideoWhileOneIsPreparedPreparesTheNewOne) {
  pipeline::PipelineConfig config = tiny_config();
  config.select.max_frames = 128;
  config.encode.batch_frames = 1;
  auto w = window(config);
  QSignalSpy finished(w.get(), &MainWindow::preparationFinished);
  QSignalSpy answered(w.get(), &MainWindow::answerFinished);
  bool switched = false;
  const QString second = QString::fromStdString(short_video().string());
  QObject::connect(w->worker(), &ui::PipelineWorker::progress, w.get(),
                   [&](int, const pipeline::JobProgress& p) {
                     if (p.stage == "encode" && p.done >= 2 && !switched) {
                       switched = true;
                       w->ask("What happens in the long one?");  // waits for the first video
                       ASSERT_TRUE(w->openVideo(second));
                       w->ask("What happens?");
                     }
                   });
  ASSERT_TRUE(w->openVideo(QString::fromStdString(long_video().string())));
  ASSERT_TRUE(answered.wait(180000) || answered.count() > 0);
  EXPECT_TRUE(switched);
  EXPECT_EQ(answered.count(), 1);
  ASSERT_GE(finished.count(), 1);
  EXPECT_TRUE(finished.back().front().toBool());
  for (const auto& call : finished)
    EXPECT_TRUE(call.front().toBool()) << "the replaced preparation reached the window";
  const auto result = answered.front().front().value<pipeline::AskResult>();
  EXPECT_NEAR(result.prepared.video.duration_s, 2.0, 0.1);
  EXPECT_EQ(w->player()->path(), second);
  EXPECT_EQ(w->chat()->turnCount(), 1);
  EXPECT_TRUE(w->chat()->lastAnswerDone());
  EXPECT_TRUE(w->lastError().isEmpty()) << w->lastError().toStdString();
  for (const auto& s : w->timeline()->segments())
    EXPECT_LE(s.end, 2.0 + 1e-6);
}

// A long conversation with a long streaming answer: the earlier turns are not laid out again
// for every chunk (the transcript used to be rebuilt whole per chunk, freezing the window more
// with every turn), a selection made in an earlier answer survives the streaming, and the
// finished transcript holds every turn in order.
TEST_F(UiTest, StreamingALongAnswerLeavesEarlierTurnsAndTheirSelectionAlone) {
  ui::ChatPanel chat;
  chat.resize(500, 600);
  chat.show();
  const QByteArray chunk = "the square moves on and on, ";
  for (int turn = 0; turn < 3; ++turn) {
    chat.beginAnswer(QString("question %1").arg(turn));
    for (int i = 0; i < 40; ++i)
      chat.appendText(chunk);
    chat.finishAnswer(chat.lastAnswer().toStdString(), {});
  }
  QTextDocument* doc = chat.transcript()->document();
  const QString before = doc->toPlainText();
  const int first_answer = static_cast<int>(before.indexOf("the square"));
  ASSERT_GE(first_answer, 0);
  QTextCursor selection(doc);
  selection.setPosition(first_answer);
  selection.setPosition(first_answer + 10, QTextCursor::KeepAnchor);
  chat.transcript()->setTextCursor(selection);
  ASSERT_EQ(chat.transcript()->textCursor().selectedText().toStdString(), "the square");

  chat.beginAnswer("question 3");
  const int stream_start = static_cast<int>(doc->toPlainText().lastIndexOf("You:"));
  ASSERT_GT(stream_start, first_answer);
  int earliest_change = std::numeric_limits<int>::max();
  int changes = 0;
  QObject::connect(doc, &QTextDocument::contentsChange, &chat, [&](int position, int, int) {
    earliest_change = std::min(earliest_change, position);
    ++changes;
  });
  for (int i = 0; i < 400; ++i) {
    chat.appendText(chunk);
    if (i % 50 == 0) QTest::qWait(60);  // let the coalesced updates run now and then
  }
  ASSERT_TRUE(QTest::qWaitFor([&] { return doc->toPlainText().count("the square") >= 520; }, 5000));
  EXPECT_GE(earliest_change, stream_start) << "an earlier turn was rewritten while streaming";
  EXPECT_LT(changes, 400) << "one update per chunk: updates are not coalesced";
  EXPECT_EQ(chat.transcript()->textCursor().selectedText().toStdString(), "the square");
  chat.finishAnswer(chat.lastAnswer().toStdString(), {});
  EXPECT_GE(earliest_change, stream_start) << "finishing rewrote an earlier turn";
  EXPECT_EQ(chat.transcript()->textCursor().selectedText().toStdString(), "the square");
  const QString after = doc->toPlainText();
  EXPECT_EQ(after.count("the square"), 520);
  EXPECT_LT(after.indexOf("question 0"), after.indexOf("question 1"));
  EXPECT_LT(after.indexOf("question 2"), after.indexOf("question 3"));
}

// A keyboard-only user: a focused button is pressed with Space (the video does not start), the
// search results are walked with the arrows (the volume does not change), the tabs are switched
// with Left/Right; with the focus in the transcript (after clicking a time) Space still plays.
// The window fits the screen it opens on.
TEST_F(UiTest, FocusedControlsKeepTheirKeysAndTheWindowFitsTheScreen) {
  auto w = window();
  const QRect screen = w->screen()->availableGeometry();
  EXPECT_LE(w->frameGeometry().width(), screen.width());
  EXPECT_LE(w->frameGeometry().height(), screen.height());
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  ASSERT_TRUE(settle(w->player()));
  w->cancelJob();
  ASSERT_TRUE(QTest::qWaitFor([&] { return !w->busy(); }, 60000));
  w->activateWindow();

  int clicks = 0;
  QObject::connect(w->chat()->askButton(), &QPushButton::clicked, w.get(), [&] { ++clicks; });
  w->chat()->askButton()->setFocus();
  QTest::keyClick(w->chat()->askButton(), Qt::Key_Space);
  EXPECT_EQ(clicks, 1);
  EXPECT_FALSE(w->player()->isPlaying());

  w->tabs()->setCurrentWidget(w->search());
  QListWidget* list = w->search()->results();
  for (const char* text : {"first", "second", "third"})
    list->addItem(text);
  list->setCurrentRow(0);
  list->setFocus();
  const int volume = w->player()->volume();
  QTest::keyClick(list, Qt::Key_Down);
  EXPECT_EQ(list->currentRow(), 1);
  EXPECT_EQ(w->player()->volume(), volume);
  w->tabs()->tabBar()->setFocus();
  QTest::keyClick(w->tabs()->tabBar(), Qt::Key_Left);
  EXPECT_EQ(w->tabs()->currentWidget(), w->chat());
  EXPECT_FALSE(w->player()->isPlaying());

  w->chat()->transcript()->setFocus();
  QTest::keyClick(w->chat()->transcript(), Qt::Key_Space);
  EXPECT_TRUE(w->player()->isPlaying());
  w->player()->pause();
}

// Tab reaches the question, Ask, the transcript, the player's controls and the timeline in
// that order; the focused timeline seeks with Left / Right (5 s) and Home / End, leaving Up /
// Down to the volume; the focused position slider seeks with the arrows.
TEST_F(UiTest, TabReachesThePlayerAndTheTimelineWhichSeeksFromTheKeyboard) {
  auto w = window();
  ASSERT_TRUE(w->openVideo(QString::fromStdString(long_video().string())));  // 120 s, 20 fps
  w->cancelJob();
  ASSERT_TRUE(QTest::qWaitFor([&] { return !w->busy(); }, 60000));
  ui::VideoPlayer* player = w->player();
  ASSERT_TRUE(settle(player));
  w->activateWindow();
  ASSERT_TRUE(QTest::qWaitForWindowActive(w.get()));

  QList<QWidget*> expected = {w->chat()->input(), w->chat()->askButton(), w->chat()->transcript()};
  for (QWidget* c : player->keyboardControls())
    if (c->isEnabled()) expected << c;
  expected << w->timeline();
  w->chat()->input()->setFocus();
  QList<QWidget*> reached = {QApplication::focusWidget()};
  for (int i = 1; i < expected.size(); ++i) {
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_Tab);
    reached << QApplication::focusWidget();
  }
  for (int i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(reached[i], expected[i])
        << "Tab " << i << " reached "
        << (reached[i] ? reached[i]->metaObject()->className() : "none") << " \""
        << (reached[i] ? reached[i]->accessibleName().toStdString() : "") << "\"";
  }
  ASSERT_EQ(QApplication::focusWidget(), w->timeline());

  auto press = [&](QWidget* target, Qt::Key key) {
    QTest::keyClick(target, key);
    return settle(player) ? shown_code(*player) : std::nullopt;
  };
  EXPECT_EQ(press(w->timeline(), Qt::Key_Right), 100u);  // 5 s
  EXPECT_EQ(press(w->timeline(), Qt::Key_Right), 200u);
  EXPECT_EQ(press(w->timeline(), Qt::Key_Left), 100u);
  EXPECT_EQ(press(w->timeline(), Qt::Key_End), 2399u);
  EXPECT_EQ(press(w->timeline(), Qt::Key_Home), 0u);
  EXPECT_NEAR(w->timeline()->position(), 0.0, 1e-9);
  const int volume = player->volume();
  EXPECT_EQ(press(w->timeline(), Qt::Key_Down), 0u) << "Down is the volume's, not a seek";
  EXPECT_EQ(player->volume(), volume - 5);
  EXPECT_FALSE(player->isPlaying());

  QWidget* position = player->keyboardControls()[3];
  position->setFocus();
  EXPECT_EQ(press(position, Qt::Key_Right), 100u);
  EXPECT_EQ(press(position, Qt::Key_End), 2399u);
  EXPECT_EQ(player->volume(), volume - 5);
}

TEST_F(UiTest, DamagedVideoShowsAReadableError) {
  auto w = window();
  const fs::path bad = dir_ / "damaged.mp4";
  {
    std::ofstream out(bad, std::ios::binary);
    for (int i = 0; i < 4096; ++i)
      out.put(static_cast<char>((i * 7919) & 0xff));
  }
  EXPECT_FALSE(w->openVideo(QString::fromStdString(bad.string())));
  EXPECT_TRUE(w->lastError().contains("damaged.mp4")) << w->lastError().toStdString();
  EXPECT_TRUE(w->lastError().contains("probe: ")) << w->lastError().toStdString();
  ASSERT_NE(w->errorBox(), nullptr);
  EXPECT_TRUE(w->errorBox()->isVisible());
  EXPECT_FALSE(w->errorBox()->informativeText().isEmpty());
  EXPECT_FALSE(w->player()->hasVideo());
  EXPECT_FALSE(w->busy());
  // A missing file too.
  EXPECT_FALSE(w->openVideo(QString::fromStdString((dir_ / "nope.mp4").string())));
  EXPECT_TRUE(w->lastError().contains("nope.mp4")) << w->lastError().toStdString();
  // And the window still opens a good video afterwards.
  EXPECT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
}

TEST_F(UiTest, MissingModelExplainsWhatToDo) {
  pipeline::PipelineConfig config = tiny_config();
  config.model = (dir_ / "no-such-model").string();
  auto w = window(config);
  QSignalSpy finished(w.get(), &MainWindow::preparationFinished);
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  ASSERT_TRUE(finished.wait(60000) || finished.count() > 0);
  EXPECT_FALSE(finished.front().front().toBool());
  EXPECT_TRUE(w->lastErrorWasModelMissing()) << w->lastError().toStdString();
  ASSERT_NE(w->errorBox(), nullptr);
  EXPECT_TRUE(w->errorBox()->isVisible());
  const QString said = w->errorBox()->informativeText();
  EXPECT_TRUE(said.contains("File ▸ Settings ▸ Model")) << said.toStdString();
  for (const char* flag : {"--model", "--offline"})
    EXPECT_FALSE(said.contains(flag)) << said.toStdString();
  bool has_settings_button = false;
  for (QAbstractButton* b : w->errorBox()->buttons())
    has_settings_button |= b->text().contains("Settings");
  EXPECT_TRUE(has_settings_button);
}

// What a first-time user does: open a video and type a question at once (the window invites
// it), with no model set up. The model dialog with its "Open Settings…" button must stay; the
// question that waited says it was not answered and why, instead of replacing that dialog with
// "no video is ready for questions".
TEST_F(UiTest, QuestionAskedWhilePreparingKeepsTheModelDialogWhenPreparationFails) {
  pipeline::PipelineConfig config = tiny_config();
  config.model = (dir_ / "no-such-model").string();
  auto w = window(config);
  QSignalSpy finished(w.get(), &MainWindow::preparationFinished);
  ASSERT_TRUE(w->openVideo(QString::fromStdString(short_video().string())));
  QTest::keyClicks(w->chat()->input(), "What happens?");
  QTest::keyClick(w->chat()->input(), Qt::Key_Return);
  ASSERT_EQ(w->chat()->turnCount(), 1);
  ASSERT_TRUE(finished.wait(60000) || finished.count() > 0);
  EXPECT_FALSE(finished.front().front().toBool());
  ASSERT_TRUE(QTest::qWaitFor([&] { return !w->busy(); }, 60000));
  QTest::qWait(50);  // the queued question's failure is delivered by now
  EXPECT_TRUE(w->lastErrorWasModelMissing()) << w->lastError().toStdString();
  ASSERT_NE(w->errorBox(), nullptr);
  EXPECT_TRUE(w->errorBox()->isVisible());
  bool has_settings_button = false;
  for (QAbstractButton* b : w->errorBox()->buttons())
    has_settings_button |= b->text().contains("Settings");
  EXPECT_TRUE(has_settings_button);
  EXPECT_FALSE(w->errorBox()->text().contains("no video is ready"))
      << w->errorBox()->text().toStdString();
  // The question's turn is closed with the reason, and the box accepts the next question.
  EXPECT_TRUE(w->chat()->lastAnswerDone());
  const QString transcript = w->chat()->transcript()->toPlainText();
  EXPECT_TRUE(transcript.contains("Not answered: the video could not be prepared"))
      << transcript.toStdString();
  EXPECT_TRUE(w->chat()->askButton()->isEnabled());
}

TEST_F(UiTest, SettingsPersistAndDriveTheJobConfiguration) {
  {
    auto w = window();
    ui::SettingsDialog dialog(w->settings(), w.get());
    dialog.modelEdit()->setText("/models/llava-ov");
    dialog.budgetModeBox()->setCurrentIndex(dialog.budgetModeBox()->findData("tokens"));
    dialog.budgetTokensBox()->setValue(1234);
    dialog.mergeBox()->setCurrentText("tome");
    dialog.selectBox()->setCurrentText("anylength");
    dialog.indexDbEdit()->setText("/tmp/archive.db");
    w->applySettings(dialog.settings());
  }
  QSettings reread(settings_->fileName(), QSettings::IniFormat);
  const ui::GuiSettings s = ui::load_settings(reread);
  EXPECT_EQ(s.model, "/models/llava-ov");
  EXPECT_EQ(s.budget_mode, "tokens");
  EXPECT_EQ(s.budget_tokens, 1234);
  EXPECT_EQ(s.merge_method, "tome");
  EXPECT_EQ(s.select_method, "anylength");
  EXPECT_EQ(s.index_db, "/tmp/archive.db");
  auto w = window();  // a new window reads them back
  const pipeline::PipelineConfig c = w->jobConfig();
  EXPECT_EQ(c.model, "/models/llava-ov");
  ASSERT_TRUE(c.budget.tokens.has_value());
  EXPECT_EQ(*c.budget.tokens, 1234);
  EXPECT_FALSE(c.budget.ratio.has_value());
  EXPECT_EQ(c.merge.method, "tome");
  EXPECT_EQ(c.select.method, "anylength");
  EXPECT_EQ(w->search()->database(), "/tmp/archive.db");
  // A ratio replaces the token budget; an invalid one is refused with the key named.
  ui::GuiSettings next = w->settings();
  next.budget_mode = "ratio";
  next.budget_ratio = 0.25;
  EXPECT_EQ(ui::apply_settings(tiny_config(), next).budget.ratio, 0.25);
  next.merge_method = "bogus";
  EXPECT_THROW(ui::apply_settings(tiny_config(), next), Error);
}

// The settings file on a real disk that fills up (a small tmpfs in a user namespace,
// tests/support/small_disk.h), reached through the disk holder's /proc root.
TEST_F(UiTest, SettingsOnAFullDiskAreReportedAndTheSavedFileStaysWhole) {
  std::string why;
  const auto disk = e2e::small_disk("ui-full-settings", 256 << 10, why);
  if (!disk) GTEST_SKIP() << "no small tmpfs in a user namespace here: " << why;
  const fs::path ini = disk->outside("gui.ini");
  settings_ =
      std::make_unique<QSettings>(QString::fromStdString(ini.string()), QSettings::IniFormat);
  auto w = window();
  ui::GuiSettings next = w->settings();
  next.model = "/models/first";
  w->applySettings(next);
  ASSERT_EQ(w->settingsError(), "");
  const std::string saved = e2e::read_file(ini);
  ASSERT_NE(saved.find("/models/first"), std::string::npos) << saved;

  disk->fill(0);
  next.model = "/models/second";
  w->applySettings(next);
  const QString error = w->settingsError();
  EXPECT_TRUE(error.startsWith(QString::fromStdString(ini.string()) + ": ")) << error.toStdString();
  EXPECT_TRUE(error.contains("no space left")) << error.toStdString();
  EXPECT_EQ(w->statusBar()->currentMessage(), error);
  // The file saved before is whole, and nothing else was left on the disk.
  EXPECT_EQ(e2e::read_file(ini), saved);
  EXPECT_EQ(e2e::files_under(disk->outside()), std::vector<std::string>{"gui.ini"});

  disk->unfill();
  w->applySettings(next);
  EXPECT_EQ(w->settingsError(), "");
  QSettings reread(settings_->fileName(), QSettings::IniFormat);
  EXPECT_EQ(ui::load_settings(reread).model, "/models/second");
}

TEST_F(UiTest, DropAndRecentFilesOpenVideos) {
  auto w = window();
  const QString video = QString::fromStdString(short_video().string());
  QMimeData mime;
  mime.setUrls({QUrl::fromLocalFile(video)});
  QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, {});
  QApplication::sendEvent(w.get(), &enter);
  EXPECT_TRUE(enter.isAccepted());
  QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, {});
  QApplication::sendEvent(w.get(), &drop);
  EXPECT_EQ(w->player()->path(), video);
  w->cancelJob();
  ASSERT_FALSE(w->settings().recent_files.isEmpty());
  EXPECT_EQ(w->settings().recent_files.front(), QFileInfo(video).absoluteFilePath());
  // A second window offers it under File > Open Recent.
  w.reset();
  auto w2 = window();
  QAction* recent = nullptr;
  for (QAction* a : w2->recentMenu()->actions())
    if (a->data().toString() == QFileInfo(video).absoluteFilePath()) recent = a;
  ASSERT_NE(recent, nullptr);
  recent->trigger();
  EXPECT_EQ(w2->player()->path(), QFileInfo(video).absoluteFilePath());
  w2->cancelJob();
}

// A folder, a text file or an image dropped onto the window is refused under the pointer
// (drag-enter not accepted) with what was dropped named in the status bar, and a drop that
// arrives anyway opens nothing; a video whose extension is in capitals is taken, and of several
// files dropped together the first video is opened.
TEST_F(UiTest, DroppingAFolderOrANonVideoFileIsRefusedAndNamed) {
  auto w = window();
  const fs::path folder = dir_ / "holiday clips";
  fs::create_directories(folder);
  const fs::path notes = dir_ / "notes.txt";
  std::ofstream(notes) << "not a video\n";
  const fs::path photo = dir_ / "photo.png";
  std::ofstream(photo) << "\x89PNG\r\n";
  auto drag = [&](const std::vector<fs::path>& files) {
    QMimeData mime;
    QList<QUrl> urls;
    for (const fs::path& f : files)
      urls << QUrl::fromLocalFile(QString::fromStdString(f.string()));
    mime.setUrls(urls);
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, {});
    QApplication::sendEvent(w.get(), &enter);
    const bool accepted = enter.isAccepted();
    const QString said_on_enter = w->statusBar()->currentMessage();
    w->statusBar()->clearMessage();
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, {});
    QApplication::sendEvent(w.get(), &drop);
    EXPECT_EQ(drop.isAccepted(), accepted);
    return std::pair{accepted, said_on_enter};
  };

  auto [folder_taken, folder_said] = drag({folder});
  EXPECT_FALSE(folder_taken);
  EXPECT_TRUE(folder_said.contains("holiday clips")) << folder_said.toStdString();
  EXPECT_TRUE(folder_said.contains("is a folder")) << folder_said.toStdString();
  EXPECT_TRUE(folder_said.contains("clipmind index")) << folder_said.toStdString();

  for (const fs::path& file : {notes, photo}) {
    auto [taken, said] = drag({file});
    EXPECT_FALSE(taken) << file;
    EXPECT_TRUE(said.contains(QString::fromStdString(file.filename().string())))
        << said.toStdString();
    EXPECT_TRUE(said.contains("not a video file")) << said.toStdString();
    EXPECT_TRUE(said.contains("File ▸ Open Video")) << said.toStdString();
  }
  EXPECT_TRUE(w->player()->path().isEmpty());
  EXPECT_FALSE(w->preparing());
  EXPECT_TRUE(w->lastError().isEmpty())
      << "refused before anything failed: " << w->lastError().toStdString();

  const fs::path capitals = dir_ / "CLIP.MP4";
  fs::copy_file(short_video(), capitals);
  auto [taken, said] = drag({notes, folder, capitals});
  EXPECT_TRUE(taken) << said.toStdString();
  EXPECT_EQ(w->player()->path(), QString::fromStdString(capitals.string()));
  w->cancelJob();
}

TEST_F(UiTest, SearchTabFindsSegmentsWithThumbnailsAndOpensTheVideoThere) {
  const fs::path video = short_video();
  const fs::path db = dir_ / "index.db";
  {
    auto store = index::open_store(db.string());
    std::vector<index::Segment> segments(2);
    segments[0] = {0.0, 0.96, {1, 0, 0, 0}, "a grey square on a black field", {}};
    segments[1] = {0.96, 2.0, {0, 1, 0, 0}, "the red ball bounces", {}};
    segments[1].thumbnail_jpeg = pipeline::thumbnail_jpeg(video, 1.2);
    ASSERT_FALSE(segments[1].thumbnail_jpeg.empty());
    const index::FileStamp stamp{"test-hash", 1, 1};
    store->begin_video(video.string(), stamp, "test-model");
    store->commit_video(video.string(), stamp, "test-model", segments);
  }
  auto w = window();
  w->tabs()->setCurrentWidget(w->search());
  ui::SearchPanel* search = w->search();
  search->setDatabase(QString::fromStdString(db.string()));
  QTest::keyClicks(search->queryEdit(), "ball");
  QTest::keyClick(search->queryEdit(), Qt::Key_Return);
  ASSERT_TRUE(QTest::qWaitFor([&] { return !search->searching(); }, 20000));
  ASSERT_EQ(search->results()->count(), 1) << search->status().toStdString();
  QListWidgetItem* item = search->results()->item(0);
  EXPECT_TRUE(item->text().contains("red ball"));
  EXPECT_FALSE(item->icon().isNull());
  EXPECT_TRUE(search->status().contains("captions only"));
  EXPECT_TRUE(search->status().contains("relevance model in Settings"))
      << search->status().toStdString();
  const QRect r = search->results()->visualItemRect(item);
  // A double-click as the platform delivers it: press, release, then the double-click event.
  QTest::mouseClick(search->results()->viewport(), Qt::LeftButton, {}, r.center());
  QTest::mouseDClick(search->results()->viewport(), Qt::LeftButton, {}, r.center());
  ASSERT_TRUE(QTest::qWaitFor([&] { return w->player()->hasVideo(); }, 5000));
  EXPECT_EQ(w->player()->path(), QString::fromStdString(video.string()));
  ASSERT_TRUE(settle(w->player()));
  EXPECT_EQ(shown_code(*w->player()), 24u);  // 0.96 s
  w->cancelJob();
  // A database that does not exist is an error message, not a crash.
  search->setDatabase(QString::fromStdString((dir_ / "missing.db").string()));
  search->search("ball");
  ASSERT_TRUE(QTest::qWaitFor([&] { return !search->searching(); }, 20000));
  EXPECT_TRUE(search->status().contains("missing.db")) << search->status().toStdString();
  EXPECT_EQ(search->results()->count(), 0);
}

// Indexes short_video() into `db` with config's relevance model (segments of at least 0.5 s),
// as `clipmind index` does; `record_model_name` also records the model for later searches.
void index_short_video(pipeline::PipelineConfig config, const fs::path& db,
                       bool record_model_name) {
  config.caption.min_segment_s = 0.5;
  const fs::path video = short_video();
  pipeline::Session session(config);
  const pipeline::SegmentAnalysis analysis = pipeline::analyze_segments(session, video);
  ASSERT_FALSE(analysis.segments.empty());
  auto store = index::open_store(db.string());
  const index::FileStamp stamp{analysis.video.content_hash, 1, 1};
  store->begin_video(video.string(), stamp, analysis.embedding_model);
  store->commit_video(video.string(), stamp, analysis.embedding_model, analysis.segments);
  if (record_model_name) {
    ASSERT_TRUE(store->adopt_model(analysis.embedding_model, {}, config.relevance_model));
  }
}

TEST_F(UiTest, SearchEmbedsTheQueryWithTheRelevanceModel) {
  pipeline::PipelineConfig config = tiny_config();
  config.relevance_model = e2e::tiny_siglip().string();
  const fs::path db = dir_ / "index.db";
  ASSERT_NO_FATAL_FAILURE(index_short_video(config, db, /*record_model_name=*/false));
  auto w = window(config);
  ui::SearchPanel* search = w->search();
  search->setDatabase(QString::fromStdString(db.string()));
  search->search("a moving square");  // no caption matches: only the embedding can find it
  ASSERT_TRUE(QTest::qWaitFor([&] { return !search->searching(); }, 60000));
  EXPECT_GT(search->results()->count(), 0) << search->status().toStdString();
  EXPECT_FALSE(search->status().contains("captions only")) << search->status().toStdString();
  EXPECT_FALSE(search->results()->item(0)->icon().isNull());
}

// No relevance model in Settings: the index names the one it was built with, and the search tab
// compares pictures with it, as `clipmind search` does.
TEST_F(UiTest, SearchUsesTheModelTheIndexWasBuiltWithWhenSettingsNameNone) {
  pipeline::PipelineConfig config = tiny_config();
  config.relevance_model = e2e::tiny_siglip().string();
  const fs::path db = dir_ / "index.db";
  ASSERT_NO_FATAL_FAILURE(index_short_video(config, db, /*record_model_name=*/true));
  config.relevance_model.clear();
  auto w = window(config);
  ui::SearchPanel* search = w->search();
  search->setDatabase(QString::fromStdString(db.string()));
  search->search("a moving square");  // no caption matches: only the embedding can find it
  ASSERT_TRUE(QTest::qWaitFor([&] { return !search->searching(); }, 60000));
  EXPECT_GT(search->results()->count(), 0) << search->status().toStdString();
  EXPECT_TRUE(search->status().contains("the model this index was built with"))
      << search->status().toStdString();
  EXPECT_FALSE(search->status().contains("captions only")) << search->status().toStdString();
}

}  // namespace
}  // namespace clipmind
