// The weather server: current conditions, daily forecasts and place search from an
// Open-Meteo compatible provider (https://open-meteo.com, no API key).
//
// Tools (all read-only, open-world, with structured output and output schemas):
//   get_weather   {location? | latitude? + longitude?, units?}  current conditions
//   get_forecast  {location? | latitude? + longitude?, days, units?}  daily forecast (1..16 days)
//   geocode       {name, count?}  places matching a name
//   health        configuration and counters (no network traffic)
// A place name is geocoded first (the best match is used); coordinates skip geocoding.
//
// HTTP: Boost.Beast, blocking for the handler (an io_context per request), plain HTTP or HTTPS
// (OpenSSL, peer and host name verified). Each attempt has a deadline (`timeout`, covering
// connect, TLS, write and read); 5xx and 429 answers, timeouts and network errors are retried
// up to `retries` times with exponential backoff; other 4xx answers are not. Successful answers are
// kept in an in-memory cache (LRU, at most `cache_max_entries`, `cache_ttl`; 0 disables it) keyed
// by URL. A provider that fails gives a tool error (isError) naming the provider URL and the
// reason.
//
// Thread-safety: the returned server is as plexus::server::server; the cache and counters are
// shared by all handlers and guarded by a mutex.
#pragma once

#include "plexus/server/server.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace plexus::servers {

struct weather_config {
  std::string base_url = "https://api.open-meteo.com";                 // serves /v1/forecast
  std::string geocoding_url = "https://geocoding-api.open-meteo.com";  // serves /v1/search
  std::chrono::milliseconds timeout{10'000};                           // per attempt
  int retries = 2;                                               // extra attempts after the first
  std::chrono::milliseconds retry_backoff{250};                  // doubled after every attempt
  std::chrono::milliseconds cache_ttl{std::chrono::minutes(5)};  // 0: no cache
  std::size_t cache_max_entries = 512;
  // redis://HOST:PORT[/DB]: keep the cache in Redis (keys "plexus:weather:<url>", expiring after
  // cache_ttl) instead of in memory, shared by processes and kept across restarts. While Redis is
  // unreachable nothing is cached (a warning is logged). Empty: the in-memory cache.
  std::string redis_url;
  std::size_t max_response_bytes = 4 * 1024 * 1024;
  bool verify_tls = true;
  std::string ca_file;  // empty: the system's trust store
};

// Registers the weather tools on `srv`.
void register_weather(server::server& srv, weather_config config = {});

std::unique_ptr<server::server> make_weather_server(weather_config config = {},
                                                    server::server_options options = {});

}  // namespace plexus::servers
