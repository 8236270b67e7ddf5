#include "plexus/server/connection.hpp"

#include "plexus/core/base64.hpp"
#include "plexus/core/blocking.hpp"
#include "plexus/jsonrpc/message.hpp"
#include "server/server_impl.hpp"
#include "server/tool_wire.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include <future>
#include <set>

namespace plexus::server {

namespace codes = jsonrpc::codes;
using protocol::era;

namespace {

// A final answer: its text and, for errors, the JSON-RPC code (HTTP maps it to a status).
struct outgoing {
  std::string text;
  int error_code = 0;
};

outgoing error_text(const jsonrpc::request_id& id, int code, std::string message,
                    std::optional<json::value> data = std::nullopt) {
  return {jsonrpc::encode(jsonrpc::make_error(id, code, std::move(message), std::move(data))),
          code};
}

// How the engine answers one inbound message.
class respond_fn {
 public:
  explicit respond_fn(std::shared_ptr<exchange> ex) : ex_(std::move(ex)) {}
  void operator()(outgoing o) const { ex_->finish(std::move(o.text), o.error_code); }
  void operator()(std::string text) const { ex_->finish(std::move(text), 0); }
  void send(std::string text) const { ex_->send(std::move(text)); }
  const std::shared_ptr<exchange>& target() const { return ex_; }

 private:
  std::shared_ptr<exchange> ex_;
};

// Stream transports: everything goes down the connection's outbound.
class outbound_exchange : public exchange {
 public:
  explicit outbound_exchange(std::shared_ptr<outbound> out) : out_(std::move(out)) {}
  void send(std::string text) override { out_->send(std::move(text)); }
  void finish(std::string text, int) override { out_->send(std::move(text)); }

 private:
  std::shared_ptr<outbound> out_;
};

// Gathers the answers of a 2025-03-26 batch into one JSON array.
class batch_collector : public exchange {
 public:
  batch_collector(std::size_t expected, std::shared_ptr<exchange> out)
      : expected_(expected), out_(std::move(out)) {}
  void send(std::string text) override { out_->send(std::move(text)); }
  void disconnect() override { out_->disconnect(); }
  void finish(std::string text, int) override {
    std::string done;
    {
      std::lock_guard lk(mu_);
      parts_.push_back(std::move(text));
      if (parts_.size() < expected_) return;
      done = "[";
      for (std::size_t i = 0; i < parts_.size(); ++i) {
        if (i) done += ',';
        done += parts_[i];
      }
      done += ']';
    }
    out_->finish(std::move(done), 0);
  }

 private:
  std::mutex mu_;
  std::size_t expected_;
  std::vector<std::string> parts_;
  std::shared_ptr<exchange> out_;
};

// An exchange whose destination can change once: a tools/call that becomes a
// task answers CreateTaskResult on the original exchange, and everything its
// handler says after that goes to the task.
class redirectable_exchange : public exchange {
 public:
  explicit redirectable_exchange(std::shared_ptr<exchange> target) : target_(std::move(target)) {}
  void send(std::string text) override {
    std::lock_guard lk(mu_);
    target_->send(std::move(text));
  }
  void finish(std::string text, int error_code) override {
    std::lock_guard lk(mu_);
    target_->finish(std::move(text), error_code);
  }
  void no_reply() override {
    std::lock_guard lk(mu_);
    target_->no_reply();
  }
  void disconnect() override {
    std::lock_guard lk(mu_);
    target_->disconnect();
  }
  // Answers `text` on the current target, then sends everything else to `next`.
  void finish_then_redirect(std::string text, std::shared_ptr<exchange> next) {
    std::lock_guard lk(mu_);
    target_->finish(std::move(text), 0);
    target_ = std::move(next);
  }

 private:
  std::mutex mu_;
  std::shared_ptr<exchange> target_;
};

// Where the run of a task reports: its final answer completes or fails the
// task; messages related to it go where `route` sends them.
class task_sink : public exchange {
 public:
  task_sink(task_store& store, std::weak_ptr<task_record> task,
            std::function<void(std::string)> route)
      : store_(store), task_(std::move(task)), route_(std::move(route)) {}
  void send(std::string text) override {
    if (route_) route_(std::move(text));
  }
  void finish(std::string text, int) override {
    auto t = task_.lock();
    if (!t) return;
    boost::system::error_code ec;
    auto v = plexus::json::parse(text, ec);
    if (ec || !v.is_object()) {
      store_.fail(t, {codes::internal_error, "Internal error: malformed task result", {}});
      return;
    }
    const auto& o = v.get_object();
    if (auto r = json::find_object(o, "result")) {
      json::object result = *r;
      // A modern DetailedTask inlines the result; serverInfo is on the envelope already.
      if (t->era == protocol::era::modern)
        if (auto m = result.find("_meta"); m != result.end() && m->value().is_object()) {
          m->value().get_object().erase(protocol::meta::server_info);
          if (m->value().get_object().empty()) result.erase(m);
        }
      store_.complete(t, std::move(result));
      return;
    }
    jsonrpc::error e;
    if (auto err = json::find_object(o, "error")) {
      e.code = static_cast<int>(json::find_int(*err, "code").value_or(codes::internal_error));
      if (auto m = json::find_string(*err, "message")) e.message = std::string(*m);
      if (auto d = err->find("data"); d != err->end()) e.data = d->value();
    }
    if (e.message.empty()) e.message = "Internal error";
    store_.fail(t, std::move(e));
  }

 private:
  task_store& store_;
  std::weak_ptr<task_record> task_;
  std::function<void(std::string)> route_;
};

// `text` (a request or notification) with _meta io.modelcontextprotocol/related-task.
std::string with_related_task(const std::string& text, const std::string& task_id) {
  boost::system::error_code ec;
  auto v = plexus::json::parse(text, ec);
  if (ec || !v.is_object()) return text;
  auto& o = v.get_object();
  auto& params = o["params"];
  if (!params.is_object()) params.emplace_object();
  auto& meta = params.get_object()["_meta"];
  if (!meta.is_object()) meta.emplace_object();
  meta.get_object()[protocol::meta::related_task] = json::object{{"taskId", task_id}};
  return json::dump(v);
}

std::string encode_cursor(std::size_t offset) {
  return base64::encode_url("o:" + std::to_string(offset));
}

std::optional<std::size_t> decode_cursor(std::string_view cursor) {
  auto raw = base64::decode_url(cursor);
  if (!raw || raw->size() < 3 || raw->substr(0, 2) != "o:") return std::nullopt;
  std::size_t n = 0;
  for (char c : raw->substr(2)) {
    if (c < '0' || c > '9' || n > (std::size_t(1) << 40)) return std::nullopt;
    n = n * 10 + std::size_t(c - '0');
  }
  return n;
}

const json::object empty_object;

std::atomic<std::uint64_t> next_session_number{1};

const json::object& params_of(const jsonrpc::request& r) {
  return r.params.is_object() ? r.params.get_object() : empty_object;
}

const json::value no_arguments = json::value(json::object());  // (braces would make [{}])

// The arguments of a tools/call, in place ({} when absent or null), or null when they are
// not an object. A value, not an object: the schema validator takes one, and making one
// from the object copied it, large texts and all.
const json::value* arguments_of(const json::object& params) {
  auto it = params.find("arguments");
  if (it == params.end() || it->value().is_null()) return &no_arguments;
  return it->value().is_object() ? &it->value() : nullptr;
}

// {"sampling":{}} for "sampling"; {"elicitation":{"url":{}}} for "elicitation.url".
json::object capability_object(std::string_view cap) {
  auto dot = cap.find('.');
  if (dot == std::string_view::npos) return {{cap, json::object{}}};
  return {{cap.substr(0, dot), json::object{{cap.substr(dot + 1), json::object{}}}}};
}

}  // namespace

struct pending_client_request {
  std::promise<plexus::expected<json::value, jsonrpc::error>> promise;
};

struct connection::impl : std::enable_shared_from_this<connection::impl> {
  impl(server::impl& s, std::shared_ptr<outbound> o, connection_options opt)
      : srv(s),
        out(std::move(o)),
        default_exchange(std::make_shared<outbound_exchange>(out)),
        opts(opt) {}

  server::impl& srv;
  std::shared_ptr<outbound> out;
  std::shared_ptr<exchange> default_exchange;
  connection_options opts;

  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  // Legacy session (opened by initialize).
  bool initialized = false;
  std::string version;
  json::object client_caps;
  protocol::implementation client_info;
  std::optional<protocol::logging_level> log_level = protocol::logging_level::debug;
  std::set<std::string> resource_subs;
  std::uint64_t session_bus_token = 0;
  // Requests being served, by id; server-to-client requests awaiting answers.
  std::map<std::string, std::shared_ptr<detail::request_env>> in_flight;
  std::map<std::string, std::shared_ptr<pending_client_request>> pending;
  std::int64_t next_client_request_id = 1;
  // Modern subscriptions/listen streams: request id -> bus subscription.
  std::map<std::string, std::uint64_t> listens;
  // Owner of this session's legacy tasks in the server's task store.
  const std::string task_owner = "session:" + std::to_string(next_session_number++);

