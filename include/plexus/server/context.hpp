// plexus::server::context — what a handler knows about the request it serves
// and what it may do while serving it: report progress, log, and ask the client
// for input (elicitation, sampling, roots) with one call that works in both eras.
//
// How asking works: in the legacy era (initialize/sessions) `ask` sends a
// server-to-client JSON-RPC request and blocks this handler thread until the
// answer arrives. In the modern era servers may not send requests, so `ask`
// ends this run of the handler: the runtime answers with an InputRequiredResult
// (MRTR) and a sealed requestState holding the answers gathered so far; when
// the client retries with the answers, the handler runs again from the top and
// the same `ask` calls now return immediately. Handlers must therefore be
// deterministic up to their `ask` calls, and name each input with a stable key.
//
// Inside a task the same call works too. Modern task: `ask` parks the task in
// `input_required` with the inputs as its inputRequests; tasks/update supplies
// the answers and the handler runs again from the top (the same rule applies).
// Legacy task: the requests carry related-task metadata and the task reports
// `input_required` while they wait for answers.
//
// Thread-safety: a context belongs to one request; use it from the handler's
// thread (progress/log may also be called from threads the handler starts).
#pragma once

#include "plexus/json/json.hpp"
#include "plexus/protocol/types.hpp"
#include "plexus/protocol/versions.hpp"

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus::server {

namespace detail {
struct request_env;
}

// One thing a handler asks the client for. In the modern era it is an entry of
// InputRequiredResult.inputRequests; in the legacy era a server-to-client request.
struct input_request {
  std::string method;  // "elicitation/create" | "sampling/createMessage" | "roots/list"
  json::object params;
};

namespace input {
// Form-mode elicitation: a flat object schema of primitive properties.
input_request elicit(std::string message, json::object requested_schema);
// URL-mode elicitation: the user completes an out-of-band flow at `url`.
input_request elicit_url(std::string message, std::string url);
// Sampling with full CreateMessageRequest params (messages, maxTokens, ...).
input_request sample(json::object create_message_params);
// Sampling of one user text message.
input_request sample_text(std::string prompt, int max_tokens);
input_request list_roots();
}  // namespace input

// The answer to an elicitation.
struct elicit_result {
  std::string action;  // "accept" | "decline" | "cancel"
  json::object content;
  bool accepted() const { return action == "accept"; }
};

// Thrown by handlers for an error the caller should see verbatim: in a tool it
// becomes an `isError` result with this message.
class tool_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by handlers to answer with a specific JSON-RPC error (e.g. -32602).
class protocol_error : public std::runtime_error {
 public:
  protocol_error(int code, std::string message, std::optional<json::value> data = std::nullopt)
      : std::runtime_error(message), code_(code), data_(std::move(data)) {}
  int code() const noexcept { return code_; }
  const std::optional<json::value>& data() const noexcept { return data_; }

 private:
  int code_;
  std::optional<json::value> data_;
};

// Thrown by `ask` when the client answered a legacy request with an error,
// the request timed out, or the request was cancelled.
class input_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class context {
 public:
  explicit context(detail::request_env& env) : env_(env) {}
  context(const context&) = delete;
  context& operator=(const context&) = delete;

  protocol::era era() const;
  // The protocol version this request speaks (negotiated or per-request).
  const std::string& protocol_version() const;
  // The client's capabilities as declared for this request.
  const json::object& client_capabilities() const;
  // True when the client declared `capability` ("sampling", "elicitation", "roots",
  // or "elicitation.url" / "elicitation.form" / "sampling.tools").
  bool client_supports(std::string_view capability) const;
  const protocol::implementation& client_info() const;
  // The request's `_meta` (progress token, trace context, ...).
  const json::object& meta() const;

  // True once the client cancelled the request (or went away).
  bool cancelled() const;
  // The least severe log level the client takes for this request: 2026-07-28, the request's
  // logLevel; legacy, the session's (debug until logging/setLevel). None: it takes no logs.
  std::optional<protocol::logging_level> log_level() const;

  // Progress for this request; sent only when the client asked for it with a
  // progressToken, and only when `progress` increases.
  void progress(double progress, std::optional<double> total = std::nullopt,
                std::string_view message = {});
  // A log message for this request (notifications/message), sent when the
  // client's log level admits it.
  void log(protocol::logging_level level, json::value data, std::string_view logger = {});

  // Asks the client for several inputs at once; returns the answers by key.
  std::map<std::string, json::value> ask(std::vector<std::pair<std::string, input_request>> inputs);
  json::value ask(std::string key, input_request request);
  elicit_result elicit(std::string key, std::string message, json::object requested_schema);
  // The text of a sampled answer (content.text), or the whole result when not text.
  json::value sample(std::string key, json::object create_message_params);
  std::vector<protocol::root> roots(std::string key = "roots");

  // Asks the transport to close this request's response stream now without
  // ending the request (SSE polling, SEP-1699): the client reconnects and gets
  // the rest. A no-op on transports without response streams.
  void close_stream();

  // Tasks. True while this handler runs as a task.
  bool in_task() const;
  // The task's id while running as one.
  std::optional<std::string> task_id() const;
  // Turns the rest of this tools/call into a task: the client gets a
  // CreateTaskResult now and this handler keeps running; its result reaches the
  // client through tasks/get (modern) or tasks/result (legacy). For tools
  // registered with task_start::by_handler, e.g. after gathering input with MRTR.
  // True when this run is a task (already, or now); false when the client cannot
  // take one for this call, and the handler goes on synchronously.
  bool start_task();

  // Modern era: true when this run resumes an InputRequiredResult with a valid requestState.
  bool resumed() const;
  // Application state carried (sealed) across MRTR rounds.
  const json::value& state() const;
  void set_state(json::value v);

 private:
  detail::request_env& env_;
};

}  // namespace plexus::server
