// The weather server against a fake Open-Meteo provider on 127.0.0.1 (a Beast server thread in
// this process): geocoding, current weather, forecasts, retries on 5xx, timeouts, the cache,
// provider errors. No traffic leaves 127.0.0.1.
#include "engine_harness.hpp"

#include "plexus/servers/weather.hpp"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace plexus;
using namespace plexus::testing;
using namespace std::chrono_literals;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

constexpr const char* sf_search = R"({"results":[{"id":5391959,"name":"San Francisco",
  "latitude":37.77493,"longitude":-122.41942,"elevation":16.0,"feature_code":"PPLA2",
  "country_code":"US","admin1_id":5332921,"timezone":"America/Los_Angeles","population":864816,
  "country_id":6252001,"country":"United States","admin1":"California"}],
  "generationtime_ms":0.7})";

constexpr const char* current_metric = R"({"latitude":37.763283,"longitude":-122.41286,
  "generationtime_ms":0.05,"utc_offset_seconds":-28800,"timezone":"America/Los_Angeles",
  "timezone_abbreviation":"PST","elevation":18.0,
  "current_units":{"time":"iso8601","interval":"seconds","temperature_2m":"°C",
    "relative_humidity_2m":"%","apparent_temperature":"°C","precipitation":"mm",
    "weather_code":"wmo code","wind_speed_10m":"km/h","wind_direction_10m":"°"},
  "current":{"time":"2026-11-21T07:00","interval":900,"temperature_2m":12.4,
    "relative_humidity_2m":81,"apparent_temperature":10.9,"precipitation":0.0,"weather_code":3,
    "wind_speed_10m":9.7,"wind_direction_10m":270}})";

constexpr const char* current_imperial = R"({"latitude":40.71,"longitude":-74.01,
  "generationtime_ms":0.05,"utc_offset_seconds":-18000,"timezone":"America/New_York",
  "timezone_abbreviation":"EST","elevation":10.0,
  "current_units":{"time":"iso8601","interval":"seconds","temperature_2m":"°F",
    "relative_humidity_2m":"%","apparent_temperature":"°F","precipitation":"inch",
    "weather_code":"wmo code","wind_speed_10m":"mp/h","wind_direction_10m":"°"},
  "current":{"time":"2026-11-21T02:00","interval":900,"temperature_2m":41.2,
    "relative_humidity_2m":60,"apparent_temperature":35.6,"precipitation":0.01,
    "weather_code":61,"wind_speed_10m":11.3,"wind_direction_10m":45}})";

constexpr const char* daily_metric = R"({"latitude":37.763283,"longitude":-122.41286,
  "generationtime_ms":0.1,"utc_offset_seconds":-28800,"timezone":"America/Los_Angeles",
  "timezone_abbreviation":"PST","elevation":18.0,
  "daily_units":{"time":"iso8601","weather_code":"wmo code","temperature_2m_max":"°C",
    "temperature_2m_min":"°C","precipitation_sum":"mm","precipitation_probability_max":"%",
    "wind_speed_10m_max":"km/h"},
  "daily":{"time":["2026-11-21","2026-11-22","2026-11-23"],"weather_code":[3,61,0],
    "temperature_2m_max":[15.2,13.8,17.1],"temperature_2m_min":[9.1,10.4,8.7],
    "precipitation_sum":[0.0,6.3,0.0],"precipitation_probability_max":[10,85,null],
    "wind_speed_10m_max":[18.4,27.0,12.2]}})";

const std::string sf_current_target =
    "/v1/forecast?latitude=37.77493&longitude=-122.41942&current=temperature_2m,relative_"
    "humidity_2m,apparent_temperature,precipitation,weather_code,wind_speed_10m,wind_direction_"
    "10m&timezone=auto";
const std::string sf_forecast_target =
    "/v1/forecast?latitude=37.77493&longitude=-122.41942&daily=weather_code,temperature_2m_max,"
    "temperature_2m_min,precipitation_sum,precipitation_probability_max,wind_speed_10m_max&"
    "forecast_days=3&timezone=auto";
const std::string sf_search_target =
    "/v1/search?name=San%20Francisco&count=1&language=en&format=json";

// A self-signed certificate for IP 127.0.0.1 (PEM cert, PEM key), made at run time.
std::pair<std::string, std::string> self_signed_cert() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
  };
  std::string cert = pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
  std::string priv =
      pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(x);
  EVP_PKEY_free(key);
  return {cert, priv};
}

