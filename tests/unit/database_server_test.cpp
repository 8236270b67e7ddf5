// The database server over a temporary SQLite file, through the engine (tools/call): every tool
// with good and bad input, read-only enforcement, one statement per call, parameters, the row
// limit and the time limit.
#include "engine_harness.hpp"

#include "plexus/servers/database.hpp"

#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <thread>

using namespace plexus;
using namespace plexus::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* people_sql =
    "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER DEFAULT 0, "
    "score REAL, note TEXT)";

std::string temp_db_path() {
  static std::atomic<int> n{0};
  auto p = std::filesystem::temp_directory_path() /
           ("plexus-db-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".db");
  std::filesystem::remove(p);
  return p.string();
}

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  ASSERT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in " << sql;
}

struct DatabaseTest : ::testing::Test {
  std::string path = temp_db_path();
  std::unique_ptr<server::server> srv;
  std::shared_ptr<capture> out = std::make_shared<capture>();
  std::unique_ptr<server::connection> conn;
  std::int64_t next_id = 1;

  void SetUp() override {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    exec(db, people_sql);
    exec(db,
         "INSERT INTO people VALUES (1, 'alice', 30, 9.5, NULL), (2, 'bob', 25, 7.25, 'likes "
         "SQL'), (3, 'chloé', 41, NULL, 'x')");
    exec(db,
         "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, person_id INTEGER NOT NULL "
         "REFERENCES people(id), kind TEXT NOT NULL DEFAULT 'visit', at TEXT)");
    exec(db, "CREATE VIEW adults AS SELECT name FROM people WHERE age >= 18");
    sqlite3_close(db);
  }
  void TearDown() override {
    conn.reset();
    srv.reset();
    std::filesystem::remove(path);
  }

  servers::database_config config() {
    servers::database_config c;
    c.sqlite_path = path;
    c.max_rows = 100;
    c.timeout = 2000ms;
    return c;
  }
  void start(servers::database_config c) {
    conn.reset();
    srv = servers::make_database_server(std::move(c));
    conn = std::make_unique<server::connection>(*srv, out, server::connection_options{});
  }
  void start() { start(config()); }
  void start_writable() {
    auto c = config();
    c.allow_writes = true;
    start(c);
  }

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
  json::object query(std::string sql, json::array params = {}) {
    json::object args{{"sql", sql}};
    if (!params.empty()) args["params"] = std::move(params);
    return call("query", std::move(args));
  }
  static std::string text_of(const json::object& result) {
    return std::string(result.at("content").as_array().at(0).as_object().at("text").as_string());
  }
  static bool is_error(const json::object& result) {
    auto it = result.find("isError");
    return it != result.end() && it->value() == true;
  }
  std::int64_t people_count() {
    auto r = query("SELECT count(*) FROM people");
    return r.at("structuredContent").at("rows").at(0).at(0).as_int64();
  }
};

std::vector<std::string> tool_names(const json::array& tools) {
  std::vector<std::string> names;
  for (const auto& t : tools) names.emplace_back(t.at("name").as_string());
  return names;
}

TEST_F(DatabaseTest, ReadOnlyServerListsNoExecuteAndTruthfulAnnotations) {
  start();
  conn->receive(modern_request(1, "tools/list"));
  auto r = out->response(1);
  ASSERT_TRUE(r);
  const auto& tools = r->at("result").at("tools").as_array();
  EXPECT_EQ(tool_names(tools),
            (std::vector<std::string>{"query", "list_tables", "describe_table", "health"}));
  const auto& q = tools.at(0).as_object();
  EXPECT_EQ(q.at("annotations"), boost::json::parse(R"({"title":"SQL query","readOnlyHint":true,
              "destructiveHint":false,"idempotentHint":true,"openWorldHint":false})"));
  EXPECT_EQ(q.at("inputSchema").at("required"), json::value(json::array{"sql"}));
  EXPECT_TRUE(q.contains("outputSchema"));
  wire_schema("2026-07-28").expect_valid("ListToolsResult", r->at("result"));

  start_writable();
  conn->receive(modern_request(2, "tools/list"));
  auto w = out->response(2);
  ASSERT_TRUE(w);
  const auto& wt = w->at("result").at("tools").as_array();
  EXPECT_EQ(tool_names(wt), (std::vector<std::string>{"query", "execute", "list_tables",
                                                      "describe_table", "health"}));
  EXPECT_EQ(wt.at(1).at("annotations"),
            boost::json::parse(R"({"title":"SQL execute","readOnlyHint":false,
              "destructiveHint":true,"idempotentHint":false,"openWorldHint":false})"));
}

