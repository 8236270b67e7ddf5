// The database server over a real PostgreSQL (started by the test on 127.0.0.1, see
// postgres_server.hpp): the backend's read-only enforcement, one statement per call, parameters,
// type mapping, row and time limits, schema introspection, health, reconnection and concurrency;
// then the tools end to end through `plexus server database --stdio --postgres ...`.
#include "postgres_server.hpp"

#include "plexus/client/client.hpp"
#include "plexus/servers/database.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

using namespace plexus;
using namespace std::chrono_literals;
using plexus::servers::database_config;
using plexus::servers::sql::sql_backend;
using plexus::servers::sql::sql_error;

namespace {

constexpr const char* schema_sql = R"sql(
CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL, age integer DEFAULT 0,
                     score double precision, note text);
INSERT INTO people VALUES (1, 'alice', 30, 9.5, NULL), (2, 'bob', 25, 7.25, 'likes SQL'),
                          (3, 'chloé', 41, NULL, 'x');
CREATE TABLE events (id bigserial PRIMARY KEY, person_id integer NOT NULL REFERENCES people(id),
                     kind text NOT NULL DEFAULT 'visit', at timestamptz);
CREATE VIEW adults AS SELECT name FROM people WHERE age >= 18;
CREATE SCHEMA sales;
CREATE TABLE sales.orders (region text, n integer, amount numeric(10,2) NOT NULL,
                           PRIMARY KEY (region, n));
)sql";

class PostgresDatabase : public ::testing::Test {
 protected:
  static inline std::unique_ptr<plexus::testing::postgres_server> pg;
  static inline std::string setup_error;

  static void SetUpTestSuite() {
    pg = plexus::testing::postgres_server::start();
    try {
      if (pg->ok()) pg->exec(schema_sql);
    } catch (const std::exception& e) {
      setup_error = e.what();
    }
  }
  static void TearDownTestSuite() { pg.reset(); }

  void SetUp() override {
    if (!pg->available()) GTEST_SKIP() << pg->skip_reason();
    ASSERT_TRUE(pg->ok()) << pg->error();
    ASSERT_EQ(setup_error, "");
  }

  static database_config config(bool writes = false) {
    database_config c;
    c.allow_writes = writes;
    c.max_rows = 100;
    c.timeout = 2000ms;
    return c;
  }
  static std::unique_ptr<sql_backend> open(database_config c = config()) {
    return servers::sql::open_postgres(pg->conninfo(), c);
  }

  // The sql_error message of f(), or "" when it did not throw.
  template <class F>
  static std::string error_of(F&& f) {
    try {
      f();
    } catch (const sql_error& e) {
      return e.what();
    }
    return "";
  }

  static json::value rows(const servers::sql::result_set& r) {
    json::array out;
    for (const auto& row : r.rows) out.push_back(row);
    return out;
  }
};

TEST_F(PostgresDatabase, QueryWithParametersGivesRows) {
  auto db = open();
  auto r = db->query("SELECT id, name, score FROM people WHERE age > $1 ORDER BY id", {26});
  EXPECT_EQ(r.columns, (std::vector<std::string>{"id", "name", "score"}));
  EXPECT_EQ(rows(r), boost::json::parse(R"([[1,"alice",9.5],[3,"chloé",null]])"));
  EXPECT_FALSE(r.truncated);
  EXPECT_FALSE(r.rows_affected);
  EXPECT_EQ(servers::sql::format_table(r),
            "id | name  | score\n"
            "---+-------+------\n"
            "1  | alice | 9.5\n"
            "3  | chloé | NULL\n"
            "(2 rows)");
}