// A fake Open-Meteo: every connection on its own thread, one request per connection; plain HTTP,
// or HTTPS when given a certificate and key.
class fake_open_meteo {
 public:
  struct reply {
    unsigned status = 200;
    std::string body;
    std::chrono::milliseconds delay{0};
  };
  using handler = std::function<reply(const std::string& target, std::size_t nth)>;

  explicit fake_open_meteo(std::optional<std::pair<std::string, std::string>> tls = std::nullopt)
      : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    if (tls) {
      tls_.emplace(ssl::context::tls_server);
      tls_->use_certificate_chain(net::buffer(tls->first));
      tls_->use_private_key(net::buffer(tls->second), ssl::context::pem);
    }
    port_ = acceptor_.local_endpoint().port();
    handler_ = [](const std::string& target, std::size_t) { return canned(target); };
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~fake_open_meteo() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket poke(ioc_);
    poke.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    accept_thread_.join();
    for (auto& t : workers_) t.join();
  }

  std::string url() const {
    return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_);
  }
  unsigned short port() const { return port_; }
  void set_handler(handler h) {
    std::lock_guard lk(mu_);
    handler_ = std::move(h);
  }
  std::vector<std::string> targets() {
    std::lock_guard lk(mu_);
    return targets_;
  }

  // Open-Meteo-shaped answers for the requests the server makes.
  static reply canned(const std::string& target) {
    if (target == sf_search_target) return {200, sf_search};
    if (target.starts_with("/v1/search")) return {200, R"({"generationtime_ms":0.3})"};
    if (target.starts_with("/v1/forecast") && target.find("daily=") != std::string::npos)
      return {200, daily_metric};
    if (target.starts_with("/v1/forecast") && target.find("fahrenheit") != std::string::npos)
      return {200, current_imperial};
    if (target.starts_with("/v1/forecast")) return {200, current_metric};
    return {404, R"({"error":true,"reason":"Not Found"})"};
  }

 private:
  void accept_loop() {
    while (!stop_) {
      tcp::socket s(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) break;
      workers_.emplace_back([this, s = std::move(s)]() mutable { serve(std::move(s)); });
    }
  }
  void serve(tcp::socket s) {
    if (!tls_) return exchange(s);
    boost::system::error_code ec;
    ssl::stream<tcp::socket&> stream(s, *tls_);
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) return;
    exchange(stream);
    stream.shutdown(ec);
  }
  template <class Stream>
  void exchange(Stream& s) {
    boost::system::error_code ec;
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    http::read(s, buf, req, ec);
    if (ec) return;
    std::string target(req.target());
    handler h;
    std::size_t nth = 0;
    {
      std::lock_guard lk(mu_);
      targets_.push_back(target);
      nth = targets_.size();
      h = handler_;
    }
    reply r = h(target, nth);
    auto until = std::chrono::steady_clock::now() + r.delay;
    while (!stop_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
    res.set(http::field::content_type, "application/json");
    res.body() = r.body;
    res.prepare_payload();
    http::write(s, res, ec);
    if constexpr (std::is_same_v<Stream, tcp::socket>) s.shutdown(tcp::socket::shutdown_both, ec);
  }

  net::io_context ioc_;
  std::optional<ssl::context> tls_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  handler handler_;
  std::vector<std::string> targets_;
};

// Every number as a double, so 81 and 81.0 compare equal (the values stay exact).
json::value norm(const json::value& v) {
  if (v.is_int64()) return json::value(static_cast<double>(v.get_int64()));
  if (v.is_uint64()) return json::value(static_cast<double>(v.get_uint64()));
  if (v.is_array()) {
    json::array a;
    for (const auto& e : v.get_array()) a.push_back(norm(e));
    return a;
  }
  if (v.is_object()) {
    json::object o;
    for (const auto& kv : v.get_object()) o[kv.key()] = norm(kv.value());
    return o;
  }
  return v;
}

struct WeatherTest : ::testing::Test {
  fake_open_meteo provider;
  std::unique_ptr<server::server> srv;
  std::shared_ptr<capture> out = std::make_shared<capture>();
  std::unique_ptr<server::connection> conn;
  std::int64_t next_id = 1;

