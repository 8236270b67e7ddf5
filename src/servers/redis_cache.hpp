// A small string cache in Redis (hiredis): GET and PSETEX under a key prefix, for caches that
// should survive restarts or be shared by several processes (the weather server's responses).
//
// A cache must never make its user fail: when Redis is unreachable or answers with an error,
// get() misses and put() does nothing, one warning is logged per outage, and reconnection is
// tried again at most every `retry_interval` (so an absent Redis does not add a connect timeout
// to every call).
//
// Thread-safety: all members may be called concurrently (one connection behind a mutex).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

struct redisContext;

namespace plexus::servers {

struct redis_url {
  std::string host;
  int port = 6379;
  int db = 0;
};

// Parses redis://HOST[:PORT][/DB]; throws std::invalid_argument naming what is wrong.
redis_url parse_redis_url(const std::string& url);

class redis_cache {
 public:
  // Does not connect yet (the first get/put does); throws std::invalid_argument for a bad URL.
  redis_cache(const std::string& url, std::string key_prefix,
              std::chrono::milliseconds timeout = std::chrono::milliseconds(1000),
              std::chrono::milliseconds retry_interval = std::chrono::seconds(5));
  ~redis_cache();
  redis_cache(const redis_cache&) = delete;
  redis_cache& operator=(const redis_cache&) = delete;

  // The value, or nullopt when absent, expired or Redis is unavailable.
  std::optional<std::string> get(const std::string& key);
  // Stores `value` for `ttl` (at least 1 ms); does nothing when Redis is unavailable.
  void put(const std::string& key, const std::string& value, std::chrono::milliseconds ttl);
  // Whether the last command reached Redis.
  bool connected();

  const std::string& target() const { return target_; }

 private:
  bool ensure_connected();            // with mu_ held
  void fail(const std::string& why);  // with mu_ held: drops the connection, logs once

  redis_url url_;
  std::string target_;  // host:port/db, for logs
  std::string prefix_;
  std::chrono::milliseconds timeout_, retry_interval_;
  std::mutex mu_;
  redisContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point next_attempt_{};
  bool warned_ = false;
};

}  // namespace plexus::servers
