// The system's request diagram, end to end through the real binaries: a client asks the
// gateway for the weather in San Francisco → tool discovery → weather_get_forecast → the
// (fake, local) Open-Meteo provider → structured JSON back. And `plexus run`, the main job:
// every built-in server mounted under its prefix, data under one directory.
#include "plexus/client/client.hpp"
#include "plexus/client/transport.hpp"

#include "child_process.hpp"
#include "http_client.hpp"

#include <gtest/gtest.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include "temp_dir.hpp"

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

using namespace plexus;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace net = boost::asio;
namespace http = boost::beast::http;

namespace {

using plexus::testing::temp_dir;

// A fake Open-Meteo on 127.0.0.1: geocoding for San Francisco and a 3-day forecast.
class fake_open_meteo {
 public:
  fake_open_meteo() : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] {
      while (!stop_) {
        net::ip::tcp::socket s(ioc_);
        boost::system::error_code ec;
        acceptor_.accept(s, ec);
        if (ec || stop_) break;
        boost::beast::flat_buffer buf;
        http::request<http::string_body> req;
        http::read(s, buf, req, ec);
        if (ec) continue;
        std::string target(req.target());
        {
          std::lock_guard lk(mu_);
          targets_.push_back(target);
        }
        http::response<http::string_body> res{http::status::ok, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = answer(target);
        if (res.body().empty()) res.result(http::status::not_found);
        res.prepare_payload();
        http::write(s, res, ec);
        s.shutdown(net::ip::tcp::socket::shutdown_both, ec);
      }
    });
  }
  ~fake_open_meteo() {
    stop_ = true;
    boost::system::error_code ec;
    net::ip::tcp::socket poke(ioc_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  std::vector<std::string> targets() {
    std::lock_guard lk(mu_);
    return targets_;
  }

 private:
  static std::string answer(const std::string& target) {
    if (target.starts_with("/v1/search") && target.find("San%20Francisco") != std::string::npos)
      return R"({"results":[{"id":5391959,"name":"San Francisco","latitude":37.77493,
        "longitude":-122.41942,"elevation":16.0,"country_code":"US","timezone":"America/Los_Angeles",
        "country":"United States","admin1":"California"}],"generationtime_ms":0.7})";
    if (target.starts_with("/v1/forecast") && target.find("daily=") != std::string::npos)
      return R"({"latitude":37.763283,"longitude":-122.41286,"utc_offset_seconds":-28800,
        "timezone":"America/Los_Angeles","timezone_abbreviation":"PST","elevation":18.0,
        "daily_units":{"time":"iso8601","weather_code":"wmo code","temperature_2m_max":"°C",
          "temperature_2m_min":"°C","precipitation_sum":"mm","precipitation_probability_max":"%",
          "wind_speed_10m_max":"km/h"},
        "daily":{"time":["2026-11-21","2026-11-22","2026-11-23"],"weather_code":[3,61,0],
          "temperature_2m_max":[15.2,13.8,17.1],"temperature_2m_min":[9.1,10.4,8.7],
          "precipitation_sum":[0.0,6.3,0.0],"precipitation_probability_max":[10,85,null],
          "wind_speed_10m_max":[18.4,27.0,12.2]}})";
    return "";
  }

  net::io_context ioc_;
  net::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> targets_;
};

// Starts the binary and waits for "serving MCP on http://127.0.0.1:PORT/mcp".
std::uint16_t wait_for_port(plexus::testing::child_process& p) {
  static const std::regex ready(R"(serving MCP on http://127\.0\.0\.1:(\d+)/mcp)");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    p.read_line(20ms);
    std::smatch m;
    const std::string& err = p.stderr_text();
    if (std::regex_search(err, m, ready)) return static_cast<std::uint16_t>(std::stoi(m[1].str()));
    if (!p.alive()) throw std::runtime_error("exited at startup: " + err);
  }
  throw std::runtime_error("not serving within 30 s: " + p.stderr_text());
}

std::unique_ptr<client::client> connect_http(std::uint16_t port) {
  auto c = client::client::connect(
      client::make_http_transport("http://127.0.0.1:" + std::to_string(port) + "/mcp"), {});
  if (!c) throw std::runtime_error(c.error().describe());
  return std::move(*c);
}

}  // namespace