  servers::weather_config config() {
    servers::weather_config c;
    c.base_url = provider.url();
    c.geocoding_url = provider.url();
    c.timeout = 2000ms;
    c.retries = 2;
    c.retry_backoff = 10ms;
    c.cache_ttl = 60s;
    return c;
  }
  void start(servers::weather_config c) {
    srv = servers::make_weather_server(std::move(c));
    conn = std::make_unique<server::connection>(*srv, out, server::connection_options{});
  }
  void start() { start(config()); }

  json::object call(std::string_view name, json::object args) {
    auto id = next_id++;
    conn->receive(
        modern_request(id, "tools/call", {{"name", name}, {"arguments", std::move(args)}}));
    auto r = out->response(id, 20s);
    EXPECT_TRUE(r) << "no response to " << name;
    if (!r) return {};
    auto& o = r->as_object();
    EXPECT_TRUE(o.contains("result")) << json::dump(*r);
    return o.contains("result") ? o.at("result").as_object() : json::object{};
  }
  static std::string text_of(const json::object& result) {
    return std::string(result.at("content").as_array().at(0).as_object().at("text").as_string());
  }
  static bool is_error(const json::object& result) {
    auto it = result.find("isError");
    return it != result.end() && it->value() == true;
  }
};

TEST_F(WeatherTest, ListsFourReadOnlyOpenWorldToolsWithOutputSchemas) {
  start();
  conn->receive(modern_request(1, "tools/list"));
  auto r = out->response(1);
  ASSERT_TRUE(r);
  const auto& tools = r->as_object().at("result").as_object().at("tools").as_array();
  ASSERT_EQ(tools.size(), 4u);
  std::vector<std::string> names;
  for (const auto& t : tools) {
    const auto& o = t.as_object();
    names.emplace_back(o.at("name").as_string());
    const auto& a = o.at("annotations").as_object();
    EXPECT_EQ(a.at("readOnlyHint"), true) << names.back();
    EXPECT_EQ(a.at("openWorldHint"), true) << names.back();
    EXPECT_EQ(a.at("destructiveHint"), false) << names.back();
    EXPECT_TRUE(o.contains("outputSchema")) << names.back();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"get_weather", "get_forecast", "geocode", "health"}));
  const auto& fc = tools.at(1).as_object().at("inputSchema").as_object();
  EXPECT_EQ(fc.at("required"), json::value(json::array{"days"}));
  EXPECT_EQ(fc.at("properties").as_object().at("days").as_object().at("maximum"), 16);
  wire_schema("2026-07-28").expect_valid("ListToolsResult", r->as_object().at("result"));
}

TEST_F(WeatherTest, GeocodeReturnsPlaces) {
  start();
  auto r = call("geocode", {{"name", "San Francisco"}, {"count", 1}});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  EXPECT_EQ(norm(r.at("structuredContent")), norm(boost::json::parse(R"({"query":"San Francisco",
    "results":[{"name":"San Francisco","latitude":37.77493,"longitude":-122.41942,
    "elevation":16,"country":"United States","country_code":"US","admin1":"California",
    "timezone":"America/Los_Angeles","population":864816}]})")));
  EXPECT_EQ(provider.targets(), (std::vector<std::string>{sf_search_target}));
  wire_schema("2026-07-28").expect_valid("CallToolResult", r);

  auto none = call("geocode", {{"name", "Nowhere Land"}});
  EXPECT_EQ(none.at("structuredContent"),
            boost::json::parse(R"({"query":"Nowhere Land","results":[]})"));
  EXPECT_EQ(provider.targets().back(),
            "/v1/search?name=Nowhere%20Land&count=5&language=en&format=json");
}

TEST_F(WeatherTest, DemoFlowWeatherInSanFranciscoGeocodesThenForecasts) {
  start();
  auto r = call("get_forecast", {{"location", "San Francisco"}, {"days", 3}});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  auto expected = boost::json::parse(R"({
    "location":{"name":"San Francisco","latitude":37.77493,"longitude":-122.41942,
                "country":"United States","admin1":"California","timezone":"America/Los_Angeles"},
    "units":{"temperature":"°C","wind_speed":"km/h","precipitation":"mm"},
    "days":[
      {"date":"2026-11-21","weather_code":3,"conditions":"Overcast","temperature_max":15.2,
       "temperature_min":9.1,"precipitation_sum":0,"precipitation_probability_max":10,
       "wind_speed_max":18.4},
      {"date":"2026-11-22","weather_code":61,"conditions":"Slight rain","temperature_max":13.8,
       "temperature_min":10.4,"precipitation_sum":6.3,"precipitation_probability_max":85,
       "wind_speed_max":27},
      {"date":"2026-11-23","weather_code":0,"conditions":"Clear sky","temperature_max":17.1,
       "temperature_min":8.7,"precipitation_sum":0,"wind_speed_max":12.2}]})");
  EXPECT_EQ(norm(r.at("structuredContent")), norm(expected));
  // The text mirror is the same JSON.
  EXPECT_EQ(norm(boost::json::parse(text_of(r))), norm(expected));
  EXPECT_EQ(provider.targets(), (std::vector<std::string>{sf_search_target, sf_forecast_target}));
  wire_schema("2026-07-28").expect_valid("CallToolResult", r);
}

