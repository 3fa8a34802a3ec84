// `clipmind`: ask questions about long videos, caption and index archives, from the terminal.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "app/clipmind/commands.h"
#include "app/clipmind/terminal_text.h"
#include "clipmind/error.h"

namespace {

// Answers, JSON and summaries go to stdout through stdio's buffer: a full disk or a closed file
// behind `> out.json` shows only when the buffer is flushed, after the command has "succeeded".
// Reports that failure instead of exiting 0 with an empty or cut file.
int finish_stdout(int exit_code) {
  errno = 0;
  const bool flush_failed = std::fflush(stdout) != 0;
  const int flush_errno = errno;
  if (!flush_failed && !std::ferror(stdout)) return exit_code;
  const std::string why =
      flush_failed && flush_errno != 0 ? std::strerror(flush_errno) : "a write failed";
  std::fprintf(stderr,
               "clipmind: cannot write the output to standard output: %s; it is incomplete. "
               "Check free disk space and permissions.\n",
               why.c_str());
  return exit_code != 0 ? exit_code : clipmind::exit_code_for(clipmind::ErrorKind::kIo);
}

}  // namespace

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
                 clipmind::cli::terminal_safe(e.what()).c_str());
    // A question such as "-where is it?" reads as an option; '--' ends the options.
    if (std::string(e.what()).find("QUESTION") != std::string::npos) {
      std::fprintf(stderr,
                   "hint: a question that starts with '-' goes last, after the options and "
                   "'--': clipmind ask VIDEO [OPTIONS] -- \"-where is it?\"\n");
    }
    return clipmind::exit_code_for(clipmind::ErrorKind::kInvalidArgument);
  } catch (const clipmind::Error& e) {
    std::fflush(stdout);
    // Messages name files and quote input: keep their control characters off the terminal.
    std::fprintf(stderr, "clipmind: %s\n", clipmind::cli::terminal_safe(e.what()).c_str());
    return finish_stdout(clipmind::exit_code_for(e.kind()));
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "clipmind: internal error: %s\n",
                 clipmind::cli::terminal_safe(e.what()).c_str());
    return finish_stdout(1);
  }
  return finish_stdout(0);
}
