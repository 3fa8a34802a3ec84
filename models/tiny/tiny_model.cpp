#include "models/tiny/tiny_model.h"

#include <random>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "clipmind/atomic_file.h"
#include "clipmind/error.h"
#include "models/llm/runtime.h"
#include "models/vlm/tiny_vlm.h"
#include "models/weights/safetensors.h"

namespace clipmind::models {
namespace fs = std::filesystem;

namespace {

void write_decoder_model(DecoderArch arch, const fs::path& dir, const TinyModelOptions& options) {
  DecoderConfig config = tiny_decoder_config(arch, options.dims);
  const TinyTokenizerInfo tokens = write_tiny_tokenizer(
      dir, config.vocab_size,
      arch == DecoderArch::kQwen2 ? qwen2_chat_template() : smollm2_chat_template());
  config.bos_token_id = tokens.special.at("<|endoftext|>");
  config.eos_token_ids = {tokens.special.at("<|im_end|>")};
  const at::ScalarType dtype = options.dims == TinyDims::kTiny ? at::kFloat : at::kBFloat16;
  nlohmann::json json = decoder_config_json(config);
  json["torch_dtype"] = dtype_name(dtype);
  write_file_atomically(dir / "config.json", json.dump(2));
  const nlohmann::json generation = {
      {"bos_token_id", tokens.special.at("<|endoftext|>")},
      {"eos_token_id", {tokens.special.at("<|im_end|>"), tokens.special.at("<|endoftext|>")}},
      {"do_sample", false}};
  write_file_atomically(dir / "generation_config.json", generation.dump(2));
  write_safetensors(dir / "model.safetensors",
                    random_decoder_tensors(config, {}, options.seed, dtype));
}

}  // namespace

TinyDims parse_tiny_dims(const std::string& name) {
  if (name == "tiny") return TinyDims::kTiny;
  if (name == "real-0.5b") return TinyDims::kReal05B;
  throw Error(ErrorKind::kInvalidArgument, "unknown dims '" + name + "' (use tiny or real-0.5b)");
}

std::string tiny_dims_name(TinyDims dims) {
  return dims == TinyDims::kReal05B ? "real-0.5b" : "tiny";
}

const std::vector<TinyArch>& tiny_model_archs() {
  // Other model families add their writers here.
  static const std::vector<TinyArch> archs = {
      {"qwen2", "Qwen2ForCausalLM (q/k/v biases, tied head, ChatML template)",
       [](const fs::path& dir, const TinyModelOptions& o) {
         write_decoder_model(DecoderArch::kQwen2, dir, o);
       }},
      {"llama", "LlamaForCausalLM (no biases, separate head, SmolLM2 template)",
       [](const fs::path& dir, const TinyModelOptions& o) {
         write_decoder_model(DecoderArch::kLlama, dir, o);
       }},
      {"siglip", "SiglipVisionModel (vision tower only, google/siglip-* layout)",
       [](const fs::path& dir, const TinyModelOptions& o) {
         write_tiny_siglip_vision(dir, tiny_dims_name(o.dims), o.seed);
       }},
      {"siglip-dual", "SiglipModel (text + vision towers, SentencePiece tokenizer)",
       [](const fs::path& dir, const TinyModelOptions& o) {
         write_tiny_siglip_dual(dir, tiny_dims_name(o.dims), o.seed);
       }},
      {"llava-onevision", "LlavaOnevisionForConditionalGeneration (SigLIP + projector + Qwen2)",
       [](const fs::path& dir, const TinyModelOptions& o) {
         write_tiny_llava_onevision(dir, tiny_dims_name(o.dims), o.seed);
       }},
  };
  return archs;
}

void write_tiny_model(const std::string& arch, const fs::path& out_dir,
                      const TinyModelOptions& options) {
  const auto& archs = tiny_model_archs();
  const auto found =
      std::find_if(archs.begin(), archs.end(), [&](const TinyArch& a) { return a.name == arch; });
  if (found == archs.end()) {
    std::string names;
    for (const auto& a : archs)
      names += (names.empty() ? "" : ", ") + a.name;
    throw Error(ErrorKind::kInvalidArgument,
                "unknown architecture '" + arch + "' (known: " + names + ")");
  }
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !(fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec))) {
    throw Error(ErrorKind::kInvalidArgument,
                out_dir.string() + ": already exists and is not an empty folder");
  }
  const fs::path parent = out_dir.has_parent_path() ? out_dir.parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  if (ec) throw Error(ErrorKind::kIo, parent.string() + ": cannot create: " + ec.message());
  std::random_device random;
  const fs::path temp =
      parent / (out_dir.filename().string() + ".part-" + std::to_string(random()));
  fs::create_directory(temp, ec);
  if (ec) throw Error(ErrorKind::kIo, temp.string() + ": cannot create: " + ec.message());
  try {
    found->write(temp, options);
    if (fs::exists(out_dir, ec)) fs::remove(out_dir, ec);
    // Fsyncs the parent folder after the rename: without it a crash could bring back the
    // temporary name and leave no model folder although the command said it wrote one.
    rename_into_place(temp, out_dir);
  } catch (const Error& e) {
    fs::remove_all(temp, ec);
    // A failed write names a file in the temporary folder, which is gone now: name the target.
    const std::string what = e.what();
    if (what.starts_with(out_dir.string() + ":")) throw;
    throw Error(e.kind(),
                out_dir.string() + ": cannot write the model (nothing was left behind): " + what);
  } catch (...) {
    fs::remove_all(temp, ec);
    throw;
  }
}