TEST_F(DatabaseTest, QueryWithParametersGivesRowsAndAnAlignedTable) {
  start();
  auto r = query("SELECT id, name, score FROM people WHERE age > ?1 ORDER BY id", {26});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  EXPECT_EQ(r.at("structuredContent"), boost::json::parse(R"({"columns":["id","name","score"],
              "rows":[[1,"alice",9.5],[3,"chloé",null]],"truncated":false,"row_count":2})"));
  EXPECT_EQ(text_of(r),
            "id | name  | score\n"
            "---+-------+------\n"
            "1  | alice | 9.5\n"
            "3  | chloé | NULL\n"
            "(2 rows)");
  wire_schema("2026-07-28").expect_valid("CallToolResult", r);
}

TEST_F(DatabaseTest, ParametersMapJsonScalarsToSqliteTypes) {
  start();
  auto r = query(
      "SELECT ?1 AS a, ?2 AS b, ?3 AS c, ?4 AS d, ?5 AS e, typeof(?1), typeof(?2), typeof(?3), "
      "typeof(?4), typeof(?5)",
      {nullptr, true, 42, 2.5, "it's"});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  EXPECT_EQ(
      r.at("structuredContent").at("rows"),
      boost::json::parse(R"([[null,1,42,2.5,"it's","null","integer","integer","real","text"]])"));
  // Bound, not spliced: an injection attempt is just a string.
  auto inj = query("SELECT count(*) FROM people WHERE name = ?", {"x' OR '1'='1"});
  EXPECT_EQ(inj.at("structuredContent").at("rows"), boost::json::parse("[[0]]"));
  // Blobs come back as base64, non-finite reals as null.
  auto blob = query("SELECT x'00FF10' AS b, 1e999 AS big");
  EXPECT_EQ(blob.at("structuredContent").at("rows"), boost::json::parse(R"([["AP8Q",null]])"));
}

TEST_F(DatabaseTest, BadParametersAreToolErrors) {
  start();
  auto few = query("SELECT ?1, ?2", {1});
  EXPECT_TRUE(is_error(few));
  EXPECT_EQ(text_of(few), "the statement has 2 parameters, got 1");
  auto many = query("SELECT 1", {1});
  EXPECT_EQ(text_of(many), "the statement has 0 parameters, got 1");
  auto obj = query("SELECT ?1", {json::object{{"a", 1}}});
  EXPECT_TRUE(is_error(obj));
  EXPECT_NE(text_of(obj).find("/params/0"), std::string::npos) << text_of(obj);
  auto missing = call("query", json::object{});
  EXPECT_TRUE(is_error(missing));
  EXPECT_NE(text_of(missing).find("sql"), std::string::npos) << text_of(missing);
}

TEST_F(DatabaseTest, QueryRefusesWrites) {
  start();
  for (const char* sql : {"INSERT INTO people (name) VALUES ('eve')", "DELETE FROM people",
                          "UPDATE people SET age = 0", "DROP TABLE people", "CREATE TABLE t (a)"}) {
    auto r = query(sql);
    EXPECT_TRUE(is_error(r)) << sql;
    EXPECT_EQ(text_of(r), "query runs read-only statements only; use execute to change data")
        << sql;
  }
  // The read connection's guard cannot be switched off, nor other files attached.
  auto pragma = query("PRAGMA query_only = OFF");
  EXPECT_EQ(text_of(pragma), "SQL error: not authorized");
  auto attach = query("ATTACH DATABASE '" + path + "-other' AS other");
  EXPECT_EQ(text_of(attach), "SQL error: not authorized");
  EXPECT_FALSE(std::filesystem::exists(path + "-other"));
  EXPECT_EQ(people_count(), 3);
  // Read-only pragmas still work.
  auto info = query("PRAGMA table_info(people)");
  ASSERT_FALSE(is_error(info)) << json::dump(info);
  EXPECT_EQ(info.at("structuredContent").at("row_count"), 5);
}

TEST_F(DatabaseTest, OneStatementPerCall) {
  start_writable();
  auto q = query("SELECT 1; DROP TABLE people");
  EXPECT_TRUE(is_error(q));
  EXPECT_EQ(text_of(q), "only one SQL statement per call is allowed");
  auto e =
      call("execute", {{"sql", "INSERT INTO people (name) VALUES ('eve'); DROP TABLE people"}});
  EXPECT_TRUE(is_error(e));
  EXPECT_EQ(text_of(e), "only one SQL statement per call is allowed");
  auto hidden =
      call("execute", {{"sql", "DELETE FROM people WHERE id = 9;/* x */ DELETE FROM people"}});
  EXPECT_EQ(text_of(hidden), "only one SQL statement per call is allowed");
  EXPECT_EQ(people_count(), 3);  // nothing ran
  // A trailing semicolon and comments are fine.
  auto ok = query("SELECT 7 AS n; -- done\n  ");
  ASSERT_FALSE(is_error(ok)) << json::dump(ok);
  EXPECT_EQ(ok.at("structuredContent").at("rows"), boost::json::parse("[[7]]"));
}

TEST_F(DatabaseTest, BadSqlGivesSqliteMessage) {
  start();
  auto syntax = query("SELEC * FROM people");
  EXPECT_TRUE(is_error(syntax));
  EXPECT_EQ(text_of(syntax), "SQL error: near \"SELEC\": syntax error");
  auto table = query("SELECT * FROM nope");
  EXPECT_EQ(text_of(table), "SQL error: no such table: nope");
  auto column = query("SELECT nope FROM people");
  EXPECT_EQ(text_of(column), "SQL error: no such column: nope");
  auto blank = query("  -- only a comment");
  EXPECT_EQ(text_of(blank), "no SQL statement given");
}

TEST_F(DatabaseTest, RowLimitTruncates) {
  auto c = config();
  c.max_rows = 10;
  start(c);
  auto r = query(
      "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 50) "
      "SELECT x FROM n");
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  const auto& s = r.at("structuredContent");
  EXPECT_EQ(s.at("row_count"), 10);
  EXPECT_EQ(s.at("truncated"), true);
  EXPECT_EQ(s.at("rows").as_array().back(), boost::json::parse("[10]"));
  EXPECT_TRUE(text_of(r).ends_with("10\n(10 rows; truncated: more rows exist)")) << text_of(r);
  // Exactly max_rows rows is not truncated.
  auto exact = query(
      "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < "
      "10) SELECT x FROM n");
  EXPECT_EQ(exact.at("structuredContent").at("truncated"), false);
  EXPECT_EQ(exact.at("structuredContent").at("row_count"), 10);
}

TEST_F(DatabaseTest, TimeLimitInterruptsRunawayQuery) {
  auto c = config();
  c.timeout = 200ms;
  start(c);
  auto begin = std::chrono::steady_clock::now();
  auto r = query(
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
      "SELECT count(*) FROM c");
  auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_TRUE(is_error(r));
  EXPECT_EQ(text_of(r), "the statement was interrupted: it exceeded the time limit of 200 ms");
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 3s);
  // The connection is usable afterwards.
  EXPECT_EQ(people_count(), 3);
}

TEST_F(DatabaseTest, ListTables) {
  start();
  auto r = call("list_tables", json::object{});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  EXPECT_EQ(r.at("structuredContent"),
            boost::json::parse(R"({"tables":[{"name":"adults","type":"view"},
              {"name":"events","type":"table"},{"name":"people","type":"table"}]})"));
  EXPECT_EQ(text_of(r), "adults (view)\nevents (table)\npeople (table)\n(3 tables)");
  auto extra = call("list_tables", {{"x", 1}});
  EXPECT_TRUE(is_error(extra));
}

