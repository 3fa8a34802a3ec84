// A small filesystem that really fills up, for full-disk tests without root.
//
// A tmpfs of a chosen size is mounted at a test folder inside a user and mount namespace of its
// own (unprivileged user namespaces: Debian 12 and most distributions allow them), held by a
// child process for as long as the SmallDisk lives. The mount is invisible to everyone else:
// a program runs inside it by joining the holder's namespaces (enter(), between fork and exec),
// and the test reads and changes the same files through outside(), /proc/<holder>/root/..., or
// in a forked child inside the namespaces (run_inside()).
// Sizes are in the filesystem's blocks (pages): a file of 1 byte takes one block.
// Header-only; any test target may include it.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

namespace clipmind::test {

class SmallDisk {
 public:
  // A tmpfs of `bytes` (rounded up to whole pages) mounted at `dir`, an existing folder.
  // nullptr, with `why` saying which step failed, when this system gives no user namespace or
  // no tmpfs inside one (the test should then GTEST_SKIP with `why`).
  static std::unique_ptr<SmallDisk> make(const std::filesystem::path& dir, uint64_t bytes,
                                         std::string& why) {
    // Everything the child needs is prepared here: after fork() it only makes system calls.
    const std::string uid_map = "0 " + std::to_string(::getuid()) + " 1\n";
    const std::string gid_map = "0 " + std::to_string(::getgid()) + " 1\n";
    const std::string options = "size=" + std::to_string(bytes) + ",mode=0777";
    const std::string target = std::filesystem::absolute(dir).string();
    int status[2], keep[2];
    if (::pipe2(status, O_CLOEXEC) != 0) {
      why = std::string("pipe: ") + std::strerror(errno);
      return nullptr;
    }
    if (::pipe2(keep, O_CLOEXEC) != 0) {
      why = std::string("pipe: ") + std::strerror(errno);
      ::close(status[0]);
      ::close(status[1]);
      return nullptr;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      why = std::string("fork: ") + std::strerror(errno);
      for (int fd : {status[0], status[1], keep[0], keep[1]})
        ::close(fd);
      return nullptr;
    }
    if (pid == 0) {
      ::close(status[0]);
      ::close(keep[1]);
      hold(status[1], keep[0], uid_map, gid_map, target, options);
    }
    ::close(status[1]);
    ::close(keep[0]);
    std::string answer;
    char buffer[256];
    for (ssize_t n; (n = ::read(status[0], buffer, sizeof buffer)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      answer.append(buffer, static_cast<size_t>(n));
    }
    ::close(status[0]);
    std::unique_ptr<SmallDisk> disk(new SmallDisk(pid, keep[1], target));
    if (answer != "ok") {
      why = answer.empty() ? "the namespace holder ended without an answer" : answer;
      return nullptr;  // the destructor ends the holder
    }
    const std::string ns = "/proc/" + std::to_string(pid) + "/ns/";
    disk->user_ns_ = ::open((ns + "user").c_str(), O_RDONLY | O_CLOEXEC);
    disk->mount_ns_ = ::open((ns + "mnt").c_str(), O_RDONLY | O_CLOEXEC);
    if (disk->user_ns_ < 0 || disk->mount_ns_ < 0) {
      why = ns + ": " + std::strerror(errno);
      return nullptr;
    }
    char cwd[4096];
    disk->cwd_ = ::getcwd(cwd, sizeof cwd) ? cwd : "/";
    return disk;
  }

  ~SmallDisk() {
    for (int fd : {user_ns_, mount_ns_, keep_})
      if (fd >= 0) ::close(fd);
    int st = 0;
    if (::waitpid(holder_, &st, 0) < 0) {
      ::kill(holder_, SIGKILL);
      ::waitpid(holder_, &st, 0);
    }
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  // The mount point, as programs inside the namespace see it.
  const std::filesystem::path& dir() const { return dir_; }

  // A path on the disk (absolute under dir(), or relative to it) as this process reaches it.
  std::filesystem::path outside(const std::filesystem::path& inside = {}) const {
    const std::filesystem::path full = inside.is_absolute() ? inside : dir_ / inside;
    return std::filesystem::path("/proc/" + std::to_string(holder_) + "/root") /
           full.relative_path();
  }

  uint64_t block_size() const { return stats().f_frsize; }
  uint64_t free_bytes() const {
    const struct statvfs s = stats();
    return static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
  }
  uint64_t used_bytes() const {
    const struct statvfs s = stats();
    return static_cast<uint64_t>(s.f_blocks - s.f_bfree) * s.f_frsize;
  }

  // Takes the free space but `leave` bytes (rounded down to whole blocks) with <dir>/.filler,
  // growing it if it is already there. Returns the bytes left free.
  uint64_t fill(uint64_t leave = 0) {
    const uint64_t block = block_size();
    leave -= leave % block;
    const int fd =
        ::open(outside(".filler").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return free_bytes();
    const std::vector<char> zeros(block, '\0');
    while (free_bytes() > leave) {
      if (::write(fd, zeros.data(), zeros.size()) <= 0 && errno != EINTR) break;
    }
    ::close(fd);
    return free_bytes();
  }
  // Gives the filler's space back.
  void unfill() const { std::filesystem::remove(outside(".filler")); }

  // For a forked child before exec: joins the holder's namespaces (the child then sees the
  // mount at dir()) and returns to the folder the test ran in. false (errno set) on failure.
  bool enter() const {
    return ::setns(user_ns_, CLONE_NEWUSER) == 0 && ::setns(mount_ns_, CLONE_NEWNS) == 0 &&
           ::chdir(cwd_.c_str()) == 0;
  }

  // Runs `body` in a forked child inside the namespaces, where the disk is at dir(), and
  // returns what it returned: for code that cannot go through outside(), such as SQLite, which
  // resolves the /proc/<pid>/root link to the mount point outside. Call it while the test runs
  // no other thread (fork). Throws std::runtime_error with the child's error when it fails.
  std::string run_inside(const std::function<std::string()>& body) const {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(out[0]);
      ::close(out[1]);
      throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      ::close(out[0]);
      int code = 0;
      std::string text;
      if (!enter()) {
        text = std::string("cannot enter the disk's namespaces: ") + std::strerror(errno);
        code = 2;
      } else {
        try {
          text = body();
        } catch (const std::exception& e) {
          text = e.what();
          code = 3;
        }
      }
      for (size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(out[1], text.data() + done, text.size() - done);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
      ::_exit(code);
    }
    ::close(out[1]);
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      text.append(buffer, static_cast<size_t>(n));
    }
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      throw std::runtime_error("inside the small disk: " + (text.empty() ? "failed" : text));
    }
    return text;
  }

 private:
  SmallDisk(pid_t holder, int keep, std::filesystem::path dir)
      : holder_(holder), keep_(keep), dir_(std::move(dir)) {}

  struct statvfs stats() const {
    struct statvfs s {};
    ::statvfs(outside().c_str(), &s);
    return s;
  }

  // The holder, in the forked child: new namespaces, the mount, "ok" (or what failed) on
  // `status`, then it waits until the test closes `keep` (or exits) and ends.
  [[noreturn]] static void hold(int status, int keep, const std::string& uid_map,
                                const std::string& gid_map, const std::string& target,
                                const std::string& options) {
    const auto fail = [status](const char* step) {
      char text[256];
      const int n = std::snprintf(text, sizeof text, "%s: %s", step, std::strerror(errno));
      [[maybe_unused]] const ssize_t w = ::write(status, text, static_cast<size_t>(n));
      ::_exit(1);
    };
    const auto write_file = [](const char* path, const std::string& text) {
      const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
      if (fd < 0) return false;
      const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      ::close(fd);
      return ok;
    };
    // Nothing else of the test stays open here (another disk's `keep` would never close).
    for (int fd = 3; fd < 1024; ++fd) {
      if (fd != status && fd != keep) ::close(fd);
    }
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) fail("unshare(CLONE_NEWUSER | CLONE_NEWNS)");
    // Needed before an unprivileged gid_map; missing on kernels before 3.19 (then not needed).
    if (!write_file("/proc/self/setgroups", "deny") && errno != ENOENT) fail("setgroups");
    if (!write_file("/proc/self/uid_map", uid_map)) fail("uid_map");
    if (!write_file("/proc/self/gid_map", gid_map)) fail("gid_map");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      fail("mount --make-rprivate /");
    if (::mount("clipmind-test", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) !=
        0) {
      fail("mount -t tmpfs");
    }
    // Gaining capabilities in the new namespace made this process undumpable, which would
    // close /proc/<pid>/root to the test.
    if (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_DUMPABLE)");
    [[maybe_unused]] const ssize_t w = ::write(status, "ok", 2);
    ::close(status);
    char byte = 0;
    while (::read(keep, &byte, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }

  pid_t holder_;
  int keep_ = -1;
  int user_ns_ = -1;
  int mount_ns_ = -1;
  std::filesystem::path dir_;
  std::string cwd_;
};

}  // namespace clipmind::test
