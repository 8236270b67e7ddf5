// plexus::server::server — an MCP server: registries of tools, resources,
// resource templates, prompts and completions, and the options of the engine
// that serves them in both protocol eras over any transport.
//
// Register everything before serving; tools, resources and prompts may also be
// added or removed while serving (clients are told through list_changed).
// Thread-safety: all member functions are safe to call from any thread.
#pragma once

#include "plexus/json/json.hpp"
#include "plexus/jsonrpc/message.hpp"
#include "plexus/protocol/types.hpp"
#include "plexus/server/context.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace plexus::server {

// A tool's answer (CallToolResult).
struct tool_result {
  json::array content;
  std::optional<json::value> structured_content;
  bool is_error = false;
  json::object meta;

  static tool_result text(std::string text);
  static tool_result error(std::string message);
  tool_result& add(json::object content_block);
  json::object to_json() const;
};

struct get_prompt_result {
  std::optional<std::string> description;
  std::vector<protocol::prompt_message> messages;
};

struct completion {
  std::vector<std::string> values;  // at most 100 are sent
  std::optional<std::int64_t> total;
  bool has_more = false;
};

using tool_handler = std::function<tool_result(context&, const json::object& arguments)>;

// Answers one call of a tool's asynchronous fast path (see async_tool_handler), from
// any thread. Only the first answer counts; copies answer the same call.
class tool_completion {
 public:
  // Where the answer goes (the engine's side of the call).
  struct target {
    virtual ~target() = default;
    virtual void finish(tool_result result) = 0;
    virtual void fail(jsonrpc::error error) = 0;
    virtual void defer(tool_handler rest) = 0;
  };
  explicit tool_completion(std::shared_ptr<target> t) : target_(std::move(t)) {}
  // The tool's result (is_error for the tool's own failure).
  void operator()(tool_result result) const { target_->finish(std::move(result)); }
  // A JSON-RPC error instead of a result: what throwing protocol_error does in a handler.
  void fail(int code, std::string message, std::optional<json::value> data = std::nullopt) const {
    target_->fail(jsonrpc::error{code, std::move(message), std::move(data)});
  }
  // Hands the rest of the call to the handler pool, for a fast path that finds out only
  // later that it must wait for the client (a proxy whose upstream asks the caller
  // something): `rest` runs there as the tool's handler would, with the call's arguments
  // and a context that may ask, elicit, sample and list roots; what it returns or throws
  // answers the call. Counts as the answer: the completion's later answers are ignored.
  void continue_on_pool(tool_handler rest) const { target_->defer(std::move(rest)); }

 private:
  std::shared_ptr<target> target_;
};

// A tool's asynchronous fast path, for a handler whose work waits on something else
// (a proxy forwarding the call): tried first, on the thread that decoded the request,
// for a plain call (no task, no MRTR retry, a message within the connection's
// direct_max_bytes, 16 KiB unless the transport raised it). It either
// takes the call (starts the work without blocking, returns true and later calls
// `done` once, from any thread) or declines (returns false without calling `done`),
// and then the tool's handler runs on the pool as usual. `ctx` stays valid until
// `done` is called (it cannot wait for the client: done.continue_on_pool hands the call to
// the pool when it must); `arguments` only during the call.
// Exceptions answer like the handler's (tool_error: an isError result).
using async_tool_handler =
    std::function<bool(context& ctx, const json::object& arguments, tool_completion done)>;

using resource_reader =
    std::function<std::vector<protocol::resource_contents>(context&, const std::string& uri)>;
// Reads a URI matched by a template; std::nullopt means "no such resource".
using template_reader = std::function<std::optional<std::vector<protocol::resource_contents>>(
    context&, const std::string& uri, const std::map<std::string, std::string>& variables)>;
using prompt_handler =
    std::function<get_prompt_result(context&, const std::map<std::string, std::string>& arguments)>;
// Completes the value of one argument; `arguments` holds the values already chosen.
using completion_handler =
    std::function<completion(const std::string& argument, const std::string& value,
                             const std::map<std::string, std::string>& arguments)>;

// What a request stage sees of a request: decoded, enveloped, not yet routed.
struct request_info {
  std::string_view method;
  const json::object& params;
  protocol::era era;
  const protocol::implementation& client_info;
};

