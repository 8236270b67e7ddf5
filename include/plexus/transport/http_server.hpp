// plexus::transport::http_server — serves an MCP server over HTTP (Boost.Beast):
//   * the MCP endpoint (default /mcp) in both eras at once, routed by what each
//     request claims: 2026-07-28 stateless POSTs (JSON or SSE answers, strict
//     header validation) and 2025-03-26…2025-11-25 Streamable HTTP sessions
//     (Mcp-Session-Id, GET stream, DELETE, resumable SSE with Last-Event-ID);
//   * the 2024-11-05 HTTP+SSE transport (GET /sse, POST /messages?sessionId=…);
//   * WebSocket (subprotocol "mcp", one JSON-RPC message per text frame) on the
//     MCP endpoint and /ws;
//   * optional TLS (and mTLS) and a Unix-socket listener for HTTP;
//   * extra MCP endpoints (add_endpoint: another server::server on another
//     path, with every behaviour of the main endpoint except HTTP+SSE) and
//     plain HTTP routes (add_route: health checks, metrics, REST), whose
//     handlers run on a thread pool of their own so that they may block;
//   * an access-log hook called once per HTTP request.
// Secure by default: binds 127.0.0.1, validates Host and Origin against DNS
// rebinding, bounds headers, bodies, connections, sessions and queues, and
// times out slow clients.
// Thread-safety: start/stop/port may be called from any thread; the server runs
// on its own thread pool.
#pragma once

#include "plexus/server/server.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus::transport {

using header_fields = std::vector<std::pair<std::string, std::string>>;

// A plain HTTP request as a route handler sees it (already past the Host/Origin
// checks and size limits).
struct http_request {
  std::string method;     // "GET", "POST", ...
  std::string target;     // as received: path and query
  std::string path;       // the target before '?', not percent-decoded
  std::string query;      // the target after '?' (empty when none)
  header_fields headers;  // names in lower case, in the order received
  std::string body;
  std::string remote;  // "ip:port" of the peer, or "unix"

  // The first header of that name (give it in lower case), or nullopt.
  std::optional<std::string_view> header(std::string_view lower_name) const;
};

// A route handler's answer. Server, Content-Length and CORS headers are added.
struct http_reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  header_fields headers;  // extra headers
};

// Runs on the route thread pool (never on an I/O thread), so it may block.
// Exceptions become a 500 answer.
using route_handler = std::function<http_reply(const http_request&)>;

// One HTTP request as served: given to http_server_options::access_log.
struct access_record {
  std::string method;
  std::string path;  // without the query
  int status = 0;    // 101 for a WebSocket upgrade; 0 when nothing was answered
  std::chrono::microseconds duration{0};  // read complete → answer (or stream) complete
  std::uint64_t bytes_in = 0;             // request head and body
  std::uint64_t bytes_out = 0;            // response head and body (chunk framing included)
  std::string remote;                     // "ip:port" or "unix"
  std::string mcp_method;                 // the JSON-RPC method of an MCP POST, when known
  std::string session_id;                 // the legacy session, when known
};

struct http_server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: an ephemeral port (see port())
  std::string mcp_path = "/mcp";
  std::string unix_path;    // also serve HTTP on this Unix socket
  std::size_t threads = 0;  // 0: one per core
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  std::size_t max_connections = 10'000;
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};   // a whole request
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(120)};  // keep-alive between requests
  std::chrono::milliseconds keepalive_interval{std::chrono::seconds(15)};  // SSE comments
  std::chrono::milliseconds sse_retry{std::chrono::seconds(1)};            // SSE retry hint
  std::chrono::milliseconds session_idle_timeout{std::chrono::minutes(30)};
  std::size_t max_sessions = 10'000;
  std::size_t max_stream_events = 1024;  // per SSE stream, for resumption and slow readers
  // Extra allowed Host names / Origins (loopback names are always allowed when
  // bound to loopback). "*" allows any (only do this behind a trusted proxy).
  std::vector<std::string> allowed_hosts;
  std::vector<std::string> allowed_origins;
  // TLS: certificate chain and key (PEM); client CA for mTLS (required when set).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  bool enable_websocket = true;
  bool enable_legacy_sse = true;  // 2024-11-05 HTTP+SSE
  std::size_t route_threads = 4;  // the pool that runs route handlers
  // Called once per HTTP request when its answer is complete (after an SSE
  // stream ends), from an I/O thread: keep it short and thread-safe.
  std::function<void(const access_record&)> access_log;
};

class http_server {
 public:
  http_server(server::server& srv, http_server_options options);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Serves `srv` on `path` too, exactly as the main MCP endpoint (both eras,
  // legacy sessions with their GET stream and DELETE, WebSocket upgrades); a
  // legacy session belongs to the endpoint that created it (404 elsewhere).
  // `srv` must outlive this http_server. Call before start(); throws
  // std::logic_error after start() or for a path already taken.
  void add_endpoint(std::string path, server::server& srv);
  // Answers `method` requests whose path is `path_prefix` (exact) or, when the
  // prefix ends in '/', starts with it; the longest match wins. A path that
  // matches only with another method gets 405. MCP endpoints take precedence.
  // Call before start(); throws std::logic_error after start().
  void add_route(std::string method, std::string path_prefix, route_handler handler);

  // Binds and starts serving; throws std::runtime_error when it cannot bind or load TLS files.
  void start();
  std::uint16_t port() const;
  // Stops accepting, lets requests in flight finish within `grace`, then closes
  // every stream; waits for route handlers that are still running.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Blocks until the server stopped.
  void wait();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

// Blocks SIGINT and SIGTERM in the calling thread and the threads it starts
// later; call before starting servers, then wait_for_shutdown_signal().
void block_shutdown_signals();
// Waits for SIGINT or SIGTERM; returns the signal number.
int wait_for_shutdown_signal();

}  // namespace plexus::transport
