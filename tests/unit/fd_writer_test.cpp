// fd_writer: whole lines, and the reader's batch (its own answers wait for end_batch,
// other threads' answers do not).
#include "transport/fd_writer.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>
#include <csignal>
#include <thread>

using plexus::transport::fd_writer;

namespace {

struct pipe_pair {
  int fds[2];
  pipe_pair() { EXPECT_EQ(::pipe(fds), 0); }
  ~pipe_pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  bool readable() {
    pollfd p{fds[0], POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }
  std::string read_some() {
    char buf[4096];
    auto n = ::read(fds[0], buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
};

}  // namespace

TEST(FdWriter, WritesWholeLines) {
  pipe_pair p;
  fd_writer w(p.fds[1]);
  w.send(R"({"a":1})");
  EXPECT_EQ(p.read_some(), "{\"a\":1}\n");
}

TEST(FdWriter, TheReadersOwnAnswersWaitForTheEndOfTheBatch) {
  pipe_pair p;
  fd_writer w(p.fds[1]);
  w.begin_batch();
  w.send("one");
  w.send("two");
  EXPECT_FALSE(p.readable());
  // Another thread (a pool handler) is not held back by the reader's batch.
  std::thread([&] { w.send("pool"); }).join();
  EXPECT_EQ(p.read_some(), "pool\n");
  w.end_batch();
  EXPECT_EQ(p.read_some(), "one\ntwo\n");
  // After the batch, sends go out at once again.
  w.send("three");
  EXPECT_EQ(p.read_some(), "three\n");
}

TEST(FdWriter, ALargeAnswerInTheBatchGoesOutInOrderWithWhatWasGathered) {
  // It is written as it is (not copied into the batch), after what was gathered before it.
  pipe_pair p;
  fd_writer w(p.fds[1]);
  std::string large(20 * 1024, 'x');
  std::string got;
  std::thread reader([&] {
    while (got.size() < large.size() + 9) {
      auto s = p.read_some();
      if (s.empty()) break;
      got += s;
    }
  });
  w.begin_batch();
  w.send("one");
  w.send(large);
  w.send("two");
  w.end_batch();
  reader.join();
  EXPECT_EQ(got, "one\n" + large + "\ntwo\n");
}

TEST(FdWriter, ABrokenPipeIsReportedNotFatal) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  std::signal(SIGPIPE, SIG_IGN);
  fd_writer w(fds[1]);
  w.send("lost");
  EXPECT_TRUE(w.broken());
  w.begin_batch();
  w.send("also lost");
  w.end_batch();
  ::close(fds[1]);
}
