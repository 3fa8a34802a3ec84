#include "tests/e2e/e2e_support.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/decode/test_videos.h"
#include "tests/support/work_dir.h"
#include <fcntl.h>
#include <grp.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "models/tiny/tiny_model.h"
#include "models/vlm/tiny_vlm.h"

extern char** environ;

namespace clipmind::e2e {

namespace fs = std::filesystem;

namespace {

// Serialises the creation of a shared fixture between test processes (CTest runs suites in
// parallel): flock() on "<path>.lock", then build into a temporary folder and rename.
class FolderLock {
 public:
  explicit FolderLock(const fs::path& path) {
    fd_ = ::open((path.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~FolderLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

fs::path build_once(const std::string& name, const std::function<void(const fs::path&)>& make) {
  const fs::path dir = work_dir() / "models" / name;
  if (fs::exists(dir / "config.json")) return dir;
  fs::create_directories(dir.parent_path());
  FolderLock lock(dir);
  if (fs::exists(dir / "config.json")) return dir;
  const fs::path temp = dir.string() + ".building";
  fs::remove_all(temp);
  fs::create_directories(temp);
  make(temp);
  fs::remove_all(dir);
  fs::rename(temp, dir);
  return dir;
}

double parse_clock(const std::string& h, const std::string& m, const std::string& s,
                   const std::string& ms) {
  return std::stod(h) * 3600 + std::stod(m) * 60 + std::stod(s) + std::stod(ms) / 1000.0;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line))
    lines.push_back(line);
  return lines;
}

// Cue blocks: an optional id line (SRT: required, "1", "2", ...), a timing line, one or more
// text lines, a blank line.
std::string validate_cues(const std::string& text, bool srt, std::vector<Cue>* cues) {
  if (text.empty()) return "empty file";
  if (text.back() != '\n') return "does not end with a newline";
  if (text.find('\r') != std::string::npos) return "has carriage returns";
  const std::vector<std::string> lines = lines_of(text);
  size_t i = 0;
  if (!srt) {
    if (lines.empty() || lines[0].rfind("WEBVTT", 0) != 0) return "missing the WEBVTT header";
    if (lines[0].size() > 6 && lines[0][6] != ' ' && lines[0][6] != '\t') {
      return "bad WEBVTT header line";
    }
    i = 1;
    if (i < lines.size() && !lines[i].empty()) return "the header must be followed by a blank line";
  }
  const std::regex timing(
      srt ? R"((\d{2,}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d),(\d{3}))"
          : R"((\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})(?: .*)?)");
  int expected_id = 1;
  double previous_start = -1;
  while (i < lines.size()) {
    if (lines[i].empty()) {
      ++i;
      continue;
    }
    if (srt) {
      if (lines[i] != std::to_string(expected_id)) {
        return "cue " + std::to_string(expected_id) + ": expected its number, got '" + lines[i] +
               "'";
      }
      ++i;
    } else if (lines[i].find("-->") == std::string::npos) {
      ++i;  // a WebVTT cue identifier
    }
    std::smatch m;
    if (i >= lines.size() || !std::regex_match(lines[i], m, timing)) {
      return "cue " + std::to_string(expected_id) + ": bad timing line '" +
             (i < lines.size() ? lines[i] : std::string("<end>")) + "'";
    }
    Cue cue;
    cue.start = parse_clock(m[1], m[2], m[3], m[4]);
    cue.end = parse_clock(m[5], m[6], m[7], m[8]);
    if (cue.end <= cue.start) return "cue " + std::to_string(expected_id) + ": end not after start";
    if (cue.start < previous_start) return "cues are not in time order";
    previous_start = cue.start;
    ++i;
    if (i >= lines.size() || lines[i].empty()) {
      return "cue " + std::to_string(expected_id) + ": no text";
    }
    while (i < lines.size() && !lines[i].empty()) {
      if (lines[i].find("-->") != std::string::npos) return "cue text contains -->";
      cue.text += (cue.text.empty() ? "" : "\n") + lines[i];
      ++i;
    }
    if (cues) cues->push_back(cue);
    ++expected_id;
  }
  if (srt && expected_id == 1) return "no cues";
  return "";
}

}  // namespace

fs::path work_dir() {
  return test::work_dir("e2e");
}

fs::path fresh_dir(const std::string& name) {
  return test::fresh_work_dir(fs::path("e2e") / name);
}

// What `clipmind make-tiny-model --arch llava-onevision --dims tiny` writes.
fs::path tiny_vlm() {
  return build_once("llava-onevision-tiny", [](const fs::path& dir) {
    fs::remove_all(dir);
    models::write_tiny_model("llava-onevision", dir, models::TinyModelOptions{});
  });
}

// What `clipmind make-tiny-model --arch siglip-dual --dims tiny` writes.
fs::path tiny_siglip() {
  return build_once("siglip-dual-tiny", [](const fs::path& dir) {
    fs::remove_all(dir);
    models::write_tiny_model("siglip-dual", dir, models::TinyModelOptions{});
  });
}

TinyVision tiny_vision() {
  const nlohmann::json vision =
      nlohmann::json::parse(read_file(tiny_vlm() / "config.json")).at("vision_config");
  return {vision.at("image_size").get<int>(), vision.at("patch_size").get<int>()};
}

fs::path e2e_video(const std::string& name, int frames, int fps, int width, int height,
                   const std::vector<std::string>& ffmpeg_options, const std::string& container) {
  test::VideoSpec spec;
  spec.name = name;
  spec.container = container;
  spec.width = width;
  spec.height = height;
  spec.frames = frames;
  spec.fps = fps;
  spec.gop = fps;
  spec.extra = ffmpeg_options;
  return test::make_video(spec);
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line))
    out.push_back(nlohmann::json::parse(line));
  return out;
}

std::optional<double> job_stop_seconds(const std::string& err) {
  const std::regex line(
      R"(clipmind: debug: the job stopped ([0-9]+\.[0-9]+) s after the cancel request)");
  std::smatch m;
  if (!std::regex_search(err, m, line)) return std::nullopt;
  return std::stod(m[1]);
}

namespace {

// The test's environment with XDG_CONFIG_HOME at an empty folder, no CLIPMIND_CONFIG, and
// `extra` added, as "KEY=VALUE" strings.
std::vector<std::string> child_env(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  env["XDG_CONFIG_HOME"] = (work_dir() / "no-user-config").string();
  env.erase("CLIPMIND_CONFIG");
  for (const auto& [k, v] : extra)
    env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env)
    out.push_back(k + "=" + v);
  return out;
}

// argv/envp for execve: pointers into `strings`, then nullptr.
std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// In the forked child: stdin, stdout and stderr from the given descriptors, every descriptor in
// `close_after` closed, then the program; exit 127 when it cannot start.
[[noreturn]] void exec_child(int in, int out, int err, std::initializer_list<int> close_after,
                             std::vector<char*>& argv, std::vector<char*>& envp) {
  ::dup2(in, STDIN_FILENO);
  ::dup2(out, STDOUT_FILENO);
  ::dup2(err, STDERR_FILENO);
  for (int fd : close_after)
    ::close(fd);
  ::execve(argv[0], argv.data(), envp.data());
  ::_exit(127);
}

}  // namespace

