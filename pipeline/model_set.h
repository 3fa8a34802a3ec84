// The models a Session uses, loaded once and shared by its jobs: the LLaVA-OneVision VLM and,
// when configured, the SigLIP dual encoder that scores frame relevance for F2C (and embeds
// segments and queries for the index).
//
// `model` / `relevance_model` are folders or Hugging Face repo ids, resolved by
// models/hub/resolve_model.h (local folder, the HF cache, or a download unless offline).
// Each model gets a content-based id (pipeline/model_id.h) for cache keys and index records: the
// same bytes give the same id in any folder, a changed model never reuses tokens encoded by
// another. Loading reports stage "load model" (and "download" when fetching).
// Throws clipmind::StageError("load model") with a hint when a model is missing or unusable.
// Not thread-safe: a Session loads on its job thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "clipmind/progress.h"
#include "pipeline/config.h"
#include "pipeline/log.h"
#include "pipeline/model_id.h"
#include "pipeline/progress_tracker.h"

namespace clipmind::models {
class LlavaOnevision;
class SiglipDualEncoder;
}  // namespace clipmind::models

namespace clipmind::pipeline {

class ModelSet {
 public:
  ModelSet(const PipelineConfig& config, Logger log);
  ~ModelSet();
  ModelSet(const ModelSet&) = delete;
  ModelSet& operator=(const ModelSet&) = delete;

  // Loads what is not loaded yet (the relevance model only when configured).
  void load(ProgressTracker& progress, const CancelToken& cancel);
  void load_relevance(ProgressTracker& progress, const CancelToken& cancel);

  bool vlm_loaded() const { return vlm_ != nullptr; }
  const models::LlavaOnevision& vlm() const;  // kInternal before load()
  const std::string& vlm_id() const { return vlm_id_; }
  const std::filesystem::path& vlm_dir() const { return vlm_dir_; }

  // With no relevance model configured: uses `spec` (the model an index records) from now on,
  // never downloading it (an implicit choice must not start a multi-GB download); a later call
  // with another spec replaces an adopted model. Returns false, changing nothing, when a
  // relevance model is configured.
  bool adopt_relevance_model(const std::string& spec);
  // Forgets an adopted model that could not be loaded.
  void drop_adopted_relevance_model();

  bool has_relevance() const { return !config_.relevance_model.empty(); }
  const models::SiglipDualEncoder* relevance() const { return relevance_.get(); }
  const std::string& relevance_id() const { return relevance_id_; }
  // The id clipmind before "clipmind-model-id-v2" gave the same folder (indexes may hold it).
  const std::string& relevance_legacy_id() const { return relevance_legacy_id_; }
  // For people: the folder's absolute path, or the Hugging Face repo id as configured.
  const std::string& relevance_name() const { return relevance_name_; }

 private:
  std::filesystem::path resolve(const std::string& spec, ProgressTracker& progress,
                                const CancelToken& cancel, bool offline = false) const;

  PipelineConfig config_;
  Logger log_;
  std::unique_ptr<models::LlavaOnevision> vlm_;
  std::string vlm_id_;
  std::filesystem::path vlm_dir_;
  std::unique_ptr<models::SiglipDualEncoder> relevance_;
  std::string relevance_id_;
  std::string relevance_legacy_id_;
  std::string relevance_name_;
  bool relevance_adopted_ = false;
};

}  // namespace clipmind::pipeline
