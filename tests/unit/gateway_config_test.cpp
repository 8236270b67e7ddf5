// plexus::gateway configuration: both file formats (plexus.yaml and the
// mcpServers JSON of Claude Desktop, Cursor and VS Code), environment expansion,
// every validation error with its line, glob matching, examples/plexus.yaml and the
// default configuration written by `plexus init`.
#include "plexus/gateway/config.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace plexus::gateway;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

bool has_builtin(const std::string& name) {
  auto names = plexus::servers::builtin_server_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

const upstream_config& upstream(const gateway_config& cfg, const std::string& name) {
  for (const auto& u : cfg.upstreams)
    if (u.name == name) return u;
  throw std::runtime_error("no upstream " + name);
}

// Parses `text` expecting a config_error; returns it (a failed assertion otherwise).
config_error error_of(const std::string& text) {
  try {
    parse_config(text, "test.yaml");
  } catch (const config_error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return config_error("", 0, "");
}

// Asserts the error's line and that its message contains `fragment`.
#define EXPECT_CONFIG_ERROR(text, expected_line, fragment)                                         \
  do {                                                                                             \
    auto err = error_of(text);                                                                     \
    EXPECT_EQ(err.line(), expected_line) << err.what();                                            \
    EXPECT_NE(err.what_is_wrong().find(fragment), std::string::npos) << err.what();                \
    EXPECT_EQ(                                                                                     \
        std::string(err.what()).rfind("test.yaml:" + std::to_string(expected_line) + ": ", 0), 0u) \
        << err.what();                                                                             \
  } while (0)

struct scoped_env {
  std::string name;
  scoped_env(std::string n, const char* value) : name(std::move(n)) {
    if (value)
      ::setenv(name.c_str(), value, 1);
    else
      ::unsetenv(name.c_str());
  }
  ~scoped_env() { ::unsetenv(name.c_str()); }
};

}  // namespace

// ----- glob_match -------------------------------------------------------------

TEST(GatewayGlobTest, MatchesStarAndQuestionMark) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("weather_*", "weather_get_forecast"));
  EXPECT_TRUE(glob_match("weather_*", "weather_"));
  EXPECT_FALSE(glob_match("weather_*", "weather"));
  EXPECT_TRUE(glob_match("*_forecast", "weather_get_forecast"));
  EXPECT_TRUE(glob_match("*get*", "weather_get_forecast"));
  EXPECT_TRUE(glob_match("fs_read_?", "fs_read_x"));
  EXPECT_FALSE(glob_match("fs_read_?", "fs_read_"));
  EXPECT_FALSE(glob_match("fs_read_?", "fs_read_xy"));
  EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
  EXPECT_TRUE(glob_match("exact", "exact"));
  EXPECT_FALSE(glob_match("exact", "Exact"));  // case-sensitive
  EXPECT_FALSE(glob_match("exact", "exactly"));
  EXPECT_FALSE(glob_match("", "x"));
  EXPECT_TRUE(glob_match("", ""));
  EXPECT_TRUE(glob_match("**?*", "z"));
  EXPECT_FALSE(glob_match("**?*", ""));
}

