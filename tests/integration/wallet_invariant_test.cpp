// The wallet's invariants against the real binary: `plexus server wallet --http` takes thousands
// of concurrent transfers from several clients, is killed with SIGKILL in the middle, restarts
// on the same data directory, and every transfer is retried with its idempotency key. Then the
// money is all there (the total is unchanged, no balance is negative), every key was applied at
// most once and exactly once if it ever succeeded, and the books balance entry by entry.
#include "child_process.hpp"

#include "plexus/client/client.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include "temp_dir.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <thread>

using namespace plexus;
using namespace plexus::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using plexus::testing::temp_dir;

// `plexus server wallet --http 127.0.0.1:0 --data-dir DIR`; the port is the one it reports.
class wallet_process {
 public:
  explicit wallet_process(const fs::path& dir) {
    proc_ = std::make_unique<child_process>(std::vector<std::string>{
        PLEXUS_BINARY, "--log-level", "error", "server", "wallet", "--http", "127.0.0.1:0",
        "--data-dir", dir.string(), "--workers", "8"});
    static const std::regex ready(R"(serving MCP on http://127\.0\.0\.1:(\d+)/mcp)");
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      proc_->read_line(20ms);  // pumps stderr too
      std::smatch m;
      const std::string& err = proc_->stderr_text();
      if (std::regex_search(err, m, ready)) {
        port_ = static_cast<std::uint16_t>(std::stoi(m[1].str()));
        return;
      }
      if (!proc_->alive()) throw std::runtime_error("wallet exited at startup: " + err);
    }
    throw std::runtime_error("wallet not ready within 10 s: " + proc_->stderr_text());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  void kill9() {
    ::kill(proc_->pid(), SIGKILL);
    auto st = proc_->wait_exit(10s);
    ASSERT_TRUE(st && WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL);
  }
  child_process& proc() { return *proc_; }

 private:
  std::unique_ptr<child_process> proc_;
  std::uint16_t port_ = 0;
};

std::unique_ptr<client::client> connect(const wallet_process& w) {
  auto c = client::client::connect(client::make_http_transport(w.url()), client::client_options{});
  if (!c) throw std::runtime_error("connect: " + c.error().describe());
  return std::move(*c);
}

const std::array<std::string, 4> accounts{"alice", "bob", "carol", "dave"};
constexpr std::int64_t seed = 25'000;  // per account
constexpr int transfers = 3000;
constexpr int threads = 12;

// Transfer i: always the same request for the same key.
json::object transfer_args(int i) {
  const auto& from = accounts[static_cast<std::size_t>(i) % 4];
  const auto& to = accounts[static_cast<std::size_t>(i + 1 + (i / 4) % 3) % 4];
  return {{"from", from},
          {"to", to},
          {"amount", 1 + (static_cast<std::int64_t>(i) * 7919) % 500},
          {"idempotency_key", "inv-" + std::to_string(i)}};
}

enum outcome : int { unknown = 0, applied, refused };

bool is_error(const json::object& r) {
  auto e = json::find_bool(r, "isError");
  return e && *e;
}

std::string text(const json::object& r) {
  auto& c = r.at("content").as_array();
  return c.empty() ? "" : std::string(c.at(0).as_object().at("text").as_string());
}

const json::object& structured(const json::object& r) {
  return r.at("structuredContent").as_object();
}

}  // namespace

