#include "ui/gui_wording.h"

#include <QObject>
#include <cstdlib>
#include <utility>
#include <vector>

#include "pipeline/config.h"

namespace clipmind::ui {

QString gui_config_file() {
  if (const char* env = std::getenv("CLIPMIND_CONFIG"); env && *env)
    return QString::fromLocal8Bit(env);
  return QString::fromStdString(pipeline::user_config_path().string());
}

namespace {

// (CLI phrase, GUI phrase) pairs.
std::vector<std::pair<QString, QString>> phrase_table() {
  const QString config = gui_config_file();
  // Each CLI phrase exactly as pipeline/ writes it (pipeline/token_cache.cpp, errors.cpp,
  // model_set.cpp, frame_selection.cpp, merge_stage.cpp, segment_analysis.cpp, index_job.cpp,
  // compress/budget/token_plan.cpp), longest first where one contains another.
  std::vector<std::pair<QString, QString>> phrases = {
      {"; continuing without the cache (further failures are logged with --verbose only)",
       QObject::tr("; continuing without the cache, so this video is encoded again next time "
                   "(later failures are not shown). Free space on that disk, or move the cache "
                   "or make it smaller: \"cache\": {\"dir\": …, \"max_gb\": …} in %1")
           .arg(config)},
      {"set relevance_model or --relevance-model",
       QObject::tr("choose one in File ▸ Settings ▸ Relevance model")},
      {"Set relevance_model in the config or pass --relevance-model",
       QObject::tr("Choose a Relevance model in File ▸ Settings")},
      {"set relevance_model (--relevance-model)",
       QObject::tr("set the Relevance model in File ▸ Settings")},
      {"Index into a new database (another --db)",
       QObject::tr("Index into a new database (another Index database in the Search tab)")},
      {"download it again or pass another --relevance-model.",
       QObject::tr("download it again or choose another Relevance model in File ▸ Settings.")},
      {"download it again or pass another --model (with dtype float16, try --set "
       "dtype=\"bfloat16\" or \"float32\").",
       QObject::tr("download it again or choose another Model in File ▸ Settings (with dtype "
                   "float16, try \"dtype\": \"bfloat16\" or \"float32\" in %1).")
           .arg(config)},
      {"Pass --model with a model folder or a Hugging Face repo id",
       QObject::tr("Choose a model folder or a Hugging Face repo id in File ▸ Settings ▸ Model")},
      {"--model needs a LLaVA-OneVision folder",
       QObject::tr("The Model in File ▸ Settings must be a LLaVA-OneVision folder")},
      {"(--device cpu, the default)",
       QObject::tr("(Device \"cpu\" in File ▸ Settings, the default)")},
      {"use --method none with adaptive-resolution key clips",
       QObject::tr("choose Token merging \"none\" in File ▸ Settings for adaptive-resolution key "
                   "clips")},
      {"lower --max-new-tokens",
       QObject::tr("lower \"generate\": {\"max_new_tokens\": …} in %1").arg(config)},
      {"Run with --help for the options.", QObject::tr("Check the values in File ▸ Settings.")},
  };
  return phrases;
}

}  // namespace

QString gui_wording(const QString& text) {
  if (!text.contains(QLatin1String("--"))) return text;
  QString out = text;
  for (const auto& [cli, gui] : phrase_table())
    out.replace(cli, gui);
  return out;
}

QStringList gui_wording_cli_phrases() {
  QStringList out;
  for (const auto& [cli, gui] : phrase_table())
    out << cli;
  return out;
}

}  // namespace clipmind::ui