TEST(GatewayGlobTest, PathologicalPatternIsFast) {
  std::string text(2000, 'a');
  std::string pattern;
  for (int i = 0; i < 50; ++i) pattern += "a*";
  pattern += "b";
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(glob_match(pattern, text));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

// ----- plexus.yaml ------------------------------------------------------------

TEST(GatewayConfigTest, ParsesEveryPlexusYamlOption) {
  auto cfg = parse_config(R"(
gateway:
  separator: "__"
  data_dir: /var/lib/plexus
  listen: 127.0.0.1:8080
  allowed_hosts: [mcp.example.com]
  allowed_origins: [https://app.example.com]
  worker_threads: 16
  access_log: false
  rest_api: false
upstreams:
  files:
    prefix: f
    enabled: false
    command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem", /tmp]
    env: {DEBUG: "1"}
    cwd: /tmp
    tools:
      allow: ["read_*", list_directory]
      deny: ["*_write*"]
    timeout: 250ms
    connect_timeout: 5
    circuit_breaker: {failures: 3, cooldown: 1m}
    restart: {backoff: 1s, max_backoff: 1h}
  remote:
    url: https://mcp.example.com/mcp
    headers: {X-Api-Key: abc}
    ca_file: ca.pem
    client_cert: client.pem
    client_key: client.key
    verify_tls: false
    oauth: {client_id: plexus, client_secret: s3cret, scope: "read write", token_file: t.json}
  socket:
    url: wss://ws.example.com/mcp
  sql:
    builtin: database
    options: {allow_writes: true, max_rows: 10, database: /tmp/x.db}
  fs:
    builtin: filesystem
    options: {roots: [/srv/a, /srv/b], read_only: true, max_file_bytes: 1024, data_dir: elsewhere}
  wx:
    builtin: weather
    options:
      weather_url: http://127.0.0.1:9/
      geocoding_url: http://127.0.0.1:9/geo
      cache_seconds: 1.5
      redis_url: redis://127.0.0.1:6379/0
virtual_servers:
  readonly:
    upstreams: [wx, fs]
    tools: ["wx_*", "fs_read_*"]
  everything: {}
)",
                          "inline");
  EXPECT_EQ(cfg.source, "inline");
  EXPECT_EQ(cfg.separator, "__");
  EXPECT_EQ(cfg.data_dir, "/var/lib/plexus");
  EXPECT_EQ(cfg.listen_http, "127.0.0.1:8080");
  EXPECT_EQ(cfg.allowed_hosts, std::vector<std::string>{"mcp.example.com"});
  EXPECT_EQ(cfg.allowed_origins, std::vector<std::string>{"https://app.example.com"});
  EXPECT_EQ(cfg.worker_threads, 16u);
  EXPECT_FALSE(cfg.access_log);
  EXPECT_FALSE(cfg.rest_api);
  ASSERT_EQ(cfg.upstreams.size(), 6u);
  EXPECT_EQ(cfg.upstreams[0].name, "files");  // file order is kept

  const auto& files = upstream(cfg, "files");
  EXPECT_EQ(files.prefix, "f");
  EXPECT_FALSE(files.enabled);
  EXPECT_EQ(files.kind, upstream_kind::stdio);
  EXPECT_EQ(files.command, "npx");
  EXPECT_EQ(files.args,
            (std::vector<std::string>{"-y", "@modelcontextprotocol/server-filesystem", "/tmp"}));
  EXPECT_EQ(files.env.at("DEBUG"), "1");
  EXPECT_EQ(files.cwd, "/tmp");
  EXPECT_EQ(files.allow_tools, (std::vector<std::string>{"read_*", "list_directory"}));
  EXPECT_EQ(files.deny_tools, std::vector<std::string>{"*_write*"});
  EXPECT_EQ(files.timeout, 250ms);
  EXPECT_EQ(files.connect_timeout, 5s);
  EXPECT_EQ(files.breaker_failures, 3);
  EXPECT_EQ(files.breaker_cooldown, 1min);
  EXPECT_EQ(files.restart_backoff, 1s);
  EXPECT_EQ(files.restart_backoff_max, 1h);
  EXPECT_EQ(files.line, 12);

  const auto& remote = upstream(cfg, "remote");
  EXPECT_EQ(remote.kind, upstream_kind::http);
  EXPECT_EQ(remote.prefix, "remote");
  EXPECT_TRUE(remote.enabled);
  EXPECT_EQ(remote.url, "https://mcp.example.com/mcp");
  EXPECT_EQ(remote.headers.at("X-Api-Key"), "abc");
  EXPECT_EQ(remote.ca_file, "ca.pem");
  EXPECT_EQ(remote.client_cert_file, "client.pem");
  EXPECT_EQ(remote.client_key_file, "client.key");
  EXPECT_FALSE(remote.verify_tls);
  EXPECT_TRUE(remote.oauth.enabled);
  EXPECT_EQ(remote.oauth.client_id, "plexus");
  EXPECT_EQ(remote.oauth.client_secret, "s3cret");
  EXPECT_EQ(remote.oauth.scope, "read write");
  EXPECT_EQ(remote.oauth.token_file, "t.json");
  EXPECT_EQ(remote.timeout, 60s);  // defaults
  EXPECT_EQ(remote.breaker_failures, 5);

  EXPECT_EQ(upstream(cfg, "socket").kind, upstream_kind::websocket);
  EXPECT_FALSE(upstream(cfg, "socket").oauth.enabled);

  const auto& sql = upstream(cfg, "sql");
  EXPECT_EQ(sql.kind, upstream_kind::builtin);
  EXPECT_EQ(sql.builtin, "database");
  EXPECT_TRUE(sql.builtin_settings.allow_writes);
  EXPECT_EQ(sql.builtin_settings.max_rows, 10u);
  EXPECT_EQ(sql.builtin_settings.database, "/tmp/x.db");
  EXPECT_EQ(sql.builtin_settings.data_dir, "/var/lib/plexus");  // from gateway.data_dir

  const auto& fsu = upstream(cfg, "fs");
  EXPECT_EQ(fsu.builtin_settings.roots, (std::vector<std::string>{"/srv/a", "/srv/b"}));
  EXPECT_TRUE(fsu.builtin_settings.read_only);
  EXPECT_EQ(fsu.builtin_settings.max_file_bytes, 1024u);
  EXPECT_EQ(fsu.builtin_settings.data_dir, "elsewhere");

  const auto& wx = upstream(cfg, "wx");
  EXPECT_EQ(wx.builtin_settings.weather_url, "http://127.0.0.1:9/");
  EXPECT_EQ(wx.builtin_settings.geocoding_url, "http://127.0.0.1:9/geo");
  EXPECT_DOUBLE_EQ(wx.builtin_settings.cache_seconds, 1.5);
  EXPECT_EQ(wx.builtin_settings.redis_url, "redis://127.0.0.1:6379/0");

  ASSERT_EQ(cfg.virtual_servers.size(), 2u);
  EXPECT_EQ(cfg.virtual_servers[0].name, "readonly");
  EXPECT_EQ(cfg.virtual_servers[0].upstreams, (std::vector<std::string>{"wx", "fs"}));
  EXPECT_EQ(cfg.virtual_servers[0].tools, (std::vector<std::string>{"wx_*", "fs_read_*"}));
  EXPECT_EQ(cfg.virtual_servers[0].line, 50);
  EXPECT_TRUE(cfg.virtual_servers[1].upstreams.empty());
  EXPECT_TRUE(cfg.virtual_servers[1].tools.empty());
}

TEST(GatewayConfigTest, DefaultsWhenSectionsAreMissing) {
  auto cfg = parse_config("upstreams:\n  w: {builtin: weather}\n", "x");
  EXPECT_EQ(cfg.separator, "_");
  EXPECT_EQ(cfg.data_dir, "plexus-data");
  EXPECT_EQ(cfg.listen_http, "");
  EXPECT_EQ(cfg.worker_threads, 64u);
  EXPECT_TRUE(cfg.access_log);
  EXPECT_TRUE(cfg.rest_api);
  ASSERT_EQ(cfg.upstreams.size(), 1u);
  EXPECT_EQ(cfg.upstreams[0].builtin_settings.data_dir, "plexus-data");
  // gateway.data_dir applies even when `gateway:` comes after the upstreams.
  cfg = parse_config("upstreams:\n  w: {builtin: weather}\ngateway: {data_dir: /d}\n", "x");
  EXPECT_EQ(cfg.upstreams[0].builtin_settings.data_dir, "/d");
  EXPECT_TRUE(parse_config("upstreams: {}\n", "x").upstreams.empty());
}

TEST(GatewayConfigTest, DurationsAndOauthShorthand) {
  auto cfg = parse_config(R"(upstreams:
  a: {url: "http://h/mcp", timeout: 1.5, connect_timeout: 2h, oauth: true}
  b: {url: "http://h2/mcp", timeout: "0.5s", oauth: false}
)",
                          "x");
  EXPECT_EQ(upstream(cfg, "a").timeout, 1500ms);
  EXPECT_EQ(upstream(cfg, "a").connect_timeout, 2h);
  EXPECT_TRUE(upstream(cfg, "a").oauth.enabled);
  EXPECT_EQ(upstream(cfg, "b").timeout, 500ms);
  EXPECT_FALSE(upstream(cfg, "b").oauth.enabled);
}