  void send(std::string text) { out->send(std::move(text)); }

  // ---- entry points --------------------------------------------------------

  void receive(std::string_view text, std::shared_ptr<exchange> ex) {
    bool batch_ok;
    {
      std::lock_guard lk(mu);
      batch_ok = initialized && protocol::allows_batch(version);
    }
    // A large message goes to the pool even for a direct tool: on a stream transport the
    // reader would otherwise also write the (large) answer itself, and while a full pipe
    // blocks that write it reads nothing, so client and server take turns instead of
    // overlapping (64 KiB echoes over stdio ran at half the rate).
    struct size_scope {
      std::size_t saved = decoding_bytes;
      explicit size_scope(std::size_t n) { decoding_bytes = n; }
      ~size_scope() { decoding_bytes = saved; }
    } scope(text.size());
    receive(jsonrpc::decode(text, {.max_depth = 64, .allow_batch = batch_ok}), std::move(ex));
  }

  // Size of the message this thread is decoding (0 when it came decoded, as over HTTP).
  static thread_local std::size_t decoding_bytes;

  void receive(jsonrpc::decoded d, std::shared_ptr<exchange> ex) {
    if (!ex) ex = default_exchange;
    if (!d.batch) {
      respond_fn respond(ex);
      for (auto& e : d.errors) respond(outgoing{jsonrpc::encode(e), e.err.code});
      bool answered = !d.errors.empty();
      for (auto& m : d.messages) {
        answered |= std::holds_alternative<jsonrpc::request>(m);
        dispatch(std::move(m), respond);
      }
      if (!answered) ex->no_reply();
      return;
    }
    std::size_t answers = d.errors.size();
    for (auto& m : d.messages)
      if (std::holds_alternative<jsonrpc::request>(m)) ++answers;
    if (answers == 0) {
      respond_fn respond(ex);
      for (auto& m : d.messages) dispatch(std::move(m), respond);
      ex->no_reply();
      return;
    }
    respond_fn collector(std::make_shared<batch_collector>(answers, ex));
    for (auto& e : d.errors) collector(outgoing{jsonrpc::encode(e), e.err.code});
    for (auto& m : d.messages) {
      if (std::holds_alternative<jsonrpc::request>(m) &&
          std::get<jsonrpc::request>(m).method == "initialize") {
        collector(error_text(std::get<jsonrpc::request>(m).id, codes::invalid_request,
                             "Invalid Request: initialize must not be part of a batch"));
        continue;
      }
      dispatch(std::move(m), collector);
    }
  }

  void dispatch(jsonrpc::message m, respond_fn respond) {
    std::visit(
        [&](auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, jsonrpc::request>)
            on_request(std::move(x), std::move(respond));
          else if constexpr (std::is_same_v<T, jsonrpc::notification>)
            on_notification(x);
          else if constexpr (std::is_same_v<T, jsonrpc::response>)
            on_client_answer(x.id, x.result, nullptr);
          else if (x.id)
            on_client_answer(*x.id, nullptr, &x.err);
        },
        m);
  }

  // ---- answers to our server-to-client requests ----------------------------

  void on_client_answer(const jsonrpc::request_id& id, const json::value& result,
                        const jsonrpc::error* err) {
    std::shared_ptr<pending_client_request> p;
    {
      std::lock_guard lk(mu);
      auto it = pending.find(jsonrpc::to_string(id));
      if (it == pending.end()) return;  // late or unknown: ignored
      p = it->second;
      pending.erase(it);
    }
    if (err)
      p->promise.set_value(unexpected{*err});
    else
      p->promise.set_value(result);
  }

  plexus::expected<json::value, jsonrpc::error> call_client(detail::request_env& env,
                                                            const input_request& req) {
    auto p = std::make_shared<pending_client_request>();
    auto fut = p->promise.get_future();
    jsonrpc::request_id id;
    {
      std::lock_guard lk(mu);
      if (closed) return unexpected{jsonrpc::error{codes::internal_error, "connection closed", {}}};
      id = next_client_request_id++;
      pending[jsonrpc::to_string(id)] = p;
    }
    // A legacy task waits for this answer in status input_required.
    if (env.task) srv.tasks.set_input_required(env.task);
    struct back_to_work {
      server::impl& srv;
      const std::shared_ptr<task_record>& task;
      ~back_to_work() {
        if (task) srv.tasks.set_working(task);
      }
    } resume{srv, env.task};
    env.send(jsonrpc::encode(jsonrpc::request{id, req.method, req.params}));
    blocking_region waiting_for_the_client;
    auto deadline = std::chrono::steady_clock::now() + srv.options.client_request_timeout;
    while (fut.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
      bool gone;
      {
        std::lock_guard lk(mu);
        gone = closed;
      }
      if (gone || env.cancelled || std::chrono::steady_clock::now() > deadline) {
        {
          std::lock_guard lk(mu);
          pending.erase(jsonrpc::to_string(id));
        }
        if (!gone)
          send(jsonrpc::encode(jsonrpc::notification{
              "notifications/cancelled",
              json::object{{"requestId", jsonrpc::to_json(id)},
                           {"reason", env.cancelled ? "request cancelled" : "timed out"}}}));
        return unexpected{
            jsonrpc::error{codes::internal_error,
                           gone ? "connection closed" : (env.cancelled ? "cancelled" : "timed out"),
                           {}}};
      }
    }
    return fut.get();
  }

  // ---- notifications ------------------------------------------------------

  void on_notification(const jsonrpc::notification& n) {
    const json::object& params = n.params.is_object() ? n.params.get_object() : empty_object;
    if (n.method == "notifications/initialized") return;
    if (n.method == "notifications/cancelled") {
      auto it = params.find("requestId");
      if (it == params.end()) return;
      auto r =
          jsonrpc::from_json(json::object{{"jsonrpc", "2.0"}, {"id", it->value()}, {"result", 0}});
      auto* m = std::get_if<jsonrpc::message>(&r);
      if (!m) return;
      auto key = jsonrpc::to_string(std::get<jsonrpc::response>(*m).id);
      std::uint64_t token = 0;
      {
        std::lock_guard lk(mu);
        if (auto f = in_flight.find(key); f != in_flight.end()) f->second->cancelled = true;
        if (auto l = listens.find(key); l != listens.end()) {
          token = l->second;
          listens.erase(l);
        }
      }
      if (token) srv.bus.unsubscribe(token);
      return;
    }
    // progress for our own requests, roots/list_changed, unknown: nothing to do.
  }

  // ---- requests -----------------------------------------------------------

  static bool claims_modern(const json::object& params) {
    auto meta = json::find_object(params, "_meta");
    return meta && (meta->contains(protocol::meta::protocol_version) ||
                    meta->contains(protocol::meta::client_capabilities));
  }

  void on_request(jsonrpc::request req, respond_fn respond) {
    const json::object& params = params_of(req);
    if (!req.params.is_null() && !req.params.is_object()) {
      respond(
          error_text(req.id, codes::invalid_params, "Invalid params: params must be an object"));
      return;
    }
    auto env = std::make_shared<detail::request_env>();
    env->srv = &srv;
    env->id = req.id;
    env->method = req.method;
    if (auto meta = json::find_object(params, "_meta")) env->meta = *meta;
    if (auto it = env->meta.find(protocol::meta::progress_token);
        it != env->meta.end() &&
        (it->value().is_string() || it->value().is_int64() || it->value().is_uint64()))
      env->progress_token = it->value();

    bool modern = claims_modern(params);
    if (modern && !prepare_modern(*env, req.id, respond)) return;
    if (srv.options.admit && !admitted(req, *env, modern, respond)) return;
    if (modern)
      route_modern(std::move(req), std::move(env), std::move(respond));
    else
      route_legacy(std::move(req), std::move(env), std::move(respond));
  }

  // The request stages of the server (server_options::admit); false: refused and answered.
  bool admitted(const jsonrpc::request& req, detail::request_env& env, bool modern,
                const respond_fn& respond) {
    protocol::implementation who;
    if (modern) {
      who = env.client_info;
    } else {
      std::lock_guard lk(mu);
      who = client_info;
    }
    request_info info{req.method, params_of(req), modern ? era::modern : era::legacy, who};
    std::optional<jsonrpc::error> refused;
    try {
      refused = srv.options.admit(info);
    } catch (const std::exception& e) {
      refused = jsonrpc::error{codes::internal_error, std::string("Internal error: ") + e.what(),
                               std::nullopt};
    }
    if (!refused) return true;
    respond(error_text(req.id, refused->code, refused->message, refused->data));
    return false;
  }

