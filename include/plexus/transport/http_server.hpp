// plexus::transport::http_server — serves an MCP server over HTTP (Boost.Beast):
//   * the MCP endpoint (default /mcp) in both eras at once, routed by what each
//     request claims: 2026-07-28 stateless POSTs (JSON or SSE answers, strict
//     header validation) and 2025-03-26…2025-11-25 Streamable HTTP sessions
//     (Mcp-Session-Id, GET stream, DELETE, resumable SSE with Last-Event-ID);
//   * the 2024-11-05 HTTP+SSE transport (GET /sse, POST /messages?sessionId=…);
//   * WebSocket (subprotocol "mcp", one JSON-RPC message per text frame) on the
//     MCP endpoint and /ws;
//   * optional TLS (and mTLS) and a Unix-socket listener for HTTP.
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
#include <string>
#include <vector>

namespace plexus::transport {

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
};

class http_server {
 public:
  http_server(server::server& srv, http_server_options options);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds and starts serving; throws std::runtime_error when it cannot bind or load TLS files.
  void start();
  std::uint16_t port() const;
  // Stops accepting, lets requests in flight finish within `grace`, then closes every stream.
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