TEST_F(DatabaseTest, DescribeTableExact) {
  start();
  auto r = call("describe_table", {{"table", "people"}});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  json::object expected{{"table", "people"},
                        {"type", "table"},
                        {"columns", boost::json::parse(R"([
        {"name":"id","type":"INTEGER","not_null":false,"primary_key":1},
        {"name":"name","type":"TEXT","not_null":true,"primary_key":0},
        {"name":"age","type":"INTEGER","not_null":false,"default_value":"0","primary_key":0},
        {"name":"score","type":"REAL","not_null":false,"primary_key":0},
        {"name":"note","type":"TEXT","not_null":false,"primary_key":0}])")},
                        {"sql", people_sql}};
  EXPECT_EQ(r.at("structuredContent"), json::value(expected));
  EXPECT_EQ(text_of(r),
            "table people\n"
            "column | type    | not_null | default | primary_key\n"
            "-------+---------+----------+---------+------------\n"
            "id     | INTEGER | no       | NULL    | 1\n"
            "name   | TEXT    | yes      | NULL    | 0\n"
            "age    | INTEGER | no       | 0       | 0\n"
            "score  | REAL    | no       | NULL    | 0\n"
            "note   | TEXT    | no       | NULL    | 0\n"
            "(5 rows)\n" +
                std::string(people_sql));
  auto events = call("describe_table", {{"table", "events"}});
  EXPECT_EQ(events.at("structuredContent").at("columns").at(2),
            boost::json::parse(R"({"name":"kind","type":"TEXT","not_null":true,
              "default_value":"'visit'","primary_key":0})"));
  auto view = call("describe_table", {{"table", "adults"}});
  EXPECT_EQ(view.at("structuredContent").at("type"), "view");
  EXPECT_EQ(view.at("structuredContent").at("columns"),
            boost::json::parse(R"([{"name":"name","type":"TEXT","not_null":false,
              "primary_key":0}])"));
}

