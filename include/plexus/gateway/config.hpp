// plexus::gateway configuration: what `plexus gateway --config FILE` federates.
//
// Two file formats are accepted and detected by content:
//   * plexus.yaml (see docs/configuration.md for every option), and
//   * the `mcpServers` JSON of Claude Desktop, Cursor and VS Code, as is
//     ({"mcpServers": {"name": {"command": …, "args": […], "env": {…}}}} or
//     {"name": {"url": …, "headers": {…}}}; VS Code's {"servers": {…}} too).
// Every error names the file, the line and what is wrong (config_error).
//
// Thread-safety: plain values; load/parse are pure functions.
#pragma once

#include "plexus/servers/builtin.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::gateway {

// A bad configuration: "plexus.yaml:12: upstreams.weather.timeout: expected a duration like 30s".
class config_error : public std::runtime_error {
 public:
  config_error(std::string file, int line, std::string message);
  const std::string& file() const noexcept { return file_; }
  int line() const noexcept { return line_; }  // 0 when not known
  const std::string& what_is_wrong() const noexcept { return message_; }

 private:
  std::string file_;
  int line_;
  std::string message_;
};

enum class upstream_kind {
  stdio,      // a child process speaking newline-delimited JSON-RPC
  http,       // Streamable HTTP (both eras) with fallback to HTTP+SSE
  websocket,  // ws:// or wss://
  builtin,    // an in-process Plexus server (servers/builtin.hpp)
};

// A token-bucket rate limit (`rate_limit: {requests_per_second: N, burst: M}`).
struct rate_limit_config {
  double per_second = 0;  // 0: no limit
  double burst = 0;       // bucket size; 0: one second's worth (at least 1)
  bool enabled() const { return per_second > 0; }
};

struct oauth_settings {
  bool enabled = false;
  std::string client_id;      // empty: client ID metadata document or dynamic registration
  std::string client_secret;  // client_credentials (machine-to-machine) when set
  std::string scope;
  std::string token_file;  // empty: DATA_DIR/tokens/NAME.json (0600)
};

struct upstream_config {
  std::string name;    // the key in the file; [A-Za-z0-9_-]+
  std::string prefix;  // default: name; "" federates names as they are
  upstream_kind kind = upstream_kind::stdio;
  // Which protocol era to speak: "auto" (probe server/discover, fall back to
  // initialize), "legacy" (initialize only) or "modern" (2026-07-28 only).
  std::string protocol = "auto";
  bool enabled = true;

  // stdio
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string cwd;
  // `scheduling: inherit` (the default: the gateway's own policy) or `batch`: see
  // client::process_spec::batch_scheduling. Where the gateway and its children share a busy
  // core, batch trades a few microseconds of one call's latency for throughput.
  bool batch_scheduling = false;

  // http / websocket
  std::string url;
  std::map<std::string, std::string> headers;
  std::string ca_file, client_cert_file, client_key_file;
  bool verify_tls = true;
  oauth_settings oauth;

  // builtin: the server's name and its settings (the `options:` map).
  std::string builtin;
  servers::builtin_settings builtin_settings;

  // Federation: tools kept when they match an allow glob (all when empty) and no deny glob.
  std::vector<std::string> allow_tools, deny_tools;

  // Resilience.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};  // per request
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  int breaker_failures = 5;  // consecutive failures that open the circuit
  std::chrono::milliseconds breaker_cooldown{std::chrono::seconds(30)};
  std::chrono::milliseconds restart_backoff{std::chrono::milliseconds(500)};  // doubles
  std::chrono::milliseconds restart_backoff_max{std::chrono::seconds(30)};
  rate_limit_config rate_limit;  // calls, reads and prompts routed to this upstream

  int line = 0;  // where it was declared, for later errors
};

// A named endpoint (/servers/NAME/mcp) exposing a subset of the federated tools,
// resources and prompts: those of the listed upstreams, filtered by the tool globs
// (matched against federated names such as "weather_get_forecast").
struct virtual_server_config {
  std::string name;
  std::vector<std::string> upstreams;  // empty: all
  std::vector<std::string> tools;      // globs; empty: all tools of those upstreams
  int line = 0;
};

struct gateway_config {
  std::string source;           // the file it came from ("" when parsed from a string)
  std::string separator = "_";  // between prefix and name
  std::string data_dir = "plexus-data";
  std::string listen_http;  // HOST:PORT default for --http ("" = none)
  std::vector<std::string> allowed_hosts, allowed_origins;
  std::size_t worker_threads = 64;  // handler threads (gateway calls block on upstreams)
  bool access_log = true;           // JSON lines on stderr
  bool rest_api = true;             // /api/tools, /api/openapi.json
  rate_limit_config rate_limit;     // every request to the gateway, all callers together
  std::vector<upstream_config> upstreams;
  std::vector<virtual_server_config> virtual_servers;
};

// Reads FILE (YAML or mcpServers JSON). Throws config_error.
gateway_config load_config(const std::string& path);

// Parses text; `source` names it in errors. Throws config_error.
gateway_config parse_config(std::string_view text, const std::string& source);

// Glob match with * and ? (used for tool filters and virtual servers).
bool glob_match(std::string_view pattern, std::string_view text);

// The commented default plexus.yaml that `plexus init` writes: every built-in
// server mounted under its prefix, data under `data_dir`.
std::string default_config_yaml(const std::string& data_dir = "plexus-data");

}  // namespace plexus::gateway
