#include "plexus/servers/weather.hpp"

#include "http_fetch.hpp"
#include "plexus/server/typed_tool.hpp"
#include "redis_cache.hpp"

#include <boost/describe.hpp>
#include <boost/url/parse.hpp>

#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace plexus::servers {

namespace {

using clock_type = std::chrono::steady_clock;
using namespace plexus::server;

// ---- described types: arguments and structured results ---------------------

struct weather_args {
  std::optional<std::string> location;
  std::optional<double> latitude;
  std::optional<double> longitude;
  std::optional<std::string> units;
};
BOOST_DESCRIBE_STRUCT(weather_args, (), (location, latitude, longitude, units))

struct forecast_args {
  std::optional<std::string> location;
  std::optional<double> latitude;
  std::optional<double> longitude;
  int days = 7;
  std::optional<std::string> units;
};
BOOST_DESCRIBE_STRUCT(forecast_args, (), (location, latitude, longitude, days, units))

struct geocode_args {
  std::string name;
  std::optional<int> count;
};
BOOST_DESCRIBE_STRUCT(geocode_args, (), (name, count))

struct location_info {
  std::optional<std::string> name;
  double latitude = 0;
  double longitude = 0;
  std::optional<std::string> country;
  std::optional<std::string> admin1;
  std::optional<std::string> timezone;
};
BOOST_DESCRIBE_STRUCT(location_info, (), (name, latitude, longitude, country, admin1, timezone))

struct units_info {
  std::string temperature;
  std::string wind_speed;
  std::string precipitation;
};
BOOST_DESCRIBE_STRUCT(units_info, (), (temperature, wind_speed, precipitation))

struct current_weather {
  location_info location;
  std::string time;
  std::optional<double> temperature;
  std::optional<double> apparent_temperature;
  std::optional<double> relative_humidity;
  std::optional<double> precipitation;
  std::optional<double> wind_speed;
  std::optional<double> wind_direction;
  std::optional<int> weather_code;
  std::string conditions;
  units_info units;
};
BOOST_DESCRIBE_STRUCT(current_weather, (),
                      (location, time, temperature, apparent_temperature, relative_humidity,
                       precipitation, wind_speed, wind_direction, weather_code, conditions, units))

struct forecast_day {
  std::string date;
  std::optional<int> weather_code;
  std::string conditions;
  std::optional<double> temperature_max;
  std::optional<double> temperature_min;
  std::optional<double> precipitation_sum;
  std::optional<double> precipitation_probability_max;
  std::optional<double> wind_speed_max;
};
BOOST_DESCRIBE_STRUCT(forecast_day, (),
                      (date, weather_code, conditions, temperature_max, temperature_min,
                       precipitation_sum, precipitation_probability_max, wind_speed_max))

struct forecast_result {
  location_info location;
  units_info units;
  std::vector<forecast_day> days;
};
BOOST_DESCRIBE_STRUCT(forecast_result, (), (location, units, days))

struct place {
  std::string name;
  double latitude = 0;
  double longitude = 0;
  std::optional<double> elevation;
  std::optional<std::string> country;
  std::optional<std::string> country_code;
  std::optional<std::string> admin1;
  std::optional<std::string> timezone;
  std::optional<std::int64_t> population;
};
BOOST_DESCRIBE_STRUCT(place, (),
                      (name, latitude, longitude, elevation, country, country_code, admin1,
                       timezone, population))

struct geocode_result {
  std::string query;
  std::vector<place> results;
};
BOOST_DESCRIBE_STRUCT(geocode_result, (), (query, results))

struct health_result {
  std::string status;
  std::string forecast_url;
  std::string geocoding_url;
  std::int64_t cache_entries;
  std::int64_t cache_hits;
  std::int64_t cache_misses;
  std::int64_t upstream_requests;
};
BOOST_DESCRIBE_STRUCT(health_result, (),
                      (status, forecast_url, geocoding_url, cache_entries, cache_hits, cache_misses,
                       upstream_requests))

// ---- helpers ----------------------------------------------------------------

std::string number_text(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// WMO weather interpretation codes, as used by Open-Meteo.
std::string describe_code(std::optional<int> code) {
  if (!code) return "unknown";
  switch (*code) {
    case 0:
      return "Clear sky";
    case 1:
      return "Mainly clear";
    case 2:
      return "Partly cloudy";
    case 3:
      return "Overcast";
    case 45:
      return "Fog";
    case 48:
      return "Depositing rime fog";
    case 51:
      return "Light drizzle";
    case 53:
      return "Moderate drizzle";
    case 55:
      return "Dense drizzle";
    case 56:
      return "Light freezing drizzle";
    case 57:
      return "Dense freezing drizzle";
    case 61:
      return "Slight rain";
    case 63:
      return "Moderate rain";
    case 65:
      return "Heavy rain";
    case 66:
      return "Light freezing rain";
    case 67:
      return "Heavy freezing rain";
    case 71:
      return "Slight snow fall";
    case 73:
      return "Moderate snow fall";
    case 75:
      return "Heavy snow fall";
    case 77:
      return "Snow grains";
    case 80:
      return "Slight rain showers";
    case 81:
      return "Moderate rain showers";
    case 82:
      return "Violent rain showers";
    case 85:
      return "Slight snow showers";
    case 86:
      return "Heavy snow showers";
    case 95:
      return "Thunderstorm";
    case 96:
      return "Thunderstorm with slight hail";
    case 99:
      return "Thunderstorm with heavy hail";
    default:
      return "Weather code " + std::to_string(*code);
  }
}

std::optional<double> number_at(const json::object& o, std::string_view key) {
  return json::find_number(o, key);
}

std::optional<std::string> string_at(const json::object& o, std::string_view key) {
  if (auto s = json::find_string(o, key)) return std::string(*s);
  return std::nullopt;
}

std::optional<double> number_in(const json::array* a, std::size_t i) {
  if (!a || i >= a->size()) return std::nullopt;
  const auto& v = (*a)[i];
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

std::optional<int> code_of(std::optional<double> d) {
  if (!d || !std::isfinite(*d) || *d < -1e6 || *d > 1e6) return std::nullopt;
  return static_cast<int>(std::lround(*d));
}

struct endpoint {
  bool tls = false;
  std::string host;
  std::string port;
  std::string base_path;  // without a trailing '/'
};

endpoint parse_base(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) throw std::invalid_argument("weather: invalid provider URL: " + url);
  endpoint e;
  if (u->scheme() == "https")
    e.tls = true;
  else if (u->scheme() != "http")
    throw std::invalid_argument("weather: provider URL must be http or https: " + url);
  e.host = u->host();
  if (e.host.size() > 2 && e.host.front() == '[') e.host = e.host.substr(1, e.host.size() - 2);
  e.port = u->has_port() ? std::string(u->port()) : (e.tls ? "443" : "80");
  e.base_path = std::string(u->encoded_path());
  while (!e.base_path.empty() && e.base_path.back() == '/') e.base_path.pop_back();
  return e;
}

std::string trim_slash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

// ---- the response cache -----------------------------------------------------

class response_cache {
 public:
  response_cache(std::chrono::milliseconds ttl, std::size_t max_entries)
      : ttl_(ttl), max_(max_entries) {}

  bool enabled() const { return ttl_.count() > 0 && (max_ > 0 || redis_); }

  // Entries go to Redis instead of memory from now on.
  void use_redis(std::unique_ptr<redis_cache> r) { redis_ = std::move(r); }

  std::optional<std::string> get(const std::string& key) {
    if (redis_) {
      auto v = redis_->get(key);
      std::lock_guard lk(mu_);
      ++(v ? hits_ : misses_);
      return v;
    }
    std::lock_guard lk(mu_);
    auto it = map_.find(key);
    if (it == map_.end() || it->second.expires <= clock_type::now()) {
      if (it != map_.end()) {
        lru_.erase(it->second.pos);
        map_.erase(it);
      }
      ++misses_;
      return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second.pos);
    ++hits_;
    return it->second.body;
  }

  void put(const std::string& key, std::string body) {
    if (!enabled()) return;
    if (redis_) return redis_->put(key, body, ttl_);
    std::lock_guard lk(mu_);
    if (auto it = map_.find(key); it != map_.end()) {
      lru_.erase(it->second.pos);
      map_.erase(it);
    }
    while (map_.size() >= max_) {
      map_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    map_.emplace(key, entry{std::move(body), clock_type::now() + ttl_, lru_.begin()});
  }

  struct stats {
    std::size_t entries, hits, misses;
  };
  stats snapshot() {
    std::lock_guard lk(mu_);
    return {map_.size(), hits_, misses_};
  }

 private:
  struct entry {
    std::string body;
    clock_type::time_point expires;
    std::list<std::string>::iterator pos;
  };
  std::chrono::milliseconds ttl_;
  std::size_t max_;
  std::mutex mu_;
  std::unordered_map<std::string, entry> map_;
  std::list<std::string> lru_;  // most recently used first
  std::size_t hits_ = 0, misses_ = 0;
  std::unique_ptr<redis_cache> redis_;
};

// The provider's own explanation of an error answer ({"error":true,"reason":"..."}).
std::string reason_of(const std::string& body) {
  boost::system::error_code ec;
  auto v = plexus::json::parse(body, ec);
  if (!ec && v.is_object())
    if (auto r = json::find_string(v.get_object(), "reason")) return std::string(*r);
  return {};
}

// ---- the service ---------------------------------------------------------------

class weather_service {
 public:
  explicit weather_service(weather_config c)
      : cfg_(std::move(c)),
        forecast_url_(trim_slash(cfg_.base_url)),
        geocoding_url_(trim_slash(cfg_.geocoding_url)),
        forecast_ep_(parse_base(cfg_.base_url)),
        geocoding_ep_(parse_base(cfg_.geocoding_url)),
        cache_(cfg_.cache_ttl, cfg_.cache_max_entries),
        http_(fetch_options(cfg_)) {
    if (!cfg_.redis_url.empty())
      cache_.use_redis(std::make_unique<redis_cache>(cfg_.redis_url, "plexus:weather:"));
  }

  static detail::http_fetch_options fetch_options(const weather_config& c) {
    if (c.timeout.count() <= 0) throw std::invalid_argument("weather: timeout must be > 0");
    if (c.retries < 0) throw std::invalid_argument("weather: retries must be >= 0");
    return {.timeout = c.timeout,
            .retries = c.retries,
            .retry_backoff = c.retry_backoff,
            .max_response_bytes = c.max_response_bytes,
            .verify_tls = c.verify_tls,
            .ca_file = c.ca_file,
            .user_agent = "plexus-weather/" PLEXUS_VERSION};
  }

  geocode_result geocode(const std::string& name, int count) {
    std::string target = geocoding_ep_.base_path + "/v1/search?name=" + percent_encode(name) +
                         "&count=" + std::to_string(count) + "&language=en&format=json";
    auto doc = fetch(geocoding_ep_, geocoding_url_, "geocoding", target);
    geocode_result out{name, {}};
    const json::array* results = json::find_array(doc, "results");
    if (!results) return out;  // Open-Meteo omits "results" when nothing matches
    for (const auto& item : *results) {
      if (!item.is_object()) continue;
      const auto& o = item.get_object();
      auto lat = number_at(o, "latitude");
      auto lon = number_at(o, "longitude");
      auto nm = string_at(o, "name");
      if (!lat || !lon || !nm) continue;
      place p;
      p.name = *nm;
      p.latitude = *lat;
      p.longitude = *lon;
      p.elevation = number_at(o, "elevation");
      p.country = string_at(o, "country");
      p.country_code = string_at(o, "country_code");
      p.admin1 = string_at(o, "admin1");
      p.timezone = string_at(o, "timezone");
      if (auto pop = json::find_int(o, "population")) p.population = *pop;
      out.results.push_back(std::move(p));
    }
    return out;
  }

  location_info resolve(const std::optional<std::string>& location,
                        const std::optional<double>& lat, const std::optional<double>& lon) {
    if (location && (lat || lon))
      throw tool_error("give either location or latitude and longitude, not both");
    if (location) {
      if (location->empty()) throw tool_error("location must not be empty");
      auto g = geocode(*location, 1);
      if (g.results.empty()) throw tool_error("no place found for \"" + *location + "\"");
      const auto& p = g.results.front();
      return location_info{p.name, p.latitude, p.longitude, p.country, p.admin1, p.timezone};
    }
    if (!lat || !lon) throw tool_error("give a location, or both latitude and longitude");
    return location_info{std::nullopt, *lat, *lon, std::nullopt, std::nullopt, std::nullopt};
  }

  current_weather current(const weather_args& a) {
    auto loc = resolve(a.location, a.latitude, a.longitude);
    std::string target = forecast_ep_.base_path +
                         "/v1/forecast?latitude=" + number_text(loc.latitude) +
                         "&longitude=" + number_text(loc.longitude) +
                         "&current=temperature_2m,relative_humidity_2m,apparent_temperature,"
                         "precipitation,weather_code,wind_speed_10m,wind_direction_10m" +
                         unit_params(a.units) + "&timezone=auto";
    auto doc = fetch(forecast_ep_, forecast_url_, "weather", target);
    const json::object* cur = json::find_object(doc, "current");
    if (!cur)
      throw provider_error("weather", forecast_url_, 1, "unexpected answer: no \"current\"");
    const json::object empty;
    const json::object* units = json::find_object(doc, "current_units");
    if (!units) units = &empty;
    current_weather w;
    w.location = std::move(loc);
    if (!w.location.timezone) w.location.timezone = string_at(doc, "timezone");
    w.time = string_at(*cur, "time").value_or("");
    w.temperature = number_at(*cur, "temperature_2m");
    w.apparent_temperature = number_at(*cur, "apparent_temperature");
    w.relative_humidity = number_at(*cur, "relative_humidity_2m");
    w.precipitation = number_at(*cur, "precipitation");
    w.wind_speed = number_at(*cur, "wind_speed_10m");
    w.wind_direction = number_at(*cur, "wind_direction_10m");
    w.weather_code = code_of(number_at(*cur, "weather_code"));
    w.conditions = describe_code(w.weather_code);
    w.units = units_info{string_at(*units, "temperature_2m").value_or(""),
                         string_at(*units, "wind_speed_10m").value_or(""),
                         string_at(*units, "precipitation").value_or("")};
    return w;
  }

  forecast_result forecast(const forecast_args& a) {
    if (a.days < 1 || a.days > 16) throw tool_error("days must be within 1..16");
    auto loc = resolve(a.location, a.latitude, a.longitude);
    std::string target =
        forecast_ep_.base_path + "/v1/forecast?latitude=" + number_text(loc.latitude) +
        "&longitude=" + number_text(loc.longitude) +
        "&daily=weather_code,temperature_2m_max,temperature_2m_min,"
        "precipitation_sum,precipitation_probability_max,wind_speed_10m_max" +
        "&forecast_days=" + std::to_string(a.days) + unit_params(a.units) + "&timezone=auto";
    auto doc = fetch(forecast_ep_, forecast_url_, "weather", target);
    const json::object* daily = json::find_object(doc, "daily");
    const json::array* dates = daily ? json::find_array(*daily, "time") : nullptr;
    if (!dates)
      throw provider_error("weather", forecast_url_, 1, "unexpected answer: no \"daily\"");
    const json::object empty;
    const json::object* units = json::find_object(doc, "daily_units");
    if (!units) units = &empty;
    forecast_result f;
    f.location = std::move(loc);
    if (!f.location.timezone) f.location.timezone = string_at(doc, "timezone");
    f.units = units_info{string_at(*units, "temperature_2m_max").value_or(""),
                         string_at(*units, "wind_speed_10m_max").value_or(""),
                         string_at(*units, "precipitation_sum").value_or("")};
    auto col = [&](std::string_view k) { return json::find_array(*daily, k); };
    const auto *code = col("weather_code"), *tmax = col("temperature_2m_max"),
               *tmin = col("temperature_2m_min"), *psum = col("precipitation_sum"),
               *pprob = col("precipitation_probability_max"), *wind = col("wind_speed_10m_max");
    for (std::size_t i = 0; i < dates->size(); ++i) {
      forecast_day d;
      d.date = (*dates)[i].is_string() ? std::string((*dates)[i].get_string()) : "";
      d.weather_code = code_of(number_in(code, i));
      d.conditions = describe_code(d.weather_code);
      d.temperature_max = number_in(tmax, i);
      d.temperature_min = number_in(tmin, i);
      d.precipitation_sum = number_in(psum, i);
      d.precipitation_probability_max = number_in(pprob, i);
      d.wind_speed_max = number_in(wind, i);
      f.days.push_back(std::move(d));
    }
    return f;
  }

  health_result health() {
    auto s = cache_.snapshot();
    return health_result{"ok",
                         forecast_url_,
                         geocoding_url_,
                         static_cast<std::int64_t>(s.entries),
                         static_cast<std::int64_t>(s.hits),
                         static_cast<std::int64_t>(s.misses),
                         static_cast<std::int64_t>(upstream_requests_.load())};
  }

 private:
  static std::string unit_params(const std::optional<std::string>& units) {
    if (!units || *units == "metric") return {};
    if (*units == "imperial")
      return "&temperature_unit=fahrenheit&wind_speed_unit=mph&precipitation_unit=inch";
    throw tool_error("units must be \"metric\" or \"imperial\"");
  }

  static tool_error provider_error(std::string_view kind, const std::string& url, int attempts,
                                   const std::string& reason) {
    return tool_error(std::string(kind) + " provider " + url + " failed after " +
                      std::to_string(attempts) + (attempts == 1 ? " attempt: " : " attempts: ") +
                      reason);
  }

  // GET `target` (cached), parsed as a JSON object; throws tool_error naming the provider.
  json::object fetch(const endpoint& ep, const std::string& url, std::string_view kind,
                     const std::string& target) {
    std::string key = (ep.tls ? "https://" : "http://") + ep.host + ":" + ep.port + target;
    std::optional<std::string> body;
    if (cache_.enabled()) body = cache_.get(key);
    if (!body) {
      body = get_with_retries(ep, url, kind, target);
      cache_.put(key, *body);
    }
    boost::system::error_code ec;
    auto v = plexus::json::parse(*body, ec);
    if (ec || !v.is_object()) throw provider_error(kind, url, 1, "the answer is not a JSON object");
    return std::move(v.get_object());
  }

  // GET with the retries of detail::http_client (network errors, timeouts, 5xx, 429).
  std::string get_with_retries(const endpoint& ep, const std::string& url, std::string_view kind,
                               const std::string& target) {
    std::string host = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
    std::string full = (ep.tls ? "https://" : "http://") + host + ":" + ep.port + target;
    detail::http_response reply;
    try {
      reply = http_.get(full);
    } catch (const detail::http_fetch_error& e) {
      upstream_requests_ += e.attempts();
      throw provider_error(kind, url, e.attempts(), e.reason());
    }
    upstream_requests_ += reply.attempts;
    if (reply.status == 200) return std::move(reply.body);
    std::string reason = "HTTP " + std::to_string(reply.status);
    if (auto why = reason_of(reply.body); !why.empty()) reason += ": " + why;
    throw provider_error(kind, url, reply.attempts, reason);
  }

  weather_config cfg_;
  std::string forecast_url_, geocoding_url_;
  endpoint forecast_ep_, geocoding_ep_;
  response_cache cache_;
  detail::http_client http_;
  std::atomic<std::uint64_t> upstream_requests_{0};
};

protocol::tool_annotations hints(std::string title) {
  return protocol::tool_annotations{.title = std::move(title),
                                    .read_only = true,
                                    .destructive = false,
                                    .idempotent = true,
                                    .open_world = true};
}

schema::annotations location_fields() {
  return {
      {"location",
       {{"description", "Place name, geocoded first (e.g. \"San Francisco\")"}, {"minLength", 1}}},
      {"latitude", {{"description", "Latitude in degrees"}, {"minimum", -90}, {"maximum", 90}}},
      {"longitude", {{"description", "Longitude in degrees"}, {"minimum", -180}, {"maximum", 180}}},
      {"units",
       {{"description", "metric (°C, km/h, mm; default) or imperial (°F, mph, inch)"},
        {"enum", json::array{"metric", "imperial"}}}}};
}

}  // namespace

void register_weather(server::server& srv, weather_config config) {
  auto svc = std::make_shared<weather_service>(std::move(config));
  add_tool(srv, "get_weather", "Current weather conditions at a place (by name) or at coordinates",
           [svc](const weather_args& a) { return svc->current(a); },
           {.title = "Current weather",
            .annotations = hints("Current weather"),
            .fields = location_fields()});
  auto forecast_fields = location_fields();
  forecast_fields.push_back(
      {"days", {{"description", "Number of days (1..16)"}, {"minimum", 1}, {"maximum", 16}}});
  add_tool(srv, "get_forecast",
           "Daily weather forecast (1 to 16 days) for a place (by name) or coordinates",
           [svc](const forecast_args& a) { return svc->forecast(a); },
           {.title = "Weather forecast",
            .annotations = hints("Weather forecast"),
            .fields = std::move(forecast_fields)});
  add_tool(srv, "geocode", "Places (with coordinates) matching a name",
           [svc](const geocode_args& a) { return svc->geocode(a.name, a.count.value_or(5)); },
           {.title = "Geocode",
            .annotations = hints("Geocode"),
            .fields = {{"name", {{"description", "Place name to search for"}, {"minLength", 1}}},
                       {"count",
                        {{"description", "Most results (1..100, default 5)"},
                         {"minimum", 1},
                         {"maximum", 100}}}}});
  add_tool(srv, "health", "Provider URLs and cache counters of the weather server",
           [svc]() { return svc->health(); }, {.title = "Health", .annotations = hints("Health")});
}

std::unique_ptr<server::server> make_weather_server(weather_config config,
                                                    server::server_options options) {
  auto srv = std::make_unique<server::server>(
      protocol::implementation{
          .name = "plexus-weather", .version = PLEXUS_VERSION, .title = "Weather (Open-Meteo)"},
      std::move(options));
  register_weather(*srv, std::move(config));
  return srv;
}

}  // namespace plexus::servers
