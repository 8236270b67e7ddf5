#include "plexus/servers/builtin.hpp"

#include "plexus/servers/database.hpp"
#include "plexus/servers/everything.hpp"
#include "plexus/servers/filesystem.hpp"
#include "plexus/servers/memory.hpp"
#include "plexus/servers/weather.hpp"

#include <filesystem>

namespace plexus::servers {
namespace {

struct builtin_entry {
  std::string_view name;
  std::string_view summary;
  std::unique_ptr<server::server> (*make)(const builtin_settings&, server::server_options);
};

std::string in_data_dir(const builtin_settings& s, const std::string& file) {
  std::filesystem::create_directories(s.data_dir);
  return (std::filesystem::path(s.data_dir) / file).string();
}

std::unique_ptr<server::server> make_weather(const builtin_settings& s, server::server_options o) {
  weather_config wc;
  wc.base_url = s.weather_url;
  wc.geocoding_url = s.geocoding_url;
  if (s.cache_seconds < 0) throw builtin_error("weather: cache_seconds must be >= 0");
  wc.cache_ttl = std::chrono::milliseconds(static_cast<std::int64_t>(s.cache_seconds * 1000));
  return make_weather_server(wc, std::move(o));
}

std::unique_ptr<server::server> make_database(const builtin_settings& s, server::server_options o) {
  database_config dc;
  dc.sqlite_path = s.database.empty() ? in_data_dir(s, "database.db") : s.database;
  dc.allow_writes = s.allow_writes;
  dc.max_rows = s.max_rows;
  return make_database_server(dc, std::move(o));
}

std::unique_ptr<server::server> make_filesystem(const builtin_settings& s,
                                                server::server_options o) {
  filesystem_config fc;
  fc.roots = s.roots;
  if (fc.roots.empty()) fc.roots.push_back(std::filesystem::current_path().string());
  fc.max_read_bytes = s.max_file_bytes;
  fc.max_write_bytes = s.max_file_bytes;
  fc.read_only = s.read_only;
  return make_filesystem_server(std::move(fc), std::move(o));
}

std::unique_ptr<server::server> make_memory(const builtin_settings& s, server::server_options o) {
  return make_memory_server({.database_path = in_data_dir(s, "memory.db")}, std::move(o));
}

std::unique_ptr<server::server> make_everything(const builtin_settings&, server::server_options o) {
  return make_everything_server(std::move(o));
}

// The order is the order of `plexus run` and of help texts.
const builtin_entry entries[] = {
    {"weather", "current conditions, forecasts and geocoding (Open-Meteo compatible)",
     make_weather},
    {"database", "SQL over SQLite: query, execute, list_tables, describe_table", make_database},
    {"filesystem", "files under allowed roots: read, write, edit, list, search, move",
     make_filesystem},
    {"memory", "a persistent knowledge graph of entities, relations and observations", make_memory},
    {"everything", "the conformance fixture: every MCP feature in one server", make_everything},
};

}  // namespace

std::vector<std::string> builtin_server_names() {
  std::vector<std::string> names;
  for (const auto& e : entries) names.emplace_back(e.name);
  return names;
}

std::string builtin_server_summary(std::string_view name) {
  for (const auto& e : entries)
    if (e.name == name) return std::string(e.summary);
  return {};
}

std::unique_ptr<server::server> make_builtin_server(std::string_view name,
                                                    const builtin_settings& settings,
                                                    server::server_options options) {
  for (const auto& e : entries)
    if (e.name == name) return e.make(settings, std::move(options));
  std::string known;
  for (const auto& e : entries) known += (known.empty() ? "" : ", ") + std::string(e.name);
  throw builtin_error("unknown built-in server '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace plexus::servers
