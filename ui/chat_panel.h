// The chat panel: the conversation about the open video, a question box and an Ask button.
// Answers stream in as text arrives; every time the answer mentions (pipeline moments, parsed
// by compress/separators' grammar) is rendered as a link, and clicking it emits seekRequested
// with the moment's start. The pipeline's warnings about the video (cut short, frames left out,
// cache not written) are listed under the conversation. Plain widget state; it knows nothing
// about threads or jobs.
//
// Rendering: finished turns are laid out once; while an answer streams only the tail (that
// answer, the warnings, the note) is replaced, at most every kStreamRenderMs, so a long answer
// in a long conversation costs the GUI thread little, and a selection in earlier turns stays.
// Only clear() lays out the whole transcript again.
#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>
#include <QUrl>
#include <QWidget>
#include <string>
#include <vector>

#include "pipeline/moments.h"

class QLineEdit;
class QPushButton;
class QTextBrowser;
class QTimer;

namespace clipmind::ui {

class ChatPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ChatPanel(QWidget* parent = nullptr);

  void clear();
  // A new turn; the answer streams in with appendText / addMoment, ends with finishAnswer.
  void beginAnswer(const QString& question);
  void appendText(const QByteArray& utf8);
  void addMoment(const pipeline::Moment& moment);
  // The final answer and its moments (parsed over the whole text) replace the streamed ones.
  void finishAnswer(const std::string& answer, const std::vector<pipeline::Moment>& moments);
  void failAnswer(const QString& message);
  void setNote(const QString& note);  // a grey line in the transcript ("Preparing video...")
  // Closes the conversation so far with `line` under its last turn (the model forgets those
  // turns: "Settings changed: the next question starts a new chat"); an answer still streaming
  // is marked stopped. The turns stay on screen; nothing when there are none.
  void endConversation(const QString& line);
  // A pipeline warning about the open video (shown once, until clear()).
  void addWarning(const QString& warning);
  const QStringList& warnings() const { return warnings_; }
  void setInputEnabled(bool enabled);

  int turnCount() const { return static_cast<int>(turns_.size()); }
  QString lastAnswer() const;
  bool lastAnswerDone() const;
  // The links of the last answer: its moments' start times.
  std::vector<double> lastLinks() const;
  QTextBrowser* transcript() const { return transcript_; }
  QLineEdit* input() const { return input_; }
  QPushButton* askButton() const { return ask_; }

 signals:
  void questionAsked(const QString& question);
  // Enter while an answer is still coming: the question stays in the box, unsent.
  void questionHeldWhileAnswering(const QString& question);
  void seekRequested(double seconds);

 private:
  struct Turn {
    QString question;
    std::string answer;  // UTF-8: moment offsets are bytes
    std::vector<pipeline::Moment> moments;
    QString error;
    bool done = false;
    QString conversation_end;  // the line that closes the conversation after this turn
  };
  // Lays out the whole transcript (a turn began or ended, clear()).
  void render();
  // Replaces only what follows the finished turns (the streaming answer, warnings, note); a
  // streamed turn that has ended joins the finished ones.
  void render_tail();
  void schedule_tail();
  QString turn_html(const Turn& turn) const;
  QString tail_html() const;
  void submit();
  void open_link(const QUrl& url);

  std::vector<Turn> turns_;
  QString note_;
  QStringList warnings_;
  QTextBrowser* transcript_ = nullptr;
  QLineEdit* input_ = nullptr;
  QPushButton* ask_ = nullptr;
  QTimer* stream_timer_ = nullptr;
  int tail_start_ = 0;  // document position where the tail begins
  int tail_turn_ = -1;  // the turn shown in the tail (still streaming when rendered), or -1
};

// HTML of an answer with its moments as links "seek:<start seconds>".
QString answer_html(const std::string& answer, const std::vector<pipeline::Moment>& moments);

}  // namespace clipmind::ui
