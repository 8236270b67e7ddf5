// plexus::blocking_region — marks where the calling thread waits on something outside
// the process: a peer's answer, a network round trip, a client's reply. A pool that runs
// handlers (the server's handler pool) observes its own threads and starts or wakes
// another worker while one waits, so queued requests do not sit behind it (the idea of
// tokio's block_in_place). Without an observer on the thread it does nothing.
// Regions nest; only the outermost one is reported.
// Thread-safety: everything here is per thread.
#pragma once

namespace plexus {

class blocking_observer {
 public:
  virtual void enter_blocking() = 0;
  virtual void leave_blocking() = 0;

 protected:
  ~blocking_observer() = default;
};

// The observer of the calling thread's blocking regions (nullptr: none).
void set_thread_blocking_observer(blocking_observer* observer);

class blocking_region {
 public:
  blocking_region();
  ~blocking_region();
  blocking_region(const blocking_region&) = delete;
  blocking_region& operator=(const blocking_region&) = delete;

 private:
  blocking_observer* observer_;
};

}  // namespace plexus
