#include "plexus/core/cpu.hpp"

#include <sched.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>

namespace plexus {

namespace {

// cpu.max is "max 100000" (no limit) or "<quota> <period>" in microseconds.
std::size_t cgroup_quota_cores() {
  std::ifstream in("/sys/fs/cgroup/cpu.max");
  std::string quota, period;
  if (!(in >> quota >> period) || quota == "max") return 0;
  try {
    double q = std::stod(quota), p = std::stod(period);
    if (q <= 0 || p <= 0) return 0;
    return static_cast<std::size_t>(std::ceil(q / p));
  } catch (...) {
    return 0;
  }
}

}  // namespace

std::size_t usable_cores() {
  std::size_t n = std::thread::hardware_concurrency();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = static_cast<std::size_t>(CPU_COUNT(&set));
  if (auto q = cgroup_quota_cores(); q > 0) n = std::min(n, q);
  return std::max<std::size_t>(1, n);
}

}  // namespace plexus