TEST(GatewayConfigTest, ExpandsEnvironmentVariables) {
  scoped_env token("PLEXUS_TEST_TOKEN", "t0k3n");
  scoped_env empty("PLEXUS_TEST_EMPTY", "");
  scoped_env unset("PLEXUS_TEST_UNSET", nullptr);
  scoped_env workers("PLEXUS_TEST_WORKERS", "12");
  auto cfg = parse_config(R"(gateway:
  worker_threads: ${PLEXUS_TEST_WORKERS}
upstreams:
  r:
    url: https://${PLEXUS_TEST_UNSET:-example.com}/mcp
    headers:
      Authorization: Bearer ${PLEXUS_TEST_TOKEN}
      X-Empty: "[${PLEXUS_TEST_EMPTY}]"
      X-Defaulted: "${PLEXUS_TEST_EMPTY:-fallback}"
      X-Literal: "$${PLEXUS_TEST_TOKEN} costs $5"
      X-Env-Prefix: "${env:PLEXUS_TEST_TOKEN}"
)",
                          "x");
  EXPECT_EQ(cfg.worker_threads, 12u);
  const auto& r = upstream(cfg, "r");
  EXPECT_EQ(r.url, "https://example.com/mcp");
  EXPECT_EQ(r.headers.at("Authorization"), "Bearer t0k3n");
  EXPECT_EQ(r.headers.at("X-Empty"), "[]");
  EXPECT_EQ(r.headers.at("X-Defaulted"), "fallback");
  EXPECT_EQ(r.headers.at("X-Literal"), "${PLEXUS_TEST_TOKEN} costs $5");
  EXPECT_EQ(r.headers.at("X-Env-Prefix"), "t0k3n");
}

TEST(GatewayConfigTest, EnvironmentErrors) {
  scoped_env unset("PLEXUS_TEST_UNSET", nullptr);
  EXPECT_CONFIG_ERROR(
      "upstreams:\n  r:\n    url: http://h/\n    headers:\n      A: ${PLEXUS_TEST_UNSET}\n", 5,
      "environment variable PLEXUS_TEST_UNSET is not set");
  EXPECT_CONFIG_ERROR("upstreams:\n  r: {command: \"${PLEXUS_TEST_UNSET\"}\n", 2,
                      "unterminated ${");
  EXPECT_CONFIG_ERROR("upstreams:\n  r: {command: \"${1BAD}\"}\n", 2, "${NAME:-default}");
  EXPECT_CONFIG_ERROR("upstreams:\n  r: {command: \"${input:key}\"}\n", 2,
                      "VS Code input variables are not supported");
}

// ----- plexus.yaml errors: each with its line ----------------------------------

