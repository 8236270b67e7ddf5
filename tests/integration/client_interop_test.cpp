// The Plexus client library against MCP servers nobody here wrote (pinned npm packages in
// tests/interop/node: @modelcontextprotocol/server-everything over stdio and Streamable HTTP,
// server-filesystem, server-memory, and a server written with the TypeScript SDK v2 server
// package, tests/interop/v2_server.mjs), and against misbehaving servers
// (tests/interop/fault_server.mjs): crashes, hangs, garbage, closed stdout, 20 MiB messages.
// `node` comes from PATH; the scripts run from tests/interop/node so node_modules resolve.
// The tests skip only when the npm packages are not installed.
#include "child_process.hpp"

#include "plexus/client/client.hpp"

#include <gtest/gtest.h>
#include "temp_dir.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

using namespace plexus;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using plexus::client::error;
using plexus::client::version_mode;

namespace {

fs::path interop_dir() {
  return fs::path(__FILE__).parent_path().parent_path() / "interop";
}
fs::path node_dir() {
  return interop_dir() / "node";
}
fs::path package_dir(const std::string& package) {
  return node_dir() / "node_modules" / package;
}

#define SKIP_WITHOUT_PACKAGE(pkg)                     \
  if (!fs::exists(package_dir(pkg) / "package.json")) \
  GTEST_SKIP() << pkg << " is not installed (run `npm ci` in tests/interop/node)"

using plexus::testing::temp_dir;

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f << bytes;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

client::input_handlers answering_handlers(std::string root_uri) {
  client::input_handlers h;
  h.elicitation = [](const json::object& p) -> client::result<json::object> {
    json::object content;
    if (auto schema = json::find_object(p, "requestedSchema"))
      if (auto props = json::find_object(*schema, "properties"))
        for (const auto& kv : *props) {
          auto type = json::find_string(kv.value().as_object(), "type");
          if (type && *type == "boolean")
            content[kv.key()] = true;
          else if (type && (*type == "number" || *type == "integer"))
            content[kv.key()] = 7;
          else if (auto e = json::find_array(kv.value().as_object(), "enum"))
            content[kv.key()] = e->at(0);
          else
            content[kv.key()] = "Ada";
        }
    return json::object{{"action", "accept"}, {"content", content}};
  };
  h.sampling = [](const json::object&) -> client::result<json::object> {
    return json::object{{"role", "assistant"},
                        {"content", json::object{{"type", "text"}, {"text", "Paris"}}},
                        {"model", "test-model"},
                        {"stopReason", "endTurn"}};
  };
  h.roots = [root_uri](const json::object&) -> client::result<json::object> {
    return json::object{
        {"roots", json::array{json::object{{"uri", root_uri}, {"name", "test root"}}}}};
  };
  return h;
}

struct node_server {
  std::vector<std::string> args;  // after `node`
  std::map<std::string, std::string> env;
  version_mode mode = version_mode::auto_detect;
  std::chrono::milliseconds timeout = 20s;
  std::string root_uri = "file:///tmp";
  std::size_t max_message_bytes = 16 * 1024 * 1024;
};

client::result<std::unique_ptr<client::client>> connect(const node_server& s) {
  client::process_spec spec;
  spec.command = "node";
  spec.args = s.args;
  spec.env = s.env;
  spec.working_directory = node_dir().string();
  spec.shutdown_grace = 500ms;
  spec.max_message_bytes = s.max_message_bytes;
  client::client_options o;
  o.mode = s.mode;
  o.request_timeout = s.timeout;
  o.probe_timeout = std::min<std::chrono::milliseconds>(5s, s.timeout);
  o.handlers = answering_handlers(s.root_uri);
  return client::client::connect(client::make_stdio_transport(std::move(spec)), std::move(o));
}

std::vector<std::string> names(const std::vector<json::object>& items,
                               std::string_view key = "name") {
  std::vector<std::string> out;
  for (const auto& i : items) out.emplace_back(i.at(key).as_string());
  return out;
}

// The text of content block `i`.
std::string text(const json::object& result, std::size_t i = 0) {
  auto content = json::find_array(result, "content");
  if (!content || content->size() <= i || !content->at(i).is_object()) {
    ADD_FAILURE() << "no content block " << i << " in " << json::dump(result);
    return {};
  }
  const auto& b = content->at(i).as_object();
  EXPECT_EQ(b.at("type"), "text");
  return std::string(b.at("text").as_string());
}

json::value parse(std::string_view s) {
  return boost::json::parse(s);
}

// The result without the era's envelope (_meta, resultType), to compare exactly.
json::object bare(json::object r) {
  r.erase("_meta");
  if (auto t = json::find_string(r, "resultType"); t && *t == "complete") r.erase("resultType");
  return r;
}

// Whether a process with this pid still exists (a zombie counts: nobody reaped it).
bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

// ---- @modelcontextprotocol/server-everything -------------------------------------------------

const std::vector<std::string> everything_tools = {"echo",
                                                   "get-annotated-message",
                                                   "get-env",
                                                   "get-resource-links",
                                                   "get-resource-reference",
                                                   "get-structured-content",
                                                   "get-sum",
                                                   "get-tiny-image",
                                                   "gzip-file-as-resource",
                                                   "toggle-simulated-logging",
                                                   "toggle-subscriber-updates",
                                                   "trigger-long-running-operation",
                                                   "get-roots-list",
                                                   "trigger-elicitation-request",
                                                   "trigger-url-elicitation",
                                                   "trigger-sampling-request",
                                                   "simulate-research-query"};

// Lists everything and calls every tool of server-everything through `c`.
void exercise_everything(client::client& c, const std::string& root_uri) {
  EXPECT_EQ(c.era(), protocol::era::legacy);  // a 1.x SDK server: discover is not known
  EXPECT_EQ(c.server_info().at("name"), "mcp-servers/everything");
  auto tools = c.list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  EXPECT_EQ(names(*tools), everything_tools);

  auto resources = c.list_resources();
  ASSERT_TRUE(resources) << resources.error().describe();
  EXPECT_EQ(names(*resources, "uri"),
            (std::vector<std::string>{"demo://resource/static/document/architecture.md",
                                      "demo://resource/static/document/extension.md",
                                      "demo://resource/static/document/features.md",
                                      "demo://resource/static/document/how-it-works.md",
                                      "demo://resource/static/document/instructions.md",
                                      "demo://resource/static/document/startup.md",
                                      "demo://resource/static/document/structure.md"}));
  auto templates = c.list_resource_templates();
  ASSERT_TRUE(templates) << templates.error().describe();
  EXPECT_EQ(names(*templates, "uriTemplate"),
            (std::vector<std::string>{"demo://resource/dynamic/text/{resourceId}",
                                      "demo://resource/dynamic/blob/{resourceId}"}));
  auto prompts = c.list_prompts();
  ASSERT_TRUE(prompts) << prompts.error().describe();
  EXPECT_EQ(names(*prompts), (std::vector<std::string>{"simple-prompt", "args-prompt",
                                                       "completable-prompt", "resource-prompt"}));

  auto doc = c.read_resource("demo://resource/static/document/features.md");
  ASSERT_TRUE(doc) << doc.error().describe();
  const auto& d0 = doc->at("contents").as_array().at(0).as_object();
  EXPECT_EQ(d0.at("mimeType"), "text/markdown");
  EXPECT_TRUE(d0.at("text").as_string().starts_with("# Everything Server - Features\n"));
  auto blob = c.read_resource("demo://resource/dynamic/blob/3");
  ASSERT_TRUE(blob) << blob.error().describe();
  const auto& b0 = blob->at("contents").as_array().at(0).as_object();
  EXPECT_EQ(b0.at("uri"), "demo://resource/dynamic/blob/3");
  EXPECT_TRUE(b0.contains("blob"));

  auto simple = c.get_prompt("simple-prompt");
  ASSERT_TRUE(simple) << simple.error().describe();
  EXPECT_EQ(bare(*simple), parse(R"({"messages":[{"role":"user","content":{"type":"text",
            "text":"This is a simple prompt without arguments."}}]})"));
  auto args = c.get_prompt("args-prompt", {{"city", "Paris"}});
  ASSERT_TRUE(args) << args.error().describe();
  EXPECT_EQ(bare(*args), parse(R"({"messages":[{"role":"user","content":{"type":"text",
            "text":"What's weather in Paris?"}}]})"));
  auto team = c.get_prompt("completable-prompt", {{"department", "Engineering"}, {"name", "Bob"}});
  ASSERT_TRUE(team) << team.error().describe();
  EXPECT_EQ(team->at("messages").as_array().at(0).at("content").at("text"),
            "Please promote Bob to the head of the Engineering team.");
  auto res = c.get_prompt("resource-prompt", {{"resourceType", "Text"}, {"resourceId", "2"}});
  ASSERT_TRUE(res) << res.error().describe();
  EXPECT_EQ(res->at("messages").as_array().size(), 2u);
  EXPECT_EQ(res->at("messages").as_array().at(1).at("content").at("resource").at("uri"),
            "demo://resource/dynamic/text/2");

  auto call = [&](const std::string& name, json::object a) {
    auto r = c.call_tool(name, std::move(a));
    EXPECT_TRUE(r) << name << ": " << (r ? "" : r.error().describe());
    return r ? bare(*r) : json::object{};
  };
  EXPECT_EQ(call("echo", {{"message", "hello"}}),
            parse(R"({"content":[{"type":"text","text":"Echo: hello"}]})"));
  EXPECT_EQ(call("get-annotated-message", {{"messageType", "success"}}),
            parse(R"({"content":[{"type":"text","text":"Operation completed successfully",
                  "annotations":{"audience":["user"],"priority":0.7}}]})"));
  auto env = call("get-env", {});
  auto env_json = parse(text(env));
  EXPECT_EQ(env_json.at("PLEXUS_INTEROP_MARK"), "set-by-the-test");
  EXPECT_EQ(call("get-resource-links", {{"count", 2}}), parse(R"({"content":[
      {"type":"text","text":"Here are 2 resource links to resources available in this server:"},
      {"name":"Blob Resource 1","uri":"demo://resource/dynamic/blob/1",
       "description":"Resource 1: plaintext resource","mimeType":"text/plain",
       "type":"resource_link"},
      {"name":"Text Resource 2","uri":"demo://resource/dynamic/text/2",
       "description":"Resource 2: plaintext resource","mimeType":"text/plain",
       "type":"resource_link"}]})"));
  auto ref = call("get-resource-reference", {});
  ASSERT_EQ(ref.at("content").as_array().size(), 3u);
  EXPECT_EQ(text(ref, 0), "Returning resource reference for Resource 1:");
  EXPECT_EQ(ref.at("content").as_array().at(1).at("resource").at("uri"),
            "demo://resource/dynamic/text/1");
  EXPECT_EQ(text(ref, 2),
            "You can access this resource using the URI: demo://resource/dynamic/text/1");
  EXPECT_EQ(call("get-structured-content", {{"location", "Chicago"}}).at("structuredContent"),
            parse(R"({"temperature":36,"conditions":"Light rain / drizzle","humidity":82})"));
  EXPECT_EQ(call("get-sum", {{"a", 2}, {"b", 3}}),
            parse(R"({"content":[{"type":"text","text":"The sum of 2 and 3 is 5."}]})"));
  auto image = call("get-tiny-image", {});
  ASSERT_EQ(image.at("content").as_array().size(), 3u);
  EXPECT_EQ(text(image, 0), "Here's the image you requested:");
  EXPECT_EQ(image.at("content").as_array().at(1).at("type"), "image");
  EXPECT_EQ(image.at("content").as_array().at(1).at("mimeType"), "image/png");
  EXPECT_EQ(call("gzip-file-as-resource",
                 {{"data", "data:text/plain,hello"}, {"outputType", "resource"}}),
            parse(R"({"content":[{"type":"resource","resource":{
                  "uri":"demo://resource/session/README.md.gz","mimeType":"application/gzip",
                  "blob":"H4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA=="}}]})"));
  EXPECT_TRUE(text(call("toggle-simulated-logging", {})).starts_with("Started simulated"));
  EXPECT_TRUE(text(call("toggle-subscriber-updates", {})).starts_with("Started simulated"));
  int progress = 0;
  client::request_options ro;
  ro.on_progress = [&](const json::object&) { ++progress; };
  auto longop =
      c.call_tool("trigger-long-running-operation", {{"duration", 0.2}, {"steps", 2}}, ro);
  ASSERT_TRUE(longop) << longop.error().describe();
  EXPECT_EQ(text(*longop), "Long running operation completed. Duration: 0.2 seconds, Steps: 2.");
  EXPECT_EQ(progress, 2);
  auto roots = text(call("get-roots-list", {}));
  EXPECT_TRUE(roots.starts_with(
      "Current MCP Roots (1 total):\n\n1. test root\n   URI: " + root_uri + "\n\nNote: "))
      << roots;
  auto elicit = call("trigger-elicitation-request", {});
  EXPECT_TRUE(text(elicit).starts_with("✅ User provided the requested information!"))
      << text(elicit);
  auto url = call("trigger-url-elicitation", {{"url", "https://example.com/x"}});
  EXPECT_EQ(text(url).substr(0, text(url).find("Elicitation ID:")),
            "✅ User completed the URL elicitation flow.\n")
      << text(url);
  EXPECT_NE(text(url).find("\nURL: https://example.com/x"), std::string::npos) << text(url);
  auto sample = call("trigger-sampling-request", {{"prompt", "Capital of France?"}});
  EXPECT_TRUE(text(sample).starts_with("LLM sampling result: \n")) << text(sample);
  EXPECT_NE(text(sample).find("\"text\": \"Paris\""), std::string::npos) << text(sample);
  // A tool that needs the tasks extension (not declared): the server's own tool error.
  EXPECT_EQ(
      call("simulate-research-query", {{"topic", "x"}}),
      parse(
          R"J({"content":[{"type":"text","text":"MCP error -32601: Tool simulate-research-query requires task augmentation (taskSupport: 'required')"}],
                  "isError":true})J"));
}

}  // namespace