TEST_F(WeatherTest, CurrentWeatherByCoordinatesAndUnits) {
  start();
  auto r = call("get_weather", {{"latitude", 37.77493}, {"longitude", -122.41942}});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  EXPECT_EQ(norm(r.at("structuredContent")), norm(boost::json::parse(R"({
    "location":{"latitude":37.77493,"longitude":-122.41942,"timezone":"America/Los_Angeles"},
    "time":"2026-11-21T07:00","temperature":12.4,"apparent_temperature":10.9,
    "relative_humidity":81,"precipitation":0,"wind_speed":9.7,"wind_direction":270,
    "weather_code":3,"conditions":"Overcast",
    "units":{"temperature":"°C","wind_speed":"km/h","precipitation":"mm"}})")));
  EXPECT_EQ(provider.targets(), (std::vector<std::string>{sf_current_target}));

  auto imp =
      call("get_weather", {{"latitude", 40.71}, {"longitude", -74.01}, {"units", "imperial"}});
  ASSERT_FALSE(is_error(imp)) << json::dump(imp);
  const auto& s = imp.at("structuredContent").as_object();
  EXPECT_EQ(s.at("temperature"), 41.2);
  EXPECT_EQ(s.at("conditions"), "Slight rain");
  EXPECT_EQ(
      s.at("units"),
      boost::json::parse(R"({"temperature":"°F","wind_speed":"mp/h","precipitation":"inch"})"));
  EXPECT_EQ(provider.targets().back(),
            "/v1/forecast?latitude=40.71&longitude=-74.01&current=temperature_2m,relative_"
            "humidity_2m,apparent_temperature,precipitation,weather_code,wind_speed_10m,wind_"
            "direction_10m&temperature_unit=fahrenheit&wind_speed_unit=mph&precipitation_unit="
            "inch&timezone=auto");
}

TEST_F(WeatherTest, BadArgumentsAreToolErrors) {
  start();
  auto none = call("get_weather", json::object{});
  EXPECT_TRUE(is_error(none));
  EXPECT_EQ(text_of(none), "give a location, or both latitude and longitude");
  auto half = call("get_weather", {{"latitude", 10}});
  EXPECT_EQ(text_of(half), "give a location, or both latitude and longitude");
  auto both = call("get_weather", {{"location", "Paris"}, {"latitude", 1}, {"longitude", 2}});
  EXPECT_EQ(text_of(both), "give either location or latitude and longitude, not both");
  auto unknown = call("get_weather", {{"location", "Atlantis"}});
  EXPECT_TRUE(is_error(unknown));
  EXPECT_EQ(text_of(unknown), "no place found for \"Atlantis\"");
  // Schema violations are caught before the handler runs.
  auto days = call("get_forecast", {{"latitude", 1}, {"longitude", 2}, {"days", 17}});
  EXPECT_TRUE(is_error(days));
  EXPECT_NE(text_of(days).find("/days"), std::string::npos) << text_of(days);
  auto lat = call("get_weather", {{"latitude", 91}, {"longitude", 2}});
  EXPECT_TRUE(is_error(lat));
  EXPECT_NE(text_of(lat).find("/latitude"), std::string::npos) << text_of(lat);
  auto units = call("get_weather", {{"latitude", 1}, {"longitude", 2}, {"units", "kelvin"}});
  EXPECT_TRUE(is_error(units));
  EXPECT_NE(text_of(units).find("/units"), std::string::npos) << text_of(units);
  // Only the Atlantis search reached the provider.
  EXPECT_EQ(provider.targets(),
            (std::vector<std::string>{"/v1/search?name=Atlantis&count=1&language=en&format=json"}));
}

TEST_F(WeatherTest, ServerErrorsAreRetriedThenSucceed) {
  start();
  provider.set_handler([](const std::string& target, std::size_t nth) -> fake_open_meteo::reply {
    if (nth <= 2) return {500, R"({"error":true,"reason":"upstream busy"})"};
    return fake_open_meteo::canned(target);
  });
  auto r = call("get_weather", {{"latitude", 37.77493}, {"longitude", -122.41942}});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  EXPECT_EQ(r.at("structuredContent").as_object().at("temperature"), 12.4);
  EXPECT_EQ(provider.targets(),
            (std::vector<std::string>{sf_current_target, sf_current_target, sf_current_target}));
}

// Open-Meteo answers 429 when a client goes over its rate limit: worth another try.
TEST_F(WeatherTest, RateLimitedAnswersAreRetried) {
  start();
  provider.set_handler([](const std::string& target, std::size_t nth) -> fake_open_meteo::reply {
    if (nth == 1) return {429, R"({"error":true,"reason":"Too many requests"})"};
    return fake_open_meteo::canned(target);
  });
  auto r = call("get_weather", {{"latitude", 37.77493}, {"longitude", -122.41942}});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  EXPECT_EQ(provider.targets(), (std::vector<std::string>{sf_current_target, sf_current_target}));
  auto h = call("health", json::object{});
  EXPECT_EQ(h.at("structuredContent").as_object().at("upstream_requests"), 2);
}

TEST_F(WeatherTest, PersistentServerErrorNamesProviderAndReason) {
  auto c = config();
  c.retries = 1;
  start(c);
  provider.set_handler([](const std::string&, std::size_t) -> fake_open_meteo::reply {
    return {503, R"({"error":true,"reason":"maintenance"})"};
  });
  auto r = call("get_weather", {{"latitude", 1}, {"longitude", 2}});
  EXPECT_TRUE(is_error(r));
  EXPECT_EQ(text_of(r), "weather provider " + provider.url() +
                            " failed after 2 attempts: HTTP 503: maintenance");
  EXPECT_EQ(provider.targets().size(), 2u);
}

TEST_F(WeatherTest, ClientErrorsAreNotRetried) {
  start();
  provider.set_handler([](const std::string&, std::size_t) -> fake_open_meteo::reply {
    return {400, R"({"error":true,"reason":"Latitude must be in range of -90 to 90°."})"};
  });
  auto r = call("get_forecast", {{"latitude", 1}, {"longitude", 2}, {"days", 2}});
  EXPECT_TRUE(is_error(r));
  EXPECT_EQ(text_of(r), "weather provider " + provider.url() +
                            " failed after 1 attempt: HTTP 400: Latitude must be in range of -90 "
                            "to 90°.");
  EXPECT_EQ(provider.targets().size(), 1u);
}

TEST_F(WeatherTest, SlowProviderTimesOut) {
  auto c = config();
  c.timeout = 200ms;
  c.retries = 1;
  start(c);
  provider.set_handler([](const std::string& target, std::size_t) {
    auto r = fake_open_meteo::canned(target);
    r.delay = 1500ms;
    return r;
  });
  auto begin = std::chrono::steady_clock::now();
  auto r = call("geocode", {{"name", "San Francisco"}});
  auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_TRUE(is_error(r));
  EXPECT_EQ(text_of(r), "geocoding provider " + provider.url() +
                            " failed after 2 attempts: timed out after 200 ms");
  EXPECT_EQ(provider.targets().size(), 2u);
  EXPECT_LT(took, 1400ms);  // did not wait for the slow answers
}

TEST_F(WeatherTest, UnreachableProviderIsAClearToolError) {
  // A port that was just free: nothing listens there.
  unsigned short port = 0;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  auto c = config();
  c.base_url = "http://127.0.0.1:" + std::to_string(port) + "/";
  c.retries = 0;
  start(c);
  auto r = call("get_weather", {{"latitude", 1}, {"longitude", 2}});
  EXPECT_TRUE(is_error(r));
  EXPECT_EQ(text_of(r), "weather provider http://127.0.0.1:" + std::to_string(port) +
                            " failed after 1 attempt: Connection refused");
}

TEST_F(WeatherTest, CacheServesRepeatsWithoutTheProvider) {
  auto c = config();
  c.cache_ttl = 300ms;
  start(c);
  auto a = call("get_forecast", {{"location", "San Francisco"}, {"days", 3}});
  auto b = call("get_forecast", {{"location", "San Francisco"}, {"days", 3}});
  ASSERT_FALSE(is_error(a));
  EXPECT_EQ(a.at("structuredContent"), b.at("structuredContent"));
  EXPECT_EQ(provider.targets().size(), 2u);  // search + forecast, once
  auto h = call("health", json::object{});
  EXPECT_EQ(h.at("structuredContent"),
            boost::json::parse(R"({"status":"ok","forecast_url":")" + provider.url() +
                               R"(","geocoding_url":")" + provider.url() +
                               R"(","cache_entries":2,"cache_hits":2,"cache_misses":2,)"
                               R"("upstream_requests":2})"));
  std::this_thread::sleep_for(400ms);  // past the TTL
  call("get_forecast", {{"location", "San Francisco"}, {"days", 3}});
  EXPECT_EQ(provider.targets(), (std::vector<std::string>{sf_search_target, sf_forecast_target,
                                                          sf_search_target, sf_forecast_target}));
}

