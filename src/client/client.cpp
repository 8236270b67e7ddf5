#include "plexus/client/client.hpp"

#include "plexus/core/blocking.hpp"
#include "plexus/jsonrpc/message.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <utility>

namespace plexus::client {

namespace codes = jsonrpc::codes;
using namespace std::chrono_literals;

std::string error::describe() const {
  switch (kind) {
    case protocol:
      return "error " + std::to_string(code) + ": " + message;
    case transport:
      return "transport: " + message;
    case timeout:
      return "timed out: " + message;
    case cancelled:
      return "cancelled";
    case closed:
      return "connection closed: " + message;
    case invalid_response:
      return "invalid response: " + message;
  }
  return message;
}

namespace {
thread_local std::string delivering_id;
}  // namespace

const std::string& delivering_for_request() {
  return delivering_id;
}
delivery_scope::delivery_scope(const std::string& request_id)
    : previous_(std::exchange(delivering_id, request_id)) {}
delivery_scope::~delivery_scope() {
  delivering_id = std::move(previous_);
}

namespace {

// What an asynchronous request needs to go on when the server answers with an MRTR round
// (kept only when it can answer one: its handlers or on_input_required).
struct async_rounds {
  request_options ro;
  // The params as sent, with the envelope: moved here once sent (not copied before), so
  // the thread that goes on may have to wait a moment for them.
  std::mutex mu;
  std::condition_variable cv;
  std::optional<json::object> params;
  json::object take_params() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return params.has_value(); });
    return std::move(*params);
  }
};

struct pending {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<json::object> answer;  // the whole response message
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  std::function<void(const json::object&)> on_progress;
  std::function<void(const json::object&)> on_log;
  // request_async: its answer goes to `done`; whoever takes it out of `waiting`
  // (answer, time-out, cancel, closure) calls `done`, once. `armed` (under
  // client::impl::mu) once sent: before that, only an answer can end it.
  std::function<void(result<json::object>)> done;
  std::string method;
  std::int64_t id = 0;
  std::chrono::steady_clock::time_point started;
  std::chrono::milliseconds timeout{};
  std::shared_ptr<cancellation> cancel;
  bool armed = false;
  std::shared_ptr<async_rounds> rounds;
};

error make_error(error::kind_t kind, std::string message) {
  error e;
  e.kind = kind;
  e.message = std::move(message);
  return e;
}

}  // namespace

struct client::impl : std::enable_shared_from_this<client::impl> {
  std::unique_ptr<client_transport> transport;
  client_options opts;
  json::object info_json;  // opts.info as sent: built once, not for every modern request
  protocol::era era = protocol::era::legacy;
  std::string version;
  json::object server_caps;
  json::object server_info;
  std::optional<std::string> instructions;

  std::mutex mu;
  std::int64_t next_id = 1;
  std::map<std::string, std::shared_ptr<pending>> waiting;            // by request id
  std::map<std::string, std::shared_ptr<pending>> by_progress_token;  // by token
  // subscriptions/listen streams: request id -> callback for their frames.
  std::map<std::string, std::function<void(const std::string&, const json::object&)>> listeners;
  // Requests in flight that answer server questions with their own handlers, by id.
  std::map<std::string, std::shared_ptr<const input_handlers>> routed;
  bool closed = false;
  std::string closed_why;
  std::vector<std::thread> handler_threads;
  std::vector<std::thread::id> finished_handlers;  // joined by the next answer_server_request
  // request_async: those in flight (also in `waiting`), and the thread that times them
  // out and polls their cancellation (started with the first one).
  std::map<std::string, std::shared_ptr<pending>> async_waiting;
  std::thread watchdog;
  std::condition_variable watchdog_cv;
  bool watchdog_stop = false;
  // Asleep until a request comes: it ticks every 50 ms while any is in flight, and only
  // a request that finds it asleep wakes it (not every request, when one at a time).
  bool watchdog_idle = false;

  // ---- inbound -------------------------------------------------------------

