// What the pipeline-backed commands (ask, chat, caption, config, index, search) share: the
// flags that map onto config keys, the config sources they make, and JSON text for their
// output. Parsing only; load_config() (pipeline/config.h) does the work and throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "pipeline/config.h"

namespace CLI {
class App;
}

namespace clipmind::cli {

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

// The help lines that differ between commands.
struct CommonFlagsHelp {
  std::string set;              // --set, with an example key of the command
  std::string model;            // what --model is for
  std::string relevance_model;  // what --relevance-model is for
};

void add_common_flags(CLI::App* cmd, CommonFlags& flags, const CommonFlagsHelp& help);

// --config, then the named flags' keys, then `command_overrides` (a command's own flags), then
// each --set KEY=VALUE last, so an explicit --set wins. Throws kInvalidArgument for a --set
// without '='.
pipeline::ConfigSources config_sources(
    const CommonFlags& flags, const std::vector<pipeline::ConfigOverride>& command_overrides = {});

// JSON text that never throws: a random model's answer or a file name may hold invalid UTF-8,
// which is written as U+FFFD.
std::string json_text(const nlohmann::json& value, int indent = -1);

}  // namespace clipmind::cli