  // Validates the per-request envelope of 2026-07-28. False: an error was sent.
  bool prepare_modern(detail::request_env& env, const jsonrpc::request_id& id,
                      respond_fn& respond) {
    const auto& meta = env.meta;
    auto version = json::find_string(meta, protocol::meta::protocol_version);
    auto caps = json::find_object(meta, protocol::meta::client_capabilities);
    if (!version || !caps) {
      respond(error_text(id, codes::invalid_params,
                         std::string("Invalid params: _meta must carry ") +
                             (!version ? "io.modelcontextprotocol/protocolVersion"
                                       : "io.modelcontextprotocol/clientCapabilities")));
      return false;
    }
    if (!protocol::is_modern_version(*version)) {
      json::array supported;
      for (auto v : protocol::modern_versions) supported.push_back(json::value(v));
      respond(
          error_text(id, codes::unsupported_protocol_version,
                     "Unsupported protocol version: " + std::string(*version),
                     json::object{{"supported", std::move(supported)}, {"requested", *version}}));
      return false;
    }
    env.era = era::modern;
    env.version = std::string(*version);
    env.client_capabilities = *caps;
    if (auto info = json::find_object(meta, protocol::meta::client_info))
      env.client_info = protocol::implementation::from_json(*info);
    env.log_level.reset();
    if (auto it = meta.find(protocol::meta::log_level); it != meta.end()) {
      auto lvl = it->value().is_string() ? protocol::parse_logging_level(it->value().get_string())
                                         : std::nullopt;
      if (!lvl) {
        respond(error_text(id, codes::invalid_params, "Invalid params: unknown log level"));
        return false;
      }
      env.log_level = lvl;
    }
    return true;
  }

  // Stamps a complete modern result: resultType, serverInfo, cache hints.
  void finish_result(detail::request_env& env, json::object result, bool cacheable,
                     const respond_fn& respond) {
    if (env.cancelled) return;  // a cancelled request gets no answer
    if (env.era == era::modern && !result.contains("_meta") &&
        (!cacheable || (!result.contains("ttlMs") && !result.contains("cacheScope")))) {
      // The usual case: the stamps are appended as text, not built into the object (copying
      // serverInfo in and writing it out again was a fifth of a modern call's instructions).
      auto type = result.find("resultType");
      bool typed = type != result.end();
      std::string_view more = typed ? std::string_view(srv.info_meta_member)
                                    : std::string_view(srv.complete_info_meta_members);
      if (cacheable && (!typed || type->value() == "complete")) {
        respond(jsonrpc::encode_result(env.id, result, std::string(more) + srv.cache_hint_members));
      } else {
        respond(jsonrpc::encode_result(env.id, result, more));
      }
      return;
    }
    if (env.era == era::modern) {
      if (!result.contains("resultType")) result["resultType"] = "complete";
      // The tool's own _meta stays (emplace_object() would empty it).
      json::value& meta_value = result["_meta"];
      if (!meta_value.is_object()) meta_value.emplace_object();
      // Always this server's: it is the one answering (a forwarded answer may carry another's).
      meta_value.get_object()[protocol::meta::server_info] = srv.info_wire;
      bool complete = result["resultType"] == "complete";
      if (cacheable && complete) {
        result["ttlMs"] = srv.options.list_ttl_ms;
        result["cacheScope"] = srv.options.cache_scope;
      }
    }
    respond(jsonrpc::encode(jsonrpc::response{env.id, std::move(result)}));
  }

  void route_modern(jsonrpc::request req, std::shared_ptr<detail::request_env> env,
                    respond_fn respond) {
    const std::string& m = req.method;
    auto gate = [&](bool ok) {
      if (!ok) respond(error_text(req.id, codes::method_not_found, "Method not found: " + m));
      return ok;
    };
    if (m == "server/discover") {
      json::array versions;
      for (auto v : protocol::modern_versions) versions.push_back(json::value(v));
      json::object r{{"supportedVersions", std::move(versions)},
                     {"capabilities", capabilities(era::modern, env->version)}};
      if (srv.options.instructions) r["instructions"] = *srv.options.instructions;
      finish_result(*env, std::move(r), true, respond);
    } else if (m == "tools/list") {
      if (gate(srv.has_tools())) list(*env, req, srv.tools, "tools", respond);
    } else if (m == "resources/list") {
      if (gate(srv.has_resources())) list(*env, req, srv.resources, "resources", respond);
    } else if (m == "resources/templates/list") {
      if (gate(srv.has_resources())) list(*env, req, srv.templates, "resourceTemplates", respond);
    } else if (m == "prompts/list") {
      if (gate(srv.has_prompts())) list(*env, req, srv.prompts, "prompts", respond);
    } else if (m == "tools/call" || m == "resources/read" || m == "prompts/get" ||
               m == "completion/complete") {
      if (m == "tools/call" && !gate(srv.has_tools())) return;
      if (m == "resources/read" && !gate(srv.has_resources())) return;
      if (m == "prompts/get" && !gate(srv.has_prompts())) return;
      if (m == "completion/complete" && !gate(srv.has_completions())) return;
      run_async(std::move(req), std::move(env), std::move(respond));
    } else if (m == "subscriptions/listen") {
      listen(std::move(req), std::move(env), std::move(respond));
    } else if (m == "tasks/get" || m == "tasks/update" || m == "tasks/cancel") {
      if (!gate(tasks_enabled())) return;
      if (!declares_tasks_extension(env->client_capabilities)) {
        respond(error_text(
            req.id, codes::missing_required_client_capability,
            "Missing required client capability: extension " + std::string(tasks_extension),
            tasks_extension_required_data()));
        return;
      }
      modern_task_method(req, *env, respond);
    } else {
      gate(false);
    }
  }

  bool tasks_enabled() const { return srv.options.enable_tasks && srv.has_tools(); }

  // Legacy tasks exist in 2025-11-25 sessions only.
  bool legacy_tasks_enabled(const std::string& v) const {
    return tasks_enabled() && v == "2025-11-25";
  }

  json::object capabilities(era e, const std::string& v) const {
    json::object caps = srv.capabilities(e);
    if (e == era::modern && tasks_enabled()) {
      auto& ext = caps["extensions"];
      if (!ext.is_object()) ext.emplace_object();
      ext.get_object()[tasks_extension] = json::object{};
    } else if (e == era::legacy && legacy_tasks_enabled(v)) {
      caps["tasks"] = json::object{
          {"list", json::object{}},
          {"cancel", json::object{}},
          {"requests", json::object{{"tools", json::object{{"call", json::object{}}}}}}};
    }
    return caps;
  }

  void route_legacy(jsonrpc::request req, std::shared_ptr<detail::request_env> env,
                    respond_fn respond) {
    const std::string& m = req.method;
    const json::object& params = params_of(req);
    if (m == "initialize") {
      initialize(req, respond);
      return;
    }
    if (m == "ping") {
      respond(jsonrpc::encode(jsonrpc::response{req.id, json::object{}}));
      return;
    }
    {
      std::lock_guard lk(mu);
      if (!initialized) {
        respond(error_text(req.id, codes::invalid_params,
                           "Invalid params: no _meta io.modelcontextprotocol/protocolVersion, and "
                           "no session: legacy clients must send initialize first"));
        return;
      }
      env->era = era::legacy;
      env->version = version;
      env->client_capabilities = client_caps;
      env->client_info = client_info;
      env->log_level = log_level;
    }
    auto gate = [&](bool ok) {
      if (!ok) respond(error_text(req.id, codes::method_not_found, "Method not found: " + m));
      return ok;
    };
    if (m == "tools/list") {
      if (gate(srv.has_tools())) list(*env, req, srv.tools, "tools", respond);
    } else if (m == "resources/list") {
      if (gate(srv.has_resources())) list(*env, req, srv.resources, "resources", respond);
    } else if (m == "resources/templates/list") {
      if (gate(srv.has_resources())) list(*env, req, srv.templates, "resourceTemplates", respond);
    } else if (m == "prompts/list") {
      if (gate(srv.has_prompts())) list(*env, req, srv.prompts, "prompts", respond);
    } else if (m == "resources/subscribe" || m == "resources/unsubscribe") {
      if (!gate(srv.has_resources())) return;
      auto uri = json::find_string(params, "uri");
      if (!uri) {
        respond(error_text(req.id, codes::invalid_params, "Invalid params: uri is required"));
        return;
      }
      {
        std::lock_guard lk(mu);
        if (m == "resources/subscribe")
          resource_subs.insert(std::string(*uri));
        else
          resource_subs.erase(std::string(*uri));
      }
      if (m == "resources/subscribe" && srv.options.on_resource_subscribe)
        srv.options.on_resource_subscribe(std::string(*uri));
      respond(jsonrpc::encode(jsonrpc::response{req.id, json::object{}}));
    } else if (m == "logging/setLevel") {
      if (!gate(srv.options.enable_logging)) return;
      auto lvl = json::find_string(params, "level");
      auto parsed = lvl ? protocol::parse_logging_level(*lvl) : std::nullopt;
      if (!parsed) {
        respond(error_text(req.id, codes::invalid_params, "Invalid params: unknown log level"));
        return;
      }
      {
        std::lock_guard lk(mu);
        log_level = parsed;
      }
      respond(jsonrpc::encode(jsonrpc::response{req.id, json::object{}}));
    } else if (m == "tools/call" || m == "resources/read" || m == "prompts/get" ||
               m == "completion/complete") {
      if (m == "tools/call" && !gate(srv.has_tools())) return;
      if (m == "resources/read" && !gate(srv.has_resources())) return;
      if (m == "prompts/get" && !gate(srv.has_prompts())) return;
      if (m == "completion/complete" && !gate(srv.has_completions())) return;
      run_async(std::move(req), std::move(env), std::move(respond));
    } else if (m == "tasks/get" || m == "tasks/result" || m == "tasks/cancel" ||
               m == "tasks/list") {
      if (gate(legacy_tasks_enabled(env->version))) legacy_task_method(req, *env, respond);
    } else {
      gate(false);
    }
  }

