#include "ui/search_panel.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QVBoxLayout>
#include <mutex>

#include <QtConcurrent/QtConcurrentRun>
#include <nlohmann/json.hpp>

#include "index/store.h"
#include "pipeline/errors.h"
#include "pipeline/index_job.h"
#include "pipeline/segment_analysis.h"
#include "pipeline/session.h"
#include "ui/gui_wording.h"
#include "ui/video_player.h"

namespace clipmind::ui {

struct QuerySession {
  std::mutex mutex;
  std::unique_ptr<pipeline::Session> session;
  std::string key;
};

namespace {

constexpr int kVideoRole = Qt::UserRole + 1;
constexpr int kTimeRole = Qt::UserRole + 2;

SearchOutcome run_search(const QString& location, const QString& text,
                         const pipeline::PipelineConfig& config, std::shared_ptr<QuerySession> qs) {
  SearchOutcome out;
  try {
    if (location.trimmed().isEmpty())
      throw Error(ErrorKind::kInvalidArgument,
                  "no index database chosen: enter one above or in Settings");
    if (!index::is_postgres_uri(location.toStdString()) &&
        !QFileInfo::exists(location.startsWith("sqlite:") ? location.mid(7) : location))
      throw Error(ErrorKind::kNotFound, location.toStdString() +
                                            ": no such index database (build one with "
                                            "`clipmind index`)");
    const index::OpenOptions options = pipeline::index_open_options(config, false);
    auto store = index::open_store(location.toStdString(), options);
    pipeline::SearchRequest request;
    request.text = text.toStdString();
    request.k = 20;
    request.thumbnails = true;
    pipeline::SearchOutcome found;
    {
      // The same search as `clipmind search`: the index's own model when none is set, and a
      // refusal when the configured one is not the index's.
      std::lock_guard lock(qs->mutex);
      const std::string key = pipeline::to_json(config).dump();
      if (!qs->session || qs->key != key) {
        qs->session.reset();
        qs->session = std::make_unique<pipeline::Session>(config);
        qs->key = key;
      }
      found = pipeline::search_index(*qs->session, *store, request);
    }
    for (const std::string& note : found.notes)
      out.note += (out.note.isEmpty() ? "" : "\n") + QString::fromStdString(note);
    if (found.captions_only) {
      out.note +=
          QObject::tr(" (set a relevance model in Settings to search by what the video shows)");
    }
    for (pipeline::SearchResult& hit : found.results) {
      SearchResultRow row;
      row.video = QString::fromStdString(hit.video_path);
      row.t_begin = hit.t_begin;
      row.t_end = hit.t_end;
      row.score = hit.score;
      row.caption = QString::fromStdString(hit.caption);
      if (!hit.thumbnail_jpeg.empty()) {
        row.thumbnail.loadFromData(hit.thumbnail_jpeg.data(),
                                   static_cast<int>(hit.thumbnail_jpeg.size()), "JPEG");
      }
      out.rows.push_back(std::move(row));
    }
  } catch (...) {
    const pipeline::UserError e = pipeline::describe_error(std::current_exception());
    out.error = gui_wording(QString::fromStdString(e.message));
    if (!e.hint.empty()) out.error += "\n" + gui_wording(QString::fromStdString(e.hint));
  }
  return out;
}

}  // namespace

SearchPanel::SearchPanel(QWidget* parent)
    : QWidget(parent), session_(std::make_shared<QuerySession>()) {
  db_ = new QLineEdit(this);
  db_->setObjectName("indexDbEdit");
  db_->setAccessibleName(tr("Index database"));
  db_->setPlaceholderText(tr("index database: index.db or postgresql://…"));
  auto* browse = new QPushButton(tr("Browse…"), this);
  query_ = new QLineEdit(this);
  query_->setObjectName("searchQuery");
  query_->setAccessibleName(tr("Search query"));
  query_->setPlaceholderText(tr("Search the archive, e.g. “a person opens a door”"));
  go_ = new QPushButton(tr("Search"), this);
  results_ = new QListWidget(this);
  results_->setObjectName("searchResults");
  results_->setAccessibleName(tr("Search results"));
  results_->setAccessibleDescription(tr("Enter or double-click opens the video at the segment"));
  results_->setIconSize(QSize(160, 90));
  results_->setWordWrap(true);
  results_->setUniformItemSizes(false);
  status_ = new QLabel(this);
  status_->setWordWrap(true);
  status_->setObjectName("searchStatus");
  status_->setAccessibleName(tr("Search status"));

  auto* db_row = new QHBoxLayout;
  db_row->addWidget(db_, 1);
  db_row->addWidget(browse);
  auto* query_row = new QHBoxLayout;
  query_row->addWidget(query_, 1);
  query_row->addWidget(go_);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(db_row);
  layout->addLayout(query_row);
  layout->addWidget(results_, 1);
  layout->addWidget(status_);

  watcher_ = new QFutureWatcher<SearchOutcome>(this);
  connect(watcher_, &QFutureWatcher<SearchOutcome>::finished, this, &SearchPanel::on_done);
  connect(go_, &QPushButton::clicked, this, [this] { search(query_->text()); });
  connect(query_, &QLineEdit::returnPressed, this, [this] { search(query_->text()); });
  // Enter activates; a double-click may also activate (style dependent): opening the same
  // video twice is only a second seek to the same time.
  connect(results_, &QListWidget::itemActivated, this, &SearchPanel::activate);
  connect(results_, &QListWidget::itemDoubleClicked, this, &SearchPanel::activate);
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Index database"), db_->text(),
                                     tr("Index databases (*.db *.sqlite);;All files (*)"));
    if (!path.isEmpty()) setDatabase(path);
  });
  connect(db_, &QLineEdit::editingFinished, this, [this] { emit databaseChanged(db_->text()); });
}

