// The wallet's PostgreSQL ledger against a real PostgreSQL (postgres_server.hpp): the books,
// idempotency, refusals with the SQLite store's messages, pagination, and the invariant under
// concurrent transfers with retried keys.
#include "postgres_server.hpp"

#include "plexus/servers/wallet_postgres.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

using namespace plexus::servers;
using namespace plexus::servers::wallet;

namespace {

class WalletPostgres : public ::testing::Test {
 protected:
  static inline std::unique_ptr<plexus::testing::postgres_server> pg;
  static inline int db_counter = 0;

  static void SetUpTestSuite() { pg = plexus::testing::postgres_server::start(); }
  static void TearDownTestSuite() { pg.reset(); }

  std::string conninfo;

  void SetUp() override {
    if (!pg->available()) GTEST_SKIP() << pg->skip_reason();
    ASSERT_TRUE(pg->ok()) << pg->error();
    // A fresh database per test: the ledger's tables start empty.
    std::string db = "wallet_" + std::to_string(++db_counter);
    pg->exec("CREATE DATABASE " + db, "postgres");
    conninfo = pg->conninfo(db);
  }

  std::unique_ptr<ledger_store> open() {
    wallet_config c;
    c.sync_commits = false;
    return open_postgres_ledger(conninfo, c);
  }

  template <class F>
  static std::string error_of(F&& f, error_kind* kind = nullptr) {
    try {
      f();
    } catch (const ledger_error& e) {
      if (kind) *kind = e.kind();
      return e.what();
    }
    return "";
  }
};

TEST_F(WalletPostgres, DepositsTransfersAndTheBooks) {
  auto store = open();
  auto a = store->create_account("alice", "USD");
  EXPECT_TRUE(a.created);
  EXPECT_EQ(a.value.balance, 0);
  EXPECT_FALSE(store->create_account("alice", "USD").created);
  error_kind kind{};
  EXPECT_EQ(error_of([&] { store->create_account("alice", "EUR"); }, &kind),
            "account \"alice\" already exists with currency USD, not EUR");
  EXPECT_EQ(kind, error_kind::already_exists);
  store->create_account("bob", "USD");
  store->create_account("eve", "EUR");

  auto d = store->deposit({.account = "alice", .amount = 1000, .idempotency_key = "d1"});
  EXPECT_FALSE(d.replayed);
  EXPECT_EQ(d.tx.kind, "deposit");
  EXPECT_EQ(d.tx.from, "external:USD");
  ASSERT_EQ(d.tx.entries.size(), 2u);
  EXPECT_EQ(d.tx.entries[0].amount + d.tx.entries[1].amount, 0);
  EXPECT_EQ(d.tx.created_at.size(), 24u) << d.tx.created_at;  // 2026-11-21T09:00:00.000Z
  EXPECT_EQ(d.tx.created_at.back(), 'Z');

  auto t = store->transfer(
      {.from = "alice", .to = "bob", .amount = 300, .idempotency_key = "t1", .memo = "lunch"});
  EXPECT_EQ(t.tx.amount, 300);
  EXPECT_EQ(t.tx.memo, "lunch");
  EXPECT_EQ(store->get_account("alice")->balance, 700);
  EXPECT_EQ(store->get_account("bob")->balance, 300);
  EXPECT_EQ(store->get_account("external:USD")->balance, -1000);
  EXPECT_FALSE(store->get_account("nobody"));

  // Replays change nothing; the same key for another request is refused.
  auto again = store->transfer(
      {.from = "alice", .to = "bob", .amount = 300, .idempotency_key = "t1", .memo = "lunch"});
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.tx.id, t.tx.id);
  EXPECT_EQ(store->get_account("alice")->balance, 700);
  EXPECT_NE(
      error_of(
          [&] {
            store->transfer({.from = "alice", .to = "bob", .amount = 5, .idempotency_key = "t1"});
          },
          &kind)
          .find("was already used for a different request"),
      std::string::npos);
  EXPECT_EQ(kind, error_kind::idempotency_conflict);

  EXPECT_EQ(
      error_of(
          [&] {
            store->transfer({.from = "bob", .to = "alice", .amount = 301, .idempotency_key = "x"});
          },
          &kind),
      "insufficient funds: \"bob\" has 300 USD minor units, the transfer needs 301");
  EXPECT_EQ(kind, error_kind::insufficient_funds);
  error_of(
      [&] { store->transfer({.from = "bob", .to = "eve", .amount = 1, .idempotency_key = "y"}); },
      &kind);
  EXPECT_EQ(kind, error_kind::currency_mismatch);
  error_of(
      [&] { store->transfer({.from = "bob", .to = "zed", .amount = 1, .idempotency_key = "z"}); },
      &kind);
  EXPECT_EQ(kind, error_kind::not_found);
  error_of([&] { store->deposit({.account = "external:USD", .amount = 1}); }, &kind);
  EXPECT_EQ(kind, error_kind::system_account);
  // A failed request did not use up its key.
  EXPECT_FALSE(store->transfer({.from = "bob", .to = "alice", .amount = 1, .idempotency_key = "x"})
                   .replayed);