  void initialize(const jsonrpc::request& req, const respond_fn& respond) {
    const json::object& params = params_of(req);
    auto requested = json::find_string(params, "protocolVersion");
    if (!requested) {
      respond(error_text(req.id, codes::invalid_params,
                         "Invalid params: initialize needs protocolVersion"));
      return;
    }
    std::string negotiated = protocol::is_legacy_version(*requested)
                                 ? std::string(*requested)
                                 : std::string(protocol::latest_legacy_version);
    {
      std::lock_guard lk(mu);
      if (initialized) {
        respond(error_text(req.id, codes::invalid_request,
                           "Invalid Request: this connection is already initialized"));
        return;
      }
      initialized = true;
      version = negotiated;
      if (auto c = json::find_object(params, "capabilities")) client_caps = *c;
      if (auto i = json::find_object(params, "clientInfo"))
        client_info = protocol::implementation::from_json(*i);
    }
    subscribe_session();
    json::object r{{"protocolVersion", negotiated},
                   {"capabilities", capabilities(era::legacy, negotiated)},
                   {"serverInfo", srv.info_wire}};
    if (srv.options.instructions) r["instructions"] = *srv.options.instructions;
    respond(jsonrpc::encode(jsonrpc::response{req.id, std::move(r)}));
  }

  // Legacy sessions hear about list changes and subscribed resource updates.
  void subscribe_session() {
    std::weak_ptr<impl> weak = shared_from_this();
    auto token = srv.bus.subscribe([weak](const change& c) {
      auto self = weak.lock();
      if (!self) return;
      std::string method;
      json::value params;
      switch (c.kind) {
        case change::tools:
          method = "notifications/tools/list_changed";
          break;
        case change::prompts:
          method = "notifications/prompts/list_changed";
          break;
        case change::resources:
          method = "notifications/resources/list_changed";
          break;
        case change::resource_updated: {
          std::lock_guard lk(self->mu);
          if (!self->resource_subs.count(c.uri)) return;
          method = "notifications/resources/updated";
          params = json::object{{"uri", c.uri}};
        }
      }
      self->send(jsonrpc::encode(jsonrpc::notification{method, params}));
    });
    std::lock_guard lk(mu);
    session_bus_token = token;
  }

  // ---- lists ----------------------------------------------------------------

  template <class Entry>
  void list(detail::request_env& env, const jsonrpc::request& req, const cow_list<Entry>& source,
            std::string_view field, const respond_fn& respond) {
    const json::object& params = params_of(req);
    std::size_t offset = 0;
    if (auto it = params.find("cursor"); it != params.end() && !it->value().is_null()) {
      auto decoded =
          it->value().is_string() ? decode_cursor(it->value().get_string()) : std::nullopt;
      if (!decoded) {
        respond(error_text(req.id, codes::invalid_params, "Invalid params: invalid cursor"));
        return;
      }
      offset = *decoded;
    }
    auto items = source.snapshot();
    if (offset > items->size()) {
      respond(error_text(req.id, codes::invalid_params, "Invalid params: invalid cursor"));
      return;
    }
    std::size_t page = std::max<std::size_t>(1, srv.options.page_size);
    std::size_t end = std::min(items->size(), offset + page);
    json::array out;
    out.reserve(end - offset);
    bool legacy_plain = env.era == era::legacy && !protocol::has_structured_output(env.version);
    // Tool.execution (task support) exists in 2025-11-25 and in the tasks extension.
    bool no_execution = env.era == era::legacy && env.version != "2025-11-25";
    for (std::size_t i = offset; i < end; ++i) {
      if constexpr (std::is_same_v<Entry, tool_entry>) {
        const auto& wire = (*items)[i]->wire;
        if ((legacy_plain && wire.contains("outputSchema")) ||
            (no_execution && wire.contains("execution"))) {
          json::object w = wire;
          if (legacy_plain) w.erase("outputSchema");
          if (no_execution) w.erase("execution");
          out.push_back(std::move(w));
          continue;
        }
      }
      out.push_back((*items)[i]->wire);
    }
    json::object r{{field, std::move(out)}};
    if (end < items->size()) r["nextCursor"] = encode_cursor(end);
    finish_result(env, std::move(r), true, respond);
  }

  // ---- handlers on the worker pool -----------------------------------------

  void run_async(jsonrpc::request req, std::shared_ptr<detail::request_env> env,
                 respond_fn respond) {
    auto key = jsonrpc::to_string(req.id);
    {
      std::unique_lock lk(mu);
      if (in_flight.count(key) || listens.count(key)) {
        lk.unlock();
        respond(error_text(req.id, codes::invalid_request,
                           "Invalid Request: a request with this id is already in progress"));
        return;
      }
      // Backpressure: the reader waits here while the connection is at its limit.
      cv.wait(lk, [&] {
        return closed || in_flight.size() < srv.options.max_in_flight_per_connection;
      });
      if (closed) return;
      in_flight[key] = env;
    }
    auto self = shared_from_this();
    auto tool = small_call_tool(req);
    if (tool && takes_fast_path(req, *env, *tool) && start_fast_path(req, env, respond, key, tool))
      return;
    if (tool && runs_directly(*tool)) {
      env->send = [target = respond.target()](std::string t) { target->send(std::move(t)); };
      env->close_stream = [target = respond.target()] { target->disconnect(); };
      // Waiting here would stall the thread that reads the client's answer.
      env->call_client = [](const input_request&) -> plexus::expected<json::value, jsonrpc::error> {
        return unexpected{jsonrpc::error{
            codes::internal_error, "a tool dispatched directly cannot wait for the client", {}}};
      };
      execute(req, *env, respond, std::move(tool));
      leave_in_flight(key, env.get());
      return;
    }
    if (req.method == "tools/call") {
      // A tools/call may become a task: its answers go through a redirectable exchange.
      auto rx = std::make_shared<redirectable_exchange>(respond.target());
      respond = respond_fn(rx);
      env->start_task = [self, weak = std::weak_ptr<detail::request_env>(env), rx, req, key] {
        auto e = weak.lock();
        return e && self->begin_task(req, e, rx, key);
      };
    }
    env->send = [target = respond.target()](std::string t) { target->send(std::move(t)); };
    env->close_stream = [target = respond.target()] { target->disconnect(); };
    env->call_client = [self, raw = env.get()](const input_request& r) {
      return self->call_client(*raw, r);
    };
    srv.pool.post([self, req = std::move(req), env, respond = std::move(respond), key]() mutable {
      self->execute(req, *env, respond);
      self->leave_in_flight(key, env.get());
    });
  }

  // The tool of a tools/call in a message of at most direct_max_bytes whose tool may run on this
  // thread (directly, or its fast path), or null. Looked up once: the entry is handed on
  // to call_tool.
  std::shared_ptr<const tool_entry> small_call_tool(const jsonrpc::request& req) const {
    if (req.method != "tools/call" || decoding_bytes > opts.direct_max_bytes) return nullptr;
    auto name = json::find_string(params_of(req), "name");
    if (!name) return nullptr;
    auto tool = srv.tools.find_if([&](const tool_entry& t) { return t.definition.name == *name; });
    if (!tool || (tool->dispatch != tool_dispatch::direct && !tool->fast_path)) return nullptr;
    return tool;
  }

  // Whether `tool` runs on the thread that decoded its call instead of the handler pool:
  // registered with tool_dispatch::direct, and no task support.
  static bool runs_directly(const tool_entry& tool) {
    auto support = tool.definition.task_support.value_or("forbidden");
    return tool.dispatch == tool_dispatch::direct && support != "optional" && support != "required";
  }

  // Whether the call is offered to the tool's fast path: a plain call (not an MRTR retry,
  // one that cannot become a task; which it does is decided on the pool, as usual).
  bool takes_fast_path(const jsonrpc::request& req, const detail::request_env& env,
                       const tool_entry& tool) const {
    if (!tool.fast_path) return false;
    const json::object& params = params_of(req);
    if (params.contains("requestState") || params.contains("inputResponses")) return false;
    auto support = tool.definition.task_support.value_or("forbidden");
    if (support == "required") return false;
    if (support == "optional") {
      if (env.era == era::modern && tasks_enabled() &&
          declares_tasks_extension(env.client_capabilities))
        return false;
      if (env.era == era::legacy)
        if (auto it = params.find("task"); it != params.end() && !it->value().is_null())
          return false;
    }
    return true;
  }