DecoderConfig tiny_decoder_config(DecoderArch arch, TinyDims dims) {
  DecoderConfig c;
  c.arch = arch;
  const bool qwen = arch == DecoderArch::kQwen2;
  if (dims == TinyDims::kTiny) {
    c.vocab_size = 512;
    c.hidden_size = 64;
    c.intermediate_size = 160;
    c.num_layers = 2;
    c.num_heads = 4;
    c.num_kv_heads = 2;
    c.max_position_embeddings = 4096;
  } else {  // Qwen2-0.5B
    c.vocab_size = 151936;
    c.hidden_size = 896;
    c.intermediate_size = 4864;
    c.num_layers = 24;
    c.num_heads = 14;
    c.num_kv_heads = 2;
    c.max_position_embeddings = 32768;
  }
  c.head_dim = c.hidden_size / c.num_heads;
  c.rope_theta = qwen ? 1e6 : 1e4;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = qwen;
  c.qkv_bias = qwen;
  return c;
}

std::vector<std::pair<std::string, at::Tensor>> random_decoder_tensors(
    const DecoderConfig& c, const DecoderWeightNames& names, uint64_t seed, at::ScalarType dtype) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  // Small models get larger spreads (as in tests/data/llm-golden) so attention is not uniform;
  // large ones the usual initializer range.
  const bool small = c.hidden_size < 256;
  const auto normal = [&](std::vector<int64_t> shape, double std) {
    return (at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)) * std).to(dtype);
  };
  const auto norm_weight = [&](int64_t n) {
    return (at::randn({n}, gen, at::TensorOptions().dtype(at::kFloat)) * (small ? 0.15 : 0.02) +
            1.0)
        .to(dtype);
  };
  const double base = 0.02;
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& spec : decoder_tensor_specs(c, names)) {
    const std::string& name = spec.name;
    const auto ends = [&](const std::string& suffix) {
      return name.size() >= suffix.size() &&
             name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (name == names.lm_head) {
      if (!c.tie_word_embeddings)
        out.emplace_back(name, normal({c.vocab_size, c.hidden_size}, small ? 0.3 : base));
      continue;
    }
    if (ends("embed_tokens.weight")) {
      out.emplace_back(name, normal({c.vocab_size, c.hidden_size}, small ? 0.1 : base));
    } else if (ends("norm.weight")) {
      out.emplace_back(name, norm_weight(spec.shape[0]));
    } else if (ends(".bias")) {
      out.emplace_back(name, normal(spec.shape, small ? 0.3 : base));
    } else if (ends("q_proj.weight") || ends("k_proj.weight")) {
      out.emplace_back(name, normal(spec.shape, small ? 0.12 : base));
    } else if (ends("v_proj.weight")) {
      out.emplace_back(name, normal(spec.shape, small ? 0.1 : base));
    } else if (ends("o_proj.weight")) {
      out.emplace_back(name, normal(spec.shape, small ? 0.2 : base));
    } else if (ends("down_proj.weight")) {
      out.emplace_back(name, normal(spec.shape, small ? 0.15 : base));
    } else {
      out.emplace_back(name, normal(spec.shape, small ? 0.1 : base));
    }
  }
  return out;
}

}  // namespace clipmind::models
