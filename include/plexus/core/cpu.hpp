// How many cores this process may actually run on, for default thread counts.
// std::thread::hardware_concurrency() counts every online core, so a server pinned
// to one core (taskset, a cpuset) or limited by a cgroup CPU quota would start
// threads that only take turns on it, paying a context switch per hand-off.
// Thread-safety: pure function (reads the affinity mask and /sys each call).
#pragma once

#include <cstddef>

namespace plexus {

// The smaller of the CPU affinity mask's size and the cgroup v2 quota (cpu.max,
// rounded up); at least 1.
std::size_t usable_cores();

}  // namespace plexus