TEST_F(PostgresDatabase, ParametersMapJsonScalars) {
  auto db = open();
  // Open parameter types take the JSON value's type; null stays an untyped NULL.
  auto r = db->query(
      "SELECT $1 AS a, $2 AS b, $3 AS c, $4 AS d, $5 AS e, pg_typeof($2)::text, "
      "pg_typeof($3)::text, pg_typeof($4)::text, pg_typeof($5)::text",
      {nullptr, true, 42, 2.5, "it's"});
  EXPECT_EQ(rows(r), boost::json::parse(
                         R"([[null,true,42,2.5,"it's","boolean","bigint","double precision",
                              "text"]])"));
  // Parameters whose type the statement fixes take that type: a boolean for an integer is 1/0,
  // a string is parsed by the server.
  auto typed = db->query("SELECT $1::integer + 1, $2::date + 1, $3::numeric * 2",
                         {true, "2024-02-28", "1.25"});
  EXPECT_EQ(rows(typed), boost::json::parse(R"([[2,"2024-02-29",2.5]])"));
  // Bound, not spliced: an injection attempt is just a string.
  auto inj = db->query("SELECT count(*) FROM people WHERE name = $1", {"x' OR '1'='1"});
  EXPECT_EQ(rows(inj), boost::json::parse("[[0]]"));
  EXPECT_EQ(error_of([&] { db->query("SELECT $1, $2", {1}); }),
            "the statement has 2 parameters, got 1");
  EXPECT_EQ(error_of([&] { db->query("SELECT 1", {1}); }), "the statement has 0 parameters, got 1");
  EXPECT_EQ(error_of([&] {
              db->query("SELECT $1", {json::object{{"a", 1}}});
            }),
            "parameter 1: object cannot be bound (use a scalar)");
  auto bad = error_of([&] { db->query("SELECT $1::integer", {"twelve"}); });
  EXPECT_NE(bad.find("invalid input syntax for type integer"), std::string::npos) << bad;
}

TEST_F(PostgresDatabase, ResultTypesMapToJsonScalars) {
  auto db = open();
  auto r = db->query(
      "SELECT 1::int2, 2::int4, 3000000000::int8, 1.5::float4, 2.25::float8, 12.50::numeric(6,2), "
      "true, false, 'txt'::text, '\\x00ff10'::bytea, '{\"a\": 1}'::jsonb, DATE '2024-01-02', "
      "'NaN'::float8, 'Infinity'::numeric, ARRAY[1,2], NULL::int, 42::oid",
      {});
  EXPECT_EQ(rows(r), boost::json::parse(R"([[1,2,3000000000,1.5,2.25,12.5,true,false,"txt","AP8Q",
      "{\"a\": 1}","2024-01-02",null,null,"{1,2}",null,42]])"));
}

TEST_F(PostgresDatabase, QueryRefusesWritesThroughTheEngine) {
  auto db = open();
  for (const char* sql :
       {"INSERT INTO people (id, name) VALUES (9, 'eve')", "DELETE FROM people",
        "UPDATE people SET age = 0", "DROP TABLE people", "CREATE TABLE t (a int)",
        "TRUNCATE people", "ALTER TABLE people ADD COLUMN x int",
        // Row locks write to the tuples: refused too.
        "SELECT * FROM people FOR UPDATE",
        "WITH d AS (DELETE FROM people RETURNING id) SELECT count(*) FROM d",
        "SELECT nextval('events_id_seq')"}) {
    auto e = error_of([&] { db->query(sql, {}); });
    EXPECT_EQ(e.rfind("query runs read-only statements only; use execute to change data", 0), 0u)
        << sql << ": " << e;
  }
  // Transaction control inside `query` cannot escape the read-only transaction either.
  EXPECT_EQ(error_of([&] { db->query("COMMIT", {}); }), "");
  // A function cannot flip the transaction to read-write once the statement has a snapshot.
  EXPECT_NE(error_of([&] {
              db->query(
                  "SELECT set_config('transaction_read_only', 'off', true), count(*) "
                  "FROM people",
                  {});
            }),
            "");
  EXPECT_NE(error_of([&] { db->query("INSERT INTO people (id, name) VALUES (9, 'eve')", {}); }),
            "");
  EXPECT_EQ(rows(db->query("SELECT count(*) FROM people", {})), boost::json::parse("[[3]]"));
  EXPECT_EQ(error_of([&] { db->execute("DELETE FROM people", {}); }),
            "writes are disabled for this database");
}