TEST(ClientInterop, ServerEverythingStdio) {
  SKIP_WITHOUT_PACKAGE("@modelcontextprotocol/server-everything");
  node_server s;
  s.args = {(package_dir("@modelcontextprotocol/server-everything") / "dist/index.js").string(),
            "stdio"};
  s.env = {{"PLEXUS_INTEROP_MARK", "set-by-the-test"}};
  s.root_uri = "file:///tmp/plexus-root";
  auto c = connect(s);
  ASSERT_TRUE(c) << c.error().describe();
  EXPECT_EQ((*c)->protocol_version(), "2025-11-25");
  exercise_everything(**c, s.root_uri);
  auto unknown = (*c)->call_tool("no-such-tool");
  ASSERT_TRUE(unknown);  // the 1.x SDK reports an unknown tool as a tool error
  EXPECT_EQ(bare(*unknown), parse(R"({"content":[{"type":"text",
            "text":"MCP error -32602: Tool no-such-tool not found"}],"isError":true})"));
}

TEST(ClientInterop, ServerEverythingStreamableHttp) {
  SKIP_WITHOUT_PACKAGE("@modelcontextprotocol/server-everything");
  // A free loopback port (the server prints "port 0" when given 0, so choose one here).
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  // It listens on every interface by default: the preload binds it to 127.0.0.1.
  plexus::testing::child_process server(
      {"/usr/bin/env", "PORT=" + std::to_string(port), "PLEXUS_INTEROP_MARK=set-by-the-test",
       "NODE_OPTIONS=-r " PLEXUS_SHARED_DIR "/tools/bind-localhost.cjs", "node",
       (package_dir("@modelcontextprotocol/server-everything") / "dist/index.js").string(),
       "streamableHttp"});
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (server.stderr_text().find("listening on port") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline && server.alive())
    server.read_line(100ms);
  ASSERT_NE(server.stderr_text().find("listening on port " + std::to_string(port)),
            std::string::npos)
      << server.stderr_text();
  client::client_options o;
  o.request_timeout = 20s;
  o.handlers = answering_handlers("file:///tmp/plexus-root");
  auto c = client::client::connect(
      client::make_http_transport("http://127.0.0.1:" + std::to_string(port) + "/mcp"),
      std::move(o));
  ASSERT_TRUE(c) << c.error().describe();
  exercise_everything(**c, "file:///tmp/plexus-root");
  (*c)->close();
}

