#include "plexus/gateway/gateway.hpp"

#include "bridge.hpp"
#include "plexus/client/client.hpp"
#include "plexus/client/in_process.hpp"
#include "plexus/client/oauth.hpp"
#include "plexus/client/transport.hpp"
#include "plexus/gateway/stages.hpp"
#include "plexus/protocol/versions.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace plexus::gateway {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// ---- names -------------------------------------------------------------------

namespace {

std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

std::string federated_name(std::string_view prefix, std::string_view separator,
                           std::string_view name) {
  std::string full;
  full.reserve(prefix.size() + separator.size() + name.size());
  if (!prefix.empty()) full.append(prefix).append(separator);  // an empty prefix: names as is
  full.append(name);
  std::string clean = full;
  for (auto& c : clean)
    if (!name_char(c)) c = '_';
  constexpr std::size_t max_len = 64;
  if (clean.size() <= max_len) return clean;
  // The hash covers the original name, so two long names that share a head differ.
  char tail[10];
  std::snprintf(tail, sizeof tail, "_%08x", fnv1a(full));
  return clean.substr(0, max_len - 9) + tail;
}

std::string federated_uri(std::string_view prefix, std::string_view uri) {
  if (prefix.empty()) return std::string(uri);
  std::string scheme;
  for (char c : prefix) {
    if (c >= 'A' && c <= 'Z')
      scheme += static_cast<char>(c - 'A' + 'a');
    else if (c == '_')
      scheme += '-';
    else
      scheme += c;
  }
  if (scheme.empty() || !(scheme[0] >= 'a' && scheme[0] <= 'z')) scheme = "x" + scheme;
  return scheme + "+" + std::string(uri);
}

// ---- conversions from upstream JSON ------------------------------------------

namespace {

std::optional<std::string> opt_string(const json::object& o, std::string_view key) {
  if (auto s = json::find_string(o, key)) return std::string(*s);
  return std::nullopt;
}

std::vector<protocol::icon> icons_of(const json::object& o) {
  std::vector<protocol::icon> out;
  if (auto a = json::find_array(o, "icons"))
    for (const auto& v : *a)
      if (v.is_object()) {
        protocol::icon i;
        if (auto s = json::find_string(v.get_object(), "src")) i.src = std::string(*s);
        if (auto m = json::find_string(v.get_object(), "mimeType")) i.mime_type = std::string(*m);
        if (auto sz = json::find_array(v.get_object(), "sizes"))
          for (const auto& x : *sz)
            if (x.is_string()) i.sizes.emplace_back(x.get_string());
        if (!i.src.empty()) out.push_back(std::move(i));
      }
  return out;
}

protocol::tool tool_from_json(const json::object& o, std::string name) {
  protocol::tool t;
  t.name = std::move(name);
  t.title = opt_string(o, "title");
  t.description = opt_string(o, "description");
  if (auto s = json::find_object(o, "inputSchema")) t.input_schema = *s;
  if (auto it = o.find("outputSchema"); it != o.end() && it->value().is_object())
    t.output_schema = it->value();
  if (auto a = json::find_object(o, "annotations")) {
    protocol::tool_annotations ta;
    ta.title = opt_string(*a, "title");
    ta.read_only = json::find_bool(*a, "readOnlyHint");
    ta.destructive = json::find_bool(*a, "destructiveHint");
    ta.idempotent = json::find_bool(*a, "idempotentHint");
    ta.open_world = json::find_bool(*a, "openWorldHint");
    t.annotations = ta;
  }
  t.icons = icons_of(o);
  if (auto m = json::find_object(o, "_meta")) t.meta = *m;
  if (auto e = json::find_object(o, "execution"))
    if (auto ts = json::find_string(*e, "taskSupport");
        ts && (*ts == "optional" || *ts == "required"))
      t.task_support = std::string(*ts);
  return t;
}

protocol::content_annotations content_annotations_of(const json::object& o) {
  protocol::content_annotations a;
  if (auto an = json::find_object(o, "annotations")) {
    if (auto aud = json::find_array(*an, "audience"))
      for (const auto& v : *aud)
        if (v.is_string()) a.audience.emplace_back(v.get_string());
    a.priority = json::find_number(*an, "priority");
    a.last_modified = opt_string(*an, "lastModified");
  }
  return a;
}

protocol::resource resource_from_json(const json::object& o, std::string uri) {
  protocol::resource r;
  r.uri = std::move(uri);
  r.name = opt_string(o, "name").value_or(r.uri);
  r.title = opt_string(o, "title");
  r.description = opt_string(o, "description");
  r.mime_type = opt_string(o, "mimeType");
  if (auto sz = json::find_int(o, "size"); sz && *sz >= 0) r.size = static_cast<std::uint64_t>(*sz);
  r.annotations = content_annotations_of(o);
  r.icons = icons_of(o);
  if (auto m = json::find_object(o, "_meta")) r.meta = *m;
  return r;
}

protocol::resource_template template_from_json(const json::object& o, std::string tmpl) {
  protocol::resource_template t;
  t.uri_template = std::move(tmpl);
  t.name = opt_string(o, "name").value_or(t.uri_template);
  t.title = opt_string(o, "title");
  t.description = opt_string(o, "description");
  t.mime_type = opt_string(o, "mimeType");
  t.annotations = content_annotations_of(o);
  t.icons = icons_of(o);
  return t;
}

protocol::prompt prompt_from_json(const json::object& o, std::string name) {
  protocol::prompt p;
  p.name = std::move(name);
  p.title = opt_string(o, "title");
  p.description = opt_string(o, "description");
  if (auto args = json::find_array(o, "arguments"))
    for (const auto& v : *args)
      if (v.is_object()) {
        protocol::prompt_argument a;
        a.name = opt_string(v.get_object(), "name").value_or("");
        a.title = opt_string(v.get_object(), "title");
        a.description = opt_string(v.get_object(), "description");
        a.required = json::find_bool(v.get_object(), "required").value_or(false);
        if (!a.name.empty()) p.arguments.push_back(std::move(a));
      }
  p.icons = icons_of(o);
  return p;
}

// `_meta` keys that describe the caller's own request to us; the rest (trace
// context, application keys) crosses the hop.
bool forwardable_meta(std::string_view key) {
  if (key == "progressToken") return false;
  if (key.starts_with("io.modelcontextprotocol/")) return false;
  return true;
}

std::string kind_name(upstream_kind k) {
  switch (k) {
    case upstream_kind::stdio:
      return "stdio";
    case upstream_kind::http:
      return "http";
    case upstream_kind::websocket:
      return "websocket";
    case upstream_kind::builtin:
      return "builtin";
  }
  return "?";
}

// Everything that makes two upstream configurations behave differently.
std::string fingerprint(const upstream_config& u) {
  json::object o{{"prefix", u.prefix},
                 {"protocol", u.protocol},
                 {"kind", kind_name(u.kind)},
                 {"enabled", u.enabled},
                 {"command", u.command},
                 {"cwd", u.cwd},
                 {"batch", u.batch_scheduling},
                 {"url", u.url},
                 {"ca", u.ca_file},
                 {"cert", u.client_cert_file},
                 {"key", u.client_key_file},
                 {"verify", u.verify_tls},
                 {"builtin", u.builtin},
                 {"timeout", u.timeout.count()},
                 {"connect_timeout", u.connect_timeout.count()},
                 {"breaker", u.breaker_failures},
                 {"cooldown", u.breaker_cooldown.count()},
                 {"backoff", u.restart_backoff.count()},
                 {"backoff_max", u.restart_backoff_max.count()},
                 {"oauth", json::object{{"on", u.oauth.enabled},
                                        {"id", u.oauth.client_id},
                                        {"secret", u.oauth.client_secret},
                                        {"scope", u.oauth.scope},
                                        {"file", u.oauth.token_file}}}};
  json::array args, allow, deny;
  for (const auto& a : u.args) args.emplace_back(a);
  for (const auto& a : u.allow_tools) allow.emplace_back(a);
  for (const auto& a : u.deny_tools) deny.emplace_back(a);
  o["args"] = args;
  o["allow"] = allow;
  o["deny"] = deny;
  json::object env, headers;
  for (const auto& [k, v] : u.env) env[k] = v;
  for (const auto& [k, v] : u.headers) headers[k] = v;
  o["env"] = env;
  o["headers"] = headers;
  const auto& b = u.builtin_settings;
  json::array roots, ingest;
  for (const auto& r : b.roots) roots.emplace_back(r);
  for (const auto& r : b.ingest) ingest.emplace_back(r);
  o["settings"] = json::object{{"data_dir", b.data_dir},
                               {"roots", roots},
                               {"read_only", b.read_only},
                               {"max_file_bytes", b.max_file_bytes},
                               {"database", b.database},
                               {"postgres", b.postgres},
                               {"allow_writes", b.allow_writes},
                               {"max_rows", b.max_rows},
                               {"weather_url", b.weather_url},
                               {"geocoding_url", b.geocoding_url},
                               {"cache_seconds", b.cache_seconds},
                               {"redis_url", b.redis_url},
                               {"wallet_database", b.wallet_database},
                               {"knowledge_database", b.knowledge_database},
                               {"embeddings_url", b.embeddings_url},
                               {"embeddings_model", b.embeddings_model},
                               {"ingest", ingest}};
  return json::dump(o);
}

bool tool_allowed(const upstream_config& u, std::string_view original) {
  if (!u.allow_tools.empty() &&
      std::none_of(u.allow_tools.begin(), u.allow_tools.end(),
                   [&](const std::string& g) { return glob_match(g, original); }))
    return false;
  return std::none_of(u.deny_tools.begin(), u.deny_tools.end(),
                      [&](const std::string& g) { return glob_match(g, original); });
}

}  // namespace

// ---- the gateway ---------------------------------------------------------------

struct endpoint_filter {
  std::vector<std::string> upstreams;  // empty: all
  std::vector<std::string> tools;      // globs on federated names; empty: all
  bool admits_upstream(const std::string& u) const {
    return upstreams.empty() || std::find(upstreams.begin(), upstreams.end(), u) != upstreams.end();
  }
  bool admits_tool(const std::string& upstream, const std::string& name) const {
    if (!admits_upstream(upstream)) return false;
    return tools.empty() || std::any_of(tools.begin(), tools.end(),
                                        [&](const std::string& g) { return glob_match(g, name); });
  }
};

struct mounted_endpoint {
  std::unique_ptr<server::server> srv;
  endpoint_filter filter;
};

class upstream;

// What upstreams need from the gateway (kept apart so that upstreams do not hold the
// gateway alive).
struct registry {
  std::mutex mu;
  std::vector<std::shared_ptr<mounted_endpoint>> endpoints;  // [0] is the main endpoint
  // Federated names in use: tools and prompts by name, resources and templates by URI.
  std::map<std::string, std::string> tool_owner, prompt_owner, resource_owner, template_owner;
  std::vector<std::string> problems;
  std::function<void(const call_record&)> observer;
  std::string separator = "_";
  std::atomic<std::int64_t> in_flight{0};
  // Subscribes upstream to a federated resource URI (set by the gateway).
  std::function<void(const std::string&)> on_subscribe;

