// plexus::client::client — an MCP client for one server, in either protocol era.
//
// connect() finds the era as the spec says: it probes with `server/discover`
// (modern envelope); a DiscoverResult or a recognised modern error means
// 2026-07-28 (a -32022 picks a version from `supported`), anything else falls
// back to `initialize`. Every later request carries what its era needs: the
// per-request `_meta` (modern) or the session (legacy).
//
// Input from the application: the same handlers answer MRTR input requests
// (modern: the client retries with `inputResponses` and the byte-exact
// `requestState`, on a new id) and legacy server-to-client requests
// (sampling/createMessage, elicitation/create, roots/list).
//
// Thread-safety: every member function may be called from any thread; many
// requests may be in flight at once. Handlers run on a client thread (one per
// inbound request), never on the transport's reader.
#pragma once

#include "plexus/client/transport.hpp"
#include "plexus/core/expected.hpp"
#include "plexus/protocol/types.hpp"
#include "plexus/protocol/versions.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace plexus::client {

struct error {
  enum kind_t { protocol, transport, timeout, cancelled, closed, invalid_response } kind = protocol;
  int code = 0;  // the server's JSON-RPC code, for protocol errors
  std::string message;
  std::optional<json::value> data;
  // "error -32602: Unknown tool: x" / "timed out after 60 s" / …
  std::string describe() const;
};

template <class T>
using result = plexus::expected<T, error>;

// Answers to what a server asks for. Each returns the result object of the
// request (ElicitResult, CreateMessageResult, ListRootsResult) or an error.
struct input_handlers {
  std::function<result<json::object>(const json::object& params)> elicitation;
  std::function<result<json::object>(const json::object& params)> sampling;
  std::function<result<json::object>(const json::object& params)> roots;
};

enum class version_mode { auto_detect, legacy_only, modern_only };

struct client_options {
  protocol::implementation info{.name = "plexus-client", .version = PLEXUS_VERSION};
  input_handlers handlers;
  version_mode mode = version_mode::auto_detect;
  std::string legacy_version = std::string(protocol::latest_legacy_version);
  std::chrono::milliseconds request_timeout{std::chrono::seconds(60)};
  // Progress resets the timeout, but never beyond this since the request started.
  std::chrono::milliseconds max_request_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds probe_timeout{std::chrono::seconds(5)};
  int max_input_rounds = 16;
  // Notifications that are not tied to a request (list_changed, updated, logs, …).
  std::function<void(const std::string& method, const json::object& params)> on_notification;
  // The transport closed (the server exited, the connection dropped); called once.
  std::function<void(const std::string& why)> on_closed;
};

// Cancels a request from another thread. `also` (optional, set before the request
// starts) is polled too: a proxy links it to its own caller's cancellation.
class cancellation {
 public:
  cancellation() = default;
  explicit cancellation(std::function<bool()> also) : also_(std::move(also)) {}
  void cancel() { flag_.store(true); }
  bool cancelled() const { return flag_.load() || (also_ && also_()); }

 private:
  std::atomic<bool> flag_{false};
  std::function<bool()> also_;
};

struct request_options {
  // Called with each notifications/progress params of this request.
  std::function<void(const json::object& progress)> on_progress;
  // Called with each notifications/message params of this request (modern: asks for logs).
  std::function<void(const json::object& log)> on_log;
  std::optional<protocol::logging_level> log_level;
  std::optional<std::chrono::milliseconds> timeout;
  std::shared_ptr<cancellation> cancel;
  json::object meta;  // extra _meta (e.g. traceparent)
  // Told the request's JSON-RPC id (serialized) before it is sent.
  std::function<void(const std::string&)> on_id;
  // Answers what the server asks while serving this request, instead of
  // client_options.handlers: MRTR input requests of this request (modern; its
  // _meta declares these capabilities) and legacy server-to-client requests that
  // arrive on this request's response stream, or while it is the only request in
  // flight with its own handlers. A proxy uses this to route a question to the
  // caller that caused it.
  std::shared_ptr<const input_handlers> handlers;
  // Answers a whole MRTR round at once instead of the handlers: given the
  // inputRequests map, returns the inputResponses map (same keys). A proxy uses it
  // to pass a round through with its keys intact.
  std::function<result<json::object>(const json::object& input_requests)> on_input_required;
  // Modern era: declares the tasks extension (io.modelcontextprotocol/tasks) for
  // this request, so the server may answer a tools/call with a task handle
  // (resultType "task", returned as is: the caller polls tasks/get); tasks/get,
  // tasks/update and tasks/cancel need it too. A proxy sets it to pass tasks through.
  bool tasks = false;
};

