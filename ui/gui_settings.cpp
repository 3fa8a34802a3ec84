#include "ui/gui_settings.h"

#include <QFile>
#include <QFileInfo>

#include <sys/statvfs.h>

namespace clipmind::ui {

GuiSettings load_settings(QSettings& store) {
  GuiSettings s;
  s.model = store.value("model/model", s.model).toString();
  s.relevance_model = store.value("model/relevance_model", s.relevance_model).toString();
  s.device = store.value("model/device", s.device).toString();
  s.budget_mode = store.value("budget/mode", s.budget_mode).toString();
  s.budget_tokens = store.value("budget/tokens", s.budget_tokens).toInt();
  s.budget_ratio = store.value("budget/ratio", s.budget_ratio).toDouble();
  s.select_method = store.value("method/select", s.select_method).toString();
  s.merge_method = store.value("method/merge", s.merge_method).toString();
  s.index_db = store.value("search/index_db", s.index_db).toString();
  s.recent_files = store.value("files/recent", s.recent_files).toStringList();
  while (s.recent_files.size() > kMaxRecentFiles)
    s.recent_files.removeLast();
  return s;
}

QString save_settings(QSettings& store, const GuiSettings& s) {
  // A QSettings keeps reporting its first failed sync for ever; a fresh one on the same file
  // (QSettings shares a file's state within the process) tells whether this save worked.
  QSettings file(store.fileName(), store.format());
  file.setValue("model/model", s.model);
  file.setValue("model/relevance_model", s.relevance_model);
  file.setValue("model/device", s.device);
  file.setValue("budget/mode", s.budget_mode);
  file.setValue("budget/tokens", s.budget_tokens);
  file.setValue("budget/ratio", s.budget_ratio);
  file.setValue("method/select", s.select_method);
  file.setValue("method/merge", s.merge_method);
  file.setValue("search/index_db", s.index_db);
  file.setValue("files/recent", s.recent_files);
  file.sync();
  if (file.status() == QSettings::NoError) return {};
  // QSettings says only "access error": tell a full disk from a folder we may not write.
  const QFileInfo info(store.fileName());
  struct statvfs disk {};
  const bool full = ::statvfs(QFile::encodeName(info.absolutePath()).constData(), &disk) == 0 &&
                    disk.f_bavail == 0;
  return info.absoluteFilePath() + ": the settings were not saved: " +
         (full ? QStringLiteral("no space left on the disk")
               : QStringLiteral("cannot write there (check the folder's permissions)"));
}

void add_recent_file(GuiSettings& settings, const QString& path) {
  settings.recent_files.removeAll(path);
  settings.recent_files.prepend(path);
  while (settings.recent_files.size() > kMaxRecentFiles)
    settings.recent_files.removeLast();
}

pipeline::PipelineConfig apply_settings(pipeline::PipelineConfig base, const GuiSettings& s) {
  if (!s.model.trimmed().isEmpty()) base.model = s.model.trimmed().toStdString();
  if (!s.relevance_model.trimmed().isEmpty())
    base.relevance_model = s.relevance_model.trimmed().toStdString();
  if (!s.device.trimmed().isEmpty()) base.device = s.device.trimmed().toStdString();
  if (s.budget_mode == "tokens") {
    base.budget.tokens = s.budget_tokens;
    base.budget.ratio.reset();
  } else if (s.budget_mode == "ratio") {
    base.budget.ratio = s.budget_ratio;
    base.budget.tokens.reset();
  }
  if (!s.select_method.isEmpty()) base.select.method = s.select_method.toStdString();
  if (!s.merge_method.isEmpty()) base.merge.method = s.merge_method.toStdString();
  pipeline::validate(base);
  return base;
}

pipeline::PipelineConfig user_base_config() {
  return pipeline::load_config(pipeline::ConfigSources{}).config;
}

}  // namespace clipmind::ui
