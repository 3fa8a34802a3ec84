#include <CLI/CLI.hpp>

#include "app/clipmind/commands.h"

namespace clipmind::cli {

void add_compress_commands(CLI::App& /*app*/) {}

}  // namespace clipmind::cli
