// The Redis cache's URL parsing and its behaviour without a reachable Redis (misses, no errors,
// no connect per call). The behaviour against a real redis-server is in
// tests/integration/weather_redis_test.cpp.
#include "servers/redis_cache.hpp"

#include <gtest/gtest.h>

using namespace plexus::servers;
using namespace std::chrono_literals;

TEST(RedisCache, ParsesUrls) {
  auto a = parse_redis_url("redis://127.0.0.1:6380/2");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 2);
  auto b = parse_redis_url("redis://cache.internal");
  EXPECT_EQ(b.host, "cache.internal");
  EXPECT_EQ(b.port, 6379);
  EXPECT_EQ(b.db, 0);
  auto c = parse_redis_url("redis://[::1]:7000/");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 7000);
  for (const char* bad :
       {"http://127.0.0.1:6379", "redis://", "redis://:6379", "redis://h:0", "redis://h:70000",
        "redis://h:x", "redis://h/db", "redis://u:p@h:1", "redis://[::1"})
    EXPECT_THROW(parse_redis_url(bad), std::invalid_argument) << bad;
}

TEST(RedisCache, UnreachableRedisMissesQuietly) {
  redis_cache cache("redis://127.0.0.1:1", "plexus:test:", 200ms, 10s);
  EXPECT_EQ(cache.target(), "127.0.0.1:1/0");
  EXPECT_FALSE(cache.get("k"));
  cache.put("k", "v", 1s);
  EXPECT_FALSE(cache.connected());
  // Within the retry interval no new connection is attempted: calls return at once.
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(cache.get("k"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);
}
