// The Settings dialog: model folder or Hugging Face repo id, relevance model, device, token
// budget (default, a number of tokens, or a ratio), selection and merge method, and the index
// database for the Search tab. It edits a GuiSettings value; the caller persists it.
#pragma once

#include <QDialog>

#include "ui/gui_settings.h"

class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

namespace clipmind::ui {

class SettingsDialog : public QDialog {
  Q_OBJECT
 public:
  explicit SettingsDialog(const GuiSettings& settings, QWidget* parent = nullptr);
  // The edited settings (recent files are kept as they were).
  GuiSettings settings() const;

  QLineEdit* modelEdit() const { return model_; }
  QComboBox* deviceBox() const { return device_; }
  QComboBox* budgetModeBox() const { return budget_mode_; }
  QSpinBox* budgetTokensBox() const { return budget_tokens_; }
  QDoubleSpinBox* budgetRatioBox() const { return budget_ratio_; }
  QComboBox* selectBox() const { return select_; }
  QComboBox* mergeBox() const { return merge_; }
  QLineEdit* indexDbEdit() const { return index_db_; }

 private:
  void update_budget();

  GuiSettings base_;
  QLineEdit* model_ = nullptr;
  QLineEdit* relevance_ = nullptr;
  QComboBox* device_ = nullptr;
  QComboBox* budget_mode_ = nullptr;
  QSpinBox* budget_tokens_ = nullptr;
  QDoubleSpinBox* budget_ratio_ = nullptr;
  QComboBox* select_ = nullptr;
  QComboBox* merge_ = nullptr;
  QLineEdit* index_db_ = nullptr;
};

}  // namespace clipmind::ui