RunResult run_cli(const std::vector<std::string>& args, const RunOptions& options) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe(in_pipe) != 0 || ::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::vector<std::string> env_strings = child_env(options.env);
  std::vector<char*> envp = c_strings(env_strings);
  std::vector<std::string> argv_strings = {CLIPMIND_CLI};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv = c_strings(argv_strings);

  // A pseudo-terminal for stderr or stdout: the read end (master) replaces the pipe's read
  // end, the terminal (slave) its write end.
  const auto use_pty = [](int(&fds)[2]) {
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
      throw std::runtime_error("no pseudo-terminal");
    }
    const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    if (slave < 0) throw std::runtime_error("cannot open the pseudo-terminal");
    ::close(fds[0]);
    ::close(fds[1]);
    fds[0] = master;
    fds[1] = slave;
  };
  if (options.stderr_tty) use_pty(err_pipe);
  if (options.stdout_tty) use_pty(out_pipe);

  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) ::_exit(126);
    if (options.unprivileged && ::geteuid() == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
        ::_exit(126);
      }
      if (::access(CLIPMIND_CLI, X_OK) != 0) ::_exit(77);
    }
    int out = out_pipe[1];
    if (!options.stdout_file.empty()) {
      out = ::open(options.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0) ::_exit(126);
    }
    if (options.disk && !options.disk->enter()) ::_exit(125);
    exec_child(in_pipe[0], out, err_pipe[1],
               {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], out},
               argv, envp);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);  // a pseudo-terminal's master reads EIO once the program has exited
  // Feed stdin from a thread so a large input never blocks the output loop.
  std::thread feeder([fd = in_pipe[1], text = options.stdin_text] {
    ::signal(SIGPIPE, SIG_IGN);
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  });
  RunResult result;
  std::chrono::steady_clock::time_point interrupted_at;
  bool out_open = true, err_open = true;
  char buffer[65536];
  while (out_open || err_open) {
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    ::poll(fds, 2, 10);
    for (int k = 0; k < 2; ++k) {
      if (!(k == 0 ? out_open : err_open)) continue;
      if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = ::read(fds[k].fd, buffer, sizeof buffer);
        if (n > 0) {
          (k == 0 ? result.out : result.err).append(buffer, static_cast<size_t>(n));
        } else {
          (k == 0 ? out_open : err_open) = false;
        }
      }
    }
    if (!result.interrupted && options.interrupt_when && options.interrupt_when(result.err)) {
      ::kill(pid, SIGINT);
      result.interrupted = true;
      interrupted_at = std::chrono::steady_clock::now();
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (elapsed > options.timeout_s) {
      ::kill(pid, SIGKILL);
      result.err += "\n[test: killed after timeout]";
      break;
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const auto end = std::chrono::steady_clock::now();
  feeder.join();
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.seconds = std::chrono::duration<double>(end - start).count();
  if (result.interrupted) {
    result.interrupt_to_exit_s = std::chrono::duration<double>(end - interrupted_at).count();
  }
  return result;
}

InteractiveCli::InteractiveCli(const std::vector<std::string>& args,
                               const std::map<std::string, std::string>& env) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe(in_pipe) != 0 || ::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::vector<std::string> env_strings = child_env(env);
  std::vector<char*> envp = c_strings(env_strings);
  std::vector<std::string> argv_strings = {CLIPMIND_CLI};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv = c_strings(argv_strings);
  ::signal(SIGPIPE, SIG_IGN);  // a write to a program that already exited fails, not kills
  pid_ = ::fork();
  if (pid_ == 0) {
    exec_child(in_pipe[0], out_pipe[1], err_pipe[1],
               {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}, argv,
               envp);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  in_ = in_pipe[1];
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
}

InteractiveCli::~InteractiveCli() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  for (int fd : {in_, out_fd_, err_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

bool InteractiveCli::write(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(in_, text.data() + done, text.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void InteractiveCli::close_stdin() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
}

void InteractiveCli::signal(int sig) {
  ::kill(pid_, sig);
  signalled_at_ = std::chrono::steady_clock::now();
}

bool InteractiveCli::pump(int timeout_ms) {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  ::poll(fds, 2, timeout_ms);
  bool open = false;
  char buffer[65536];
  for (int k = 0; k < 2; ++k) {
    int& fd = k == 0 ? out_fd_ : err_fd_;
    if (fd < 0) continue;
    if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n > 0) {
        (k == 0 ? out_ : err_).append(buffer, static_cast<size_t>(n));
      } else {
        ::close(fd);
        fd = -1;
      }
    }
    open = open || fd >= 0;
  }
  return open;
}

bool InteractiveCli::wait_for(
    const std::function<bool(const std::string& out, const std::string& err)>& ready,
    double timeout_s) {
  const auto start = std::chrono::steady_clock::now();
  while (!ready(out_, err_)) {
    if (!pump(10)) return ready(out_, err_);  // the program closed its output: no more comes
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
        timeout_s) {
      return false;
    }
  }
  return true;
}

int InteractiveCli::wait_exit(double timeout_s) {
  const auto start = std::chrono::steady_clock::now();
  while (pump(10)) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
        timeout_s) {
      ::kill(pid_, SIGKILL);
      err_ += "\n[test: killed after timeout]";
      break;
    }
  }
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  signal_to_exit_s_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled_at_).count();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string validate_srt(const std::string& text, std::vector<Cue>* cues) {
  return validate_cues(text, true, cues);
}

