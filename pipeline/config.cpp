#include "pipeline/config.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "clipmind/error.h"

namespace clipmind::pipeline {

using nlohmann::json;

namespace {

constexpr double kMinCaptionWindowSeconds = 0.5;

[[noreturn]] void bad_value(const std::string& source, const std::string& key,
                            const std::string& problem) {
  const ErrorKind kind = source.rfind("--", 0) == 0 || source == "flags"
                             ? ErrorKind::kInvalidArgument
                             : ErrorKind::kInvalidInput;
  throw Error(kind, source + ": " + key + ": " + problem);
}

std::string type_name(const json& value) {
  if (value.is_null()) return "null";
  if (value.is_boolean()) return "a boolean";
  if (value.is_number_integer() || value.is_number_unsigned()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "an array";
  return "an object";
}

// Reads typed values out of the merged document, naming the key on every error.
class Reader {
 public:
  Reader(const json& root, std::string source) : root_(root), source_(std::move(source)) {}

  const json& at(const std::string& key) const {
    const json* node = &root_;
    size_t start = 0;
    while (true) {
      const size_t dot = key.find('.', start);
      node = &node->at(key.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return *node;
  }
  std::string str(const std::string& key) const {
    const json& v = at(key);
    if (!v.is_string()) bad_value(source_, key, "expected a string, got " + type_name(v));
    return v.get<std::string>();
  }
  bool boolean(const std::string& key) const {
    const json& v = at(key);
    if (!v.is_boolean()) bad_value(source_, key, "expected true or false, got " + type_name(v));
    return v.get<bool>();
  }
  int64_t integer(const std::string& key) const {
    const json& v = at(key);
    if (v.is_number_integer() || v.is_number_unsigned()) return v.get<int64_t>();
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) {
        return static_cast<int64_t>(d);
      }
    }
    bad_value(source_, key, "expected an integer, got " + type_name(v));
  }
  double number(const std::string& key) const {
    const json& v = at(key);
    if (!v.is_number()) bad_value(source_, key, "expected a number, got " + type_name(v));
    return v.get<double>();
  }
  std::optional<int64_t> opt_integer(const std::string& key) const {
    if (at(key).is_null()) return std::nullopt;
    return integer(key);
  }
  std::optional<double> opt_number(const std::string& key) const {
    if (at(key).is_null()) return std::nullopt;
    return number(key);
  }

 private:
  const json& root_;
  std::string source_;
};

// Every key of `user` must exist in `schema` (the defaults), objects where objects are.
void check_keys(const json& user, const json& schema, const std::string& prefix,
                const std::string& source) {
  if (!user.is_object()) {
    bad_value(source, prefix.empty() ? "(top level)" : prefix,
              "expected an object, got " + type_name(user));
  }
  for (const auto& [key, value] : user.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (!schema.contains(key)) {
      bad_value(source, path, "unknown key (see docs/pipeline.md for the settings)");
    }
    if (schema.at(key).is_object()) check_keys(value, schema.at(key), path, source);
  }
}

// Copies user leaves over the defaults. Setting one of budget.tokens / budget.ratio clears the
// other unless the same source sets both (which validate() then rejects).
void merge_into(json& base, const json& user) {
  for (const auto& [key, value] : user.items()) {
    if (value.is_object() && base.contains(key) && base[key].is_object()) {
      merge_into(base[key], value);
    } else {
      base[key] = value;
    }
  }
}

void exclusive_budget(json& merged, const json& user) {
  if (!user.contains("budget") || !user["budget"].is_object()) return;
  const json& b = user["budget"];
  const bool tokens = b.contains("tokens") && !b["tokens"].is_null();
  const bool ratio = b.contains("ratio") && !b["ratio"].is_null();
  if (ratio && !b.contains("tokens")) merged["budget"]["tokens"] = nullptr;
  if (tokens && !b.contains("ratio")) merged["budget"]["ratio"] = nullptr;
}

json parse_override_value(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return json(text);
  return value;
}

void require_one_of(const std::string& source, const std::string& key, const std::string& value,
                    std::initializer_list<const char*> allowed) {
  std::string list;
  for (const char* a : allowed) {
    if (value == a) return;
    list += list.empty() ? a : std::string(", ") + a;
  }
  bad_value(source, key, "'" + value + "' is not one of " + list);
}

void validate_as(const PipelineConfig& c, const std::string& source) {
  auto positive = [&](const std::string& key, double v) {
    if (!(v > 0.0)) bad_value(source, key, "must be > 0");
  };
  auto non_negative = [&](const std::string& key, double v) {
    if (!(v >= 0.0)) bad_value(source, key, "must be >= 0");
  };
  auto unit = [&](const std::string& key, double v) {
    if (!(v >= 0.0 && v <= 1.0)) bad_value(source, key, "must be in [0, 1]");
  };
  if (c.model.empty()) bad_value(source, "model", "must name a model (folder or repo id)");
  if (c.device != "cpu" && c.device != "cuda" && c.device.rfind("cuda:", 0) != 0) {
    bad_value(source, "device", "'" + c.device + "' is not cpu, cuda or cuda:N");
  }
  require_one_of(source, "dtype", c.dtype, {"auto", "float32", "bfloat16", "float16"});
  non_negative("threads", static_cast<double>(c.threads));
  require_one_of(source, "log_level", c.log_level, {"error", "warning", "info", "debug"});
  require_one_of(source, "select.method", c.select.method,
                 {"auto", "f2c", "anylength", "scene", "uniform"});
  non_negative("select.max_frames", static_cast<double>(c.select.max_frames));
  positive("select.max_candidates", static_cast<double>(c.select.max_candidates));
  non_negative("select.f2c_lambda_r", c.select.f2c_lambda_r);
  non_negative("select.f2c_lambda_l", c.select.f2c_lambda_l);
  if (!(c.select.f2c_s_max >= 1.0)) bad_value(source, "select.f2c_s_max", "must be >= 1");
  unit("select.scene_threshold", c.select.scene_threshold);
  positive("select.scene_max_probe_frames", static_cast<double>(c.select.scene_max_probe_frames));
  if (c.budget.tokens && c.budget.ratio) {
    bad_value(source, "budget", "give budget.tokens or budget.ratio, not both");
  }
  if (c.budget.tokens) positive("budget.tokens", static_cast<double>(*c.budget.tokens));
  if (c.budget.ratio) {
    if (!(*c.budget.ratio > 0.0 && *c.budget.ratio <= 1.0)) {
      bad_value(source, "budget.ratio", "must be in (0, 1]");
    }
  }
  require_one_of(source, "merge.method", c.merge.method, {"holitom", "tome", "divprune", "none"});
  if (c.merge.tau) unit("merge.tau", *c.merge.tau);
  unit("merge.beta", c.merge.beta);
  positive("merge.k_max", static_cast<double>(c.merge.k_max));
  positive("merge.max_window", static_cast<double>(c.merge.max_window));
  non_negative("merge.tome_window_frames", static_cast<double>(c.merge.tome_window_frames));
  non_negative("merge.divprune_window_frames", static_cast<double>(c.merge.divprune_window_frames));
  require_one_of(source, "inner.method", c.inner.method, {"auto", "none", "holitom", "fastv"});
  non_negative("inner.layer", static_cast<double>(c.inner.layer));
  unit("inner.ratio", c.inner.ratio);
  require_one_of(source, "decode.mode", c.decode.mode, {"accurate", "fast", "keyframe"});
  positive("decode.queue_frames", static_cast<double>(c.decode.queue_frames));
  positive("encode.batch_frames", static_cast<double>(c.encode.batch_frames));
  non_negative("encode.input_size", static_cast<double>(c.encode.input_size));
  non_negative("encode.reuse_psnr_db", c.encode.reuse_psnr_db);
  positive("generate.max_new_tokens", static_cast<double>(c.generate.max_new_tokens));
  non_negative("generate.temperature", c.generate.temperature);
  non_negative("generate.top_k", static_cast<double>(c.generate.top_k));
  if (!(c.generate.top_p > 0.0 && c.generate.top_p <= 1.0)) {
    bad_value(source, "generate.top_p", "must be in (0, 1]");
  }
  require_one_of(source, "generate.template", c.generate.template_name, {"hf_hub", "llava_qwen"});
  non_negative("cache.max_gb", c.cache.max_gb);
  non_negative("cache.ann_max_gb", c.cache.ann_max_gb);
  require_one_of(source, "cache.hash", c.cache.hash, {"sampled", "full"});
  if (c.caption.segment != "auto") {
    char* end = nullptr;
    const double seconds = std::strtod(c.caption.segment.c_str(), &end);
    if (end == c.caption.segment.c_str() || *end != '\0' || !(seconds > 0.0) ||
        !std::isfinite(seconds)) {
      bad_value(source, "caption.segment",
                "'" + c.caption.segment + "' is neither auto nor a positive number of seconds");
    }
    // Shorter captions could not be read, and a tiny window makes thousands of model calls.
    if (seconds < kMinCaptionWindowSeconds) {
      bad_value(source, "caption.segment",
                "'" + c.caption.segment + "' is shorter than the shortest caption window (0.5 s)");
    }
  }
  positive("caption.min_segment_s", c.caption.min_segment_s);
  if (!(c.caption.max_segment_s >= c.caption.min_segment_s)) {
    bad_value(source, "caption.max_segment_s", "must be >= caption.min_segment_s");
  }
  positive("caption.frames_per_segment", static_cast<double>(c.caption.frames_per_segment));
  positive("caption.sample_fps", c.caption.sample_fps);
  positive("caption.max_frames", static_cast<double>(c.caption.max_frames));
  positive("caption.max_new_tokens", static_cast<double>(c.caption.max_new_tokens));
  require_one_of(source, "caption.format", c.caption.format, {"srt", "vtt", "jsonl"});
}

std::string read_text_file(const std::filesystem::path& path) {
  std::error_code dir_ec;
  if (std::filesystem::is_directory(path, dir_ec)) {
    throw Error(ErrorKind::kInvalidArgument,
                path.string() + ": is a folder; the config is one JSON file (docs/pipeline.md)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    throw Error(exists ? ErrorKind::kIo : ErrorKind::kNotFound,
                path.string() + (exists ? ": cannot read config file" : ": no such config file"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::filesystem::path home_dir() {
  const char* home = std::getenv("HOME");
  return home && *home ? std::filesystem::path(home) : std::filesystem::path(".");
}

}  // namespace

json to_json(const PipelineConfig& c) {
  json j;
  j["model"] = c.model;
  j["relevance_model"] = c.relevance_model;
  j["device"] = c.device;
  j["dtype"] = c.dtype;
  j["threads"] = c.threads;
  j["offline"] = c.offline;
  j["separators"] = c.separators;
  j["log_level"] = c.log_level;
  j["select"] = {{"method", c.select.method},
                 {"max_frames", c.select.max_frames},
                 {"max_candidates", c.select.max_candidates},
                 {"f2c_lambda_r", c.select.f2c_lambda_r},
                 {"f2c_lambda_l", c.select.f2c_lambda_l},
                 {"f2c_s_max", c.select.f2c_s_max},
                 {"scene_threshold", c.select.scene_threshold},
                 {"scene_max_probe_frames", c.select.scene_max_probe_frames}};
  j["budget"] = {{"tokens", c.budget.tokens ? json(*c.budget.tokens) : json(nullptr)},
                 {"ratio", c.budget.ratio ? json(*c.budget.ratio) : json(nullptr)}};
  j["merge"] = {{"method", c.merge.method},
                {"tau", c.merge.tau ? json(*c.merge.tau) : json(nullptr)},
                {"beta", c.merge.beta},
                {"k_max", c.merge.k_max},
                {"max_window", c.merge.max_window},
                {"tome_window_frames", c.merge.tome_window_frames},
                {"divprune_window_frames", c.merge.divprune_window_frames}};
  j["inner"] = {{"method", c.inner.method}, {"layer", c.inner.layer}, {"ratio", c.inner.ratio}};
  j["decode"] = {{"mode", c.decode.mode}, {"queue_frames", c.decode.queue_frames}};
  j["encode"] = {{"batch_frames", c.encode.batch_frames},
                 {"input_size", c.encode.input_size},
                 {"reuse_psnr_db", c.encode.reuse_psnr_db}};
  j["generate"] = {{"max_new_tokens", c.generate.max_new_tokens},
                   {"temperature", c.generate.temperature},
                   {"top_k", c.generate.top_k},
                   {"top_p", c.generate.top_p},
                   {"seed", c.generate.seed},
                   {"template", c.generate.template_name},
                   {"system_prompt", c.generate.system_prompt}};
  j["cache"] = {{"enabled", c.cache.enabled},
                {"dir", c.cache.dir},
                {"max_gb", c.cache.max_gb},
                {"ann_max_gb", c.cache.ann_max_gb},
                {"hash", c.cache.hash}};
  j["caption"] = {{"segment", c.caption.segment},
                  {"min_segment_s", c.caption.min_segment_s},
                  {"max_segment_s", c.caption.max_segment_s},
                  {"frames_per_segment", c.caption.frames_per_segment},
                  {"sample_fps", c.caption.sample_fps},
                  {"max_frames", c.caption.max_frames},
                  {"prompt", c.caption.prompt},
                  {"max_new_tokens", c.caption.max_new_tokens},
                  {"format", c.caption.format},
                  {"overwrite", c.caption.overwrite}};
  j["chat"] = {{"history", c.chat.history}};
  return j;
}

json default_config_json() {
  return to_json(PipelineConfig{});
}

PipelineConfig config_from_json(const json& user, const std::string& source) {
  const json defaults = default_config_json();
  check_keys(user, defaults, "", source);
  json merged = defaults;
  merge_into(merged, user);
  exclusive_budget(merged, user);
  const Reader r(merged, source);
  PipelineConfig c;
  c.model = r.str("model");
  c.relevance_model = r.str("relevance_model");
  c.device = r.str("device");
  c.dtype = r.str("dtype");
  c.threads = r.integer("threads");
  c.offline = r.boolean("offline");
  c.separators = r.boolean("separators");
  c.log_level = r.str("log_level");
  c.select.method = r.str("select.method");
  c.select.max_frames = r.integer("select.max_frames");
  c.select.max_candidates = r.integer("select.max_candidates");
  c.select.f2c_lambda_r = r.number("select.f2c_lambda_r");
  c.select.f2c_lambda_l = r.number("select.f2c_lambda_l");
  c.select.f2c_s_max = r.number("select.f2c_s_max");
  c.select.scene_threshold = r.number("select.scene_threshold");
  c.select.scene_max_probe_frames = r.integer("select.scene_max_probe_frames");
  c.budget.tokens = r.opt_integer("budget.tokens");
  c.budget.ratio = r.opt_number("budget.ratio");
  c.merge.method = r.str("merge.method");
  c.merge.tau = r.opt_number("merge.tau");
  c.merge.beta = r.number("merge.beta");
  c.merge.k_max = r.integer("merge.k_max");
  c.merge.max_window = r.integer("merge.max_window");
  c.merge.tome_window_frames = r.integer("merge.tome_window_frames");
  c.merge.divprune_window_frames = r.integer("merge.divprune_window_frames");
  c.inner.method = r.str("inner.method");
  c.inner.layer = r.integer("inner.layer");
  c.inner.ratio = r.number("inner.ratio");
  c.decode.mode = r.str("decode.mode");
  c.decode.queue_frames = r.integer("decode.queue_frames");
  c.encode.batch_frames = r.integer("encode.batch_frames");
  c.encode.input_size = r.integer("encode.input_size");
  c.encode.reuse_psnr_db = r.number("encode.reuse_psnr_db");
  c.generate.max_new_tokens = r.integer("generate.max_new_tokens");
  c.generate.temperature = r.number("generate.temperature");
  c.generate.top_k = r.integer("generate.top_k");
  c.generate.top_p = r.number("generate.top_p");
  const int64_t seed = r.integer("generate.seed");
  if (seed < 0) bad_value(source, "generate.seed", "must be >= 0");
  c.generate.seed = static_cast<uint64_t>(seed);
  c.generate.template_name = r.str("generate.template");
  c.generate.system_prompt = r.str("generate.system_prompt");
  c.cache.enabled = r.boolean("cache.enabled");
  c.cache.dir = r.str("cache.dir");
  c.cache.max_gb = r.number("cache.max_gb");
  c.cache.ann_max_gb = r.number("cache.ann_max_gb");
  c.cache.hash = r.str("cache.hash");
  {
    // A number of seconds may be written as a number or as a string.
    const json& segment = r.at("caption.segment");
    if (segment.is_number()) {
      std::ostringstream text;
      text << segment.get<double>();
      c.caption.segment = text.str();
    } else {
      c.caption.segment = r.str("caption.segment");
    }
  }
  c.caption.min_segment_s = r.number("caption.min_segment_s");
  c.caption.max_segment_s = r.number("caption.max_segment_s");
  c.caption.frames_per_segment = r.integer("caption.frames_per_segment");
  c.caption.sample_fps = r.number("caption.sample_fps");
  c.caption.max_frames = r.integer("caption.max_frames");
  c.caption.prompt = r.str("caption.prompt");
  c.caption.max_new_tokens = r.integer("caption.max_new_tokens");
  c.caption.format = r.str("caption.format");
  c.caption.overwrite = r.boolean("caption.overwrite");
  c.chat.history = r.boolean("chat.history");
  validate_as(c, source);
  return c;
}

void validate(const PipelineConfig& config) {
  validate_as(config, "flags");
}

void apply_overrides(json& document, const std::vector<ConfigOverride>& overrides) {
  const json defaults = default_config_json();
  for (const ConfigOverride& o : overrides) {
    if (o.key.empty()) throw Error(ErrorKind::kInvalidArgument, "--set: empty key");
    json patch = parse_override_value(o.value);
    // Build {"a": {"b": value}} from "a.b" and check it like a file.
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      const size_t dot = o.key.find('.', start);
      parts.push_back(o.key.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      json wrapped = json::object();
      wrapped[*it] = std::move(patch);
      patch = std::move(wrapped);
    }
    check_keys(patch, defaults, "", "--set");
    const json* leaf_schema = &defaults;
    for (const std::string& p : parts)
      leaf_schema = &leaf_schema->at(p);
    if (leaf_schema->is_object()) {
      throw Error(ErrorKind::kInvalidArgument,
                  "--set " + o.key + ": is a section; set one of its keys (" + o.key + ".KEY)");
    }
    merge_into(document, patch);
    exclusive_budget(document, patch);
  }
}

double holitom_tau(const MergeConfig& merge, double keep_ratio) {
  if (merge.tau) return *merge.tau;
  return keep_ratio < 0.125 ? kHolitomTauLowRatio : kHolitomTau;
}

std::string inner_method(const PipelineConfig& config, int64_t llm_layers) {
  if (config.inner.method != "auto") return config.inner.method;
  return config.merge.method == "holitom" && llm_layers >= 2 ? "holitom" : "none";
}

std::filesystem::path user_config_path() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const std::filesystem::path base =
      xdg && *xdg ? std::filesystem::path(xdg) : home_dir() / ".config";
  return base / "clipmind" / "config.json";
}

LoadedConfig load_config(const ConfigSources& sources) {
  LoadedConfig loaded;
  std::optional<std::filesystem::path> file = sources.file;
  if (!file) {
    if (const char* env = std::getenv("CLIPMIND_CONFIG"); env && *env) {
      file = std::filesystem::path(env);
    } else if (sources.use_user_file) {
      std::error_code ec;
      const std::filesystem::path user = user_config_path();
      if (std::filesystem::is_regular_file(user, ec)) file = user;
    }
  }
  json document = json::object();
  if (file) {
    const std::string text = read_text_file(*file);
    try {
      document = json::parse(text);
    } catch (const json::exception& e) {  // also numbers JSON allows but a double cannot hold
      throw Error(ErrorKind::kInvalidInput,
                  file->string() + ": not valid JSON (" + std::string(e.what()) + ")");
    }
    // Checked on its own first, so an error names the file only when the file is at fault.
    (void)config_from_json(document, file->string());
    loaded.file = file;
  }
  // Overrides go on top of the file, then everything is read and checked once.
  json merged = default_config_json();
  merge_into(merged, document);
  exclusive_budget(merged, document);
  apply_overrides(merged, sources.overrides);
  loaded.config = config_from_json(merged, "flags");
  return loaded;
}

std::filesystem::path resolve_cache_dir(const CacheConfig& cache) {
  if (!cache.dir.empty()) return cache.dir;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const std::filesystem::path base =
      xdg && *xdg ? std::filesystem::path(xdg) : home_dir() / ".cache";
  return base / "clipmind";
}

}  // namespace clipmind::pipeline
