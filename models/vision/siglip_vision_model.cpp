#include "models/vision/siglip_vision_model.h"

#include <nlohmann/json.hpp>

#include "clipmind/error.h"
#include "models/weights/checkpoint.h"
#include "models/weights/json_file.h"

namespace clipmind::models {

SiglipVisionModel load_siglip_vision_model(const std::filesystem::path& dir,
                                           const VisionRuntime& runtime) {
  const auto path = dir / "config.json";
  const nlohmann::json root = read_json_file(path);
  const std::string type = json_opt_string(root, "model_type", path.string()).value_or("");
  SiglipVisionModel model;
  if (type == "siglip_vision_model") {
    model.config = parse_siglip_vision_config(root, path.string());
  } else if (type == "siglip") {
    const auto it = root.find("vision_config");
    model.config = parse_siglip_vision_config(
        it != root.end() && !it->is_null() ? *it : nlohmann::json::object(),
        path.string() + " (vision_config)");
    model.config.use_head = true;
  } else {
    throw Error(ErrorKind::kUnsupported,
                path.string() + ": model_type \"" + type + "\" is not a SigLIP vision model");
  }
  model.preprocess = read_preprocess_config(dir, /*video=*/false);
  const Checkpoint checkpoint = Checkpoint::open(dir);
  // A dual-encoder folder also holds the text tower and the logit scale/bias.
  const std::vector<std::string> others = {"text_model.", "logit_"};
  checkpoint.validate(
      siglip_vision_specs("vision_model.", model.config),
      type == "siglip" ? std::span<const std::string>(others) : std::span<const std::string>());
  VisionTowerLoad load;
  load.head = model.config.use_head;
  load.post_layernorm = checkpoint.contains("vision_model.post_layernorm.weight");
  load.dtype = runtime.dtype;
  load.device = runtime.device;
  model.tower = SiglipVisionTower(checkpoint, "vision_model.", model.config, load);
  return model;
}

}  // namespace clipmind::models
