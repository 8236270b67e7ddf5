// `plexus conformance-client URL`: performs what each conformance scenario expects.
#include "conformance_client.hpp"

#include "plexus/client/client.hpp"
#include "plexus/client/oauth.hpp"
#include "plexus/client/transport.hpp"
#include "plexus/protocol/versions.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <memory>

namespace plexus::cli {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// Accepts with every schema default filled in (SEP-1034); booleans without a
// default are confirmed.
json::object accept_with_defaults(const json::object& params) {
  json::object content;
  if (auto schema = json::find_object(params, "requestedSchema"))
    if (auto props = json::find_object(*schema, "properties"))
      for (const auto& kv : *props) {
        if (!kv.value().is_object()) continue;
        const auto& p = kv.value().get_object();
        if (auto d = p.find("default"); d != p.end())
          content[kv.key()] = d->value();
        else if (auto t = json::find_string(p, "type"); t && *t == "boolean")
          content[kv.key()] = true;
      }
  return json::object{{"action", "accept"}, {"content", content}};
}

int fail(const std::string& what) {
  std::cerr << "conformance-client: " << what << "\n";
  return 1;
}

}  // namespace

int run_conformance_client(const std::string& url) {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "conformance-client", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  spdlog::set_level(spdlog::level::warn);
  const std::string scenario = env("MCP_CONFORMANCE_SCENARIO");
  const std::string version = env("MCP_CONFORMANCE_PROTOCOL_VERSION");
  json::object context;
  if (auto c = env("MCP_CONFORMANCE_CONTEXT"); !c.empty()) {
    boost::system::error_code ec;
    auto v = boost::json::parse(c, ec);
    if (!ec && v.is_object()) context = v.get_object();
  }
  const bool modern = protocol::is_modern_version(version);
  auto ctx = [&](const char* key) {
    auto s = json::find_string(context, key);
    return s ? std::string(*s) : std::string();
  };

  client::http_transport_options topts;
  std::shared_ptr<client::oauth::oauth_client> oauth;
  if (scenario.starts_with("auth/")) {
    client::oauth::options o;
    o.client_name = "plexus-conformance-client";
    o.redirect_uri = "http://localhost:3000/callback";
    o.client_metadata_url = "https://conformance-test.local/client-metadata.json";
    o.client_id = ctx("client_id");
    o.client_secret = ctx("client_secret");
    o.private_key_pem = ctx("private_key_pem");
    o.signing_algorithm = ctx("signing_algorithm");
    if (scenario.starts_with("auth/client-credentials"))
      o.flow = client::oauth::grant::client_credentials;
    if (scenario == "auth/wif-jwt-bearer") {
      o.flow = client::oauth::grant::jwt_bearer;
      o.assertion = ctx("valid_jwt");
    }
    if (scenario == "auth/enterprise-managed-authorization" ||
        scenario == "auth/cross-app-access-complete-flow") {
      o.flow = client::oauth::grant::enterprise;
      o.idp_token_endpoint = ctx("idp_token_endpoint");
      o.idp_client_id = ctx("idp_client_id");
      o.idp_id_token = ctx("idp_id_token");
    }
    o.log = [](const std::string& m) { std::cerr << "oauth: " << m << "\n"; };
    oauth = std::make_shared<client::oauth::oauth_client>(url, std::move(o));
    topts.auth = oauth->hook();
  }
  auto transport = client::make_http_transport(url, topts);

  client::client_options copts;
  copts.info = {.name = "plexus-conformance-client", .version = PLEXUS_VERSION};
  copts.mode = modern ? client::version_mode::modern_only : client::version_mode::legacy_only;
  if (!modern && !version.empty() && protocol::is_legacy_version(version))
    copts.legacy_version = version;
  copts.handlers.elicitation = [](const json::object& p) -> client::result<json::object> {
    return accept_with_defaults(p);
  };
  copts.handlers.sampling = [](const json::object&) -> client::result<json::object> {
    return json::object{{"role", "assistant"},
                        {"content", json::object{{"type", "text"}, {"text", "ok"}}},
                        {"model", "plexus-conformance"},
                        {"stopReason", "endTurn"}};
  };
  copts.handlers.roots = [](const json::object&) -> client::result<json::object> {
    return json::object{{"roots", json::array{}}};
  };
  copts.request_timeout = std::chrono::seconds(30);

  auto connected = client::client::connect(std::move(transport), copts);
  if (!connected && modern && connected.error().code == -32022) {
    // request-metadata rejects the first POST whatever its version: connect again.
    connected = client::client::connect(client::make_http_transport(url, topts), copts);
  }
  if (!connected) {
    std::string why = connected.error().describe();
    if (oauth && !oauth->last_error().empty()) why += " (" + oauth->last_error() + ")";
    return fail("connect: " + why);
  }
  auto& c = **connected;

  auto check = [](const auto& r, const std::string& what) {
    if (!r) {
      std::cerr << "conformance-client: " << what << ": " << r.error().describe() << "\n";
      return false;
    }
    return true;
  };

  bool ok = true;
  if (scenario == "initialize") {
    ok = check(c.list_tools(), "tools/list");
  } else if (scenario == "tools_call") {
    ok = check(c.list_tools(), "tools/list") &&
         check(c.call_tool("add_numbers", json::object{{"a", 5}, {"b", 3}}), "add_numbers");
  } else if (scenario == "elicitation-sep1034-client-defaults") {
    ok = check(c.list_tools(), "tools/list") &&
         check(c.call_tool("test_client_elicitation_defaults"), "call");
  } else if (scenario == "sse-retry") {
    ok = check(c.list_tools(), "tools/list") && check(c.call_tool("test_reconnection"), "call");
  } else if (scenario == "sep-2322-client-request-state") {
    (void)c.list_tools();
    for (const char* t : {"test_mrtr_echo_state", "test_mrtr_no_state", "test_mrtr_unrelated",
                          "test_mrtr_no_result_type"})
      ok = check(c.call_tool(t), t) && ok;
  } else if (scenario == "http-standard-headers") {
    ok = check(c.list_tools(), "tools/list");
    ok = check(c.call_tool("test_headers"), "tools/call") && ok;
    ok = check(c.list_resources(), "resources/list") && ok;
    ok = check(c.read_resource("file:///path/to/file%20name.txt"), "resources/read") && ok;
    ok = check(c.list_prompts(), "prompts/list") && ok;
    ok = check(c.get_prompt("test_prompt"), "prompts/get") && ok;
  } else if (scenario == "http-custom-headers") {
    ok = check(c.list_tools(), "tools/list");
    if (auto calls = json::find_array(context, "toolCalls"))
      for (const auto& call : *calls) {
        if (!call.is_object()) continue;
        auto name = json::find_string(call.get_object(), "name");
        auto args = json::find_object(call.get_object(), "arguments");
        if (!name) continue;
        ok = check(c.call_tool(std::string(*name), args ? *args : json::object{}),
                   std::string(*name)) &&
             ok;
      }
  } else if (scenario == "http-invalid-tool-headers") {
    auto tools = c.list_tools();
    ok = check(tools, "tools/list");
    if (ok)
      for (const auto& t : *tools)
        if (auto n = json::find_string(t, "name"); n && *n == "valid_tool")
          ok = check(c.call_tool("valid_tool", json::object{{"region", "us-west1"}}), "valid_tool");
  } else if (scenario == "json-schema-2020-12-preservation") {
    auto tools = c.list_tools();
    ok = check(tools, "tools/list");
    if (ok)
      for (const auto& t : *tools)
        if (auto n = json::find_string(t, "name"); n && *n == "json_schema_2020_12_tool") {
          auto schema = json::find_object(t, "inputSchema");
          ok = check(c.call_tool("json_schema_echo",
                                 json::object{{"schema", schema ? *schema : json::object{}}}),
                     "json_schema_echo");
        }
  } else if (scenario.starts_with("auth/")) {
    auto tools = c.list_tools();
    ok = check(tools, "tools/list");
    if (ok && !tools->empty()) {
      auto n = json::find_string(tools->front(), "name");
      std::string name = n ? std::string(*n) : "test-tool";
      for (const auto& t : *tools)
        if (auto tn = json::find_string(t, "name"); tn && *tn == "test-tool") name = "test-tool";
      ok = check(c.call_tool(name), "tools/call");
    }
  } else {
    // Unknown scenario: list and call the first tool.
    auto tools = c.list_tools();
    ok = check(tools, "tools/list");
    if (ok && !tools->empty())
      if (auto n = json::find_string(tools->front(), "name"))
        ok = check(c.call_tool(std::string(*n)), "tools/call");
  }
  c.close();
  if (oauth && !oauth->last_error().empty())
    std::cerr << "conformance-client: oauth: " << oauth->last_error() << "\n";
  return ok ? 0 : 1;
}

void add_conformance_client_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "conformance-client",
      "Run one MCP conformance client scenario (MCP_CONFORMANCE_* environment) against URL");
  auto url = std::make_shared<std::string>();
  sub->add_option("url", *url, "The scenario's MCP server URL")->required();
  sub->callback([url] { std::exit(run_conformance_client(*url)); });
}

}  // namespace plexus::cli