  // Parked bridged calls awaiting a modern caller's retry, by id.
  std::mutex parked_mu;
  std::map<std::string, std::shared_ptr<detail::bridged_call>> parked;

  void problem(std::string p) {
    spdlog::warn("gateway: {}", p);
    std::lock_guard lk(mu);
    problems.push_back(std::move(p));
    if (problems.size() > 200) problems.erase(problems.begin());
  }

  void record(const call_record& r) {
    std::function<void(const call_record&)> o;
    {
      std::lock_guard lk(mu);
      o = observer;
    }
    if (o) o(r);
  }

  std::string park(std::shared_ptr<detail::bridged_call> call) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    char id[33];
    std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()));
    call->parked_at = clock_type::now();
    std::lock_guard lk(parked_mu);
    // Calls nobody came back for are cancelled (their upstream call ends).
    for (auto it = parked.begin(); it != parked.end();)
      if (clock_type::now() - it->second->parked_at > 10min) {
        it->second->cancel();
        it = parked.erase(it);
      } else {
        ++it;
      }
    parked[id] = std::move(call);
    return id;
  }

  std::shared_ptr<detail::bridged_call> unpark(const std::string& id) {
    std::lock_guard lk(parked_mu);
    auto it = parked.find(id);
    if (it == parked.end()) return nullptr;
    auto c = it->second;
    parked.erase(it);
    return c;
  }
};

class upstream : public std::enable_shared_from_this<upstream> {
 public:
  upstream(upstream_config cfg, std::shared_ptr<registry> reg, std::string data_dir)
      : cfg_(std::move(cfg)), reg_(std::move(reg)), data_dir_(std::move(data_dir)) {
    state_ = cfg_.enabled ? "starting" : "disabled";
  }

  const upstream_config& config() const { return cfg_; }
  std::string fingerprint_text() const { return fingerprint(cfg_); }

  void start() {
    if (!cfg_.enabled) return;
    auto self = shared_from_this();
    supervisor_ = std::thread([self] { self->supervise(); });
  }

  // Stops supervising and closes the client. With `drain`, waits (up to the call
  // timeout) for calls in flight to finish first.
  void stop(bool drain) {
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (supervisor_.joinable()) supervisor_.join();
    if (drain) {
      auto deadline = clock_type::now() + cfg_.timeout;
      while (in_flight_.load() > 0 && clock_type::now() < deadline)
        std::this_thread::sleep_for(20ms);
    }
    std::shared_ptr<client::client> c;
    {
      std::lock_guard lk(mu_);
      c = std::move(client_);
      listen_.reset();
    }
    if (c) c->close();
    unregister_all();
    std::lock_guard lk(mu_);
    state_ = "down";
  }

  bool wait_listed(clock_type::time_point deadline) {
    std::unique_lock lk(mu_);
    return cv_.wait_until(lk, deadline, [&] { return listed_once_ || !cfg_.enabled || stopping_; });
  }

  upstream_status status() const {
    std::lock_guard lk(mu_);
    upstream_status s;
    s.name = cfg_.name;
    s.prefix = cfg_.prefix;
    s.kind = kind_name(cfg_.kind);
    s.state = state_;
    s.circuit_open = clock_type::now() < open_until_;
    s.restarts = restarts_;
    s.last_error = last_error_;
    s.protocol_version = version_;
    s.tools = tools_.size();
    s.resources = resources_.size();
    s.resource_templates = templates_.size();
    s.prompts = prompts_.size();
    return s;
  }

  std::vector<federated_tool> tools() const {
    std::lock_guard lk(mu_);
    std::vector<federated_tool> out;
    for (const auto& [name, t] : tools_) out.push_back({name, cfg_.name, t.original, t.definition});
    return out;
  }

  // (Re)registers everything this upstream federates on a newly built endpoint.
  void mount_on(const std::shared_ptr<mounted_endpoint>& ep) {
    std::lock_guard lk(mu_);
    for (const auto& [name, t] : tools_)
      if (ep->filter.admits_tool(cfg_.name, name)) add_tool_to(*ep->srv, name, t);
    if (!ep->filter.admits_upstream(cfg_.name)) return;
    for (const auto& [uri, r] : resources_) add_resource_to(*ep->srv, uri, r);
    for (const auto& [t, r] : templates_) add_template_to(*ep->srv, t, r);
    for (const auto& [name, p] : prompts_) add_prompt_to(*ep->srv, name, p);
  }

 private:
  struct tool_item {
    std::string original;
    json::object definition;  // as federated (renamed)
  };
  struct resource_item {
    std::string original;
    json::object definition;
  };
  struct prompt_item {
    std::string original;
    json::object definition;
  };

  // ---- supervision ------------------------------------------------------------

  std::unique_ptr<client::client_transport> make_transport() {
    switch (cfg_.kind) {
      case upstream_kind::stdio: {
        client::process_spec spec;
        spec.command = cfg_.command;
        spec.args = cfg_.args;
        spec.env = cfg_.env;
        spec.working_directory = cfg_.cwd;
        spec.batch_scheduling = cfg_.batch_scheduling;
        return client::make_stdio_transport(std::move(spec));
      }
      case upstream_kind::http:
      case upstream_kind::websocket: {
        if (cfg_.kind == upstream_kind::websocket) {
          client::websocket_transport_options w;
          w.headers = cfg_.headers;
          w.ca_file = cfg_.ca_file;
          w.client_cert_file = cfg_.client_cert_file;
          w.client_key_file = cfg_.client_key_file;
          w.verify_tls = cfg_.verify_tls;
          w.connect_timeout = cfg_.connect_timeout;
          return client::make_websocket_transport(cfg_.url, std::move(w));
        }
        client::http_transport_options o;
        o.headers = cfg_.headers;
        o.ca_file = cfg_.ca_file;
        o.client_cert_file = cfg_.client_cert_file;
        o.client_key_file = cfg_.client_key_file;
        o.verify_tls = cfg_.verify_tls;
        o.connect_timeout = cfg_.connect_timeout;
        if (cfg_.oauth.enabled) {
          client::oauth::options oo;
          oo.client_id = cfg_.oauth.client_id;
          oo.client_secret = cfg_.oauth.client_secret;
          oo.scope = cfg_.oauth.scope;
          if (!cfg_.oauth.client_secret.empty()) oo.flow = client::oauth::grant::client_credentials;
          oo.token_store_path =
              cfg_.oauth.token_file.empty()
                  ? (std::filesystem::path(data_dir_) / "tokens" / (cfg_.name + ".json")).string()
                  : cfg_.oauth.token_file;
          std::filesystem::create_directories(
              std::filesystem::path(oo.token_store_path).parent_path());
          oauth_ = std::make_shared<client::oauth::oauth_client>(cfg_.url, std::move(oo));
          o.auth = oauth_->hook();
        }
        return client::make_http_transport(cfg_.url, std::move(o));
      }
      case upstream_kind::builtin: {
        if (!builtin_) {
          server::server_options so;
          so.worker_threads = 16;
          builtin_ = servers::make_builtin_server(cfg_.builtin, cfg_.builtin_settings, so);
        }
        return client::make_in_process_transport(*builtin_);
      }
    }
    throw std::runtime_error("unknown upstream kind");
  }

  std::shared_ptr<client::client> connect() {
    client::client_options o;
    o.info = {.name = "plexus-gateway", .version = PLEXUS_VERSION};
    // Legacy upstreams learn at initialize what a client can answer; the gateway can
    // answer whatever its callers can, so it declares all three. Questions that reach
    // these global handlers could not be tied to a caller.
    auto refuse = [name = cfg_.name](const json::object&) -> client::result<json::object> {
      client::error e;
      e.code = -32603;
      e.message = "the gateway cannot tell which caller this question of '" + name +
                  "' is for (it did not come on a call's stream, and not exactly one call is "
                  "in flight)";
      return plexus::unexpected{e};
    };
    o.handlers.sampling = refuse;
    o.handlers.elicitation = refuse;
    // A session-wide roots/list gets the gateway's own roots: none. (Roots a call asks
    // for on its stream, or with MRTR, are the caller's.)
    o.handlers.roots = [](const json::object&) -> client::result<json::object> {
      return json::object{{"roots", json::array{}}};
    };
    o.request_timeout = cfg_.timeout;
    if (cfg_.protocol == "legacy") o.mode = client::version_mode::legacy_only;
    if (cfg_.protocol == "modern") o.mode = client::version_mode::modern_only;
    o.probe_timeout = std::min<std::chrono::milliseconds>(cfg_.connect_timeout, 5s);
    std::weak_ptr<upstream> weak = weak_from_this();
    o.on_notification = [weak](const std::string& method, const json::object& params) {
      if (auto self = weak.lock()) self->on_notification(method, params);
    };
    o.on_closed = [weak](const std::string& why) {
      if (auto self = weak.lock()) self->on_closed(why);
    };
    auto r = client::client::connect(make_transport(), std::move(o));
    if (!r) throw std::runtime_error(r.error().describe());
    return std::shared_ptr<client::client>(std::move(*r));
  }