TEST(GatewayConfigErrorTest, SyntaxError) {
  EXPECT_CONFIG_ERROR("upstreams:\n  a: {command: x\n  b: 1\n", 3, "YAML syntax error");
  EXPECT_CONFIG_ERROR("upstreams: [1, 2\n\n", 3, "YAML syntax error");
}

TEST(GatewayConfigErrorTest, EmptyOrNotAMapping) {
  auto err = error_of("# nothing\n");
  EXPECT_EQ(err.line(), 0);
  EXPECT_NE(err.what_is_wrong().find("empty"), std::string::npos);
  EXPECT_EQ(std::string(err.what()).rfind("test.yaml: ", 0), 0u) << err.what();
  EXPECT_CONFIG_ERROR("\n- a\n- b\n", 2, "expected a mapping at the top level");
}

TEST(GatewayConfigErrorTest, UnknownKeysSuggestTheClosest) {
  EXPECT_CONFIG_ERROR("upstream:\n  a: {builtin: weather}\n", 1,
                      "top level: unknown key \"upstream\"; did you mean \"upstreams\"?");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    comand: npx\n", 3,
                      "upstreams.a: unknown key \"comand\"; did you mean \"command\"?");
  EXPECT_CONFIG_ERROR("gateway:\n  worker_thread: 3\n", 2, "did you mean \"worker_threads\"?");
  auto err = error_of("gateway:\n  zzzzzzzzzz: 3\n");
  EXPECT_EQ(err.what_is_wrong().find("did you mean"), std::string::npos) << err.what();
  EXPECT_NE(err.what_is_wrong().find("allowed: separator, data_dir, listen"), std::string::npos)
      << err.what();
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    builtin: weather\n    options: {cache_second: 1}\n", 4,
                      "did you mean \"cache_seconds\"?");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    url: http://h/\n    oauth: {client: x}\n", 4,
                      "upstreams.a.oauth: unknown key \"client\"");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    tools: {alow: [x]}\n", 4,
                      "did you mean \"allow\"?");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    circuit_breaker: {failure: 2}\n", 4,
                      "did you mean \"failures\"?");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    restart:\n      max: 2s\n", 5,
                      "upstreams.a.restart: unknown key \"max\"");
  EXPECT_CONFIG_ERROR("upstreams:\n  a: {command: x}\nvirtual_servers:\n  v:\n    upstream: [a]\n",
                      5, "did you mean \"upstreams\"?");
}

TEST(GatewayConfigErrorTest, DuplicateKeys) {
  EXPECT_CONFIG_ERROR("upstreams:\n  a: {command: x}\n  a: {command: y}\n", 3,
                      "upstreams.a: duplicate key (first at line 2)");
}

TEST(GatewayConfigErrorTest, WrongTypes) {
  EXPECT_CONFIG_ERROR("gateway:\n  worker_threads: many\n", 2,
                      "gateway.worker_threads: expected an integer, got \"many\"");
  EXPECT_CONFIG_ERROR("gateway:\n  worker_threads: 0\n", 2, "must be between 1 and 4096");
  EXPECT_CONFIG_ERROR("gateway:\n  access_log: maybe\n", 2, "expected true or false");
  EXPECT_CONFIG_ERROR("gateway:\n  separator: [a]\n", 2, "gateway.separator: expected a string");
  EXPECT_CONFIG_ERROR("gateway:\n  allowed_hosts: localhost\n", 2, "expected a list");
  EXPECT_CONFIG_ERROR("gateway: 3\n", 1, "gateway: expected a mapping");
  EXPECT_CONFIG_ERROR("upstreams: [a, b]\n", 1, "upstreams: expected a mapping");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n", 2, "upstreams.a: expected a mapping with one of");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    args: --verbose\n", 4,
                      "upstreams.a.args: expected a list");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    args:\n      - ok\n      - {k: v}\n",
                      6, "upstreams.a.args[1]: expected a string");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    env: [A=1]\n", 4,
                      "upstreams.a.env: expected a mapping");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    builtin: database\n    options: {max_rows: -1}\n", 4,
                      "must be between 1");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    builtin: weather\n    options: {cache_seconds: x}\n",
                      4, "expected a number");
  EXPECT_CONFIG_ERROR("gateway:\n  separator: \".\"\n", 2, "separator \".\"");
  EXPECT_CONFIG_ERROR("gateway:\n  listen: 8080\n", 2, "expected HOST:PORT");
  EXPECT_CONFIG_ERROR("gateway:\n  listen: localhost:http\n", 2, "port \"http\"");
  EXPECT_CONFIG_ERROR("gateway:\n  listen: localhost:70000\n", 2, "0 to 65535");
  EXPECT_EQ(parse_config("gateway: {listen: \"[::1]:0\"}\n", "x").listen_http, "[::1]:0");
}