  // `v` is the client's to take (see client_transport::inbound).
  void on_message(json::value& v) {
    if (v.is_array()) {  // a 2025-03-26 batch answer
      for (auto& item : v.get_array()) on_message(item);
      return;
    }
    if (!v.is_object()) return;
    auto& o = v.get_object();
    auto method = json::find_string(o, "method");
    auto id_it = o.find("id");
    if (!method && id_it != o.end()) {  // a response
      std::shared_ptr<pending> p;
      {
        std::lock_guard lk(mu);
        std::string key = json::dump(id_it->value());
        auto it = waiting.find(key);
        if (it == waiting.end()) return;  // late answer to a cancelled request
        p = it->second;
        if (p->done) forget(key);
      }
      if (p->done) {
        if (p->rounds && asks_for_input(o))
          continue_rounds(p, std::move(o));
        else
          p->done(async_result(std::move(o)));
        return;
      }
      std::lock_guard lk(p->mu);
      p->answer = std::move(o);
      p->cv.notify_all();
      return;
    }
    if (!method) return;
    const json::object empty;
    const json::object& params =
        o.contains("params") && o.at("params").is_object() ? o.at("params").get_object() : empty;
    if (id_it != o.end()) {  // a server-to-client request (legacy)
      answer_server_request(std::string(*method), params, id_it->value());
      return;
    }
    if (*method == "notifications/progress") {
      auto tok = params.find("progressToken");
      if (tok == params.end()) return;
      std::shared_ptr<pending> p;
      {
        std::lock_guard lk(mu);
        auto it = by_progress_token.find(json::dump(tok->value()));
        if (it != by_progress_token.end()) p = it->second;
      }
      if (!p) return;
      {
        std::lock_guard lk(p->mu);
        p->last_activity = std::chrono::steady_clock::now();
      }
      if (p->on_progress) p->on_progress(params);
      return;
    }
    if (*method == "notifications/message") {
      // A log goes to the request it belongs to: the one whose stream carried it, else the
      // only request in flight that asked for logs; otherwise it is session-wide.
      std::shared_ptr<pending> target;
      {
        std::lock_guard lk(mu);
        const std::string& origin = delivering_for_request();
        if (auto it = waiting.find(origin); !origin.empty() && it != waiting.end())
          target = it->second;
        if (!target || !target->on_log) {
          target.reset();
          for (const auto& [id, p] : waiting)
            if (p->on_log) {
              if (target) {  // several: no guessing
                target.reset();
                break;
              }
              target = p;
            }
        }
      }
      if (target && target->on_log) {
        target->on_log(params);
        return;
      }
      if (opts.on_notification) opts.on_notification(std::string(*method), params);
      return;
    }
    invalidate_cache_for(*method);
    // Frames of a subscriptions/listen stream go to that subscription's callback.
    if (auto meta = json::find_object(params, "_meta"))
      if (auto sid = meta->find(protocol::meta::subscription_id); sid != meta->end()) {
        std::function<void(const std::string&, const json::object&)> cb;
        {
          std::lock_guard lk(mu);
          auto it = listeners.find(json::dump(sid->value()));
          if (it != listeners.end()) cb = it->second;
        }
        if (cb) {
          cb(std::string(*method), params);
          return;
        }
      }
    if (opts.on_notification) opts.on_notification(std::string(*method), params);
  }

  // ---- list cache (ttlMs / cacheScope) -------------------------------------

  struct cached {
    json::object result;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex cache_mu;
  std::map<std::string, cached> cache;  // method + params -> result

  void invalidate_cache_for(std::string_view notification) {
    std::string prefix;
    if (notification == "notifications/tools/list_changed")
      prefix = "tools/list";
    else if (notification == "notifications/prompts/list_changed")
      prefix = "prompts/list";
    else if (notification == "notifications/resources/list_changed")
      prefix = "resources/";
    else
      return;
    std::lock_guard lk(cache_mu);
    for (auto it = cache.begin(); it != cache.end();)
      it = it->first.starts_with(prefix) ? cache.erase(it) : std::next(it);
  }

  // A cacheable list request: fresh cached pages are served without a round trip.
  // One client is one authorization context, so "private" results may be reused here.
  result<json::object> cached_request(const std::string& method, json::object params) {
    std::string key = method + "|" + json::dump(params);
    {
      std::lock_guard lk(cache_mu);
      auto it = cache.find(key);
      if (it != cache.end() && std::chrono::steady_clock::now() < it->second.expires)
        return it->second.result;
    }
    auto r = request(method, params, {});
    if (!r) {
      if (r.error().kind == error::protocol && r.error().code == codes::invalid_params &&
          params.contains("cursor")) {
        std::lock_guard lk(cache_mu);  // an invalid cursor: every page of the list is stale
        for (auto it = cache.begin(); it != cache.end();)
          it = it->first.starts_with(method + "|") ? cache.erase(it) : std::next(it);
      }
      return r;
    }
    auto ttl = json::find_int(*r, "ttlMs").value_or(0);
    if (ttl > 0) {
      std::lock_guard lk(cache_mu);
      cache[key] = {*r, std::chrono::steady_clock::now() + std::chrono::milliseconds(ttl)};
    }
    return r;
  }

  result<json::object> run_handler(const std::string& method, const json::object& params,
                                   const input_handlers& h) {
    if (method == "elicitation/create" && h.elicitation) return h.elicitation(params);
    if (method == "sampling/createMessage" && h.sampling) return h.sampling(params);
    if (method == "roots/list" && h.roots) return h.roots(params);
    if (method == "ping") return json::object{};
    error e;
    e.code = codes::method_not_found;
    e.message = "Method not found: " + method;
    return unexpected{e};
  }

