// The handler pool: runs everything posted, wakes another worker when the queue waits
// behind a blocked handler, and stops cleanly with work queued.
#include "server/handler_pool.hpp"

#include "plexus/core/blocking.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using namespace std::chrono_literals;
using plexus::server::detail::handler_pool;

TEST(HandlerPool, RunsEverythingPosted) {
  handler_pool pool(4);
  std::atomic<int> n{0};
  std::promise<void> done;
  for (int i = 0; i < 10000; ++i)
    pool.post([&] {
      if (++n == 10000) done.set_value();
    });
  ASSERT_EQ(done.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(n.load(), 10000);
}

TEST(HandlerPool, QuickTasksDoNotWaitBehindBlockedOnes) {
  for (int blocked_first : {0, 1}) {
    handler_pool pool(4);
    std::promise<void> release;
    auto gate = release.get_future().share();
    std::promise<void> quick;
    // Two blocked handlers (posted back to back, before any worker runs), then a quick one.
    pool.post([gate] { gate.wait(); });
    if (blocked_first) pool.post([gate] { gate.wait(); });
    auto t0 = std::chrono::steady_clock::now();
    pool.post([&] { quick.set_value(); });
    EXPECT_EQ(quick.get_future().wait_for(2s), std::future_status::ready);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
    release.set_value();
  }
}

TEST(HandlerPool, AllWorkersBlockedThenFreedStillDrains) {
  handler_pool pool(2);
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<int> n{0};
  for (int i = 0; i < 2; ++i) pool.post([gate] { gate.wait(); });
  for (int i = 0; i < 100; ++i) pool.post([&] { ++n; });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(n.load(), 0);  // both workers are blocked
  release.set_value();
  for (int i = 0; i < 200 && n.load() < 100; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(n.load(), 100);
}

TEST(HandlerPool, StopDropsQueuedWorkAndJoins) {
  std::atomic<int> ran{0};
  {
    handler_pool pool(1);
    std::promise<void> started;
    pool.post([&] {
      started.set_value();
      std::this_thread::sleep_for(50ms);
      ++ran;
    });
    started.get_future().wait();
    for (int i = 0; i < 10; ++i) pool.post([&] { ++ran; });
    pool.stop();
    pool.post([&] { ++ran; });  // after stop: dropped
  }
  EXPECT_GE(ran.load(), 1);
  EXPECT_LE(ran.load(), 11);
}

TEST(HandlerPool, AWorkerThatSaysItBlocksIsReplacedAtOnce) {
  // With a patience of 10 s the watcher would not help: only the blocking_region (as in a
  // gateway call waiting for its upstream) lets the queued task run now.
  handler_pool pool(4, std::chrono::microseconds(10'000'000));
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::promise<void> entered, quick;
  pool.post([&, gate] {
    plexus::blocking_region waiting;
    entered.set_value();
    gate.wait();
  });
  ASSERT_EQ(entered.get_future().wait_for(2s), std::future_status::ready);
  auto t0 = std::chrono::steady_clock::now();
  pool.post([&] { quick.set_value(); });
  EXPECT_EQ(quick.get_future().wait_for(2s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  release.set_value();
}

TEST(HandlerPool, BlockingRegionsNestAndDoNothingOffThePool) {
  {
    plexus::blocking_region outer;  // no observer on this thread: nothing happens
    plexus::blocking_region inner;
  }
  handler_pool pool(2, std::chrono::microseconds(10'000'000));
  std::promise<void> done;
  pool.post([&] {
    {
      plexus::blocking_region outer;
      plexus::blocking_region inner;  // reported once
    }
    done.set_value();
  });
  ASSERT_EQ(done.get_future().wait_for(2s), std::future_status::ready);
  // The pool still counts its worker right: more work runs.
  std::promise<void> again;
  pool.post([&] { again.set_value(); });
  EXPECT_EQ(again.get_future().wait_for(2s), std::future_status::ready);
}
