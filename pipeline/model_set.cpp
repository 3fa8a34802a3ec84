#include "pipeline/model_set.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <vector>

#include <ATen/ATen.h>

#include "clipmind/error.h"
#include "models/hub/resolve_model.h"
#include "models/llm/runtime.h"
#include "models/siglip/dual_encoder.h"
#include "models/vlm/llava_onevision.h"
#include "pipeline/content_hash.h"
#include "pipeline/errors.h"

namespace clipmind::pipeline {

namespace {

models::VisionRuntime runtime_for(const PipelineConfig& config) {
  models::VisionRuntime runtime;
  runtime.device = models::parse_device(config.device);
  runtime.dtype = models::choose_dtype(config.dtype, runtime.device);
  models::check_dtype_supported(runtime.dtype, runtime.device);
  return runtime;
}

}  // namespace

std::string model_folder_id(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::ostringstream material;
  material << "clipmind-model-id-v1\n" << fs::absolute(dir).lexically_normal().string() << '\n';
  {
    std::ifstream in(dir / "config.json", std::ios::binary);
    material << in.rdbuf();
  }
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 12 && name.ends_with(".safetensors")) {
      const fs::path target = fs::canonical(entry.path(), ec);
      const auto size = fs::file_size(target, ec);
      const auto time = fs::last_write_time(target, ec).time_since_epoch().count();
      std::ostringstream line;
      line << name << ' ' << size << ' ' << time;
      files.push_back(line.str());
    }
  }
  std::sort(files.begin(), files.end());
  for (const std::string& f : files)
    material << '\n' << f;
  return sha256_hex(material.str()).substr(0, 32);
}

ModelSet::ModelSet(const PipelineConfig& config, Logger log)
    : config_(config), log_(std::move(log)) {}

ModelSet::~ModelSet() = default;

const models::LlavaOnevision& ModelSet::vlm() const {
  if (!vlm_) throw Error(ErrorKind::kInternal, "the VLM is used before it was loaded");
  return *vlm_;
}

std::filesystem::path ModelSet::resolve(const std::string& spec, ProgressTracker& progress,
                                        const CancelToken& cancel) const {
  models::hub::HubOptions hub = models::hub::HubOptions::from_environment();
  if (config_.offline) hub.offline = true;
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
      options.runtime = runtime_for(config_);
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
      stage.advance();
      stage.finish();
      log_.info(
          "model",
          "loaded " + config_.model + " from " + vlm_dir_.string() + " in " +
              std::to_string(
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count())
                  .substr(0, 5) +
              " s as " + models::dtype_name(options.runtime.dtype) +
              (config_.dtype == "auto" ? " (dtype auto)" : ""));
    });
  }
  load_relevance(progress, cancel);
}

void ModelSet::load_relevance(ProgressTracker& progress, const CancelToken& cancel) {
  if (relevance_ || config_.relevance_model.empty()) return;
  in_stage("load model", config_.relevance_model, [&] {
    auto stage = progress.begin("load model", 1, "models", config_.relevance_model);
    const std::filesystem::path dir = resolve(config_.relevance_model, progress, cancel);
    relevance_ = std::make_unique<models::SiglipDualEncoder>(
        models::SiglipDualEncoder::load(dir, runtime_for(config_)));
    if (!relevance_->has_tokenizer()) {
      relevance_.reset();
      throw Error(ErrorKind::kInvalidInput,
                  dir.string() +
                      ": the relevance model has no SentencePiece tokenizer "
                      "(spiece.model), so it cannot score questions");
    }
    relevance_id_ = model_folder_id(dir);
    stage.advance();
    stage.finish();
  });
}

}  // namespace clipmind::pipeline