  // Whose handlers answer a server-to-client request: those of the request whose
  // stream carried it, else of the only request in flight with handlers, else the
  // client's own (with several candidates, guessing could show one caller's
  // question to another).
  std::shared_ptr<const input_handlers> handlers_for_inbound(const std::string& method) {
    const std::string& origin = delivering_for_request();
    if (!origin.empty())
      if (auto it = routed.find(origin); it != routed.end()) return it->second;
    // Servers ask for roots for their session (after initialize, on list changes), not
    // for a call: unless it came on a request's stream, a roots/list is not guessed to
    // belong to the one request in flight.
    if (routed.size() == 1 && method != "roots/list") return routed.begin()->second;
    return nullptr;
  }

  void answer_server_request(std::string method, json::object params, json::value id) {
    std::shared_ptr<const input_handlers> h;
    {
      std::lock_guard lk(mu);
      h = handlers_for_inbound(method);
    }
    on_handler_thread([self = shared_from_this(), h, method = std::move(method),
                       params = std::move(params), id = std::move(id)] {
      auto r = self->run_handler(method, params, h ? *h : self->opts.handlers);
      json::object reply{{"jsonrpc", "2.0"}, {"id", id}};
      if (r)
        reply["result"] = std::move(*r);
      else
        reply["error"] = json::object{{"code", r.error().code ? r.error().code : -32603},
                                      {"message", r.error().message}};
      self->transport->send(reply);
    });
  }

  // Runs `work` on a thread of its own: handlers may wait for a person, never on the
  // transport's reader thread. Finished threads are joined by the next call.
  void on_handler_thread(std::function<void()> work) {
    auto self = shared_from_this();
    std::lock_guard lk(mu);
    reap_handler_threads();
    handler_threads.emplace_back([self, work = std::move(work)] {
      work();
      std::lock_guard lk(self->mu);
      self->finished_handlers.push_back(std::this_thread::get_id());
    });
  }

  // Joins handler threads that finished (a long-lived client must not collect them). Holds mu.
  void reap_handler_threads() {
    if (finished_handlers.empty()) return;
    for (auto it = handler_threads.begin(); it != handler_threads.end();) {
      auto f = std::find(finished_handlers.begin(), finished_handlers.end(), it->get_id());
      if (f == finished_handlers.end()) {
        ++it;
        continue;
      }
      finished_handlers.erase(f);
      it->join();  // it has returned from its body already
      it = handler_threads.erase(it);
    }
  }

  void on_closed(const std::string& why) {
    std::vector<std::shared_ptr<pending>> all;
    {
      std::lock_guard lk(mu);
      if (closed) return;
      closed = true;
      closed_why = why;
      for (auto it = waiting.begin(); it != waiting.end();) {
        auto p = it->second;
        if (p->done && !p->armed) {  // request_async sees the closure once it has sent
          ++it;
          continue;
        }
        all.push_back(p);
        if (!p->done) {
          ++it;
          continue;
        }
        async_waiting.erase(it->first);
        routed.erase(it->first);
        by_progress_token.erase(it->first);
        it = waiting.erase(it);
      }
    }
    for (auto& p : all) {
      if (p->done)
        p->done(unexpected{make_error(error::closed, why)});
      else
        p->cv.notify_all();
    }
    if (opts.on_closed) opts.on_closed(why);
  }

  // ---- outbound ------------------------------------------------------------

  json::object client_capabilities(const input_handlers* per_request = nullptr,
                                   bool tasks = false) const {
    const input_handlers& h = per_request ? *per_request : opts.handlers;
    json::object caps;
    if (tasks) caps["extensions"] = json::object{{"io.modelcontextprotocol/tasks", json::object{}}};
    if (h.elicitation)
      caps["elicitation"] = json::object{{"form", json::object{}}, {"url", json::object{}}};
    if (h.sampling) caps["sampling"] = json::object{};
    if (h.roots)
      caps["roots"] =
          era == protocol::era::legacy ? json::object{{"listChanged", true}} : json::object{};
    return caps;
  }

  void add_envelope(json::object& params, const request_options& ro) {
    if (era != protocol::era::modern) {
      if (!ro.meta.empty()) {
        json::object& meta = params["_meta"].emplace_object();
        for (const auto& kv : ro.meta) meta[kv.key()] = kv.value();
      }
      return;
    }
    json::object meta;
    if (auto it = params.find("_meta"); it != params.end() && it->value().is_object())
      meta = it->value().get_object();
    for (const auto& kv : ro.meta) meta[kv.key()] = kv.value();
    meta[protocol::meta::protocol_version] = version;
    meta[protocol::meta::client_capabilities] = client_capabilities(ro.handlers.get(), ro.tasks);
    meta[protocol::meta::client_info] = info_json;
    if (ro.log_level) meta[protocol::meta::log_level] = protocol::to_string(*ro.log_level);
    params["_meta"] = std::move(meta);
  }

