// `clipmind ask`, `clipmind chat`, `clipmind caption` and `clipmind config`: argument parsing,
// terminal output and signal wiring around pipeline/. All work happens in the library.
//
// Output discipline: answers (or --json documents) go to stdout; logs and the progress bar go
// to stderr, and the bar is drawn only when stderr is a terminal. Text output passes through
// terminal_text.h (no raw control characters); --json is printed exactly. Ctrl-C cancels the
// running job through its CancelToken (it stops within a second and leaves no partial output;
// exit code 130), also while chat waits for the next question; a second Ctrl-C ends the process
// at once.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "app/clipmind/cli_signals.h"
#include "app/clipmind/cli_terminal.h"
#include "app/clipmind/commands.h"
#include "app/clipmind/line_reader.h"
#include "app/clipmind/pipeline_flags.h"
#include "app/clipmind/terminal_text.h"
#include "clipmind/counted.h"
#include "clipmind/error.h"
#include "pipeline/caption_job.h"
#include "pipeline/config.h"
#include "pipeline/errors.h"
#include "pipeline/log.h"
#include "pipeline/result_json.h"
#include "pipeline/session.h"

namespace clipmind::cli {
namespace {

namespace fs = std::filesystem;

struct SelectionFlags {
  std::optional<int64_t> budget;
  std::optional<double> ratio;
  std::optional<std::string> method;
  std::optional<std::string> select;
  std::optional<int64_t> frames;
  std::optional<int64_t> max_new_tokens;
};

// Help lines of the shared flags for ask, chat, caption and config.
CommonFlagsHelp common_flags_help() {
  return {"Override any config key: --set merge.tau=0.7 (repeatable)",
          "Model folder or Hugging Face repo id (org/name[@revision])",
          "SigLIP dual encoder (folder or repo id) for F2C key-clip selection"};
}

void add_selection_flags(CLI::App* cmd, SelectionFlags& f) {
  auto* budget = cmd->add_option("--budget", f.budget, "Visual token budget (incl. separators)");
  cmd->add_option("--ratio", f.ratio, "Share of the frames' visual tokens to keep (0..1]")
      ->excludes(budget);
  cmd->add_option("--method", f.method, "Token merging: holitom, tome, divprune or none")
      ->check(CLI::IsMember({"holitom", "tome", "divprune", "none"}));
  cmd->add_option("--select", f.select, "Frame selection: f2c, anylength, scene, uniform or auto")
      ->check(CLI::IsMember({"auto", "f2c", "anylength", "scene", "uniform"}));
  cmd->add_option("--frames", f.frames, "Frames given to the model (default: planner's)");
  cmd->add_option("--max-new-tokens", f.max_new_tokens, "Longest answer in tokens");
}

pipeline::ConfigSources sources_for(const CommonFlags& c, const SelectionFlags* s) {
  std::vector<pipeline::ConfigOverride> selection;
  auto set = [&](const std::string& key, const std::string& value) {
    selection.push_back({key, value});
  };
  if (s) {
    if (s->budget) set("budget.tokens", std::to_string(*s->budget));
    if (s->ratio) {
      // JSON has no NaN or infinity (they would turn into null, i.e. "no ratio"): refuse here.
      if (!std::isfinite(*s->ratio)) {
        throw Error(ErrorKind::kInvalidArgument, "--ratio must be a number in (0, 1]");
      }
      set("budget.ratio", nlohmann::json(*s->ratio).dump());
    }
    if (s->method) set("merge.method", json_text(*s->method));
    if (s->select) set("select.method", json_text(*s->select));
    if (s->frames) set("select.max_frames", std::to_string(*s->frames));
    if (s->max_new_tokens) set("generate.max_new_tokens", std::to_string(*s->max_new_tokens));
  }
  return config_sources(c, selection);
}

void run_config(const CommonFlags& common, bool defaults) {
  if (defaults) {
    std::printf("%s\n", pipeline::default_config_json().dump(2).c_str());
    return;
  }
  const pipeline::LoadedConfig loaded = pipeline::load_config(sources_for(common, nullptr));
  if (loaded.file) std::fprintf(stderr, "clipmind: config from %s\n", loaded.file->c_str());
  std::printf("%s\n", pipeline::to_json(loaded.config).dump(2).c_str());
}

struct Job {
  pipeline::PipelineConfig config;
  std::unique_ptr<Terminal> terminal;
  pipeline::Logger log;
  std::unique_ptr<pipeline::Session> session;
  CancelToken cancel;
  pipeline::JobCallbacks callbacks;
};

Job start_job(const CommonFlags& common, const SelectionFlags* selection, bool bar) {
  Job job;
  job.config = pipeline::load_config(sources_for(common, selection)).config;
  const pipeline::LogLevel level = pipeline::parse_log_level(job.config.log_level);
  job.terminal = std::make_unique<Terminal>(bar && level != pipeline::LogLevel::kError);
  Terminal* t = job.terminal.get();
  pipeline::Logger log([t](const pipeline::LogRecord& r) { t->log(r); }, level);
  job.log = log;
  job.session = std::make_unique<pipeline::Session>(job.config, log);
  job.callbacks.on_progress = [t](const pipeline::JobProgress& p) { t->progress(p); };
  return job;
}

std::string describe_moments(const std::vector<pipeline::Moment>& moments) {
  std::string out;
  char buffer[64];
  for (const pipeline::Moment& m : moments) {
    if (m.is_range) {
      std::snprintf(buffer, sizeof buffer, "%s%.1f-%.1fs", out.empty() ? "" : ", ", m.start_s,
                    m.end_s);
    } else {
      std::snprintf(buffer, sizeof buffer, "%s%.1fs", out.empty() ? "" : ", ", m.start_s);
    }
    out += buffer;
  }
  return out;
}

// Ends a streamed answer and names its moments on stderr (unless only errors are logged).
void end_streamed_answer(const Job& job, const pipeline::AskResult& r) {
  job.terminal->end_answer();
  if (!r.moments.empty() && job.config.log_level != "error") {
    job.terminal->message("clipmind: moments: " + describe_moments(r.moments));
  }
}

// Call from a catch block: erases the bar and ends a partial answer before main() prints the
// failure.
[[noreturn]] void fail_mid_answer(Terminal& t) {
  t.clear();
  t.end_answer();
  fail_with_hint(std::current_exception());
}

void run_ask(const CommonFlags& common, const SelectionFlags& selection, const std::string& video,
             const std::string& question, bool json) {
  pipeline::check_question(question);  // before the model loads: a bad question fails at once
  Job job = start_job(common, &selection, /*bar=*/true);
  Terminal& t = *job.terminal;
  CancelOnSignal signals(job.cancel, [&t](const std::string& m) { t.message(m); });
  if (!json) job.callbacks.on_text = [&t](std::string_view piece) { t.text(piece); };
  try {
    const pipeline::AskResult r = job.session->ask(video, question, job.callbacks, job.cancel);
    signals.report_stop(job.log);
    t.clear();
    if (json) {
      std::printf("%s\n", json_text(pipeline::to_json(r), 2).c_str());
    } else {
      end_streamed_answer(job, r);
    }
  } catch (...) {
    signals.report_stop(job.log);
    fail_mid_answer(t);
  }
}

// Questions longer than this are refused (the turn is skipped) without being kept whole: far
// more than any model context holds (32 k tokens of Qwen2 are about 128 KiB of text), and it
// bounds what a runaway pipe can make the chat buffer.
constexpr size_t kMaxQuestionBytes = 1 << 20;

void run_chat(const CommonFlags& common, const SelectionFlags& selection, const std::string& video,
              bool json) {
  Job job = start_job(common, &selection, /*bar=*/true);
  Terminal& t = *job.terminal;
  const bool interactive = ::isatty(STDIN_FILENO);
  // At the "> " prompt the terminal has just echoed "^C": the notice goes on a line of its own.
  std::atomic<bool> at_prompt = false;
  CancelOnSignal signals(
      job.cancel, [&t, &at_prompt](const std::string& m) { t.message(at_prompt ? "\n" + m : m); });
  if (!json) job.callbacks.on_text = [&t](std::string_view piece) { t.text(piece); };
  // Not std::getline(std::cin): a blocked getline never sees Ctrl-C. The reader polls stdin
  // and the cancel token, so a signal while waiting for a question ends the chat (exit 130).
  LineReader questions(STDIN_FILENO, job.cancel, kMaxQuestionBytes,
                       "the questions on standard input");
  try {
    std::unique_ptr<pipeline::Chat> chat = job.session->open_chat(video, job.callbacks, job.cancel);
    t.clear();
    if (json) {
      nlohmann::json prepared = pipeline::to_json(chat->prepared());
      prepared["event"] = "prepared";
      std::printf("%s\n", json_text(prepared).c_str());
      std::fflush(stdout);
    }
    if (interactive) {
      t.message("clipmind: ready. Ask about the video; an empty line, \"quit\" or Ctrl-D ends.");
    }
    int64_t line_number = 0;
    while (true) {
      if (interactive) {
        std::fputs("> ", stderr);
        std::fflush(stderr);
      }
      at_prompt = interactive;
      const std::optional<LineReader::Line> line = questions.next();
      at_prompt = false;
      if (!line) break;
      ++line_number;
      const std::string& text = line->text;
      const size_t b = text.find_first_not_of(" \t\r");
      if (b == std::string::npos && !line->too_long) {
        if (interactive) break;
        continue;  // blank lines in piped input are skipped
      }
      const std::string question =
          b == std::string::npos ? text : text.substr(b, text.find_last_not_of(" \t\r") - b + 1);
      if (question == "quit" || question == "exit" || question == "/quit") break;
      std::optional<pipeline::AskResult> answered;
      try {
        if (line->too_long) {
          throw pipeline::StageError(ErrorKind::kInvalidArgument, "question", video,
                                     "the question is too long: " + std::to_string(line->bytes) +
                                         " bytes on one line, more than the " +
                                         std::to_string(kMaxQuestionBytes) +
                                         " a chat line may have",
                                     "The chat goes on; ask another question.");
        }
        answered = chat->ask(question, job.callbacks, job.cancel);
      } catch (const pipeline::StageError& e) {
        if (e.stage() != "question") throw;
        // One unusable line (not UTF-8, too long, blank) refuses that turn only; the chat is
        // unchanged and reads on. Exit status stays 0 (docs/pipeline.md "CLI").
        t.clear();
        t.message("clipmind: " + std::string(e.what()) + " (turn skipped)");
        if (json) {
          const nlohmann::json event = {{"event", "error"},
                                        {"line", line_number},
                                        {"stage", e.stage()},
                                        {"message", e.detail()},
                                        {"exit_code", exit_code_for(e.kind())}};
          std::printf("%s\n", json_text(event).c_str());
          std::fflush(stdout);
        }
        continue;
      }
      const pipeline::AskResult& r = *answered;
      t.clear();
      if (json) {
        nlohmann::json answer = pipeline::to_json(r);
        answer["event"] = "answer";
        answer["turn"] = chat->turns();
        std::printf("%s\n", json_text(answer).c_str());
        std::fflush(stdout);
      } else {
        end_streamed_answer(job, r);
      }
    }
  } catch (...) {
    signals.report_stop(job.log);
    fail_mid_answer(t);
  }
}

void run_caption(const CommonFlags& common, const SelectionFlags& selection,
                 const std::vector<std::string>& inputs, const std::string& out,
                 const std::optional<std::string>& format,
                 const std::optional<std::string>& segment, bool overwrite, bool json) {
  CommonFlags c = common;
  if (format) c.sets.insert(c.sets.begin(), "caption.format=\"" + *format + "\"");
  if (segment) c.sets.insert(c.sets.begin(), "caption.segment=\"" + *segment + "\"");
  if (overwrite) c.sets.insert(c.sets.begin(), "caption.overwrite=true");
  Job job = start_job(c, &selection, /*bar=*/true);
  Terminal& t = *job.terminal;
  CancelOnSignal signals(job.cancel, [&t](const std::string& m) { t.message(m); });
  pipeline::CaptionRequest request;
  for (const std::string& i : inputs)
    request.inputs.emplace_back(i);
  request.out_dir = out;
  pipeline::CaptionReport report;
  try {
    report = pipeline::run_captions(*job.session, request, job.callbacks, job.cancel);
  } catch (...) {
    signals.report_stop(job.log);
    t.clear();
    fail_with_hint(std::current_exception());
  }
  signals.report_stop(job.log);
  t.clear();
  if (json) {
    std::printf("%s\n", json_text(pipeline::to_json(report), 2).c_str());
  } else {
    std::fputs(terminal_safe(pipeline::format_caption_summary(report)).c_str(), stdout);
  }
  std::fflush(stdout);
  if (report.cancelled) throw Cancelled();
  for (const pipeline::CaptionFileResult& f : report.files) {
    if (f.status == pipeline::CaptionStatus::kFailed) {
      throw Error(f.error_kind, std::to_string(report.failed) + " of " +
                                    counted(static_cast<int64_t>(report.files.size()), "file") +
                                    " could not be captioned (see the summary)");
    }
  }
  if (report.partial > 0) {
    throw Error(ErrorKind::kInvalidInput,
                std::to_string(report.partial) + " of " +
                    counted(static_cast<int64_t>(report.files.size()), "file") +
                    (report.partial == 1 ? " is cut short: its captions cover"
                                         : " are cut short: their captions cover") +
                    " only the part that is there (see the summary)");
  }
}

}  // namespace

void add_pipeline_commands(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand(
        "ask", "Ask a question about a video; the answer streams with clickable times");
    auto common = std::make_shared<CommonFlags>();
    auto selection = std::make_shared<SelectionFlags>();
    auto video = std::make_shared<std::string>();
    auto question = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    cmd->add_option("VIDEO", *video, "Video file")->required();
    cmd->add_option("QUESTION", *question, "The question")->required();
    add_common_flags(cmd, *common, common_flags_help());
    add_selection_flags(cmd, *selection);
    cmd->add_flag("--json", *json,
                  "Print one JSON document: answer, moments, selected clips, segments, token "
                  "counts and timings per stage");
    cmd->callback([=] { run_ask(*common, *selection, *video, *question, *json); });
  }
  {
    auto* cmd = app.add_subcommand(
        "chat", "Talk about a video: encode it once, then answer questions read from stdin");
    auto common = std::make_shared<CommonFlags>();
    auto selection = std::make_shared<SelectionFlags>();
    auto video = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    cmd->add_option("VIDEO", *video, "Video file")->required();
    add_common_flags(cmd, *common, common_flags_help());
    add_selection_flags(cmd, *selection);
    cmd->add_flag("--json", *json, "One JSON line per event (prepared, then each answer)");
    cmd->callback([=] { run_chat(*common, *selection, *video, *json); });
  }
  {
    auto* cmd = app.add_subcommand(
        "caption",
        "Dense timestamped captions for videos and folders of videos (SRT/WebVTT/JSONL)");
    auto common = std::make_shared<CommonFlags>();
    auto selection = std::make_shared<SelectionFlags>();
    auto inputs = std::make_shared<std::vector<std::string>>();
    auto out = std::make_shared<std::string>();
    auto format = std::make_shared<std::optional<std::string>>();
    auto segment = std::make_shared<std::optional<std::string>>();
    auto overwrite = std::make_shared<bool>(false);
    auto json = std::make_shared<bool>(false);
    cmd->add_option("VIDEO_OR_DIR", *inputs, "Video files and folders (searched recursively)")
        ->required();
    cmd->add_option("--out", *out, "Folder for the caption files")->required();
    cmd->add_option("--format", *format, "srt, vtt or jsonl")
        ->check(CLI::IsMember({"srt", "vtt", "jsonl"}));
    cmd->add_option("--segment", *segment, "auto (HoliTom segments) or a window length in seconds");
    cmd->add_flag("--overwrite", *overwrite, "Redo outputs that are already complete");
    cmd->add_flag("--json", *json, "Print the batch report as JSON instead of a table");
    add_common_flags(cmd, *common, common_flags_help());
    add_selection_flags(cmd, *selection);
    cmd->callback([=] {
      run_caption(*common, *selection, *inputs, *out, *format, *segment, *overwrite, *json);
    });
  }
  {
    auto* cmd = app.add_subcommand(
        "config", "Print the effective configuration (defaults < config file < flags) as JSON");
    auto common = std::make_shared<CommonFlags>();
    auto defaults = std::make_shared<bool>(false);
    add_common_flags(cmd, *common, common_flags_help());
    cmd->add_flag("--defaults", *defaults, "Print the built-in defaults (the documented file)");
    cmd->callback([common, defaults] { run_config(*common, *defaults); });
  }
}

}  // namespace clipmind::cli
