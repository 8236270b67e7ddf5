// plexus::batch_deferrer — lets code that an event loop calls hold work back until the loop
// has handled the events that are ready now, so that what those events produce goes out
// together. A transport that writes each message as it is given makes one system call, and
// wakes its peer once, per message; deferred, it writes the whole batch in one call.
// An event loop installs a deferrer on each of its threads. Without one installed, nothing
// can be deferred and callers do the work at once.
// Thread-safety: the installed deferrer is per thread; a deferred task runs on a thread of
// the loop that took it.
#pragma once

#include <functional>

namespace plexus {

class batch_deferrer {
 public:
  // Runs `task` on this loop once the handlers that are ready now have run. Called only on
  // a thread of the loop.
  virtual void defer(std::function<void()> task) = 0;

 protected:
  ~batch_deferrer() = default;
};

// The calling thread's deferrer (nullptr: none, the default).
void set_thread_batch_deferrer(batch_deferrer* deferrer);
batch_deferrer* thread_batch_deferrer();

}  // namespace plexus