TEST(ClientInterop, ServerFilesystemStdio) {
  SKIP_WITHOUT_PACKAGE("@modelcontextprotocol/server-filesystem");
  temp_dir t;
  fs::path root = fs::canonical(t.path);
  write_file(root / "a.txt", "hello\nworld\n");
  fs::create_directory(root / "sub");
  write_file(root / "sub" / "b.md", "abc");
  write_file(root / "pic.png", std::string("\x89PNG\r\n\x1a\n", 8));
  node_server s;
  s.args = {(package_dir("@modelcontextprotocol/server-filesystem") / "dist/index.js").string(),
            root.string()};
  s.root_uri = "file://" + root.string();  // the server adopts the client's roots
  auto c = connect(s);
  ASSERT_TRUE(c) << c.error().describe();
  auto& cl = **c;
  EXPECT_EQ(cl.era(), protocol::era::legacy);
  EXPECT_EQ(cl.server_info().at("name"), "secure-filesystem-server");
  auto tools = cl.list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  EXPECT_EQ(names(*tools),
            (std::vector<std::string>{
                "read_file", "read_text_file", "read_media_file", "read_multiple_files",
                "write_file", "edit_file", "create_directory", "list_directory",
                "list_directory_with_sizes", "directory_tree", "move_file", "search_files",
                "get_file_info", "list_allowed_directories"}));
  const std::string r = root.string();
  auto call = [&](const std::string& name, json::object a) -> std::string {
    auto res = cl.call_tool(name, std::move(a));
    EXPECT_TRUE(res) << name << ": " << (res ? "" : res.error().describe());
    if (!res) return {};
    EXPECT_FALSE(res->contains("isError")) << name << ": " << json::dump(*res);
    return text(*res);
  };
  EXPECT_EQ(call("read_file", {{"path", r + "/a.txt"}}), "hello\nworld\n");
  EXPECT_EQ(call("read_text_file", {{"path", r + "/a.txt"}, {"head", 1}}), "hello");
  auto media = cl.call_tool("read_media_file", {{"path", r + "/pic.png"}});
  ASSERT_TRUE(media);
  EXPECT_EQ(media->at("content"),
            parse(R"([{"type":"image","data":"iVBORw0KGgo=","mimeType":"image/png"}])"));
  EXPECT_EQ(
      call("read_multiple_files",
           {{"paths", json::array{json::string(r + "/a.txt"), json::string(r + "/sub/b.md")}}}),
      r + "/a.txt:\nhello\nworld\n\n\n---\n" + r + "/sub/b.md:\nabc\n");
  EXPECT_EQ(call("write_file", {{"path", r + "/new.txt"}, {"content", "fresh"}}),
            "Successfully wrote to " + r + "/new.txt");
  auto diff =
      call("edit_file",
           {{"path", r + "/new.txt"},
            {"edits", json::array{json::object{{"oldText", "fresh"}, {"newText", "edited"}}}}});
  EXPECT_NE(diff.find("-fresh\n"), std::string::npos) << diff;
  EXPECT_NE(diff.find("+edited\n"), std::string::npos) << diff;
  EXPECT_EQ(read_file(root / "new.txt"), "edited");
  EXPECT_EQ(call("create_directory", {{"path", r + "/made"}}),
            "Successfully created directory " + r + "/made");
  EXPECT_EQ(call("list_directory", {{"path", r}}),
            "[FILE] a.txt\n[DIR] made\n[FILE] new.txt\n[FILE] pic.png\n[DIR] sub");
  auto sizes = call("list_directory_with_sizes", {{"path", r}});
  EXPECT_NE(sizes.find("Total: 3 files, 2 directories\nCombined size: 26 B"), std::string::npos)
      << sizes;
  EXPECT_EQ(parse(call("directory_tree", {{"path", r + "/sub"}})),
            parse(R"([{"name":"b.md","type":"file"}])"));
  EXPECT_EQ(call("move_file", {{"source", r + "/new.txt"}, {"destination", r + "/made/moved.txt"}}),
            "Successfully moved " + r + "/new.txt to " + r + "/made/moved.txt");
  EXPECT_TRUE(fs::exists(root / "made" / "moved.txt"));
  EXPECT_EQ(call("search_files", {{"path", r}, {"pattern", "**/*.md"}}), r + "/sub/b.md");
  auto info = call("get_file_info", {{"path", r + "/sub/b.md"}});
  EXPECT_TRUE(info.starts_with("size: 3\n")) << info;
  EXPECT_NE(info.find("isFile: true"), std::string::npos) << info;
  EXPECT_EQ(call("list_allowed_directories", {}), "Allowed directories:\n" + r);
  // Outside the root: the server's own refusal, as a tool error.
  auto outside = cl.call_tool("read_text_file", {{"path", "/etc/hostname"}});
  ASSERT_TRUE(outside);
  EXPECT_EQ(outside->at("isError"), true);
}