SearchPanel::~SearchPanel() {
  watcher_->waitForFinished();
}

void SearchPanel::setDatabase(const QString& location) {
  if (db_->text() == location) return;
  db_->setText(location);
  emit databaseChanged(location);
}

QString SearchPanel::database() const {
  return db_->text().trimmed();
}

void SearchPanel::setConfig(const pipeline::PipelineConfig& config) {
  config_ = config;
}

QString SearchPanel::status() const {
  return status_->text();
}

void SearchPanel::search(const QString& text) {
  if (running_ || text.trimmed().isEmpty()) return;
  running_ = true;
  go_->setEnabled(false);
  status_->setText(tr("Searching…"));
  watcher_->setFuture(QtConcurrent::run(run_search, database(), text.trimmed(), config_, session_));
}

void SearchPanel::on_done() {
  running_ = false;
  go_->setEnabled(true);
  const SearchOutcome out = watcher_->result();
  results_->clear();
  if (!out.error.isEmpty()) {
    status_->setText(
        QString("<span style='color:#c0392b'>%1</span>").arg(out.error.toHtmlEscaped()));
    return;
  }
  for (const SearchResultRow& row : out.rows) {
    auto* item = new QListWidgetItem(results_);
    item->setText(QString("%1  %2–%3\n%4")
                      .arg(QFileInfo(row.video).fileName(), format_time(row.t_begin),
                           format_time(row.t_end),
                           row.caption.isEmpty() ? tr("(no caption)") : row.caption));
    item->setToolTip(QString("%1\nscore %2").arg(row.video).arg(row.score, 0, 'f', 4));
    if (!row.thumbnail.isNull()) item->setIcon(QIcon(QPixmap::fromImage(row.thumbnail)));
    item->setData(kVideoRole, row.video);
    item->setData(kTimeRole, row.t_begin);
  }
  QString text = out.rows.empty() ? tr("No matches.")
                                  : tr("%n result(s)", "", static_cast<int>(out.rows.size()));
  if (!out.note.isEmpty()) text += " — " + out.note;
  status_->setText(text);
}

void SearchPanel::activate(QListWidgetItem* item) {
  if (!item) return;
  emit openRequested(item->data(kVideoRole).toString(), item->data(kTimeRole).toDouble());
}

}  // namespace clipmind::ui
