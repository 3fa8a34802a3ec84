// The real `clipmind` binary around its jobs: the progress bar (only on a terminal), Ctrl-C
// during `ask`, the config file / flags / --set layering, --verbose and --quiet, clear errors
// for bad input (malformed config, missing model folder, damaged video), and `plan VIDEO`
// probing the video's duration.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>

#include "tests/e2e/e2e_support.h"
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace clipmind::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path video(const std::string& name, int frames, int fps) {
  return e2e_video(name, frames, fps, 128, 96);
}

fs::path short_video() {
  return video("options-short", 100, 10);  // 10 s
}

std::vector<std::string> ask_args(const fs::path& v, std::vector<std::string> more) {
  std::vector<std::string> a = {"ask", v.string(), "What happens?", "--model", tiny_vlm().string()};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

TEST(CliProgress, BarIsDrawnOnATerminalOnlyAndNeverOnStdout) {
  const fs::path v = short_video();
  RunOptions tty;
  tty.stderr_tty = true;
  tty.env = {{"XDG_CACHE_HOME", fresh_dir("progress-cache").string()}};
  const RunResult r = run_cli(ask_args(v, {"--max-new-tokens", "6", "--no-cache"}), tty);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The bar redraws one line: carriage return, the stage and its counts, erase-to-end-of-line.
  EXPECT_GT(count(r.err, "\x1b[K"), 2u) << r.err;
  EXPECT_NE(r.err.find("\rencode"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" frames"), std::string::npos) << r.err;
  // The answer on stdout (a pipe) is plain text.
  EXPECT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_EQ(r.out.find('\r'), std::string::npos);

  // --quiet: no bar and no log lines, even on a terminal.
  const RunResult quiet = run_cli(ask_args(v, {"--max-new-tokens", "6", "--no-cache", "-q"}), tty);
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  EXPECT_FALSE(quiet.out.empty());

  // stderr a pipe: log lines only.
  const RunResult piped = run_cli(ask_args(v, {"--max-new-tokens", "6", "--no-cache"}));
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.err.find('\x1b'), std::string::npos) << piped.err;
  EXPECT_EQ(piped.err.find('\r'), std::string::npos) << piped.err;
  EXPECT_NE(piped.err.find("clipmind: loaded "), std::string::npos) << piped.err;
}

TEST(CliLogging, VerboseAddsDebugLinesQuietKeepsStderrEmpty) {
  const fs::path v = short_video();
  const RunResult normal = run_cli(ask_args(v, {"--max-new-tokens", "4", "--no-cache"}));
  ASSERT_EQ(normal.exit_code, 0) << normal.err;
  EXPECT_EQ(normal.err.find("clipmind: debug: "), std::string::npos) << normal.err;
  const RunResult verbose =
      run_cli(ask_args(v, {"--max-new-tokens", "4", "--no-cache", "--verbose"}));
  ASSERT_EQ(verbose.exit_code, 0) << verbose.err;
  EXPECT_NE(verbose.err.find("clipmind: debug: "), std::string::npos) << verbose.err;
  EXPECT_EQ(verbose.out, normal.out) << "logging never changes the answer";
  const RunResult quiet = run_cli(ask_args(v, {"--max-new-tokens", "4", "--no-cache", "--quiet"}));
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(quiet.out, normal.out);
  // Both at once is a usage error.
  EXPECT_EQ(run_cli(ask_args(v, {"-v", "-q"})).exit_code, 2);
}

