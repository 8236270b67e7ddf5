// SSE parser and encoder: every WHATWG rule the parser applies, the id/retry
// updates it reports for data-less (priming) blocks, its size limit, chunking
// at every byte boundary, and encode -> parse round trips.
#include "plexus/transport/sse.hpp"

#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using plexus::transport::sse_encode;
using plexus::transport::sse_event;
using plexus::transport::sse_parser;
using plexus::transport::sse_parser_options;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

struct ev {
  std::string event, data, id;
  bool has_id = false;
  std::optional<std::uint32_t> retry;
  bool operator==(const ev&) const = default;
};

std::ostream& operator<<(std::ostream& os, const ev& e) {
  return os << "{event=" << testing::PrintToString(e.event)
            << " data=" << testing::PrintToString(e.data) << " id=" << testing::PrintToString(e.id)
            << " has_id=" << e.has_id << " retry=" << (e.retry ? std::to_string(*e.retry) : "-")
            << "}";
}

struct result {
  std::vector<ev> events;
  bool failed = false;
  std::string last_id;
  std::optional<std::uint32_t> retry;
  bool operator==(const result&) const = default;
};

struct collector {
  std::vector<ev> events;
  sse_parser parser;
  explicit collector(std::size_t max = 4 * 1024 * 1024)
      : parser(
            [this](const sse_event& e) {
              events.push_back({e.event, e.data, e.id, e.has_id, e.retry});
            },
            sse_parser_options{max}) {}
  result get() const { return {events, parser.failed(), parser.last_event_id(), parser.retry()}; }
};

result parse(std::string_view s, std::size_t max = 4 * 1024 * 1024) {
  collector c(max);
  c.parser.feed(s);
  return c.get();
}

std::vector<ev> events(std::string_view s) {
  return parse(s).events;
}

ev msg(std::string data, std::string id = {}, bool has_id = false) {
  return {"message", std::move(data), std::move(id), has_id, std::nullopt};
}

}  // namespace

TEST(SseParser, DataLinesAreJoinedWithNewlines) {
  EXPECT_EQ(events("data: hello\n\n"), std::vector<ev>{msg("hello")});
  EXPECT_EQ(events("data: a\ndata: b\ndata: c\n\n"), std::vector<ev>{msg("a\nb\nc")});
  EXPECT_EQ(events("data: a\ndata:\ndata: c\n\n"), std::vector<ev>{msg("a\n\nc")});
  EXPECT_EQ(events("data: x\n\ndata: y\n\n"), (std::vector<ev>{msg("x"), msg("y")}));
  // A blank line without a pending event dispatches nothing.
  EXPECT_EQ(events("\n\n\ndata: x\n\n\n\n"), std::vector<ev>{msg("x")});
}

TEST(SseParser, FieldSyntax) {
  EXPECT_EQ(events("data:x\n\n"), std::vector<ev>{msg("x")});
  EXPECT_EQ(events("data:  x\n\n"), std::vector<ev>{msg(" x")});  // only one space is dropped
  EXPECT_EQ(events("data: a:b: c\n\n"), std::vector<ev>{msg("a:b: c")});
  EXPECT_EQ(events("data\n\n"), std::vector<ev>{msg("")});  // no colon: empty value
  EXPECT_EQ(events("data:\n\n"), std::vector<ev>{msg("")});
  EXPECT_EQ(events("data: \n\n"), std::vector<ev>{msg("")});
  EXPECT_EQ(events("data:\tx\n\n"), std::vector<ev>{msg("\tx")});  // only a space is dropped
  // Unknown and differently cased fields are ignored.
  EXPECT_EQ(events("Data: x\nDATA: y\nfoo: bar\ndata : z\n\n"), std::vector<ev>{});
  EXPECT_EQ(events("foo: bar\ndata: x\n\n"), std::vector<ev>{msg("x")});
}

TEST(SseParser, CommentsAreIgnored) {
  EXPECT_EQ(events(": keepalive\n\n"), std::vector<ev>{});
  EXPECT_EQ(events(":\n:\n\n"), std::vector<ev>{});
  EXPECT_EQ(events("data: a\n: comment\ndata: b\n\n"), std::vector<ev>{msg("a\nb")});
  EXPECT_EQ(events(":data: x\n\n"), std::vector<ev>{});
}

