// clipmind-gui [VIDEO] [--at SECONDS] [--ask QUESTION] [--screenshot FILE.png]
// Wiring only: settings come from QSettings (organisation "clipmind", application
// "clipmind-gui"), the window from ui/. --ask asks once the video is prepared; --screenshot
// saves a picture of the window after that answer (scripts/screenshot.sh) and quits.
#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QSettings>
#include <QTimer>
#include <cstdio>

#include "pipeline/job_types.h"
#include "ui/main_window.h"
#include "ui/timeline_strip.h"
#include "ui/video_player.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setOrganizationName("clipmind");
  QApplication::setApplicationName("clipmind-gui");
  QApplication::setApplicationVersion(CLIPMIND_VERSION);

  QCommandLineParser parser;
  parser.setApplicationDescription("Ask questions about a video; answers link to the moments.");
  parser.addHelpOption();
  parser.addVersionOption();
  parser.addPositionalArgument("video", "The video to open.", "[VIDEO]");
  QCommandLineOption at({"t", "at"}, "Start at this time (seconds).", "seconds");
  QCommandLineOption ask("ask", "Ask this question once the video is prepared.", "question");
  QCommandLineOption shot("screenshot",
                          "After the --ask answer, save the window as this PNG and quit.", "file");
  QCommandLineOption no_audio("no-audio", "Play without sound.");
  parser.addOptions({at, ask, shot, no_audio});
  parser.process(app);

  QSettings settings;
  clipmind::ui::MainWindowOptions options;
  options.settings = &settings;
  options.audio = !parser.isSet(no_audio);
  clipmind::ui::MainWindow window(options);
  window.show();

  const QStringList args = parser.positionalArguments();
  if (!args.isEmpty()) {
    const bool opened = window.openVideo(args.front(), parser.value(at).toDouble());
    if (parser.isSet(ask) && opened) window.ask(parser.value(ask));
    if (parser.isSet(shot)) {
      const QString file = parser.value(shot);
      auto save = [&window, file] {
        if (!window.grab().save(file)) {
          std::fprintf(stderr, "clipmind-gui: cannot write %s\n", qPrintable(file));
          QApplication::exit(1);
          return;
        }
        std::fprintf(stderr, "clipmind-gui: saved %s\n", qPrintable(file));
        QApplication::exit(0);
      };
      QObject::connect(&window, &clipmind::ui::MainWindow::answerFinished, &window,
                       [&window, save](const clipmind::pipeline::AskResult& result) {
                         // Show where the answer points (or the middle of the video).
                         const double t = result.moments.empty() ? window.player()->duration() / 2
                                                                 : result.moments.front().start_s;
                         window.player()->seek(t);
                         QTimer::singleShot(1500, &window, save);
                       });
      QObject::connect(&window, &clipmind::ui::MainWindow::preparationFinished, &window,
                       [save](bool ok) {
                         if (!ok) QTimer::singleShot(1000, save);
                       });
      if (!opened) QTimer::singleShot(1000, &window, save);
      QTimer::singleShot(10 * 60 * 1000, &window, save);  // never hang a script
    }
  }
  return QApplication::exec();
}