TEST(ClientInterop, ServerMemoryStdio) {
  SKIP_WITHOUT_PACKAGE("@modelcontextprotocol/server-memory");
  temp_dir t;
  node_server s;
  s.args = {(package_dir("@modelcontextprotocol/server-memory") / "dist/index.js").string()};
  s.env = {{"MEMORY_FILE_PATH", (t.path / "memory.jsonl").string()}};
  auto c = connect(s);
  ASSERT_TRUE(c) << c.error().describe();
  auto& cl = **c;
  EXPECT_EQ(cl.server_info().at("name"), "memory-server");
  auto tools = cl.list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  EXPECT_EQ(names(*tools),
            (std::vector<std::string>{"create_entities", "create_relations", "add_observations",
                                      "delete_entities", "delete_observations", "delete_relations",
                                      "read_graph", "search_nodes", "open_nodes"}));
  auto structured = [&](const std::string& name, std::string_view args) -> json::value {
    auto r = cl.call_tool(name, parse(args).as_object());
    EXPECT_TRUE(r) << name << ": " << (r ? "" : r.error().describe());
    if (!r) return nullptr;
    EXPECT_FALSE(r->contains("isError")) << name << ": " << json::dump(*r);
    return r->at("structuredContent");
  };
  EXPECT_EQ(structured("create_entities", R"({"entities":[
              {"name":"Ada","entityType":"person","observations":["wrote programs"]},
              {"name":"Engine","entityType":"machine","observations":[]}]})"),
            parse(R"({"entities":[
              {"name":"Ada","entityType":"person","observations":["wrote programs"]},
              {"name":"Engine","entityType":"machine","observations":[]}]})"));
  EXPECT_EQ(
      structured("create_relations",
                 R"({"relations":[{"from":"Ada","to":"Engine","relationType":"programmed"}]})"),
      parse(R"({"relations":[{"from":"Ada","to":"Engine","relationType":"programmed"}]})"));
  EXPECT_EQ(structured("add_observations",
                       R"({"observations":[{"entityName":"Engine","contents":["analytical"]}]})"),
            parse(R"({"results":[{"entityName":"Engine","addedObservations":["analytical"]}]})"));
  EXPECT_EQ(structured("search_nodes", R"({"query":"analytical"})"), parse(R"({
              "entities":[{"name":"Engine","entityType":"machine","observations":["analytical"]}],
              "relations":[{"from":"Ada","to":"Engine","relationType":"programmed"}]})"));
  EXPECT_EQ(structured("open_nodes", R"({"names":["Ada"]})"), parse(R"({
              "entities":[{"name":"Ada","entityType":"person","observations":["wrote programs"]}],
              "relations":[{"from":"Ada","to":"Engine","relationType":"programmed"}]})"));
  EXPECT_EQ(structured("delete_observations",
                       R"({"deletions":[{"entityName":"Ada","observations":["wrote programs"]}]})"),
            parse(R"({"success":true,"message":"Observations deleted successfully"})"));
  EXPECT_EQ(
      structured("delete_relations",
                 R"({"relations":[{"from":"Ada","to":"Engine","relationType":"programmed"}]})"),
      parse(R"({"success":true,"message":"Relations deleted successfully"})"));
  EXPECT_EQ(structured("delete_entities", R"({"entityNames":["Engine"]})"),
            parse(R"({"success":true,"message":"Entities deleted successfully"})"));
  EXPECT_EQ(structured("read_graph", "{}"),
            parse(R"({"entities":[{"name":"Ada","entityType":"person","observations":[]}],
                      "relations":[]})"));
  cl.close();
  // The graph was written where MEMORY_FILE_PATH said.
  EXPECT_EQ(read_file(t.path / "memory.jsonl"),
            R"({"type":"entity","name":"Ada","entityType":"person","observations":[]})");
}

