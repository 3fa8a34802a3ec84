#include "ui/gui_settings.h"

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

void save_settings(QSettings& store, const GuiSettings& s) {
  store.setValue("model/model", s.model);
  store.setValue("model/relevance_model", s.relevance_model);
  store.setValue("model/device", s.device);
  store.setValue("budget/mode", s.budget_mode);
  store.setValue("budget/tokens", s.budget_tokens);
  store.setValue("budget/ratio", s.budget_ratio);
  store.setValue("method/select", s.select_method);
  store.setValue("method/merge", s.merge_method);
  store.setValue("search/index_db", s.index_db);
  store.setValue("files/recent", s.recent_files);
  store.sync();
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
