// Transport options shared by every `plexus` subcommand that serves an MCP
// server (everything, and later server/gateway), and the loop that runs them.
#pragma once

#include "plexus/server/server.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace plexus::cli {

struct serve_options {
  bool stdio = false;
  std::string http;       // HOST:PORT
  std::string ws;         // HOST:PORT (WebSocket-only listener; /mcp and /ws)
  std::string unix_path;  // newline-framed JSON-RPC
  std::string http_unix;  // HTTP over a Unix socket
  std::string mcp_path = "/mcp";
  std::string tls_cert, tls_key, tls_client_ca;
  std::vector<std::string> allowed_hosts, allowed_origins;
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  std::size_t http_threads = 0;
  std::size_t max_sessions = 10'000;
  std::size_t max_connections = 10'000;
  double session_idle_seconds = 1800;
  double shutdown_grace_seconds = 5;
};

void add_serve_options(CLI::App& cmd, serve_options& o);

// Runs the chosen transports until stdin EOF (stdio) or SIGINT/SIGTERM.
int serve(server::server& srv, const serve_options& o);

}  // namespace plexus::cli