  // One call taken by a tool's fast path: answers it once, from any thread, and then
  // it is no longer in flight. A call whose completion is dropped unanswered fails.
  struct fast_call final : tool_completion::target {
    fast_call(std::shared_ptr<impl> c, std::shared_ptr<detail::request_env> e, respond_fn r,
              std::string k, std::string tool, jsonrpc::request q)
        : conn(std::move(c)),
          env(std::move(e)),
          respond(std::move(r)),
          key(std::move(k)),
          tool_name(std::move(tool)),
          req(std::move(q)),
          ctx(*env) {}
    ~fast_call() override {
      if (taken && !answered.load())
        finish(tool_result::error("Tool " + tool_name + " did not answer"));
    }
    void finish(tool_result result) override {
      if (answered.exchange(true)) return;
      json::object wire = detail::take_wire(std::move(result));
      if (env->era == era::legacy && !protocol::has_structured_output(env->version))
        wire.erase("structuredContent");
      conn->finish_result(*env, std::move(wire), false, respond);
      conn->leave_in_flight(key, env.get());
    }
    void fail(jsonrpc::error e) override {
      if (answered.exchange(true)) return;
      respond(error_text(env->id, e.code, std::move(e.message), std::move(e.data)));
      conn->leave_in_flight(key, env.get());
    }
    void defer(tool_handler rest) override {
      if (answered.exchange(true)) return;
      // The request is copied: the fast path's thread may still be reading it.
      conn->continue_on_pool(env, respond, key, tool_name, req, std::move(rest));
    }

    std::shared_ptr<impl> conn;
    std::shared_ptr<detail::request_env> env;
    respond_fn respond;
    std::string key;
    std::string tool_name;
    // The call, kept for a deferral: its arguments, and its params bind an InputRequiredResult.
    jsonrpc::request req;
    context ctx;  // lives as long as the call: the fast path may use it until it answers
    std::atomic<bool> answered{false};
    bool taken = false;
  };

  // A tool that threw something other than tool_error: logged; what the client sees.
  tool_result failed_tool(const std::string& name, const std::exception& e) const {
    spdlog::warn("tool {} failed: {}", name, e.what());
    return tool_result::error(srv.options.expose_internal_errors
                                  ? "Tool " + name + " failed: " + e.what()
                                  : "Tool " + name + " failed with an internal error");
  }

  // Offers the call to the tool's fast path; false when it declined (the pool runs the
  // handler). Checks the arguments first, as call_tool does (a call that fails them is
  // declined: call_tool answers it).
  bool start_fast_path(jsonrpc::request& req, const std::shared_ptr<detail::request_env>& env,
                       const respond_fn& respond, const std::string& key,
                       const std::shared_ptr<const tool_entry>& entry) {
    const tool_entry& tool = *entry;
    const json::value* given = arguments_of(params_of(req));
    if (!given) return false;
    if (tool.input_validator && !tool.input_validator->validate(*given).empty()) return false;
    env->send = [target = respond.target()](std::string t) { target->send(std::move(t)); };
    env->close_stream = [target = respond.target()] { target->disconnect(); };
    env->call_client = [](const input_request&) -> plexus::expected<json::value, jsonrpc::error> {
      return unexpected{jsonrpc::error{
          codes::internal_error, "a tool's asynchronous fast path cannot wait for the client", {}}};
    };
    // The call holds the request (moved: no copy) for as long as it may defer; a decline
    // hands it back.
    auto call = std::make_shared<fast_call>(shared_from_this(), env, respond, key,
                                            tool.definition.name, std::move(req));
    const json::value* args = arguments_of(params_of(call->req));
    bool taken;
    try {
      taken = tool.fast_path(call->ctx, args->get_object(), tool_completion(call));
    } catch (const tool_error& e) {
      call->finish(tool_result::error(e.what()));
      return true;
    } catch (const input_error& e) {
      call->finish(tool_result::error(e.what()));
      return true;
    } catch (const protocol_error& e) {
      call->fail(jsonrpc::error{e.code(), e.what(), e.data()});
      return true;
    } catch (const std::exception& e) {
      call->finish(failed_tool(tool.definition.name, e));
      return true;
    } catch (...) {  // also the signals of ask(): a fast path cannot ask
      call->fail(jsonrpc::error{codes::internal_error, "Internal error", {}});
      return true;
    }
    // Answered already (it may be, from another thread): taken, whatever it said.
    call->taken = taken || call->answered.load();
    if (!call->taken) {
      req = std::move(call->req);
      env->arguments_checked_for = entry;  // the pool's call_tool need not check them again
    }
    return call->taken;
  }

  // The request `env` serves is no longer in flight (done, or now a task).
  void leave_in_flight(const std::string& key, const detail::request_env* env) {
    {
      std::lock_guard lk(mu);
      auto it = in_flight.find(key);
      if (it == in_flight.end() || it->second.get() != env) return;
      in_flight.erase(it);
    }
    cv.notify_all();
  }

  // `known`: the tool of a tools/call when the caller already looked it up.
  void execute(const jsonrpc::request& req, detail::request_env& env, const respond_fn& respond,
               std::shared_ptr<const tool_entry> known = nullptr) {
    const json::object& params = params_of(req);
    // MRTR: a retry brings the answers so far (sealed) and new inputResponses.
    if (env.era == era::modern) {
      if (auto it = params.find("requestState"); it != params.end()) {
        if (!it->value().is_string()) {
          respond(error_text(req.id, codes::invalid_params,
                             "Invalid params: requestState must be a string",
                             json::object{{"reason", "invalid_request_state"}}));
          return;
        }
        auto payload = srv.sealer.unseal(it->value().get_string(), req.method, params);
        if (!payload) {
          respond(error_text(req.id, codes::invalid_params,
                             "Invalid params: requestState rejected (" + payload.error() + ")",
                             json::object{{"reason", "invalid_request_state"}}));
          return;
        }
        if (auto r = json::find_object(*payload, "r"))
          for (const auto& kv : *r) env.provided[std::string(kv.key())] = kv.value();
        if (auto s = payload->find("s"); s != payload->end()) env.state = s->value();
        env.resumed = true;
      }
      if (auto it = params.find("inputResponses"); it != params.end()) {
        if (!it->value().is_object()) {
          respond(error_text(req.id, codes::invalid_params,
                             "Invalid params: inputResponses must be an object"));
          return;
        }
        for (const auto& kv : it->value().get_object())
          env.provided[std::string(kv.key())] = kv.value();
      }
    }
    context ctx(env);
    run_guarded(req, env, respond, [&] {
      if (req.method == "tools/call")
        call_tool(req, env, ctx, respond, std::move(known));
      else if (req.method == "resources/read")
        read_resource(req, env, ctx, respond);
      else if (req.method == "prompts/get")
        get_prompt(req, env, ctx, respond);
      else
        complete(req, env, respond);
    });
  }

  // Runs `body`, a handler's run for `req`, and answers what escapes it: the signals of
  // ctx.ask (an InputRequiredResult, or a parked task), a missing capability, a protocol
  // error, anything else as an internal error.
  template <class Body>
  void run_guarded(const jsonrpc::request& req, detail::request_env& env, const respond_fn& respond,
                   Body&& body) {
    const json::object& params = params_of(req);
    try {
      body();
    } catch (detail::input_required_signal& s) {
      if (env.task) {
        park_task(env, std::move(s));
        return;
      }
      json::object requests;
      for (auto& [k, r] : s.missing)
        requests[k] = json::object{{"method", r.method}, {"params", std::move(r.params)}};
      json::object payload{{"r", json::object(env.consumed.begin(), env.consumed.end())}};
      if (!env.state.is_null()) payload["s"] = env.state;
      json::object result{{"resultType", "input_required"},
                          {"inputRequests", std::move(requests)},
                          {"requestState", srv.sealer.seal(req.method, params, std::move(payload),
                                                           srv.options.request_state_ttl)}};
      finish_result(env, std::move(result), false, respond);
    } catch (detail::missing_capability_signal& s) {
      if (env.era == era::modern) {
        respond(
            error_text(req.id, codes::missing_required_client_capability,
                       "Missing required client capability: " + s.capability,
                       json::object{{"requiredCapabilities", capability_object(s.capability)}}));
      } else if (req.method == "tools/call") {
        finish_result(env,
                      tool_result::error("The client did not declare the " + s.capability +
                                         " capability this tool needs")
                          .to_json(),
                      false, respond);
      } else {
        respond(error_text(req.id, codes::invalid_request,
                           "The client did not declare the " + s.capability + " capability"));
      }
    } catch (const protocol_error& e) {
      respond(error_text(req.id, e.code(), e.what(), e.data()));
    } catch (const std::exception& e) {
      spdlog::warn("{} handler failed: {}", req.method, e.what());
      respond(error_text(
          req.id, codes::internal_error,
          srv.options.expose_internal_errors ? std::string(e.what()) : "Internal error"));
    } catch (...) {
      respond(error_text(req.id, codes::internal_error, "Internal error"));
    }
  }