TEST(GatewayConfigErrorTest, ExactlyOneOfCommandUrlBuiltin) {
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    prefix: x\n", 2, "needs one of command");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    url: http://h/\n", 2,
                      "command and url cannot be combined");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    builtin: weather\n    command: x\n", 2,
                      "builtin and command cannot be combined");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    builtin: weather\n    headers: {A: b}\n", 4,
                      "upstreams.a.headers: applies only to url upstreams");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    url: http://h/\n    args: [x]\n", 4,
                      "applies only to command upstreams");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    options: {}\n", 4,
                      "applies only to builtin upstreams");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: \"\"\n", 3, "cannot be empty");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    url: http://h/\n    client_key: k.pem\n", 2,
                      "client_key needs client_cert");
}

TEST(GatewayConfigTest, ChildProcessesInheritTheSchedulingPolicyUnlessToldBatch) {
  auto cfg = parse_config(
      "upstreams:\n  a: {command: x}\n  b: {command: x, scheduling: inherit}\n"
      "  c: {command: x, scheduling: batch}\n",
      "x");
  EXPECT_FALSE(upstream(cfg, "a").batch_scheduling);
  EXPECT_FALSE(upstream(cfg, "b").batch_scheduling);
  EXPECT_TRUE(upstream(cfg, "c").batch_scheduling);
  auto servers =
      parse_config(R"({"mcpServers": {"s": {"command": "x", "scheduling": "batch"}}})", "x.json");
  EXPECT_TRUE(upstream(servers, "s").batch_scheduling);
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    scheduling: idle\n", 4,
                      "expected batch or inherit, got \"idle\"");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    url: http://h/\n    scheduling: batch\n", 4,
                      "applies only to command upstreams");
}

TEST(GatewayConfigErrorTest, UnknownBuiltinAndMisplacedOption) {
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    builtin: wether\n", 3,
                      "unknown built-in server \"wether\"; did you mean \"weather\"?");
  auto err = error_of("upstreams:\n  a:\n    builtin: nope\n");
  EXPECT_NE(err.what_is_wrong().find("available: weather"), std::string::npos) << err.what();
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    builtin: weather\n    options:\n      roots: [/]\n", 5,
                      "upstreams.a.options.roots: does not apply to the weather server (it is for: "
                      "filesystem)");
  EXPECT_CONFIG_ERROR(
      "upstreams:\n  a:\n    builtin: database\n    options:\n      postgres: host=h\n"
      "      database: x.db\n",
      6, "upstreams.a.options.database: give either database (SQLite) or postgres, not both");
}

TEST(GatewayConfigErrorTest, BadUrls) {
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    url: ftp://h/\n", 3,
                      "must start with http://, https://, ws:// or wss://");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    url: mcp.example.com\n", 3, "must start with http://");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    url: http:///mcp\n", 3, "has no host");
  EXPECT_CONFIG_ERROR(
      "upstreams:\n  a:\n    builtin: weather\n    options:\n      weather_url: ws://h/\n", 5,
      "must start with http:// or https://");
  EXPECT_CONFIG_ERROR(
      "upstreams:\n  a:\n    builtin: weather\n    options:\n      redis_url: 127.0.0.1\n", 5,
      "expected redis://");
}

TEST(GatewayConfigErrorTest, BadNamesAndDuplicatePrefixes) {
  EXPECT_CONFIG_ERROR("upstreams:\n  my server:\n    command: x\n", 2,
                      "upstream name \"my server\" must be 1 to 32 characters of A-Z a-z 0-9 _ -");
  EXPECT_CONFIG_ERROR("upstreams:\n  " + std::string(33, 'a') + ":\n    command: x\n", 2,
                      "must be 1 to 32 characters");
  EXPECT_NO_THROW(parse_config("upstreams:\n  " + std::string(32, 'a') + ": {command: x}\n", "x"));
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    prefix: a.b\n", 4,
                      "upstreams.a.prefix: prefix \"a.b\" must be");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n  b:\n    command: y\n    prefix: a\n", 4,
                      "upstreams.b: prefix \"a\" is already used by upstream a (line 2)");
  EXPECT_CONFIG_ERROR("upstreams:\n  a: {command: x}\nvirtual_servers:\n  bad/name: {}\n", 4,
                      "virtual server name \"bad/name\"");
}

TEST(GatewayConfigErrorTest, VirtualServerNamesUnknownUpstream) {
  EXPECT_CONFIG_ERROR(
      "upstreams:\n  weather: {builtin: weather}\nvirtual_servers:\n  v:\n    upstreams:\n"
      "      - weather\n      - wheather\n",
      7,
      "virtual_servers.v.upstreams[1]: unknown upstream \"wheather\"; did you mean \"weather\"?");
  EXPECT_CONFIG_ERROR("virtual_servers:\n  v: {upstreams: [x]}\n", 2, "no upstreams are defined");
}

TEST(GatewayConfigErrorTest, InvalidGlobs) {
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    tools:\n      allow: [\"[ab]*\"]\n", 5,
                      "upstreams.a.tools.allow[0]: invalid glob \"[ab]*\": only * and ? are");
  EXPECT_CONFIG_ERROR(
      "upstreams:\n  a:\n    command: x\n    tools:\n      deny:\n        - ok\n"
      "        - \"\"\n",
      7, "a glob cannot be empty");
  EXPECT_CONFIG_ERROR(
      "upstreams:\n  a: {command: x}\nvirtual_servers:\n  v:\n    tools: [\"a b\"]\n", 5,
      "spaces and control characters");
}