  void supervise() {
    auto backoff = cfg_.restart_backoff;
    while (!stopped()) {
      std::shared_ptr<client::client> c;
      try {
        c = connect();
      } catch (const std::exception& e) {
        fail(std::string("cannot connect: ") + e.what());
      }
      if (c) {
        {
          std::lock_guard lk(mu_);
          client_ = c;
          version_ = c->protocol_version();
          completions_ = c->server_capabilities().contains("completions");
          state_ = "ready";
          last_error_.clear();
          consecutive_failures_ = 0;
          open_until_ = {};
        }
        spdlog::info("gateway: upstream '{}' connected ({})", cfg_.name, version_);
        backoff = cfg_.restart_backoff;
        refresh();
        open_listen(c);
        if (c->era() == protocol::era::legacy) {
          std::vector<std::string> uris;
          {
            std::lock_guard lk(mu_);
            uris.assign(subscribed_.begin(), subscribed_.end());
          }
          if (!uris.empty()) subscribe_upstream(c, uris);
        }
        watch(c);  // returns when the connection is gone or the gateway stops
        {
          std::lock_guard lk(mu_);
          listen_.reset();
          if (client_ == c) client_.reset();
        }
        c->close();
        if (stopped()) break;
        unregister_all();
      }
      {
        std::lock_guard lk(mu_);
        if (state_ != "down") state_ = "down";
        listed_once_ = true;  // it is known to be down; readiness waits no longer
      }
      cv_.notify_all();
      spdlog::info("gateway: upstream '{}' down ({}); retrying in {} ms", cfg_.name, last_error(),
                   backoff.count());
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, backoff, [&] { return stopping_; });
      backoff = std::min(backoff * 2, cfg_.restart_backoff_max);
      ++restarts_;
    }
  }

  // Waits while the client is healthy, re-listing when asked to (list_changed) or
  // when a list's ttlMs passed.
  void watch(const std::shared_ptr<client::client>& c) {
    std::set<std::string> announced;
    for (;;) {
      {
        std::unique_lock lk(mu_);
        auto until = next_refresh_;
        auto pred = [&] { return stopping_ || refresh_wanted_ || connection_lost_; };
        if (until == clock_type::time_point{})
          cv_.wait_for(lk, 1s, pred);
        else
          cv_.wait_until(lk, std::min(until, clock_type::now() + 1s), pred);
        if (stopping_) return;
        if (connection_lost_ || c->closed()) {
          connection_lost_ = false;
          if (last_error_.empty()) last_error_ = "the connection closed";
          return;
        }
        bool due = next_refresh_ != clock_type::time_point{} && clock_type::now() >= next_refresh_;
        if (!refresh_wanted_ && !due) continue;
        refresh_wanted_ = false;
        announced.swap(announced_);
      }
      refresh();
      // The upstream said a list changed: its callers hear it even when the new list
      // looks the same from here (a change the gateway cannot see, or a re-announcement).
      for (const auto& m : announced)
        for (auto& ep : endpoints()) {
          if (!ep->filter.admits_upstream(cfg_.name)) continue;
          if (m == "notifications/tools/list_changed") ep->srv->notify_tools_changed();
          if (m == "notifications/prompts/list_changed") ep->srv->notify_prompts_changed();
          if (m == "notifications/resources/list_changed") ep->srv->notify_resources_changed();
        }
      announced.clear();
    }
  }

  void open_listen(const std::shared_ptr<client::client>& c) {
    if (c->era() != protocol::era::modern) return;
    std::weak_ptr<upstream> weak = weak_from_this();
    json::object filter{
        {"toolsListChanged", true}, {"promptsListChanged", true}, {"resourcesListChanged", true}};
    {
      std::lock_guard lk(mu_);
      if (!subscribed_.empty()) {
        json::array uris;
        for (const auto& u : subscribed_) uris.emplace_back(u);
        filter["resourceSubscriptions"] = std::move(uris);
      }
    }
    auto sub =
        c->listen(std::move(filter), [weak](const std::string& method, const json::object& params) {
          if (auto self = weak.lock()) self->on_notification(method, params);
        });
    std::unique_ptr<client::subscription> previous;
    {
      std::lock_guard lk(mu_);
      previous = std::move(listen_);
      if (sub) listen_ = std::move(*sub);
    }
    // The old stream ends only now, so no change falls between the two.
    previous.reset();
  }

 public:
  // Subscribes upstream to `original` so that its updates reach the gateway's
  // subscribers; kept across reconnects.
  void subscribe(const std::string& original) {
    std::shared_ptr<client::client> c;
    {
      std::lock_guard lk(mu_);
      if (!subscribed_.insert(original).second) return;
      c = client_;
    }
    if (c) subscribe_upstream(c, {original});
  }

 private:
  void subscribe_upstream(const std::shared_ptr<client::client>& c,
                          const std::vector<std::string>& uris) {
    auto res = json::find_object(c->server_capabilities(), "resources");
    if (!res || !json::find_bool(*res, "subscribe").value_or(false)) return;
    if (c->era() == protocol::era::modern) {
      open_listen(c);
      return;
    }
    client::request_options ro;
    ro.timeout = std::min<std::chrono::milliseconds>(cfg_.timeout, 10s);
    for (const auto& u : uris)
      if (auto r = c->request("resources/subscribe", json::object{{"uri", u}}, ro); !r)
        spdlog::warn("gateway: upstream '{}': resources/subscribe {} failed: {}", cfg_.name, u,
                     r.error().describe());
  }

  void on_notification(const std::string& method, const json::object& params) {
    if (method == "notifications/tools/list_changed" ||
        method == "notifications/prompts/list_changed" ||
        method == "notifications/resources/list_changed") {
      {
        std::lock_guard lk(mu_);
        refresh_wanted_ = true;
        announced_.insert(method);
      }
      cv_.notify_all();
      return;
    }
    if (method == "notifications/resources/updated") {
      auto uri = json::find_string(params, "uri");
      if (!uri) return;
      auto fed = federated_uri(cfg_.prefix, *uri);
      for (auto& ep : endpoints()) ep->srv->notify_resource_updated(fed);
      return;
    }
    if (method == "notifications/message") {
      spdlog::info("gateway: upstream '{}' log: {}", cfg_.name, json::dump(params));
    }
  }

  void on_closed(const std::string& why) {
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;
      connection_lost_ = true;
      last_error_ = why;
    }
    cv_.notify_all();
  }

  bool stopped() const {
    std::lock_guard lk(mu_);
    return stopping_;
  }

  std::string last_error() const {
    std::lock_guard lk(mu_);
    return last_error_;
  }

  void fail(std::string why) {
    std::lock_guard lk(mu_);
    last_error_ = std::move(why);
    state_ = "down";
  }

  std::vector<std::shared_ptr<mounted_endpoint>> endpoints() const {
    std::lock_guard lk(reg_->mu);
    return reg_->endpoints;
  }

  // ---- listing --------------------------------------------------------------------

  // Lists everything again and applies the difference to every endpoint. A list that
  // fails keeps its previous items (fail-open) and is retried at the next refresh.
  void refresh() {
    std::shared_ptr<client::client> c;
    {
      std::lock_guard lk(mu_);
      c = client_;
    }
    if (!c) return;
    const auto& caps = c->server_capabilities();
    if (caps.contains("tools")) {
      auto r = c->list_tools();
      if (r)
        apply_tools(*r);
      else
        reg_->problem("upstream '" + cfg_.name + "': tools/list failed: " + r.error().describe());
    }
    if (caps.contains("resources")) {
      if (auto r = c->list_resources())
        apply_resources(*r);
      else
        reg_->problem("upstream '" + cfg_.name +
                      "': resources/list failed: " + r.error().describe());
      if (auto r = c->list_resource_templates()) apply_templates(*r);
    }
    if (caps.contains("prompts")) {
      if (auto r = c->list_prompts())
        apply_prompts(*r);
      else
        reg_->problem("upstream '" + cfg_.name + "': prompts/list failed: " + r.error().describe());
    }
    // Lists of servers that do not announce changes are re-read when they go stale.
    std::lock_guard lk(mu_);
    next_refresh_ = {};
    listed_once_ = true;
    cv_.notify_all();
  }

  // Claims `name` in an owner table; false (and a reported problem) on a collision.
  bool claim(std::map<std::string, std::string>& owners, const std::string& name,
             const std::string& what, const std::string& original) {
    std::string other;
    {
      std::lock_guard lk(reg_->mu);
      auto [it, inserted] = owners.emplace(name, cfg_.name);
      if (inserted || it->second == cfg_.name) return true;
      other = it->second;
    }
    reg_->problem("name collision: " + what + " '" + original + "' of upstream '" + cfg_.name +
                  "' would be '" + name + "', which upstream '" + other +
                  "' already uses; it is not federated");
    return false;
  }
  void release(std::map<std::string, std::string>& owners, const std::string& name) {
    std::lock_guard lk(reg_->mu);
    auto it = owners.find(name);
    if (it != owners.end() && it->second == cfg_.name) owners.erase(it);
  }

  void apply_tools(const std::vector<json::object>& listed) {
    std::map<std::string, tool_item> next;
    for (const auto& t : listed) {
      auto original = json::find_string(t, "name");
      if (!original || !tool_allowed(cfg_, *original)) continue;
      std::string name = federated_name(cfg_.prefix, reg_->separator, *original);
      if (next.count(name)) {
        reg_->problem("name collision: upstream '" + cfg_.name + "' has two tools that map to '" +
                      name + "'; only the first is federated");
        continue;
      }
      if (!claim(reg_->tool_owner, name, "tool", std::string(*original))) continue;
      json::object def = t;
      def["name"] = name;
      next[name] = tool_item{std::string(*original), std::move(def)};
    }
    std::map<std::string, tool_item> prev;
    {
      std::lock_guard lk(mu_);
      prev = tools_;
      tools_ = next;
    }
    auto eps = endpoints();
    for (const auto& [name, item] : prev)
      if (!next.count(name)) {
        for (auto& ep : eps) ep->srv->remove_tool(name);
        release(reg_->tool_owner, name);
      }
    for (const auto& [name, item] : next) {
      auto old = prev.find(name);
      if (old != prev.end() && old->second.definition == item.definition) continue;
      for (auto& ep : eps)
        if (ep->filter.admits_tool(cfg_.name, name)) add_tool_to(*ep->srv, name, item);
    }
  }

  void apply_resources(const std::vector<json::object>& listed) {
    std::map<std::string, resource_item> next;
    for (const auto& r : listed) {
      auto uri = json::find_string(r, "uri");
      if (!uri) continue;
      std::string fed = federated_uri(cfg_.prefix, *uri);
      if (!claim(reg_->resource_owner, fed, "resource", std::string(*uri))) continue;
      json::object def = r;
      def["uri"] = fed;
      next[fed] = resource_item{std::string(*uri), std::move(def)};
    }
    std::map<std::string, resource_item> prev;
    {
      std::lock_guard lk(mu_);
      prev = resources_;
      resources_ = next;
    }
    auto eps = endpoints();
    for (const auto& [uri, item] : prev)
      if (!next.count(uri)) {
        for (auto& ep : eps) ep->srv->remove_resource(uri);
        release(reg_->resource_owner, uri);
      }
    for (const auto& [uri, item] : next) {
      auto old = prev.find(uri);
      if (old != prev.end() && old->second.definition == item.definition) continue;
      for (auto& ep : eps)
        if (ep->filter.admits_upstream(cfg_.name)) add_resource_to(*ep->srv, uri, item);
    }
  }

  void apply_templates(const std::vector<json::object>& listed) {
    std::map<std::string, resource_item> next;
    for (const auto& r : listed) {
      auto tmpl = json::find_string(r, "uriTemplate");
      if (!tmpl) continue;
      std::string fed = federated_uri(cfg_.prefix, *tmpl);
      if (!claim(reg_->template_owner, fed, "resource template", std::string(*tmpl))) continue;
      json::object def = r;
      def["uriTemplate"] = fed;
      next[fed] = resource_item{std::string(*tmpl), std::move(def)};
    }
    std::map<std::string, resource_item> prev;
    {
      std::lock_guard lk(mu_);
      prev = templates_;
      templates_ = next;
    }
    auto eps = endpoints();
    for (const auto& [t, item] : prev)
      if (!next.count(t)) {
        for (auto& ep : eps) ep->srv->remove_resource_template(t);
        release(reg_->template_owner, t);
      }
    for (const auto& [t, item] : next) {
      auto old = prev.find(t);
      if (old != prev.end() && old->second.definition == item.definition) continue;
      for (auto& ep : eps)
        if (ep->filter.admits_upstream(cfg_.name)) add_template_to(*ep->srv, t, item);
    }
  }

  void apply_prompts(const std::vector<json::object>& listed) {
    std::map<std::string, prompt_item> next;
    for (const auto& p : listed) {
      auto original = json::find_string(p, "name");
      if (!original) continue;
      std::string name = federated_name(cfg_.prefix, reg_->separator, *original);
      if (!claim(reg_->prompt_owner, name, "prompt", std::string(*original))) continue;
      json::object def = p;
      def["name"] = name;
      next[name] = prompt_item{std::string(*original), std::move(def)};
    }
    std::map<std::string, prompt_item> prev;
    {
      std::lock_guard lk(mu_);
      prev = prompts_;
      prompts_ = next;
    }
    auto eps = endpoints();
    for (const auto& [name, item] : prev)
      if (!next.count(name)) {
        for (auto& ep : eps) ep->srv->remove_prompt(name);
        release(reg_->prompt_owner, name);
      }
    for (const auto& [name, item] : next) {
      auto old = prev.find(name);
      if (old != prev.end() && old->second.definition == item.definition) continue;
      for (auto& ep : eps)
        if (ep->filter.admits_upstream(cfg_.name)) add_prompt_to(*ep->srv, name, item);
    }
  }

  void unregister_all() {
    apply_tools({});
    apply_resources({});
    apply_templates({});
    apply_prompts({});
  }

  // ---- registration on an endpoint -------------------------------------------------

  void add_tool_to(server::server& srv, const std::string& name, const tool_item& item) {
    std::weak_ptr<upstream> weak = weak_from_this();
    std::string original = item.original;
    try {
      auto def = tool_from_json(item.definition, name);
      std::string support = def.task_support.value_or("forbidden");
      // A task-capable tool stays synchronous until the upstream answers with a task
      // (or a legacy caller asks for one): then the gateway's own task follows it.
      srv.add_tool(
          std::move(def),
          [weak, original, name, support](server::context& ctx, const json::object& args) {
            auto self = weak.lock();
            if (!self) throw server::tool_error("tool '" + name + "' is no longer federated");
            return self->call_tool(ctx, name, original, support, args);
          },
          server::task_start::by_handler,
          [weak, original, name, support](server::context& ctx, const json::object& args,
                                          server::tool_completion done) {
            auto self = weak.lock();
            return self && self->call_tool_async(ctx, name, original, support, args, done);
          });
    } catch (const std::exception& e) {
      reg_->problem("upstream '" + cfg_.name + "': tool '" + original +
                    "' is not federated: " + e.what());
    }
  }

  void add_resource_to(server::server& srv, const std::string& uri, const resource_item& item) {
    std::weak_ptr<upstream> weak = weak_from_this();
    std::string original = item.original;
    srv.add_resource(resource_from_json(item.definition, uri),
                     [weak, original](server::context& ctx, const std::string& fed_uri) {
                       auto self = weak.lock();
                       if (!self) throw server::protocol_error(-32002, "Resource not found");
                       return self->read(ctx, fed_uri, original);
                     });
  }

  void add_template_to(server::server& srv, const std::string& tmpl, const resource_item& item) {
    std::weak_ptr<upstream> weak = weak_from_this();
    std::size_t strip = federated_uri(cfg_.prefix, "").size();
    if (completions_.load()) {
      std::string original = item.original;
      srv.add_resource_completion(
          tmpl, [weak, original](const std::string& argument, const std::string& value,
                                 const std::map<std::string, std::string>& args) {
            auto self = weak.lock();
            if (!self) return server::completion{};
            return self->complete(json::object{{"type", "ref/resource"}, {"uri", original}},
                                  argument, value, args);
          });
    }
    srv.add_resource_template(template_from_json(item.definition, tmpl),
                              [weak, strip](server::context& ctx, const std::string& fed_uri,
                                            const std::map<std::string, std::string>&)
                                  -> std::optional<std::vector<protocol::resource_contents>> {
                                auto self = weak.lock();
                                if (!self) return std::nullopt;
                                return self->read(ctx, fed_uri, fed_uri.substr(strip));
                              });
  }

  void add_prompt_to(server::server& srv, const std::string& name, const prompt_item& item) {
    std::weak_ptr<upstream> weak = weak_from_this();
    std::string original = item.original;
    srv.add_prompt(prompt_from_json(item.definition, name),
                   [weak, original, name](server::context& ctx,
                                          const std::map<std::string, std::string>& args) {
                     auto self = weak.lock();
                     if (!self) throw server::protocol_error(-32602, "Unknown prompt: " + name);
                     return self->get_prompt(ctx, name, original, args);
                   });
    if (completions_.load())
      srv.add_prompt_completion(
          name, [weak, original](const std::string& argument, const std::string& value,
                                 const std::map<std::string, std::string>& args) {
            auto self = weak.lock();
            if (!self) return server::completion{};
            return self->complete(json::object{{"type", "ref/prompt"}, {"name", original}},
                                  argument, value, args);
          });
  }

  // ---- forwarding ----------------------------------------------------------------------

  // The client to use now, or why not (circuit open, not connected).
  std::shared_ptr<client::client> acquire(std::string& why) {
    std::lock_guard lk(mu_);
    auto now = clock_type::now();
    if (!client_) {
      why = "upstream '" + cfg_.name + "' is unavailable" +
            (last_error_.empty() ? std::string() : ": " + last_error_);
      return nullptr;
    }
    if (now < open_until_) {
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(open_until_ - now).count() + 1;
      why = "upstream '" + cfg_.name + "' is failing (circuit open after " +
            std::to_string(consecutive_failures_) + " failures; retry in " + std::to_string(secs) +
            " s): " + last_error_;
      return nullptr;
    }
    return client_;
  }

  void outcome(const client::result<json::object>& r) {
    std::lock_guard lk(mu_);
    bool failure =
        !r && (r.error().kind == client::error::transport ||
               r.error().kind == client::error::timeout || r.error().kind == client::error::closed);
    if (!failure) {
      consecutive_failures_ = 0;
      return;
    }
    last_error_ = r.error().describe();
    if (++consecutive_failures_ >= cfg_.breaker_failures) {
      open_until_ = clock_type::now() + cfg_.breaker_cooldown;
      spdlog::warn("gateway: upstream '{}' circuit open for {} ms after {} failures: {}", cfg_.name,
                   cfg_.breaker_cooldown.count(), consecutive_failures_, last_error_);
    }
  }

  client::request_options request_options_for(server::context& ctx,
                                              std::shared_ptr<detail::bridged_call> bridge) {
    client::request_options ro;
    ro.timeout = cfg_.timeout;
    for (const auto& kv : ctx.meta())
      if (forwardable_meta(kv.key())) ro.meta[kv.key()] = kv.value();
    auto to_progress = [](server::context& c, const json::object& p) {
      auto progress = json::find_number(p, "progress");
      if (!progress) return;
      auto msg = json::find_string(p, "message");
      c.progress(*progress, json::find_number(p, "total"),
                 msg ? std::string_view(*msg) : std::string_view());
    };
    auto to_log = [](server::context& c, const json::object& p) {
      auto level_s = json::find_string(p, "level");
      auto level = level_s ? protocol::parse_logging_level(*level_s) : std::nullopt;
      auto data = p.find("data");
      auto logger = json::find_string(p, "logger");
      c.log(level.value_or(protocol::logging_level::info),
            data != p.end() ? data->value() : json::value(nullptr),
            logger ? std::string_view(*logger) : std::string_view());
    };
    // Only the logs the caller takes: asking for more sent every upstream log line over the
    // hop to be dropped here (and made an HTTP upstream stream its answers).
    ro.log_level = ctx.log_level();
    if (bridge) {
      ro.on_progress = [bridge, to_progress](const json::object& p) {
        bridge->with_context([&](server::context& c) { to_progress(c, p); });
      };
      ro.on_log = [bridge, to_log](const json::object& p) {
        bridge->with_context([&](server::context& c) { to_log(c, p); });
      };
    } else {
      ro.on_progress = [&ctx, to_progress](const json::object& p) { to_progress(ctx, p); };
      ro.on_log = [&ctx, to_log](const json::object& p) { to_log(ctx, p); };
      ro.cancel = std::make_shared<client::cancellation>([&ctx] { return ctx.cancelled(); });
    }
    return ro;
  }

  // Options for a request on behalf of a caller who answers nothing: the upstream must
  // not think it can ask.
  client::request_options plain_request_options(server::context& ctx) {
    auto ro = request_options_for(ctx, nullptr);
    ro.handlers = std::make_shared<const client::input_handlers>();
    return ro;
  }

  // Runs one request upstream for `ctx`, bridging the upstream's questions to the
  // caller when the caller can answer them.
  client::result<json::object> forward(server::context& ctx, const std::string& method,
                                       json::object params, bool tasks = false) {
    bool sampling = ctx.client_supports("sampling");
    bool elicitation = ctx.client_supports("elicitation");
    bool roots = ctx.client_supports("roots");
    std::shared_ptr<detail::bridged_call> call;
    if (ctx.resumed() && ctx.state().is_object())
      if (auto id = json::find_string(ctx.state().get_object(), "gateway_call")) {
        call = reg_->unpark(std::string(*id));
        if (!call)
          throw server::tool_error(
              "the upstream call this answer belongs to is gone (expired or served by another "
              "gateway replica); call the tool again");
      }
    if (!call && !sampling && !elicitation && !roots) {
      std::string why;
      auto c = acquire(why);
      if (!c) throw unavailable(why);
      auto ro = plain_request_options(ctx);
      ro.tasks = tasks;
      ++in_flight_;
      auto r = c->request(method, std::move(params), ro);
      --in_flight_;
      outcome(r);
      return r;
    }
    if (!call) {
      std::string why;
      auto c = acquire(why);
      if (!c) throw unavailable(why);
      call = std::make_shared<detail::bridged_call>();
      auto ro = request_options_for(ctx, call);
      ro.tasks = tasks;
      ro.on_input_required = detail::bridged_call::round_hook(call);
      auto self = shared_from_this();
      ++in_flight_;
      call->run(
          [self, c, method, params = std::move(params), ro](
              std::shared_ptr<const client::input_handlers> h,
              std::shared_ptr<client::cancellation> cancel) mutable {
            ro.handlers = std::move(h);
            ro.cancel = std::move(cancel);
            auto r = c->request(method, std::move(params), ro);
            --self->in_flight_;
            self->outcome(r);
            return r;
          },
          sampling, elicitation, roots);
    }
    return follow(ctx, call);
  }

  // Serves `call` for `ctx` until it ends: the upstream's questions go to the caller (a
  // modern caller's InputRequiredResult leaves the call parked, and ends this run).
  client::result<json::object> follow(server::context& ctx,
                                      const std::shared_ptr<detail::bridged_call>& call) {
    call->attach(&ctx);
    struct detach_guard {
      detail::bridged_call& c;
      ~detach_guard() { c.attach(nullptr); }
    } guard{*call};
    for (;;) {
      switch (call->wait(ctx)) {
        case detail::bridged_call::event::done:
          return call->take_result();
        case detail::bridged_call::event::cancelled: {
          client::error e;
          e.kind = client::error::cancelled;
          e.message = "cancelled";
          return plexus::unexpected{e};
        }
        case detail::bridged_call::event::question:
          break;
      }
      auto q = call->pending();
      // The caller sees the upstream's own keys where it can (a key reused by a later
      // round gets a suffix: the caller's earlier answers are still in play).
      std::vector<std::pair<std::string, server::input_request>> asks;
      std::map<std::string, std::string> original_key;  // caller's key -> upstream's key
      auto add = [&](const std::string& k, server::input_request req) {
        std::string key = k;
        if (call->used_keys.count(key)) key += "#" + std::to_string(call->round());
        original_key[key] = k;
        asks.emplace_back(key, std::move(req));
      };
      if (q.batch) {
        for (const auto& kv : *q.batch) {
          if (!kv.value().is_object()) continue;
          const auto& ir = kv.value().get_object();
          auto m = json::find_string(ir, "method");
          auto p = json::find_object(ir, "params");
          add(std::string(kv.key()),
              server::input_request{m ? std::string(*m) : std::string(), p ? *p : json::object{}});
        }
      } else {
        add("gateway-" + std::to_string(call->round()), server::input_request{q.method, q.params});
      }
      if (ctx.era() == protocol::era::modern) {
        // If the caller must come back with the answer, the call waits parked. The
        // rest of the state (an upstream task being followed) stays.
        json::object st = ctx.state().is_object() ? ctx.state().get_object() : json::object{};
        st["gateway_call"] = reg_->park(call);
        ctx.set_state(std::move(st));
      }
      try {
        auto answers = ctx.ask(asks);
        if (ctx.era() == protocol::era::modern && ctx.state().is_object())
          if (auto id = json::find_string(ctx.state().get_object(), "gateway_call"))
            reg_->unpark(std::string(*id));
        for (const auto& [k, v] : original_key) call->used_keys.insert(k);
        if (q.batch) {
          json::object responses;
          for (auto& [k, v] : answers) responses[original_key[k]] = v;
          call->answer(std::move(responses));
        } else {
          const json::value& a = answers.begin()->second;
          call->answer(a.is_object() ? a.get_object() : json::object{{"value", a}});
        }
      } catch (const server::input_error& e) {
        client::error err;
        err.code = -32603;
        err.message = e.what();
        call->answer(plexus::unexpected{err});
      }
      // Anything else (the modern era's "ask the caller" signal) leaves the call parked.
    }
  }

  static server::tool_error unavailable(const std::string& why) { return server::tool_error(why); }

  // A failure of the hop, as the caller should see it: the upstream's own JSON-RPC
  // errors pass through; the hop's failures become tool errors that name the upstream.
  [[noreturn]] void throw_for(const client::error& e, bool tool) {
    if (e.kind == client::error::protocol) throw server::protocol_error(e.code, e.message, e.data);
    if (tool) throw server::tool_error(hop_failure(e));
    throw server::protocol_error(-32603, hop_failure(e));
  }

  std::string hop_failure(const client::error& e) const {
    std::string msg = "upstream '" + cfg_.name + "' ";
    switch (e.kind) {
      case client::error::timeout:
        return msg + "timed out: " + e.message;
      case client::error::cancelled:
        return msg + "call cancelled";
      default:
        return msg + "failed: " + e.describe();
    }
  }

  static std::string outcome_of(const client::result<json::object>& r) {
    if (r) return json::find_bool(*r, "isError").value_or(false) ? "tool_error" : "ok";
    switch (r.error().kind) {
      case client::error::timeout:
        return "timeout";
      case client::error::cancelled:
        return "cancelled";
      case client::error::protocol:
        return "error";
      default:
        return "unavailable";
    }
  }

  void record(const std::string& method, const std::string& name, std::string outcome,
              clock_type::time_point t0) {
    reg_->record(
        call_record{method, name, cfg_.name, std::move(outcome),
                    std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0)});
  }

  template <class F>
  auto timed(const std::string& method, const std::string& name, F&& f) {
    auto t0 = clock_type::now();
    call_record rec{method, name, cfg_.name, "ok", {}};
    ++reg_->in_flight;
    struct leave {
      std::atomic<std::int64_t>& n;
      ~leave() { --n; }
    } counted{reg_->in_flight};
    try {
      auto r = f();
      rec.outcome = outcome_of(r);
      rec.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0);
      reg_->record(rec);
      return r;
    } catch (const server::tool_error&) {
      rec.outcome = "unavailable";
      rec.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0);
      reg_->record(rec);
      throw;
    } catch (...) {
      // Also the modern era's "ask the caller" signal: the call goes on after the retry.
      rec.outcome = "error";
      rec.duration = std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - t0);
      reg_->record(rec);
      throw;
    }
  }

 public:
  // The fast path of a federated tool (see server::async_tool_handler): a plain call
  // goes upstream without a thread waiting for the answer, when the upstream's
  // transport can take it without waiting (stdio, WebSocket, 2026-07-28 HTTP). Anything the caller
  // could be asked or handed (sampling, elicitation, roots, tasks, a re-run) is declined: call_tool
  // serves it on the pool.
  bool call_tool_async(server::context& ctx, const std::string& name, const std::string& original,
                       const std::string& task_support, const json::object& args,
                       const server::tool_completion& done) {
    if (ctx.in_task() || ctx.resumed() || !ctx.state().is_null()) return false;
    if (task_support == "required" || (task_support == "optional" && caller_takes_tasks(ctx)))
      return false;
    std::string why;
    auto c = acquire(why);
    if (!c) return false;  // call_tool says why
    auto params = call_params(original, args);
    // A caller that can answer questions (as most hosts declare) is bridged, but nothing
    // waits for its call unless the upstream really asks: then the call moves to the pool.
    bool sampling = ctx.client_supports("sampling");
    bool elicitation = ctx.client_supports("elicitation");
    bool roots = ctx.client_supports("roots");
    std::shared_ptr<detail::bridged_call> call;
    client::request_options ro;
    if (sampling || elicitation || roots) {
      call = std::make_shared<detail::bridged_call>();
      ro = bridged_async_options(ctx, call, sampling, elicitation, roots);
      std::weak_ptr<upstream> weak_self = shared_from_this();
      call->on_first_question(
          [weak_self, call_w = std::weak_ptr<detail::bridged_call>(call), done] {
            auto self = weak_self.lock();
            auto c = call_w.lock();
            if (!self || !c) return;
            done.continue_on_pool([self, c](server::context& pctx, const json::object&) {
              auto r = self->follow(pctx, c);
              if (!r) self->throw_for(r.error(), true);
              return self->tool_result_of(std::move(*r));
            });
          });
      call->attach(&ctx);
    } else {
      ro = plain_request_options(ctx);
    }
    ++reg_->in_flight;
    ++in_flight_;
    auto t0 = clock_type::now();
    bool sent = c->request_async(
        "tools/call", std::move(params), std::move(ro),
        [self = shared_from_this(), name, t0, done, call](client::result<json::object> r) mutable {
          self->account(name, t0, r);
          // Once the call moved to the pool, its answer goes there.
          if (!call || call->settle(r)) self->answer_async(std::move(r), done);
          // This runs on the client's reader or watchdog: if the upstream was dropped
          // meanwhile (a reload), its client must not be torn down from its own thread.
          if (self.use_count() == 1) std::thread([gone = std::move(self)] {}).detach();
        });
    if (!sent) {
      if (call) call->attach(nullptr);
      --in_flight_;
      --reg_->in_flight;
    }
    return sent;
  }

  // Options of the fast path's request for a caller that can answer questions: they reach
  // `call` (which moves to the pool at the first), and the caller's cancellation reaches
  // the upstream (through the fast path's context until then, the pool's after).
  client::request_options bridged_async_options(server::context& ctx,
                                                const std::shared_ptr<detail::bridged_call>& call,
                                                bool sampling, bool elicitation, bool roots) {
    auto ro = request_options_for(ctx, call);
    std::weak_ptr<detail::bridged_call> weak_call = call;
    ro.handlers = detail::bridged_call::routed_handlers(call, sampling, elicitation, roots);
    ro.on_input_required = detail::bridged_call::round_hook(call);
    ro.cancel = std::make_shared<client::cancellation>([weak_call, &ctx] {
      auto c = weak_call.lock();
      if (!c) return true;
      // ctx is the fast path's: valid while the request is in flight, read only until
      // the pool takes the call (which sets the bridge's own flag).
      return c->cancelled() || (!c->promoted() && ctx.cancelled());
    });
    return ro;
  }

  static bool caller_takes_tasks(server::context& ctx) {
    auto ext = json::find_object(ctx.client_capabilities(), "extensions");
    return ctx.era() == protocol::era::modern && ext &&
           ext->contains("io.modelcontextprotocol/tasks");
  }

  // The upstream's tools/call params for a federated call (URIs mapped back).
  json::object call_params(const std::string& original, const json::object& args) const {
    json::value arguments = args;
    if (!cfg_.prefix.empty()) map_uris(arguments, false);
    return json::object{{"name", original}, {"arguments", std::move(arguments)}};
  }

  // The fast path's call is over: health, the call record, in-flight counts.
  void account(const std::string& name, clock_type::time_point t0,
               const client::result<json::object>& r) {
    outcome(r);
    record("tools/call", name, outcome_of(r), t0);
    --in_flight_;
    --reg_->in_flight;
  }

  void answer_async(client::result<json::object> r, const server::tool_completion& done) {
    try {
      if (!r) {
        if (r.error().kind == client::error::protocol)
          done.fail(r.error().code, r.error().message, r.error().data);
        else
          done(server::tool_result::error(hop_failure(r.error())));
        return;
      }
      done(tool_result_of(std::move(*r)));
    } catch (const std::exception& e) {
      done(server::tool_result::error("upstream '" + cfg_.name + "' answer: " + e.what()));
    }
  }

  // The caller's result of an upstream's answer to a call that offered no task.
  server::tool_result tool_result_of(json::object r) {
    auto rt = json::find_string(r, "resultType");
    if ((rt && *rt == "task") || (r.contains("task") && !r.contains("content")))
      return server::tool_result::error("upstream '" + cfg_.name +
                                        "' answered with a task the call did not offer");
    return to_tool_result(std::move(r));
  }

  server::tool_result call_tool(server::context& ctx, const std::string& name,
                                const std::string& original, const std::string& task_support,
                                const json::object& args) {
    // A re-run of a task that follows an upstream task (after the caller answered
    // its questions) picks the upstream task up again instead of calling anew.
    if (ctx.in_task() && ctx.state().is_object())
      if (auto tid = json::find_string(ctx.state().get_object(), "upstream_task"))
        return follow_task(ctx, name, std::string(*tid));
    bool supports = task_support == "optional" || task_support == "required";
    // The upstream may answer with a task when the caller could take one (or must).
    bool offer_task = supports && (task_support == "required" || caller_takes_tasks(ctx));
    auto params = call_params(original, args);
    if (offer_task) {
      std::string why;
      auto c = acquire(why);
      if (!c) throw unavailable(why);
      // A legacy upstream makes a task only when asked (params.task), and then
      // only for a tool that requires one: optional ones answer synchronously.
      if (c->era() == protocol::era::legacy) {
        offer_task = task_support == "required";
        if (offer_task) params["task"] = json::object{};
      }
    }
    auto r = timed("tools/call", name,
                   [&] { return forward(ctx, "tools/call", std::move(params), offer_task); });
    if (!r) throw_for(r.error(), true);
    std::optional<std::string> upstream_task;
    auto rt = json::find_string(*r, "resultType");
    if (rt && *rt == "task") {
      if (auto tid = json::find_string(*r, "taskId")) upstream_task = std::string(*tid);
    } else if (auto t = json::find_object(*r, "task"); t && !r->contains("content")) {
      if (auto tid = json::find_string(*t, "taskId")) upstream_task = std::string(*tid);
    }
    if (!upstream_task) return to_tool_result(std::move(*r));
    // The upstream made a task: the caller gets one of ours that follows it.
    ctx.set_state(json::object{{"upstream_task", *upstream_task}, {"round", 0}});
    ctx.start_task();
    return follow_task(ctx, name, *upstream_task);
  }

  // Follows an upstream task to its end for `ctx` (a task of ours, or a synchronous
  // call when the caller cannot take one): input the upstream asks for goes to the
  // caller; the caller's cancel goes upstream.
  server::tool_result follow_task(server::context& ctx, const std::string& name,
                                  const std::string& tid) {
    std::string why;
    auto c = acquire(why);
    if (!c) throw unavailable(why);
    // Following is a call in flight: metrics show it, and a reload waits for it.
    ++reg_->in_flight;
    ++in_flight_;
    struct leave {
      std::atomic<std::int64_t>& all;
      std::atomic<int>& mine;
      ~leave() {
        --all;
        --mine;
      }
    } counted{reg_->in_flight, in_flight_};
    auto cancel_upstream = [&] {
      client::request_options ro;
      ro.timeout = cfg_.timeout;
      ro.tasks = true;
      (void)c->request("tasks/cancel", json::object{{"taskId", tid}}, ro);
    };
    if (c->era() == protocol::era::legacy) {
      // tasks/result blocks until the end; the upstream's questions arrive on its
      // stream and cross the hop like those of any call.
      auto r = timed("tasks/result", name, [&] {
        return forward(ctx, "tasks/result", json::object{{"taskId", tid}});
      });
      if (!r) {
        if (r.error().kind == client::error::cancelled) cancel_upstream();
        throw_for(r.error(), true);
      }
      return to_tool_result(std::move(*r));
    }
    std::int64_t round = 0;
    if (ctx.state().is_object())
      round = json::find_int(ctx.state().get_object(), "round").value_or(0);
    for (;;) {
      if (ctx.cancelled()) {
        cancel_upstream();
        throw server::tool_error("upstream '" + cfg_.name + "' task cancelled");
      }
      client::request_options ro;
      ro.timeout = cfg_.timeout;
      ro.tasks = true;
      auto g = c->request("tasks/get", json::object{{"taskId", tid}}, ro);
      if (!g) {
        outcome(g);
        throw_for(g.error(), true);
      }
      auto st = json::find_string(*g, "status");
      std::string status = st ? std::string(*st) : std::string();
      if (status == "completed") {
        auto res = json::find_object(*g, "result");
        return to_tool_result(res ? *res : json::object{});
      }
      if (status == "failed") {
        if (auto e = json::find_object(*g, "error")) {
          auto code = json::find_int(*e, "code").value_or(-32603);
          auto m = json::find_string(*e, "message");
          std::string msg = m ? std::string(*m) : "the upstream task failed";
          auto data = e->find("data");
          throw server::protocol_error(
              static_cast<int>(code), msg,
              data != e->end() ? std::optional<json::value>(data->value()) : std::nullopt);
        }
        throw server::tool_error("upstream '" + cfg_.name + "' task failed");
      }
      if (status == "cancelled")
        throw server::tool_error("upstream '" + cfg_.name + "' cancelled the task");
      if (status == "input_required") {
        auto reqs = json::find_object(*g, "inputRequests");
        if (!reqs || reqs->empty()) {
          wait_poll(ctx, *g);
          continue;
        }
        // Keys of a later round get the round as a suffix: the caller's earlier
        // answers are still in play.
        std::vector<std::pair<std::string, server::input_request>> asks;
        std::map<std::string, std::string> original_key;
        for (const auto& kv : *reqs) {
          if (!kv.value().is_object()) continue;
          const auto& ir = kv.value().get_object();
          auto m = json::find_string(ir, "method");
          auto p = json::find_object(ir, "params");
          std::string key(kv.key());
          if (round > 0) key += "#" + std::to_string(round);
          original_key[key] = std::string(kv.key());
          asks.emplace_back(key, server::input_request{m ? std::string(*m) : std::string(),
                                                       p ? *p : json::object{}});
        }
        auto answers = ctx.ask(asks);  // inside our task: it waits for tasks/update
        json::object responses;
        for (auto& [k, v] : answers) responses[original_key[k]] = v;
        auto u =
            c->request("tasks/update",
                       json::object{{"taskId", tid}, {"inputResponses", std::move(responses)}}, ro);
        if (!u) throw_for(u.error(), true);
        ++round;
        ctx.set_state(json::object{{"upstream_task", tid}, {"round", round}});
        continue;
      }
      wait_poll(ctx, *g);
    }
  }

  // Sleeps for the upstream's poll interval (bounded), waking early on cancel.
  static void wait_poll(server::context& ctx, const json::object& task) {
    auto ms = json::find_int(task, "pollIntervalMs").value_or(100);
    ms = std::clamp<std::int64_t>(ms, 10, 2000);
    auto until = clock_type::now() + std::chrono::milliseconds(ms);
    while (clock_type::now() < until && !ctx.cancelled())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  // URIs the caller sees and the upstream's: values of "uri" keys in structured output
  // get the prefix (so a caller can read or pass on what a tool returns), and values of
  // "uri" keys in arguments that carry it lose it again.
  void map_uris(json::value& v, bool outward) const {
    if (v.is_array()) {
      for (auto& e : v.get_array()) map_uris(e, outward);
      return;
    }
    if (!v.is_object()) return;
    std::string head = federated_uri(cfg_.prefix, "");
    for (auto& kv : v.get_object()) {
      if (kv.key() == "uri" && kv.value().is_string()) {
        std::string_view u = kv.value().get_string();
        if (outward)
          kv.value() = federated_uri(cfg_.prefix, u);
        else if (u.starts_with(head))
          kv.value() = u.substr(head.size());
      } else {
        map_uris(kv.value(), outward);
      }
    }
  }

  // Links and embedded resources name upstream URIs: the caller reads them here.
  void map_content_block(json::object& b) const {
    if (cfg_.prefix.empty()) return;
    auto type = json::find_string(b, "type");
    if (!type) return;
    if (*type == "resource_link") {
      if (auto u = json::find_string(b, "uri")) b["uri"] = federated_uri(cfg_.prefix, *u);
    } else if (*type == "resource") {
      if (auto it = b.find("resource"); it != b.end() && it->value().is_object()) {
        auto& res = it->value().get_object();
        if (auto u = json::find_string(res, "uri")) res["uri"] = federated_uri(cfg_.prefix, *u);
      }
    }
  }

  // An upstream's CallToolResult as the caller sees it.
  server::tool_result to_tool_result(json::object r) {
    // `r` is ours: its parts move over (copying them was a fifth of the answer's cost).
    server::tool_result out;
    if (auto it = r.find("content"); it != r.end() && it->value().is_array())
      out.content = std::move(it->value().get_array());
    for (auto& block : out.content)
      if (block.is_object()) map_content_block(block.get_object());
    if (auto it = r.find("structuredContent"); it != r.end()) {
      out.structured_content = std::move(it->value());
      if (!cfg_.prefix.empty()) map_uris(*out.structured_content, true);
    }
    out.is_error = json::find_bool(r, "isError").value_or(false);
    if (auto it = r.find("_meta"); it != r.end() && it->value().is_object()) {
      out.meta = std::move(it->value().get_object());
      // What describes the upstream's hop is not the caller's: its task, and its serverInfo
      // (the engine stamps the gateway's own on the answer).
      out.meta.erase(protocol::meta::related_task);
      out.meta.erase(protocol::meta::server_info);
    }
    return out;
  }

  std::vector<protocol::resource_contents> read(server::context& ctx, const std::string& fed_uri,
                                                const std::string& original) {
    auto r = timed("resources/read", fed_uri, [&] {
      return forward(ctx, "resources/read", json::object{{"uri", original}});
    });
    if (!r) throw_for(r.error(), false);
    std::vector<protocol::resource_contents> out;
    if (auto items = json::find_array(*r, "contents"))
      for (const auto& v : *items) {
        if (!v.is_object()) continue;
        const auto& o = v.get_object();
        protocol::resource_contents rc;
        auto u = json::find_string(o, "uri");
        rc.uri = u ? federated_uri(cfg_.prefix, *u) : fed_uri;
        rc.mime_type = opt_string(o, "mimeType");
        rc.text = opt_string(o, "text");
        rc.blob = opt_string(o, "blob");
        if (!rc.text && !rc.blob) rc.text = "";
        out.push_back(std::move(rc));
      }
    return out;
  }

  server::get_prompt_result get_prompt(server::context& ctx, const std::string& name,
                                       const std::string& original,
                                       const std::map<std::string, std::string>& args) {
    json::object a;
    for (const auto& [k, v] : args) a[k] = v;
    auto r = timed("prompts/get", name, [&] {
      return forward(ctx, "prompts/get", json::object{{"name", original}, {"arguments", a}});
    });
    if (!r) throw_for(r.error(), false);
    server::get_prompt_result out;
    out.description = opt_string(*r, "description");
    if (auto msgs = json::find_array(*r, "messages"))
      for (const auto& m : *msgs) {
        if (!m.is_object()) continue;
        protocol::prompt_message pm;
        pm.role = opt_string(m.get_object(), "role").value_or("user");
        if (auto c = json::find_object(m.get_object(), "content")) {
          pm.content = *c;
          map_content_block(pm.content);
        }
        out.messages.push_back(std::move(pm));
      }
    return out;
  }

  server::completion complete(json::object ref, const std::string& argument,
                              const std::string& value,
                              const std::map<std::string, std::string>& args) {
    std::string why;
    auto c = acquire(why);
    server::completion out;
    if (!c) return out;
    json::object ctx_args;
    for (const auto& [k, v] : args) ctx_args[k] = v;
    json::object params{{"ref", std::move(ref)},
                        {"argument", json::object{{"name", argument}, {"value", value}}}};
    if (!ctx_args.empty()) params["context"] = json::object{{"arguments", ctx_args}};
    client::request_options ro;
    ro.timeout = cfg_.timeout;
    auto r = c->request("completion/complete", std::move(params), ro);
    if (!r) return out;
    if (auto comp = json::find_object(*r, "completion")) {
      if (auto vals = json::find_array(*comp, "values"))
        for (const auto& v : *vals)
          if (v.is_string()) out.values.emplace_back(v.get_string());
      out.total = json::find_int(*comp, "total");
      out.has_more = json::find_bool(*comp, "hasMore").value_or(false);
    }
    return out;
  }

 private:
  upstream_config cfg_;
  std::shared_ptr<registry> reg_;
  std::string data_dir_;
  std::unique_ptr<server::server> builtin_;
  std::shared_ptr<client::oauth::oauth_client> oauth_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<client::client> client_;
  std::unique_ptr<client::subscription> listen_;
  std::string state_;
  std::string last_error_;
  std::string version_;
  int restarts_ = 0;
  int consecutive_failures_ = 0;
  clock_type::time_point open_until_{};
  clock_type::time_point next_refresh_{};
  bool stopping_ = false;
  bool refresh_wanted_ = false;
  bool connection_lost_ = false;
  bool listed_once_ = false;
  std::atomic<int> in_flight_{0};
  std::atomic<bool> completions_{false};
  std::thread supervisor_;

  std::map<std::string, tool_item> tools_;
  std::map<std::string, resource_item> resources_;
  std::map<std::string, resource_item> templates_;
  std::map<std::string, prompt_item> prompts_;
  std::set<std::string> subscribed_;  // upstream URIs callers subscribed to
  std::set<std::string> announced_;   // list_changed notifications not yet passed on
};

