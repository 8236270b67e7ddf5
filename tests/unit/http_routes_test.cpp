// http_server in-process on 127.0.0.1: extra MCP endpoints (both eras, sessions
// owned by their endpoint), plain routes on their own thread pool, the access
// log hook, and the REST facade (list, call, statuses, OpenAPI document).
#include "../integration/http_client.hpp"
#include "plexus/server/server.hpp"
#include "plexus/transport/http_server.hpp"
#include "plexus/transport/rest_facade.hpp"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <thread>

namespace {

namespace bj = boost::json;
using plexus::testing::http::client;
using plexus::testing::http::header_list;
using plexus::testing::http::response;
using namespace std::chrono_literals;
namespace px = plexus;

constexpr const char* kModern = "2026-07-28";
constexpr const char* kAccept = "application/json, text/event-stream";

bj::object modern_meta() {
  return {{"io.modelcontextprotocol/protocolVersion", kModern},
          {"io.modelcontextprotocol/clientCapabilities", bj::object{}},
          {"io.modelcontextprotocol/clientInfo",
           bj::object{{"name", "http-routes-test"}, {"version", "1"}}}};
}

std::string rpc(int id, std::string_view method, bj::object params = {}) {
  bj::object o{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.empty()) o["params"] = std::move(params);
  return bj::serialize(o);
}

std::string modern_rpc(int id, std::string_view method, bj::object params = {}) {
  params["_meta"] = modern_meta();
  return rpc(id, method, std::move(params));
}

header_list modern_headers(std::string_view method) {
  return {{"Content-Type", "application/json"},
          {"Accept", kAccept},
          {"MCP-Protocol-Version", kModern},
          {"Mcp-Method", std::string(method)}};
}

header_list legacy_headers(std::string session = {}) {
  header_list h{{"Content-Type", "application/json"}, {"Accept", kAccept}};
  if (!session.empty()) {
    h.emplace_back("Mcp-Session-Id", session);
    h.emplace_back("MCP-Protocol-Version", "2025-06-18");
  }
  return h;
}

std::string initialize_body() {
  return rpc(1, "initialize",
             {{"protocolVersion", "2025-06-18"},
              {"capabilities", bj::object{}},
              {"clientInfo", bj::object{{"name", "t"}, {"version", "1"}}}});
}

std::optional<response> exchange(std::uint16_t port, std::string_view method,
                                 std::string_view target, const header_list& headers = {},
                                 std::string_view body = {},
                                 std::chrono::milliseconds timeout = 10s) {
  client c(port);
  if (!c.connected() || !c.send_request(method, target, headers, body)) return std::nullopt;
  return c.read_response(timeout);
}

bj::value json_of(const std::optional<response>& r) {
  if (!r) return nullptr;
  boost::system::error_code ec;
  auto v = bj::parse(r->body, ec);
  return ec ? bj::value(nullptr) : v;
}

// The names in a tools/list result (or the REST list).
std::vector<std::string> tool_names(const bj::value& v) {
  std::vector<std::string> names;
  const bj::object* o = v.if_object();
  if (!o) return names;
  if (auto* r = o->if_contains("result")) o = r->if_object();
  if (!o) return names;
  if (auto* tools = o->if_contains("tools"); tools && tools->is_array())
    for (const auto& t : tools->get_array()) names.emplace_back(t.at("name").as_string());
  return names;
}

px::protocol::tool make_tool(std::string name, bj::object input,
                             std::optional<bj::value> output = {}) {
  px::protocol::tool t;
  t.name = std::move(name);
  t.description = "A test tool";
  t.input_schema = std::move(input);
  t.output_schema = std::move(output);
  return t;
}

// A main server (echo, fail, slow, ask) and a second one (second_tool).
struct servers {
  px::server::server main{{.name = "main-test", .version = "1.2.3"}};
  px::server::server second{{.name = "second-test", .version = "1.0.0"}};

