// `plexus server NAME --stdio` for the built-in servers, driven through the
// Plexus client: the CLI wiring, data directories and each server's basics.
#include "plexus/client/client.hpp"

#include <gtest/gtest.h>
#include "temp_dir.hpp"

#include <filesystem>
#include <fstream>

using namespace plexus;
using namespace plexus::client;
namespace fs = std::filesystem;

namespace {

using plexus::testing::temp_dir;

std::unique_ptr<client::client> start(std::vector<std::string> args) {
  args.insert(args.begin(), "server");
  auto c = client::client::connect(make_stdio_transport({.command = PLEXUS_BINARY, .args = args}),
                                   client_options{});
  EXPECT_TRUE(c) << (c ? "" : c.error().describe());
  return c ? std::move(*c) : nullptr;
}

std::string text(const json::object& r) {
  return std::string(r.at("content").as_array().at(0).as_object().at("text").as_string());
}

std::set<std::string> names(const std::vector<json::object>& tools) {
  std::set<std::string> out;
  for (const auto& t : tools) out.emplace(t.at("name").as_string());
  return out;
}

}  // namespace

TEST(ServerCommand, MemoryPersistsUnderTheDataDirectory) {
  temp_dir d;
  {
    auto c = start({"memory", "--stdio", "--data-dir", d.path.string()});
    ASSERT_TRUE(c);
    auto r = c->call_tool(
        "create_entities",
        {{"entities", json::array{json::object{{"name", "Ada"},
                                               {"entityType", "person"},
                                               {"observations", json::array{"wrote notes"}}}}}});
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_FALSE(r->contains("isError"));
  }
  EXPECT_TRUE(fs::exists(d.path / "memory.db"));
  auto c = start({"memory", "--stdio", "--data-dir", d.path.string()});
  ASSERT_TRUE(c);
  auto g = c->call_tool("read_graph");
  ASSERT_TRUE(g);
  EXPECT_NE(text(*g).find("\"wrote notes\""), std::string::npos) << text(*g);
}

TEST(ServerCommand, FilesystemIsConfinedToItsRoot) {
  temp_dir d;
  std::ofstream(d.path / "hello.txt") << "hi there";
  auto c = start({"filesystem", "--stdio", "--root", d.path.string()});
  ASSERT_TRUE(c);
  auto tools = c->list_tools();
  ASSERT_TRUE(tools);
  EXPECT_TRUE(names(*tools).count("read_text_file"));
  auto r = c->call_tool("read_text_file", {{"path", (d.path / "hello.txt").string()}});
  ASSERT_TRUE(r);
  EXPECT_EQ(text(*r), "hi there");
  auto escape = c->call_tool("read_text_file", {{"path", "/etc/passwd"}});
  ASSERT_TRUE(escape);
  EXPECT_EQ(escape->at("isError"), true);
  auto ro = start({"filesystem", "--stdio", "--root", d.path.string(), "--read-only"});
  ASSERT_TRUE(ro);
  EXPECT_FALSE(names(*ro->list_tools()).count("write_file"));
}

TEST(ServerCommand, DatabaseWritesOnlyWhenAllowed) {
  temp_dir d;
  auto db = (d.path / "app.db").string();
  {
    auto c = start({"database", "--stdio", "--database", db, "--allow-writes"});
    ASSERT_TRUE(c);
    auto w = c->call_tool("execute", {{"sql", "CREATE TABLE t(x INTEGER)"}});
    ASSERT_TRUE(w);
    EXPECT_FALSE(w->contains("isError")) << text(*w);
    ASSERT_TRUE(c->call_tool("execute",
                             {{"sql", "INSERT INTO t VALUES (?)"}, {"params", json::array{42}}}));
  }
  auto c = start({"database", "--stdio", "--database", db});
  ASSERT_TRUE(c);
  EXPECT_FALSE(names(*c->list_tools()).count("execute"));
  auto q = c->call_tool("query", {{"sql", "SELECT x FROM t"}});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->at("structuredContent").at("rows"), json::value(json::array{json::array{42}}));
  auto bad = c->call_tool("query", {{"sql", "DELETE FROM t"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->at("isError"), true);
}

TEST(ServerCommand, WeatherFailsClearlyWhenTheProviderIsUnreachable) {
  auto c = start({"weather", "--stdio", "--weather-url", "http://127.0.0.1:1", "--geocoding-url",
                  "http://127.0.0.1:1"});
  ASSERT_TRUE(c);
  auto r = c->call_tool("get_weather", {{"latitude", 37.77}, {"longitude", -122.42}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->at("isError"), true);
  EXPECT_NE(text(*r).find("127.0.0.1:1"), std::string::npos) << text(*r);
}

TEST(ServerCommand, UnknownServerIsAUsageError) {
  auto t = make_stdio_transport({.command = PLEXUS_BINARY, .args = {"server", "nope", "--stdio"}});
  auto c = client::client::connect(std::move(t), client_options{});
  EXPECT_FALSE(c);
}
