// The weather server's response cache in Redis: `plexus server weather --redis-url ...` against a
// real redis-server and a minimal fake Open-Meteo provider, both on 127.0.0.1. Entries are
// shared between processes, expire with the TTL, and an unreachable Redis only turns caching off.
#include "http_client.hpp"
#include "redis_server.hpp"

#include "plexus/client/client.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <tuple>

using namespace plexus;
using namespace std::chrono_literals;

namespace {

constexpr const char* current_body = R"({"latitude":37.76,"longitude":-122.41,
  "utc_offset_seconds":-28800,"timezone":"America/Los_Angeles","timezone_abbreviation":"PST",
  "elevation":18.0,
  "current_units":{"time":"iso8601","interval":"seconds","temperature_2m":"°C",
    "relative_humidity_2m":"%","apparent_temperature":"°C","precipitation":"mm",
    "weather_code":"wmo code","wind_speed_10m":"km/h","wind_direction_10m":"°"},
  "current":{"time":"2026-11-21T07:00","interval":900,"temperature_2m":12.4,
    "relative_humidity_2m":81,"apparent_temperature":10.9,"precipitation":0.0,"weather_code":3,
    "wind_speed_10m":9.7,"wind_direction_10m":270}})";

// Answers every request with `current_body` (HTTP/1.1, Connection: close) and records targets.
class fake_provider {
 public:
  fake_provider() {
    std::tie(fd_, port_) = plexus::testing::http::listen_on_loopback();
    thread_ = std::thread([this] { loop(); });
  }
  ~fake_provider() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> targets() {
    std::lock_guard lk(mu_);
    return targets_;
  }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 2000) <= 0) break;
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      auto sp1 = req.find(' ');
      auto sp2 = req.find(' ', sp1 + 1);
      if (sp1 != std::string::npos && sp2 != std::string::npos) {
        std::lock_guard lk(mu_);
        targets_.push_back(req.substr(sp1 + 1, sp2 - sp1 - 1));
      }
      std::string body = current_body;
      std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> targets_;
};

class WeatherRedis : public ::testing::Test {
 protected:
  std::unique_ptr<plexus::testing::redis_server> redis = plexus::testing::redis_server::start();
  fake_provider provider;

  void SetUp() override {
    if (!redis->available()) GTEST_SKIP() << redis->skip_reason();
    ASSERT_TRUE(redis->ok()) << redis->error();
  }

  std::unique_ptr<client::client> weather(std::vector<std::string> extra) {
    std::vector<std::string> args = {"server",        "weather",      "--stdio",
                                     "--weather-url", provider.url(), "--geocoding-url",
                                     provider.url()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto c = client::client::connect(
        client::make_stdio_transport({.command = PLEXUS_BINARY, .args = args}),
        client::client_options{});
    EXPECT_TRUE(c) << (c ? "" : c.error().describe());
    return c ? std::move(*c) : nullptr;
  }

  static json::object current(client::client& c) {
    auto r = c.call_tool("get_weather", {{"latitude", 37.76}, {"longitude", -122.41}});
    EXPECT_TRUE(r) << (r ? "" : r.error().describe());
    if (!r) return {};
    EXPECT_FALSE(r->contains("isError")) << json::dump(*r);
    return *r;
  }

  std::size_t cached_entries() {
    auto n =
        redis->command({"EVAL", "return #redis.call('KEYS', ARGV[1])", "0", "plexus:weather:*"});
    return n ? std::stoul(*n) : 0;
  }
};

TEST_F(WeatherRedis, EntriesLiveInRedisAndAreSharedBetweenProcesses) {
  std::string key;
  {
    auto c = weather({"--redis-url", redis->url()});
    ASSERT_TRUE(c);
    auto a = current(*c);
    auto b = current(*c);
    EXPECT_EQ(a.at("structuredContent"), b.at("structuredContent"));
    EXPECT_EQ(provider.targets().size(), 1u);
    ASSERT_EQ(provider.targets().size(), 1u);
    key = "plexus:weather:" + provider.url() + provider.targets()[0];
    auto h = c->call_tool("health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->at("structuredContent").at("cache_hits"), 1);
    EXPECT_EQ(h->at("structuredContent").at("cache_misses"), 1);
  }
  // The provider's body is stored under the URL with the configured TTL (300 s by default).
  auto stored = redis->command({"GET", key});
  ASSERT_TRUE(stored) << key;
  EXPECT_EQ(*stored, current_body);
  auto ttl = std::stoll(*redis->command({"PTTL", key}));
  EXPECT_GT(ttl, 290'000);
  EXPECT_LE(ttl, 300'000);
  // A second process finds the entry: the provider is not asked again.
  auto c2 = weather({"--redis-url", redis->url()});
  ASSERT_TRUE(c2);
  current(*c2);
  EXPECT_EQ(provider.targets().size(), 1u);
}

TEST_F(WeatherRedis, EntriesExpireWithTheTtl) {
  auto c = weather({"--redis-url", redis->url(), "--cache-seconds", "0.3"});
  ASSERT_TRUE(c);
  current(*c);
  current(*c);
  EXPECT_EQ(provider.targets().size(), 1u);
  EXPECT_EQ(cached_entries(), 1u);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(cached_entries(), 0u);
  current(*c);
  EXPECT_EQ(provider.targets().size(), 2u);
}

TEST_F(WeatherRedis, UnreachableRedisOnlyTurnsCachingOff) {
  redis->stop();
  auto c = weather({"--redis-url", redis->url()});
  ASSERT_TRUE(c);
  auto a = current(*c);
  auto b = current(*c);
  EXPECT_EQ(a.at("structuredContent"), b.at("structuredContent"));
  EXPECT_EQ(provider.targets().size(), 2u);  // both went to the provider
}

TEST_F(WeatherRedis, MalformedRedisUrlIsAStartupError) {
  auto t = client::make_stdio_transport(
      {.command = PLEXUS_BINARY,
       .args = {"server", "weather", "--stdio", "--redis-url", "http://127.0.0.1:6379"}});
  EXPECT_FALSE(client::client::connect(std::move(t), client::client_options{}));
}

}  // namespace
