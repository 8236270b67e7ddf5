// The wallet server in process: every tool with good and bad input (shapes validated against
// each tool's outputSchema), idempotency, pagination, the double-entry invariants, persistence,
// concurrency, and the guards the SQLite schema itself keeps.
#include "engine_harness.hpp"

#include "plexus/servers/wallet.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

using namespace plexus;
using namespace plexus::testing;
namespace fs = std::filesystem;

namespace {

struct WalletServerTest : ::testing::Test {
  std::string dir;
  std::string db_path;
  std::unique_ptr<server::server> srv;
  std::shared_ptr<capture> out = std::make_shared<capture>();
  std::unique_ptr<server::connection> conn;
  std::atomic<std::int64_t> next_id{1};
  std::map<std::string, schema::validator> output_validators;
  json::array tools;

  void SetUp() override {
    std::string tmpl = fs::temp_directory_path().string() + "/plexus-wallet-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir = tmpl;
    db_path = dir + "/wallet.db";
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
    // Tests do not need each commit on the platter; the integration test runs with the default.
    srv = servers::make_wallet_server({.database_path = db_path, .sync_commits = false});
    conn = std::make_unique<server::connection>(*srv, out, server::connection_options{});
    output_validators.clear();
    auto list = rpc("tools/list", {}).at("result").as_object();
    wire_schema("2026-07-28").expect_valid("ListToolsResult", list);
    tools = list.at("tools").as_array();
    for (auto& t : tools) {
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
    if (!r.contains("content")) return {};
    return std::string(r.at("content").as_array().at(0).as_object().at("text").as_string());
  }
  static bool is_error(const json::object& r) {
    auto e = json::find_bool(r, "isError");
    return e && *e;
  }
  // A successful call's structuredContent, checked against the tool's outputSchema.
  json::object ok(std::string_view tool, json::object args = {}) {
    auto r = call(tool, std::move(args));
    EXPECT_FALSE(is_error(r)) << tool << ": " << text(r);
    if (is_error(r) || !r.contains("structuredContent")) return {};
    wire_schema("2026-07-28").expect_valid("CallToolResult", r);
    auto& sc = r.at("structuredContent");
    auto it = output_validators.find(std::string(tool));
    EXPECT_NE(it, output_validators.end()) << tool;
    if (it != output_validators.end())
      for (auto& e : it->second.validate(sc))
        ADD_FAILURE() << tool << " output at " << e.instance_path << ": " << e.message;
    return sc.as_object();
  }
  std::string fails(std::string_view tool, json::object args = {}) {
    auto r = call(tool, std::move(args));
    EXPECT_TRUE(is_error(r)) << tool << " succeeded: " << json::dump(r);
    return text(r);
  }

  std::int64_t balance(std::string_view account) {
    auto b = ok("get_balance", {{"account", account}});
    return b.contains("balance") ? b.at("balance").as_int64() : -1;
  }
  void open(std::string_view name, std::string_view currency = "USD") {
    ok("create_account", {{"name", name}, {"currency", currency}});
  }
  json::object deposit(std::string_view account, std::int64_t amount,
                       std::optional<std::string> key = std::nullopt) {
    json::object a{{"account", account}, {"amount", amount}};
    if (key) a["idempotency_key"] = *key;
    return ok("deposit", std::move(a));
  }
  json::object transfer(std::string_view from, std::string_view to, std::int64_t amount,
                        std::string key) {
    return ok("transfer",
              {{"from", from}, {"to", to}, {"amount", amount}, {"idempotency_key", key}});
  }
};

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

std::int64_t entry_sum(const json::object& tx) {
  std::int64_t sum = 0;
  for (auto& e : tx.at("entries").as_array()) sum += e.as_object().at("amount").as_int64();
  return sum;
}

}  // namespace

TEST_F(WalletServerTest, ListsToolsWithSchemasAndTruthfulAnnotations) {
  std::vector<std::string> names;
  for (auto& t : tools) names.emplace_back(t.as_object().at("name").as_string());
  EXPECT_EQ(names,
            (std::vector<std::string>{"create_account", "list_accounts", "get_balance", "deposit",
                                      "transfer", "list_transactions", "health"}));
  EXPECT_EQ(output_validators.size(), 7u);
  for (auto& t : tools) {
    auto& o = t.as_object();
    std::string n(o.at("name").as_string());
    auto& a = o.at("annotations").as_object();
    bool reads =
        n == "list_accounts" || n == "get_balance" || n == "list_transactions" || n == "health";
    EXPECT_EQ(a.at("readOnlyHint"), reads) << n;
    EXPECT_EQ(a.at("destructiveHint"), false) << n;  // the ledger only ever grows
    // A deposit without a key deposits again; a transfer always has a key.
    EXPECT_EQ(a.at("idempotentHint"), n != "deposit") << n;
    EXPECT_EQ(a.at("openWorldHint"), false) << n;
  }
  // Amounts are integers with bounds in the schema, and the transfer key is required.
  for (auto& t : tools) {
    auto& o = t.as_object();
    if (o.at("name") != "transfer") continue;
    auto& s = o.at("inputSchema").as_object();
    auto& amount = s.at("properties").as_object().at("amount").as_object();
    EXPECT_EQ(amount.at("type"), "integer");
    EXPECT_EQ(amount.at("minimum"), 1);
    EXPECT_EQ(amount.at("maximum"), servers::wallet::max_amount);
    auto& req = s.at("required").as_array();
    EXPECT_NE(std::find(req.begin(), req.end(), json::value("idempotency_key")), req.end());
    EXPECT_EQ(std::find(req.begin(), req.end(), json::value("memo")), req.end());
  }
}

TEST_F(WalletServerTest, CreateAccountIsIdempotentPerNameAndCurrency) {
  auto a = ok("create_account", {{"name", "alice"}, {"currency", "USD"}});
  EXPECT_EQ(a.at("created"), true);
  auto& acct = a.at("account").as_object();
  EXPECT_EQ(acct.at("name"), "alice");
  EXPECT_EQ(acct.at("currency"), "USD");
  EXPECT_EQ(acct.at("balance"), 0);
  EXPECT_EQ(acct.at("system"), false);
  EXPECT_EQ(acct.at("created_at").as_string().size(), 24u);  // 2026-11-21T09:00:00.000Z
  auto again = ok("create_account", {{"name", "alice"}, {"currency", "USD"}});
  EXPECT_EQ(again.at("created"), false);
  EXPECT_EQ(again.at("account"), a.at("account"));

  EXPECT_EQ(fails("create_account", {{"name", "alice"}, {"currency", "EUR"}}),
            "account \"alice\" already exists with currency USD, not EUR");
  EXPECT_TRUE(contains(fails("create_account", {{"name", "external:USD"}, {"currency", "USD"}}),
                       "reserved"));
  // Schema errors name the property.
  EXPECT_TRUE(
      contains(fails("create_account", {{"name", "bob"}, {"currency", "usd"}}), "/currency"));
  EXPECT_TRUE(
      contains(fails("create_account", {{"name", "bob"}, {"currency", "DOLLAR"}}), "/currency"));
  EXPECT_TRUE(contains(fails("create_account", {{"name", ""}, {"currency", "USD"}}), "/name"));
  EXPECT_EQ(
      fails("create_account", {{"name", "has space"}, {"currency", "USD"}}),
      "account name \"has space\" is invalid: only letters, digits and _ . @ + - are allowed");
  EXPECT_TRUE(contains(
      fails("create_account", {{"name", std::string(65, 'x')}, {"currency", "USD"}}), "/name"));
  EXPECT_TRUE(contains(fails("create_account", {{"currency", "USD"}}), "name"));
  EXPECT_TRUE(
      contains(fails("create_account", {{"name", "b"}, {"currency", "USD"}, {"x", 1}}), "x"));
  EXPECT_EQ(ok("health").at("accounts"), 1);
}

TEST_F(WalletServerTest, DepositCreditsTheAccountAgainstTheSystemAccount) {
  open("alice");
  auto d = deposit("alice", 1250);
  EXPECT_EQ(d.at("replayed"), false);
  auto& tx = d.at("transaction").as_object();
  EXPECT_EQ(tx.at("kind"), "deposit");
  EXPECT_EQ(tx.at("amount"), 1250);
  EXPECT_EQ(tx.at("currency"), "USD");
  EXPECT_EQ(tx.at("from"), "external:USD");
  EXPECT_EQ(tx.at("to"), "alice");
  EXPECT_FALSE(tx.contains("idempotency_key"));
  EXPECT_EQ(entry_sum(tx), 0);
  EXPECT_EQ(
      tx.at("entries"),
      (json::array{
          json::object{{"account", "external:USD"}, {"amount", -1250}, {"balance_after", -1250}},
          json::object{{"account", "alice"}, {"amount", 1250}, {"balance_after", 1250}}}));
  EXPECT_EQ(balance("alice"), 1250);
  EXPECT_EQ(balance("external:USD"), -1250);
  // Without a key, a deposit is applied every time.
  deposit("alice", 50);
  EXPECT_EQ(balance("alice"), 1300);
  // The system account is not listed with the user's accounts.
  auto l = ok("list_accounts");
  EXPECT_EQ(l.at("accounts").as_array().size(), 1u);

  auto r = call("get_balance", {{"account", "alice"}});
  EXPECT_EQ(text(r), "alice: 1300 USD (minor units)");
}

TEST_F(WalletServerTest, DepositRejectsBadInputPrecisely) {
  open("alice");
  EXPECT_TRUE(contains(fails("deposit", {{"account", "alice"}, {"amount", 0}}), "/amount"));
  EXPECT_TRUE(contains(fails("deposit", {{"account", "alice"}, {"amount", -5}}), "/amount"));
  EXPECT_TRUE(contains(fails("deposit", {{"account", "alice"}, {"amount", 1.5}}), "/amount"));
  EXPECT_TRUE(contains(fails("deposit", {{"account", "alice"}, {"amount", "100"}}), "/amount"));
  EXPECT_TRUE(contains(
      fails("deposit", {{"account", "alice"}, {"amount", servers::wallet::max_amount + 1}}),
      "/amount"));
  EXPECT_TRUE(contains(fails("deposit", {{"account", "alice"}}), "amount"));
  EXPECT_EQ(fails("deposit", {{"account", "nobody"}, {"amount", 5}}),
            "account \"nobody\" does not exist (create_account makes one)");
  EXPECT_EQ(fails("deposit", {{"account", "external:USD"}, {"amount", 5}}),
            "account \"external:USD\" is a system account: it only records the other side of "
            "deposits");
  EXPECT_TRUE(contains(
      fails("deposit", {{"account", "alice"}, {"amount", 5}, {"memo", std::string(1001, 'm')}}),
      "/memo"));
  EXPECT_TRUE(
      contains(fails("deposit", {{"account", "alice"}, {"amount", 5}, {"idempotency_key", ""}}),
               "/idempotency_key"));
  EXPECT_TRUE(
      contains(fails("deposit", {{"account", "alice"}, {"amount", 5}, {"idempotency_key", "a\nb"}}),
               "/idempotency_key"));
  EXPECT_EQ(balance("alice"), 0);
  EXPECT_EQ(ok("health").at("transactions"), 0);
}

TEST_F(WalletServerTest, BalancesStayWithinTheLargestAmount) {
  open("alice");
  deposit("alice", servers::wallet::max_amount);
  EXPECT_TRUE(contains(fails("deposit", {{"account", "alice"}, {"amount", 1}}),
                       "above the largest balance 9007199254740991"));
  open("bob");
  EXPECT_TRUE(contains(fails("deposit", {{"account", "bob"}, {"amount", 1}}),
                       "the money held in USD above 9007199254740991"));
  EXPECT_EQ(balance("bob"), 0);
  EXPECT_EQ(ok("health").at("balanced"), true);
}

TEST_F(WalletServerTest, DepositWithAKeyIsAppliedOnce) {
  open("alice");
  auto first = deposit("alice", 700, "dep-1");
  auto again = deposit("alice", 700, "dep-1");
  EXPECT_EQ(again.at("replayed"), true);
  EXPECT_EQ(again.at("transaction"), first.at("transaction"));
  EXPECT_EQ(balance("alice"), 700);
  EXPECT_EQ(first.at("transaction").as_object().at("idempotency_key"), "dep-1");
  EXPECT_EQ(fails("deposit", {{"account", "alice"}, {"amount", 701}, {"idempotency_key", "dep-1"}}),
            "idempotency_key \"dep-1\" was already used for a different request (transaction 1: "
            "deposit of 700 USD from \"external:USD\" to \"alice\"); use a new key for a new "
            "request");
  // The memo is part of the request.
  EXPECT_TRUE(contains(
      fails("deposit",
            {{"account", "alice"}, {"amount", 700}, {"idempotency_key", "dep-1"}, {"memo", "x"}}),
      "different request"));
  EXPECT_EQ(balance("alice"), 700);
}

TEST_F(WalletServerTest, TransferMovesMoneyAtomically) {
  open("alice");
  open("bob");
  deposit("alice", 1000);
  auto t = ok("transfer", {{"from", "alice"},
                           {"to", "bob"},
                           {"amount", 300},
                           {"idempotency_key", "t-1"},
                           {"memo", "lunch"}});
  EXPECT_EQ(t.at("replayed"), false);
  auto& tx = t.at("transaction").as_object();
  EXPECT_EQ(tx.at("kind"), "transfer");
  EXPECT_EQ(tx.at("from"), "alice");
  EXPECT_EQ(tx.at("to"), "bob");
  EXPECT_EQ(tx.at("memo"), "lunch");
  EXPECT_EQ(tx.at("idempotency_key"), "t-1");
  EXPECT_EQ(
      tx.at("entries"),
      (json::array{json::object{{"account", "alice"}, {"amount", -300}, {"balance_after", 700}},
                   json::object{{"account", "bob"}, {"amount", 300}, {"balance_after", 300}}}));
  EXPECT_EQ(balance("alice"), 700);
  EXPECT_EQ(balance("bob"), 300);
  // The whole balance may move; one more minor unit may not.
  transfer("alice", "bob", 700, "t-2");
  EXPECT_EQ(balance("alice"), 0);
  EXPECT_EQ(ok("health").at("balanced"), true);
}

TEST_F(WalletServerTest, TransferRefusesWhatWouldBreakTheBooks) {
  open("alice");
  open("bob");
  open("eve", "EUR");
  deposit("alice", 500);
  deposit("eve", 500);
  auto args = [](std::string_view from, std::string_view to, std::int64_t amount,
                 std::string_view key) {
    return json::object{{"from", from}, {"to", to}, {"amount", amount}, {"idempotency_key", key}};
  };
  EXPECT_EQ(fails("transfer", args("alice", "bob", 501, "k1")),
            "insufficient funds: \"alice\" has 500 USD minor units, the transfer needs 501");
  EXPECT_EQ(fails("transfer", args("alice", "eve", 10, "k2")),
            "currency mismatch: \"alice\" holds USD and \"eve\" holds EUR; transfers need "
            "accounts of one currency");
  EXPECT_EQ(fails("transfer", args("alice", "nobody", 10, "k3")),
            "to account \"nobody\" does not exist (create_account makes one)");
  EXPECT_EQ(fails("transfer", args("nobody", "alice", 10, "k3")),
            "from account \"nobody\" does not exist (create_account makes one)");
  EXPECT_EQ(fails("transfer", args("alice", "alice", 10, "k4")),
            "from and to are the same account (\"alice\")");
  EXPECT_TRUE(
      contains(fails("transfer", args("external:USD", "alice", 10, "k5")), "is a system account"));
  EXPECT_TRUE(contains(fails("transfer", args("alice", "bob", 0, "k6")), "/amount"));
  EXPECT_TRUE(contains(fails("transfer", args("alice", "bob", -10, "k6")), "/amount"));
  EXPECT_TRUE(contains(fails("transfer", {{"from", "alice"}, {"to", "bob"}, {"amount", 10}}),
                       "idempotency_key"));
  EXPECT_EQ(balance("alice"), 500);
  EXPECT_EQ(balance("bob"), 0);
  EXPECT_EQ(ok("health").at("transactions"), 2);

  // A refused request does not use up its key: once the money is there, the retry goes through.
  deposit("alice", 1);
  auto t = transfer("alice", "bob", 501, "k1");
  EXPECT_EQ(t.at("replayed"), false);
  EXPECT_EQ(balance("alice"), 0);
  EXPECT_EQ(balance("bob"), 501);
}

TEST_F(WalletServerTest, TransferRetriesAreAppliedOnceAndConflictsRefused) {
  open("alice");
  open("bob");
  deposit("alice", 1000);
  auto first = transfer("alice", "bob", 100, "pay-42");
  transfer("alice", "bob", 50, "pay-43");
  // The retry returns the original transaction, balances after it included, and moves nothing.
  auto retry = transfer("alice", "bob", 100, "pay-42");
  EXPECT_EQ(retry.at("replayed"), true);
  EXPECT_EQ(retry.at("transaction"), first.at("transaction"));
  auto r = call("transfer",
                {{"from", "alice"}, {"to", "bob"}, {"amount", 100}, {"idempotency_key", "pay-42"}});
  EXPECT_TRUE(contains(text(r), "Replayed (already applied, nothing changed)")) << text(r);
  EXPECT_EQ(balance("alice"), 850);
  EXPECT_EQ(balance("bob"), 150);
  EXPECT_TRUE(contains(
      fails("transfer",
            {{"from", "alice"}, {"to", "bob"}, {"amount", 101}, {"idempotency_key", "pay-42"}}),
      "idempotency_key \"pay-42\" was already used for a different request"));
  EXPECT_TRUE(contains(
      fails("transfer",
            {{"from", "bob"}, {"to", "alice"}, {"amount", 100}, {"idempotency_key", "pay-42"}}),
      "different request"));
  // Keys are shared by deposits and transfers.
  EXPECT_TRUE(contains(
      fails("deposit", {{"account", "alice"}, {"amount", 100}, {"idempotency_key", "pay-42"}}),
      "different request"));
  EXPECT_EQ(balance("alice"), 850);
  EXPECT_EQ(ok("health").at("transactions"), 3);
}

TEST_F(WalletServerTest, ListTransactionsPagesNewestFirstWithStableCursors) {
  open("alice");
  open("bob");
  open("carol");
  deposit("alice", 10'000);
  for (int i = 0; i < 24; ++i) transfer("alice", "bob", i + 1, "t" + std::to_string(i));
  transfer("alice", "carol", 5, "to-carol");

  std::vector<std::int64_t> ids;
  std::optional<std::string> cursor;
  int pages = 0;
  do {
    json::object args{{"account", "alice"}, {"limit", 10}};
    if (cursor) args["cursor"] = *cursor;
    auto page = ok("list_transactions", args);
    ++pages;
    EXPECT_EQ(page.at("account"), "alice");
    for (auto& t : page.at("transactions").as_array()) {
      ids.push_back(t.as_object().at("id").as_int64());
      EXPECT_EQ(entry_sum(t.as_object()), 0);
    }
    cursor.reset();
    if (auto it = page.find("next_cursor"); it != page.end())
      cursor = std::string(it->value().as_string());
    // New activity between pages must not shift later pages.
    if (pages == 1) transfer("alice", "bob", 1, "during-paging");
  } while (cursor && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(ids.size(), 26u);  // the deposit and 25 transfers, not the one made while paging
  for (std::size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i - 1], ids[i]);
  EXPECT_EQ(ids.back(), 1);

  // Bob's statement holds only Bob's transactions, with his running balance.
  auto bob = ok("list_transactions", {{"account", "bob"}, {"limit", 200}});
  auto& bt = bob.at("transactions").as_array();
  EXPECT_EQ(bt.size(), 25u);
  EXPECT_FALSE(bob.contains("next_cursor"));
  EXPECT_EQ(bob.at("balance"), 301);
  auto& newest = bt.at(0).as_object();
  EXPECT_EQ(newest.at("idempotency_key"), "during-paging");

  // The system account's history is readable too.
  auto sys = ok("list_transactions", {{"account", "external:USD"}});
  EXPECT_EQ(sys.at("transactions").as_array().size(), 1u);
  EXPECT_EQ(sys.at("balance"), -10'000);

  auto carol = ok("list_transactions", {{"account", "carol"}, {"limit", 1}});
  EXPECT_FALSE(carol.contains("next_cursor"));
  // A cursor works only for the account it came from, and garbage is refused.
  auto first = ok("list_transactions", {{"account", "alice"}, {"limit", 1}});
  std::string c(first.at("next_cursor").as_string());
  EXPECT_EQ(fails("list_transactions", {{"account", "bob"}, {"cursor", c}}),
            "invalid cursor: it belongs to the transactions of another account");
  EXPECT_TRUE(contains(fails("list_transactions", {{"account", "alice"}, {"cursor", "xyz!"}}),
                       "invalid cursor"));
  EXPECT_TRUE(
      contains(fails("list_transactions", {{"account", "alice"}, {"cursor", "dDEKYWxpY2UKLTU"}}),
               "invalid cursor"));
  EXPECT_TRUE(contains(fails("list_transactions", {{"account", "alice"}, {"limit", 0}}), "/limit"));
  EXPECT_TRUE(
      contains(fails("list_transactions", {{"account", "alice"}, {"limit", 201}}), "/limit"));
  EXPECT_EQ(fails("list_transactions", {{"account", "zed"}}),
            "account \"zed\" does not exist (create_account makes one)");
}

TEST_F(WalletServerTest, ListAccountsPages) {
  for (int i = 0; i < 7; ++i) open("acct" + std::to_string(i), i % 2 ? "EUR" : "USD");
  deposit("acct0", 5);
  std::vector<std::string> names;
  std::optional<std::string> cursor;
  for (int pages = 0; pages < 5; ++pages) {
    json::object args{{"limit", 3}};
    if (cursor) args["cursor"] = *cursor;
    auto page = ok("list_accounts", args);
    for (auto& a : page.at("accounts").as_array())
      names.emplace_back(a.as_object().at("name").as_string());
    cursor.reset();
    if (auto it = page.find("next_cursor"); it != page.end())
      cursor = std::string(it->value().as_string());
    if (!cursor) break;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"acct0", "acct1", "acct2", "acct3", "acct4", "acct5",
                                             "acct6"}));
  EXPECT_TRUE(contains(fails("list_accounts", {{"cursor", "bm9wZQ"}}), "invalid cursor"));
}

TEST_F(WalletServerTest, GetBalanceOfUnknownAccount) {
  EXPECT_EQ(fails("get_balance", {{"account", "ghost"}}),
            "account \"ghost\" does not exist (create_account makes one)");
  EXPECT_TRUE(contains(fails("get_balance", {{"account", "bad name"}}), "is invalid"));
  EXPECT_TRUE(contains(fails("get_balance", {}), "account"));
}

TEST_F(WalletServerTest, HealthReportsTheBooks) {
  open("alice");
  open("bob");
  deposit("alice", 10);
  transfer("alice", "bob", 3, "h1");
  auto h = ok("health");
  EXPECT_EQ(h.at("status"), "ok");
  EXPECT_EQ(h.at("backend"), "sqlite");
  EXPECT_EQ(h.at("location").as_string(), db_path);
  EXPECT_EQ(h.at("accounts"), 2);
  EXPECT_EQ(h.at("transactions"), 2);
  EXPECT_EQ(h.at("balanced"), true);
}

TEST_F(WalletServerTest, LedgerPersistsAcrossRestarts) {
  open("alice");
  open("bob");
  deposit("alice", 900, "d");
  transfer("alice", "bob", 400, "t");
  start();
  EXPECT_EQ(balance("alice"), 500);
  EXPECT_EQ(balance("bob"), 400);
  // Keys survive the restart.
  EXPECT_EQ(transfer("alice", "bob", 400, "t").at("replayed"), true);
  EXPECT_EQ(balance("alice"), 500);
}

TEST_F(WalletServerTest, TheSchemaItselfRefusesOverdraftsAndRewrites) {
  open("alice");
  open("bob");
  deposit("alice", 100);
  transfer("alice", "bob", 40, "x");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  auto rc = [&](const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); };
  EXPECT_EQ(rc("UPDATE accounts SET balance = -1 WHERE name = 'alice'"), SQLITE_CONSTRAINT);
  EXPECT_EQ(rc("UPDATE entries SET amount = 1"), SQLITE_CONSTRAINT);
  EXPECT_EQ(rc("DELETE FROM entries"), SQLITE_CONSTRAINT);
  EXPECT_EQ(rc("DELETE FROM transactions"), SQLITE_CONSTRAINT);
  EXPECT_EQ(rc("UPDATE transactions SET amount = 1"), SQLITE_CONSTRAINT);
  // Double entry: every transaction's entries sum to zero, and balances equal their entries.
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT (SELECT count(*) FROM (SELECT transaction_id FROM entries "
                               "GROUP BY transaction_id HAVING sum(amount) <> 0)),"
                               " (SELECT count(*) FROM accounts a WHERE balance <>"
                               " (SELECT coalesce(sum(amount), 0) FROM entries WHERE account_id = "
                               "a.id))",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(st, 0), 0);
  EXPECT_EQ(sqlite3_column_int64(st, 1), 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(balance("alice"), 60);
}

TEST_F(WalletServerTest, ConcurrentTransfersKeepTheTotalAndApplyEachKeyOnce) {
  const std::vector<std::string> accts{"a", "b", "c", "d"};
  for (auto& a : accts) {
    open(a);
    deposit(a, 1000);
  }
  // Several connections at once, each retrying every transfer it makes (same key).
  constexpr int threads = 4, per_thread = 60;
  std::vector<std::thread> pool;
  std::atomic<int> applied{0}, replayed{0}, refused{0};
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      auto sink = std::make_shared<capture>();
      server::connection c(*srv, sink, server::connection_options{});
      std::int64_t id = 1;
      for (int i = 0; i < per_thread; ++i) {
        const auto& from = accts[(t + i) % accts.size()];
        const auto& to = accts[(t + i + 1 + i % 2) % accts.size()];
        json::object args{{"from", from},
                          {"to", to},
                          {"amount", 1 + (i * 37 + t * 11) % 400},
                          {"idempotency_key", "c" + std::to_string(t) + "-" + std::to_string(i)}};
        // The first attempt applies or is refused (insufficient funds); the retry with the same
        // key replays an applied transfer, and may apply a refused one once money arrived.
        std::optional<std::int64_t> tx_id;
        for (int attempt = 0; attempt < 2; ++attempt) {
          c.receive(modern_request(id, "tools/call", {{"name", "transfer"}, {"arguments", args}}));
          auto r = sink->response(id++, std::chrono::seconds(30));
          if (!r) {
            ADD_FAILURE() << "no response";
            return;
          }
          auto& res = r->as_object().at("result").as_object();
          auto err = json::find_bool(res, "isError");
          if (err && *err) {
            EXPECT_FALSE(tx_id) << "a retry of an applied transfer was refused";
            EXPECT_NE(json::dump(res).find("insufficient funds"), std::string::npos)
                << json::dump(res);
            ++refused;
            continue;
          }
          auto& sc = res.at("structuredContent").as_object();
          bool again = sc.at("replayed").as_bool();
          auto this_id = sc.at("transaction").as_object().at("id").as_int64();
          if (tx_id) {
            EXPECT_TRUE(again);
            EXPECT_EQ(this_id, *tx_id);
            ++replayed;
          } else {
            EXPECT_FALSE(again);
            tx_id = this_id;
            ++applied;
          }
        }
      }
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(applied + replayed + refused, threads * per_thread * 2);
  EXPECT_GT(applied.load(), threads * per_thread / 2);
  std::int64_t total = 0;
  for (auto& a : accts) {
    auto b = balance(a);
    EXPECT_GE(b, 0) << a;
    total += b;
  }
  EXPECT_EQ(total, 4000);
  auto h = ok("health");
  EXPECT_EQ(h.at("balanced"), true);
  EXPECT_EQ(h.at("transactions"), 4 + applied.load());
}

TEST(WalletLedger, ValidationHelpersSayWhatIsWrong) {
  using namespace servers::wallet;
  auto message = [](auto f) {
    try {
      f();
    } catch (const ledger_error& e) {
      EXPECT_EQ(e.kind(), error_kind::invalid_argument);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([] { check_amount(0); }),
            "amount must be a positive integer of minor units (e.g. cents), got 0");
  EXPECT_EQ(message([] { check_amount(max_amount + 1); }),
            "amount 9007199254740992 exceeds the largest amount 9007199254740991");
  EXPECT_EQ(message([] { check_currency("usd"); }),
            "currency \"usd\" is invalid: it must be three capital letters, e.g. \"USD\"");
  EXPECT_EQ(message([] { check_account_name("-x"); }),
            "account name \"-x\" is invalid: it must start with a letter or a digit");
  EXPECT_EQ(message([] { check_account_name("a b"); }),
            "account name \"a b\" is invalid: only letters, digits and _ . @ + - are allowed");
  EXPECT_EQ(message([] { check_idempotency_key(std::string(256, 'k')); }),
            "idempotency_key must be 1 to 255 characters long");
  EXPECT_EQ(message([] { check_memo(std::string(1001, 'm')); }),
            "memo is longer than 1000 characters (1001)");
  EXPECT_EQ(message([] { check_memo("\xc3\xa9"); }), "no error");  // one character, two bytes
  EXPECT_NE(fingerprint(transfer_request{"a", "b", 1, "k", std::nullopt}),
            fingerprint(transfer_request{"a", "b", 1, "k", std::string()}));
}

TEST(WalletLedger, InMemoryLedgerWorks) {
  auto store = servers::wallet::open_sqlite_ledger({.database_path = ":memory:"});
  EXPECT_TRUE(store->create_account("a", "JPY").created);
  EXPECT_TRUE(store->create_account("b", "JPY").created);
  store->deposit({"a", 300, std::nullopt, std::nullopt});
  auto p = store->transfer({"a", "b", 100, "k", std::nullopt});
  EXPECT_EQ(p.tx.entries.size(), 2u);
  EXPECT_EQ(store->get_account("a")->balance, 200);
  EXPECT_EQ(store->get_account("external:JPY")->balance, -300);
  EXPECT_TRUE(store->health().balanced);
  EXPECT_FALSE(store->get_account("zz").has_value());
}
