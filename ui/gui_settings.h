// The GUI's persistent settings (QSettings) and how they become a pipeline configuration.
//
// The GUI keeps only what its Settings dialog edits (model, device, budget, selection and merge
// method, relevance model, index database) plus the recent-files list; everything else comes
// from the pipeline's own configuration (defaults < the user's config.json). GUI values
// override that base. Pure value code: no widgets; the QSettings object is the caller's.
#pragma once

#include <QSettings>
#include <QString>
#include <QStringList>

#include "pipeline/config.h"

namespace clipmind::ui {

struct GuiSettings {
  QString model;            // folder or Hugging Face repo id; "" = the base config's model
  QString relevance_model;  // SigLIP dual encoder (F2C, search); "" = the base config's
  QString device = "cpu";
  QString budget_mode = "default";  // default | tokens | ratio
  int budget_tokens = 2048;
  double budget_ratio = 0.1;
  QString select_method = "auto";    // auto | f2c | anylength | scene | uniform
  QString merge_method = "holitom";  // holitom | tome | divprune | none
  QString index_db;                  // SQLite file or postgresql:// URI for the Search tab
  QStringList recent_files;          // most recent first
};

inline constexpr int kMaxRecentFiles = 10;

GuiSettings load_settings(QSettings& store);
// Writes the settings and syncs the file (QSettings replaces it atomically, so a failed write
// keeps the previous file whole). Returns "" when saved, else a message naming the file and
// the reason ("no space left on the disk" when its filesystem is full).
QString save_settings(QSettings& store, const GuiSettings& settings);

// Puts `path` first in the recent list (deduplicated, at most kMaxRecentFiles).
void add_recent_file(GuiSettings& settings, const QString& path);

// `base` with the GUI's choices applied, validated (throws clipmind::Error kInvalidArgument
// naming the setting when a value is out of range).
pipeline::PipelineConfig apply_settings(pipeline::PipelineConfig base, const GuiSettings& settings);

// The base configuration a desktop session starts from: defaults < the user's config.json
// (or $CLIPMIND_CONFIG). Throws what pipeline::load_config throws.
pipeline::PipelineConfig user_base_config();

}  // namespace clipmind::ui