  void call_tool(const jsonrpc::request& req, detail::request_env& env, context& ctx,
                 const respond_fn& respond, std::shared_ptr<const tool_entry> tool) {
    const json::object& params = params_of(req);
    auto name = json::find_string(params, "name");
    if (!name) {
      respond(error_text(req.id, codes::invalid_params, "Invalid params: name is required"));
      return;
    }
    if (!tool)
      tool = srv.tools.find_if([&](const tool_entry& t) { return t.definition.name == *name; });
    if (!tool) {
      respond(error_text(req.id, codes::invalid_params, "Unknown tool: " + std::string(*name)));
      return;
    }
    if (!env.task && !decide_task(req, env, *tool, respond)) return;
    // The arguments are read in place: copying them cost an allocation per key (and
    // the whole text of a large argument).
    const json::value* args_value = arguments_of(params);
    if (!args_value) {
      respond(
          error_text(req.id, codes::invalid_params, "Invalid params: arguments must be an object"));
      return;
    }
    const json::object& args = args_value->get_object();
    if (tool->input_validator && env.arguments_checked_for != tool) {
      auto errors = tool->input_validator->validate(*args_value);
      if (!errors.empty()) {
        std::string msg = "Invalid arguments for tool " + tool->definition.name + ":";
        for (const auto& e : errors)
          msg += " " + (e.instance_path.empty() ? std::string("(root)") : e.instance_path) + ": " +
                 e.message + ";";
        msg.pop_back();
        finish_result(env, tool_result::error(std::move(msg)).to_json(), false, respond);
        return;
      }
    }
    run_tool_handler(env, ctx, respond, tool->definition.name, tool->handler, args);
  }

  // Runs a tool's handler and answers with its result. Its own failures become isError
  // results; protocol errors and the signals of ctx.ask go on to run_guarded.
  void run_tool_handler(detail::request_env& env, context& ctx, const respond_fn& respond,
                        const std::string& tool_name, const tool_handler& handler,
                        const json::object& args) {
    tool_result result;
    try {
      result = handler(ctx, args);
    } catch (const tool_error& e) {
      result = tool_result::error(e.what());
    } catch (const input_error& e) {
      result = tool_result::error(e.what());
    } catch (const protocol_error&) {
      throw;
    } catch (const detail::input_required_signal&) {
      throw;
    } catch (const detail::missing_capability_signal&) {
      throw;
    } catch (const std::exception& e) {
      result = failed_tool(tool_name, e);
    }
    json::object wire = detail::take_wire(std::move(result));
    if (env.era == era::legacy && !protocol::has_structured_output(env.version))
      wire.erase("structuredContent");
    finish_result(env, std::move(wire), false, respond);
  }

  // The rest of a fast-path call, handed to the pool (tool_completion::continue_on_pool):
  // from here on the call may wait for the client, as a handler on the pool may.
  void continue_on_pool(std::shared_ptr<detail::request_env> env, respond_fn respond,
                        std::string key, std::string tool_name, jsonrpc::request req,
                        tool_handler rest) {
    auto self = shared_from_this();
    env->call_client = [self, raw = env.get()](const input_request& r) {
      return self->call_client(*raw, r);
    };
    srv.pool.post([self, env = std::move(env), respond = std::move(respond), key = std::move(key),
                   tool_name = std::move(tool_name), req = std::move(req),
                   rest = std::move(rest)]() mutable {
      context ctx(*env);
      self->run_guarded(req, *env, respond, [&] {
        // Not null: a fast path is offered only calls whose arguments are an object.
        const json::object& args = arguments_of(params_of(req))->get_object();
        self->run_tool_handler(*env, ctx, respond, tool_name, rest, args);
      });
      self->leave_in_flight(key, env.get());
    });
  }

  // ---- tasks -------------------------------------------------------------------

  // Whether this tools/call runs as a task, and when it starts as one. False: an
  // error was answered.
  bool decide_task(const jsonrpc::request& req, detail::request_env& env, const tool_entry& tool,
                   const respond_fn& respond) {
    const std::string support = tool.definition.task_support.value_or("forbidden");
    bool supports = support == "optional" || support == "required";
    bool start_now = false;
    if (env.era == era::modern) {
      // Server-directed: a task when the tool supports it and the client declared
      // the extension (for this request). A legacy `task` param is ignored.
      if (!tasks_enabled()) return true;
      bool declared = declares_tasks_extension(env.client_capabilities);
      if (support == "required" && !declared) {
        respond(error_text(req.id, codes::missing_required_client_capability,
                           "Missing required client capability: tool " + tool.definition.name +
                               " runs only as a task (extension " + std::string(tasks_extension) +
                               ")",
                           tasks_extension_required_data()));
        return false;
      }
      env.task_allowed = supports && declared;
      start_now = env.task_allowed && tool.start == task_start::at_call;
    } else {
      // Client-directed: params.task asks for a task (2025-11-25 only).
      if (!legacy_tasks_enabled(env.version)) return true;
      auto it = params_of(req).find("task");
      bool requested = it != params_of(req).end() && !it->value().is_null();
      if (requested && !it->value().is_object()) {
        respond(
            error_text(req.id, codes::invalid_params, "Invalid params: task must be an object"));
        return false;
      }
      if (requested && !supports) {
        respond(error_text(req.id, codes::method_not_found,
                           "Method not found: tool " + tool.definition.name +
                               " does not support task-augmented calls"));
        return false;
      }
      if (!requested && support == "required") {
        respond(error_text(req.id, codes::method_not_found,
                           "Method not found: tool " + tool.definition.name +
                               " must be called as a task (params.task)"));
        return false;
      }
      env.task_allowed = requested;
      start_now = requested;
    }
    if (start_now && !(env.start_task && env.start_task())) {
      if (env.era == era::modern && support == "optional") return true;  // run synchronously
      respond(error_text(req.id, codes::internal_error,
                         "Internal error: too many tasks; try again later"));
      return false;
    }
    return true;
  }

  // Makes the tools/call that `env` serves a task: CreateTaskResult goes to the
  // client now, and the rest of the run reports to the task. False when it can't.
  bool begin_task(const jsonrpc::request& req, const std::shared_ptr<detail::request_env>& env,
                  const std::shared_ptr<redirectable_exchange>& rx, const std::string& key) {
    if (env->task) return true;
    if (!env->task_allowed) return false;
    std::optional<std::int64_t> requested_ttl;
    if (env->era == era::legacy)
      if (auto task = json::find_object(params_of(req), "task"))
        requested_ttl = json::find_int(*task, "ttl");
    bool legacy = env->era == era::legacy;
    auto t = srv.tasks.create(
        {srv.options.max_tasks, srv.options.task_ttl, srv.options.task_poll_interval},
        legacy ? task_owner : std::string(), env->era, requested_ttl);
    if (!t) return false;
    // What a modern task needs to run the handler again after tasks/update.
    t->request = req;
    if (t->request.params.is_object()) {
      t->request.params.get_object().erase("requestState");
      t->request.params.get_object().erase("inputResponses");
    }
    t->version = env->version;
    t->client_capabilities = env->client_capabilities;
    t->client_info = env->client_info;
    t->meta = env->meta;
    if (legacy) {
      std::weak_ptr<impl> weak = shared_from_this();
      t->on_status = [weak](json::object task_wire) {
        if (auto self = weak.lock())
          self->send(jsonrpc::encode(
              jsonrpc::notification{"notifications/tasks/status", std::move(task_wire)}));
      };
    }
    env->task = t;
    srv.tasks.attach(t, env);
    // A task outlives the request: the connection no longer counts it as in flight
    // (so closing it, or notifications/cancelled for the request, leave the task alone).
    leave_in_flight(key, env.get());
    json::object created;
    if (legacy) {
      created = json::object{{"task", srv.tasks.legacy_wire(*t)}};
    } else {
      created = srv.tasks.modern_create_wire(*t);
      created["_meta"] = json::object{{protocol::meta::server_info, srv.info_wire}};
    }
    rx->finish_then_redirect(jsonrpc::encode(jsonrpc::response{req.id, std::move(created)}),
                             make_task_sink(t));
    return true;
  }

  std::shared_ptr<exchange> make_task_sink(const std::shared_ptr<task_record>& t) {
    std::function<void(std::string)> route;
    if (t->era == era::legacy) {
      // Related messages (progress, logs, requests for input) carry related-task
      // metadata and go on the stream of a waiting tasks/result, else the session's.
      std::weak_ptr<impl> weak = shared_from_this();
      std::weak_ptr<task_record> wt = t;
      route = [weak, wt, id = t->id](std::string text) {
        auto self = weak.lock();
        auto task = wt.lock();
        if (!self || !task) return;
        std::string tagged = with_related_task(text, id);
        if (auto stream = self->srv.tasks.result_stream(task))
          stream->send(std::move(tagged));
        else
          self->send(std::move(tagged));
      };
    }
    // Modern: nothing to send a task's progress or logs on; they are dropped.
    return std::make_shared<task_sink>(srv.tasks, t, std::move(route));
  }