TEST_F(PostgresDatabase, ExecuteWritesWhenAllowed) {
  auto db = open(config(true));
  auto c = db->execute("CREATE TABLE notes_exec (id serial PRIMARY KEY, body text)", {});
  EXPECT_TRUE(c.rows.empty());
  auto ins =
      db->execute("INSERT INTO notes_exec (body) VALUES ($1), ($2) RETURNING id", {"one", "two"});
  EXPECT_EQ(ins.columns, (std::vector<std::string>{"id"}));
  EXPECT_EQ(rows(ins), boost::json::parse("[[1],[2]]"));
  EXPECT_EQ(ins.rows_affected, 2);
  auto up = db->execute("UPDATE notes_exec SET body = upper(body)", {});
  EXPECT_EQ(up.rows_affected, 2);
  EXPECT_EQ(rows(db->query("SELECT body FROM notes_exec ORDER BY id", {})),
            boost::json::parse(R"([["ONE"],["TWO"]])"));
  // A transaction cannot span calls: BEGIN is rolled back and reported.
  auto e = error_of([&] { db->execute("BEGIN", {}); });
  EXPECT_NE(e.find("own transaction"), std::string::npos) << e;
  // ... and leaves no open transaction behind that would make `query` writable.
  EXPECT_NE(error_of([&] { db->query("DELETE FROM notes_exec", {}); }), "");
  EXPECT_EQ(rows(db->query("SELECT count(*) FROM notes_exec", {})), boost::json::parse("[[2]]"));
  db->execute("DROP TABLE notes_exec", {});
}

TEST_F(PostgresDatabase, OneStatementPerCall) {
  auto db = open(config(true));
  EXPECT_EQ(error_of([&] { db->query("SELECT 1; SELECT 2", {}); }),
            "only one SQL statement per call is allowed");
  EXPECT_EQ(error_of([&] { db->execute("CREATE TABLE x_multi (a int); DROP TABLE people", {}); }),
            "only one SQL statement per call is allowed");
  EXPECT_EQ(rows(db->query("SELECT count(*) FROM people", {})), boost::json::parse("[[3]]"));
  EXPECT_EQ(error_of([&] { db->query("   ", {}); }), "no SQL statement given");
  EXPECT_EQ(error_of([&] { db->query("-- nothing", {}); }), "no SQL statement given");
  auto syntax = error_of([&] { db->query("SELEC 1", {}); });
  EXPECT_EQ(syntax.rfind("SQL error: syntax error", 0), 0u) << syntax;
  // A trailing semicolon is still one statement.
  EXPECT_EQ(rows(db->query("SELECT 7;", {})), boost::json::parse("[[7]]"));
}

TEST_F(PostgresDatabase, StatementTimeoutInterruptsAndTheConnectionRecovers) {
  auto c = config(true);
  c.timeout = 300ms;
  auto db = open(c);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of([&] { db->query("SELECT pg_sleep(5)", {}); }),
            "the statement was interrupted: it exceeded the time limit of 300 ms");
  EXPECT_EQ(error_of([&] { db->execute("SELECT pg_sleep(5)", {}); }),
            "the statement was interrupted: it exceeded the time limit of 300 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  // A statement cannot lift its own limit, and the limit applies to each statement anew.
  EXPECT_EQ(error_of([&] { db->execute("SET statement_timeout = 0", {}); }), "");
  EXPECT_NE(error_of([&] { db->query("SELECT pg_sleep(2)", {}); }), "");
  EXPECT_EQ(rows(db->query("SELECT 1", {})), boost::json::parse("[[1]]"));
}

TEST_F(PostgresDatabase, MaxRowsTruncates) {
  auto c = config();
  c.max_rows = 5;
  auto db = open(c);
  auto t0 = std::chrono::steady_clock::now();
  auto big = db->query("SELECT generate_series(1, 50000000) AS g", {});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms) << "the query was not cut short";
  EXPECT_EQ(rows(big), boost::json::parse("[[1],[2],[3],[4],[5]]"));
  EXPECT_TRUE(big.truncated);
  EXPECT_NE(servers::sql::format_table(big).find("truncated"), std::string::npos);
  auto exact = db->query("SELECT g FROM generate_series(1, 5) g", {});
  EXPECT_EQ(exact.rows.size(), 5u);
  EXPECT_FALSE(exact.truncated);
  // The cancelled query left the (pooled) connection usable.
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(rows(db->query("SELECT 1", {})), boost::json::parse("[[1]]"));
}

