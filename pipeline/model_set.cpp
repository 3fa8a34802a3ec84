#include "pipeline/model_set.h"

#include <chrono>
#include <system_error>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "models/hub/resolve_model.h"
#include "models/llm/runtime.h"
#include "models/siglip/dual_encoder.h"
#include "models/vlm/llava_onevision.h"
#include "pipeline/errors.h"
#include "pipeline/model_id.h"

namespace clipmind::pipeline {

namespace {

models::VisionRuntime runtime_for(const PipelineConfig& config, const std::string& spec) {
  models::VisionRuntime runtime;
  try {
    runtime.device = models::parse_device(config.device);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kUnsupported) throw;
    throw StageError(e.kind(), "load model", spec, e.what(),
                     "Run on the CPU (--device cpu, the default), or build clipmind against a "
                     "CUDA LibTorch on a machine with an NVIDIA GPU (README, \"Building by "
                     "hand\").");
  }
  runtime.dtype = models::choose_dtype(config.dtype, runtime.device);
  models::check_dtype_supported(runtime.dtype, runtime.device);
  return runtime;
}

// A local folder as its absolute path, else the Hugging Face repo id as configured.
std::string model_name(const std::string& spec) {
  std::error_code ec;
  if (std::filesystem::is_directory(spec, ec)) {
    const std::filesystem::path abs = std::filesystem::absolute(spec, ec);
    if (!ec) return abs.lexically_normal().string();
  }
  return spec;
}

}  // namespace

ModelSet::ModelSet(const PipelineConfig& config, Logger log)
    : config_(config), log_(std::move(log)) {}

ModelSet::~ModelSet() = default;

const models::LlavaOnevision& ModelSet::vlm() const {
  if (!vlm_) throw Error(ErrorKind::kInternal, "the VLM is used before it was loaded");
  return *vlm_;
}

std::filesystem::path ModelSet::resolve(const std::string& spec, ProgressTracker& progress,
                                        const CancelToken& cancel, bool offline) const {
  models::hub::HubOptions hub = models::hub::HubOptions::from_environment();
  if (!hub.offline && config_.offline) {
    hub.offline = true;
    hub.offline_why =
        "clipmind runs offline (--offline, or offline = true in its configuration): run it "
        "without that to download it";
  } else if (!hub.offline && offline) {
    hub.offline = true;
    hub.offline_why =
        "the model an index was built with is only looked for, never downloaded: name it with "
        "--relevance-model to download it";
  }
  ProgressTracker::Stage download;
  ProgressCallback on_download = [&](const ProgressEvent& e) {
    if (!download.active()) download = progress.begin("download", e.total, "bytes", e.detail);
    download.callback()(e);
  };
  const std::filesystem::path dir = models::hub::resolve_model(spec, hub, on_download, cancel);
  if (download.active()) download.finish();
  return dir;
}

void ModelSet::load(ProgressTracker& progress, const CancelToken& cancel) {
  if (!vlm_) {
    in_stage("load model", config_.model, [&] {
      auto stage = progress.begin("load model", 1, "models", config_.model);
      const auto start = std::chrono::steady_clock::now();
      vlm_dir_ = resolve(config_.model, progress, cancel);
      cancel.throw_if_cancelled();
      models::VlmLoadOptions options;
      options.runtime = runtime_for(config_, config_.model);
      options.cancel = cancel;
      options.chat_template = config_.generate.template_name == "llava_qwen"
                                  ? models::VlmTemplate::kLlavaQwen
                                  : models::VlmTemplate::kHfHub;
      vlm_ =
          std::make_unique<models::LlavaOnevision>(models::LlavaOnevision::load(vlm_dir_, options));
      if (!vlm_->has_tokenizer()) {
        vlm_.reset();
        throw Error(ErrorKind::kInvalidInput,
                    vlm_dir_.string() +
                        ": the model has no tokenizer.json (a VLM folder needs "
                        "the Qwen2 tokenizer files)");
      }
      vlm_id_ = model_folder_id(vlm_dir_);
      std::error_code dir_ec;
      stage.advance();
      stage.finish();
      log_.info(
          "model",
          "loaded " +
              // A repo id is named with the snapshot folder it resolved to; a folder once.
              (std::filesystem::is_directory(config_.model, dir_ec)
                   ? vlm_dir_.string()
                   : config_.model + " from " + vlm_dir_.string()) +
              " in " +
              std::to_string(
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count())
                  .substr(0, 5) +
              " s as " + models::dtype_name(options.runtime.dtype) +
              (config_.dtype == "auto" ? " (dtype auto)" : ""));
    });
  }
  load_relevance(progress, cancel);
}

bool ModelSet::adopt_relevance_model(const std::string& spec) {
  if (spec.empty()) return false;
  if (relevance_adopted_) {
    if (config_.relevance_model == spec) return true;  // loaded (or loading) already
    drop_adopted_relevance_model();  // a long-lived session searching another index
  }
  if (relevance_ || !config_.relevance_model.empty()) return false;
  config_.relevance_model = spec;
  relevance_adopted_ = true;
  return true;
}

void ModelSet::drop_adopted_relevance_model() {
  if (!relevance_adopted_) return;
  relevance_.reset();
  config_.relevance_model.clear();
  relevance_adopted_ = false;
}

void ModelSet::load_relevance(ProgressTracker& progress, const CancelToken& cancel) {
  if (relevance_ || config_.relevance_model.empty()) return;
  in_stage("load model", config_.relevance_model, [&] {
    auto stage = progress.begin("load model", 1, "models", config_.relevance_model);
    const std::filesystem::path dir =
        resolve(config_.relevance_model, progress, cancel, relevance_adopted_);
    relevance_ = std::make_unique<models::SiglipDualEncoder>(models::SiglipDualEncoder::load(
        dir, runtime_for(config_, config_.relevance_model), cancel));
    if (!relevance_->has_tokenizer()) {
      relevance_.reset();
      throw Error(ErrorKind::kInvalidInput,
                  dir.string() +
                      ": the relevance model has no SentencePiece tokenizer "
                      "(spiece.model), so it cannot score questions");
    }
    relevance_id_ = model_folder_id(dir);
    relevance_legacy_id_ = legacy_model_folder_id(dir);
    relevance_name_ = model_name(config_.relevance_model);
    stage.advance();
    stage.finish();
  });
}

}  // namespace clipmind::pipeline