  // A modern task's run asked for input: the task waits for tasks/update.
  void park_task(detail::request_env& env, detail::input_required_signal s) {
    json::object requests;
    for (auto& [k, r] : s.missing)
      requests[k] = json::object{{"method", r.method}, {"params", std::move(r.params)}};
    srv.tasks.park_for_input(env.task, std::move(requests), env.provided);
  }

  // Runs a modern task's handler again with the answers gathered so far.
  void resume_task(const std::shared_ptr<task_record>& t,
                   std::map<std::string, json::value> provided) {
    auto env = std::make_shared<detail::request_env>();
    env->srv = &srv;
    env->era = t->era;
    env->version = t->version;
    env->client_capabilities = t->client_capabilities;
    env->client_info = t->client_info;
    env->meta = t->meta;
    env->method = t->request.method;
    env->id = t->request.id;
    env->provided = std::move(provided);
    env->resumed = true;
    env->task = t;
    env->task_allowed = true;
    env->start_task = [] { return true; };
    auto rx = std::make_shared<redirectable_exchange>(make_task_sink(t));
    env->send = [rx](std::string text) { rx->send(std::move(text)); };
    env->close_stream = [] {};
    env->call_client = [](const input_request&) -> plexus::expected<json::value, jsonrpc::error> {
      return unexpected{jsonrpc::error{codes::internal_error, "no client requests in tasks", {}}};
    };
    srv.tasks.attach(t, env);
    auto self = shared_from_this();
    srv.pool.post([self, t, env, rx] { self->execute(t->request, *env, respond_fn(rx)); });
  }

  void modern_task_method(const jsonrpc::request& req, detail::request_env& env,
                          const respond_fn& respond) {
    const json::object& params = params_of(req);
    auto id = json::find_string(params, "taskId");
    if (!id) {
      respond(error_text(req.id, codes::invalid_params, "Invalid params: taskId is required"));
      return;
    }
    auto t = srv.tasks.find(*id, "");
    if (!t) {
      respond(error_text(req.id, codes::invalid_params, "Unknown task: " + std::string(*id)));
      return;
    }
    if (req.method == "tasks/get") {
      finish_result(env, srv.tasks.modern_detailed_wire(*t), false, respond);
    } else if (req.method == "tasks/cancel") {
      // Cooperative: the handler sees cancelled(); a finished task stays as it is.
      srv.tasks.cancel(t, "Cancelled by the client");
      finish_result(env, json::object{}, false, respond);
    } else {  // tasks/update
      auto responses = json::find_object(params, "inputResponses");
      if (!responses) {
        respond(error_text(req.id, codes::invalid_params,
                           "Invalid params: inputResponses must be an object"));
        return;
      }
      std::map<std::string, json::value> provided;
      bool resume = srv.tasks.supply_input(t, *responses, provided);
      finish_result(env, json::object{}, false, respond);
      if (resume) resume_task(t, std::move(provided));
    }
  }

  void legacy_task_method(const jsonrpc::request& req, detail::request_env& env,
                          const respond_fn& respond) {
    const json::object& params = params_of(req);
    if (req.method == "tasks/list") {
      std::size_t offset = 0;
      if (auto it = params.find("cursor"); it != params.end() && !it->value().is_null()) {
        auto decoded =
            it->value().is_string() ? decode_cursor(it->value().get_string()) : std::nullopt;
        if (!decoded) {
          respond(error_text(req.id, codes::invalid_params, "Invalid params: invalid cursor"));
          return;
        }
        offset = *decoded;
      }
      auto all = srv.tasks.list(task_owner);
      if (offset > all.size()) {
        respond(error_text(req.id, codes::invalid_params, "Invalid params: invalid cursor"));
        return;
      }
      std::size_t end =
          std::min(all.size(), offset + std::max<std::size_t>(1, srv.options.page_size));
      json::array tasks;
      for (std::size_t i = offset; i < end; ++i) tasks.push_back(srv.tasks.legacy_wire(*all[i]));
      json::object r{{"tasks", std::move(tasks)}};
      if (end < all.size()) r["nextCursor"] = encode_cursor(end);
      finish_result(env, std::move(r), false, respond);
      return;
    }
    auto id = json::find_string(params, "taskId");
    if (!id) {
      respond(error_text(req.id, codes::invalid_params, "Invalid params: taskId is required"));
      return;
    }
    auto t = srv.tasks.find(*id, task_owner);
    if (!t) {
      respond(error_text(req.id, codes::invalid_params, "Unknown task: " + std::string(*id)));
      return;
    }
    if (req.method == "tasks/get") {
      finish_result(env, srv.tasks.legacy_wire(*t), false, respond);
    } else if (req.method == "tasks/cancel") {
      if (!srv.tasks.cancel(t, "Cancelled by the client")) {
        respond(error_text(req.id, codes::invalid_params,
                           "Invalid params: task " + t->id + " is already " +
                               std::string(to_string(t->status)) + " and cannot be cancelled"));
        return;
      }
      finish_result(env, srv.tasks.legacy_wire(*t), false, respond);
    } else {  // tasks/result: answers once the task is finished
      auto request_id = req.id;
      srv.tasks.when_finished(t, respond.target(), [respond, request_id](const task_record& r) {
        json::object related{{protocol::meta::related_task, json::object{{"taskId", r.id}}}};
        if (r.status == task_status::completed && r.result) {
          json::object result = *r.result;
          auto& meta = result["_meta"];
          if (!meta.is_object()) meta.emplace_object();
          meta.get_object()[protocol::meta::related_task] = json::object{{"taskId", r.id}};
          respond(jsonrpc::encode(jsonrpc::response{request_id, std::move(result)}));
        } else if (r.status == task_status::failed && r.error) {
          respond(error_text(request_id, r.error->code, r.error->message, r.error->data));
        } else {
          respond(error_text(request_id, codes::internal_error,
                             "Task " + r.id + " was cancelled" +
                                 (r.status_message.empty() ? "" : ": " + r.status_message),
                             json::object{{"taskId", r.id}, {"status", to_string(r.status)}}));
        }
      });
    }
  }

  void read_resource(const jsonrpc::request& req, detail::request_env& env, context& ctx,
                     const respond_fn& respond) {
    const json::object& params = params_of(req);
    auto uri_p = json::find_string(params, "uri");
    if (!uri_p) {
      respond(error_text(req.id, codes::invalid_params, "Invalid params: uri is required"));
      return;
    }
    std::string uri(*uri_p);
    std::optional<std::vector<protocol::resource_contents>> contents;
    for (const auto& r : *srv.resources.snapshot())
      if (r->definition.uri == uri) {
        contents = r->reader(ctx, uri);
        break;
      }
    if (!contents)
      for (const auto& t : *srv.templates.snapshot())
        if (auto vars = t->matcher.match(uri)) {
          contents = t->reader(ctx, uri, *vars);
          if (contents) break;
        }
    if (!contents) {
      int code = env.era == era::modern ? codes::invalid_params : codes::resource_not_found_legacy;
      respond(error_text(req.id, code, "Resource not found: " + uri, json::object{{"uri", uri}}));
      return;
    }
    json::array arr;
    for (const auto& c : *contents) arr.push_back(c.to_json());
    finish_result(env, json::object{{"contents", std::move(arr)}}, true, respond);
  }

  void get_prompt(const jsonrpc::request& req, detail::request_env& env, context& ctx,
                  const respond_fn& respond) {
    const json::object& params = params_of(req);
    auto name = json::find_string(params, "name");
    if (!name) {
      respond(error_text(req.id, codes::invalid_params, "Invalid params: name is required"));
      return;
    }
    auto prompt =
        srv.prompts.find_if([&](const prompt_entry& p) { return p.definition.name == *name; });
    if (!prompt) {
      respond(error_text(req.id, codes::invalid_params, "Unknown prompt: " + std::string(*name)));
      return;
    }
    std::map<std::string, std::string> args;
    if (auto a = params.find("arguments"); a != params.end() && !a->value().is_null()) {
      if (!a->value().is_object()) {
        respond(error_text(req.id, codes::invalid_params,
                           "Invalid params: arguments must be an object"));
        return;
      }
      for (const auto& kv : a->value().get_object()) {
        if (!kv.value().is_string()) {
          respond(error_text(
              req.id, codes::invalid_params,
              "Invalid params: prompt argument " + std::string(kv.key()) + " must be a string"));
          return;
        }
        args[std::string(kv.key())] = std::string(kv.value().get_string());
      }
    }
    for (const auto& a : prompt->definition.arguments)
      if (a.required && !args.count(a.name)) {
        respond(error_text(req.id, codes::invalid_params,
                           "Invalid params: missing required argument " + a.name));
        return;
      }
    auto result = prompt->handler(ctx, args);
    json::array messages;
    for (const auto& m : result.messages) messages.push_back(m.to_json());
    json::object r{{"messages", std::move(messages)}};
    if (result.description)
      r["description"] = *result.description;
    else if (prompt->definition.description)
      r["description"] = *prompt->definition.description;
    finish_result(env, std::move(r), false, respond);
  }

