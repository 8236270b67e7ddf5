#include "plexus/server/context.hpp"
#include "plexus/core/random.hpp"

#include "server/server_impl.hpp"

#include <cmath>

namespace plexus::server {

namespace input {

input_request elicit(std::string message, json::object requested_schema) {
  return {"elicitation/create",
          {{"mode", "form"},
           {"message", std::move(message)},
           {"requestedSchema", std::move(requested_schema)}}};
}

input_request elicit_url(std::string message, std::string url) {
  return {"elicitation/create",
          {{"mode", "url"}, {"message", std::move(message)}, {"url", std::move(url)}}};
}

input_request sample(json::object params) {
  return {"sampling/createMessage", std::move(params)};
}

input_request sample_text(std::string prompt, int max_tokens) {
  json::object msg{{"role", "user"},
                   {"content", json::object{{"type", "text"}, {"text", std::move(prompt)}}}};
  return {"sampling/createMessage",
          {{"messages", json::array{std::move(msg)}}, {"maxTokens", max_tokens}}};
}

input_request list_roots() {
  return {"roots/list", {}};
}

}  // namespace input

namespace {

// The client capability an input request needs.
std::string capability_for(const input_request& r) {
  if (r.method == "elicitation/create") {
    auto mode = json::find_string(r.params, "mode");
    return (mode && *mode == "url") ? "elicitation.url" : "elicitation.form";
  }
  if (r.method == "sampling/createMessage")
    return r.params.contains("tools") ? "sampling.tools" : "sampling";
  if (r.method == "roots/list") return "roots";
  return r.method;
}

// Whether an answer has the shape of the result its request expects. Anything
// else counts as not answered (modern: asked again).
bool plausible_answer(const input_request& r, const json::value& v) {
  if (!v.is_object()) return false;
  const auto& o = v.get_object();
  if (r.method == "elicitation/create") {
    auto a = json::find_string(o, "action");
    if (!a || (*a != "accept" && *a != "decline" && *a != "cancel")) return false;
    auto c = o.find("content");
    return c == o.end() || c->value().is_object() || c->value().is_null();
  }
  if (r.method == "sampling/createMessage")
    return o.contains("role") && o.contains("content") && json::find_string(o, "model");
  if (r.method == "roots/list") return json::find_array(o, "roots") != nullptr;
  return true;
}

// Whole numbers go on the wire as integers ("50", not "5E1").
json::value number(double v) {
  if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 9e15)
    return static_cast<std::int64_t>(v);
  return v;
}

std::string random_id() {
  return random::hex(12);
}

}  // namespace

protocol::era context::era() const {
  return env_.era;
}
const std::string& context::protocol_version() const {
  return env_.version;
}
const json::object& context::client_capabilities() const {
  return env_.client_capabilities;
}
const protocol::implementation& context::client_info() const {
  return env_.client_info;
}
const json::object& context::meta() const {
  return env_.meta;
}
bool context::cancelled() const {
  return env_.cancelled.load();
}
std::optional<protocol::logging_level> context::log_level() const {
  return env_.log_level;
}
bool context::in_task() const {
  return env_.task != nullptr;
}
std::optional<std::string> context::task_id() const {
  if (!env_.task) return std::nullopt;
  return env_.task->id;
}
bool context::start_task() {
  if (env_.task) return true;
  return env_.start_task && env_.start_task();
}
bool context::resumed() const {
  return env_.resumed;
}
const json::value& context::state() const {
  return env_.state;
}
void context::set_state(json::value v) {
  env_.state = std::move(v);
}

void context::close_stream() {
  if (env_.close_stream) env_.close_stream();
}

bool context::client_supports(std::string_view capability) const {
  const auto& caps = env_.client_capabilities;
  auto dot = capability.find('.');
  std::string_view top = capability.substr(0, dot);
  auto it = caps.find(top);
  if (it == caps.end() || it->value().is_null()) return false;
  if (dot == std::string_view::npos) return true;
  std::string_view sub = capability.substr(dot + 1);
  if (!it->value().is_object()) return false;
  const auto& o = it->value().get_object();
  // An empty elicitation capability means form mode (backwards compatibility).
  if (top == "elicitation" && sub == "form" && !o.contains("url")) return true;
  return o.contains(sub);
}

