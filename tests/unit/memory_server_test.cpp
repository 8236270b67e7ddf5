// The memory server in process: every tool, the reference server's result shapes
// (text and structuredContent, validated against each tool's outputSchema),
// persistence across restarts, concurrency and bad input.
#include "engine_harness.hpp"

#include "plexus/servers/memory.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

using namespace plexus;
using namespace plexus::testing;
namespace fs = std::filesystem;

namespace {

struct MemoryServerTest : ::testing::Test {
  std::string dir;
  std::string db_path;
  std::unique_ptr<server::server> srv;
  std::shared_ptr<capture> out = std::make_shared<capture>();
  std::unique_ptr<server::connection> conn;
  std::atomic<std::int64_t> next_id{1};
  std::map<std::string, schema::validator> output_validators;

  void SetUp() override {
    std::string tmpl = fs::temp_directory_path().string() + "/plexus-mem-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
    db_path = dir + "/graph.db";
    start();
  }
  void TearDown() override {
    conn.reset();
    srv.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void start() {
    conn.reset();
    srv.reset();
    srv = servers::make_memory_server({.database_path = db_path});
    conn = std::make_unique<server::connection>(*srv, out, server::connection_options{});
    output_validators.clear();
    auto list = rpc("tools/list", {}).at("result").as_object();
    for (auto& t : list.at("tools").as_array()) {
      auto& o = t.as_object();
      if (auto it = o.find("outputSchema"); it != o.end()) {
        auto v = schema::validator::compile(it->value());
        ASSERT_TRUE(v) << v.error();
        output_validators.emplace(std::string(o.at("name").as_string()), std::move(*v));
      }
    }
  }

  json::object rpc(std::string_view method, json::object params) {
    auto id = next_id++;
    conn->receive(modern_request(id, method, std::move(params)));
    auto r = out->response(id);
    EXPECT_TRUE(r) << "no response to " << method;
    return r ? r->as_object() : json::object{};
  }
  json::object call(std::string_view tool, json::object args = {}) {
    auto r = rpc("tools/call", {{"name", tool}, {"arguments", std::move(args)}});
    EXPECT_TRUE(r.contains("result")) << json::dump(r);
    return r.contains("result") ? r.at("result").as_object() : json::object{};
  }
  static std::string text(const json::object& r) {
    return std::string(r.at("content").as_array().at(0).as_object().at("text").as_string());
  }
  static bool is_error(const json::object& r) {
    auto e = json::find_bool(r, "isError");
    return e && *e;
  }
  // A successful call's structuredContent, checked against the tool's outputSchema and
  // against its text mirror.
  json::value ok(std::string_view tool, json::object args = {}) {
    auto r = call(tool, std::move(args));
    EXPECT_FALSE(is_error(r)) << tool << ": " << text(r);
    if (is_error(r)) return {};
    wire_schema("2026-07-28").expect_valid("CallToolResult", r);
    auto& sc = r.at("structuredContent");
    auto it = output_validators.find(std::string(tool));
    EXPECT_NE(it, output_validators.end()) << tool;
    if (it != output_validators.end())
      for (auto& e : it->second.validate(sc))
        ADD_FAILURE() << tool << " output at " << e.instance_path << ": " << e.message;
    return sc;
  }
  std::string fails(std::string_view tool, json::object args = {}) {
    auto r = call(tool, std::move(args));
    EXPECT_TRUE(is_error(r)) << tool << " succeeded";
    return text(r);
  }
};

json::object ent(std::string name, std::string type, json::array obs) {
  return {{"name", std::move(name)}, {"entityType", std::move(type)}, {"observations", obs}};
}
json::object rel(std::string from, std::string to, std::string type) {
  return {{"from", std::move(from)}, {"to", std::move(to)}, {"relationType", std::move(type)}};
}

}  // namespace

TEST_F(MemoryServerTest, ListsToolsWithSchemasAndAnnotations) {
  auto r = rpc("tools/list", {}).at("result").as_object();
  wire_schema("2026-07-28").expect_valid("ListToolsResult", r);
  std::vector<std::string> names;
  for (auto& t : r.at("tools").as_array()) names.emplace_back(t.as_object().at("name").as_string());
  EXPECT_EQ(names,
            (std::vector<std::string>{"create_entities", "create_relations", "add_observations",
                                      "delete_entities", "delete_observations", "delete_relations",
                                      "read_graph", "search_nodes", "open_nodes", "health"}));
  EXPECT_EQ(output_validators.size(), 10u);
  for (auto& t : r.at("tools").as_array()) {
    auto& o = t.as_object();
    auto& a = o.at("annotations").as_object();
    std::string n(o.at("name").as_string());
    bool read = n == "read_graph" || n == "search_nodes" || n == "open_nodes" || n == "health";
    EXPECT_EQ(a.at("readOnlyHint"), read) << n;
    EXPECT_EQ(a.at("destructiveHint"), n.starts_with("delete_")) << n;
  }
}

TEST_F(MemoryServerTest, CreateEntitiesReturnsReferenceShapes) {
  auto r = call("create_entities",
                {{"entities", json::array{ent("Ada", "person", {"mathematician", "wrote notes"}),
                                          ent("Engine", "machine", {})}}});
  ASSERT_FALSE(is_error(r));
  EXPECT_EQ(text(r),
            "[\n  {\n    \"name\": \"Ada\",\n    \"entityType\": \"person\",\n"
            "    \"observations\": [\n      \"mathematician\",\n      \"wrote notes\"\n    ]\n"
            "  },\n  {\n    \"name\": \"Engine\",\n    \"entityType\": \"machine\",\n"
            "    \"observations\": []\n  }\n]");
  EXPECT_EQ(
      r.at("structuredContent"),
      (json::object{{"entities", json::array{ent("Ada", "person", {"mathematician", "wrote notes"}),
                                             ent("Engine", "machine", {})}}}));
  // Existing names are ignored (nothing created, nothing changed).
  EXPECT_EQ(
      ok("create_entities",
         {{"entities", json::array{ent("Ada", "robot", {"x"}), ent("Bob", "person", {"a", "a"})}}}),
      (json::object{{"entities", json::array{ent("Bob", "person", {"a"})}}}));
  EXPECT_EQ(ok("read_graph"),
            (json::object{{"entities",
                           json::array{ent("Ada", "person", {"mathematician", "wrote notes"}),
                                       ent("Engine", "machine", {}), ent("Bob", "person", {"a"})}},
                          {"relations", json::array{}}}));
}

TEST_F(MemoryServerTest, RelationsNeedBothEntitiesAndIgnoreDuplicates) {
  ok("create_entities", {{"entities", json::array{ent("A", "t", {}), ent("B", "t", {})}}});
  auto r = call("create_relations", {{"relations", json::array{rel("A", "B", "knows")}}});
  EXPECT_EQ(text(r),
            "[\n  {\n    \"from\": \"A\",\n    \"to\": \"B\",\n    \"relationType\": \"knows\"\n"
            "  }\n]");
  EXPECT_EQ(r.at("structuredContent"),
            (json::object{{"relations", json::array{rel("A", "B", "knows")}}}));
  EXPECT_EQ(ok("create_relations",
               {{"relations", json::array{rel("A", "B", "knows"), rel("B", "A", "knows")}}}),
            (json::object{{"relations", json::array{rel("B", "A", "knows")}}}));
  // A relation to a missing entity fails the whole call.
  EXPECT_EQ(fails("create_relations",
                  {{"relations", json::array{rel("A", "B", "likes"), rel("A", "Zed", "likes")}}}),
            "Cannot create relation \"A\" -[likes]-> \"Zed\": entity \"Zed\" does not exist");
  EXPECT_EQ(fails("create_relations", {{"relations", json::array{rel("Nobody", "A", "x")}}}),
            "Cannot create relation \"Nobody\" -[x]-> \"A\": entity \"Nobody\" does not exist");
  EXPECT_EQ(ok("read_graph").as_object().at("relations"),
            (json::array{rel("A", "B", "knows"), rel("B", "A", "knows")}));
}

TEST_F(MemoryServerTest, AddAndDeleteObservations) {
  ok("create_entities", {{"entities", json::array{ent("A", "t", {"one"}), ent("B", "t", {})}}});
  auto r =
      call("add_observations",
           {{"observations",
             json::array{json::object{{"entityName", "A"}, {"contents", json::array{"one", "two"}}},
                         json::object{{"entityName", "B"}, {"contents", json::array{"b1"}}}}}});
  EXPECT_EQ(
      r.at("structuredContent"),
      (json::object{
          {"results",
           json::array{
               json::object{{"entityName", "A"}, {"addedObservations", json::array{"two"}}},
               json::object{{"entityName", "B"}, {"addedObservations", json::array{"b1"}}}}}}));
  EXPECT_EQ(text(r),
            "[\n  {\n    \"entityName\": \"A\",\n    \"addedObservations\": [\n      \"two\"\n"
            "    ]\n  },\n  {\n    \"entityName\": \"B\",\n    \"addedObservations\": [\n"
            "      \"b1\"\n    ]\n  }\n]");
  // A missing entity fails the call and rolls back the additions before it.
  EXPECT_EQ(
      fails("add_observations",
            {{"observations",
              json::array{json::object{{"entityName", "A"}, {"contents", json::array{"three"}}},
                          json::object{{"entityName", "Q"}, {"contents", json::array{"q"}}}}}}),
      "Entity with name Q not found");
  auto d = call(
      "delete_observations",
      {{"deletions",
        json::array{json::object{{"entityName", "A"}, {"observations", json::array{"one", "nope"}}},
                    json::object{{"entityName", "Q"}, {"observations", json::array{"x"}}}}}});
  EXPECT_EQ(text(d), "Observations deleted successfully");
  EXPECT_EQ(d.at("structuredContent"),
            (json::object{{"success", true}, {"message", "Observations deleted successfully"}}));
  EXPECT_EQ(ok("read_graph").as_object().at("entities"),
            (json::array{ent("A", "t", {"two"}), ent("B", "t", {"b1"})}));
}

TEST_F(MemoryServerTest, DeleteEntitiesCascadesToRelations) {
  ok("create_entities",
     {{"entities", json::array{ent("A", "t", {"a"}), ent("B", "t", {}), ent("C", "t", {})}}});
  ok("create_relations",
     {{"relations", json::array{rel("A", "B", "r"), rel("B", "C", "r"), rel("C", "A", "r")}}});
  auto r = call("delete_entities", {{"entityNames", json::array{"A", "missing"}}});
  EXPECT_EQ(text(r), "Entities deleted successfully");
  EXPECT_EQ(r.at("structuredContent"),
            (json::object{{"success", true}, {"message", "Entities deleted successfully"}}));
  EXPECT_EQ(ok("read_graph"),
            (json::object{{"entities", json::array{ent("B", "t", {}), ent("C", "t", {})}},
                          {"relations", json::array{rel("B", "C", "r")}}}));
  // Re-creating A starts fresh (its observations went with it).
  ok("create_entities", {{"entities", json::array{ent("A", "t", {})}}});
  EXPECT_EQ(
      ok("open_nodes", {{"names", json::array{"A"}}}),
      (json::object{{"entities", json::array{ent("A", "t", {})}}, {"relations", json::array{}}}));
}

TEST_F(MemoryServerTest, DeleteRelations) {
  ok("create_entities", {{"entities", json::array{ent("A", "t", {}), ent("B", "t", {})}}});
  ok("create_relations", {{"relations", json::array{rel("A", "B", "r1"), rel("A", "B", "r2")}}});
  auto r = call(
      "delete_relations",
      {{"relations", json::array{rel("A", "B", "r1"), rel("B", "A", "r2"), rel("X", "Y", "r1")}}});
  EXPECT_EQ(text(r), "Relations deleted successfully");
  EXPECT_EQ(ok("read_graph").as_object().at("relations"), (json::array{rel("A", "B", "r2")}));
}

TEST_F(MemoryServerTest, SearchAndOpenNodes) {
  ok("create_entities",
     {{"entities",
       json::array{ent("Alice", "person", {"likes Tea"}), ent("Bob", "person", {"likes coffee"}),
                   ent("Teapot", "object", {}), ent("Rome", "city", {})}}});
  ok("create_relations",
     {{"relations", json::array{rel("Alice", "Teapot", "owns"), rel("Bob", "Rome", "lives_in"),
                                rel("Alice", "Bob", "knows")}}});
  auto s = call("search_nodes", {{"query", "TEA"}});
  EXPECT_EQ(s.at("structuredContent"),
            (json::object{{"entities", json::array{ent("Alice", "person", {"likes Tea"}),
                                                   ent("Teapot", "object", {})}},
                          {"relations", json::array{rel("Alice", "Teapot", "owns")}}}));
  EXPECT_EQ(text(s),
            "{\n  \"entities\": [\n    {\n      \"name\": \"Alice\",\n"
            "      \"entityType\": \"person\",\n      \"observations\": [\n"
            "        \"likes Tea\"\n      ]\n    },\n    {\n      \"name\": \"Teapot\",\n"
            "      \"entityType\": \"object\",\n      \"observations\": []\n    }\n"
            "  ],\n  \"relations\": [\n    {\n      \"from\": \"Alice\",\n"
            "      \"to\": \"Teapot\",\n      \"relationType\": \"owns\"\n    }\n  ]\n}");
  EXPECT_EQ(ok("search_nodes", {{"query", "person"}}),
            (json::object{{"entities", json::array{ent("Alice", "person", {"likes Tea"}),
                                                   ent("Bob", "person", {"likes coffee"})}},
                          {"relations", json::array{rel("Alice", "Bob", "knows")}}}));
  EXPECT_EQ(ok("search_nodes", {{"query", "zzz"}}),
            (json::object{{"entities", json::array{}}, {"relations", json::array{}}}));
  EXPECT_EQ(ok("open_nodes", {{"names", json::array{"Bob", "Rome", "Ghost"}}}),
            (json::object{{"entities", json::array{ent("Bob", "person", {"likes coffee"}),
                                                   ent("Rome", "city", {})}},
                          {"relations", json::array{rel("Bob", "Rome", "lives_in")}}}));
}

TEST_F(MemoryServerTest, GraphPersistsAcrossRestarts) {
  ok("create_entities",
     {{"entities", json::array{ent("A", "t", {"o1", "o2"}), ent("B", "u", {})}}});
  ok("create_relations", {{"relations", json::array{rel("A", "B", "r")}}});
  auto before = ok("read_graph");
  start();  // a new server on the same file
  EXPECT_EQ(ok("read_graph"), before);
  EXPECT_EQ(before,
            (json::object{{"entities", json::array{ent("A", "t", {"o1", "o2"}), ent("B", "u", {})}},
                          {"relations", json::array{rel("A", "B", "r")}}}));
  ok("add_observations",
     {{"observations",
       json::array{json::object{{"entityName", "B"}, {"contents", json::array{"later"}}}}}});
  start();
  EXPECT_EQ(ok("open_nodes", {{"names", json::array{"B"}}}).as_object().at("entities"),
            (json::array{ent("B", "u", {"later"})}));
  // WAL mode is on for the file.
  EXPECT_TRUE(fs::exists(db_path));
  EXPECT_TRUE(fs::exists(db_path + "-wal"));
}

TEST_F(MemoryServerTest, ConcurrentCallsFromManyConnections) {
  constexpr int threads = 8, per_thread = 25;
  std::vector<std::thread> pool;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      auto my_out = std::make_shared<capture>();
      server::connection c(*srv, my_out, server::connection_options{});
      for (int i = 0; i < per_thread; ++i) {
        std::string name = "e" + std::to_string(t) + "_" + std::to_string(i);
        json::object args{{"entities", json::array{ent(name, "t", {"x"})}}};
        c.receive(
            modern_request(i, "tools/call", {{"name", "create_entities"}, {"arguments", args}}));
        auto r = my_out->response(i, std::chrono::seconds(30));
        if (!r || !r->as_object().contains("result") ||
            r->as_object().at("result").as_object().contains("isError"))
          ++failures;
        json::object obs{
            {"observations", json::array{json::object{{"entityName", name},
                                                      {"contents", json::array{"y", "shared"}}}}}};
        c.receive(modern_request(1000 + i, "tools/call",
                                 {{"name", "add_observations"}, {"arguments", obs}}));
        r = my_out->response(1000 + i, std::chrono::seconds(30));
        if (!r || !r->as_object().contains("result") ||
            r->as_object().at("result").as_object().contains("isError"))
          ++failures;
      }
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto h = ok("health").as_object();
  EXPECT_EQ(h.at("status"), "ok");
  EXPECT_EQ(h.at("entities"), threads * per_thread);
  EXPECT_EQ(h.at("observations"), threads * per_thread * 3);
  EXPECT_EQ(h.at("relations"), 0);
  EXPECT_EQ(h.at("database"), json::value(db_path));
  EXPECT_EQ(ok("search_nodes", {{"query", "e7_24"}}).as_object().at("entities"),
            (json::array{ent("e7_24", "t", {"x", "y", "shared"})}));
}

TEST_F(MemoryServerTest, BadInputIsAToolErrorAndChangesNothing) {
  auto missing = fails("create_entities", {{"entities", json::array{json::object{{"name", "A"}}}}});
  EXPECT_EQ(missing.rfind("Invalid arguments for tool create_entities: /entities/0", 0), 0u)
      << missing;
  auto wrong = fails("open_nodes", {{"names", "A"}});
  EXPECT_EQ(wrong.rfind("Invalid arguments for tool open_nodes: /names", 0), 0u) << wrong;
  auto extra = fails("read_graph", {{"x", 1}});
  EXPECT_EQ(extra.rfind("Invalid arguments for tool read_graph:", 0), 0u) << extra;
  EXPECT_EQ(
      fails("create_entities", {{"entities", json::array{ent("ok", "t", {}), ent("", "t", {})}}}),
      "entity name must not be empty");
  EXPECT_EQ(fails("create_entities", {{"entities", json::array{ent("n", "", {})}}}),
            "entityType of \"n\" must not be empty");
  // Nothing from the failed calls was kept.
  EXPECT_EQ(ok("read_graph"),
            (json::object{{"entities", json::array{}}, {"relations", json::array{}}}));
}

TEST_F(MemoryServerTest, ParametersAreBoundNotSpliced) {
  std::string evil = "x'); DROP TABLE entities; --";
  std::string quote = "O'Brien \"the\" \\ %_";
  ok("create_entities", {{"entities", json::array{ent(evil, quote, {evil}), ent(quote, "t", {})}}});
  ok("create_relations",
     {{"relations", json::array{rel(evil, quote, "'; DELETE FROM relations")}}});
  EXPECT_EQ(
      ok("read_graph"),
      (json::object{{"entities", json::array{ent(evil, quote, {evil}), ent(quote, "t", {})}},
                    {"relations", json::array{rel(evil, quote, "'; DELETE FROM relations")}}}));
  EXPECT_EQ(ok("search_nodes", {{"query", "%"}}).as_object().at("entities").as_array().size(), 2u);
}

TEST(MemoryServerConfig, UnopenableDatabaseThrows) {
  EXPECT_THROW(servers::make_memory_server({.database_path = "/nonexistent/dir/graph.db"}),
               std::runtime_error);
}