  // One JSON-RPC exchange: send, wait (timeout reset by progress), cancel.
  result<json::object> exchange(const std::string& method, json::object params,
                                const request_options& ro) {
    auto p = std::make_shared<pending>();
    p->on_progress = ro.on_progress;
    p->on_log = ro.on_log;
    std::int64_t id;
    std::string key, token_key;
    {
      std::lock_guard lk(mu);
      if (closed) return unexpected{make_error(error::closed, closed_why)};
      id = next_id++;
      key = json::dump(json::value(id));
      waiting[key] = p;
      if (ro.handlers) routed[key] = ro.handlers;
      if (ro.on_progress) {
        token_key = key;
        by_progress_token[token_key] = p;
      }
    }
    if (ro.on_id) ro.on_id(key);  // outside the lock: it may take it
    if (ro.on_progress) {
      json::object& meta = params["_meta"].is_object() ? params["_meta"].get_object()
                                                       : params["_meta"].emplace_object();
      meta[protocol::meta::progress_token] = id;
    }
    auto cleanup = [&] {
      std::lock_guard lk(mu);
      waiting.erase(key);
      routed.erase(key);
      if (!token_key.empty()) by_progress_token.erase(token_key);
    };
    json::object msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
    blocking_region waiting_for_the_server;
    if (auto err = transport->send(msg)) {
      cleanup();
      // A write that failed because the server just exited: say that it exited (the
      // transport notices the exit a moment after the broken pipe).
      for (int i = 0; err->http_status == 0 && i < 40; ++i) {
        {
          std::lock_guard lk(mu);
          if (closed) return unexpected{make_error(error::closed, closed_why)};
        }
        std::this_thread::sleep_for(5ms);
      }
      error e = make_error(error::transport, err->message);
      e.code = err->http_status;
      if (err->body) e.data = err->body;
      // A JSON-RPC error carried by an HTTP error status is the server's answer.
      if (err->body && err->body->is_object())
        if (auto eo = json::find_object(err->body->get_object(), "error")) {
          e.kind = error::protocol;
          e.code = static_cast<int>(json::find_int(*eo, "code").value_or(0));
          if (auto m = json::find_string(*eo, "message")) e.message = std::string(*m);
          if (auto d = eo->find("data"); d != eo->end()) e.data = d->value();
        }
      return unexpected{e};
    }
    auto timeout = ro.timeout.value_or(opts.request_timeout);
    auto started = std::chrono::steady_clock::now();
    std::unique_lock lk(p->mu);
    for (;;) {
      if (p->answer) break;
      bool is_closed;
      {
        std::lock_guard g(mu);
        is_closed = closed;
      }
      if (is_closed) {
        lk.unlock();
        cleanup();
        return unexpected{make_error(error::closed, closed_why)};
      }
      auto now = std::chrono::steady_clock::now();
      bool cancelled = ro.cancel && ro.cancel->cancelled();
      bool timed_out = now - p->last_activity > timeout || now - started > opts.max_request_timeout;
      if (cancelled || timed_out) {
        lk.unlock();
        cleanup();
        return unexpected{give_up(id, method, cancelled, now - started)};
      }
      p->cv.wait_for(lk, 50ms);
    }
    json::object answer = std::move(*p->answer);
    lk.unlock();
    cleanup();
    return to_result(std::move(answer));
  }

  // Request `id` is given up (cancelled by the caller, or timed out): the server is told,
  // and the caller gets the error this returns.
  error give_up(std::int64_t id, const std::string& method, bool cancelled,
                std::chrono::steady_clock::duration waited) {
    (void)transport->send(json::object{
        {"jsonrpc", "2.0"},
        {"method", "notifications/cancelled"},
        {"params", json::object{{"requestId", id},
                                {"reason", cancelled ? "cancelled by the client" : "timed out"}}}});
    if (cancelled) return make_error(error::cancelled, "cancelled");
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", static_cast<double>(ms) / 1000.0);
    return make_error(error::timeout, method + " after " + secs + " s");
  }

  // A response message as a result: its result object, or its error.
  static result<json::object> to_result(const json::object& answer) {
    if (auto e = json::find_object(answer, "error")) {
      error err;
      err.kind = error::protocol;
      err.code = static_cast<int>(json::find_int(*e, "code").value_or(0));
      if (auto m = json::find_string(*e, "message")) err.message = std::string(*m);
      if (auto d = e->find("data"); d != e->end()) err.data = d->value();
      // The transport's own failures travel as error answers marked transportError.
      if (err.data && err.data->is_object() &&
          json::find_bool(err.data->get_object(), "transportError").value_or(false)) {
        err.kind = error::transport;
        err.code =
            static_cast<int>(json::find_int(err.data->get_object(), "httpStatus").value_or(0));
        if (auto b = err.data->get_object().find("body"); b != err.data->get_object().end())
          err.data = b->value();
        else
          err.data.reset();
      }
      return unexpected{err};
    }
    auto r = answer.find("result");
    if (r == answer.end() || !r->value().is_object())
      return unexpected{make_error(error::invalid_response, "the result is not an object")};
    return r->value().get_object();
  }
  // The same, taking the result out of an answer the caller owns: a large result (a 64 KiB
  // text, a long list) is not copied once more.
  static result<json::object> to_result(json::object&& answer) {
    auto r = answer.find("result");
    if (answer.contains("error") || r == answer.end() || !r->value().is_object())
      return to_result(static_cast<const json::object&>(answer));
    return std::move(r->value().get_object());
  }