void context::progress(double progress, std::optional<double> total, std::string_view message) {
  if (!env_.progress_token || env_.cancelled) return;
  if (progress <= env_.last_progress) return;  // progress must increase
  env_.last_progress = progress;
  json::object params{{"progressToken", *env_.progress_token}, {"progress", number(progress)}};
  if (total) params["total"] = number(*total);
  if (!message.empty()) params["message"] = message;
  env_.send(jsonrpc::encode(jsonrpc::notification{"notifications/progress", std::move(params)}));
}

void context::log(protocol::logging_level level, json::value data, std::string_view logger) {
  if (!env_.log_level || level < *env_.log_level || env_.cancelled) return;
  if (!env_.srv->options.enable_logging) return;
  json::object params{{"level", protocol::to_string(level)}, {"data", std::move(data)}};
  if (!logger.empty()) params["logger"] = logger;
  env_.send(jsonrpc::encode(jsonrpc::notification{"notifications/message", std::move(params)}));
}

std::map<std::string, json::value> context::ask(
    std::vector<std::pair<std::string, input_request>> inputs) {
  for (const auto& [key, req] : inputs) {
    auto cap = capability_for(req);
    if (!client_supports(cap)) throw detail::missing_capability_signal{cap};
  }
  std::map<std::string, json::value> out;
  if (env_.era == protocol::era::legacy) {
    for (auto& [key, req] : inputs) {
      if (env_.cancelled) throw input_error("the request was cancelled");
      if (req.method == "elicitation/create") {
        auto mode = json::find_string(req.params, "mode");
        if (mode && *mode == "url" && !req.params.contains("elicitationId"))
          req.params["elicitationId"] = random_id();
        // Clients before 2025-11-25 know only form mode, without the field.
        if (mode && *mode == "form" && env_.version != "2025-11-25") req.params.erase("mode");
      }
      auto answer = env_.call_client(req);
      if (!answer)
        throw input_error("the client answered " + req.method + " with error " +
                          std::to_string(answer.error().code) + ": " + answer.error().message);
      if (!plausible_answer(req, *answer))
        throw input_error("the client's answer to " + req.method + " is malformed");
      out[key] = std::move(*answer);
    }
    return out;
  }
  std::vector<std::pair<std::string, input_request>> missing;
  for (auto& [key, req] : inputs) {
    auto it = env_.provided.find(key);
    if (it != env_.provided.end() && plausible_answer(req, it->second)) {
      out[key] = it->second;
      env_.consumed[key] = it->second;
    } else {
      missing.emplace_back(key, std::move(req));
    }
  }
  if (!missing.empty()) throw detail::input_required_signal{std::move(missing)};
  return out;
}

json::value context::ask(std::string key, input_request request) {
  std::vector<std::pair<std::string, input_request>> one;
  one.emplace_back(key, std::move(request));
  return std::move(ask(std::move(one))[key]);
}

elicit_result context::elicit(std::string key, std::string message, json::object requested_schema) {
  auto v = ask(std::move(key), input::elicit(std::move(message), std::move(requested_schema)));
  elicit_result r;
  const auto& o = v.get_object();
  r.action = std::string(*json::find_string(o, "action"));
  if (auto c = json::find_object(o, "content")) r.content = *c;
  return r;
}

json::value context::sample(std::string key, json::object params) {
  auto v = ask(std::move(key), input::sample(std::move(params)));
  const auto& o = v.get_object();
  if (auto c = json::find_object(o, "content"))
    if (auto t = json::find_string(*c, "text")) return json::value(*t);
  return v;
}

std::vector<protocol::root> context::roots(std::string key) {
  auto v = ask(std::move(key), input::list_roots());
  std::vector<protocol::root> out;
  for (const auto& r : *json::find_array(v.get_object(), "roots")) {
    if (!r.is_object()) continue;
    protocol::root root;
    if (auto u = json::find_string(r.get_object(), "uri")) root.uri = std::string(*u);
    if (auto n = json::find_string(r.get_object(), "name")) root.name = std::string(*n);
    out.push_back(std::move(root));
  }
  return out;
}

}  // namespace plexus::server
