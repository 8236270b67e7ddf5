// Sealing of MRTR requestState: an HMAC-SHA256-protected token binding the
// method, a digest of the request's salient parameters, an expiry and the
// payload (answers gathered so far and application state). The server treats
// requestState as attacker-controlled: anything that fails verification is rejected.
#pragma once

#include "plexus/core/expected.hpp"
#include "plexus/json/json.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace plexus::server {

class request_state_sealer {
 public:
  // An empty key means a fresh random 256-bit key for this process.
  explicit request_state_sealer(std::string key);

  std::string seal(std::string_view method, const json::object& params, json::object payload,
                   std::chrono::seconds ttl) const;
  // The payload, or why the token is rejected ("malformed", "bad signature",
  // "expired", "bound to another request").
  plexus::expected<json::object, std::string> unseal(std::string_view token,
                                                     std::string_view method,
                                                     const json::object& params) const;

  // SHA-256 (hex) of the canonical JSON of `params` without `_meta`,
  // `inputResponses` and `requestState`: what identifies "the same request".
  static std::string params_digest(const json::object& params);

 private:
  std::string mac(std::string_view data) const;
  std::string key_;
};

}  // namespace plexus::server