TEST(SseParser, EventType) {
  EXPECT_EQ(events("event: ping\ndata: 1\n\n"),
            std::vector<ev>{(ev{"ping", "1", "", false, std::nullopt})});
  // The type applies to one event only.
  EXPECT_EQ(events("event: ping\ndata: 1\n\ndata: 2\n\n"),
            (std::vector<ev>{ev{"ping", "1", "", false, std::nullopt}, msg("2")}));
  // The last `event` of a block wins; an empty one means "message".
  EXPECT_EQ(events("event: a\nevent: b\ndata: 1\n\n"),
            std::vector<ev>{(ev{"b", "1", "", false, std::nullopt})});
  EXPECT_EQ(events("event: a\nevent:\ndata: 1\n\n"), std::vector<ev>{msg("1")});
  // A block with a type but no data dispatches nothing, and its type is forgotten.
  EXPECT_EQ(events("event: a\n\ndata: 1\n\n"), std::vector<ev>{msg("1")});
}

TEST(SseParser, IdPersistsAndIgnoresNul) {
  EXPECT_EQ(events("id: 7\ndata: a\n\ndata: b\n\n"),
            (std::vector<ev>{msg("a", "7", true), msg("b", "7", false)}));
  // An empty id resets the last event ID.
  EXPECT_EQ(events("id: 7\ndata: a\n\nid\ndata: b\n\n"),
            (std::vector<ev>{msg("a", "7", true), msg("b", "", true)}));
  // An id containing NUL is ignored: the previous id stays.
  auto r = parse("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"s);
  EXPECT_EQ(r.events, (std::vector<ev>{msg("a", "1", true), msg("b", "1", false)}));
  EXPECT_EQ(r.last_id, "1");
  // The id buffer changes even when the block is never dispatched.
  r = parse("id: 5\nevent: x\n\ndata: b\n\n");
  EXPECT_EQ(r.events, (std::vector<ev>{ev{"", "", "5", true, std::nullopt}, msg("b", "5")}));
  r = parse("id: 9\ndata: unfinished\n");
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.last_id, "9");
}

TEST(SseParser, RetryTakesDigitsOnly) {
  auto r = parse("retry: 1500\ndata: a\n\n");
  EXPECT_EQ(r.events, std::vector<ev>{(ev{"message", "a", "", false, 1500u})});
  EXPECT_EQ(r.retry, 1500u);
  for (std::string bad : {"retry: 15x\n", "retry: -1\n", "retry: 1.5\n", "retry:\n", "retry\n",
                          "retry:  15\n", "retry: 15 \n", "retry: +15\n", "retry: 4294967296\n",
                          "retry: 99999999999999999999999\n"}) {
    r = parse(bad + "data: a\n\n");
    EXPECT_EQ(r.events, std::vector<ev>{msg("a")}) << bad;
    EXPECT_FALSE(r.retry) << bad;
  }
  EXPECT_EQ(parse("retry: 4294967295\n\n").retry, 4294967295u);
  EXPECT_EQ(parse("retry: 0007\n\n").retry, 7u);
  // An invalid retry leaves the previous one in place.
  EXPECT_EQ(parse("retry: 10\n\nretry: x\n\n").retry, 10u);
}

TEST(SseParser, PrimingBlocksAreReportedAsUpdates) {
  // Plexus' own priming event (data line present): a regular event with empty data.
  EXPECT_EQ(events("id: 3-0\nretry: 1000\ndata: \n\n"),
            std::vector<ev>{(ev{"message", "", "3-0", true, 1000u})});
  // Without a data line the WHATWG rules dispatch nothing, but the id/retry update
  // is reported, with an empty type.
  EXPECT_EQ(events("id: 3-0\n\n"), std::vector<ev>{(ev{"", "", "3-0", true, std::nullopt})});
  EXPECT_EQ(events("retry: 250\n\n"), std::vector<ev>{(ev{"", "", "", false, 250u})});
  EXPECT_EQ(events("id: 1\n\nretry: 2\n\n"),
            (std::vector<ev>{ev{"", "", "1", true, std::nullopt}, ev{"", "", "1", false, 2u}}));
  // Blocks with neither data, id nor retry are not reported.
  EXPECT_EQ(events("event: x\n: c\nretry: bad\nid: a\0b\n\n"s), std::vector<ev>{});
  // Retry reported only for the block that carried it.
  EXPECT_EQ(events("retry: 5\ndata: a\n\ndata: b\n\n"),
            (std::vector<ev>{ev{"message", "a", "", false, 5u}, msg("b")}));
}