std::string validate_vtt(const std::string& text, std::vector<Cue>* cues) {
  return validate_cues(text, false, cues);
}

std::string validate_jsonl(const std::string& text, std::vector<Cue>* cues) {
  if (text.empty()) return "empty file";
  if (text.back() != '\n') return "does not end with a newline";
  int n = 0;
  double previous = -1;
  for (const std::string& line : lines_of(text)) {
    ++n;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      return "line " + std::to_string(n) + ": not JSON: " + e.what();
    }
    if (!j.is_object()) return "line " + std::to_string(n) + ": not an object";
    if (!j.contains("start") || !j["start"].is_number() || !j.contains("end") ||
        !j["end"].is_number() || !j.contains("text") || !j["text"].is_string()) {
      return "line " + std::to_string(n) + ": needs numeric start/end and a text string";
    }
    Cue cue{j["start"].get<double>(), j["end"].get<double>(), j["text"].get<std::string>()};
    if (!(cue.end > cue.start) || cue.start < 0) return "line " + std::to_string(n) + ": bad times";
    if (cue.start < previous) return "lines are not in time order";
    previous = cue.start;
    if (cues) cues->push_back(cue);
  }
  return "";
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> files_under(const fs::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec)) continue;
    const std::string relative = it->path().lexically_relative(root).string();
    if (relative != ".filler") out.push_back(relative);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<test::SmallDisk> small_disk(const std::string& name, uint64_t bytes,
                                            std::string& why) {
  const fs::path dir = fresh_dir(name) / "disk";
  fs::create_directories(dir);
  return test::SmallDisk::make(dir, bytes, why);
}

}  // namespace clipmind::e2e
