#include "ui/chat_panel.h"

#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QTextBrowser>
#include <QTextCursor>
#include <QTextDocument>
#include <QTimer>
#include <QVBoxLayout>
#include <algorithm>

#include "ui/video_player.h"

namespace clipmind::ui {

namespace {

constexpr int kStreamRenderMs = 50;

QString escaped(const std::string& utf8, size_t begin, size_t end) {
  end = std::min(end, utf8.size());
  if (begin >= end) return {};
  return QString::fromUtf8(utf8.data() + begin, static_cast<qsizetype>(end - begin))
      .toHtmlEscaped()
      .replace('\n', "<br>");
}

}  // namespace

QString answer_html(const std::string& answer, const std::vector<pipeline::Moment>& moments) {
  std::vector<pipeline::Moment> sorted = moments;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.char_begin < b.char_begin; });
  QString html;
  size_t at = 0;
  for (const auto& m : sorted) {
    if (m.char_begin < at || m.char_end <= m.char_begin || m.char_end > answer.size()) continue;
    html += escaped(answer, at, m.char_begin);
    const QString title = m.is_range ? QString("%1 – %2").arg(format_time(m.start_s, true),
                                                              format_time(m.end_s, true))
                                     : format_time(m.start_s, true);
    html += QString("<a href=\"seek:%1\" title=\"%2\">%3</a>")
                .arg(QString::number(m.start_s, 'f', 3), title,
                     escaped(answer, m.char_begin, m.char_end));
    at = m.char_end;
  }
  html += escaped(answer, at, answer.size());
  return html;
}

ChatPanel::ChatPanel(QWidget* parent) : QWidget(parent) {
  transcript_ = new QTextBrowser(this);
  transcript_->setObjectName("chatTranscript");
  transcript_->setAccessibleName(tr("Conversation"));
  transcript_->setAccessibleDescription(tr("Times in the answers are links that seek the video"));
  transcript_->setOpenLinks(false);
  transcript_->setOpenExternalLinks(false);
  input_ = new QLineEdit(this);
  input_->setObjectName("chatInput");
  input_->setAccessibleName(tr("Question"));
  input_->setAccessibleDescription(tr("Enter asks; Escape cancels the running job"));
  input_->setPlaceholderText(tr("Ask about the video, e.g. “When does the door open?”"));
  ask_ = new QPushButton(tr("Ask"), this);
  ask_->setObjectName("askButton");
  auto* row = new QHBoxLayout;
  row->addWidget(input_, 1);
  row->addWidget(ask_);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(transcript_, 1);
  layout->addLayout(row);
  connect(ask_, &QPushButton::clicked, this, &ChatPanel::submit);
  connect(input_, &QLineEdit::returnPressed, this, &ChatPanel::submit);
  connect(transcript_, &QTextBrowser::anchorClicked, this, &ChatPanel::open_link);
  stream_timer_ = new QTimer(this);
  stream_timer_->setSingleShot(true);
  stream_timer_->setInterval(kStreamRenderMs);
  connect(stream_timer_, &QTimer::timeout, this, &ChatPanel::render_tail);
  render();
}

void ChatPanel::clear() {
  turns_.clear();
  note_.clear();
  warnings_.clear();
  render();
}

void ChatPanel::submit() {
  const QString q = input_->text().trimmed();
  if (q.isEmpty()) return;
  if (!ask_->isEnabled()) {
    emit questionHeldWhileAnswering(q);
    return;
  }
  input_->clear();
  emit questionAsked(q);
}

void ChatPanel::beginAnswer(const QString& question) {
  Turn turn;
  turn.question = question;
  turns_.push_back(std::move(turn));
  if (tail_turn_ >= 0 && tail_turn_ + 1 < turnCount()) {
    render();  // the previous turn never ended (not expected): lay everything out
    return;
  }
  tail_turn_ = turnCount() - 1;
  render_tail();
}

void ChatPanel::appendText(const QByteArray& utf8) {
  if (turns_.empty()) return;
  turns_.back().answer.append(utf8.constData(), static_cast<size_t>(utf8.size()));
  schedule_tail();
}

void ChatPanel::addMoment(const pipeline::Moment& moment) {
  if (turns_.empty()) return;
  turns_.back().moments.push_back(moment);
  schedule_tail();
}

void ChatPanel::finishAnswer(const std::string& answer,
                             const std::vector<pipeline::Moment>& moments) {
  if (turns_.empty()) return;
  turns_.back().answer = answer;
  turns_.back().moments = moments;
  turns_.back().done = true;
  render_tail();
}

void ChatPanel::failAnswer(const QString& message) {
  if (turns_.empty()) return;
  turns_.back().error = message;
  turns_.back().done = true;
  render_tail();
}