TEST_F(DatabaseTest, DescribeTableBadInput) {
  start();
  auto missing = call("describe_table", {{"table", "ghosts"}});
  EXPECT_TRUE(is_error(missing));
  EXPECT_EQ(text_of(missing), "no such table: ghosts");
  auto inj = call("describe_table", {{"table", "people; DROP TABLE people"}});
  EXPECT_EQ(text_of(inj), "no such table: people; DROP TABLE people");
  auto empty = call("describe_table", {{"table", ""}});
  EXPECT_TRUE(is_error(empty));
  EXPECT_NE(text_of(empty).find("/table"), std::string::npos) << text_of(empty);
  EXPECT_EQ(people_count(), 3);
}

TEST_F(DatabaseTest, ExecuteWritesWhenAllowed) {
  start_writable();
  auto ins = call("execute", {{"sql", "INSERT INTO people (name, age) VALUES (?1, ?2)"},
                              {"params", json::array{"dave", 52}}});
  ASSERT_FALSE(is_error(ins)) << json::dump(ins);
  EXPECT_EQ(ins.at("structuredContent"),
            boost::json::parse(R"({"columns":[],"rows":[],"truncated":false,"row_count":0,
              "rows_affected":1,"last_insert_id":4})"));
  EXPECT_EQ(text_of(ins), "(0 rows)\n1 row affected");
  auto ret = call("execute", {{"sql",
                               "INSERT INTO events (person_id, at) VALUES (?1, ?2) "
                               "RETURNING id, kind"},
                              {"params", json::array{4, "2026-11-21"}}});
  ASSERT_FALSE(is_error(ret)) << json::dump(ret);
  EXPECT_EQ(ret.at("structuredContent").at("rows"), boost::json::parse(R"([[1,"visit"]])"));
  EXPECT_EQ(text_of(ret), "id | kind\n---+------\n1  | visit\n(1 row)\n1 row affected");
  auto upd = call("execute", {{"sql", "UPDATE people SET age = age + 1 WHERE age > 26"}});
  EXPECT_EQ(upd.at("structuredContent").at("rows_affected"), 3);
  EXPECT_EQ(people_count(), 4);
  auto q = query("SELECT age FROM people WHERE name = 'dave'");
  EXPECT_EQ(q.at("structuredContent").at("rows"), boost::json::parse("[[53]]"));

  auto bad = call("execute", {{"sql", "INSERT INTO people (age) VALUES (1)"}});
  EXPECT_TRUE(is_error(bad));
  EXPECT_EQ(text_of(bad), "SQL error: NOT NULL constraint failed: people.name");
  auto syntax = call("execute", {{"sql", "INSRT INTO people VALUES (1)"}});
  EXPECT_EQ(text_of(syntax), "SQL error: near \"INSRT\": syntax error");
  auto ddl = call("execute", {{"sql", "CREATE TABLE notes (body TEXT)"}});
  ASSERT_FALSE(is_error(ddl)) << json::dump(ddl);
  EXPECT_EQ(text_of(ddl), "(0 rows)\n0 rows affected");
  auto tables = call("list_tables", json::object{});
  EXPECT_EQ(tables.at("structuredContent").at("tables").as_array().size(), 4u);
}