TEST_F(WeatherTest, CacheIsBoundedAndCanBeDisabled) {
  auto c = config();
  c.cache_max_entries = 2;
  start(c);
  for (int lat = 1; lat <= 3; ++lat) call("get_weather", {{"latitude", lat}, {"longitude", 0}});
  auto h = call("health", json::object{});
  EXPECT_EQ(h.at("structuredContent").as_object().at("cache_entries"), 2);
  // The least recently used entry (latitude 1) was evicted; latitude 3 is still cached.
  call("get_weather", {{"latitude", 3}, {"longitude", 0}});
  EXPECT_EQ(provider.targets().size(), 3u);
  call("get_weather", {{"latitude", 1}, {"longitude", 0}});
  EXPECT_EQ(provider.targets().size(), 4u);

  fake_open_meteo other;
  auto d = config();
  d.base_url = other.url();
  d.cache_ttl = 0ms;
  conn.reset();
  srv.reset();
  start(d);
  call("get_weather", {{"latitude", 1}, {"longitude", 0}});
  call("get_weather", {{"latitude", 1}, {"longitude", 0}});
  EXPECT_EQ(other.targets().size(), 2u);
}

TEST_F(WeatherTest, HttpsProviderWithVerifiedCertificate) {
  auto cert = self_signed_cert();
  fake_open_meteo secure(cert);
  auto ca = std::filesystem::temp_directory_path() /
            ("plexus-weather-ca-" + std::to_string(::getpid()) + ".pem");
  std::ofstream(ca) << cert.first;
  auto c = config();
  c.base_url = secure.url();
  c.geocoding_url = secure.url();
  c.ca_file = ca.string();
  start(c);
  auto r = call("get_forecast", {{"location", "San Francisco"}, {"days", 3}});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  EXPECT_EQ(r.at("structuredContent").at("days").as_array().size(), 3u);
  EXPECT_EQ(secure.targets(), (std::vector<std::string>{sf_search_target, sf_forecast_target}));

  // Without the test CA the certificate is refused, once (not retried).
  auto d = c;
  d.ca_file.clear();
  conn.reset();
  srv.reset();
  start(d);
  auto bad = call("get_weather", {{"latitude", 1}, {"longitude", 2}});
  EXPECT_TRUE(is_error(bad));
  const std::string prefix = "weather provider " + secure.url() + " failed after 1 attempt: ";
  EXPECT_TRUE(text_of(bad).starts_with(prefix)) << text_of(bad);
  EXPECT_NE(text_of(bad).find("certificate verify failed"), std::string::npos) << text_of(bad);
  EXPECT_EQ(secure.targets().size(), 2u);  // the refused handshake sent no request
  std::filesystem::remove(ca);
}

TEST_F(WeatherTest, InvalidProviderUrlIsRejectedAtStartup) {
  servers::weather_config c;
  c.base_url = "ftp://example.invalid";
  EXPECT_THROW(servers::make_weather_server(c), std::invalid_argument);
}

}  // namespace