TEST(DemoFlow, WeatherInSanFranciscoThroughTheGateway) {
  temp_dir dir;
  fake_open_meteo provider;
  auto config = dir.path / "plexus.yaml";
  std::ofstream(config) << "gateway:\n  data_dir: " << (dir.path / "data").string() << "\n"
                        << "upstreams:\n"
                        << "  weather:\n    builtin: weather\n    options:\n"
                        << "      weather_url: " << provider.url() << "\n"
                        << "      geocoding_url: " << provider.url() << "\n"
                        << "  memory:\n    builtin: memory\n";
  plexus::testing::child_process gw(
      {PLEXUS_BINARY, "gateway", "--config", config.string(), "--http", "127.0.0.1:0"});
  auto port = wait_for_port(gw);
  for (auto mode : {client::version_mode::modern_only, client::version_mode::legacy_only}) {
    client::client_options o;
    o.mode = mode;
    auto c = client::client::connect(
        client::make_http_transport("http://127.0.0.1:" + std::to_string(port) + "/mcp"), o);
    ASSERT_TRUE(c) << c.error().describe();
    // Tool discovery.
    auto tools = (*c)->list_tools();
    ASSERT_TRUE(tools) << tools.error().describe();
    const json::object* forecast = nullptr;
    for (const auto& t : *tools)
      if (json::find_string(t, "name") && *json::find_string(t, "name") == "weather_get_forecast")
        forecast = &t;
    ASSERT_NE(forecast, nullptr);
    EXPECT_NE(json::find_object(*forecast, "outputSchema"), nullptr);
    // The call, through the gateway to the provider and back as structured JSON.
    auto r = (*c)->call_tool("weather_get_forecast",
                             json::object{{"location", "San Francisco"}, {"days", 3}});
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_FALSE(json::find_bool(*r, "isError").value_or(false)) << json::dump(*r);
    auto sc = json::find_object(*r, "structuredContent");
    ASSERT_NE(sc, nullptr) << json::dump(*r);
    auto text = json::dump(*sc);
    EXPECT_NE(text.find("San Francisco"), std::string::npos) << text;
    auto days = json::find_array(*sc, "days");
    ASSERT_NE(days, nullptr) << text;
    EXPECT_EQ(days->size(), 3u);
    EXPECT_NE(text.find("15.2"), std::string::npos) << text;
  }
  auto targets = provider.targets();
  ASSERT_GE(targets.size(), 2u);
  EXPECT_TRUE(targets.front().starts_with("/v1/search?name=San%20Francisco"));
  bool forecast_asked = false;
  for (const auto& t : targets) forecast_asked |= t.starts_with("/v1/forecast");
  EXPECT_TRUE(forecast_asked);
  ::kill(gw.pid(), SIGTERM);  // a clean shutdown exits 0
  EXPECT_EQ(gw.wait_exit(15s).value_or(-1), 0);
}

TEST(DemoFlow, PlexusRunMountsEveryBuiltInServer) {
  temp_dir dir;
  plexus::testing::child_process run(
      {PLEXUS_BINARY, "run", "--data-dir", (dir.path / "data").string(), "--http", "127.0.0.1:0"});
  auto port = wait_for_port(run);
  const std::string& banner = run.stderr_text();
  for (const char* what : {"weather_*", "sqlite_*", "fs_*", "wallet_*", "knowledge_*", "memory_*",
                           "Connect a client", "plexus tools http://127.0.0.1:"})
    EXPECT_NE(banner.find(what), std::string::npos) << what << "\n" << banner;
  auto c = connect_http(port);
  auto tools = c->list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  std::set<std::string> prefixes;
  for (const auto& t : *tools) {
    std::string n(*json::find_string(t, "name"));
    prefixes.insert(n.substr(0, n.find('_')));
  }
  for (const char* p : {"weather", "sqlite", "fs", "wallet", "knowledge", "memory"})
    EXPECT_TRUE(prefixes.count(p)) << p;
  auto ready = plexus::testing::http::exchange(
      port, plexus::testing::http::build_request("GET", "/ready", port));
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  // Data lives under the data directory, in SQLite.
  auto created =
      c->call_tool("wallet_create_account", json::object{{"name", "alice"}, {"currency", "USD"}});
  ASSERT_TRUE(created) << created.error().describe();
  EXPECT_FALSE(json::find_bool(*created, "isError").value_or(false)) << json::dump(*created);
  EXPECT_TRUE(fs::exists(dir.path / "data" / "wallet.db"));
  EXPECT_TRUE(fs::exists(dir.path / "data" / "memory.db"));
  c->close();
  ::kill(run.pid(), SIGTERM);
  EXPECT_EQ(run.wait_exit(15s).value_or(-1), 0);
}