struct server_options {
  std::optional<std::string> instructions;
  std::size_t page_size = 100;        // list pagination
  std::int64_t list_ttl_ms = 60'000;  // ttlMs on cacheable modern results
  std::string cache_scope = "public";
  // Show exception messages of failing handlers to clients (off: "internal error").
  bool expose_internal_errors = false;
  std::size_t worker_threads = 8;                 // handlers run on this pool
  std::size_t max_in_flight_per_connection = 64;  // backpressure beyond this
  std::chrono::milliseconds client_request_timeout{std::chrono::minutes(5)};
  std::chrono::seconds request_state_ttl{std::chrono::minutes(10)};
  // HMAC key for MRTR requestState; empty = a random key per process. Replicas
  // behind one endpoint must share it.
  std::string request_state_key;
  // Capabilities are advertised when something is registered; force them here.
  bool enable_tools = false, enable_resources = false, enable_prompts = false;
  bool enable_logging = true;
  bool enable_completions = false;
  // Tasks: the modern extension io.modelcontextprotocol/tasks (advertised under
  // capabilities.extensions) and legacy 2025-11-25 tasks (capabilities.tasks).
  bool enable_tasks = true;
  std::size_t max_tasks = 1000;  // kept at once; the oldest finished ones are evicted first
  // How long a task (and its result) is kept after creation; also the largest
  // TTL a legacy client may request. A task still running then is cancelled.
  std::chrono::milliseconds task_ttl{std::chrono::hours(1)};
  std::chrono::milliseconds task_poll_interval{500};  // suggested to pollers
  // Told (on a handler thread, before the answer) when a client subscribes to a
  // resource (resources/subscribe, or a listen filter's resourceSubscriptions): a
  // proxy subscribes upstream so that updates reach it.
  std::function<void(const std::string& uri)> on_resource_subscribe;
  // The stages in front of routing (authentication, authorization, rate limits; the
  // gateway composes its chain here): called for every request, on the thread that
  // decoded it, before it is routed. An error refuses the request with it.
  std::function<std::optional<jsonrpc::error>(const request_info&)> admit;
};

// How a tool that supports tasks (protocol::tool::task_support "optional" or
// "required") becomes one when the client can take a task.
enum class task_start {
  // The engine answers CreateTaskResult before the handler runs (legacy
  // task-augmented calls always start this way).
  at_call,
  // The handler runs synchronously, and may gather input with MRTR, until it
  // calls context::start_task() (modern era).
  by_handler,
};

// Which thread runs a tool's handler.
enum class tool_dispatch {
  // The handler pool (the default): the handler may block on a database, the network or
  // the client's answer (sampling, elicitation, roots in the 2025 era).
  pool,
  // The thread that decoded the request (a transport's I/O or reader thread), with no
  // hand-off: saves two context switches per call, like an async tool on an event loop.
  // Only for handlers that neither block nor run long: while one runs, that thread
  // reads and writes nothing else. It cannot wait for the client (a 2025-era ask fails
  // with an error; modern-era MRTR works, as it does not wait). Tools that support tasks,
  // and calls in messages over connection_options::direct_max_bytes on stream transports
  // (16 KiB; stdio raises it when it widened its pipes), run on the pool.
  direct,
};

class server {
 public:
  explicit server(protocol::implementation info, server_options options = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Dynamic tools: the caller provides the schema (used by proxies and the gateway).
  void add_tool(protocol::tool definition, tool_handler handler);
  // A tool whose definition.task_support is "optional" or "required", started as a task per
  // `start`.
  void add_tool(protocol::tool definition, tool_handler handler, task_start start);
  // A tool whose handler runs as `dispatch` says.
  void add_tool(protocol::tool definition, tool_handler handler, tool_dispatch dispatch);
  // A tool with an asynchronous fast path in front of its handler (see async_tool_handler).
  void add_tool(protocol::tool definition, tool_handler handler, task_start start,
                async_tool_handler fast_path);
  bool remove_tool(std::string_view name);

  void add_resource(protocol::resource definition, resource_reader reader);
  bool remove_resource(std::string_view uri);
  // A template with the same uriTemplate as an existing one replaces it.
  void add_resource_template(protocol::resource_template definition, template_reader reader);
  bool remove_resource_template(std::string_view uri_template);
  void add_prompt(protocol::prompt definition, prompt_handler handler);
  bool remove_prompt(std::string_view name);
  // Completion for a prompt argument (ref/prompt) or a template variable (ref/resource).
  void add_prompt_completion(std::string prompt_name, completion_handler handler);
  void add_resource_completion(std::string uri_template, completion_handler handler);

  // Tells subscribers that a resource changed (notifications/resources/updated).
  void notify_resource_updated(const std::string& uri);
  // Tells clients a list changed without a registry edit (e.g. dynamic sources).
  void notify_tools_changed();
  void notify_prompts_changed();
  void notify_resources_changed();

  const protocol::implementation& info() const;
  const server_options& options() const;

  struct impl;
  impl& internals() { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace plexus::server
