// The Search tab: a query over an index database (index/store.h: SQLite file or PostgreSQL
// URI). The query is embedded with the SigLIP dual encoder (pipeline::embed_query, needs a
// relevance model in Settings) and fused with a full-text match over captions; without a
// relevance model only captions are searched (said in the status line). Results show their
// thumbnails; double-click (or Enter) emits openRequested(video, start time).
// Searches run on a pool thread, one at a time; the Session that embeds queries is kept
// between searches while the configuration stays the same.
#pragma once

#include <QFutureWatcher>
#include <QImage>
#include <QString>
#include <QWidget>
#include <memory>
#include <vector>

#include "pipeline/config.h"

class QLabel;
class QLineEdit;
class QListWidget;
class QListWidgetItem;
class QPushButton;

namespace clipmind::pipeline {
class Session;
}

namespace clipmind::ui {

struct QuerySession;  // search_panel.cpp

struct SearchResultRow {
  QString video;
  double t_begin = 0.0;
  double t_end = 0.0;
  double score = 0.0;
  QString caption;
  QImage thumbnail;
};

struct SearchOutcome {
  std::vector<SearchResultRow> rows;
  QString error;
  QString note;
};

class SearchPanel : public QWidget {
  Q_OBJECT
 public:
  explicit SearchPanel(QWidget* parent = nullptr);
  ~SearchPanel() override;

  void setDatabase(const QString& location);
  void setConfig(const pipeline::PipelineConfig& config);
  QString database() const;
  void search(const QString& query);
  bool searching() const { return running_; }

  QLineEdit* queryEdit() const { return query_; }
  QListWidget* results() const { return results_; }
  QString status() const;

 signals:
  void openRequested(const QString& video, double seconds);
  void databaseChanged(const QString& location);

 private:
  void on_done();
  void activate(QListWidgetItem* item);

  QLineEdit* db_ = nullptr;
  QLineEdit* query_ = nullptr;
  QPushButton* go_ = nullptr;
  QListWidget* results_ = nullptr;
  QLabel* status_ = nullptr;
  QFutureWatcher<SearchOutcome>* watcher_ = nullptr;
  bool running_ = false;

  pipeline::PipelineConfig config_;
  // The Session that embeds queries, shared with the search thread (one search at a time).
  std::shared_ptr<QuerySession> session_;
};

}  // namespace clipmind::ui
