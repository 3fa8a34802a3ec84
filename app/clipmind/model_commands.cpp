#include <CLI/CLI.hpp>

#include "app/clipmind/commands.h"

namespace clipmind::cli {

void add_model_commands(CLI::App& /*app*/) {}

}  // namespace clipmind::cli
