// plexus::gateway stages — the gateway's request path as a chain:
//
//   decode → authenticate → authorize → rate-limit → route → upstream → respond
//
// The engine decodes; then every request passes the stage chain (server_options::admit)
// before it is routed to the upstream that owns its tool, resource or prompt. A stage
// sees the request and where it is going (`upstream`, empty for lists and
// notifications of the gateway itself), and either lets it through or refuses it with
// a JSON-RPC error. Authentication and authorization are slots: the gateway has no
// stages for them yet (the security work adds them here without reshaping the path);
// rate limiting is a token bucket for the whole gateway and one per upstream.
//
// Thread-safety: a chain is immutable once built and may run on many threads;
// token_bucket is internally synchronized.
#pragma once

#include "plexus/gateway/config.hpp"
#include "plexus/jsonrpc/message.hpp"
#include "plexus/server/server.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace plexus::gateway {

// JSON-RPC error code of a request refused by a rate limit (data: retryAfterMs, limit).
inline constexpr int rate_limited_code = -32000;

// A token bucket: `take` spends one token if there is one, else says how long until
// there will be.
class token_bucket {
 public:
  explicit token_bucket(rate_limit_config c);
  std::optional<std::chrono::milliseconds> take();  // nullopt: taken

 private:
  std::mutex mu_;
  double rate_, capacity_, tokens_;
  std::chrono::steady_clock::time_point last_;
};

// Where a request goes, as the route stage will decide it.
struct request_context {
  const server::request_info& request;
  std::string target;    // tool or prompt name, or resource URI ("" for other methods)
  std::string upstream;  // owner of `target` ("" when none)
};

class stage {
 public:
  virtual ~stage() = default;
  virtual std::string_view name() const = 0;  // "authenticate", "rate_limit", ...
  virtual std::optional<jsonrpc::error> on_request(const request_context& r) = 0;
};

class stage_chain {
 public:
  void add(std::shared_ptr<stage> s) { stages_.push_back(std::move(s)); }
  // The first refusal, or nullopt when every stage lets the request through.
  std::optional<jsonrpc::error> run(const request_context& r) const;
  std::vector<std::string> names() const;
  bool empty() const { return stages_.empty(); }

 private:
  std::vector<std::shared_ptr<stage>> stages_;
};

// Refuses requests over the gateway's limit, and calls over their upstream's limit.
std::shared_ptr<stage> make_rate_limit_stage(
    rate_limit_config gateway_limit, const std::map<std::string, rate_limit_config>& per_upstream);

}  // namespace plexus::gateway