  servers() {
    main.add_tool(make_tool("echo",
                            {{"type", "object"},
                             {"properties", {{"text", {{"type", "string"}}}}},
                             {"required", bj::array{"text"}}},
                            bj::object{{"type", "object"},
                                       {"properties", {{"echoed", {{"type", "string"}}}}},
                                       {"required", bj::array{"echoed"}}}),
                  [](px::server::context&, const bj::object& args) {
                    std::string text(args.at("text").as_string());
                    auto r = px::server::tool_result::text(text);
                    r.structured_content = bj::object{{"echoed", text}};
                    return r;
                  });
    main.add_tool(make_tool("fail", {{"type", "object"}}),
                  [](px::server::context&, const bj::object&) -> px::server::tool_result {
                    throw px::server::tool_error("it broke");
                  });
    main.add_tool(make_tool("slow", {{"type", "object"}}),
                  [](px::server::context& ctx, const bj::object&) {
                    for (int i = 0; i < 300 && !ctx.cancelled(); ++i)
                      std::this_thread::sleep_for(10ms);
                    return px::server::tool_result::text("done");
                  });
    main.add_tool(make_tool("ask", {{"type", "object"}}), [](px::server::context& ctx,
                                                             const bj::object&) {
      auto r = ctx.elicit("name", "Your name?",
                          {{"type", "object"}, {"properties", {{"name", {{"type", "string"}}}}}});
      (void)r;
      return px::server::tool_result::text("asked");
    });
    second.add_tool(make_tool("second_tool", {{"type", "object"}}),
                    [](px::server::context&, const bj::object&) {
                      return px::server::tool_result::text("from the second server");
                    });
  }
};

struct recorder {
  std::mutex mu;
  std::vector<px::transport::access_record> records;
  std::function<void(const px::transport::access_record&)> hook() {
    return [this](const px::transport::access_record& r) {
      std::lock_guard lk(mu);
      records.push_back(r);
    };
  }
  // The last record for `path` (waits a little: the hook runs after the answer is written).
  // With `mcp_method`, only a record of that MCP method counts.
  std::optional<px::transport::access_record> last(std::string_view path,
                                                   std::string_view mcp_method = {}) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lk(mu);
        for (auto it = records.rbegin(); it != records.rend(); ++it)
          if (it->path == path && (mcp_method.empty() || it->mcp_method == mcp_method)) return *it;
      }
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }
  std::size_t count() {
    std::lock_guard lk(mu);
    return records.size();
  }
};

class HttpRoutes : public ::testing::Test {
 protected:
  servers s;
  recorder log;
  std::unique_ptr<px::transport::http_server> http;

  void start(std::size_t threads = 2, std::function<void(px::transport::http_server&)> setup = {}) {
    px::transport::http_server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = threads;
    o.access_log = log.hook();
    http = std::make_unique<px::transport::http_server>(s.main, o);
    http->add_endpoint("/servers/second/mcp", s.second);
    if (setup) setup(*http);
    http->start();
  }
  std::uint16_t port() const { return http->port(); }
  void TearDown() override {
    if (http) http->stop(500ms);
  }
};

// ---- extra MCP endpoints ----------------------------------------------------------

TEST_F(HttpRoutes, SecondEndpointServesItsOwnServerModern) {
  start();
  auto main_list =
      exchange(port(), "POST", "/mcp", modern_headers("tools/list"), modern_rpc(1, "tools/list"));
  ASSERT_TRUE(main_list);
  EXPECT_EQ(main_list->status, 200) << main_list->body;
  auto names = tool_names(json_of(main_list));
  EXPECT_NE(std::find(names.begin(), names.end(), "echo"), names.end());

  auto second_list = exchange(port(), "POST", "/servers/second/mcp", modern_headers("tools/list"),
                              modern_rpc(2, "tools/list"));
  ASSERT_TRUE(second_list);
  EXPECT_EQ(second_list->status, 200) << second_list->body;
  EXPECT_EQ(tool_names(json_of(second_list)), std::vector<std::string>{"second_tool"});

  // tools/call with Mcp-Name (the header check finds the tool in the endpoint's server).
  auto h = modern_headers("tools/call");
  h.emplace_back("Mcp-Name", "second_tool");
  auto call = exchange(port(), "POST", "/servers/second/mcp", h,
                       modern_rpc(3, "tools/call", {{"name", "second_tool"}}));
  ASSERT_TRUE(call);
  EXPECT_EQ(call->status, 200) << call->body;
  EXPECT_NE(call->body.find("from the second server"), std::string::npos) << call->body;
  auto rec = log.last("/servers/second/mcp", "tools/call");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->status, 200);
}