TEST(SseParser, LineEndings) {
  const std::vector<ev> want{ev{"t", "a\nb", "1", true, std::nullopt}, msg("c", "1")};
  EXPECT_EQ(events("event: t\nid: 1\ndata: a\ndata: b\n\ndata: c\n\n"), want);
  EXPECT_EQ(events("event: t\rid: 1\rdata: a\rdata: b\r\rdata: c\r\r"), want);
  EXPECT_EQ(events("event: t\r\nid: 1\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"), want);
  EXPECT_EQ(events("event: t\r\nid: 1\rdata: a\ndata: b\r\n\rdata: c\n\r\n"), want);
  // CR CR is two line ends (a blank line); LF CR too; CR LF is one.
  EXPECT_EQ(events("data: a\r\r"), std::vector<ev>{msg("a")});
  EXPECT_EQ(events("data: a\n\r"), std::vector<ev>{msg("a")});
  EXPECT_EQ(events("data: a\r\n"), std::vector<ev>{});
}

TEST(SseParser, ByteOrderMark) {
  const std::string bom = "\xEF\xBB\xBF";
  EXPECT_EQ(events(bom + "data: a\n\n"), std::vector<ev>{msg("a")});
  // Only one, at the start: a second BOM is part of the field name.
  EXPECT_EQ(events(bom + bom + "data: a\n\n"), std::vector<ev>{});
  EXPECT_EQ(events("data: a\n\n" + bom + "data: b\n\n"), std::vector<ev>{msg("a")});
  // A BOM split across chunks.
  collector c;
  c.parser.feed("\xEF");
  c.parser.feed("\xBB");
  c.parser.feed(
      "\xBF"
      "data: a\n\n");
  EXPECT_EQ(c.events, std::vector<ev>{msg("a")});
  // A partial BOM is data: "\xEF\xBB" then "data" makes an unknown field name...
  EXPECT_EQ(events("\xEF\xBB"
                   "data: a\n\n"),
            std::vector<ev>{});
  // ...and a field value keeps the bytes.
  EXPECT_EQ(events("\xEF\xBB\n:\xEF\xBB\xBF\ndata: \xEF\xBB\xBF\n\n"),
            std::vector<ev>{msg("\xEF\xBB\xBF")});
}

TEST(SseParser, PartialLinesWaitForMoreBytes) {
  collector c;
  EXPECT_TRUE(c.parser.feed("da"));
  EXPECT_TRUE(c.parser.feed("ta: hel"));
  EXPECT_TRUE(c.events.empty());
  EXPECT_TRUE(c.parser.feed("lo\n"));
  EXPECT_TRUE(c.events.empty());  // not before the blank line
  EXPECT_TRUE(c.parser.feed("\r"));
  EXPECT_EQ(c.events, std::vector<ev>{msg("hello")});
  // The LF after the CR belongs to it (CRLF), even in its own chunk.
  EXPECT_TRUE(c.parser.feed(""));
  EXPECT_TRUE(c.parser.feed("\n"));
  EXPECT_EQ(c.events.size(), 1u);
  EXPECT_TRUE(c.parser.feed("\n"));  // but the next one is a blank line
  EXPECT_EQ(c.events.size(), 1u);
}

TEST(SseParser, EndOfStreamDiscardsTheUnfinishedEvent) {
  collector c;
  c.parser.feed("id: 4\nretry: 9\ndata: a\n\ndata: b\ndata: c");
  EXPECT_TRUE(c.parser.finish());
  EXPECT_EQ(c.events, std::vector<ev>{(ev{"message", "a", "4", true, 9u})});
  EXPECT_FALSE(c.parser.finish());
  // The last id and retry survive for the reconnection; the next stream starts clean.
  EXPECT_EQ(c.parser.last_event_id(), "4");
  EXPECT_EQ(c.parser.retry(), 9u);
  c.parser.feed(
      "\xEF\xBB\xBF"
      "\n\ndata: d\n\n");
  EXPECT_EQ(c.events.back(), msg("d", "4"));
  c.parser.reset();
  EXPECT_EQ(c.parser.last_event_id(), "");
  EXPECT_FALSE(c.parser.retry());
  EXPECT_FALSE(c.parser.finish());
}