// Writes stay inside the configured database: no other file is created or touched.
TEST_F(DatabaseTest, ExecuteCannotReachOtherFiles) {
  start_writable();
  auto other = std::filesystem::path(path).parent_path() /
               ("other-" + std::filesystem::path(path).filename().string());
  for (std::string sql :
       {"ATTACH DATABASE '" + other.string() + "' AS x", "VACUUM INTO '" + other.string() + "'"}) {
    auto r = call("execute", {{"sql", sql}});
    EXPECT_TRUE(is_error(r)) << sql << ": " << json::dump(r);
    EXPECT_FALSE(std::filesystem::exists(other)) << sql;
  }
  auto w = call("execute", {{"sql", "PRAGMA writable_schema = ON"}});
  auto tamper =
      call("execute", {{"sql", "UPDATE sqlite_schema SET sql = 'x' WHERE name = 'people'"}});
  EXPECT_TRUE(is_error(tamper)) << json::dump(w) << json::dump(tamper);
  EXPECT_EQ(people_count(), 3);
  std::filesystem::remove(other);
}

TEST_F(DatabaseTest, ExecuteIsUnknownWhenWritesAreOff) {
  start();
  auto id = next_id++;
  conn->receive(modern_request(id, "tools/call",
                               {{"name", "execute"}, {"arguments", json::object{{"sql", "x"}}}}));
  auto r = out->response(id);
  ASSERT_TRUE(r);
  // Unknown tool: a protocol error, not a result.
  ASSERT_TRUE(r->as_object().contains("error")) << json::dump(*r);
  EXPECT_EQ(r->at("error").at("code"), -32602);
  EXPECT_EQ(r->at("error").at("message"), "Unknown tool: execute");
  EXPECT_EQ(people_count(), 3);
}

TEST_F(DatabaseTest, Health) {
  start();
  auto r = call("health", json::object{});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  json::object expected{
      {"status", "ok"},    {"backend", "sqlite"}, {"version", sqlite3_libversion()},
      {"location", path},  {"writable", false},   {"max_rows", 100},
      {"timeout_ms", 2000}};
  EXPECT_EQ(r.at("structuredContent"), json::value(expected));
  EXPECT_EQ(text_of(r), "ok: sqlite " + std::string(sqlite3_libversion()) + " at " + path);
}

TEST_F(DatabaseTest, MissingFileIsAnErrorWhenReadOnly) {
  auto c = config();
  c.sqlite_path = path + "-missing";
  try {
    servers::make_database_server(c);
    ADD_FAILURE() << "expected sql_error";
  } catch (const servers::sql::sql_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot open SQLite database " + c.sqlite_path + ": unable to open database file");
  }
  EXPECT_FALSE(std::filesystem::exists(c.sqlite_path));
}

TEST_F(DatabaseTest, InMemoryDatabase) {
  servers::database_config c;
  c.sqlite_path = ":memory:";
  c.allow_writes = true;
  start(c);
  auto ddl = call("execute", {{"sql", "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)"}});
  ASSERT_FALSE(is_error(ddl)) << json::dump(ddl);
  call("execute", {{"sql", "INSERT INTO kv VALUES ('a', 1), ('b', 2)"}});
  auto r = query("SELECT k, v FROM kv ORDER BY k");
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  EXPECT_EQ(r.at("structuredContent").at("rows"), boost::json::parse(R"([["a",1],["b",2]])"));
  auto w = query("DELETE FROM kv");
  EXPECT_EQ(text_of(w), "query runs read-only statements only; use execute to change data");
}

TEST(DatabaseFormat, FormatTableEdgeCases) {
  servers::sql::result_set r;
  EXPECT_EQ(servers::sql::format_table(r), "(0 rows)");
  r.columns = {"a", "long_name"};
  r.rows.push_back(json::array{"x\ny", 1.5});
  r.rows.push_back(json::array{nullptr, true});
  r.truncated = true;
  EXPECT_EQ(servers::sql::format_table(r),
            "a    | long_name\n"
            "-----+----------\n"
            "x\\ny | 1.5\n"
            "NULL | true\n"
            "(2 rows; truncated: more rows exist)");
}

}  // namespace