TEST_F(HttpRoutes, SecondEndpointLegacySessionsBelongToTheirEndpoint) {
  start();
  auto init = exchange(port(), "POST", "/servers/second/mcp", legacy_headers(), initialize_body());
  ASSERT_TRUE(init);
  ASSERT_EQ(init->status, 200) << init->body;
  auto sid = init->header("Mcp-Session-Id");
  ASSERT_TRUE(sid);
  EXPECT_NE(init->body.find("second-test"), std::string::npos) << init->body;
  auto rec = log.last("/servers/second/mcp", "initialize");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->session_id, *sid);

  auto initialized = exchange(port(), "POST", "/servers/second/mcp", legacy_headers(*sid),
                              R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  ASSERT_TRUE(initialized);
  EXPECT_EQ(initialized->status, 202);

  // The session is reused on its endpoint.
  auto list =
      exchange(port(), "POST", "/servers/second/mcp", legacy_headers(*sid), rpc(2, "tools/list"));
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200) << list->body;
  EXPECT_EQ(tool_names(json_of(list)), std::vector<std::string>{"second_tool"});

  // Another endpoint does not know it: POST, GET and DELETE are 404.
  auto cross = exchange(port(), "POST", "/mcp", legacy_headers(*sid), rpc(3, "tools/list"));
  ASSERT_TRUE(cross);
  EXPECT_EQ(cross->status, 404) << cross->body;
  EXPECT_NE(cross->body.find("Session not found"), std::string::npos);
  auto cross_get =
      exchange(port(), "GET", "/mcp", {{"Accept", "text/event-stream"}, {"Mcp-Session-Id", *sid}});
  ASSERT_TRUE(cross_get);
  EXPECT_EQ(cross_get->status, 404);
  auto cross_delete = exchange(port(), "DELETE", "/mcp", {{"Mcp-Session-Id", *sid}});
  ASSERT_TRUE(cross_delete);
  EXPECT_EQ(cross_delete->status, 404);

  // The main endpoint's sessions are not valid on the second one either.
  auto main_init = exchange(port(), "POST", "/mcp", legacy_headers(), initialize_body());
  ASSERT_TRUE(main_init);
  auto main_sid = main_init->header("Mcp-Session-Id");
  ASSERT_TRUE(main_sid);
  EXPECT_NE(main_init->body.find("main-test"), std::string::npos);
  auto cross2 = exchange(port(), "POST", "/servers/second/mcp", legacy_headers(*main_sid),
                         rpc(4, "tools/list"));
  ASSERT_TRUE(cross2);
  EXPECT_EQ(cross2->status, 404);

  // The GET stream opens on the owning endpoint; DELETE there ends the session.
  {
    client c(port());
    ASSERT_TRUE(c.send_request("GET", "/servers/second/mcp",
                               {{"Accept", "text/event-stream"}, {"Mcp-Session-Id", *sid}}));
    auto head = c.read_head(5s);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
  }
  auto del = exchange(port(), "DELETE", "/servers/second/mcp", {{"Mcp-Session-Id", *sid}});
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  auto after =
      exchange(port(), "POST", "/servers/second/mcp", legacy_headers(*sid), rpc(5, "tools/list"));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 404);
}