  // The result of an asynchronous request from its response: what request() returns,
  // except that the server's questions are not answered (see client::request_async).
  result<json::object> async_result(json::object&& answer) {
    auto r = to_result(std::move(answer));
    if (!r) return r;
    auto rt = json::find_string(*r, "resultType");
    if (!rt || *rt == "complete" || *rt == "task") return r;
    if (*rt != "input_required" || era != protocol::era::modern)
      return unexpected{
          make_error(error::invalid_response, "unknown resultType \"" + std::string(*rt) + "\"")};
    // As request() would with no handlers: the first question it cannot answer.
    if (auto reqs = json::find_object(*r, "inputRequests")) {
      auto responses = fulfil(*reqs, input_handlers{});
      if (!responses) return unexpected{responses.error()};
    }
    return unexpected{make_error(error::invalid_response,
                                 "the server asked for input, which an asynchronous request "
                                 "does not give")};
  }

  static bool asks_for_input(const json::object& answer) {
    auto r = json::find_object(answer, "result");
    auto rt = r ? json::find_string(*r, "resultType") : nullptr;
    return rt && *rt == "input_required";
  }

  // An asynchronous request whose server asks for input: the rounds go on on a handler
  // thread (the handlers may wait for a person).
  void continue_rounds(std::shared_ptr<pending> p, json::object answer) {
    on_handler_thread([self = shared_from_this(), p, answer = std::move(answer)]() mutable {
      auto& rounds = *p->rounds;
      p->done(self->go_on(p->method, rounds.take_params(), rounds.ro,
                          self->to_result(std::move(answer))));
    });
  }

  // Takes request `key` out of every table (under mu).
  void forget(const std::string& key) {
    waiting.erase(key);
    async_waiting.erase(key);
    routed.erase(key);
    by_progress_token.erase(key);
  }

  bool request_async(const std::string& method, json::object params, request_options ro,
                     std::function<void(result<json::object>)> done) {
    add_envelope(params, ro);
    auto p = std::make_shared<pending>();
    p->on_progress = ro.on_progress;
    p->on_log = ro.on_log;
    p->done = std::move(done);
    const input_handlers& h = ro.handlers ? *ro.handlers : opts.handlers;  // as request()
    bool can_answer = ro.on_input_required || h.sampling || h.elicitation || h.roots;
    if (era == protocol::era::modern && can_answer) p->rounds = std::make_shared<async_rounds>();
    p->method = method;
    p->cancel = ro.cancel;
    p->timeout = ro.timeout.value_or(opts.request_timeout);
    p->started = std::chrono::steady_clock::now();
    std::string key;
    {
      std::lock_guard lk(mu);
      if (closed) return false;
      p->id = next_id++;
      key = json::dump(json::value(p->id));
      waiting[key] = p;
      async_waiting[key] = p;
      if (ro.handlers) routed[key] = ro.handlers;
      if (ro.on_progress) by_progress_token[key] = p;
      if (!watchdog.joinable())
        watchdog = std::thread([self = shared_from_this()] { self->watch_async(); });
    }
    if (ro.on_id) ro.on_id(key);
    if (ro.on_progress) {
      json::object& meta = params["_meta"].is_object() ? params["_meta"].get_object()
                                                       : params["_meta"].emplace_object();
      meta[protocol::meta::progress_token] = p->id;
    }
    json::object msg{
        {"jsonrpc", "2.0"}, {"id", p->id}, {"method", method}, {"params", std::move(params)}};
    if (!transport->try_send(msg)) {
      std::lock_guard lk(mu);
      forget(key);
      return false;
    }
    if (p->rounds) {  // ro is not used below
      std::lock_guard lk(p->rounds->mu);
      p->rounds->ro = std::move(ro);
      p->rounds->params = std::move(msg["params"].get_object());
      p->rounds->cv.notify_all();
    }
    std::string closed_now;
    {
      std::lock_guard lk(mu);
      if (waiting.count(key)) {  // not answered yet
        p->armed = true;
        if (closed) {
          forget(key);
          closed_now = closed_why.empty() ? std::string("closed") : closed_why;
        } else if (watchdog_idle) {
          watchdog_idle = false;
          watchdog_cv.notify_one();
        }
      }
    }
    if (!closed_now.empty()) p->done(unexpected{make_error(error::closed, closed_now)});
    return true;
  }

