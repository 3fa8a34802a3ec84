// Model tools on the CLI: tokenize, llm-eval, generate, make-tiny-model. Argument parsing and
// printing only; the work is in models/.
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "app/clipmind/commands.h"
#include "clipmind/error.h"
#include "models/llm/decoder.h"
#include "models/llm/generator.h"
#include "models/llm/runtime.h"
#include "models/npy.h"
#include "models/npy_tensor.h"
#include "models/tiny/tiny_model.h"
#include "models/tokenizer/bpe_tokenizer.h"
#include "models/tokenizer/chat_template.h"

namespace clipmind::cli {
namespace {

using namespace clipmind::models;

struct RuntimeFlags {
  int threads = 0;
  std::string device = "cpu";
  // float32 by default, unlike the pipeline's auto: these commands check a model against
  // reference outputs, where bfloat16's rounding would hide real differences.
  std::string dtype = "float32";

  void add_to(CLI::App* app, bool with_device) {
    app->add_option("--threads", threads, "Compute threads (default: one per core)");
    if (with_device) {
      app->add_option("--device", device, "cpu or cuda[:N]")->capture_default_str();
      app->add_option("--dtype", dtype,
                      "float32, bfloat16 (float16 on CUDA) or auto (bfloat16 on CUDA and on CPUs "
                      "with native bfloat16)")
          ->capture_default_str();
    }
  }
  DecoderOptions decoder_options() const {
    set_compute_threads(threads);
    DecoderOptions options;
    options.device = parse_device(device);
    options.dtype = choose_dtype(dtype, options.device);
    return options;
  }
};

std::vector<int64_t> parse_id_list(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    size_t used = 0;
    int64_t value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) {
      throw Error(ErrorKind::kInvalidArgument,
                  "--ids: '" + item + "' is not an integer (expected e.g. 1,2,3)");
    }
    ids.push_back(value);
  }
  if (ids.empty()) throw Error(ErrorKind::kInvalidArgument, "--ids: no ids given");
  return ids;
}

std::vector<int64_t> read_id_npy(const std::string& path) {
  const NpyArray array = read_npy(path);
  if (array.shape.size() > 2 || (array.shape.size() == 2 && array.shape[0] != 1)) {
    throw Error(ErrorKind::kInvalidInput, path + ": ids must be a 1-D array (or [1, n])");
  }
  std::vector<int64_t> ids;
  if (array.dtype == NpyDtype::kInt32) {
    for (const int32_t v : array.values<int32_t>())
      ids.push_back(v);
  } else if (array.dtype == NpyDtype::kInt64) {
    for (const int64_t v : array.values<int64_t>())
      ids.push_back(v);
  } else {
    throw Error(ErrorKind::kInvalidInput,
                path + ": ids must be int32 or int64, not " + npy_dtype_descr(array.dtype));
  }
  return ids;
}

void add_tokenize(CLI::App& app) {
  struct Args {
    std::string model;
    bool json = false;
    bool no_special = false;
    std::vector<std::string> texts;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub =
      app.add_subcommand("tokenize", "Print the token ids of each text (or of each stdin line)");
  sub->add_option("--model", args->model, "Model folder with tokenizer.json")->required();
  sub->add_flag("--json", args->json, "One JSON object per line: {\"text\", \"ids\"}");
  sub->add_flag("--no-special", args->no_special, "Encode special-token text as plain text");
  sub->add_option("text", args->texts, "Texts to encode (default: read lines from stdin)");
  sub->callback([args] {
    const Tokenizer tokenizer = Tokenizer::from_model_dir(args->model);
    const auto emit = [&](const std::string& text, size_t line) {
      std::vector<int64_t> ids;
      try {
        ids = tokenizer.encode(text, !args->no_special);
      } catch (const Error& e) {
        throw Error(e.kind(), "input " + std::to_string(line) + ": " + e.what());
      }
      if (args->json) {
        std::cout << nlohmann::json{{"text", text}, {"ids", ids}}.dump() << '\n';
      } else {
        for (size_t i = 0; i < ids.size(); ++i)
          std::cout << (i ? " " : "") << ids[i];
        std::cout << '\n';
      }
    };
    if (!args->texts.empty()) {
      for (size_t i = 0; i < args->texts.size(); ++i)
        emit(args->texts[i], i + 1);
    } else {
      std::string line;
      size_t n = 0;
      while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        emit(line, ++n);
      }
    }
    std::cout.flush();
  });
}