TEST(GatewayConfigErrorTest, BadDurations) {
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    timeout: soon\n", 4,
                      "upstreams.a.timeout: expected a duration like 250ms, 30s, 5m, 1h or a "
                      "number of seconds, got \"soon\"");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    timeout: 30 s\n", 4,
                      "expected a duration");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    timeout: 5d\n", 4,
                      "expected a duration");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    timeout: -1s\n", 4,
                      "expected a duration");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    timeout: 0\n", 4,
                      "must be more than zero");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    circuit_breaker:\n      cooldown: x\n",
                      5, "upstreams.a.circuit_breaker.cooldown: expected a duration");
  EXPECT_CONFIG_ERROR(
      "upstreams:\n  a:\n    command: x\n    restart: {backoff: 10s, max_backoff: 1s}\n", 4,
      "max_backoff must be at least backoff");
}

TEST(GatewayConfigErrorTest, LoadConfigNamesTheFile) {
  std::string tmpl = fs::temp_directory_path().string() + "/plexus-cfg-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  std::string path = tmpl + "/bad.yaml";
  std::ofstream(path) << "upstreams:\n  a:\n    timeout: 1s\n    comand: x\n";
  try {
    load_config(path);
    ADD_FAILURE() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.line(), 4);
    EXPECT_EQ(std::string(e.what()).rfind(path + ":4: upstreams.a: unknown key \"comand\"", 0), 0u)
        << e.what();
  }
  try {
    load_config(tmpl + "/missing.yaml");
    ADD_FAILURE() << "no error";
  } catch (const config_error& e) {
    EXPECT_EQ(e.line(), 0);
    EXPECT_NE(std::string(e.what()).find("missing.yaml: cannot read"), std::string::npos);
  }
  std::error_code ec;
  fs::remove_all(tmpl, ec);
}

TEST(GatewayConfigErrorTest, HostileInputNeverCrashes) {
  // Anchors, tags, binary, deep nesting: errors, never crashes or hangs.
  const char* inputs[] = {
      "upstreams: &a\n  x: *a\n",
      "upstreams:\n  a: !!binary aGVsbG8=\n",
      "upstreams:\n  a: {command: !!int x}\n",
      "\xff\xfe\x00",
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
      "upstreams:\n  ? [a, b]\n  : {command: x}\n",
      "mcpServers: [1]\n",
      "mcpServers:\n  x: 3\n",
      "{\"mcpServers\": {\"a\": {\"command\": [\"x\"]}}}",
  };
  for (const char* text : inputs) {
    try {
      parse_config(text, "hostile");
    } catch (const config_error&) {
    }
  }
}

// ----- mcpServers JSON ----------------------------------------------------------

TEST(GatewayConfigMcpServersTest, ClaudeDesktop) {
  scoped_env key("PLEXUS_TEST_BRAVE", "brave-key");
  // claude_desktop_config.json as Claude Desktop writes it (tabs, other top-level keys).
  auto cfg = parse_config(
      "{\n"
      "\t\"globalShortcut\": \"Ctrl+Space\",\n"
      "\t\"mcpServers\": {\n"
      "\t\t\"filesystem\": {\n"
      "\t\t\t\"command\": \"npx\",\n"
      "\t\t\t\"args\": [\"-y\", \"@modelcontextprotocol/server-filesystem\", "
      "\"/Users/me/Desktop\"]\n"
      "\t\t},\n"
      "\t\t\"brave search\": {\n"
      "\t\t\t\"command\": \"npx\",\n"
      "\t\t\t\"args\": [\"-y\", \"@modelcontextprotocol/server-brave-search\"],\n"
      "\t\t\t\"env\": {\"BRAVE_API_KEY\": \"${PLEXUS_TEST_BRAVE}\", \"PORT\": 8080}\n"
      "\t\t},\n"
      "\t\t\"old\": {\"command\": \"uvx\", \"args\": [\"mcp-server-git\"], \"disabled\": true}\n"
      "\t}\n"
      "}\n",
      "claude_desktop_config.json");
  ASSERT_EQ(cfg.upstreams.size(), 3u);
  const auto& f = cfg.upstreams[0];
  EXPECT_EQ(f.name, "filesystem");
  EXPECT_EQ(f.prefix, "filesystem");
  EXPECT_EQ(f.kind, upstream_kind::stdio);
  EXPECT_EQ(f.command, "npx");
  EXPECT_EQ(f.args.size(), 3u);
  EXPECT_TRUE(f.enabled);
  EXPECT_EQ(f.line, 4);
  const auto& b = cfg.upstreams[1];
  EXPECT_EQ(b.name, "brave_search");  // made safe for tool names
  EXPECT_EQ(b.prefix, "brave_search");
  EXPECT_EQ(b.env.at("BRAVE_API_KEY"), "brave-key");
  EXPECT_EQ(b.env.at("PORT"), "8080");
  EXPECT_FALSE(cfg.upstreams[2].enabled);
  EXPECT_EQ(cfg.separator, "_");  // gateway defaults
}