// ---- gateway ------------------------------------------------------------------------

// The stage chain in front of routing (stages.hpp), shared by every endpoint's server
// and rebuilt on reload.
struct admission {
  std::mutex mu;
  std::shared_ptr<const stage_chain> chain = std::make_shared<stage_chain>();
  std::vector<std::pair<std::string, std::string>> uri_heads;  // prefix+ -> upstream
  std::weak_ptr<registry> reg;

  void rebuild(const gateway_config& cfg) {
    auto c = std::make_shared<stage_chain>();
    // decode (the engine) → authenticate → authorize: no stages of the gateway yet
    // → rate limit → route and upstream (the federated handlers).
    std::map<std::string, rate_limit_config> per_upstream;
    std::vector<std::pair<std::string, std::string>> heads;
    for (const auto& u : cfg.upstreams) {
      if (u.rate_limit.enabled()) per_upstream[u.name] = u.rate_limit;
      if (!u.prefix.empty()) heads.emplace_back(federated_uri(u.prefix, ""), u.name);
    }
    if (cfg.rate_limit.enabled() || !per_upstream.empty())
      c->add(make_rate_limit_stage(cfg.rate_limit, per_upstream));
    std::lock_guard lk(mu);
    chain = std::move(c);
    uri_heads = std::move(heads);
  }