void add_llm_eval(CLI::App& app) {
  struct Args {
    std::string model;
    std::string ids;
    std::string ids_npy;
    std::string embeds_npy;
    std::string out;
    int64_t chunk = 0;
    RuntimeFlags runtime;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "llm-eval", "Run the decoder on ids (and embeddings) and write float32 logits");
  sub->add_option("--model", args->model, "Model folder (config.json, safetensors)")->required();
  auto* ids = sub->add_option("--ids", args->ids, "Comma-separated token ids, e.g. 1,2,3");
  auto* ids_npy = sub->add_option("--ids-npy", args->ids_npy, ".npy file of int32/int64 ids");
  ids->excludes(ids_npy);
  sub->add_option("--embeds-npy", args->embeds_npy,
                  ".npy [n, hidden] input embeddings placed before the ids");
  sub->add_option("--out", args->out, "Write logits [positions, vocab] here as .npy");
  sub->add_option("--chunk", args->chunk, "Prefill in chunks of this many positions");
  args->runtime.add_to(sub, true);
  sub->callback([args] {
    if (args->ids.empty() && args->ids_npy.empty() && args->embeds_npy.empty()) {
      throw Error(ErrorKind::kInvalidArgument, "llm-eval needs --ids, --ids-npy or --embeds-npy");
    }
    std::vector<int64_t> token_ids;
    if (!args->ids.empty()) token_ids = parse_id_list(args->ids);
    if (!args->ids_npy.empty()) token_ids = read_id_npy(args->ids_npy);
    PromptInput input;
    if (!args->embeds_npy.empty()) {
      const NpyArray array = read_npy(args->embeds_npy);
      if (array.shape.size() != 2 ||
          !(array.dtype == NpyDtype::kFloat32 || array.dtype == NpyDtype::kFloat64 ||
            array.dtype == NpyDtype::kFloat16)) {
        throw Error(ErrorKind::kInvalidInput,
                    args->embeds_npy + ": embeddings must be a float [n, hidden] array");
      }
      input.add_embeddings(npy_to_tensor(array));
    }
    input.add_tokens(token_ids);
    const Decoder decoder = Decoder::load(args->model, args->runtime.decoder_options());
    KvCache cache = decoder.new_cache();
    ForwardOptions options;
    options.logits = LogitsMode::kAll;
    options.chunk_size = args->chunk;
    const at::Tensor logits = decoder.forward(input, cache, options).logits;
    if (!args->out.empty()) {
      write_npy(args->out, tensor_to_npy(logits.contiguous()));
      std::printf("logits [%lld, %lld] float32 written to %s\n",
                  static_cast<long long>(logits.size(0)), static_cast<long long>(logits.size(1)),
                  args->out.c_str());
    } else {
      const at::Tensor best = logits.argmax(1);
      std::printf("positions %lld, vocab %lld; argmax per position:",
                  static_cast<long long>(logits.size(0)), static_cast<long long>(logits.size(1)));
      for (int64_t i = 0; i < best.size(0); ++i)
        std::printf(" %lld", static_cast<long long>(best[i].item<int64_t>()));
      std::printf("\n");
    }
  });
}