TEST(GatewayConfigMcpServersTest, Cursor) {
  scoped_env key("PLEXUS_TEST_GH", "ghp_x");
  // ~/.cursor/mcp.json: local and remote servers, ${env:NAME}.
  auto cfg = parse_config(R"({
  "mcpServers": {
    "github": {
      "url": "https://api.githubcopilot.com/mcp/",
      "headers": {"Authorization": "Bearer ${env:PLEXUS_TEST_GH}"}
    },
    "sse-server": {"type": "sse", "url": "http://localhost:8000/sse"},
    "ws": {"url": "ws://127.0.0.1:9000/mcp"},
    "local": {"type": "stdio", "command": "python", "args": ["server.py"], "cwd": "/srv"},
    "local.dup": {"command": "a"},
    "local_dup": {"command": "b"}
  }
}
)",
                          ".cursor/mcp.json");
  ASSERT_EQ(cfg.upstreams.size(), 6u);
  EXPECT_EQ(cfg.upstreams[0].kind, upstream_kind::http);
  EXPECT_EQ(cfg.upstreams[0].headers.at("Authorization"), "Bearer ghp_x");
  EXPECT_EQ(cfg.upstreams[1].name, "sse-server");
  EXPECT_EQ(cfg.upstreams[1].kind, upstream_kind::http);
  EXPECT_EQ(cfg.upstreams[2].kind, upstream_kind::websocket);
  EXPECT_EQ(cfg.upstreams[3].cwd, "/srv");
  EXPECT_EQ(cfg.upstreams[4].prefix, "local_dup");
  EXPECT_EQ(cfg.upstreams[5].prefix, "local_dup_2");  // deterministic, unique
}

TEST(GatewayConfigMcpServersTest, VsCode) {
  // .vscode/mcp.json: "servers" with explicit types, and "inputs" (not ours).
  auto cfg = parse_config(R"({
  "inputs": [{"type": "promptString", "id": "api-key", "description": "Key", "password": true}],
  "servers": {
    "memory": {"type": "stdio", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"],
               "env": {"MEMORY_FILE_PATH": "/tmp/memory.json"}},
    "remote": {"type": "http", "url": "https://example.com/mcp", "headers": {"X-Key": "k"}}
  }
}
)",
                          ".vscode/mcp.json");
  ASSERT_EQ(cfg.upstreams.size(), 2u);
  EXPECT_EQ(cfg.upstreams[0].name, "memory");
  EXPECT_EQ(cfg.upstreams[0].kind, upstream_kind::stdio);
  EXPECT_EQ(cfg.upstreams[0].env.at("MEMORY_FILE_PATH"), "/tmp/memory.json");
  EXPECT_EQ(cfg.upstreams[1].kind, upstream_kind::http);
  EXPECT_EQ(cfg.upstreams[1].headers.at("X-Key"), "k");
}

TEST(GatewayConfigMcpServersTest, ErrorsGiveLines) {
  EXPECT_CONFIG_ERROR("{\n  \"mcpServers\": {\n    \"a\": {\"args\": [\"x\"]}\n  }\n}\n", 3,
                      "mcpServers.a: needs \"command\" (a local server) or \"url\"");
  EXPECT_CONFIG_ERROR(
      "{\n  \"mcpServers\": {\n    \"a\": {\n      \"command\": \"x\",\n      \"url\": "
      "\"http://h/\"\n    }\n  }\n}\n",
      3, "cannot be combined");
  EXPECT_CONFIG_ERROR("{\"mcpServers\": {\n  \"a\": {\n    \"url\": \"file:///x\"\n  }\n}}\n", 3,
                      "mcpServers.a.url: URL \"file:///x\" must start with http://");
  EXPECT_CONFIG_ERROR(
      "{\"servers\": {\n  \"a\": {\"type\": \"grpc\", \"url\": \"http://h/\"}\n}}\n", 2,
      "servers.a.type: unknown type \"grpc\"");
  EXPECT_CONFIG_ERROR(
      "{\"servers\": {\n  \"a\": {\"type\": \"stdio\", \"url\": \"http://h/\"}\n}}\n", 2,
      "type stdio needs \"command\"");
  EXPECT_CONFIG_ERROR("{\"mcpServers\": {\n  \"a\": {\"command\": \"x\",\n  \"args\": \"y\"}}}\n",
                      3, "mcpServers.a.args: expected a list");
  EXPECT_CONFIG_ERROR(
      "{\"mcpServers\": {\n  \"a\": {\"command\": \"x\",\n  \"env\": {\"A\": [1]}}}}\n", 3,
      "mcpServers.a.env.A: expected a string");
  EXPECT_CONFIG_ERROR(
      "{\"mcpServers\": {\n  \"a\": {\"command\": \"x\",\n  \"disabled\": \"sure\"}}}\n", 3,
      "expected true or false");
  EXPECT_CONFIG_ERROR(
      "{\n\"mcpServers\": {\n  \"a\": {\"command\": \"x\"},\n  \"a\": {\"command\": \"y\"}}}\n", 4,
      "duplicate key (first at line 3)");
  EXPECT_CONFIG_ERROR("{\"mcpServers\": {\n  \"a\": {\"command\": \"x\"\n  }\n", 4,
                      "YAML syntax error");
}