  std::optional<jsonrpc::error> admit(const server::request_info& info) {
    std::shared_ptr<const stage_chain> c;
    {
      std::lock_guard lk(mu);
      c = chain;
    }
    if (c->empty()) return std::nullopt;
    request_context rc{info, {}, {}};
    const std::map<std::string, std::string>* owners = nullptr;
    auto r = reg.lock();
    if (info.method == "tools/call" || info.method == "prompts/get") {
      if (auto n = json::find_string(info.params, "name")) rc.target = std::string(*n);
      if (r) owners = info.method == "tools/call" ? &r->tool_owner : &r->prompt_owner;
    } else if (info.method == "resources/read" || info.method == "resources/subscribe" ||
               info.method == "resources/unsubscribe") {
      if (auto u = json::find_string(info.params, "uri")) rc.target = std::string(*u);
      if (r) owners = &r->resource_owner;
    }
    if (r && owners && !rc.target.empty()) {
      std::lock_guard lk(r->mu);
      if (auto it = owners->find(rc.target); it != owners->end()) rc.upstream = it->second;
    }
    if (rc.upstream.empty() && owners && r && owners == &r->resource_owner) {
      std::lock_guard lk(mu);
      for (const auto& [head, name] : uri_heads)
        if (rc.target.starts_with(head)) rc.upstream = name;
    }
    return c->run(rc);
  }
};

