// A small HTTP/1.1 server for tests, listening on 127.0.0.1 on a free port, serving from a
// thread until destroyed. Each connection carries one request (replies say
// "Connection: close"). It answers GET and HEAD through a handler, applies Range requests
// ("bytes=a-" and "bytes=a-b": 206, or 416 past the end) to 200 replies, and can misbehave on
// purpose: close the connection after N body bytes, or stall after N bytes until the client
// hangs up. It records every request and the body bytes sent per path, for assertions.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace clipmind::test {

struct HttpRequest {
  std::string method;  // "GET", "HEAD", ...
  std::string target;  // path and query as sent, e.g. "/org/name/resolve/main/config.json"
  std::map<std::string, std::string> headers;  // names lower-case

  std::string header(const std::string& name) const;  // "" when absent
};

struct HttpReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Length is added
  std::string body;
  bool ranges = true;                 // honour Range on a 200 reply
  std::optional<size_t> cut_after;    // close the connection after this many body bytes
  std::optional<size_t> stall_after;  // send this many body bytes, then wait for the client
};

class TestHttpServer {
 public:
  using Handler = std::function<HttpReply(const HttpRequest&)>;

  explicit TestHttpServer(Handler handler);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:<port>"

  std::vector<HttpRequest> requests() const;
  // Body bytes written to the socket for requests whose path is `path` (query ignored).
  size_t body_bytes_sent(const std::string& path) const;

 private:
  void serve();
  void handle(int connection);
  bool send_all(int connection, const char* data, size_t size);
  void wait_for_hangup(int connection);

  Handler handler_;
  int listener_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<HttpRequest> requests_;
  std::map<std::string, size_t> sent_;
  std::thread thread_;
};

// A port on 127.0.0.1 where nothing listens (bound, then closed), for "network down" tests.
uint16_t unused_local_port();

}  // namespace clipmind::test
