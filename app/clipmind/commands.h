// Sub-commands of the `clipmind` CLI, grouped by the library that does the work.
// Each add_*_commands registers its sub-commands on the root CLI11 app; the callbacks only
// parse arguments, call a library, and print. Errors propagate as clipmind::Error.
#pragma once

namespace CLI {
class App;
}

namespace clipmind::cli {

void add_model_commands(CLI::App& app);     // tokenize, llm-eval, generate, make-tiny-model, embed
void add_compress_commands(CLI::App& app);  // plan, merge-eval
#ifdef CLIPMIND_HAVE_FFMPEG
void add_decode_commands(CLI::App& app);    // probe, frames
void add_pipeline_commands(CLI::App& app);  // ask, chat, caption
void add_index_commands(CLI::App& app);     // index, search
#endif

}  // namespace clipmind::cli
