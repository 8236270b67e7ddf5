#include "plexus/gateway/operations.hpp"

#include "plexus/json/json.hpp"
#include "plexus/transport/rest_facade.hpp"

#include <chrono>
#include <ctime>
#include <mutex>

namespace plexus::gateway {

struct operations::impl {
  gateway& gw;
  observability::registry reg;
  observability::counter_family& requests;
  observability::histogram_family& latency;
  observability::gauge_family& in_flight;
  observability::gauge_family& upstream_up;
  observability::gauge_family& upstream_circuit;
  observability::gauge_family& upstream_restarts;
  observability::gauge_family& upstream_items;
  observability::counter_family& http_requests;
  observability::histogram_family& http_latency;
  std::mutex log_mu;

  explicit impl(gateway& g)
      : gw(g),
        requests(reg.counter("plexus_gateway_requests_total",
                             "Requests forwarded to upstreams, by method, name, upstream and "
                             "outcome (ok, tool_error, error, unavailable, timeout, cancelled)",
                             {"method", "name", "upstream", "outcome"})),
        latency(reg.histogram("plexus_gateway_request_duration_seconds",
                              "Time to answer a forwarded request, including the upstream",
                              {"method", "upstream"})),
        in_flight(reg.gauge("plexus_gateway_in_flight", "Forwarded requests being served now")),
        upstream_up(reg.gauge("plexus_gateway_upstream_up",
                              "1 when the upstream is connected and listed, 0 otherwise",
                              {"upstream", "kind"})),
        upstream_circuit(reg.gauge("plexus_gateway_upstream_circuit_open",
                                   "1 while the upstream's circuit breaker is open", {"upstream"})),
        upstream_restarts(reg.gauge("plexus_gateway_upstream_restarts",
                                    "Times the upstream was started again after it went down",
                                    {"upstream"})),
        upstream_items(reg.gauge("plexus_gateway_upstream_items",
                                 "Tools, resources, resource templates and prompts federated "
                                 "from the upstream",
                                 {"upstream", "type"})),
        http_requests(reg.counter("plexus_http_requests_total",
                                  "HTTP requests answered, by method, route and status",
                                  {"method", "route", "status"})),
        http_latency(reg.histogram("plexus_http_request_duration_seconds",
                                   "Time from a complete HTTP request to its complete answer",
                                   {"route"})) {
    reg.on_collect([this] {
      in_flight.get().set(static_cast<double>(gw.in_flight()));
      for (const auto& s : gw.status()) {
        upstream_up.with({s.name, s.kind}).set(s.state == "ready" ? 1 : 0);
        upstream_circuit.with({s.name}).set(s.circuit_open ? 1 : 0);
        upstream_restarts.with({s.name}).set(s.restarts);
        upstream_items.with({s.name, "tools"}).set(static_cast<double>(s.tools));
        upstream_items.with({s.name, "resources"}).set(static_cast<double>(s.resources));
        upstream_items.with({s.name, "resource_templates"})
            .set(static_cast<double>(s.resource_templates));
        upstream_items.with({s.name, "prompts"}).set(static_cast<double>(s.prompts));
      }
    });
  }

  // A bounded label for a path: the route it belongs to, never the raw path (a
  // client could otherwise create unbounded series).
  static std::string route_of(const std::string& path) {
    if (path == "/mcp" || path == "/sse" || path == "/messages" || path == "/ws" ||
        path == "/health" || path == "/ready" || path == "/metrics")
      return path;
    if (path.starts_with("/servers/")) return "/servers/*/mcp";
    if (path.starts_with("/api/")) return "/api";
    return "other";
  }
};

operations::operations(gateway& gw) : impl_(std::make_shared<impl>(gw)) {
  std::weak_ptr<impl> weak = impl_;
  gw.on_call([weak](const call_record& r) {
    auto i = weak.lock();
    if (!i) return;
    // Resource URIs are unbounded: they are not a label.
    std::string name = r.method == "resources/read" ? std::string() : r.name;
    i->requests.with({r.method, name, r.upstream, r.outcome}).inc();
    i->latency.with({r.method, r.upstream}).observe(static_cast<double>(r.duration.count()) / 1e6);
  });
}

operations::~operations() {
  impl_->gw.on_call(nullptr);
}

observability::registry& operations::metrics() {
  return impl_->reg;
}

std::string operations::metrics_text() const {
  return impl_->reg.expose();
}

transport::http_reply operations::readiness() const {
  json::array ups;
  bool ready = true;
  for (const auto& s : impl_->gw.status()) {
    if (s.state != "ready" && s.state != "disabled") ready = false;
    json::object u{{"name", s.name},
                   {"prefix", s.prefix},
                   {"kind", s.kind},
                   {"state", s.state},
                   {"circuit_open", s.circuit_open},
                   {"restarts", s.restarts},
                   {"tools", s.tools},
                   {"resources", s.resources},
                   {"prompts", s.prompts}};
    if (!s.protocol_version.empty()) u["protocol_version"] = s.protocol_version;
    if (!s.last_error.empty()) u["last_error"] = s.last_error;
    ups.push_back(std::move(u));
  }
  transport::http_reply r;
  r.status = ready ? 200 : 503;
  r.body = json::dump(json::object{{"status", ready ? "ready" : "not_ready"}, {"upstreams", ups}});
  return r;
}

void operations::mount(transport::http_server& http) {
  std::weak_ptr<impl> weak = impl_;
  for (auto& [name, srv] : impl_->gw.virtual_endpoints())
    http.add_endpoint("/servers/" + name + "/mcp", *srv);
  http.add_route("GET", "/health", [](const transport::http_request&) {
    transport::http_reply r;
    r.body = R"({"status":"ok"})";
    return r;
  });
  http.add_route("GET", "/ready", [this](const transport::http_request&) { return readiness(); });
  http.add_route("GET", "/metrics", [this](const transport::http_request&) {
    transport::http_reply r;
    r.content_type = std::string(observability::registry::content_type);
    r.body = metrics_text();
    return r;
  });
  if (impl_->gw.config().rest_api) {
    transport::rest_facade_options o;
    o.title = "Plexus gateway";
    transport::mount_rest_facade(http, impl_->gw.endpoint(), o);
  }
}

std::function<void(const transport::access_record&)> operations::access_logger(FILE* sink) {
  std::weak_ptr<impl> weak = impl_;
  bool log = impl_->gw.config().access_log;
  return [weak, sink, log](const transport::access_record& a) {
    auto i = weak.lock();
    if (!i) return;
    auto route = impl::route_of(a.path);
    i->http_requests.with({a.method, route, std::to_string(a.status)}).inc();
    i->http_latency.with({route}).observe(static_cast<double>(a.duration.count()) / 1e6);
    if (!log || !sink) return;
    char when[64];
    auto now = std::chrono::system_clock::now();
    auto t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms.count()));
    json::object line{{"ts", when},
                      {"type", "access"},
                      {"method", a.method},
                      {"path", a.path},
                      {"status", a.status},
                      {"duration_ms", static_cast<double>(a.duration.count()) / 1000.0},
                      {"bytes_in", a.bytes_in},
                      {"bytes_out", a.bytes_out},
                      {"remote", a.remote}};
    if (!a.mcp_method.empty()) line["mcp_method"] = a.mcp_method;
    if (!a.session_id.empty()) line["session"] = a.session_id;
    std::string text = json::dump(line) + "\n";
    std::lock_guard lk(i->log_mu);
    std::fwrite(text.data(), 1, text.size(), sink);
    std::fflush(sink);
  };
}

}  // namespace plexus::gateway