TEST_F(HttpRoutes, EndpointsAreFixedAtStart) {
  start();
  EXPECT_THROW(http->add_endpoint("/late/mcp", s.second), std::logic_error);
  EXPECT_THROW(http->add_route("GET", "/late", {}), std::logic_error);
  px::transport::http_server other(s.main, {});
  EXPECT_THROW(other.add_endpoint("/mcp", s.second), std::logic_error);  // taken
  EXPECT_THROW(other.add_endpoint("/sse", s.second), std::logic_error);
  EXPECT_THROW(other.add_endpoint("relative", s.second), std::logic_error);
}

// ---- plain routes -------------------------------------------------------------------

TEST_F(HttpRoutes, RoutesMatchExactAndPrefixAndSeeTheRequest) {
  start(2, [](px::transport::http_server& h) {
    h.add_route("GET", "/health", [](const px::transport::http_request&) {
      return px::transport::http_reply{200, "text/plain", "ok", {}};
    });
    h.add_route("POST", "/api/", [](const px::transport::http_request& r) {
      bj::object o{{"method", r.method}, {"path", r.path},
                   {"query", r.query},   {"body", r.body},
                   {"remote", r.remote}, {"x", std::string(r.header("x-test").value_or(""))}};
      return px::transport::http_reply{
          201, "application/json", bj::serialize(o), {{"X-Reply", "yes"}}};
    });
    h.add_route("POST", "/api/special", [](const px::transport::http_request&) {
      return px::transport::http_reply{200, "text/plain", "special", {}};
    });
    h.add_route("GET", "/boom",
                [](const px::transport::http_request&) -> px::transport::http_reply {
                  throw std::runtime_error("boom");
                });
  });
  auto health = exchange(port(), "GET", "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok");
  EXPECT_EQ(health->header("Content-Type").value_or(""), "text/plain");
  EXPECT_EQ(exchange(port(), "GET", "/health/more")->status, 404);  // exact, not a prefix

  auto api = exchange(port(), "POST", "/api/things/7?x=1&y=2", {{"X-Test", "hello"}}, "payload");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 201);
  EXPECT_EQ(api->header("X-Reply").value_or(""), "yes");
  auto v = json_of(api);
  ASSERT_TRUE(v.is_object()) << api->body;
  EXPECT_EQ(v.at("method"), "POST");
  EXPECT_EQ(v.at("path"), "/api/things/7");
  EXPECT_EQ(v.at("query"), "x=1&y=2");
  EXPECT_EQ(v.at("body"), "payload");
  EXPECT_EQ(v.at("x"), "hello");
  EXPECT_TRUE(std::string(v.at("remote").as_string()).starts_with("127.0.0.1:"));
  EXPECT_EQ(exchange(port(), "POST", "/api/special")->body, "special");  // longest match

  auto wrong_method = exchange(port(), "DELETE", "/api/x");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
  EXPECT_EQ(wrong_method->header("Allow").value_or(""), "POST");
  EXPECT_EQ(exchange(port(), "GET", "/nothing")->status, 404);
  EXPECT_EQ(exchange(port(), "GET", "/boom")->status, 500);

  // Routes pass the same Host and Origin checks as MCP.
  EXPECT_EQ(exchange(port(), "GET", "/health", {{"Host", "evil.example:80"}})->status, 403);
  EXPECT_EQ(exchange(port(), "GET", "/health", {{"Origin", "https://evil.example"}})->status, 403);

  auto rec = log.last("/api/things/7");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->method, "POST");
  EXPECT_EQ(rec->status, 201);
  EXPECT_GT(rec->bytes_in, 7u);
  EXPECT_GT(rec->bytes_out, api->body.size());
  EXPECT_TRUE(rec->remote.starts_with("127.0.0.1:"));
  EXPECT_TRUE(rec->mcp_method.empty());
}

