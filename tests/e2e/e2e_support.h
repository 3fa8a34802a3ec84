// Support for the end-to-end tests: tiny random models made at test time, the real `clipmind`
// binary run with stdin, environment and Ctrl-C, and independent validators for SRT, WebVTT
// and JSONL caption files (written here from the format specifications, not from
// pipeline/caption_writer).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/small_disk.h"
#include <nlohmann/json_fwd.hpp>
#include <sys/types.h>

namespace clipmind::e2e {

// A generated H.264 video (tests/decode/test_videos.h: frame codes drawn over the picture) with
// a keyframe every second, made once per build tree. `ffmpeg_options` go to ffmpeg's output
// (e.g. {"-movflags", "+faststart"}); `container` is the file extension (mp4, mkv, ts, ...).
std::filesystem::path e2e_video(const std::string& name, int frames, int fps, int width, int height,
                                const std::vector<std::string>& ffmpeg_options = {},
                                const std::string& container = "mp4");

// One JSON document per line of `text` (a --json event stream); throws on a line that is not.
std::vector<nlohmann::json> json_lines(const std::string& text);

// The test work directory for this suite (CLIPMIND_TEST_WORK_DIR/e2e).
std::filesystem::path work_dir();
// A fresh empty folder under work_dir().
std::filesystem::path fresh_dir(const std::string& name);

// A tiny random LLaVA-OneVision folder (vision 28 px / patch 4 -> 4x4 pooled tokens, Qwen2
// hidden 64, 2 layers, a real byte-level BPE tokenizer), made once per build tree.
std::filesystem::path tiny_vlm();
// A tiny random SigLIP dual encoder (relevance model for F2C), made once per build tree.
std::filesystem::path tiny_siglip();

// tiny_vlm()'s vision input, read from its config.json (not from the code under test).
struct TinyVision {
  int image_size = 0;
  int patch_size = 0;
  // LLaVA-OneVision pools the patch grid to ceil(side / 2); input_size 0 = the tower's own.
  int pooled_grid(int input_size = 0) const {
    const int side = (input_size == 0 ? image_size : input_size) / patch_size;
    return (side + 1) / 2;
  }
};
TinyVision tiny_vision();

struct RunOptions {
  std::string stdin_text;
  std::map<std::string, std::string> env;  // added to (or replacing) the test's environment
  // Polled while the program runs (about every 10 ms) with its stderr so far; when it returns
  // true, SIGINT is sent once.
  std::function<bool(const std::string& err)> interrupt_when;
  double timeout_s = 240;  // SIGKILL after this long (the test then fails)
  // stderr is a pseudo-terminal (isatty() is true there, as in an interactive shell); stdin
  // and stdout stay pipes. What the program wrote to it comes back in `err` (the terminal
  // turns "\n" into "\r\n").
  bool stderr_tty = false;
  // The same for stdout (its "\n" comes back as "\r\n").
  bool stdout_tty = false;
  // When set, stdout is this file (opened for writing, e.g. /dev/full) instead of a pipe; `out`
  // stays empty.
  std::string stdout_file;
  // When set, the program runs inside the disk's namespaces and sees it mounted at disk->dir()
  // (full-disk tests, tests/support/small_disk.h).
  const test::SmallDisk* disk = nullptr;
  // The program's working directory (relative paths such as "-clip.mp4"); "" = the test's.
  std::string cwd;
  // Run as uid/gid 65534 when the test runs as root (root reads any file whatever its mode);
  // exit code 77 when that user cannot run the binary. Nothing changes for other users.
  bool unprivileged = false;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  bool interrupted = false;
  double interrupt_to_exit_s = 0;  // from SIGINT to the process's exit
  double seconds = 0;
};

// The figure of the "--verbose" line "clipmind: debug: the job stopped S s after the cancel
// request" (app/clipmind/cli_signals.h) in `err`: seconds from the signal handler's clock reading
// to the moment the job unwound. nullopt when there is no such line.
std::optional<double> job_stop_seconds(const std::string& err);

// Runs CLIPMIND_CLI with `args`. The environment always gets XDG_CONFIG_HOME pointing at an
// empty folder (no user config leaks in) unless `env` says otherwise.
RunResult run_cli(const std::vector<std::string>& args, const RunOptions& options = {});

// The real `clipmind` with pipes on stdin, stdout and stderr, driven step by step: write a
// question, wait for its answer, keep stdin open, send a signal, time the exit. The destructor
// kills a program that is still running.
class InteractiveCli {
 public:
  explicit InteractiveCli(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env = {});
  ~InteractiveCli();
  InteractiveCli(const InteractiveCli&) = delete;
  InteractiveCli& operator=(const InteractiveCli&) = delete;

  // false when the program no longer reads (it exited).
  bool write(const std::string& text);
  void close_stdin();
  // Collects output until `ready(out, err)` holds (true) or `timeout_s` passed / the program
  // closed its output first (false).
  bool wait_for(const std::function<bool(const std::string& out, const std::string& err)>& ready,
                double timeout_s);
  // kill(pid, sig); the time is noted for signal_to_exit_s().
  void signal(int sig);
  // Collects the rest of the output and waits for the exit (SIGKILL after timeout_s); the exit
  // code, or 128 + the signal that ended it.
  int wait_exit(double timeout_s);

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }
  // From the last signal() to the exit seen by wait_exit().
  double signal_to_exit_s() const { return signal_to_exit_s_; }

 private:
  bool pump(int timeout_ms);  // reads what is there; false once stdout and stderr are closed

  pid_t pid_ = -1;
  int in_ = -1, out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
  std::chrono::steady_clock::time_point signalled_at_{};
  double signal_to_exit_s_ = 0;
};

// Validators: "" when `text` is a valid file of the format, else what is wrong. They also
// return the cues they read so tests can check times.
struct Cue {
  double start = 0;
  double end = 0;
  std::string text;
};
std::string validate_srt(const std::string& text, std::vector<Cue>* cues = nullptr);
std::string validate_vtt(const std::string& text, std::vector<Cue>* cues = nullptr);
std::string validate_jsonl(const std::string& text, std::vector<Cue>* cues = nullptr);

std::string read_file(const std::filesystem::path& path);

// Every file under `root` (recursively, folders themselves left out), as paths relative to it,
// sorted; the disk's own filler (SmallDisk::fill) is left out too.
std::vector<std::string> files_under(const std::filesystem::path& root);

// A SmallDisk of `bytes` mounted at fresh_dir(name)/disk; nullptr with `why` when this system
// cannot make one (the test then skips, saying why).
std::unique_ptr<test::SmallDisk> small_disk(const std::string& name, uint64_t bytes,
                                            std::string& why);

}  // namespace clipmind::e2e
