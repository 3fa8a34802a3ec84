// `clipmind ask`, `clipmind chat`, `clipmind caption` and `clipmind config`: argument parsing,
// terminal output and signal wiring around pipeline/. All work happens in the library.
//
// Output discipline: answers (or --json documents) go to stdout; logs and the progress bar go
// to stderr, and the bar is drawn only when stderr is a terminal. Ctrl-C cancels the running
// job through its CancelToken (it stops within a second and leaves no partial output; exit
// code 130); a second Ctrl-C ends the process at once.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <pthread.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "app/clipmind/commands.h"
#include "clipmind/error.h"
#include "pipeline/config.h"
#include "pipeline/log.h"
#include "pipeline/progress_bar.h"

namespace clipmind::cli {
namespace {

namespace fs = std::filesystem;

// Flags shared by the pipeline commands; each maps onto a config key.
struct CommonFlags {
  std::optional<std::string> config_file;
  std::vector<std::string> sets;
  bool verbose = false;
  bool quiet = false;
  std::optional<std::string> model;
  std::optional<std::string> relevance_model;
  std::optional<std::string> device;
  std::optional<int64_t> threads;
  bool no_cache = false;
  bool offline = false;
};

struct SelectionFlags {
  std::optional<int64_t> budget;
  std::optional<double> ratio;
  std::optional<std::string> method;
  std::optional<std::string> select;
  std::optional<int64_t> frames;
  std::optional<int64_t> max_new_tokens;
};

void add_common_flags(CLI::App* cmd, CommonFlags& f) {
  cmd->add_option("--config", f.config_file, "JSON config file (see docs/pipeline.md)");
  cmd->add_option("--set", f.sets, "Override any config key: --set merge.tau=0.7 (repeatable)");
  auto* verbose = cmd->add_flag("-v,--verbose", f.verbose, "Log every step (debug level)");
  cmd->add_flag("-q,--quiet", f.quiet, "Only errors on stderr, no progress bar")->excludes(verbose);
  cmd->add_option("--model", f.model, "Model folder or Hugging Face repo id (org/name[@revision])");
  cmd->add_option("--relevance-model", f.relevance_model,
                  "SigLIP dual encoder (folder or repo id) for F2C key-clip selection");
  cmd->add_option("--device", f.device, "cpu, cuda or cuda:N");
  cmd->add_option("--threads", f.threads, "Compute threads (0 = all cores)");
  cmd->add_flag("--no-cache", f.no_cache, "Do not read or write the token cache");
  cmd->add_flag("--offline", f.offline, "Never download models");
}

[[maybe_unused]] void add_selection_flags(CLI::App* cmd, SelectionFlags& f) {
  auto* budget = cmd->add_option("--budget", f.budget, "Visual token budget (incl. separators)");
  cmd->add_option("--ratio", f.ratio, "Share of the frames' visual tokens to keep (0..1]")
      ->excludes(budget);
  cmd->add_option("--method", f.method, "Token merging: holitom, tome, divprune or none")
      ->check(CLI::IsMember({"holitom", "tome", "divprune", "none"}));
  cmd->add_option("--select", f.select, "Frame selection: f2c, anylength, scene, uniform or auto")
      ->check(CLI::IsMember({"auto", "f2c", "anylength", "scene", "uniform"}));
  cmd->add_option("--frames", f.frames, "Frames given to the model (default: planner's)");
  cmd->add_option("--max-new-tokens", f.max_new_tokens, "Longest answer in tokens");
}

std::string json_text(const std::string& value) {
  return nlohmann::json(value).dump();
}

pipeline::ConfigSources sources_for(const CommonFlags& c, const SelectionFlags* s) {
  pipeline::ConfigSources sources;
  if (c.config_file) sources.file = fs::path(*c.config_file);
  auto set = [&](const std::string& key, const std::string& value) {
    sources.overrides.push_back({key, value});
  };
  // Named flags first, --set last: an explicit --set wins over everything.
  if (c.model) set("model", json_text(*c.model));
  if (c.relevance_model) set("relevance_model", json_text(*c.relevance_model));
  if (c.device) set("device", json_text(*c.device));
  if (c.threads) set("threads", std::to_string(*c.threads));
  if (c.no_cache) set("cache.enabled", "false");
  if (c.offline) set("offline", "true");
  if (c.verbose) set("log_level", "\"debug\"");
  if (c.quiet) set("log_level", "\"error\"");
  if (s) {
    if (s->budget) set("budget.tokens", std::to_string(*s->budget));
    if (s->ratio) set("budget.ratio", nlohmann::json(*s->ratio).dump());
    if (s->method) set("merge.method", json_text(*s->method));
    if (s->select) set("select.method", json_text(*s->select));
    if (s->frames) set("select.max_frames", std::to_string(*s->frames));
    if (s->max_new_tokens) set("generate.max_new_tokens", std::to_string(*s->max_new_tokens));
  }
  for (const std::string& kv : c.sets) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Error(ErrorKind::kInvalidArgument, "--set " + kv + ": expected KEY=VALUE");
    }
    set(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return sources;
}

void run_config(const CommonFlags& common, bool defaults) {
  if (defaults) {
    std::printf("%s\n", pipeline::default_config_json().dump(2).c_str());
    return;
  }
  const pipeline::LoadedConfig loaded = pipeline::load_config(sources_for(common, nullptr));
  if (loaded.file) std::fprintf(stderr, "clipmind: config from %s\n", loaded.file->c_str());
  std::printf("%s\n", pipeline::to_json(loaded.config).dump(2).c_str());
}

}  // namespace

void add_pipeline_commands(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand(
        "config", "Print the effective configuration (defaults < config file < flags) as JSON");
    auto common = std::make_shared<CommonFlags>();
    auto defaults = std::make_shared<bool>(false);
    add_common_flags(cmd, *common);
    cmd->add_flag("--defaults", *defaults, "Print the built-in defaults (the documented file)");
    cmd->callback([common, defaults] { run_config(*common, *defaults); });
  }
}

}  // namespace clipmind::cli