TEST(SseParser, EventSizeLimitIsAnErrorState) {
  // Exactly at the limit: 16 buffered data bytes ("1234567\n" twice), lines of 13.
  auto r = parse("data: 1234567\ndata: 1234567\n\n", 16);
  EXPECT_FALSE(r.failed);
  EXPECT_EQ(r.events, std::vector<ev>{msg("1234567\n1234567")});
  r = parse("data: 1234567\ndata: 12345678\n\n", 16);
  EXPECT_TRUE(r.failed);
  EXPECT_TRUE(r.events.empty());
  // A line longer than the limit fails even when it buffers nothing (a comment).
  r = parse(": " + std::string(15, 'c') + "\n\n", 16);
  EXPECT_TRUE(r.failed);
  r = parse(": " + std::string(14, 'c') + "\n\n", 16);
  EXPECT_FALSE(r.failed);
  EXPECT_TRUE(r.events.empty());
  // Events before the offending one are delivered; nothing after it.
  r = parse("data: a\n\ndata: 0123456789abcdef\n\ndata: b\n\n", 16);
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(r.events, std::vector<ev>{msg("a")});

  // A line that never ends (even a comment) cannot grow the buffer past the limit.
  collector c(64);
  EXPECT_TRUE(c.parser.feed(":"));
  std::string chunk(16, 'x');
  bool ok = true;
  int fed = 0;
  while (ok && fed < 100) ok = c.parser.feed(chunk), ++fed;
  EXPECT_FALSE(ok);
  EXPECT_EQ(fed, 4);
  EXPECT_TRUE(c.parser.failed());
  EXPECT_NE(c.parser.error(), "");
  EXPECT_FALSE(c.parser.feed("\n\ndata: x\n\n"));  // sticky
  EXPECT_TRUE(c.events.empty());
  c.parser.reset();
  EXPECT_TRUE(c.parser.feed("data: x\n\n"));
  EXPECT_EQ(c.events, std::vector<ev>{msg("x")});

  // Many data lines, each short, are bounded too.
  collector d(1024);
  for (int i = 0; i < 1000 && !d.parser.failed(); ++i) d.parser.feed("data: 0123456789\n");
  EXPECT_TRUE(d.parser.failed());
  // A long id or type line is a long line.
  EXPECT_TRUE(parse("id: " + std::string(100, 'i') + "\n", 64).failed);
  EXPECT_TRUE(parse("event: " + std::string(100, 'e') + "\n", 64).failed);
  // The default limit is 4 MiB.
  std::string big = "data: " + std::string(4 * 1024 * 1024, 'x') + "\n\n";
  EXPECT_TRUE(parse(big).failed);
  big = "data: " + std::string(4 * 1024 * 1024 - 16, 'x') + "\n\n";
  r = parse(big);
  EXPECT_FALSE(r.failed);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].data.size(), 4u * 1024 * 1024 - 16);
}

namespace {

// Streams that exercise every rule; each must parse the same in any chunking.
const std::vector<std::string>& sample_streams() {
  static const std::vector<std::string> s{
      "\xEF\xBB\xBF"
      "event: t\r\nid: 1\rdata: a\ndata: b\r\n\rdata: c\n\r\n",
      "data: a\r\r\r\n\n\rdata: b\r\n\r\n",
      "id: 3-0\nretry: 1000\ndata: \n\nid: x\0y\n\nretry: 77\n\n: c\r\n"s,
      "\xEF\xBB:\xEF\xBB\xBF\ndata:\xEF\xBB\xBF\n\nevent:\n\ndata\n\ndata\r",
      "id\n\nid:  spaced\ndata:  two\n\nfoo\nbar:baz\ndata: tail-without-blank",
      "data: 0123456789abcdef\n\ndata: 0123456789abcdef0123456789\n\ndata: after\n\n",
      "retry: 4294967295\nretry: 4294967296\nretry: 1x\ndata: r\n\r\n",
  };
  return s;
}

result parse_chunks(const std::string& s, const std::vector<std::size_t>& cuts, std::size_t max) {
  collector c(max);
  std::size_t prev = 0;
  for (std::size_t cut : cuts) {
    c.parser.feed(std::string_view(s).substr(prev, cut - prev));
    prev = cut;
  }
  c.parser.feed(std::string_view(s).substr(prev));
  return c.get();
}

}  // namespace

