// plexus::server::handler_pool — the threads that run request handlers.
//
// Why not a plain thread pool: most handlers finish in microseconds, and waking a
// sleeping thread for every request costs more than the request (two context
// switches; on a server pinned to one core this was two thirds of the CPU time of a
// pipelined echo). So a post wakes a worker only when none is awake; an awake worker
// drains the queue. Handlers may also block (a tool waiting on a database or a
// client's answer): a watcher wakes one more worker whenever the oldest queued task
// has waited longer than `patience`, so work never waits long behind a blocked
// handler, and a queue that grows faster than one worker drains spreads over more.
// A worker that waits inside a blocking_region (a gateway call to its upstream, a
// 2025-era question to the client) counts as asleep meanwhile: queued work gets another
// worker at once instead of after `patience`.
// Threads (workers and the watcher) start when first needed, up to `threads`: a server
// whose tools all run directly (or that is idle) keeps none, which saves their stacks
// and start-up time.
//
// Thread-safety: post() and stop() may be called from any thread.
#pragma once

#include "plexus/core/blocking.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace plexus::server::detail {

class handler_pool : private blocking_observer {
 public:
  explicit handler_pool(std::size_t threads,
                        std::chrono::microseconds patience = std::chrono::microseconds(200));
  ~handler_pool();
  handler_pool(const handler_pool&) = delete;
  handler_pool& operator=(const handler_pool&) = delete;

  void post(std::function<void()> task);
  // Stops: tasks not started are dropped, running ones finish; joins the threads.
  void stop();

 private:
  using clock = std::chrono::steady_clock;
  struct queued {
    std::function<void()> task;
    clock::time_point at;
  };
  void work();
  void watch();
  void enter_blocking() override;
  void leave_blocking() override;
  // Wakes one sleeping worker, or starts one while fewer than max_threads_ run. Called with
  // mu_ held.
  void wake_one();

  const std::chrono::microseconds patience_;
  const std::size_t max_threads_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable watch_cv_;
  std::deque<queued> queue_;
  std::size_t awake_ = 0;        // workers running a task or about to look for one
  std::size_t idle_ = 0;         // workers asleep
  std::size_t wakes_ = 0;        // wake-ups promised to sleeping workers, not yet taken
  bool watcher_timing_ = false;  // the watcher is timing a non-empty queue (no need to wake it)
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::thread watcher_;
};

}  // namespace plexus::server::detail
