// A small HTTP(S) client over libcurl for the hub downloader (internal to models/hub).
//
// One HttpClient owns one CURL easy handle (RAII), reused for every request so connections to
// the Hub stay open. Requests never throw for HTTP or transport failures: the result says what
// happened, and the downloader decides what is retryable and what the user is told. The
// Authorization header goes to the first host only (libcurl drops custom Authorization headers
// when a redirect leaves the host), so the token never reaches the CDN. Proxies come from the
// usual environment variables (https_proxy, no_proxy), as for any libcurl program.
// Not thread-safe: one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "clipmind/progress.h"

namespace clipmind::models::hub {

enum class TransportFailure {
  kNone,           // a response arrived (look at status)
  kCannotConnect,  // name resolution or TCP/TLS connection failed
  kBrokenOff,      // the transfer started but broke off, stalled or timed out
  kAborted,        // the sink refused data or the CancelToken fired
  kOther,          // anything else libcurl reports (bad URL, TLS certificate, ...)
};

struct HttpResult {
  TransportFailure failure = TransportFailure::kNone;
  std::string transport_error;                 // libcurl's explanation when failure != kNone
  long status = 0;                             // of the last response (after followed redirects)
  std::map<std::string, std::string> headers;  // of the last response; names lower-case
  std::string error_body;     // start of the body of a non-2xx response (at most 64 KiB)
  std::string effective_url;  // where the last response came from

  bool ok() const { return failure == TransportFailure::kNone && status >= 200 && status < 300; }
  // Header value or "" when absent; `name` lower-case.
  std::string header(const std::string& name) const;
};

struct HttpClientSettings {
  std::string user_agent;
  std::string token;  // sent as "Authorization: Bearer <token>" when not empty
  std::chrono::seconds connect_timeout{20};
  std::chrono::seconds stall_timeout{60};
};

// Receives the body of a 2xx response; `response` holds its status and headers. Returning
// false aborts the transfer (TransportFailure::kAborted).
using BodySink = std::function<bool(const HttpResult& response, const char* data, size_t size)>;

class HttpClient {
 public:
  HttpClient(HttpClientSettings settings, CancelToken cancel);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // HEAD without following redirects, so that the Hub's own headers (X-Linked-Etag,
  // X-Repo-Commit) are seen even when it redirects to a CDN.
  HttpResult head(const std::string& url);

  // GET following up to 10 redirects. `range_start` > 0 asks for "bytes=<range_start>-".
  // `on_tick` runs at least once a second while the transfer is open, also when no byte moves.
  HttpResult get(const std::string& url, int64_t range_start, const BodySink& sink,
                 const std::function<void()>& on_tick);

  // The host name in `url` ("huggingface.co" in "https://huggingface.co/x"), for messages.
  static std::string host_of(const std::string& url);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace clipmind::models::hub