struct gateway::impl {
  gateway_config cfg;
  std::shared_ptr<registry> reg = std::make_shared<registry>();
  std::shared_ptr<admission> admit = [this] {
    auto a = std::make_shared<admission>();
    a->reg = reg;
    return a;
  }();
  mutable std::mutex mu;
  std::vector<std::shared_ptr<upstream>> upstreams;
  std::map<std::string, std::shared_ptr<mounted_endpoint>> virtual_eps;
  bool started = false;

  std::unique_ptr<server::server> make_endpoint_server(const std::string& name) {
    server::server_options so;
    so.worker_threads = std::max<std::size_t>(cfg.worker_threads, 4);
    so.enable_tools = so.enable_resources = so.enable_prompts = true;
    so.enable_completions = true;
    so.list_ttl_ms = 10'000;  // lists follow upstreams; list_changed tells about changes
    // Tasks: a federated tool's task follows the upstream's (gateway.cpp follow_task).
    so.admit = [a = admit](const server::request_info& info) { return a->admit(info); };
    std::weak_ptr<registry> weak_reg = reg;
    so.on_resource_subscribe = [weak_reg](const std::string& uri) {
      auto r = weak_reg.lock();
      if (!r) return;
      std::function<void(const std::string&)> hook;
      {
        std::lock_guard lk(r->mu);
        hook = r->on_subscribe;
      }
      if (hook) hook(uri);
    };
    std::string text = "Plexus gateway" + (name.empty() ? std::string() : " '" + name + "'") +
                       ": tools, resources and prompts of several MCP servers, each under its "
                       "prefix:";
    for (const auto& u : cfg.upstreams)
      if (u.enabled) text += " " + u.prefix + cfg.separator + "*";
    so.instructions = text;
    return std::make_unique<server::server>(
        protocol::implementation{.name = "plexus-gateway", .version = PLEXUS_VERSION},
        std::move(so));
  }

