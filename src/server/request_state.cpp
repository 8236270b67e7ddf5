#include "server/request_state.hpp"

#include "plexus/core/base64.hpp"
#include "plexus/core/random.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace plexus::server {
namespace {

// Deterministic serialization: object keys sorted, so that a client's
// re-ordering of the same parameters still matches.
void canonical(const json::value& v, std::string& out) {
  if (v.is_object()) {
    const auto& o = v.get_object();
    std::vector<std::string_view> keys;
    keys.reserve(o.size());
    for (const auto& kv : o) keys.push_back(kv.key());
    std::sort(keys.begin(), keys.end());
    out += '{';
    bool first = true;
    for (auto k : keys) {
      if (!first) out += ',';
      first = false;
      out += boost::json::serialize(json::value(k));
      out += ':';
      canonical(o.at(k), out);
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    bool first = true;
    for (const auto& item : v.get_array()) {
      if (!first) out += ',';
      first = false;
      canonical(item, out);
    }
    out += ']';
  } else if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    out += std::to_string(v.get_uint64());
  } else {
    out += boost::json::serialize(v);
  }
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

request_state_sealer::request_state_sealer(std::string key) : key_(std::move(key)) {
  if (key_.empty()) {
    key_.resize(32);
    random::bytes(key_.data(), key_.size());
  }
}

std::string request_state_sealer::mac(std::string_view data) const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string request_state_sealer::params_digest(const json::object& params) {
  json::object salient = params;
  salient.erase("_meta");
  salient.erase("inputResponses");
  salient.erase("requestState");
  std::string text;
  canonical(salient, text);
  return sha256_hex(text);
}

std::string request_state_sealer::seal(std::string_view method, const json::object& params,
                                       json::object payload, std::chrono::seconds ttl) const {
  json::object envelope{{"m", method},
                        {"d", params_digest(params)},
                        {"x", now_seconds() + ttl.count()},
                        {"p", std::move(payload)}};
  std::string body = base64::encode_url(boost::json::serialize(envelope));
  return "v1." + body + "." + base64::encode_url(mac(body));
}

plexus::expected<json::object, std::string> request_state_sealer::unseal(
    std::string_view token, std::string_view method, const json::object& params) const {
  if (token.substr(0, 3) != "v1.") return unexpected{std::string("malformed")};
  token.remove_prefix(3);
  auto dot = token.find('.');
  if (dot == std::string_view::npos) return unexpected{std::string("malformed")};
  std::string_view body = token.substr(0, dot);
  auto sig = base64::decode_url(token.substr(dot + 1));
  std::string expect = mac(body);
  if (!sig || sig->size() != expect.size() ||
      CRYPTO_memcmp(sig->data(), expect.data(), expect.size()) != 0)
    return unexpected{std::string("bad signature")};
  auto text = base64::decode_url(body);
  if (!text) return unexpected{std::string("malformed")};
  boost::system::error_code ec;
  auto v = plexus::json::parse(*text, ec);
  if (ec || !v.is_object()) return unexpected{std::string("malformed")};
  auto& env = v.get_object();
  auto m = json::find_string(env, "m");
  auto d = json::find_string(env, "d");
  auto x = json::find_int(env, "x");
  auto p = json::find_object(env, "p");
  if (!m || !d || !x || !p) return unexpected{std::string("malformed")};
  if (*x < now_seconds()) return unexpected{std::string("expired")};
  if (*m != method || *d != params_digest(params))
    return unexpected{std::string("bound to another request")};
  return json::object(*p);
}

}  // namespace plexus::server
