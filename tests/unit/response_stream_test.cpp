#include "transport/response_stream.hpp"

#include <gtest/gtest.h>

#include <string>

using plexus::transport::response_stream;

// The HTTP server looks at a stream before it attaches a waker (a direct tool has usually
// answered by then) and attaches only when it has to wait: attaching must not wake a reader
// for nothing, and must wake it when something came before the attach.
TEST(ResponseStream, AttachWakesOnlyWhenSomethingIsWaiting) {
  response_stream empty("", false, 16);
  int wakes = 0;
  empty.attach([&] { ++wakes; });
  EXPECT_EQ(wakes, 0);
  empty.finish("{\"id\":1}", 0);
  EXPECT_EQ(wakes, 1);

  response_stream answered("", false, 16);
  answered.finish("{\"id\":2}", 0);
  int later = 0;
  answered.attach([&] { ++later; });
  EXPECT_EQ(later, 1);

  response_stream accepted("", false, 16);
  accepted.no_reply();
  int accepted_wakes = 0;
  accepted.attach([&] { ++accepted_wakes; });
  EXPECT_EQ(accepted_wakes, 1);
}

TEST(ResponseStream, ALiveStreamHandsEachEventOutOnceAndAResumableOneKeepsThem) {
  std::string big(64 * 1024, 'x');
  response_stream live("", false, 16);
  live.send("{\"a\":1}");
  live.finish(big, 0);
  auto b = live.poll(0);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].data, "{\"a\":1}");
  EXPECT_EQ(b.events[1].data, big);
  EXPECT_TRUE(b.events[1].final);
  EXPECT_TRUE(b.finished);
  EXPECT_TRUE(live.poll(0).events.empty());

  response_stream kept("s1", true, 16);
  kept.send("one");
  kept.finish("two", 0);
  auto all = kept.poll(0);
  ASSERT_EQ(all.events.size(), 2u);
  auto rest = kept.poll(all.events[0].seq);  // a client resuming after the first event
  ASSERT_EQ(rest.events.size(), 1u);
  EXPECT_EQ(rest.events[0].data, "two");
}

// A resumable stream keeps its last max_events events: older ones are dropped one by one
// (and the storage compacted now and then) while the sequence numbers go on.
TEST(ResponseStream, AResumableStreamKeepsALastWindowOfEvents) {
  response_stream kept("s2", true, 4);
  for (int i = 1; i <= 100; ++i) kept.send(std::to_string(i));
  auto window = kept.poll(0);
  ASSERT_EQ(window.events.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(window.events[i].data, std::to_string(97 + i));
    EXPECT_EQ(window.events[i].seq, 97 + i);
  }
  auto after = kept.poll(98);
  ASSERT_EQ(after.events.size(), 2u);
  EXPECT_EQ(after.events[0].data, "99");
  EXPECT_EQ(kept.poll(100).events.size(), 0u);

  // Unattached live streams drop their oldest too; what is left moves out once.
  response_stream live("", false, 3);
  for (int i = 1; i <= 50; ++i) live.send(std::to_string(i));
  live.finish("end", 0);
  auto rest = live.poll(0);
  ASSERT_EQ(rest.events.size(), 3u);
  EXPECT_EQ(rest.events[0].data, "49");
  EXPECT_EQ(rest.events[2].data, "end");
  EXPECT_TRUE(rest.events[2].final);
  EXPECT_TRUE(live.poll(0).events.empty());
}
