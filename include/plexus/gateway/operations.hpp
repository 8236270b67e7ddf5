// What operators need around a gateway's HTTP endpoint: GET /health (liveness),
// GET /ready (readiness, per-upstream status, 503 until every enabled upstream is
// ready), GET /metrics (Prometheus text: requests by method, tool, upstream and
// outcome; latency histograms; calls in flight; upstream state, restarts, circuit and
// item counts; HTTP requests by status), the virtual servers' endpoints
// (/servers/NAME/mcp), the REST facade (/api/tools, /api/openapi.json) and
// structured JSON access logs.
//
// Thread-safety: after mount(), everything runs on the HTTP server's threads and the
// gateway's handler threads; the metrics registry is thread-safe.
#pragma once

#include "plexus/gateway/gateway.hpp"
#include "plexus/observability/metrics.hpp"
#include "plexus/transport/http_server.hpp"

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

namespace plexus::gateway {

class operations {
 public:
  // Starts counting the gateway's calls.
  explicit operations(gateway& gw);
  ~operations();
  operations(const operations&) = delete;
  operations& operator=(const operations&) = delete;

  // Adds the routes, virtual endpoints and (when enabled in the config) the REST
  // facade to `http` (before http.start()).
  void mount(transport::http_server& http);

  // The access-log hook for http_server_options::access_log: counts the request and,
  // when the config enables access logs, writes one JSON line to `sink` (stderr).
  std::function<void(const transport::access_record&)> access_logger(FILE* sink = stderr);

  // /ready's body and status (200 when ready, 503 otherwise).
  transport::http_reply readiness() const;
  // /metrics's body.
  std::string metrics_text() const;

  observability::registry& metrics();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace plexus::gateway
