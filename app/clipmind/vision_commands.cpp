// `clipmind embed`: SigLIP dual-encoder embeddings of images and texts, or their similarities,
// for debugging and scripting. Registered by add_model_commands (model_commands.cpp).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "app/clipmind/image_file.h"
#include "clipmind/error.h"
#include "models/llm/runtime.h"
#include "models/siglip/dual_encoder.h"

namespace clipmind::cli {
namespace {

struct EmbedArgs {
  std::string model;
  std::vector<std::string> images;
  std::vector<std::string> texts;
  bool json = false;
  bool sim = false;
  std::string device = "cpu";
  int threads = 0;
};

std::vector<float> row_of(const at::Tensor& m, int64_t i) {
  const at::Tensor r = m[i].to(at::kCPU, at::kFloat).contiguous();
  return {r.data_ptr<float>(), r.data_ptr<float>() + r.numel()};
}

void print_vector(const std::string& label, const std::vector<float>& v) {
  std::printf("%s:", label.c_str());
  for (const float x : v)
    std::printf(" %.6f", static_cast<double>(x));
  std::printf("\n");
}

void run_embed(const EmbedArgs& args) {
  if (args.images.empty() && args.texts.empty())
    throw Error(ErrorKind::kInvalidArgument, "embed: give --image FILE... and/or --text TEXT...");
  models::set_compute_threads(args.threads);
  models::VisionRuntime runtime;
  runtime.device = models::parse_device(args.device);
  const models::SiglipDualEncoder model = models::SiglipDualEncoder::load(args.model, runtime);

  // Read every image before any model work so a bad file fails fast.
  std::vector<RgbImage> pictures;
  for (const auto& file : args.images)
    pictures.push_back(read_rgb_image(file));
  std::vector<models::RgbImageView> views;
  for (const auto& p : pictures)
    views.push_back({p.pixels.data(), p.height, p.width, 0});

  const at::Tensor image_embeds = model.embed_images(views);
  const at::Tensor text_embeds = model.embed_texts(args.texts);

  nlohmann::json out;
  if (args.json) {
    out["model"] = args.model;
    out["embedding_size"] = model.embedding_size();
    out["logit_scale"] = model.logit_scale();
    out["logit_bias"] = model.logit_bias();
  }
  if (!args.sim) {
    for (size_t i = 0; i < args.images.size(); ++i) {
      const auto v = row_of(image_embeds, static_cast<int64_t>(i));
      if (args.json) {
        out["images"].push_back({{"file", args.images[i]}, {"embedding", v}});
      } else {
        print_vector("image " + args.images[i], v);
      }
    }
    for (size_t i = 0; i < args.texts.size(); ++i) {
      const auto v = row_of(text_embeds, static_cast<int64_t>(i));
      if (args.json) {
        out["texts"].push_back({{"text", args.texts[i]},
                                {"ids", model.tokenizer().encode(args.texts[i])},
                                {"embedding", v}});
      } else {
        print_vector("text \"" + args.texts[i] + "\"", v);
      }
    }
  } else if (!args.images.empty() && !args.texts.empty()) {
    // Image-text pairs: cosine, SigLIP logit and sigmoid probability.
    const at::Tensor cos = at::matmul(image_embeds, text_embeds.t()).to(at::kCPU);
    const at::Tensor logits = model.logits(image_embeds, text_embeds).to(at::kCPU);
    const at::Tensor probs = at::sigmoid(logits);
    if (!args.json) std::printf("image\ttext\tcosine\tlogit\tprobability\n");
    for (size_t i = 0; i < args.images.size(); ++i) {
      for (size_t j = 0; j < args.texts.size(); ++j) {
        const auto ii = static_cast<int64_t>(i);
        const auto jj = static_cast<int64_t>(j);
        const double c = cos[ii][jj].item<double>();
        const double l = logits[ii][jj].item<double>();
        const double p = probs[ii][jj].item<double>();
        if (args.json) {
          out["similarity"].push_back({{"image", args.images[i]},
                                       {"text", args.texts[j]},
                                       {"cosine", c},
                                       {"logit", l},
                                       {"probability", p}});
        } else {
          std::printf("%s\t%s\t%.6f\t%.6f\t%.6f\n", args.images[i].c_str(), args.texts[j].c_str(),
                      c, l, p);
        }
      }
    }
  } else {
    // One kind only: cosine similarity between every pair.
    const bool images = !args.images.empty();
    const auto& names = images ? args.images : args.texts;
    const at::Tensor e = images ? image_embeds : text_embeds;
    const at::Tensor cos = at::matmul(e, e.t()).to(at::kCPU);
    if (!args.json) std::printf("a\tb\tcosine\n");
    for (size_t i = 0; i < names.size(); ++i) {
      for (size_t j = 0; j < names.size(); ++j) {
        const double c = cos[static_cast<int64_t>(i)][static_cast<int64_t>(j)].item<double>();
        if (args.json) {
          out["similarity"].push_back({{"a", names[i]}, {"b", names[j]}, {"cosine", c}});
        } else {
          std::printf("%s\t%s\t%.6f\n", names[i].c_str(), names[j].c_str(), c);
        }
      }
    }
  }
  if (args.json) std::printf("%s\n", out.dump(2).c_str());
}

}  // namespace

void add_vision_commands(CLI::App& app) {
  auto args = std::make_shared<EmbedArgs>();
  CLI::App* embed = app.add_subcommand(
      "embed", "SigLIP embeddings of images and texts (L2-normalised), or their similarities");
  embed->add_option("--model", args->model, "SigLIP dual-encoder folder (google/siglip-* layout)")
      ->required();
  embed->add_option("--image", args->images, "image files (JPEG, PNG, ...)");
  embed->add_option("--text", args->texts, "texts");
  embed->add_flag("--json", args->json, "print JSON");
  embed->add_flag("--sim", args->sim,
                  "print similarities instead of embeddings: image-text cosine, logit and "
                  "probability, or pairwise cosines when only one kind is given");
  embed->add_option("--device", args->device, "cpu (default) or cuda[:N]");
  embed->add_option("--threads", args->threads, "compute threads (0 = one per core)");
  embed->callback([args] { run_embed(*args); });
}

}  // namespace clipmind::cli