TEST(CliCancel, CtrlCDuringAskStopsWithinASecondAndLeavesNoPartialCacheFiles) {
  // 240 s, 160 frames to decode and encode one by one: several seconds of work after the
  // model is loaded, so the interrupt lands in the middle of decode + encode.
  const fs::path v = video("options-long", 2400, 10);
  const fs::path cache = fresh_dir("cancel-ask-cache");
  RunOptions options;
  options.env = {{"XDG_CACHE_HOME", cache.string()}};
  options.stderr_tty = true;
  options.interrupt_when = [](const std::string& err) {
    return err.find("\rencode") != std::string::npos;
  };
  const RunResult r =
      run_cli(ask_args(v, {"--select", "uniform", "--frames", "160", "--method", "none", "--set",
                           "encode.batch_frames=1", "--set", "decode.queue_frames=2", "--verbose"}),
              options);
  ASSERT_TRUE(r.interrupted) << r.err;
  EXPECT_EQ(r.exit_code, 130) << r.err;
  // The requirement is about the job: it stops within a second of the signal (the program's
  // own monotonic reading, from the handler to the unwound job). Process teardown after it
  // (LibTorch, FFmpeg) only has to be reasonable: a loaded machine stretches it.
  const std::optional<double> stopped = job_stop_seconds(r.err);
  ASSERT_TRUE(stopped.has_value()) << r.err;
  EXPECT_LT(*stopped, 1.0) << r.err;
  EXPECT_LE(*stopped, r.interrupt_to_exit_s + 0.05) << "the job stops before the process exits";
  EXPECT_LT(r.interrupt_to_exit_s, 10.0);
  EXPECT_NE(r.err.find("cancelling"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "") << "no answer was started";
  // Frames encoded before the interrupt are complete cache entries; nothing half-written.
  size_t entries = 0;
  for (const auto& e : fs::recursive_directory_iterator(cache)) {
    if (!e.is_regular_file()) continue;
    EXPECT_EQ(e.path().filename().string().find(".part"), std::string::npos) << e.path();
    if (e.path().extension() == ".cmt") ++entries;
  }
  EXPECT_LT(entries, 160u);
}

// A config file that changes three settings; the answer's --json shows which source won.
TEST(CliConfig, FileThenEnvironmentThenFlagsThenSet) {
  const fs::path dir = fresh_dir("config-layers");
  const fs::path file = dir / "clipmind.json";
  std::ofstream(file) << R"({"merge": {"method": "tome"}, "generate": {"max_new_tokens": 3},
                            "select": {"method": "uniform", "max_frames": 6}})";
  const fs::path v = short_video();
  const auto ask = [&](std::vector<std::string> more, const RunOptions& options = {}) {
    more.insert(more.end(), {"--json", "--no-cache"});
    const RunResult r = run_cli(ask_args(v, more), options);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  };
  json doc = ask({"--config", file.string()});
  EXPECT_EQ(doc.at("merge").at("method"), "tome");
  EXPECT_EQ(doc.at("selection").at("method"), "uniform");
  EXPECT_EQ(doc.at("tokens").at("frames"), 6);
  EXPECT_LE(doc.at("tokens").at("generated_tokens").get<int>(), 3);

  // $CLIPMIND_CONFIG names the file when --config is absent.
  RunOptions env;
  env.env = {{"CLIPMIND_CONFIG", file.string()}};
  doc = ask({}, env);
  EXPECT_EQ(doc.at("merge").at("method"), "tome");

  // Named flags override the file; --set overrides everything.
  doc = ask({"--config", file.string(), "--method", "none", "--frames", "4"});
  EXPECT_EQ(doc.at("merge").at("method"), "none");
  EXPECT_EQ(doc.at("tokens").at("frames"), 4);
  EXPECT_EQ(doc.at("tokens").at("visual_after_merge"), doc.at("tokens").at("visual_before_merge"));
  doc = ask({"--config", file.string(), "--method", "none", "--set", "merge.method=divprune"});
  EXPECT_EQ(doc.at("merge").at("method"), "divprune");

  // `clipmind config` prints the effective settings: defaults where nothing was said.
  const RunResult shown =
      run_cli({"config", "--config", file.string(), "--set", "merge.tau=0.7", "--quiet"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const json effective = json::parse(shown.out);
  EXPECT_EQ(effective.at("merge").at("method"), "tome");
  EXPECT_DOUBLE_EQ(effective.at("merge").at("tau").get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(effective.at("merge").at("beta").get<double>(), 0.6);  // the default
  EXPECT_EQ(effective.at("generate").at("max_new_tokens"), 3);
  const RunResult defaults = run_cli({"config", "--defaults"});
  ASSERT_EQ(defaults.exit_code, 0);
  EXPECT_EQ(json::parse(defaults.out).at("merge").at("method"), "holitom");
}

TEST(CliErrors, MalformedConfigNamesTheFileAndExits3) {
  const fs::path dir = fresh_dir("config-bad");
  const fs::path broken = dir / "broken-config.json";
  std::ofstream(broken) << "{\"merge\": {\"method\": \"tome\",,}";
  RunResult r = run_cli(ask_args(short_video(), {"--config", broken.string()}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("broken-config.json"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());

  const fs::path typo = dir / "typo-config.json";
  std::ofstream(typo) << R"({"merge": {"metod": "tome"}})";
  r = run_cli(ask_args(short_video(), {"--config", typo.string()}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("typo-config.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("metod"), std::string::npos) << r.err;

  // The same through $CLIPMIND_CONFIG, and a --config file that does not exist.
  RunOptions env;
  env.env = {{"CLIPMIND_CONFIG", broken.string()}};
  r = run_cli({"config"}, env);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("broken-config.json"), std::string::npos) << r.err;
  r = run_cli({"config", "--config", (dir / "absent.json").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("absent.json"), std::string::npos) << r.err;

  // A bad --set value names the key.
  r = run_cli(ask_args(short_video(), {"--set", "merge.tau=\"high\""}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("merge.tau"), std::string::npos) << r.err;
}

TEST(CliErrors, MissingModelFolderAndDamagedVideoNameTheFile) {
  const fs::path dir = fresh_dir("errors");
  RunResult r = run_cli({"ask", short_video().string(), "What?", "--model",
                         (dir / "no-such-model").string(), "--offline", "--no-cache"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("no-such-model"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hint:"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());

  // A model folder without weights.
  fs::create_directories(dir / "empty-model");
  std::ofstream(dir / "empty-model" / "config.json") << "{}";
  r = run_cli({"ask", short_video().string(), "What?", "--model", (dir / "empty-model").string(),
               "--offline", "--no-cache"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 1) << "a bad model folder is not an internal error: " << r.err;
  EXPECT_NE(r.err.find("empty-model"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("hint:"), std::string::npos) << r.err;

  // A real video cut off in the middle, and a missing video.
  const std::string bytes = read_file(short_video());
  const fs::path cut = dir / "cut-off.mp4";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  r = run_cli(ask_args(cut, {"--no-cache"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("cut-off.mp4"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  r = run_cli(ask_args(dir / "absent.mp4", {"--no-cache"}));
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("absent.mp4"), std::string::npos) << r.err;
}

// Found by black-box testing: questions and flags that used to pass unchecked or fail late, and
// output that could not be written while the command still "succeeded".
// A repo id that is not in the cache while offline: the message says what made it offline and
// how to undo that: --offline, not "unset HF_HUB_OFFLINE" to someone who never set it; and the
// variable when it is the variable.
TEST(CliErrors, OfflineMessagesNameWhatMadeThemOffline) {
  RunOptions options;
  options.env = {{"HF_HUB_CACHE", fresh_dir("offline-hub").string()}, {"HF_HUB_OFFLINE", ""}};
  RunResult r = run_cli({"ask", short_video().string(), "What?", "--model", "someorg/some-model",
                         "--offline", "--no-cache"},
                        options);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("someorg/some-model@main is not in the Hugging Face cache"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("clipmind runs offline (--offline, or offline = true in its "
                       "configuration): run it without that to download it"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("HF_HUB_OFFLINE"), std::string::npos) << r.err;

  options.env["HF_HUB_OFFLINE"] = "1";
  r = run_cli(
      {"ask", short_video().string(), "What?", "--model", "someorg/some-model", "--no-cache"},
      options);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to download it"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("--offline"), std::string::npos) << r.err;
}

TEST(CliErrors, BadQuestionsRatiosThreadsAndUnwritableStdout) {
  // Checked before the model loads (a missing model would fail with exit 4 otherwise).
  const fs::path absent_model = fresh_dir("errors-q") / "no-model";
  for (const std::string& question : {std::string("   \t "), std::string("caf\xe9?")}) {
    const RunResult r = run_cli({"ask", short_video().string(), question, "--model",
                                 absent_model.string(), "--offline", "--no-cache"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("the question"), std::string::npos) << r.err;
  }
  // A question that looks like an option: the hint shows the way, and the way works.
  RunResult dash = run_cli({"ask", short_video().string(), "-where is it?"});
  EXPECT_EQ(dash.exit_code, 2) << dash.err;
  EXPECT_NE(dash.err.find("after the options and '--'"), std::string::npos) << dash.err;
  dash = run_cli({"ask", short_video().string(), "--model", absent_model.string(), "--offline",
                  "--", "-where is it?"});
  EXPECT_EQ(dash.exit_code, 4) << "parsed; failed on the missing model: " << dash.err;
  // JSON has no NaN or infinity: these used to turn into "no ratio" and run.
  for (const char* ratio : {"nan", "inf"}) {
    const RunResult r = run_cli(ask_args(short_video(), {"--ratio", ratio, "--no-cache"}));
    EXPECT_EQ(r.exit_code, 2) << ratio << ": " << r.err;
    EXPECT_NE(r.err.find("--ratio"), std::string::npos) << r.err;
  }
  // A thread count far above the cores is lowered to them, with a warning, not obeyed.
  RunResult r = run_cli(ask_args(
      short_video(), {"--threads", "100000", "--no-cache", "--json", "--max-new-tokens", "2"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("cores available"), std::string::npos) << r.err;
  EXPECT_LT(r.seconds, 120);
  // stdout on a full disk: exit 5 and a message, not 0 with an empty file.
  RunOptions full;
  full.stdout_file = "/dev/full";
  r = run_cli(ask_args(short_video(), {"--no-cache", "--json", "--max-new-tokens", "2"}), full);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("standard output"), std::string::npos) << r.err;
}

// Found by trying the CLI as a newcomer: a mistyped command, a video given without `ask`, a
// URL and a folder each got a message about something else ("A subcommand is required", "no
// such file", "the video looks damaged").
TEST(CliErrors, MistypedCommandsUrlsAndFoldersSayWhatToDo) {
  RunResult r = run_cli({"aks", short_video().string(), "What?"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown command 'aks'; did you mean 'ask'?"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("commands: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("caption"), std::string::npos) << r.err;

  r = run_cli({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("did you mean"), std::string::npos) << "nothing is close: " << r.err;

  r = run_cli({short_video().string(), "What happens?"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("hint: to ask about this video: clipmind ask " + short_video().string()),
            std::string::npos)
      << r.err;

  // "help" and "help COMMAND" print the help, as git's do.
  r = run_cli({"help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ask"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("caption"), std::string::npos) << r.out;
  r = run_cli({"help", "caption"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Usage: clipmind caption"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--format"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("--like"), std::string::npos) << "caption's help, not search's: " << r.out;

  // A known command still parses as before: its own error, not "unknown command".
  r = run_cli({"ask"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.find("unknown command"), std::string::npos) << r.err;

  // A URL: exit 4 (not found here), the message says why and the hint what to do, before any
  // model is loaded (the model folder does not exist either).
  const fs::path absent_model = fresh_dir("errors-url") / "no-model";
  const std::string url = "https://example.com/clips/dog.mp4";
  r = run_cli({"ask", url, "When does the dog jump?", "--model", absent_model.string(), "--offline",
               "--no-cache"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find(url + ": probe: is a URL; clipmind reads local video files only"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("hint: Download the video first"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("no such file"), std::string::npos) << r.err;
  r = run_cli({"probe", "rtsp://camera.local/stream"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("is a URL"), std::string::npos) << r.err;

  // A folder given to `ask`: points at the commands that take folders.
  const fs::path folder = fresh_dir("errors-folder");
  r = run_cli({"ask", folder.string(), "What?", "--model", absent_model.string(), "--offline",
               "--no-cache"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("is a folder, not a video file"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("clipmind caption FOLDER"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("damaged"), std::string::npos) << r.err;

  // --device cuda where CUDA is not usable: says so, and the hint is about devices, not models.
  if (!at::hasCUDA()) {
    r = run_cli(ask_args(short_video(), {"--device", "cuda", "--no-cache"}));
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("device 'cuda': CUDA is not available"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("hint: Run on the CPU (--device cpu"), std::string::npos) << r.err;
  }

  // In a caption batch the URL fails alone, named in the summary, and the video beside it is
  // captioned.
  const fs::path out = fresh_dir("errors-url-caption");
  r = run_cli({"caption", url, short_video().string(), "--out", out.string(), "--model",
               tiny_vlm().string(), "--max-new-tokens", "4", "--no-cache"});
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("is a URL"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(out / (short_video().stem().string() + ".srt"))) << r.err << r.out;
}

TEST(CliPlan, ProbesTheVideoForItsDuration) {
  // 10 s: the plan for the file equals the plan for --duration 10.
  const RunResult probed = run_cli({"plan", short_video().string(), "--json"});
  ASSERT_EQ(probed.exit_code, 0) << probed.err;
  const RunResult given = run_cli({"plan", "--duration", "10", "--json"});
  ASSERT_EQ(given.exit_code, 0) << given.err;
  json a = json::parse(probed.out);
  json b = json::parse(given.out);
  EXPECT_NEAR(a.at("duration_s").get<double>(), 10.0, 0.05);
  EXPECT_EQ(a.at("frames"), b.at("frames"));
  EXPECT_EQ(a.at("planned_frames").size(), b.at("planned_frames").size());
  EXPECT_EQ(a.at("prefill_tokens"), b.at("prefill_tokens"));

  const RunResult missing = run_cli({"plan", "/nonexistent/clip.mp4"});
  EXPECT_EQ(missing.exit_code, 4) << missing.err;
  EXPECT_NE(missing.err.find("clip.mp4"), std::string::npos) << missing.err;
  const fs::path junk = fresh_dir("plan-bad") / "junk.mp4";
  std::ofstream(junk) << "not a video at all";
  const RunResult damaged = run_cli({"plan", junk.string()});
  EXPECT_EQ(damaged.exit_code, 3) << damaged.err;
  EXPECT_NE(damaged.err.find("junk.mp4"), std::string::npos) << damaged.err;
}

}  // namespace
}  // namespace clipmind::e2e