TEST(SseParser, ChunkingAtEveryByteBoundaryGivesTheSameEvents) {
  for (std::size_t max : {std::size_t{24}, std::size_t{4096}}) {
    for (const auto& s : sample_streams()) {
      const result whole = parse(s, max);
      if (max > 1000) {
        EXPECT_FALSE(whole.failed) << s;
      }
      // Two chunks, cut anywhere.
      for (std::size_t i = 0; i <= s.size(); ++i)
        ASSERT_EQ(parse_chunks(s, {i}, max), whole) << "cut at " << i << " of " << s;
      // Three chunks, cut at every pair of positions.
      for (std::size_t i = 0; i <= s.size(); ++i)
        for (std::size_t j = i; j <= s.size(); ++j)
          ASSERT_EQ(parse_chunks(s, {i, j}, max), whole) << "cuts " << i << "," << j;
      // One byte at a time.
      std::vector<std::size_t> all;
      for (std::size_t i = 1; i < s.size(); ++i) all.push_back(i);
      ASSERT_EQ(parse_chunks(s, all, max), whole) << s;
    }
  }
  // The small limit really does fail on the long-line sample.
  EXPECT_TRUE(parse(sample_streams()[5], 24).failed);
  EXPECT_EQ(parse(sample_streams()[5], 24).events, std::vector<ev>{msg("0123456789abcdef")});
}

TEST(SseEncode, WireForm) {
  EXPECT_EQ(sse_encode("hi"), "event: message\ndata: hi\n\n");
  EXPECT_EQ(sse_encode("hi", "", ""), "data: hi\n\n");
  EXPECT_EQ(sse_encode("a\nb", "up", "7"), "event: up\nid: 7\ndata: a\ndata: b\n\n");
  EXPECT_EQ(sse_encode("a\r\nb\rc\n", ""), "data: a\ndata: b\ndata: c\ndata: \n\n");
  EXPECT_EQ(sse_encode("", ""), "data: \n\n");
  EXPECT_THROW(sse_encode("x", "a\nb"), std::invalid_argument);
  EXPECT_THROW(sse_encode("x", "a\rb"), std::invalid_argument);
  EXPECT_THROW(sse_encode("x", "m", "1\n"), std::invalid_argument);
  EXPECT_THROW(sse_encode("x", "m", "1\0"sv), std::invalid_argument);
}

TEST(SseEncode, RoundTripsThroughTheParser) {
  struct sample {
    std::string data, event, id;
  };
  std::vector<sample> samples{
      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", "message", "0-1"},
      {"", "message", ""},
      {"\n", "message", "x"},
      {"\n\n", "custom", ""},
      {" leading space", " spaced type", " spaced id"},
      {"data: inside\n: not a comment\n\nid: nope", "message", "id:colon"},
      {"unicode \xC3\xA9\xE2\x82\xAC and nul \0 byte"s, "message", "\xF0\x9F\x98\x80"},
  };
  samples[6].data.push_back('\0');
  std::mt19937 rng(42);
  for (int n = 0; n < 200; ++n) {
    std::string d;
    std::size_t len = rng() % 40;
    for (std::size_t i = 0; i < len; ++i) {
      static const char alphabet[] = "ab :\n\t\xEF\xBB\xBF";
      d.push_back(alphabet[rng() % (sizeof alphabet - 1)]);
    }
    samples.push_back({d, n % 2 ? "message" : "e:v", n % 3 ? std::to_string(n) : ""});
  }
  std::string stream;
  std::vector<ev> want;
  std::string last_id;
  for (const auto& s : samples) {
    std::string wire = sse_encode(s.data, s.event, s.id);
    if (!s.id.empty()) last_id = s.id;
    std::string type = s.event.empty() ? "message" : s.event;
    ev alone{type, s.data, s.id, !s.id.empty(), std::nullopt};
    EXPECT_EQ(events(wire), std::vector<ev>{alone}) << testing::PrintToString(wire);
    stream += wire;
    want.push_back(ev{type, s.data, last_id, !s.id.empty(), std::nullopt});
  }
  EXPECT_EQ(events(stream), want);
  // CR and CRLF in data come back as LF.
  EXPECT_EQ(events(sse_encode("a\r\nb\rc")), std::vector<ev>{msg("a\nb\nc")});
}
