// Helpers for the `clipmind index` / `clipmind search` end-to-end tests: generated videos,
// the CLI arguments for tiny models, a child process that can be killed with SIGKILL, and an
// independent reader of the SQLite index (plain SQL through the sqlite3 C API, not index/).
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/e2e/e2e_support.h"
#include <fcntl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace clipmind::e2e {

namespace fs = std::filesystem;

// `text` parsed as JSON; a test failure showing the text (and an empty object) when it is not.
inline nlohmann::json parse_or_fail(const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << text;
    return nlohmann::json::object();
  }
}

// A generated video: frame codes drawn over the picture (tests/decode/test_videos.h); `width`
// changes the picture, so videos of different widths embed differently.
inline fs::path index_video(const std::string& name, int frames, int width = 96, int fps = 10) {
  return e2e_video(name, frames, fps, width, 72);
}

inline void write_truncated(const fs::path& from, const fs::path& to) {
  const std::string bytes = read_file(from);
  std::ofstream(to, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
}

// Arguments every index/search run gets: the tiny SigLIP, short segments (so a 10 s video has
// several), no token cache.
inline std::vector<std::string> model_args() {
  return {"--relevance-model",
          tiny_siglip().string(),
          "--set",
          "caption.max_segment_s=3",
          "--set",
          "caption.min_segment_s=1",
          "--no-cache",
          "-q"};
}

inline std::vector<std::string> index_args(const std::vector<std::string>& paths,
                                           const std::string& db,
                                           const std::vector<std::string>& more = {}) {
  std::vector<std::string> a = {"index"};
  a.insert(a.end(), paths.begin(), paths.end());
  a.insert(a.end(), {"--db", db, "--json"});
  for (const std::string& m : model_args())
    a.push_back(m);
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// A `clipmind` child with stdout/stderr in files, for kill -9 and concurrent runs.
class CliProcess {
 public:
  CliProcess(const std::vector<std::string>& args, const fs::path& out_file,
             const fs::path& err_file) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    std::vector<std::string> argv_s = {CLIPMIND_CLI};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& s : argv_s)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, CLIPMIND_CLI, &actions, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("posix_spawn failed");
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~CliProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  // Non-blocking: true once the child has exited (status in `status()`).
  bool exited() {
    if (pid_ <= 0) return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = st;
      pid_ = -1;
      return true;
    }
    return false;
  }
  int wait() {
    if (pid_ > 0) {
      int st = 0;
      ::waitpid(pid_, &st, 0);
      status_ = st;
      pid_ = -1;
    }
    return status_;
  }
  void kill9() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }
  int status() const { return status_; }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
};

// Reads the SQLite index with plain SQL (read-only).
class IndexDb {
 public:
  explicit IndexDb(const fs::path& file) {
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + file.string());
    }
    sqlite3_busy_timeout(db_, 10000);
  }
  ~IndexDb() { sqlite3_close(db_); }
  IndexDb(const IndexDb&) = delete;
  IndexDb& operator=(const IndexDb&) = delete;

  // Rows of a query as strings.
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    std::vector<std::vector<std::string>> out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("sql: ") + sqlite3_errmsg(db_));
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const unsigned char* t = sqlite3_column_text(st, c);
        row.push_back(t ? reinterpret_cast<const char*>(t) : "");
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(st);
    return out;
  }

  // path -> status
  std::map<std::string, std::string> statuses() {
    std::map<std::string, std::string> out;
    for (auto& r : rows("SELECT path, status FROM videos"))
      out[r[0]] = r[1];
    return out;
  }
  // path -> spans "t0-t1" in order
  std::map<std::string, std::vector<std::pair<double, double>>> spans() {
    std::map<std::string, std::vector<std::pair<double, double>>> out;
    for (auto& r : rows("SELECT v.path, s.t_begin, s.t_end FROM segments s JOIN videos v ON "
                        "v.id = s.video_id ORDER BY v.path, s.t_begin"))
      out[r[0]].push_back({std::stod(r[1]), std::stod(r[2])});
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace clipmind::e2e
