// `clipmind`: ask questions about long videos, caption and index archives, from the terminal.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "app/clipmind/commands.h"
#include "clipmind/error.h"

int main(int argc, char** argv) {
  CLI::App app{"clipmind: ask questions about long videos and get timestamped answers"};
  app.name("clipmind");
  app.set_version_flag("--version", CLIPMIND_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);

  clipmind::cli::add_model_commands(app);
  clipmind::cli::add_compress_commands(app);
#ifdef CLIPMIND_HAVE_FFMPEG
  clipmind::cli::add_decode_commands(app);
  clipmind::cli::add_pipeline_commands(app);
  clipmind::cli::add_index_commands(app);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "clipmind: %s\nRun 'clipmind --help' (or 'clipmind COMMAND --help').\n",
                 e.what());
    return clipmind::exit_code_for(clipmind::ErrorKind::kInvalidArgument);
  } catch (const clipmind::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "clipmind: %s\n", e.what());
    return clipmind::exit_code_for(e.kind());
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "clipmind: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
