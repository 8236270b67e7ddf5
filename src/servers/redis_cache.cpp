#include "redis_cache.hpp"

#include <spdlog/spdlog.h>
#include "servers/lazy_libs.hpp"

#include <charconv>

namespace plexus::servers {

namespace {

struct reply_freer {
  void operator()(redisReply* r) const { lazy::redis().freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_freer>;

timeval to_timeval(std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  return tv;
}

int parse_number(std::string_view s, std::string_view what, const std::string& url) {
  int v = -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < 0)
    throw std::invalid_argument("invalid " + std::string(what) + " in Redis URL " + url);
  return v;
}

}  // namespace

redis_url parse_redis_url(const std::string& url) {
  constexpr std::string_view scheme = "redis://";
  if (url.rfind(scheme, 0) != 0)
    throw std::invalid_argument("a Redis URL must look like redis://HOST:PORT/DB, got " + url);
  std::string_view rest = std::string_view(url).substr(scheme.size());
  if (rest.find('@') != std::string_view::npos)
    throw std::invalid_argument("credentials in Redis URLs are not supported: " + url);
  redis_url out;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty()) out.db = parse_number(db, "database number", url);
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    auto close = rest.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("invalid host in " + url);
    out.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') throw std::invalid_argument("invalid host in " + url);
      port = rest.substr(1);
    }
  } else {
    auto colon = rest.find(':');
    out.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (out.host.empty()) throw std::invalid_argument("no host in Redis URL " + url);
  if (!port.empty()) out.port = parse_number(port, "port", url);
  if (out.port == 0 || out.port > 65535)
    throw std::invalid_argument("invalid port in Redis URL " + url);
  return out;
}

redis_cache::redis_cache(const std::string& url, std::string key_prefix,
                         std::chrono::milliseconds timeout,
                         std::chrono::milliseconds retry_interval)
    : url_(parse_redis_url(url)),
      prefix_(std::move(key_prefix)),
      timeout_(timeout),
      retry_interval_(retry_interval) {
  target_ = url_.host + ":" + std::to_string(url_.port) + "/" + std::to_string(url_.db);
}

redis_cache::~redis_cache() {
  if (ctx_) lazy::redis().redisFree(ctx_);
}

void redis_cache::fail(const std::string& why) {
  if (ctx_) {
    lazy::redis().redisFree(ctx_);
    ctx_ = nullptr;
  }
  next_attempt_ = std::chrono::steady_clock::now() + retry_interval_;
  if (!warned_) {
    warned_ = true;
    spdlog::warn("redis cache {}: {}; caching is off until it is reachable again", target_, why);
  }
}

bool redis_cache::ensure_connected() {
  if (ctx_) return true;
  if (std::chrono::steady_clock::now() < next_attempt_) return false;
  try {
    lazy::redis();
  } catch (const std::exception& e) {
    fail(e.what());
    return false;
  }
  ctx_ = lazy::redis().redisConnectWithTimeout(url_.host.c_str(), url_.port, to_timeval(timeout_));
  if (!ctx_ || ctx_->err) {
    fail(ctx_ ? ctx_->errstr : "out of memory");
    return false;
  }
  lazy::redis().redisSetTimeout(ctx_, to_timeval(timeout_));
  if (url_.db != 0) {
    reply_ptr r(static_cast<redisReply*>(lazy::redis().command(ctx_, "SELECT %d", url_.db)));
    if (!r || r->type == REDIS_REPLY_ERROR) {
      fail(r ? std::string(r->str, r->len) : std::string(ctx_->errstr));
      return false;
    }
  }
  if (warned_) {
    warned_ = false;
    spdlog::info("redis cache {}: connected", target_);
  }
  return true;
}

std::optional<std::string> redis_cache::get(const std::string& key) {
  std::lock_guard lk(mu_);
  if (!ensure_connected()) return std::nullopt;
  std::string k = prefix_ + key;
  reply_ptr r(static_cast<redisReply*>(lazy::redis().command(ctx_, "GET %b", k.data(), k.size())));
  if (!r) {
    fail(ctx_->errstr);
    return std::nullopt;
  }
  if (r->type == REDIS_REPLY_STRING) return std::string(r->str, r->len);
  if (r->type == REDIS_REPLY_ERROR) fail(std::string(r->str, r->len));
  return std::nullopt;
}

void redis_cache::put(const std::string& key, const std::string& value,
                      std::chrono::milliseconds ttl) {
  std::lock_guard lk(mu_);
  if (!ensure_connected()) return;
  std::string k = prefix_ + key;
  long long ms = std::max<long long>(1, ttl.count());
  reply_ptr r(static_cast<redisReply*>(lazy::redis().command(
      ctx_, "PSETEX %b %lld %b", k.data(), k.size(), ms, value.data(), value.size())));
  if (!r)
    fail(ctx_->errstr);
  else if (r->type == REDIS_REPLY_ERROR)
    fail(std::string(r->str, r->len));
}

bool redis_cache::connected() {
  std::lock_guard lk(mu_);
  return ctx_ != nullptr;
}

}  // namespace plexus::servers