  auto h = store->health();
  EXPECT_EQ(h.backend, "postgresql");
  EXPECT_EQ(h.accounts, 3);
  EXPECT_EQ(h.transactions, 3);
  EXPECT_TRUE(h.balanced);
  EXPECT_EQ(h.location.find("127.0.0.1:" + std::to_string(pg->port())) != std::string::npos, true);

  // The books are append-only, whatever a client does with SQL.
  EXPECT_THROW(pg->exec("DELETE FROM wallet_entries", conninfo.substr(conninfo.rfind('=') + 1)),
               std::runtime_error);
}

TEST_F(WalletPostgres, PagesAccountsAndTransactions) {
  auto store = open();
  for (const char* n : {"c", "a", "b", "d"}) store->create_account(n, "USD");
  auto p1 = store->list_accounts(std::nullopt, 3);
  ASSERT_EQ(p1.accounts.size(), 3u);
  EXPECT_EQ(p1.accounts[0].name, "a");
  EXPECT_EQ(p1.next_after, "c");
  auto p2 = store->list_accounts(p1.next_after, 3);
  ASSERT_EQ(p2.accounts.size(), 1u);
  EXPECT_EQ(p2.accounts[0].name, "d");
  EXPECT_FALSE(p2.next_after);

  for (int i = 0; i < 5; ++i) store->deposit({.account = "a", .amount = 10 + i});
  auto t1 = store->list_transactions("a", std::nullopt, 2);
  ASSERT_EQ(t1.transactions.size(), 2u);
  EXPECT_EQ(t1.transactions[0].amount, 14);  // newest first
  ASSERT_TRUE(t1.next_before);
  auto t2 = store->list_transactions("a", t1.next_before, 10);
  ASSERT_EQ(t2.transactions.size(), 3u);
  EXPECT_EQ(t2.transactions.back().amount, 10);
  EXPECT_FALSE(t2.next_before);
}

TEST_F(WalletPostgres, ConcurrentTransfersKeepTheTotalAndApplyEachKeyOnce) {
  auto store = open();
  const std::vector<std::string> names = {"a0", "a1", "a2", "a3", "a4"};
  for (const auto& n : names) {
    store->create_account(n, "USD");
    store->deposit({.account = n, .amount = 1000});
  }
  // A second store (another "process") on the same database.
  auto other = open();
  std::atomic<int> applied{0}, replays{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      ledger_store& s = t % 2 ? *other : *store;
      for (int i = 0; i < 60; ++i) {
        int from = static_cast<int>(rng() % 5), to = static_cast<int>((from + 1 + rng() % 4) % 5);
        // Keys shared between thread pairs: the same request arrives twice, concurrently.
        std::string key = "k-" + std::to_string(t / 2) + "-" + std::to_string(i);
        transfer_request r{.from = names[static_cast<std::size_t>(from)],
                           .to = names[static_cast<std::size_t>(to)],
                           .amount = static_cast<std::int64_t>(1 + rng() % 300),
                           .idempotency_key = key};
        if (t % 2) {  // the partner thread sends the identical request under the same key
          std::mt19937 twin(static_cast<unsigned>(t - 1));
          for (int j = 0; j <= i; ++j) {
            int f = static_cast<int>(twin() % 5), g = static_cast<int>((f + 1 + twin() % 4) % 5);
            r = {.from = names[static_cast<std::size_t>(f)],
                 .to = names[static_cast<std::size_t>(g)],
                 .amount = static_cast<std::int64_t>(1 + twin() % 300),
                 .idempotency_key = key};
          }
        }
        try {
          auto p = s.transfer(r);
          ++(p.replayed ? replays : applied);
        } catch (const ledger_error& e) {
          if (e.kind() != error_kind::insufficient_funds) ADD_FAILURE() << e.what();
        }
      }
    });
  for (auto& th : threads) th.join();
  std::int64_t total = 0;
  for (const auto& n : names) total += store->get_account(n)->balance;
  EXPECT_EQ(total, 5000);
  auto h = store->health();
  EXPECT_TRUE(h.balanced);
  EXPECT_EQ(h.transactions, 5 + applied.load());  // deposits + each key applied once
  EXPECT_LE(applied.load(), 180);
  EXPECT_GT(replays.load(), 0);
}

TEST_F(WalletPostgres, UnreachableServerIsAStorageError) {
  error_kind kind{};
  auto e = error_of(
      [] { open_postgres_ledger("host=127.0.0.1 port=1 dbname=x connect_timeout=2", {}); }, &kind);
  EXPECT_EQ(kind, error_kind::storage);
  EXPECT_NE(e.find("cannot connect to PostgreSQL"), std::string::npos) << e;
}

}  // namespace
