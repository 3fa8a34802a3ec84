#include "app/clipmind/pipeline_flags.h"

#include <filesystem>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "clipmind/error.h"

namespace clipmind::cli {

void add_common_flags(CLI::App* cmd, CommonFlags& f, const CommonFlagsHelp& help) {
  cmd->add_option("--config", f.config_file, "JSON config file (see docs/pipeline.md)");
  cmd->add_option("--set", f.sets, help.set);
  auto* verbose = cmd->add_flag("-v,--verbose", f.verbose, "Log every step (debug level)");
  cmd->add_flag("-q,--quiet", f.quiet, "Only errors on stderr, no progress bar")->excludes(verbose);
  cmd->add_option("--model", f.model, help.model);
  cmd->add_option("--relevance-model", f.relevance_model, help.relevance_model);
  cmd->add_option("--device", f.device, "cpu, cuda or cuda:N");
  cmd->add_option("--threads", f.threads, "Compute threads (0 = all cores)");
  cmd->add_flag("--no-cache", f.no_cache, "Do not read or write the token cache");
  cmd->add_flag("--offline", f.offline, "Never download models");
}

pipeline::ConfigSources config_sources(
    const CommonFlags& f, const std::vector<pipeline::ConfigOverride>& command_overrides) {
  pipeline::ConfigSources sources;
  if (f.config_file) sources.file = std::filesystem::path(*f.config_file);
  auto set = [&](const std::string& key, const std::string& value) {
    sources.overrides.push_back({key, value});
  };
  if (f.model) set("model", json_text(*f.model));
  if (f.relevance_model) set("relevance_model", json_text(*f.relevance_model));
  if (f.device) set("device", json_text(*f.device));
  if (f.threads) set("threads", std::to_string(*f.threads));
  if (f.no_cache) set("cache.enabled", "false");
  if (f.offline) set("offline", "true");
  if (f.verbose) set("log_level", "\"debug\"");
  if (f.quiet) set("log_level", "\"error\"");
  sources.overrides.insert(sources.overrides.end(), command_overrides.begin(),
                           command_overrides.end());
  for (const std::string& kv : f.sets) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Error(ErrorKind::kInvalidArgument, "--set " + kv + ": expected KEY=VALUE");
    }
    set(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return sources;
}

std::string json_text(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace clipmind::cli