TEST(WalletInvariant, ConcurrentTransfersSurviveKill9AndRetriesApplyOnce) {
  temp_dir dir;
  std::vector<int> first(transfers, unknown), final_state(transfers, unknown);
  std::vector<std::int64_t> tx_of(transfers, 0);

  // ---- phase 1: seed, then transfers from many clients until SIGKILL ------------------------
  {
    wallet_process w(dir.path);
    {
      auto c = connect(w);
      for (const auto& a : accounts) {
        auto r = c->call_tool("create_account", {{"name", a}, {"currency", "USD"}});
        ASSERT_TRUE(r && !is_error(*r)) << (r ? text(*r) : r.error().describe());
        r = c->call_tool("deposit",
                         {{"account", a}, {"amount", seed}, {"idempotency_key", "seed-" + a}});
        ASSERT_TRUE(r && !is_error(*r)) << (r ? text(*r) : r.error().describe());
      }
    }
    std::atomic<int> done{0};
    std::atomic<bool> dead{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        std::unique_ptr<client::client> c;
        try {
          c = connect(w);
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
          return;
        }
        client::request_options ro;
        ro.timeout = 10s;
        for (int i = t; i < transfers && !dead; i += threads) {
          auto r = c->call_tool("transfer", transfer_args(i), ro);
          if (!r) break;  // the server is gone: this one and the rest are unknown
          if (is_error(*r)) {
            EXPECT_NE(text(*r).find("insufficient funds"), std::string::npos) << text(*r);
            first[static_cast<std::size_t>(i)] = refused;
          } else {
            EXPECT_FALSE(structured(*r).at("replayed").as_bool());
            first[static_cast<std::size_t>(i)] = applied;
            tx_of[static_cast<std::size_t>(i)] =
                structured(*r).at("transaction").as_object().at("id").as_int64();
          }
          ++done;
        }
      });
    // Kill while requests are in flight: a third of the way through.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (done < transfers / 3 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    w.kill9();
    dead = true;
    for (auto& th : pool) th.join();
    ASSERT_GE(done.load(), transfers / 3);
    ASSERT_LT(done.load(), transfers) << "the kill came too late to interrupt anything";
  }

  // ---- phase 2: restart on the same data, retry every transfer with its key ------------------
  wallet_process w(dir.path);
  std::atomic<int> replays{0}, late{0};
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        std::unique_ptr<client::client> c;
        try {
          c = connect(w);
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
          return;
        }
        for (int i = t; i < transfers; i += threads) {
          auto k = static_cast<std::size_t>(i);
          auto r = c->call_tool("transfer", transfer_args(i));
          if (!r) {
            ADD_FAILURE() << "retry " << i << ": " << r.error().describe();
            continue;
          }
          if (is_error(*r)) {
            // Refused now: it never applied before either (an applied key replays).
            EXPECT_NE(text(*r).find("insufficient funds"), std::string::npos) << text(*r);
            EXPECT_NE(first[k], applied) << "key " << i << " applied, then refused on retry";
            final_state[k] = refused;
            continue;
          }
          auto& s = structured(*r);
          auto id = s.at("transaction").as_object().at("id").as_int64();
          bool replayed = s.at("replayed").as_bool();
          if (first[k] == applied) {
            EXPECT_TRUE(replayed) << "key " << i << " applied twice";
            EXPECT_EQ(id, tx_of[k]) << "key " << i;
          }
          if (replayed) ++replays;
          // Applied now for the first time, or replayed an answer lost in the kill.
          if (first[k] == unknown && replayed) ++late;
          final_state[k] = applied;
          tx_of[k] = id;
        }
      });
    for (auto& th : pool) th.join();
  }
  int applied_keys = 0, first_applied = 0;
  for (int i = 0; i < transfers; ++i) {
    applied_keys += final_state[static_cast<std::size_t>(i)] == applied;
    first_applied += first[static_cast<std::size_t>(i)] == applied;
  }
  std::printf(
      "[ wallet   ] %d answered before SIGKILL (%d applied), %d retried answers lost in "
      "flight were replays, %d keys applied in all\n",
      static_cast<int>(
          std::count_if(first.begin(), first.end(), [](int o) { return o != unknown; })),
      first_applied, late.load(), applied_keys);
  EXPECT_GE(replays.load(), first_applied);
  EXPECT_GT(applied_keys, transfers / 2);

  // ---- the invariants, through the tools ---------------------------------------------------
  auto c = connect(w);
  std::int64_t total = 0;
  for (const auto& a : accounts) {
    auto r = c->call_tool("get_balance", {{"account", a}});
    ASSERT_TRUE(r && !is_error(*r));
    auto b = structured(*r).at("balance").as_int64();
    EXPECT_GE(b, 0) << a;
    total += b;
  }
  EXPECT_EQ(total, seed * 4);
  auto h = c->call_tool("health");
  ASSERT_TRUE(h && !is_error(*h));
  EXPECT_EQ(structured(*h).at("balanced"), true);
  EXPECT_EQ(structured(*h).at("transactions"), 4 + applied_keys);

  // Every transfer in the ledger, once, through the statements of all accounts.
  std::map<std::int64_t, std::string> key_of_tx;
  for (const auto& a : accounts) {
    std::optional<std::string> cursor;
    for (int page = 0; page < 100; ++page) {
      json::object args{{"account", a}, {"limit", 200}};
      if (cursor) args["cursor"] = *cursor;
      auto r = c->call_tool("list_transactions", args);
      ASSERT_TRUE(r && !is_error(*r));
      for (auto& t : structured(*r).at("transactions").as_array()) {
        auto& o = t.as_object();
        if (o.at("kind") != "transfer") continue;
        key_of_tx[o.at("id").as_int64()] = std::string(o.at("idempotency_key").as_string());
      }
      cursor.reset();
      if (auto n = structured(*r).if_contains("next_cursor")) cursor = std::string(n->as_string());
      if (!cursor) break;
    }
  }
  std::map<std::string, int> times;
  for (auto& [id, key] : key_of_tx) ++times[key];
  EXPECT_EQ(static_cast<int>(key_of_tx.size()), applied_keys);
  for (int i = 0; i < transfers; ++i) {
    auto key = "inv-" + std::to_string(i);
    auto it = times.find(key);
    int n = it == times.end() ? 0 : it->second;
    EXPECT_EQ(n, final_state[static_cast<std::size_t>(i)] == applied ? 1 : 0) << key;
  }

  // ---- and entry by entry, in the file itself -----------------------------------------------
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir.path / "wallet.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  };
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT transaction_id FROM entries GROUP BY "
                   "transaction_id HAVING sum(amount) <> 0 OR count(*) <> 2)"),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM accounts a WHERE balance <> (SELECT coalesce(sum("
                   "amount), 0) FROM entries WHERE account_id = a.id)"),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM transactions t WHERE NOT EXISTS (SELECT 1 FROM entries "
                   "e WHERE e.transaction_id = t.id)"),
            0);
  EXPECT_EQ(scalar("SELECT sum(balance) FROM accounts"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM transactions WHERE kind = 'transfer'"), applied_keys);
  sqlite3_close(db);
}
