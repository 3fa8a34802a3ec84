#include "tests/models/support/test_http_server.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace clipmind::test {
namespace {

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 302:
      return "Found";
    case 307:
      return "Temporary Redirect";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 416:
      return "Range Not Satisfiable";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string trim(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

uint16_t bound_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("getsockname failed");
  }
  return ntohs(address.sin_port);
}

// "bytes=a-" or "bytes=a-b" against a body of `size` bytes: [first, last] or nullopt.
std::optional<std::pair<size_t, size_t>> parse_range(const std::string& value, size_t size,
                                                     bool& unsatisfiable) {
  unsatisfiable = false;
  if (!value.starts_with("bytes=")) return std::nullopt;
  const std::string spec = value.substr(6);
  const size_t dash = spec.find('-');
  if (dash == std::string::npos || dash == 0 || spec.find(',') != std::string::npos)
    return std::nullopt;
  const size_t first = std::stoull(spec.substr(0, dash));
  size_t last = size == 0 ? 0 : size - 1;
  if (dash + 1 < spec.size())
    last = std::min(last, static_cast<size_t>(std::stoull(spec.substr(dash + 1))));
  if (first >= size || first > last) {
    unsatisfiable = true;
    return std::nullopt;
  }
  return std::make_pair(first, last);
}

}  // namespace

std::string HttpRequest::header(const std::string& name) const {
  const auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

TestHttpServer::TestHttpServer(Handler handler) : handler_(std::move(handler)) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) throw std::runtime_error("socket failed");
  const int yes = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address = loopback(0);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 16) != 0) {
    ::close(listener_);
    throw std::runtime_error(std::string("cannot listen on 127.0.0.1: ") + std::strerror(errno));
  }
  port_ = bound_port(listener_);
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(listener_);
    throw std::runtime_error("pipe2 failed");
  }
  thread_ = std::thread([this] { serve(); });
}

TestHttpServer::~TestHttpServer() {
  stopping_ = true;
  const char byte = 'x';
  (void)!::write(wake_[1], &byte, 1);
  thread_.join();
  ::close(listener_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

std::string TestHttpServer::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::vector<HttpRequest> TestHttpServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

size_t TestHttpServer::body_bytes_sent(const std::string& path) const {
  std::lock_guard lock(mutex_);
  const auto it = sent_.find(path);
  return it == sent_.end() ? 0 : it->second;
}

void TestHttpServer::serve() {
  while (!stopping_) {
    pollfd fds[2] = {{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents & POLLIN) {
      const int connection = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      handle(connection);
      ::close(connection);
    }
  }
}

bool TestHttpServer::send_all(int connection, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t sent = ::send(connection, data, size, MSG_NOSIGNAL);
    if (sent <= 0) {
      if (sent < 0 && errno == EINTR) continue;
      return false;
    }
    data += sent;
    size -= static_cast<size_t>(sent);
  }
  return true;
}

void TestHttpServer::wait_for_hangup(int connection) {
  // Up to 60 s: the client under test is expected to give up (cancel) long before.
  for (int i = 0; i < 600 && !stopping_; ++i) {
    pollfd fds[2] = {{connection, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 2, 100) < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (fds[0].revents != 0) {
      char buffer[256];
      if (::recv(connection, buffer, sizeof buffer, 0) <= 0) return;
    }
  }
}

void TestHttpServer::handle(int connection) {
  timeval timeout{5, 0};
  ::setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string raw;
  char buffer[4096];
  while (raw.find("\r\n\r\n") == std::string::npos && raw.size() < 65536) {
    const ssize_t got = ::recv(connection, buffer, sizeof buffer, 0);
    if (got <= 0) return;
    raw.append(buffer, static_cast<size_t>(got));
  }
  HttpRequest request;
  const size_t line_end = raw.find("\r\n");
  {
    const std::string line = raw.substr(0, line_end);
    const size_t a = line.find(' ');
    const size_t b = line.find(' ', a + 1);
    if (a == std::string::npos || b == std::string::npos) return;
    request.method = line.substr(0, a);
    request.target = line.substr(a + 1, b - a - 1);
  }
  for (size_t pos = line_end + 2; pos < raw.size();) {
    const size_t end = raw.find("\r\n", pos);
    if (end == std::string::npos || end == pos) break;
    const std::string line = raw.substr(pos, end - pos);
    if (const size_t colon = line.find(':'); colon != std::string::npos) {
      request.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    pos = end + 2;
  }
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(request);
  }

  HttpReply reply;
  try {
    reply = handler_(request);
  } catch (const std::exception& e) {
    reply = HttpReply{};
    reply.status = 500;
    reply.body = e.what();
  }

  std::string body = std::move(reply.body);
  int status = reply.status;
  std::vector<std::pair<std::string, std::string>> headers = reply.headers;
  const std::string range = request.header("range");
  if (status == 200 && reply.ranges && !range.empty()) {
    bool unsatisfiable = false;
    const size_t size = body.size();
    if (auto span = parse_range(range, size, unsatisfiable)) {
      status = 206;
      headers.emplace_back("Content-Range", "bytes " + std::to_string(span->first) + "-" +
                                                std::to_string(span->second) + "/" +
                                                std::to_string(size));
      body = body.substr(span->first, span->second - span->first + 1);
    } else if (unsatisfiable) {
      status = 416;
      headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
      body.clear();
    }
  }

  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  bool has_length = false;
  for (const auto& [name, value] : headers) {
    head += name + ": " + value + "\r\n";
    has_length = has_length || lower(name) == "content-length";
  }
  if (!has_length) head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  head += "Connection: close\r\n\r\n";
  if (!send_all(connection, head.data(), head.size()) || request.method == "HEAD") return;

  size_t limit = body.size();
  if (reply.cut_after) limit = std::min(limit, *reply.cut_after);
  if (reply.stall_after) limit = std::min(limit, *reply.stall_after);
  const std::string path = request.target.substr(0, request.target.find('?'));
  for (size_t offset = 0; offset < limit;) {
    const size_t chunk = std::min<size_t>(16384, limit - offset);
    if (!send_all(connection, body.data() + offset, chunk)) break;
    offset += chunk;
    std::lock_guard lock(mutex_);
    sent_[path] += chunk;
  }
  if (reply.stall_after && *reply.stall_after < body.size()) wait_for_hangup(connection);
  ::shutdown(connection, SHUT_RDWR);
}

uint16_t unused_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("cannot bind a local port");
  }
  const uint16_t port = bound_port(fd);
  ::close(fd);
  return port;
}

}  // namespace clipmind::test
