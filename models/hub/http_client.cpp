#include "models/hub/http_client.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <curl/curl.h>

#include "clipmind/error.h"

namespace clipmind::models::hub {
namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;

struct EasyDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;

// curl_global_init is not thread-safe in older libcurl and must run once per process before
// the first handle; a function-local static is the one-time, thread-safe way to do that.
void ensure_curl_initialised() {
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (init != CURLE_OK) {
    throw Error(ErrorKind::kInternal,
                std::string("libcurl initialisation failed: ") + curl_easy_strerror(init));
  }
}

void append_header(HeaderList& list, const std::string& line) {
  curl_slist* grown = curl_slist_append(list.get(), line.c_str());
  if (!grown) throw Error(ErrorKind::kInternal, "out of memory building HTTP headers");
  (void)list.release();  // curl_slist_append returned the (same) head; keep ownership in `list`
  list.reset(grown);
}

std::string trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

TransportFailure classify(CURLcode code) {
  switch (code) {
    case CURLE_OK:
      return TransportFailure::kNone;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
      return TransportFailure::kCannotConnect;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return TransportFailure::kBrokenOff;
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
      return TransportFailure::kAborted;
    default:
      return TransportFailure::kOther;
  }
}

// State of one request, reachable from libcurl's C callbacks.
struct Transfer {
  HttpResult result;
  const BodySink* sink = nullptr;
  const std::function<void()>* on_tick = nullptr;
  const CancelToken* cancel = nullptr;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    // A new response (the previous one was a redirect or "100 Continue"): start over.
    transfer.result.headers.clear();
    transfer.result.error_body.clear();
    const size_t space = line.find(' ');
    transfer.result.status =
        space == std::string_view::npos ? 0 : std::strtol(line.data() + space + 1, nullptr, 10);
  } else if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    std::string name = trim(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    transfer.result.headers[name] = trim(line.substr(colon + 1));
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (transfer.cancel->requested()) return 0;
  const long status = transfer.result.status;
  if (status >= 200 && status < 300) {
    if (!transfer.sink || !(*transfer.sink)(transfer.result, data, bytes)) return 0;
  } else if (transfer.result.error_body.size() < kMaxErrorBody) {
    transfer.result.error_body.append(
        data, std::min(bytes, kMaxErrorBody - transfer.result.error_body.size()));
  }
  return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& transfer = *static_cast<Transfer*>(user);
  if (transfer.on_tick && *transfer.on_tick) (*transfer.on_tick)();
  return transfer.cancel->requested() ? 1 : 0;
}

}  // namespace

std::string HttpResult::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpClient::Impl {
  HttpClientSettings settings;
  CancelToken cancel;
  EasyHandle curl;
  char error_buffer[CURL_ERROR_SIZE] = {};

  HttpResult perform(const std::string& url, bool head, int64_t range_start, const BodySink* sink,
                     const std::function<void()>* on_tick) {
    CURL* h = curl.get();
    curl_easy_reset(h);  // keeps the connection cache, drops the previous request's options
    Transfer transfer;
    transfer.sink = sink;
    transfer.on_tick = on_tick;
    transfer.cancel = &cancel;

    HeaderList headers;
    // The Hub may compress small files; sizes and hashes are of the stored bytes.
    append_header(headers, "Accept-Encoding: identity");
    if (!settings.token.empty()) append_header(headers, "Authorization: Bearer " + settings.token);

    error_buffer[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_USERAGENT, settings.user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85: the string form; the bitmask form is deprecated
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
                     static_cast<long>(settings.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(settings.stall_timeout.count()));
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
    if (head) {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
      curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
      curl_easy_setopt(
          h, CURLOPT_TIMEOUT,
          static_cast<long>(settings.connect_timeout.count() + settings.stall_timeout.count()));
    } else {
      curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
      curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
      if (range_start > 0) {
        const std::string range = std::to_string(range_start) + "-";
        curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());  // copied by libcurl
      }
    }

    const CURLcode code = curl_easy_perform(h);
    HttpResult& result = transfer.result;
    result.failure = classify(code);
    if (code != CURLE_OK) {
      result.transport_error = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
    }
    if (cancel.requested()) {
      result.failure = TransportFailure::kAborted;
      result.transport_error = "cancelled";
    }
    char* effective = nullptr;
    if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective) {
      result.effective_url = effective;
    }
    return std::move(result);
  }
};

HttpClient::HttpClient(HttpClientSettings settings, CancelToken cancel) : impl_(new Impl) {
  ensure_curl_initialised();
  impl_->settings = std::move(settings);
  impl_->cancel = std::move(cancel);
  impl_->curl.reset(curl_easy_init());
  if (!impl_->curl) throw Error(ErrorKind::kInternal, "curl_easy_init failed");
}

HttpClient::~HttpClient() = default;

HttpResult HttpClient::head(const std::string& url) {
  return impl_->perform(url, true, 0, nullptr, nullptr);
}

HttpResult HttpClient::get(const std::string& url, int64_t range_start, const BodySink& sink,
                           const std::function<void()>& on_tick) {
  return impl_->perform(url, false, range_start, &sink, &on_tick);
}

std::string HttpClient::host_of(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  const size_t end = url.find_first_of("/?#", start);
  std::string authority =
      url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (const size_t at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  return authority;
}

}  // namespace clipmind::models::hub
