// LD_PRELOAD library for tests only: makes fsync/fdatasync (and, if asked, close/fclose) fail
// for files whose path contains a given substring, the way NFS, btrfs/XFS with delayed
// allocation or a quota report a full disk or an I/O error only when data reaches the disk.
// Lets a test check, through the real `clipmind` binary, what happens when a write "succeeds"
// and only the flush fails. Nothing of clipmind links it.
//
// Environment (read on each call):
//   CLIPMIND_FAIL_SYNC_PATH   substring of the path (readlink /proc/self/fd/N), or, ending in
//                             '$', its end ("/out$" is the folder, not the files in it); unset: off
//   CLIPMIND_FAIL_SYNC_ERRNO  ENOSPC (default), EDQUOT, EIO, or a number; "0": the calls
//                             succeed without syncing (like eatmydata: to measure fsync's cost)
//   CLIPMIND_FAIL_SYNC_CALLS  which calls fail: a list of fsync, fdatasync, close (close() and
//                             fclose(), failing after really closing, as the kernel does);
//                             default "fsync,fdatasync"
// Every failure injected is written to the file named by CLIPMIND_FAIL_SYNC_LOG (one line per
// failure: the call and the path), so a test can prove the failure really happened.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

namespace {

template <typename Fn>
Fn next_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

std::string path_of(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char target[4096];
  const ssize_t n = ::readlink(link, target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : std::string();
}

int chosen_errno() {
  const char* name = std::getenv("CLIPMIND_FAIL_SYNC_ERRNO");
  if (!name || !*name || std::strcmp(name, "ENOSPC") == 0) return ENOSPC;
  if (std::strcmp(name, "0") == 0) return 0;
  if (std::strcmp(name, "EDQUOT") == 0) return EDQUOT;
  if (std::strcmp(name, "EIO") == 0) return EIO;
  const int number = std::atoi(name);
  return number > 0 ? number : ENOSPC;
}

bool call_fails(const char* call) {
  const char* calls = std::getenv("CLIPMIND_FAIL_SYNC_CALLS");
  if (!calls) calls = "fsync,fdatasync";
  const size_t length = std::strlen(call);
  for (const char* item = calls; *item;) {
    const char* end = std::strchr(item, ',');
    const size_t size = end ? static_cast<size_t>(end - item) : std::strlen(item);
    if (size == length && std::strncmp(item, call, length) == 0) return true;
    if (!end) break;
    item = end + 1;
  }
  return false;
}

// The path when a `call` on `fd` is to fail, else empty.
std::string targeted(int fd, const char* call) {
  const char* wanted = std::getenv("CLIPMIND_FAIL_SYNC_PATH");
  if (!wanted || !*wanted || !call_fails(call)) return {};
  std::string part = wanted;
  const bool at_end = part.back() == '$';
  if (at_end) part.pop_back();
  std::string path = path_of(fd);
  const bool match = at_end ? path.size() >= part.size() &&
                                  path.compare(path.size() - part.size(), part.size(), part) == 0
                            : path.find(part) != std::string::npos;
  return match ? path : std::string();
}

void log_failure(const char* call, const std::string& path) {
  const char* log = std::getenv("CLIPMIND_FAIL_SYNC_LOG");
  if (!log || !*log) return;
  using OpenFn = int (*)(const char*, int, ...);
  using CloseFn = int (*)(int);
  static const auto real_open = next_symbol<OpenFn>("open");
  static const auto real_close = next_symbol<CloseFn>("close");
  const int fd = real_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const std::string line = std::string(call) + " " + path + "\n";
  [[maybe_unused]] const ssize_t n = ::write(fd, line.data(), line.size());
  real_close(fd);
}

int fail_sync(int fd, const char* call, int (*real)(int)) {
  const std::string path = targeted(fd, call);
  if (path.empty()) return real(fd);
  const int err = chosen_errno();
  if (err == 0) return 0;
  log_failure(call, path);
  errno = err;
  return -1;
}

}  // namespace

extern "C" {

int fsync(int fd) {
  static const auto real = next_symbol<int (*)(int)>("fsync");
  return fail_sync(fd, "fsync", real);
}

int fdatasync(int fd) {
  static const auto real = next_symbol<int (*)(int)>("fdatasync");
  return fail_sync(fd, "fdatasync", real);
}

int close(int fd) {
  static const auto real = next_symbol<int (*)(int)>("close");
  const std::string path = targeted(fd, "close");
  const int rc = real(fd);
  const int err = path.empty() ? 0 : chosen_errno();
  if (err == 0 || rc != 0) return rc;
  log_failure("close", path);
  errno = err;
  return -1;
}

// glibc's fclose closes the descriptor internally, not through close(): wrapped on its own.
int fclose(FILE* stream) {
  static const auto real = next_symbol<int (*)(FILE*)>("fclose");
  const std::string path = stream ? targeted(::fileno(stream), "close") : std::string();
  const int rc = real(stream);
  const int err = path.empty() ? 0 : chosen_errno();
  if (err == 0 || rc != 0) return rc;
  log_failure("fclose", path);
  errno = err;
  return EOF;
}

}  // extern "C"
