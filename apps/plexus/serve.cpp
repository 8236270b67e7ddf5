#include "serve.hpp"

#include "plexus/transport/http_server.hpp"
#include "plexus/transport/stdio.hpp"
#include "plexus/transport/unix_server.hpp"

#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

namespace plexus::cli {
namespace {

// "127.0.0.1:8080", "[::1]:8080", ":8080" (loopback), "8080" (loopback).
std::pair<std::string, std::uint16_t> split_host_port(const std::string& s) {
  std::string host = "127.0.0.1";
  std::string port = s;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      throw CLI::ValidationError("address", "expected [HOST]:PORT, got " + s);
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else if (auto colon = s.rfind(':'); colon != std::string::npos) {
    if (colon > 0) host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  int p = 0;
  try {
    p = std::stoi(port);
  } catch (...) {
    p = -1;
  }
  if (p < 0 || p > 65535) throw CLI::ValidationError("address", "invalid port in " + s);
  return {host, static_cast<std::uint16_t>(p)};
}

transport::http_server_options http_options(const serve_options& o) {
  transport::http_server_options h;
  h.mcp_path = o.mcp_path;
  h.tls_cert_file = o.tls_cert;
  h.tls_key_file = o.tls_key;
  h.tls_client_ca_file = o.tls_client_ca;
  h.allowed_hosts = o.allowed_hosts;
  h.allowed_origins = o.allowed_origins;
  h.max_body_bytes = o.max_message_bytes;
  h.threads = o.http_threads;
  h.max_sessions = o.max_sessions;
  h.max_connections = o.max_connections;
  h.session_idle_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.session_idle_seconds * 1000));
  return h;
}

}  // namespace

void add_serve_options(CLI::App& cmd, serve_options& o) {
  cmd.add_flag("--stdio", o.stdio, "Serve over stdin/stdout (newline-delimited JSON-RPC)");
  cmd.add_option("--http", o.http,
                 "Serve Streamable HTTP (both eras), HTTP+SSE and WebSocket on HOST:PORT "
                 "(default host 127.0.0.1)");
  cmd.add_option("--ws", o.ws, "Also listen for WebSocket clients on HOST:PORT (paths /mcp, /ws)");
  cmd.add_option("--unix", o.unix_path, "Serve newline-delimited JSON-RPC on this Unix socket");
  cmd.add_option("--http-unix", o.http_unix, "Serve HTTP on this Unix socket");
  cmd.add_option("--mcp-path", o.mcp_path, "Path of the MCP endpoint")->capture_default_str();
  cmd.add_option("--tls-cert", o.tls_cert, "TLS certificate chain (PEM) for --http/--ws");
  cmd.add_option("--tls-key", o.tls_key, "TLS private key (PEM)");
  cmd.add_option("--tls-client-ca", o.tls_client_ca,
                 "Require client certificates signed by this CA (mTLS)");
  cmd.add_option("--allowed-host", o.allowed_hosts,
                 "Host header value to accept besides loopback names (repeatable; * = any)");
  cmd.add_option("--allowed-origin", o.allowed_origins,
                 "Origin to accept besides loopback origins (repeatable; * = any)");
  cmd.add_option("--max-message-bytes", o.max_message_bytes, "Largest accepted message")
      ->capture_default_str();
  cmd.add_option("--http-threads", o.http_threads,
                 "HTTP I/O threads (0 = one per core the process may run on)")
      ->capture_default_str();
  cmd.add_option("--max-sessions", o.max_sessions, "Most legacy HTTP sessions kept at once")
      ->capture_default_str();
  cmd.add_option("--max-connections", o.max_connections,
                 "Most open HTTP/WebSocket connections; beyond it new ones are closed at once")
      ->capture_default_str();
  cmd.add_option("--session-idle-seconds", o.session_idle_seconds,
                 "Legacy HTTP sessions unused this long are dropped")
      ->capture_default_str();
  cmd.add_option("--shutdown-grace-seconds", o.shutdown_grace_seconds,
                 "On SIGTERM/SIGINT, how long requests in flight may take to finish")
      ->capture_default_str();
  cmd.callback([&o, &cmd] {
    if (!o.stdio && o.http.empty() && o.ws.empty() && o.unix_path.empty() && o.http_unix.empty())
      throw CLI::ValidationError(
          cmd.get_name(), "choose a transport: --stdio, --http, --ws, --unix or --http-unix");
    if (o.tls_cert.empty() != o.tls_key.empty())
      throw CLI::ValidationError("--tls-cert/--tls-key", "give both or neither");
    if (!o.tls_client_ca.empty() && o.tls_cert.empty())
      throw CLI::ValidationError("--tls-client-ca", "needs --tls-cert and --tls-key");
  });
}

int serve(server::server& srv, const serve_options& o) {
  bool network = !o.http.empty() || !o.ws.empty() || !o.unix_path.empty() || !o.http_unix.empty();
  if (network) transport::block_shutdown_signals();  // before any server thread exists
  std::vector<std::unique_ptr<transport::http_server>> https;
  std::unique_ptr<transport::unix_server> unix_lines;
  try {
    if (!o.http.empty() || !o.http_unix.empty()) {
      auto h = http_options(o);
      if (!o.http.empty()) {
        auto [host, port] = split_host_port(o.http);
        h.host = host;
        h.port = port;
      } else {
        h.port = 0;  // an ephemeral loopback port next to the Unix socket
      }
      h.unix_path = o.http_unix;
      auto s = std::make_unique<transport::http_server>(srv, h);
      s->start();
      std::string scheme = o.tls_cert.empty() ? "http" : "https";
      if (!o.http.empty())
        std::cerr << "plexus: serving MCP on " << scheme << "://" << h.host << ":" << s->port()
                  << o.mcp_path << " (Streamable HTTP, both eras; HTTP+SSE at /sse; WebSocket)"
                  << std::endl;
      if (!o.http_unix.empty())
        std::cerr << "plexus: serving HTTP on unix:" << o.http_unix << std::endl;
      https.push_back(std::move(s));
    }
    if (!o.ws.empty()) {
      auto h = http_options(o);
      auto [host, port] = split_host_port(o.ws);
      h.host = host;
      h.port = port;
      auto s = std::make_unique<transport::http_server>(srv, h);
      s->start();
      std::cerr << "plexus: serving MCP over WebSocket on " << (o.tls_cert.empty() ? "ws" : "wss")
                << "://" << h.host << ":" << s->port() << "/ws" << std::endl;
      https.push_back(std::move(s));
    }
    if (!o.unix_path.empty()) {
      unix_lines = std::make_unique<transport::unix_server>(
          srv, transport::unix_server_options{o.unix_path, o.max_message_bytes});
      unix_lines->start();
      std::cerr << "plexus: serving MCP (newline-delimited) on unix:" << o.unix_path << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "plexus: " << e.what() << std::endl;
    return 1;
  }
  int rc = 0;
  if (o.stdio) {
    transport::stdio_options so;
    so.max_message_bytes = o.max_message_bytes;
    rc = transport::serve_stdio(srv, so);
  } else {
    int sig = transport::wait_for_shutdown_signal();
    spdlog::info("signal {}: shutting down", sig);
  }
  auto grace =
      std::chrono::milliseconds(static_cast<std::int64_t>(o.shutdown_grace_seconds * 1000));
  for (auto& h : https) h->stop(grace);
  if (unix_lines) unix_lines->stop();
  return rc;
}

}  // namespace plexus::cli