  // The upstream a federated URI belongs to: the owner of a listed resource, else the
  // upstream whose URI prefix it carries (templates), else one without a prefix.
  void subscribe(const std::string& uri) {
    std::string owner;
    {
      std::lock_guard lk(reg->mu);
      if (auto it = reg->resource_owner.find(uri); it != reg->resource_owner.end())
        owner = it->second;
    }
    std::vector<std::shared_ptr<upstream>> ups;
    {
      std::lock_guard lk(mu);
      ups = upstreams;
    }
    std::shared_ptr<upstream> target;
    std::size_t best = 0;
    for (auto& u : ups) {
      const auto& c = u->config();
      if (!owner.empty()) {
        if (c.name == owner) target = u;
        continue;
      }
      auto head = federated_uri(c.prefix, "");
      if (c.prefix.empty() && !target) target = u;
      if (!c.prefix.empty() && uri.starts_with(head) && head.size() > best) {
        best = head.size();
        target = u;
      }
    }
    if (!target) return;
    auto head = federated_uri(target->config().prefix, "");
    target->subscribe(uri.substr(head.size()));
  }

  void build_endpoints() {
    auto main = std::make_shared<mounted_endpoint>();
    main->srv = make_endpoint_server("");
    std::lock_guard lk(reg->mu);
    reg->separator = cfg.separator;
    reg->endpoints.clear();
    reg->endpoints.push_back(main);
    virtual_eps.clear();
    for (const auto& v : cfg.virtual_servers) {
      auto ep = std::make_shared<mounted_endpoint>();
      ep->srv = make_endpoint_server(v.name);
      ep->filter.upstreams = v.upstreams;
      ep->filter.tools = v.tools;
      reg->endpoints.push_back(ep);
      virtual_eps[v.name] = ep;
    }
  }
};