void add_generate(CLI::App& app) {
  struct Args {
    std::string model;
    std::string prompt;
    std::string system;
    int64_t max_tokens = 256;
    double temperature = 0.0;
    int64_t top_k = 0;
    double top_p = 1.0;
    uint64_t seed = 0;
    bool raw = false;
    bool stats = false;
    RuntimeFlags runtime;
  };
  auto args = std::make_shared<Args>();
  CLI::App* sub =
      app.add_subcommand("generate", "Generate text from a prompt, streaming it to stdout");
  sub->add_option("--model", args->model, "Model folder (config, safetensors, tokenizer)")
      ->required();
  sub->add_option("prompt", args->prompt, "The prompt ('-' reads it from stdin)")->required();
  sub->add_option("--max-tokens", args->max_tokens, "Most tokens to generate")
      ->capture_default_str();
  sub->add_option("--temperature", args->temperature, "0 = greedy")->capture_default_str();
  sub->add_option("--top-k", args->top_k, "Sample from the k most likely tokens (0 = off)");
  sub->add_option("--top-p", args->top_p, "Nucleus sampling mass (1 = off)");
  sub->add_option("--seed", args->seed, "Random seed for sampling")->capture_default_str();
  sub->add_option("--system", args->system, "System message (chat template only)");
  sub->add_flag("--raw", args->raw, "Feed the prompt as is, without the chat template");
  sub->add_flag("--stats", args->stats, "Print token counts and speeds to stderr");
  args->runtime.add_to(sub, true);
  sub->callback([args] {
    if (args->prompt == "-") {
      std::ostringstream text;
      text << std::cin.rdbuf();
      args->prompt = text.str();
    }
    if (const auto bad = find_invalid_utf8(args->prompt)) {
      throw Error(ErrorKind::kInvalidInput, "the prompt is not valid UTF-8 (bad byte at offset " +
                                                std::to_string(*bad) + ")");
    }
    const Tokenizer tokenizer = Tokenizer::from_model_dir(args->model);
    const Decoder decoder = Decoder::load(args->model, args->runtime.decoder_options());
    std::vector<int64_t> ids;
    GenerationOptions options;
    if (args->raw) {
      ids = tokenizer.encode(args->prompt);
    } else {
      const ChatTemplate chat = ChatTemplate::from_model_dir(args->model, tokenizer);
      std::vector<ChatMessage> messages;
      if (!args->system.empty()) messages.push_back({"system", args->system});
      messages.push_back({"user", args->prompt});
      ids = chat.encode(tokenizer, messages);
      options.stop_tokens = chat.stop_token_ids(tokenizer);
    }
    for (const int64_t id : decoder.config().eos_token_ids)
      options.stop_tokens.push_back(id);
    options.max_new_tokens = args->max_tokens;
    options.sampling = {args->temperature, args->top_k, args->top_p, args->seed};
    options.on_token = [](const TokenEvent& event) {
      std::fwrite(event.text.data(), 1, event.text.size(), stdout);
      std::fflush(stdout);
      return true;
    };
    KvCache cache = decoder.new_cache();
    const GenerationResult result =
        generate(decoder, cache, PromptInput::tokens(ids), &tokenizer, options);
    std::printf("\n");
    if (args->stats) {
      const double n = static_cast<double>(result.ids.size());
      std::fprintf(
          stderr,
          "prompt %lld tokens in %.2f s (%.1f tok/s); generated %zu tokens in %.2f s (%.1f tok/s); "
          "stop: %s\n",
          static_cast<long long>(result.prompt_tokens), result.prefill_seconds,
          static_cast<double>(result.prompt_tokens) / std::max(result.prefill_seconds, 1e-9),
          result.ids.size(), result.decode_seconds, n / std::max(result.decode_seconds, 1e-9),
          stop_reason_name(result.stop).c_str());
    }
  });
}

void add_make_tiny_model(CLI::App& app) {
  struct Args {
    std::string arch;
    std::string out;
    std::string dims = "tiny";
    uint64_t seed = 0;
    int threads = 0;
  };
  auto args = std::make_shared<Args>();
  std::string archs;
  for (const auto& a : tiny_model_archs())
    archs += (archs.empty() ? "" : "|") + a.name;
  CLI::App* sub = app.add_subcommand("make-tiny-model",
                                     "Write a random-weight model folder in the real HF layout");
  sub->add_option("--arch", args->arch, "Architecture: " + archs)->required();
  sub->add_option("out_dir", args->out, "Folder to create")->required();
  sub->add_option("--dims", args->dims, "tiny or real-0.5b (Qwen2-0.5B dimensions)")
      ->capture_default_str();
  sub->add_option("--seed", args->seed, "Random seed")->capture_default_str();
  sub->add_option("--threads", args->threads, "Compute threads (default: one per core)");
  sub->callback([args] {
    set_compute_threads(args->threads);
    TinyModelOptions options;
    options.dims = parse_tiny_dims(args->dims);
    options.seed = args->seed;
    write_tiny_model(args->arch, args->out, options);
    std::printf("wrote %s model (%s) to %s\n", args->arch.c_str(), args->dims.c_str(),
                args->out.c_str());
  });
}

}  // namespace

// vision_commands.cpp: `embed` (SigLIP dual encoder).
void add_vision_commands(CLI::App& app);

void add_model_commands(CLI::App& app) {
  add_vision_commands(app);
  add_tokenize(app);
  add_llm_eval(app);
  add_generate(app);
  add_make_tiny_model(app);
}

}  // namespace clipmind::cli
