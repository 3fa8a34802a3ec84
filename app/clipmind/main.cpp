// `clipmind`: ask questions about long videos, caption and index archives, from the terminal.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

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

// The first argument that starts with '-' (not an option of ours) and names an existing file.
std::optional<std::string> dash_file(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-' || arg.rfind("--", 0) == 0) continue;
    std::error_code ec;
    if (std::filesystem::exists(arg, ec)) return arg;
  }
  return std::nullopt;
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
    // A file named "-clip.mp4" reads as an option too, and the error then names whatever
    // argument went missing: say which file it was.
    if (const std::optional<std::string> file = dash_file(argc, argv)) {
      std::fprintf(stderr,
                   "hint: '%s' is a file whose name starts with '-', which reads as an option: "
                   "write it as './%s', or put it after the options and '--'\n",
                   clipmind::cli::terminal_safe(*file).c_str(),
                   clipmind::cli::terminal_safe(*file).c_str());
    } else if (std::string(e.what()).find("QUESTION") != std::string::npos) {
      // A question such as "-where is it?" reads as an option; '--' ends the options.
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
