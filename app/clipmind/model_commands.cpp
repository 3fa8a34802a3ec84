#include <CLI/CLI.hpp>

#include "app/clipmind/commands.h"

namespace clipmind::cli {

// vision_commands.cpp: `embed` (SigLIP dual encoder).
void add_vision_commands(CLI::App& app);

void add_model_commands(CLI::App& app) {
  add_vision_commands(app);
}

}  // namespace clipmind::cli
