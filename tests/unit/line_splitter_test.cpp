// The newline framing of stdio and Unix-socket transports: lines, the size limit, and a
// line that never ends (reported as soon as it passes the limit, so readers stop waiting).
#include "plexus/transport/stdio.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

struct recorder {
  std::vector<std::string> lines;
  int oversized = 0;
  void feed(plexus::transport::line_splitter& s, const std::string& bytes) {
    s.feed(
        bytes.data(), bytes.size(), [&](std::string_view l) { lines.emplace_back(l); },
        [&] { ++oversized; });
  }
  void finish(plexus::transport::line_splitter& s) {
    s.finish([&](std::string_view l) { lines.emplace_back(l); }, [&] { ++oversized; });
  }
};

}  // namespace

TEST(LineSplitter, SplitsLinesAcrossFeedsAndDropsCarriageReturns) {
  plexus::transport::line_splitter s(100);
  recorder r;
  r.feed(s, "{\"a\":1}\r\n{\"b\"");
  r.feed(s, ":2}\n\n");
  r.feed(s, "tail");
  r.finish(s);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "", "tail"}));
  EXPECT_EQ(r.oversized, 0);
}

TEST(LineSplitter, ALineThatNeverEndsIsReportedOnceAsSoonAsItPassesTheLimit) {
  plexus::transport::line_splitter s(1000);
  recorder r;
  std::string chunk(600, 'x');
  r.feed(s, chunk);
  EXPECT_EQ(r.oversized, 0);
  r.feed(s, chunk);  // 1200 bytes, no newline yet
  EXPECT_EQ(r.oversized, 1);
  for (int i = 0; i < 100; ++i) r.feed(s, chunk);
  EXPECT_EQ(r.oversized, 1);  // skipped, not reported again
  r.feed(s, "end of the long one\n{\"next\":true}\n");
  r.finish(s);
  EXPECT_EQ(r.oversized, 1);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"{\"next\":true}"}));
}

TEST(LineSplitter, ALineExactlyAtTheLimitPassesAndOneByteMoreDoesNot) {
  plexus::transport::line_splitter s(10);
  recorder r;
  r.feed(s, std::string(10, 'a') + "\n" + std::string(11, 'b') + "\n" + "ok\n");
  EXPECT_EQ(r.lines, (std::vector<std::string>{std::string(10, 'a'), "ok"}));
  EXPECT_EQ(r.oversized, 1);
  r.feed(s, std::string(11, 'c'));  // at EOF without a newline
  r.finish(s);
  EXPECT_EQ(r.oversized, 2);
}

TEST(LineSplitter, ALastLineWithoutNewlineLosesItsCarriageReturnToo) {
  plexus::transport::line_splitter s(100);
  recorder r;
  r.feed(s, "{\"a\":1}\r");
  r.finish(s);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"{\"a\":1}"}));
}

TEST(LineSplitter, AWholeLineInsideOneChunkIsPassedInPlace) {
  // Copying every line first cost a pass over each message (64 KiB for a 64 KiB call);
  // only a line that spans chunks is gathered.
  plexus::transport::line_splitter s(1000);
  std::string chunk = "{\"a\":1}\r\n{\"b\":2}\n{\"c\"";
  std::vector<const char*> where;
  std::vector<std::string> lines;
  auto on_line = [&](std::string_view l) {
    where.push_back(l.data());
    lines.emplace_back(l);
  };
  s.feed(chunk.data(), chunk.size(), on_line, [] {});
  std::string rest = ":3}\n";
  s.feed(rest.data(), rest.size(), on_line, [] {});
  ASSERT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}));
  EXPECT_EQ(where[0], chunk.data());
  EXPECT_EQ(where[1], chunk.data() + 9);
  EXPECT_NE(where[2], chunk.data() + 17);  // spanned two chunks: gathered
}