  // The watchdog of asynchronous requests: what exchange() checks while it waits.
  void watch_async() {
    for (;;) {
      std::vector<std::pair<std::string, std::shared_ptr<pending>>> live;
      {
        std::unique_lock lk(mu);
        if (async_waiting.empty()) {
          watchdog_idle = true;
          watchdog_cv.wait(lk, [&] { return watchdog_stop || !watchdog_idle; });
        } else
          watchdog_cv.wait_for(lk, 50ms, [&] { return watchdog_stop; });
        if (watchdog_stop) return;
        for (const auto& [k, p] : async_waiting)
          if (p->armed) live.emplace_back(k, p);
      }
      auto now = std::chrono::steady_clock::now();
      for (auto& [key, p] : live) {
        bool cancelled = p->cancel && p->cancel->cancelled();
        std::chrono::steady_clock::time_point last;
        {
          std::lock_guard lk(p->mu);
          last = p->last_activity;
        }
        bool timed_out = now - last > p->timeout || now - p->started > opts.max_request_timeout;
        if (!cancelled && !timed_out) continue;
        {
          std::lock_guard lk(mu);
          if (!async_waiting.count(key)) continue;  // answered meanwhile
          forget(key);
        }
        p->done(unexpected{give_up(p->id, p->method, cancelled, now - p->started)});
      }
    }
  }

  // Fulfils MRTR input requests through the application's handlers.
  result<json::object> fulfil(const json::object& input_requests, const input_handlers& h) {
    json::object responses;
    for (const auto& kv : input_requests) {
      if (!kv.value().is_object())
        return unexpected{make_error(error::invalid_response, "an input request is not an object")};
      const auto& ir = kv.value().get_object();
      auto m = json::find_string(ir, "method");
      if (!m)
        return unexpected{make_error(error::invalid_response, "an input request has no method")};
      const json::object empty;
      auto params = json::find_object(ir, "params");
      auto r = run_handler(std::string(*m), params ? *params : empty, h);
      if (!r) return unexpected{r.error()};
      responses[kv.key()] = std::move(*r);
    }
    return responses;
  }

  result<json::object> request(const std::string& method, json::object params,
                               const request_options& ro) {
    add_envelope(params, ro);
    for (int round = 0;; ++round) {
      auto r = exchange(method, params, ro);
      if (!r && era == protocol::era::modern && r.error().kind == error::protocol &&
          r.error().code == codes::unsupported_protocol_version && round == 0) {
        // Retry once with a version both sides support.
        if (!adopt_supported(r.error())) return r;
        add_envelope(params, ro);
        continue;
      }
      if (!r && era == protocol::era::legacy && r.error().kind == error::transport &&
          r.error().code == 404 && method != "initialize" && round == 0) {
        // The server ended or forgot the session: start a new one and retry once.
        spdlog::info("{}: session not found; initializing a new session", transport->describe());
        transport->reset_session();
        if (auto again = initialize(); !again) return unexpected{again.error()};
        continue;
      }
      if (auto s = settled(r, round)) return std::move(*s);
      if (auto a = answer_round(params, *r, ro); !a) return unexpected{a.error()};
    }
  }

  // The MRTR rounds of a request after its first answer `r` (request_async's, on its own thread).
  result<json::object> go_on(const std::string& method, json::object params,
                             const request_options& ro, result<json::object> r) {
    for (int round = 0;; ++round) {
      if (round > 0) r = exchange(method, params, ro);
      if (auto s = settled(r, round)) return std::move(*s);
      if (auto a = answer_round(params, *r, ro); !a) return unexpected{a.error()};
    }
  }

  // What answer `r` of round `round` means: the request's outcome (a result, a task
  // handle, a failure), or nothing when it is an MRTR round to answer.
  std::optional<result<json::object>> settled(result<json::object>& r, int round) {
    if (!r) return std::move(r);
    auto rt = json::find_string(*r, "resultType");
    if (!rt || *rt == "complete") return std::move(r);
    if (*rt != "input_required" || era != protocol::era::modern) {
      if (*rt == "task") return std::move(r);  // a task handle: the caller polls tasks/get
      return result<json::object>(unexpected{
          make_error(error::invalid_response, "unknown resultType \"" + std::string(*rt) + "\"")});
    }
    if (round + 1 >= opts.max_input_rounds)
      return result<json::object>(
          unexpected{make_error(error::invalid_response, "too many input rounds")});
    return std::nullopt;
  }

  // MRTR: answers round `r` into `params`, for the retry on a new id with inputResponses
  // and the exact state.
  result<void*> answer_round(json::object& params, const json::object& r,
                             const request_options& ro) {
    params.erase("inputResponses");
    params.erase("requestState");
    if (auto reqs = json::find_object(r, "inputRequests")) {
      auto responses = ro.on_input_required
                           ? ro.on_input_required(*reqs)
                           : fulfil(*reqs, ro.handlers ? *ro.handlers : opts.handlers);
      if (!responses) return unexpected{responses.error()};
      params["inputResponses"] = std::move(*responses);
    }
    if (auto st = r.find("requestState"); st != r.end()) params["requestState"] = st->value();
    return nullptr;
  }

