#include <CLI/CLI.hpp>

#include "app/clipmind/commands.h"

namespace clipmind::cli {

void add_pipeline_commands(CLI::App& /*app*/) {}

}  // namespace clipmind::cli
