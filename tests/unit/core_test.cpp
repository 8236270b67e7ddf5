// core/random (kernel randomness for ids and keys) and core/cpu (usable cores).
#include "plexus/core/cpu.hpp"
#include "plexus/core/random.hpp"

#include <gtest/gtest.h>

#include <sched.h>
#include <set>
#include <thread>

TEST(Random, HexIsTwoDigitsPerByteAndNeverRepeats) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto h = plexus::random::hex(16);
    ASSERT_EQ(h.size(), 32u);
    EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos) << h;
    EXPECT_TRUE(seen.insert(h).second) << "repeated " << h;
  }
}

TEST(Random, BytesFillsLargeBuffers) {
  std::string a(1 << 20, '\0'), b(1 << 20, '\0');
  plexus::random::bytes(a.data(), a.size());
  plexus::random::bytes(b.data(), b.size());
  EXPECT_NE(a, b);
  EXPECT_NE(a, std::string(1 << 20, '\0'));
}

TEST(Cpu, UsableCoresFollowsTheAffinityMask) {
  // Checked on a thread of its own: sched_setaffinity(0) changes only the calling thread.
  std::size_t all = 0, pinned = 0;
  std::thread([&] {
    all = plexus::usable_cores();
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) {
        first = c;
        break;
      }
    ASSERT_GE(first, 0);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    pinned = plexus::usable_cores();
  }).join();
  EXPECT_GE(all, 1u);
  EXPECT_LE(all, std::max(1u, std::thread::hardware_concurrency()));
  EXPECT_EQ(pinned, 1u);
}