TEST(ClientInterop, TypeScriptSdkV2ServerModernEra) {
  SKIP_WITHOUT_PACKAGE("@modelcontextprotocol/server");
  node_server s;
  s.args = {(interop_dir() / "v2_server.mjs").string()};
  s.mode = version_mode::modern_only;
  auto c = connect(s);
  ASSERT_TRUE(c) << c.error().describe();
  auto& cl = **c;
  EXPECT_EQ(cl.era(), protocol::era::modern);
  EXPECT_EQ(cl.protocol_version(), "2026-07-28");
  EXPECT_EQ(cl.server_info(), parse(R"({"name":"interop-v2-server","version":"1.2.3"})"));
  ASSERT_TRUE(cl.instructions());
  EXPECT_EQ(*cl.instructions(), "A v2 test server");
  auto tools = cl.list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  EXPECT_EQ(names(*tools), (std::vector<std::string>{"greet", "add", "confirm", "fail"}));
  EXPECT_EQ(tools->at(0).at("inputSchema").at("required"), parse(R"(["name"])"));
  auto resources = cl.list_resources();
  ASSERT_TRUE(resources) << resources.error().describe();
  EXPECT_EQ(names(*resources, "uri"), std::vector<std::string>{"config://app"});
  auto templates = cl.list_resource_templates();
  ASSERT_TRUE(templates) << templates.error().describe();
  EXPECT_EQ(names(*templates, "uriTemplate"), std::vector<std::string>{"items://{id}"});
  auto prompts = cl.list_prompts();
  ASSERT_TRUE(prompts) << prompts.error().describe();
  EXPECT_EQ(names(*prompts), std::vector<std::string>{"review"});

  auto greet = cl.call_tool("greet", {{"name", "Ada"}});
  ASSERT_TRUE(greet) << greet.error().describe();
  EXPECT_EQ(bare(*greet), parse(R"({"content":[{"type":"text","text":"Hello, Ada!"}]})"));
  auto add = cl.call_tool("add", {{"a", 2}, {"b", 3.5}});
  ASSERT_TRUE(add) << add.error().describe();
  EXPECT_EQ(add->at("structuredContent"), parse(R"({"sum":5.5})"));
  auto confirm = cl.call_tool("confirm", {{"action", "deploy"}});  // MRTR: input_required
  ASSERT_TRUE(confirm) << confirm.error().describe();
  EXPECT_EQ(bare(*confirm), parse(R"({"content":[{"type":"text","text":"deploy: done"}]})"));
  auto fail = cl.call_tool("fail", {});
  ASSERT_TRUE(fail) << fail.error().describe();
  EXPECT_EQ(bare(*fail),
            parse(R"({"content":[{"type":"text","text":"it failed on purpose"}],"isError":true})"));
  auto config = cl.read_resource("config://app");
  ASSERT_TRUE(config) << config.error().describe();
  EXPECT_EQ(bare(*config).at("contents"),
            parse(R"([{"uri":"config://app","mimeType":"text/plain","text":"debug=true"}])"));
  auto item = cl.read_resource("items://42");
  ASSERT_TRUE(item) << item.error().describe();
  EXPECT_EQ(
      bare(*item).at("contents"),
      parse(R"([{"uri":"items://42","mimeType":"application/json","text":"{\"id\":\"42\"}"}])"));
  auto review = cl.get_prompt("review", {{"code", "x = 1"}});
  ASSERT_TRUE(review) << review.error().describe();
  EXPECT_EQ(review->at("messages"),
            parse(R"([{"role":"user","content":{"type":"text","text":"Please review: x = 1"}}])"));
  auto unknown = cl.call_tool("no-such-tool");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, error::protocol);
  EXPECT_EQ(unknown.error().code, -32602);
  EXPECT_EQ(unknown.error().message, "Tool no-such-tool not found");
}

// ---- faults ---------------------------------------------------------------------------------

namespace {

struct fault_run {
  temp_dir dir;
  node_server server;
  explicit fault_run(const std::string& mode, std::chrono::milliseconds timeout = 1s) {
    server.args = {(interop_dir() / "fault_server.mjs").string(), mode};
    server.env = {{"FAULT_PID_FILE", (dir.path / "pid").string()}};
    server.timeout = timeout;
  }
  pid_t pid() {
    // The server writes it first thing; wait for it a little.
    for (int i = 0; i < 200 && !fs::exists(dir.path / "pid"); ++i)
      std::this_thread::sleep_for(10ms);
    auto s = read_file(dir.path / "pid");
    return s.empty() ? -1 : static_cast<pid_t>(std::stoi(s));
  }
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST(ClientFaults, ServerCrashesMidCall) {
  fault_run f("crash");
  auto c = connect(f.server);
  ASSERT_TRUE(c) << c.error().describe();
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->call_tool("boom");
  ASSERT_FALSE(r);
  EXPECT_LT(seconds_since(start), 0.9);  // the exit is noticed, not the timeout
  EXPECT_EQ(r.error().kind, error::closed);
  EXPECT_EQ(r.error().message, "the server exited with status 42");
  pid_t pid = f.pid();
  ASSERT_GT(pid, 0);
  (*c)->close();
  EXPECT_FALSE(process_exists(pid));
  // Later requests fail at once with the same reason.
  auto again = (*c)->call_tool("boom");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, error::closed);
}

TEST(ClientFaults, ServerHangsForeverAndIgnoresSigterm) {
  fault_run f("hang");
  auto c = connect(f.server);
  ASSERT_TRUE(c) << c.error().describe();
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->call_tool("boom");
  double took = seconds_since(start);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, error::timeout);
  EXPECT_EQ(r.error().describe(), "timed out: tools/call after 1.0 s");
  EXPECT_GE(took, 1.0);
  EXPECT_LT(took, 2.0);
  pid_t pid = f.pid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(process_exists(pid));
  start = std::chrono::steady_clock::now();
  (*c)->close();  // EOF (ignored), SIGTERM (ignored), then SIGKILL
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_FALSE(process_exists(pid));
}

TEST(ClientFaults, ServerNeverAnswersTheHandshake) {
  fault_run f("hang-start");
  auto start = std::chrono::steady_clock::now();
  auto c = connect(f.server);
  double took = seconds_since(start);
  ASSERT_FALSE(c);
  // The discover probe times out (1 s), then initialize does (1 s); then the process is killed.
  EXPECT_EQ(c.error().kind, error::timeout);
  EXPECT_EQ(c.error().describe(), "timed out: initialize after 1.0 s");
  EXPECT_LT(took, 5.0);
  pid_t pid = f.pid();
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(process_exists(pid));
}

TEST(ClientFaults, GarbageOnStdoutIsSkippedAndTimesOut) {
  fault_run f("garbage");
  auto c = connect(f.server);
  ASSERT_TRUE(c) << c.error().describe();
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->call_tool("boom");
  ASSERT_FALSE(r);
  EXPECT_LT(seconds_since(start), 2.0);
  EXPECT_EQ(r.error().kind, error::timeout);
  EXPECT_EQ(r.error().describe(), "timed out: tools/call after 1.0 s");
  // The connection is still usable after the garbage.
  auto tools = (*c)->list_tools();
  ASSERT_TRUE(tools) << tools.error().describe();
  EXPECT_EQ(names(*tools), std::vector<std::string>{"boom"});
  pid_t pid = f.pid();
  (*c)->close();
  EXPECT_FALSE(process_exists(pid));
}

TEST(ClientFaults, GarbageBeforeTheAnswerDoesNotHurt) {
  fault_run f("garbage-then-answer");
  auto c = connect(f.server);
  ASSERT_TRUE(c) << c.error().describe();
  auto r = (*c)->call_tool("boom");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, parse(R"({"content":[{"type":"text","text":"survived the garbage"}]})"));
}

TEST(ClientFaults, ServerClosesStdoutMidCall) {
  fault_run f("close-stdout", 5s);
  auto c = connect(f.server);
  ASSERT_TRUE(c) << c.error().describe();
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->call_tool("boom");
  ASSERT_FALSE(r);
  EXPECT_LT(seconds_since(start), 2.0);
  EXPECT_EQ(r.error().kind, error::closed);
  EXPECT_EQ(r.error().message, "the server closed its stdout");
  pid_t pid = f.pid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(process_exists(pid));  // still running with its stdout closed
  (*c)->close();
  EXPECT_FALSE(process_exists(pid));
}

TEST(ClientFaults, ServerClosesStdoutAtOnce) {
  fault_run f("close-stdout-start", 5s);
  auto start = std::chrono::steady_clock::now();
  auto c = connect(f.server);
  ASSERT_FALSE(c);
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_EQ(c.error().kind, error::closed);
  EXPECT_EQ(c.error().message, "the server closed its stdout");
  pid_t pid = f.pid();
  ASSERT_GT(pid, 0);
  EXPECT_FALSE(process_exists(pid));
}

TEST(ClientFaults, TwentyMebibyteAnswerWithinTheLimitArrivesWhole) {
  fault_run f("huge", 30s);
  f.server.max_message_bytes = 32 * 1024 * 1024;
  auto c = connect(f.server);
  ASSERT_TRUE(c) << c.error().describe();
  auto r = (*c)->call_tool("boom");
  ASSERT_TRUE(r) << r.error().describe();
  auto t = text(*r);
  EXPECT_EQ(t.size(), 20u * 1024 * 1024);
  EXPECT_EQ(t.find_first_not_of('x'), std::string::npos);
}

TEST(ClientFaults, TwentyMebibyteAnswerOverTheLimitFailsClearly) {
  // Default limit 16 MiB: the answer cannot be taken. The request must fail with an error that
  // says so, promptly, rather than wait for its timeout as if the server were silent.
  fault_run f("huge", 10s);
  auto c = connect(f.server);
  ASSERT_TRUE(c) << c.error().describe();
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->call_tool("boom");
  ASSERT_FALSE(r);
  EXPECT_LT(seconds_since(start), 5.0);
  EXPECT_NE(r.error().kind, error::timeout) << r.error().describe();
  EXPECT_NE(r.error().describe().find("16777216 bytes"), std::string::npos) << r.error().describe();
  pid_t pid = f.pid();
  (*c)->close();
  EXPECT_FALSE(process_exists(pid));
}