TEST_F(HttpRoutes, BlockingRouteDoesNotStallMcpTraffic) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  // One I/O thread: if the route ran on it, the MCP request below could not be served.
  start(1, [released](px::transport::http_server& h) {
    h.add_route("GET", "/block", [released](const px::transport::http_request&) {
      released.wait_for(10s);
      return px::transport::http_reply{200, "text/plain", "released", {}};
    });
  });
  client blocked(port());
  ASSERT_TRUE(blocked.send_request("GET", "/block"));
  std::this_thread::sleep_for(100ms);  // the handler is now blocking a route thread

  auto t0 = std::chrono::steady_clock::now();
  auto ping = exchange(port(), "POST", "/mcp", modern_headers("tools/list"),
                       modern_rpc(9, "tools/list"), 3s);
  ASSERT_TRUE(ping) << "MCP traffic stalled behind a blocking route";
  EXPECT_EQ(ping->status, 200) << ping->body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_FALSE(blocked.read_response(50ms));  // still blocked

  release.set_value();
  auto r = blocked.read_response(5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "released");
  auto rec = log.last("/block");
  ASSERT_TRUE(rec);
  EXPECT_GE(rec->duration, std::chrono::microseconds(100'000));
}

TEST_F(HttpRoutes, AccessLogRecordsMcpRequests) {
  start();
  auto r =
      exchange(port(), "POST", "/mcp", modern_headers("tools/list"), modern_rpc(1, "tools/list"));
  ASSERT_TRUE(r);
  auto rec = log.last("/mcp");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->method, "POST");
  EXPECT_EQ(rec->status, 200);
  EXPECT_EQ(rec->mcp_method, "tools/list");
  EXPECT_TRUE(rec->session_id.empty());
  EXPECT_GT(rec->bytes_in, modern_rpc(1, "tools/list").size());
  EXPECT_GT(rec->bytes_out, r->body.size());
  EXPECT_GT(rec->duration.count(), 0);

  std::size_t before = log.count();
  auto nf = exchange(port(), "GET", "/nowhere?x=1");
  ASSERT_TRUE(nf);
  auto rec2 = log.last("/nowhere");
  ASSERT_TRUE(rec2);
  EXPECT_EQ(rec2->status, 404);
  EXPECT_EQ(log.count(), before + 1);  // once per request
}

// ---- REST facade ------------------------------------------------------------------

class RestFacade : public HttpRoutes {
 protected:
  void SetUp() override {
    start(2, [this](px::transport::http_server& h) {
      px::transport::rest_facade_options o;
      o.call_timeout = 500ms;
      px::transport::mount_rest_facade(h, s.main, o);
      px::transport::mount_rest_facade(h, s.second, "/servers/second/api");
    });
  }
  std::optional<response> call(std::string_view tool, std::string_view body) {
    return exchange(port(), "POST", "/api/tools/" + std::string(tool),
                    {{"Content-Type", "application/json"}}, body);
  }
};

TEST_F(RestFacade, ListsTools) {
  auto r = exchange(port(), "GET", "/api/tools");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Type").value_or(""), "application/json");
  auto v = json_of(r);
  auto names = tool_names(v);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"ask", "echo", "fail", "slow"}));
  const auto& echo = v.at("tools").as_array()[0].as_object();
  EXPECT_TRUE(echo.contains("inputSchema"));
  EXPECT_TRUE(echo.contains("outputSchema"));
  EXPECT_TRUE(echo.contains("description"));
  auto second = exchange(port(), "GET", "/servers/second/api/tools");
  ASSERT_TRUE(second);
  EXPECT_EQ(tool_names(json_of(second)), std::vector<std::string>{"second_tool"});
}

TEST_F(RestFacade, CallsTools) {
  auto r = call("echo", R"({"text":"hi"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  auto v = json_of(r);
  ASSERT_TRUE(v.is_object()) << r->body;
  EXPECT_EQ(v.at("structuredContent").at("echoed"), "hi");
  EXPECT_EQ(v.at("content").at(0).at("text"), "hi");
  EXPECT_FALSE(v.as_object().contains("resultType"));
  auto second = exchange(port(), "POST", "/servers/second/api/tools/second_tool", {}, "");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200) << second->body;  // an empty body: no arguments
  EXPECT_NE(second->body.find("from the second server"), std::string::npos);
}

