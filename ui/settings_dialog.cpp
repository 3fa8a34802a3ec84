#include "ui/settings_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace clipmind::ui {

namespace {

QComboBox* combo(QWidget* parent, const QStringList& items, const QString& current) {
  auto* box = new QComboBox(parent);
  box->addItems(items);
  const int i = box->findText(current);
  if (i >= 0)
    box->setCurrentIndex(i);
  else if (box->isEditable())
    box->setCurrentText(current);
  return box;
}

QWidget* with_browse(QWidget* parent, QLineEdit* edit, bool folder, const QString& caption) {
  auto* row = new QWidget(parent);
  auto* layout = new QHBoxLayout(row);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* browse = new QPushButton(QObject::tr("Browse…"), row);
  // The form's label names the row, not the edit in it: say what each part is for.
  edit->setAccessibleName(caption);
  browse->setAccessibleName(QObject::tr("Browse for the %1").arg(caption.toLower()));
  layout->addWidget(edit, 1);
  layout->addWidget(browse);
  QObject::connect(browse, &QPushButton::clicked, row, [=] {
    const QString path = folder
                             ? QFileDialog::getExistingDirectory(row, caption, edit->text())
                             : QFileDialog::getSaveFileName(row, caption, edit->text(), {}, nullptr,
                                                            QFileDialog::DontConfirmOverwrite);
    if (!path.isEmpty()) edit->setText(path);
  });
  return row;
}

}  // namespace

SettingsDialog::SettingsDialog(const GuiSettings& settings, QWidget* parent)
    : QDialog(parent), base_(settings) {
  setWindowTitle(tr("Settings"));
  setObjectName("settingsDialog");
  model_ = new QLineEdit(settings.model, this);
  model_->setObjectName("modelEdit");
  model_->setPlaceholderText(tr("folder or Hugging Face repo id (default: from config.json)"));
  relevance_ = new QLineEdit(settings.relevance_model, this);
  relevance_->setPlaceholderText(tr("SigLIP dual encoder for F2C and search (optional)"));
  device_ = combo(this, {"cpu", "cuda", "cuda:0", "cuda:1"}, settings.device);
  device_->setEditable(true);
  device_->setCurrentText(settings.device);
  device_->setAccessibleName(tr("Device"));
  device_->lineEdit()->setAccessibleName(tr("Device"));
  budget_mode_ = new QComboBox(this);
  budget_mode_->addItem(tr("Default (10% when merging)"), "default");
  budget_mode_->addItem(tr("Token budget"), "tokens");
  budget_mode_->addItem(tr("Ratio of the frames' tokens"), "ratio");
  budget_mode_->setCurrentIndex(std::max(0, budget_mode_->findData(settings.budget_mode)));
  budget_tokens_ = new QSpinBox(this);
  budget_tokens_->setRange(16, 1 << 20);
  budget_tokens_->setValue(settings.budget_tokens);
  budget_tokens_->setSuffix(tr(" tokens"));
  budget_ratio_ = new QDoubleSpinBox(this);
  budget_ratio_->setRange(0.01, 1.0);
  budget_ratio_->setSingleStep(0.05);
  budget_ratio_->setDecimals(3);
  budget_ratio_->setValue(settings.budget_ratio);
  select_ = combo(this, {"auto", "f2c", "anylength", "scene", "uniform"}, settings.select_method);
  merge_ = combo(this, {"holitom", "tome", "divprune", "none"}, settings.merge_method);
  index_db_ = new QLineEdit(settings.index_db, this);
  index_db_->setPlaceholderText(tr("index.db or postgresql://…"));

  auto* budget_row = new QWidget(this);
  auto* budget_layout = new QHBoxLayout(budget_row);
  budget_layout->setContentsMargins(0, 0, 0, 0);
  budget_layout->addWidget(budget_mode_, 1);
  budget_layout->addWidget(budget_tokens_);
  budget_layout->addWidget(budget_ratio_);

  auto* form = new QFormLayout;
  form->addRow(tr("Model"), with_browse(this, model_, true, tr("Model folder")));
  form->addRow(tr("Relevance model"), with_browse(this, relevance_, true, tr("SigLIP folder")));
  form->addRow(tr("Device"), device_);
  form->addRow(tr("Visual tokens"), budget_row);
  form->addRow(tr("Frame selection"), select_);
  form->addRow(tr("Token merging"), merge_);
  form->addRow(tr("Index database"), with_browse(this, index_db_, false, tr("Index database")));
  auto* note = new QLabel(
      tr("Other settings come from ~/.config/clipmind/config.json (see `clipmind config`)."), this);
  note->setWordWrap(true);
  note->setStyleSheet("color: gray;");
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(budget_mode_, &QComboBox::currentIndexChanged, this, &SettingsDialog::update_budget);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(note);
  layout->addWidget(buttons);
  update_budget();
  resize(560, sizeHint().height());
}

void SettingsDialog::update_budget() {
  const QString mode = budget_mode_->currentData().toString();
  budget_tokens_->setVisible(mode == "tokens");
  budget_ratio_->setVisible(mode == "ratio");
}

GuiSettings SettingsDialog::settings() const {
  GuiSettings s = base_;
  s.model = model_->text().trimmed();
  s.relevance_model = relevance_->text().trimmed();
  s.device = device_->currentText().trimmed();
  s.budget_mode = budget_mode_->currentData().toString();
  s.budget_tokens = budget_tokens_->value();
  s.budget_ratio = budget_ratio_->value();
  s.select_method = select_->currentText();
  s.merge_method = merge_->currentText();
  s.index_db = index_db_->text().trimmed();
  return s;
}

}  // namespace clipmind::ui