TEST_F(PostgresDatabase, ListAndDescribeTables) {
  auto db = open();
  std::vector<std::pair<std::string, std::string>> tables;
  for (const auto& t : db->list_tables()) tables.emplace_back(t.name, t.type);
  EXPECT_EQ(tables, (std::vector<std::pair<std::string, std::string>>{{"adults", "view"},
                                                                      {"events", "table"},
                                                                      {"people", "table"},
                                                                      {"sales.orders", "table"}}));
  auto people = db->describe_table("people");
  ASSERT_TRUE(people);
  EXPECT_EQ(people->type, "table");
  ASSERT_EQ(people->columns.size(), 5u);
  EXPECT_EQ(people->columns[0].name, "id");
  EXPECT_EQ(people->columns[0].type, "integer");
  EXPECT_TRUE(people->columns[0].not_null);
  EXPECT_EQ(people->columns[0].primary_key, 1);
  EXPECT_EQ(people->columns[1].name, "name");
  EXPECT_TRUE(people->columns[1].not_null);
  EXPECT_EQ(people->columns[1].primary_key, 0);
  EXPECT_EQ(people->columns[2].default_value, "0");
  EXPECT_EQ(people->columns[3].type, "double precision");
  EXPECT_FALSE(people->columns[3].not_null);
  auto events = db->describe_table("events");
  ASSERT_TRUE(events);
  EXPECT_EQ(events->columns[0].type, "bigint");
  EXPECT_EQ(events->columns[0].default_value, "nextval('events_id_seq'::regclass)");
  EXPECT_EQ(events->columns[2].default_value, "'visit'::text");
  auto orders = db->describe_table("sales.orders");
  ASSERT_TRUE(orders);
  EXPECT_EQ(orders->columns[0].primary_key, 1);
  EXPECT_EQ(orders->columns[1].primary_key, 2);
  EXPECT_EQ(orders->columns[2].type, "numeric(10,2)");
  EXPECT_EQ(orders->columns[2].primary_key, 0);
  auto view = db->describe_table("adults");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->type, "view");
  ASSERT_TRUE(view->sql);
  EXPECT_EQ(view->sql->rfind("CREATE VIEW adults AS", 0), 0u) << *view->sql;
  EXPECT_FALSE(db->describe_table("nope"));
  EXPECT_FALSE(db->describe_table("pg_class"));  // system catalogs are not listed
  EXPECT_FALSE(db->describe_table("orders"));    // outside public: qualified only
}

TEST_F(PostgresDatabase, HealthNamesTheServerButNotThePassword) {
  auto db = servers::sql::open_postgres(pg->conninfo() + " password=s3cret", config());
  auto h = db->health();
  EXPECT_EQ(h.backend, "postgresql");
  EXPECT_EQ(h.version.rfind("PostgreSQL ", 0), 0u) << h.version;
  EXPECT_EQ(h.location, "plexus_test@127.0.0.1:" + std::to_string(pg->port()) + "/plexus_test");
  EXPECT_EQ(h.location.find("s3cret"), std::string::npos);
}

TEST_F(PostgresDatabase, UnreachableServerFailsAtOpen) {
  auto e = error_of([] {
    servers::sql::open_postgres("host=127.0.0.1 port=1 dbname=x connect_timeout=3", config());
  });
  EXPECT_EQ(e.rfind("cannot connect to PostgreSQL", 0), 0u) << e;
  e = error_of([] { servers::sql::open_postgres(pg->conninfo("no_such_db"), config()); });
  EXPECT_NE(e.find("no_such_db"), std::string::npos) << e;
}

TEST_F(PostgresDatabase, ConcurrentQueriesShareThePool) {
  auto db = open();
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        auto r = db->query("SELECT $1::int * 2, pg_backend_pid()", {t * 100 + i});
        if (r.rows.size() == 1 && r.rows[0][0] == json::value(2 * (t * 100 + i))) ++good;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 160);
}

// Last in the suite: it restarts the shared server.
TEST_F(PostgresDatabase, ReconnectsAfterTheServerRestarts) {
  auto db = open();
  EXPECT_EQ(rows(db->query("SELECT 1", {})), boost::json::parse("[[1]]"));
  pg->kill_server();
  EXPECT_NE(error_of([&] { db->query("SELECT 1", {}); }), "");  // an error, not a crash
  pg->start_again();
  ASSERT_TRUE(pg->ok()) << pg->error();
  EXPECT_EQ(rows(db->query("SELECT 2", {})), boost::json::parse("[[2]]"));
}

// ---- the tools end to end through the CLI ----