gateway::gateway(gateway_config config) : impl_(std::make_shared<impl>()) {
  std::set<std::string> prefixes;
  for (const auto& u : config.upstreams) {
    if (!u.enabled) continue;
    if (!prefixes.insert(u.prefix).second)
      throw config_error(
          config.source, u.line,
          "upstream '" + u.name + "': prefix '" + u.prefix + "' is used by another upstream");
  }
  impl_->cfg = std::move(config);
  impl_->admit->rebuild(impl_->cfg);
  impl_->build_endpoints();
  std::weak_ptr<impl> weak = impl_;
  impl_->reg->on_subscribe = [weak](const std::string& uri) {
    if (auto i = weak.lock()) i->subscribe(uri);
  };
  for (const auto& u : impl_->cfg.upstreams)
    impl_->upstreams.push_back(std::make_shared<upstream>(u, impl_->reg, impl_->cfg.data_dir));
}

gateway::~gateway() {
  stop();
}

void gateway::start(std::chrono::milliseconds wait) {
  std::vector<std::shared_ptr<upstream>> ups;
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->started) return;
    impl_->started = true;
    ups = impl_->upstreams;
  }
  for (auto& u : ups) u->start();
  auto deadline = clock_type::now() + wait;
  for (auto& u : ups) u->wait_listed(deadline);
}

void gateway::stop() {
  std::vector<std::shared_ptr<upstream>> ups;
  {
    std::lock_guard lk(impl_->mu);
    ups = impl_->upstreams;
  }
  std::vector<std::thread> stoppers;
  for (auto& u : ups) stoppers.emplace_back([u] { u->stop(false); });
  for (auto& t : stoppers) t.join();
  std::lock_guard lk(impl_->reg->parked_mu);
  for (auto& [id, c] : impl_->reg->parked) c->cancel();
  impl_->reg->parked.clear();
}

void gateway::reload(gateway_config config) {
  std::set<std::string> prefixes;
  for (const auto& u : config.upstreams)
    if (u.enabled && !prefixes.insert(u.prefix).second)
      throw config_error(
          config.source, u.line,
          "upstream '" + u.name + "': prefix '" + u.prefix + "' is used by another upstream");
  std::vector<std::shared_ptr<upstream>> keep, retire, fresh;
  bool endpoints_changed;
  {
    std::lock_guard lk(impl_->mu);
    std::map<std::string, std::shared_ptr<upstream>> old;
    for (auto& u : impl_->upstreams) old[u->config().name] = u;
    for (const auto& c : config.upstreams) {
      auto it = old.find(c.name);
      if (it != old.end() && it->second->fingerprint_text() == fingerprint(c)) {
        keep.push_back(it->second);
        old.erase(it);
      } else {
        fresh.push_back(std::make_shared<upstream>(c, impl_->reg, config.data_dir));
      }
    }
    for (auto& [n, u] : old) retire.push_back(u);
    auto vs = [](const gateway_config& g) {
      std::string s = g.separator;
      for (const auto& v : g.virtual_servers) {
        s += "|" + v.name + ":";
        for (const auto& u : v.upstreams) s += u + ",";
        s += ";";
        for (const auto& t : v.tools) s += t + ",";
      }
      return s;
    };
    endpoints_changed = vs(config) != vs(impl_->cfg);
    impl_->cfg = std::move(config);
    impl_->admit->rebuild(impl_->cfg);
    std::vector<std::shared_ptr<upstream>> all = keep;
    all.insert(all.end(), fresh.begin(), fresh.end());
    impl_->upstreams = all;
  }
  // Retired upstreams finish their calls in flight, then stop (in the background).
  for (auto& u : retire) std::thread([u] { u->stop(true); }).detach();
  if (endpoints_changed) {
    spdlog::warn(
        "gateway: the separator or virtual servers changed; they apply to newly listed items, "
        "restart the gateway to rebuild every endpoint");
  }
  bool started;
  {
    std::lock_guard lk(impl_->mu);
    started = impl_->started;
  }
  if (started)
    for (auto& u : fresh) u->start();
  spdlog::info("gateway: reloaded ({} kept, {} started, {} retired)", keep.size(), fresh.size(),
               retire.size());
}

server::server& gateway::endpoint() {
  std::lock_guard lk(impl_->reg->mu);
  return *impl_->reg->endpoints.front()->srv;
}

std::vector<std::pair<std::string, server::server*>> gateway::virtual_endpoints() {
  std::lock_guard lk(impl_->mu);
  std::vector<std::pair<std::string, server::server*>> out;
  for (auto& [name, ep] : impl_->virtual_eps) out.emplace_back(name, ep->srv.get());
  return out;
}

std::vector<upstream_status> gateway::status() const {
  std::vector<std::shared_ptr<upstream>> ups;
  {
    std::lock_guard lk(impl_->mu);
    ups = impl_->upstreams;
  }
  std::vector<upstream_status> out;
  for (auto& u : ups) out.push_back(u->status());
  return out;
}

bool gateway::ready() const {
  for (const auto& s : status())
    if (s.state != "ready" && s.state != "disabled") return false;
  return true;
}

std::vector<federated_tool> gateway::tools() const {
  std::vector<std::shared_ptr<upstream>> ups;
  {
    std::lock_guard lk(impl_->mu);
    ups = impl_->upstreams;
  }
  std::vector<federated_tool> out;
  for (auto& u : ups) {
    auto t = u->tools();
    out.insert(out.end(), t.begin(), t.end());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::vector<std::string> gateway::problems() const {
  std::lock_guard lk(impl_->reg->mu);
  return impl_->reg->problems;
}

const gateway_config& gateway::config() const {
  return impl_->cfg;
}

std::int64_t gateway::in_flight() const {
  return impl_->reg->in_flight.load();
}

void gateway::on_call(std::function<void(const call_record&)> observer) {
  std::lock_guard lk(impl_->reg->mu);
  impl_->reg->observer = std::move(observer);
}

}  // namespace plexus::gateway