void ChatPanel::setNote(const QString& note) {
  note_ = note;
  render_tail();
}

void ChatPanel::endConversation(const QString& line) {
  if (turns_.empty()) return;
  Turn& last = turns_.back();
  if (!last.done) {
    last.error = tr("Stopped: the settings changed.");
    last.done = true;
  }
  last.conversation_end = line;
  render();  // a finished turn changed: rare, so the whole transcript is laid out again
}

void ChatPanel::addWarning(const QString& warning) {
  if (warnings_.contains(warning)) return;
  warnings_ << warning;
  render_tail();
}

void ChatPanel::setInputEnabled(bool enabled) {
  ask_->setEnabled(enabled);
}

QString ChatPanel::lastAnswer() const {
  return turns_.empty() ? QString() : QString::fromStdString(turns_.back().answer);
}

bool ChatPanel::lastAnswerDone() const {
  return !turns_.empty() && turns_.back().done;
}

std::vector<double> ChatPanel::lastLinks() const {
  std::vector<double> out;
  if (!turns_.empty())
    for (const auto& m : turns_.back().moments)
      out.push_back(m.start_s);
  return out;
}

QString ChatPanel::turn_html(const Turn& t) const {
  // One paragraph per turn and styles on spans: insertHtml merges the first paragraph into the
  // cursor's block, which would drop a paragraph's own style.
  QString html = QString("<p><b>%1</b> %2<br><b>%3</b> %4%5</p>")
                     .arg(tr("You:"), t.question.toHtmlEscaped(), tr("clipmind:"),
                          answer_html(t.answer, t.moments),
                          t.done ? QString() : QString(" <span style='color:gray'>▍</span>"));
  if (!t.error.isEmpty())
    html += QString("<p><span style='color:#c0392b'>%1</span></p>").arg(t.error.toHtmlEscaped());
  if (!t.conversation_end.isEmpty())
    html += QString("<p><span style='color:gray'><i>— %1 —</i></span></p>")
                .arg(t.conversation_end.toHtmlEscaped());
  return html;
}

QString ChatPanel::tail_html() const {
  QString html;
  if (tail_turn_ >= 0) html += turn_html(turns_[static_cast<size_t>(tail_turn_)]);
  for (const QString& w : warnings_)
    html += QString("<p><span style='color:#b9770e'>%1 %2</span></p>")
                .arg(tr("Warning:"), w.toHtmlEscaped());
  if (!note_.isEmpty())
    html += QString("<p><span style='color:gray'><i>%1</i></span></p>").arg(note_.toHtmlEscaped());
  return html;
}

void ChatPanel::render() {
  stream_timer_->stop();
  QString html = "<html><body>";
  tail_turn_ = -1;
  for (size_t i = 0; i < turns_.size(); ++i) {
    if (!turns_[i].done && i + 1 == turns_.size()) {
      tail_turn_ = static_cast<int>(i);  // still streaming: it belongs to the tail
      break;
    }
    html += turn_html(turns_[i]);
  }
  const bool any_finished = tail_turn_ != 0 && !turns_.empty();
  html += "</body></html>";
  QScrollBar* bar = transcript_->verticalScrollBar();
  const bool at_end = bar->value() >= bar->maximum() - 4;
  transcript_->setHtml(html);
  QTextCursor end(transcript_->document());
  end.movePosition(QTextCursor::End);
  // The tail starts in a paragraph of its own after the finished turns.
  if (any_finished) end.insertBlock();
  tail_start_ = end.position();
  render_tail();
  if (at_end) bar->setValue(bar->maximum());
}

void ChatPanel::render_tail() {
  stream_timer_->stop();
  QScrollBar* bar = transcript_->verticalScrollBar();
  const bool at_end = bar->value() >= bar->maximum() - 4;
  QTextCursor cursor(transcript_->document());
  cursor.setPosition(tail_start_);
  cursor.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
  cursor.removeSelectedText();
  if (tail_turn_ >= 0 && turns_[static_cast<size_t>(tail_turn_)].done) {
    // The streamed turn has ended: it joins the finished turns and is not rewritten again.
    cursor.insertHtml(turn_html(turns_[static_cast<size_t>(tail_turn_)]));
    cursor.insertBlock();
    tail_start_ = cursor.position();
    tail_turn_ = -1;
  }
  const QString html = tail_html();
  if (!html.isEmpty()) cursor.insertHtml(html);
  if (at_end) bar->setValue(bar->maximum());
}

void ChatPanel::schedule_tail() {
  if (!stream_timer_->isActive()) stream_timer_->start();
}

void ChatPanel::open_link(const QUrl& url) {
  if (url.scheme() != "seek") return;
  bool ok = false;
  const double t = url.path().toDouble(&ok);
  if (ok) emit seekRequested(t);
}

}  // namespace clipmind::ui
