#include "http_fetch.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include <thread>
#include <variant>

namespace plexus::servers::detail {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

struct target_url {
  bool tls = false;
  std::string host;  // without IPv6 brackets
  std::string port;
  std::string target;  // path and query, at least "/"
  std::string host_header;
};

target_url parse_url(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) throw std::invalid_argument("invalid URL: " + url);
  target_url t;
  if (u->scheme() == "https")
    t.tls = true;
  else if (u->scheme() != "http")
    throw std::invalid_argument("URL must be http or https: " + url);
  t.host = u->host();
  if (t.host.empty()) throw std::invalid_argument("URL has no host: " + url);
  if (t.host.size() > 2 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
  t.port = u->has_port() ? std::string(u->port()) : (t.tls ? "443" : "80");
  t.target = std::string(u->encoded_path());
  if (t.target.empty()) t.target = "/";
  if (u->has_query()) t.target += "?" + std::string(u->encoded_query());
  bool default_port = (t.tls && t.port == "443") || (!t.tls && t.port == "80");
  std::string h = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
  t.host_header = default_port ? h : h + ":" + t.port;
  return t;
}

struct request_spec {
  http::verb verb;
  std::string body;
  std::string content_type;
  const http_headers* headers;
  std::string user_agent;
  std::size_t max_body;
};

template <class Stream>
net::awaitable<http_response> exchange(Stream& stream, const target_url& url,
                                       const request_spec& spec) {
  http::request<http::string_body> req{spec.verb, url.target, 11};
  req.set(http::field::host, url.host_header);
  req.set(http::field::user_agent, spec.user_agent);
  req.set(http::field::accept, "application/json");
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : *spec.headers) req.set(name, value);
  if (spec.verb != http::verb::get) {
    req.set(http::field::content_type, spec.content_type);
    req.body() = spec.body;
    req.prepare_payload();
  }
  co_await http::async_write(stream, req, net::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(spec.max_body);
  parser.header_limit(64 * 1024);
  co_await http::async_read(stream, buffer, parser, net::use_awaitable);
  http_response r;
  r.status = parser.get().result_int();
  r.content_type = std::string(parser.get()[http::field::content_type]);
  r.body = std::move(parser.get().body());
  co_return r;
}

net::awaitable<http_response> attempt(target_url url, const request_spec& spec,
                                      steady::time_point deadline, ssl::context* tls) {
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(url.host, url.port, net::use_awaitable);
  if (url.tls) {
    beast::ssl_stream<beast::tcp_stream> stream(ex, *tls);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()))
      throw std::runtime_error("cannot set TLS server name");
    stream.set_verify_callback(ssl::host_name_verification(url.host));
    beast::get_lowest_layer(stream).expires_at(deadline);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, net::use_awaitable);
    co_await stream.async_handshake(ssl::stream_base::client, net::use_awaitable);
    co_return co_await exchange(stream, url, spec);
  }
  beast::tcp_stream stream(ex);
  stream.expires_at(deadline);
  co_await stream.async_connect(endpoints, net::use_awaitable);
  co_return co_await exchange(stream, url, spec);
}

// Why one attempt failed, and whether another may succeed.
struct failure {
  std::string reason;
  bool retryable;
  bool timed_out;
};

std::variant<http_response, failure> run_attempt(const target_url& url, const request_spec& spec,
                                                 std::chrono::milliseconds timeout,
                                                 ssl::context* tls) {
  net::io_context ioc;
  auto deadline = steady::now() + timeout;
  bool finished = false;
  std::exception_ptr error;
  http_response reply;
  net::co_spawn(ioc, attempt(url, spec, deadline, tls), [&](std::exception_ptr e, http_response r) {
    finished = true;
    error = e;
    reply = std::move(r);
  });
  // The streams enforce the deadline; this also bounds name resolution, which has no timer.
  ioc.run_until(deadline + std::chrono::milliseconds(20));
  std::string timeout_text = "timed out after " + std::to_string(timeout.count()) + " ms";
  if (!finished) return failure{timeout_text, true, true};
  if (!error) return reply;
  try {
    std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    if (e.code() == beast::error::timeout) return failure{timeout_text, true, true};
    if (e.code() == http::error::body_limit)
      return failure{"answer larger than " + std::to_string(spec.max_body) + " bytes", false,
                     false};
    bool tls_failure = e.code().category() == net::error::get_ssl_category() ||
                       e.code().category() == ssl::error::get_stream_category();
    return failure{e.code().message(), !tls_failure, false};
  } catch (const std::exception& e) {
    return failure{e.what(), false, false};
  }
}

}  // namespace

http_client::http_client(http_fetch_options options)
    : options_(std::move(options)), tls_(ssl::context::tls_client) {
  if (options_.timeout.count() <= 0) throw std::invalid_argument("timeout must be > 0");
  if (options_.retries < 0) throw std::invalid_argument("retries must be >= 0");
  if (options_.verify_tls) {
    tls_.set_verify_mode(ssl::verify_peer);
    if (options_.ca_file.empty())
      tls_.set_default_verify_paths();
    else
      tls_.load_verify_file(options_.ca_file);
  } else {
    tls_.set_verify_mode(ssl::verify_none);
  }
}

http_response http_client::get(const std::string& url, const http_headers& headers) const {
  return send("GET", url, {}, {}, headers);
}

http_response http_client::post_json(const std::string& url, const boost::json::value& body,
                                     const http_headers& headers) const {
  return send("POST", url, boost::json::serialize(body), "application/json", headers);
}

http_response http_client::send(const std::string& method, const std::string& url, std::string body,
                                const std::string& content_type,
                                const http_headers& headers) const {
  auto parsed = parse_url(url);
  request_spec spec{method == "GET" ? http::verb::get : http::verb::post,
                    std::move(body),
                    content_type,
                    &headers,
                    options_.user_agent,
                    options_.max_response_bytes};
  auto backoff = options_.retry_backoff;
  const int attempts = options_.retries + 1;
  for (int n = 1;; ++n) {
    auto outcome = run_attempt(parsed, spec, options_.timeout, &tls_);
    if (auto* r = std::get_if<http_response>(&outcome)) {
      bool retryable = r->status >= 500 || r->status == 429;
      if (!retryable || n == attempts) {
        r->attempts = n;
        return std::move(*r);
      }
    } else {
      auto& f = std::get<failure>(outcome);
      if (!f.retryable || n == attempts)
        throw http_fetch_error(method + " " + url + " failed after " + std::to_string(n) +
                                   (n == 1 ? " attempt: " : " attempts: ") + f.reason,
                               f.reason, n, f.timed_out);
    }
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
}

}  // namespace plexus::servers::detail