  bool adopt_supported(const error& e) {
    if (!e.data || !e.data->is_object()) return false;
    auto supported = json::find_array(e.data->get_object(), "supported");
    if (!supported) return false;
    for (const auto& v : *supported)
      if (v.is_string() && protocol::is_modern_version(v.get_string()) &&
          v.get_string() != version) {
        version = std::string(v.get_string());
        return true;
      }
    return false;
  }

  // ---- connecting ------------------------------------------------------------

  result<void*> probe_modern() {
    era = protocol::era::modern;
    version = std::string(protocol::latest_modern_version);
    request_options ro;
    ro.timeout = opts.probe_timeout;
    for (int attempt = 0; attempt < 2; ++attempt) {
      json::object params;
      add_envelope(params, ro);
      auto r = exchange("server/discover", params, ro);
      if (r) {
        if (auto c = json::find_object(*r, "capabilities")) server_caps = *c;
        if (auto m = json::find_object(*r, "_meta"))
          if (auto si = json::find_object(*m, protocol::meta::server_info)) server_info = *si;
        if (auto i = json::find_string(*r, "instructions")) instructions = std::string(*i);
        return nullptr;
      }
      const auto& e = r.error();
      if (e.kind == error::protocol && e.code == codes::unsupported_protocol_version &&
          adopt_supported(e))
        continue;  // a modern server that prefers another modern version
      return unexpected{e};
    }
    return unexpected{make_error(error::protocol, "no mutually supported modern version")};
  }

