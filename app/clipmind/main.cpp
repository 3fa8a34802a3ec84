// `clipmind`: ask questions about long videos, caption and index archives, from the terminal.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

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

// Levenshtein distance, for "did you mean" on a mistyped command.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// CLI11 reports a first word that is no command as "A subcommand is required" (or as an
// extra argument); a person typed "aks", or "clipmind video.mp4 'question'" without "ask".
// Returns the message (with its hint) for that case, or nullopt when the first word is fine.
std::optional<std::string> unknown_command_message(const CLI::App& app, int argc, char** argv) {
  if (argc < 2) return std::nullopt;
  const std::string word = argv[1];
  if (word.empty() || word[0] == '-') return std::nullopt;
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == word) return std::nullopt;
    names.push_back(sub->get_name());
  }
  const std::string shown = clipmind::cli::terminal_safe(word);
  std::string text = "unknown command '" + shown + "'";
  std::error_code ec;
  if (std::filesystem::exists(word, ec)) {
    text += "\nhint: to ask about this video: clipmind ask " + shown + " \"QUESTION\"";
    return text;
  }
  std::string closest;
  size_t best = 3;  // suggest only within two edits
  for (const std::string& name : names) {
    const size_t d = edit_distance(word, name);
    if (d < best) best = d, closest = name;
  }
  if (!closest.empty()) text += "; did you mean '" + closest + "'?";
  std::string list;
  for (const std::string& name : names)
    list += (list.empty() ? "" : ", ") + name;
  return text + "\ncommands: " + list;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"clipmind: ask questions about long videos and get timestamped answers"};
  app.name("clipmind");
  app.set_version_flag("--version", CLIPMIND_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);

  // The order of --help and of the "commands:" list: what a person runs first, then the tools.
#ifdef CLIPMIND_HAVE_FFMPEG
  clipmind::cli::add_pipeline_commands(app);
  clipmind::cli::add_index_commands(app);
  clipmind::cli::add_decode_commands(app);
#endif
  clipmind::cli::add_compress_commands(app);
  clipmind::cli::add_model_commands(app);

  // "clipmind help [COMMAND]", as git and cargo take it.
  if (argc >= 2 && std::string(argv[1]) == "help") {
    const CLI::App* about = &app;
    if (argc >= 3) {
      for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        if (sub->get_name() == argv[2]) about = sub;
      }
    }
    std::fputs(about->help(about == &app ? "" : "clipmind").c_str(), stdout);
    return finish_stdout(0);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (const std::optional<std::string> message = unknown_command_message(app, argc, argv)) {
      std::fprintf(stderr, "clipmind: %s\nRun 'clipmind --help' (or 'clipmind COMMAND --help').\n",
                   message->c_str());
      return clipmind::exit_code_for(clipmind::ErrorKind::kInvalidArgument);
    }
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
