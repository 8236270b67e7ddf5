// A small blocking HTTP(S) client for tool handlers of the built-in servers (internal: not
// installed). One call = one request on a fresh connection (Connection: close), run on a private
// io_context on the caller's thread, so a handler may call it without touching the server's
// executors.
//
// Each attempt has a deadline (`timeout`, covering name resolution, connect, TLS, write and
// read). Network errors, timeouts, 5xx and 429 answers are retried up to `retries` times with
// exponential backoff (`retry_backoff`, doubled after every attempt); other answers (2xx, 3xx,
// 4xx) are returned at once. Answers larger than `max_response_bytes` fail without retry, as do
// TLS failures (a bad certificate does not heal by retrying). HTTPS verifies the peer and its
// host name against the system trust store or `ca_file`.
//
// Thread-safety: an http_client may be used from several threads at once (it only holds the
// immutable TLS context and options).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace plexus::servers::detail {

struct http_fetch_options {
  std::chrono::milliseconds timeout{10'000};  // per attempt
  int retries = 2;                            // extra attempts after the first
  std::chrono::milliseconds retry_backoff{250};
  std::size_t max_response_bytes = 16 * 1024 * 1024;
  bool verify_tls = true;
  std::string ca_file;  // empty: the system's trust store
  std::string user_agent = "plexus";
};

struct http_response {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  int attempts = 1;  // how many attempts it took
  bool ok() const { return status >= 200 && status < 300; }
};

// The request could not be completed (every attempt failed without an HTTP answer, or an answer
// was refused, e.g. too large). what() names the URL, the number of attempts and the last reason.
class http_fetch_error : public std::runtime_error {
 public:
  http_fetch_error(std::string message, std::string reason, int attempts, bool timed_out)
      : std::runtime_error(std::move(message)),
        reason_(std::move(reason)),
        attempts_(attempts),
        timed_out_(timed_out) {}
  // Why the last attempt failed ("timed out after 200 ms", "Connection refused"), for
  // callers that word the error themselves.
  const std::string& reason() const noexcept { return reason_; }
  int attempts() const noexcept { return attempts_; }
  bool timed_out() const noexcept { return timed_out_; }

 private:
  std::string reason_;
  int attempts_;
  bool timed_out_;
};

using http_headers = std::vector<std::pair<std::string, std::string>>;

class http_client {
 public:
  // Throws std::invalid_argument for bad options, and when a CA file cannot be loaded.
  explicit http_client(http_fetch_options options = {});

  // GET `url` (http:// or https://). Throws std::invalid_argument for a malformed URL and
  // http_fetch_error when no acceptable answer came; a 4xx/5xx answer is returned (after the
  // retries for 5xx/429), not thrown.
  http_response get(const std::string& url, const http_headers& headers = {}) const;
  // POST `body` as application/json; same rules as get.
  http_response post_json(const std::string& url, const boost::json::value& body,
                          const http_headers& headers = {}) const;

  const http_fetch_options& options() const { return options_; }

 private:
  http_response send(const std::string& method, const std::string& url, std::string body,
                     const std::string& content_type, const http_headers& headers) const;

  http_fetch_options options_;
  // Built once; SSL_CTX is safe to share between connections on several threads.
  mutable boost::asio::ssl::context tls_;
};

}  // namespace plexus::servers::detail