TEST_F(RestFacade, ErrorStatuses) {
  auto unknown = call("nope", "{}");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(json_of(unknown).at("error").at("status"), 404);

  auto bad_json = call("echo", "{not json");
  ASSERT_TRUE(bad_json);
  EXPECT_EQ(bad_json->status, 400);
  auto not_object = call("echo", "[1]");
  ASSERT_TRUE(not_object);
  EXPECT_EQ(not_object->status, 400);
  auto bad_args = call("echo", R"({"text":5})");
  ASSERT_TRUE(bad_args);
  EXPECT_EQ(bad_args->status, 400);
  EXPECT_NE(bad_args->body.find("/text"), std::string::npos) << bad_args->body;
  auto missing = call("echo", "{}");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);

  auto failed = call("fail", "{}");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 422);
  auto fv = json_of(failed);
  EXPECT_EQ(fv.at("isError"), true);
  EXPECT_NE(failed->body.find("it broke"), std::string::npos);

  auto needs_client = call("ask", "{}");
  ASSERT_TRUE(needs_client);
  EXPECT_EQ(needs_client->status, 409) << needs_client->body;
  EXPECT_NE(needs_client->body.find("needs an MCP client"), std::string::npos);

  auto t0 = std::chrono::steady_clock::now();
  auto slow = call("slow", "{}");
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->status, 504) << slow->body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2500ms);

  auto wrong_method = exchange(port(), "GET", "/api/tools/echo");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
}

TEST_F(RestFacade, OpenApiDocumentHasAPathPerTool) {
  auto r = exchange(port(), "GET", "/api/openapi.json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto v = json_of(r);
  ASSERT_TRUE(v.is_object()) << r->body;
  EXPECT_EQ(v.at("openapi"), "3.1.0");
  EXPECT_EQ(v.at("info").at("title"), "main-test");
  EXPECT_EQ(v.at("info").at("version"), "1.2.3");
  const auto& paths = v.at("paths").as_object();
  EXPECT_TRUE(paths.contains("/api/tools"));
  for (auto name : {"echo", "fail", "slow", "ask"}) {
    std::string p = std::string("/api/tools/") + name;
    ASSERT_TRUE(paths.contains(p)) << p;
    const auto& op = paths.at(p).at("post");
    EXPECT_EQ(std::string(op.at("operationId").as_string()), std::string("call_") + name);
    EXPECT_TRUE(op.at("responses").as_object().contains("200"));
  }
  const auto& echo = paths.at("/api/tools/echo").at("post");
  EXPECT_EQ(echo.at("requestBody").at("content").at("application/json").at("schema").at("required"),
            bj::array{"text"});
  EXPECT_EQ(echo.at("requestBody").at("required"), true);
  const auto& ok = echo.at("responses").at("200").at("content").at("application/json").at("schema");
  EXPECT_EQ(ok.at("properties").at("structuredContent").at("required"), bj::array{"echoed"});
  // Every local $ref points into the document.
  std::function<void(const bj::value&)> check_refs = [&](const bj::value& x) {
    if (auto* o = x.if_object()) {
      if (auto* ref = o->if_contains("$ref"); ref && ref->is_string()) {
        std::string s(ref->get_string());
        ASSERT_TRUE(s.starts_with("#/components/")) << s;
        std::string key = s.substr(s.rfind('/') + 1);
        std::string section = s.substr(13, s.rfind('/') - 13);
        EXPECT_TRUE(v.at("components").at(section).as_object().contains(key)) << s;
      }
      for (const auto& [k, e] : *o) check_refs(e);
    } else if (auto* a = x.if_array()) {
      for (const auto& e : *a) check_refs(e);
    }
  };
  check_refs(v);
}

}  // namespace
