// A standalone SigLIP vision model folder (`SiglipVisionModel`: config.json with model_type
// "siglip_vision_model" and the vision keys at the top level, tensors `vision_model.*`,
// preprocessor_config.json), as `clipmind make-tiny-model --arch siglip` writes and the vision
// benchmark loads. A "siglip" dual-encoder folder also works (its vision_config is used).
// Throws like the pieces it is made of (config, checkpoint validation, preprocessing config).
#pragma once

#include <filesystem>

#include "models/vision/image_preprocess.h"
#include "models/vision/siglip_vision.h"
#include "models/vision/vision_config.h"
#include "models/vision/vision_runtime.h"

namespace clipmind::models {

struct SiglipVisionModel {
  SiglipVisionConfig config;
  PreprocessConfig preprocess;
  SiglipVisionTower tower;
};

// Loads every layer, and post_layernorm + head when the config has the head.
SiglipVisionModel load_siglip_vision_model(const std::filesystem::path& model_dir,
                                           const VisionRuntime& runtime = {});

}  // namespace clipmind::models