TEST(GatewayConfigMcpServersTest, ServersKeyInPlexusYamlIsNotVsCode) {
  // A plexus.yaml with a stray `servers:` key is reported as plexus.yaml, not taken as VS Code.
  EXPECT_CONFIG_ERROR("upstreams: {}\nservers:\n  a: {command: x}\n", 2,
                      "top level: unknown key \"servers\"");
}

// ----- shipped files -------------------------------------------------------------

TEST(GatewayConfigFilesTest, ExamplePlexusYamlLoads) {
  scoped_env token("REMOTE_MCP_TOKEN", "t");
  scoped_env secret("PLEXUS_OAUTH_SECRET", "s");
  scoped_env key("OPENAI_API_KEY", "k");
  std::string path = std::string(PLEXUS_SOURCE_DIR) + "/examples/plexus.yaml";
  bool all_builtins = has_builtin("wallet") && has_builtin("knowledge");
  if (!all_builtins) {
    // The wallet and knowledge servers are not registered in this build: the example
    // mounts them, so the only acceptable error is that one.
    try {
      load_config(path);
    } catch (const config_error& e) {
      EXPECT_NE(e.what_is_wrong().find("unknown built-in server"), std::string::npos) << e.what();
    }
    return;
  }
  gateway_config cfg;
  ASSERT_NO_THROW(cfg = load_config(path));
  EXPECT_FALSE(cfg.upstreams.empty());
  EXPECT_FALSE(cfg.virtual_servers.empty());
  bool kinds[4] = {};
  for (const auto& u : cfg.upstreams) kinds[static_cast<int>(u.kind)] = true;
  EXPECT_TRUE(kinds[0] && kinds[1] && kinds[2] && kinds[3]) << "every upstream kind is shown";
}

TEST(GatewayConfigFilesTest, DefaultConfigRoundTrips) {
  auto text = default_config_yaml("my data");
  auto cfg = parse_config(text, "plexus.yaml");
  EXPECT_EQ(cfg.data_dir, "my data");
  EXPECT_EQ(cfg.separator, "_");
  std::map<std::string, std::string> expected = {{"weather", "weather"},     {"database", "sqlite"},
                                                 {"filesystem", "fs"},       {"wallet", "wallet"},
                                                 {"knowledge", "knowledge"}, {"memory", "memory"}};
  std::size_t mounted = 0;
  for (const auto& [builtin, prefix] : expected) {
    if (!has_builtin(builtin)) continue;
    ++mounted;
    const auto& u = upstream(cfg, prefix);
    EXPECT_EQ(u.kind, upstream_kind::builtin);
    EXPECT_EQ(u.builtin, builtin);
    EXPECT_EQ(u.prefix, prefix);
    EXPECT_EQ(u.builtin_settings.data_dir, "my data");
  }
  EXPECT_EQ(cfg.upstreams.size(), mounted);
  EXPECT_GE(mounted, 4u);
  EXPECT_EQ(upstream(cfg, "fs").builtin_settings.roots, std::vector<std::string>{"my data/files"});
  // Characters that mean something in YAML or to ${} expansion survive.
  cfg = parse_config(default_config_yaml("/tmp/a \"b\" ${HOME}\\c"), "plexus.yaml");
  EXPECT_EQ(cfg.data_dir, "/tmp/a \"b\" ${HOME}\\c");
}

TEST(GatewayConfigTest, RateLimits) {
  auto cfg = parse_config(
      "gateway:\n  rate_limit: {requests_per_second: 200, burst: 400}\n"
      "upstreams:\n  a:\n    command: x\n    rate_limit:\n      requests_per_second: 2.5\n",
      "test.yaml");
  EXPECT_EQ(cfg.rate_limit.per_second, 200);
  EXPECT_EQ(cfg.rate_limit.burst, 400);
  ASSERT_EQ(cfg.upstreams.size(), 1u);
  EXPECT_EQ(cfg.upstreams[0].rate_limit.per_second, 2.5);
  EXPECT_EQ(cfg.upstreams[0].rate_limit.burst, 0);
  EXPECT_FALSE(
      parse_config("upstreams:\n  a: {command: x}\n", "t").upstreams[0].rate_limit.enabled());
  EXPECT_CONFIG_ERROR("gateway:\n  rate_limit: {burst: 3}\n", 2,
                      "rate_limit needs requests_per_second");
  EXPECT_CONFIG_ERROR("upstreams:\n  a:\n    command: x\n    rate_limit: {requests_per_sec: 1}\n",
                      4, "did you mean \"requests_per_second\"?");
  EXPECT_CONFIG_ERROR("gateway:\n  rate_limit: {requests_per_second: -1}\n", 2,
                      "requests_per_second: expected a number");
}
