// plexus::gateway::gateway — one MCP server whose tools, resources and prompts come
// from many upstream MCP servers (child processes, remote URLs, in-process built-ins),
// each under its own name prefix.
//
// The federated endpoint is an ordinary plexus::server::server, so it speaks both
// protocol eras over every transport; each federated tool's handler forwards the call
// through a plexus::client connected to its upstream. Across the hop travel:
// progress, log messages, cancellation, `_meta` (W3C traceparent/tracestate/baggage
// and any non-MCP keys), and the questions an upstream asks (sampling, elicitation,
// roots): a legacy upstream's server-to-client request becomes an MRTR input request
// for a modern caller (the upstream call stays parked until the caller retries with
// the answer) and a modern upstream's MRTR input request becomes a server-to-client
// request for a legacy caller.
//
// Each upstream is supervised: connected in the background, restarted with
// exponential backoff when it exits, guarded by a circuit breaker, and re-listed when
// it announces list changes (or its lists' ttlMs pass). A dead upstream never breaks
// the lists or the other upstreams: its items disappear from the lists and its calls
// fail fast with a tool error naming it.
//
// Thread-safety: all member functions may be called from any thread.
#pragma once

#include "plexus/gateway/config.hpp"
#include "plexus/json/json.hpp"
#include "plexus/server/server.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace plexus::gateway {

struct upstream_status {
  std::string name;
  std::string prefix;
  std::string kind;   // "stdio" | "http" | "websocket" | "builtin"
  std::string state;  // "starting" | "ready" | "down" | "disabled"
  bool circuit_open = false;
  int restarts = 0;
  std::string last_error;
  std::string protocol_version;  // once connected
  std::size_t tools = 0, resources = 0, resource_templates = 0, prompts = 0;
};

// One tool as the gateway exposes it.
struct federated_tool {
  std::string name;      // e.g. "weather_get_forecast"
  std::string upstream;  // "weather"
  std::string original;  // "get_forecast"
  json::object definition;
};

// What happened to one forwarded request (for metrics and access logs).
struct call_record {
  std::string method;    // "tools/call", "resources/read", "prompts/get", "completion/complete"
  std::string name;      // federated tool/prompt name or resource URI
  std::string upstream;  // "" when no upstream was reached
  std::string outcome;   // "ok" | "tool_error" | "error" | "unavailable" | "timeout" | "cancelled"
  std::chrono::microseconds duration{0};
};

class gateway {
 public:
  // Builds the endpoints (nothing is started). Throws config_error for problems that
  // make the configuration unusable.
  explicit gateway(gateway_config config);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // Starts every enabled upstream and waits up to `wait` for all of them to be listed
  // (those still starting keep starting in the background).
  void start(std::chrono::milliseconds wait = std::chrono::seconds(15));
  // Stops every upstream (children get stdin closed, SIGTERM, then SIGKILL).
  void stop();

  // Applies a new configuration: upstreams that are new start, removed ones stop once
  // their calls in flight finished, changed ones are replaced; unchanged ones keep
  // running. Virtual servers are rebuilt from the new list. Throws config_error (and
  // keeps the old configuration) when the new one is unusable.
  void reload(gateway_config config);

  // The federated endpoint (/mcp).
  server::server& endpoint();
  // Named endpoints of virtual servers (/servers/NAME/mcp), by name.
  std::vector<std::pair<std::string, server::server*>> virtual_endpoints();

  std::vector<upstream_status> status() const;
  // True when every enabled upstream is ready.
  bool ready() const;
  std::vector<federated_tool> tools() const;
  // Problems found while federating (name collisions, invalid schemas, ...), newest last.
  std::vector<std::string> problems() const;
  const gateway_config& config() const;

  // Forwarded requests being served now.
  std::int64_t in_flight() const;
  // Told about every forwarded request when it ends (from handler threads).
  void on_call(std::function<void(const call_record&)> observer);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

// The name a federated item gets: prefix + separator + name, characters outside
// [A-Za-z0-9_-] replaced by '_', and names longer than 64 characters shortened
// deterministically (their head, '_' and 8 hex digits of a hash of the whole name).
// An empty prefix keeps names as they are (apart from that clean-up).
std::string federated_name(std::string_view prefix, std::string_view separator,
                           std::string_view name);
// The URI a federated resource gets: "PREFIX+" + the upstream URI, with the prefix
// lower-cased and '_' turned into '-' so that it stays a valid URI scheme; an empty
// prefix keeps URIs as they are.
std::string federated_uri(std::string_view prefix, std::string_view uri);

}  // namespace plexus::gateway