std::unique_ptr<client::client> start_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "server");
  auto c = client::client::connect(
      client::make_stdio_transport({.command = PLEXUS_BINARY, .args = args}),
      client::client_options{});
  EXPECT_TRUE(c) << (c ? "" : c.error().describe());
  return c ? std::move(*c) : nullptr;
}

std::string text(const json::object& r) {
  return std::string(r.at("content").as_array().at(0).as_object().at("text").as_string());
}

bool is_error(const json::object& r) {
  auto it = r.find("isError");
  return it != r.end() && it->value() == true;
}

TEST_F(PostgresDatabase, CliServesPostgresOverStdio) {
  auto c = start_cli({"database", "--stdio", "--postgres", pg->conninfo(), "--max-rows", "2"});
  ASSERT_TRUE(c);
  auto tools = c->list_tools();
  ASSERT_TRUE(tools);
  std::vector<std::string> names;
  for (const auto& t : *tools) names.emplace_back(t.at("name").as_string());
  EXPECT_EQ(names, (std::vector<std::string>{"query", "list_tables", "describe_table", "health"}));

  auto q = c->call_tool("query", {{"sql", "SELECT id, name FROM people WHERE id >= $1 ORDER BY id"},
                                  {"params", json::array{1}}});
  ASSERT_TRUE(q) << q.error().describe();
  EXPECT_FALSE(is_error(*q)) << text(*q);
  EXPECT_EQ(q->at("structuredContent"), boost::json::parse(R"({"columns":["id","name"],
      "rows":[[1,"alice"],[2,"bob"]],"truncated":true,"row_count":2})"));
  EXPECT_NE(text(*q).find("truncated"), std::string::npos) << text(*q);

  auto w = c->call_tool("query", {{"sql", "DELETE FROM people"}});
  ASSERT_TRUE(w);
  EXPECT_TRUE(is_error(*w));
  EXPECT_NE(text(*w).find("read-only"), std::string::npos) << text(*w);

  auto lt = c->call_tool("list_tables");
  ASSERT_TRUE(lt);
  EXPECT_NE(text(*lt).find("sales.orders (table)"), std::string::npos) << text(*lt);
  auto dt = c->call_tool("describe_table", {{"table", "people"}});
  ASSERT_TRUE(dt);
  const auto& id = dt->at("structuredContent").at("columns").at(0);
  EXPECT_EQ(id.at("name"), "id");
  EXPECT_EQ(id.at("type"), "integer");
  EXPECT_EQ(id.at("not_null"), true);
  EXPECT_EQ(id.at("primary_key"), 1);
  auto missing = c->call_tool("describe_table", {{"table", "nope"}});
  ASSERT_TRUE(missing);
  EXPECT_TRUE(is_error(*missing));
  auto h = c->call_tool("health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->at("structuredContent").at("backend"), "postgresql");
  EXPECT_EQ(h->at("structuredContent").at("writable"), false);
}

TEST_F(PostgresDatabase, CliExecutesOnlyWithAllowWrites) {
  auto c = start_cli({"database", "--stdio", "--postgres", pg->conninfo(), "--allow-writes"});
  ASSERT_TRUE(c);
  auto mk = c->call_tool("execute", {{"sql", "CREATE TABLE cli_notes (body text)"}});
  ASSERT_TRUE(mk);
  EXPECT_FALSE(is_error(*mk)) << text(*mk);
  auto ins = c->call_tool("execute", {{"sql", "INSERT INTO cli_notes VALUES ($1), ($2)"},
                                      {"params", json::array{"a", "b"}}});
  ASSERT_TRUE(ins);
  EXPECT_EQ(ins->at("structuredContent").at("rows_affected"), 2);
  auto q = c->call_tool("query", {{"sql", "SELECT count(*) FROM cli_notes"}});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->at("structuredContent").at("rows"), boost::json::parse("[[2]]"));
  ASSERT_TRUE(c->call_tool("execute", {{"sql", "DROP TABLE cli_notes"}}));
}

TEST_F(PostgresDatabase, CliFailsClearlyOnABadConnectionString) {
  auto t =
      client::make_stdio_transport({.command = PLEXUS_BINARY,
                                    .args = {"server", "database", "--stdio", "--postgres",
                                             "host=127.0.0.1 port=1 dbname=x connect_timeout=2"}});
  auto c = client::client::connect(std::move(t), client::client_options{});
  EXPECT_FALSE(c);
}

}  // namespace