  void complete(const jsonrpc::request& req, detail::request_env& env, const respond_fn& respond) {
    const json::object& params = params_of(req);
    auto ref = json::find_object(params, "ref");
    auto arg = json::find_object(params, "argument");
    auto type = ref ? json::find_string(*ref, "type") : nullptr;
    auto arg_name = arg ? json::find_string(*arg, "name") : nullptr;
    auto arg_value = arg ? json::find_string(*arg, "value") : nullptr;
    if (!type || !arg_name || !arg_value) {
      respond(error_text(
          req.id, codes::invalid_params,
          "Invalid params: completion needs ref.type, argument.name and argument.value"));
      return;
    }
    completion_handler handler;
    if (*type == "ref/prompt") {
      auto name = json::find_string(*ref, "name");
      if (!name) {
        respond(error_text(req.id, codes::invalid_params, "Invalid params: ref.name is required"));
        return;
      }
      if (!srv.prompts.find_if([&](const prompt_entry& p) { return p.definition.name == *name; })) {
        respond(error_text(req.id, codes::invalid_params, "Unknown prompt: " + std::string(*name)));
        return;
      }
      std::lock_guard lk(srv.completions_mu);
      if (auto it = srv.prompt_completions.find(std::string(*name));
          it != srv.prompt_completions.end())
        handler = it->second;
    } else if (*type == "ref/resource") {
      auto uri = json::find_string(*ref, "uri");
      if (!uri) {
        respond(error_text(req.id, codes::invalid_params, "Invalid params: ref.uri is required"));
        return;
      }
      std::lock_guard lk(srv.completions_mu);
      if (auto it = srv.resource_completions.find(std::string(*uri));
          it != srv.resource_completions.end())
        handler = it->second;
    } else {
      respond(error_text(req.id, codes::invalid_params,
                         "Invalid params: unknown ref type " + std::string(*type)));
      return;
    }
    completion c;
    if (handler) {
      std::map<std::string, std::string> chosen;
      if (auto ctx = json::find_object(params, "context"))
        if (auto a = json::find_object(*ctx, "arguments"))
          for (const auto& kv : *a)
            if (kv.value().is_string())
              chosen[std::string(kv.key())] = std::string(kv.value().get_string());
      c = handler(std::string(*arg_name), std::string(*arg_value), chosen);
    }
    json::array values;
    for (std::size_t i = 0; i < c.values.size() && i < 100; ++i)
      values.push_back(json::value(c.values[i]));
    json::object comp{{"values", std::move(values)},
                      {"total", c.total.value_or(static_cast<std::int64_t>(c.values.size()))},
                      {"hasMore", c.has_more || c.values.size() > 100}};
    finish_result(env, json::object{{"completion", std::move(comp)}}, false, respond);
  }

  // ---- subscriptions/listen (modern) ---------------------------------------

  void listen(jsonrpc::request req, std::shared_ptr<detail::request_env> /*env*/,
              respond_fn respond) {
    const json::object& params = params_of(req);
    auto filter = json::find_object(params, "notifications");
    if (!filter) {
      respond(error_text(req.id, codes::invalid_params,
                         "Invalid params: notifications (a SubscriptionFilter) is required"));
      return;
    }
    auto key = jsonrpc::to_string(req.id);
    json::object honoured;
    auto wants = [&](std::string_view k) { return json::find_bool(*filter, k).value_or(false); };
    bool tools = wants("toolsListChanged") && srv.has_tools();
    bool prompts = wants("promptsListChanged") && srv.has_prompts();
    bool resources = wants("resourcesListChanged") && srv.has_resources();
    std::vector<std::string> uris;
    if (auto subs = json::find_array(*filter, "resourceSubscriptions"); subs && srv.has_resources())
      for (const auto& u : *subs)
        if (u.is_string()) uris.emplace_back(u.get_string());
    if (srv.options.on_resource_subscribe)
      for (const auto& u : uris) srv.options.on_resource_subscribe(u);
    if (tools) honoured["toolsListChanged"] = true;
    if (prompts) honoured["promptsListChanged"] = true;
    if (resources) honoured["resourcesListChanged"] = true;
    if (!uris.empty()) {
      json::array a;
      for (const auto& u : uris) a.push_back(json::value(u));
      honoured["resourceSubscriptions"] = std::move(a);
    }
    json::value id_json = jsonrpc::to_json(req.id);
    auto tagged = [id_json](std::string method, json::object params) {
      json::object meta{{protocol::meta::subscription_id, id_json}};
      params["_meta"] = std::move(meta);
      return jsonrpc::encode(jsonrpc::notification{std::move(method), std::move(params)});
    };
    {
      std::lock_guard lk(mu);
      if (in_flight.count(key) || listens.count(key)) {
        respond(error_text(req.id, codes::invalid_request,
                           "Invalid Request: a request with this id is already in progress"));
        return;
      }
      listens[key] = 0;
    }
    // The acknowledgement goes first, before any change can be published to this stream.
    respond.send(tagged("notifications/subscriptions/acknowledged",
                        json::object{{"notifications", honoured}}));
    std::weak_ptr<impl> weak = shared_from_this();
    auto token = srv.bus.subscribe(
        [weak, key, tools, prompts, resources, uris, tagged, respond](const change& c) {
          auto self = weak.lock();
          if (!self) return;
          {
            std::lock_guard lk(self->mu);
            if (!self->listens.count(key)) return;
          }
          switch (c.kind) {
            case change::tools:
              if (tools) respond.send(tagged("notifications/tools/list_changed", {}));
              break;
            case change::prompts:
              if (prompts) respond.send(tagged("notifications/prompts/list_changed", {}));
              break;
            case change::resources:
              if (resources) respond.send(tagged("notifications/resources/list_changed", {}));
              break;
            case change::resource_updated:
              for (const auto& u : uris)
                if (c.uri == u || (c.uri.size() > u.size() && c.uri.compare(0, u.size(), u) == 0 &&
                                   (u.back() == '/' || c.uri[u.size()] == '/'))) {
                  respond.send(tagged("notifications/resources/updated", {{"uri", c.uri}}));
                  break;
                }
              break;
          }
        });
    bool keep;
    {
      std::lock_guard lk(mu);
      keep = listens.count(key) && !closed;
      if (keep) listens[key] = token;
    }
    if (!keep) srv.bus.unsubscribe(token);
  }

  // ---- lifecycle -----------------------------------------------------------

  void close() {
    std::vector<std::uint64_t> tokens;
    std::map<std::string, std::shared_ptr<pending_client_request>> waiting;
    bool session;
    {
      std::lock_guard lk(mu);
      if (closed) return;
      session = initialized;
      closed = true;
      for (auto& [k, env] : in_flight) env->cancelled = true;
      for (auto& [k, t] : listens)
        if (t) tokens.push_back(t);
      listens.clear();
      if (session_bus_token) tokens.push_back(session_bus_token);
      session_bus_token = 0;
      waiting.swap(pending);
    }
    cv.notify_all();
    // A legacy session's tasks end with it; modern tasks belong to no connection.
    if (session) srv.tasks.drop_owner(task_owner);
    for (auto t : tokens) srv.bus.unsubscribe(t);
    for (auto& [k, p] : waiting)
      p->promise.set_value(
          unexpected{jsonrpc::error{codes::internal_error, "connection closed", {}}});
  }

  bool wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, timeout, [&] { return in_flight.empty(); });
  }
};

thread_local std::size_t connection::impl::decoding_bytes = 0;

connection::connection(server& srv, std::shared_ptr<outbound> out, connection_options options)
    : impl_(std::make_shared<impl>(srv.internals(), std::move(out), options)) {}

connection::~connection() {
  impl_->close();
}

void connection::receive(std::string_view text) {
  receive(text, nullptr);
}

void connection::receive(std::string_view text, std::shared_ptr<exchange> ex) {
  if (text.size() > impl_->opts.max_message_bytes) {
    auto e = jsonrpc::make_error(std::nullopt, codes::invalid_request,
                                 "Invalid Request: message exceeds the maximum size of " +
                                     std::to_string(impl_->opts.max_message_bytes) + " bytes");
    (ex ? ex : impl_->default_exchange)->finish(jsonrpc::encode(e), codes::invalid_request);
    return;
  }
  impl_->receive(text, std::move(ex));
}

void connection::receive(jsonrpc::decoded decoded, std::shared_ptr<exchange> ex) {
  impl_->receive(std::move(decoded), std::move(ex));
}

bool connection::initialized() const {
  std::lock_guard lk(impl_->mu);
  return impl_->initialized;
}

std::string connection::protocol_version() const {
  std::lock_guard lk(impl_->mu);
  return impl_->version;
}

void connection::receive_oversized() {
  impl_->send(jsonrpc::encode(
      jsonrpc::make_error(std::nullopt, codes::invalid_request,
                          "Invalid Request: message exceeds the maximum size of " +
                              std::to_string(impl_->opts.max_message_bytes) + " bytes")));
}

void connection::close() {
  impl_->close();
}

bool connection::wait_idle(std::chrono::milliseconds timeout) {
  return impl_->wait_idle(timeout);
}

}  // namespace plexus::server