// An open subscriptions/listen stream; cancelling (or destroying) it ends the stream.
class subscription {
 public:
  ~subscription();
  void cancel();

 private:
  friend class client;
  subscription() = default;
  std::shared_ptr<void> impl_;
  std::shared_ptr<cancellation> stop_;
  std::string key_;
  std::thread worker_;
};

class client {
 public:
  // Starts the transport and finds the era. Errors say what the server did.
  static result<std::unique_ptr<client>> connect(std::unique_ptr<client_transport> transport,
                                                 client_options options);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  protocol::era era() const;
  const std::string& protocol_version() const;
  const json::object& server_capabilities() const;
  const json::object& server_info() const;
  const std::optional<std::string>& instructions() const;

  // Any request; handles the era envelope, MRTR rounds, progress, timeouts, cancellation.
  result<json::object> request(const std::string& method, json::object params = {},
                               const request_options& options = {});
  result<std::vector<json::object>> list_tools();  // every page
  result<std::vector<json::object>> list_resources();
  result<std::vector<json::object>> list_resource_templates();
  result<std::vector<json::object>> list_prompts();
  result<json::object> call_tool(const std::string& name, json::object arguments = {},
                                 const request_options& options = {});
  result<json::object> read_resource(const std::string& uri, const request_options& options = {});
  result<json::object> get_prompt(const std::string& name,
                                  const std::map<std::string, std::string>& arguments = {},
                                  const request_options& options = {});
  result<json::object> ping();

  // Starts `method` without waiting for its answer: `done` gets the result once, on a
  // client thread (the transport's reader, or the one that times requests out), and
  // must not block. For a caller that cannot spare a thread per request (the gateway
  // forwarding from its I/O thread). True when the request went out; false when it
  // could not be sent without waiting (see client_transport::try_send: a message too
  // large to write at once, a full pipe, a legacy HTTP session; or a closed client),
  // and then nothing was sent and `done` is never called: use request().
  // Timeouts, cancellation (polled) and progress work as for request(). The server's
  // questions go to the options' handlers (else the client's; or on_input_required), on a thread of
  // their own since they may wait for a person: legacy server-to-client requests, and MRTR rounds
  // (the rest of the request then runs there too). Not done here: a second round after -32022.
  bool request_async(const std::string& method, json::object params, request_options options,
                     std::function<void(result<json::object>)> done);

  // 2026-07-28: opens a subscriptions/listen stream with this SubscriptionFilter
  // (e.g. {"toolsListChanged": true, "resourceSubscriptions": ["file:///x"]});
  // `on_event` gets each frame (method, params), the acknowledgement first.
  // (List results are cached for their ttlMs and dropped on list_changed.)
  result<std::unique_ptr<subscription>> listen(
      json::object filter, std::function<void(const std::string&, const json::object&)> on_event);

  // Closes the transport; requests in flight fail with error::closed.
  void close();
  // True once the transport closed (by close() or by the server).
  bool closed() const;

  struct impl;

 private:
  explicit client(std::shared_ptr<impl> i) : impl_(std::move(i)) {}
  std::shared_ptr<impl> impl_;
};

}  // namespace plexus::client