  result<void*> initialize() {
    era = protocol::era::legacy;
    version = opts.legacy_version;
    json::object params{{"protocolVersion", version},
                        {"capabilities", client_capabilities()},
                        {"clientInfo", info_json}};
    auto r = exchange("initialize", params, {});
    if (!r) return unexpected{r.error()};
    auto v = json::find_string(*r, "protocolVersion");
    if (!v || !protocol::is_legacy_version(*v))
      return unexpected{
          make_error(error::invalid_response,
                     "the server answered initialize with an unsupported protocol version " +
                         (v ? std::string(*v) : std::string("(none)")))};
    version = std::string(*v);
    if (auto c = json::find_object(*r, "capabilities")) server_caps = *c;
    if (auto s = json::find_object(*r, "serverInfo")) server_info = *s;
    if (auto i = json::find_string(*r, "instructions")) instructions = std::string(*i);
    transport->send(json::object{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
    return nullptr;
  }

  result<void*> connect() {
    if (opts.mode == version_mode::legacy_only) return initialize();
    auto probed = probe_modern();
    if (probed) return probed;
    const auto& e = probed.error();
    if (opts.mode == version_mode::modern_only) return probed;
    // Recognised modern errors mean a modern server: no fallback (per the spec).
    if (e.kind == error::protocol &&
        (e.code == codes::header_mismatch || e.code == codes::missing_required_client_capability))
      return probed;
    if (e.kind == error::closed) return probed;
    spdlog::debug("{}: server/discover failed ({}); falling back to initialize",
                  transport->describe(), e.describe());
    return initialize();
  }

  result<std::vector<json::object>> list_all(const std::string& method, const std::string& field) {
    std::vector<json::object> out;
    std::optional<std::string> cursor;
    for (int page = 0; page < 10'000; ++page) {
      json::object params;
      if (cursor) params["cursor"] = *cursor;
      auto r = cached_request(method, params);
      if (!r) return unexpected{r.error()};
      if (auto items = json::find_array(*r, field))
        for (const auto& i : *items)
          if (i.is_object()) out.push_back(i.get_object());
      auto next = json::find_string(*r, "nextCursor");
      if (!next) return out;
      cursor = std::string(*next);
    }
    return unexpected{make_error(error::invalid_response, "endless pagination")};
  }

  void shutdown() {
    transport->close();
    on_closed("closed by the client");
    {
      std::lock_guard lk(mu);
      watchdog_stop = true;
    }
    watchdog_cv.notify_all();
    if (watchdog.joinable()) {
      // A request's `done` may drop the last owner of this client on the watchdog itself.
      if (watchdog.get_id() == std::this_thread::get_id())
        watchdog.detach();
      else
        watchdog.join();
    }
    std::vector<std::thread> threads;
    {
      std::lock_guard lk(mu);
      threads.swap(handler_threads);
    }
    for (auto& t : threads) {
      if (!t.joinable()) continue;
      // A handler (or rounds) thread may drop the last owner of this client itself.
      if (t.get_id() == std::this_thread::get_id())
        t.detach();
      else
        t.join();
    }
  }
};

result<std::unique_ptr<client>> client::connect(std::unique_ptr<client_transport> transport,
                                                client_options options) {
  auto i = std::make_shared<impl>();
  i->transport = std::move(transport);
  i->opts = std::move(options);
  i->info_json = i->opts.info.to_json();
  std::weak_ptr<impl> weak = i;
  i->transport->start(
      [weak](json::value& v) {
        if (auto s = weak.lock()) s->on_message(v);
      },
      [weak](const std::string& why) {
        if (auto s = weak.lock()) s->on_closed(why);
      });
  auto r = i->connect();
  if (!r) {
    i->shutdown();
    return unexpected{r.error()};
  }
  return std::unique_ptr<client>(new client(std::move(i)));
}

client::~client() {
  close();
}

void client::close() {
  impl_->shutdown();
}

bool client::closed() const {
  std::lock_guard lk(impl_->mu);
  return impl_->closed;
}

protocol::era client::era() const {
  return impl_->era;
}
const std::string& client::protocol_version() const {
  return impl_->version;
}
const json::object& client::server_capabilities() const {
  return impl_->server_caps;
}
const json::object& client::server_info() const {
  return impl_->server_info;
}
const std::optional<std::string>& client::instructions() const {
  return impl_->instructions;
}

result<json::object> client::request(const std::string& method, json::object params,
                                     const request_options& options) {
  return impl_->request(method, std::move(params), options);
}

result<std::vector<json::object>> client::list_tools() {
  return impl_->list_all("tools/list", "tools");
}
result<std::vector<json::object>> client::list_resources() {
  return impl_->list_all("resources/list", "resources");
}
result<std::vector<json::object>> client::list_resource_templates() {
  return impl_->list_all("resources/templates/list", "resourceTemplates");
}
result<std::vector<json::object>> client::list_prompts() {
  return impl_->list_all("prompts/list", "prompts");
}

result<json::object> client::call_tool(const std::string& name, json::object arguments,
                                       const request_options& options) {
  return impl_->request("tools/call", {{"name", name}, {"arguments", std::move(arguments)}},
                        options);
}

result<json::object> client::read_resource(const std::string& uri, const request_options& options) {
  return impl_->request("resources/read", {{"uri", uri}}, options);
}

result<json::object> client::get_prompt(const std::string& name,
                                        const std::map<std::string, std::string>& arguments,
                                        const request_options& options) {
  json::object args;
  for (const auto& [k, v] : arguments) args[k] = v;
  return impl_->request("prompts/get", {{"name", name}, {"arguments", std::move(args)}}, options);
}

subscription::~subscription() {
  cancel();
}

void subscription::cancel() {
  if (!impl_) return;
  auto i = std::static_pointer_cast<client::impl>(impl_);
  {
    std::lock_guard lk(i->mu);
    i->listeners.erase(key_);
  }
  stop_->cancel();
  if (worker_.joinable()) worker_.join();
  impl_.reset();
}

result<std::unique_ptr<subscription>> client::listen(
    json::object filter, std::function<void(const std::string&, const json::object&)> on_event) {
  if (impl_->era != protocol::era::modern) {
    error e;
    e.kind = error::protocol;
    e.code = codes::method_not_found;
    e.message = "subscriptions/listen needs 2026-07-28; legacy sessions get notifications directly";
    return unexpected{e};
  }
  auto sub = std::unique_ptr<subscription>(new subscription());
  sub->impl_ = impl_;
  sub->stop_ = std::make_shared<cancellation>();
  auto i = impl_;
  auto stop = sub->stop_;
  auto ready = std::make_shared<std::promise<std::string>>();
  auto key = ready->get_future();
  // The request stays open until cancelled (or the server ends it): its own thread.
  sub->worker_ = std::thread(
      [i, stop, ready, filter = std::move(filter), on_event = std::move(on_event)]() mutable {
        request_options ro;
        ro.cancel = stop;
        ro.timeout = std::chrono::hours(24 * 365);
        json::object params{{"notifications", filter}};
        i->add_envelope(params, ro);
        // Register the callback under the id this request takes before it is sent.
        ro.on_id = [&](const std::string& id_key) {
          std::lock_guard lk(i->mu);
          i->listeners[id_key] = std::move(on_event);
          ready->set_value(id_key);
        };
        (void)i->exchange("subscriptions/listen", std::move(params), ro);
      });
  sub->key_ = key.get();
  return sub;
}

bool client::request_async(const std::string& method, json::object params, request_options options,
                           std::function<void(result<json::object>)> done) {
  return impl_->request_async(method, std::move(params), std::move(options), std::move(done));
}

result<json::object> client::ping() {
  if (impl_->era == protocol::era::modern) return impl_->request("server/discover", {}, {});
  return impl_->request("ping", {}, {});
}

}  // namespace plexus::client
