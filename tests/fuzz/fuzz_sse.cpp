// libFuzzer target: the SSE parser. The first byte picks the size limit, the
// next two a split point; the rest is the stream. Parsed whole and in two
// chunks, it must give the same events and state. The same bytes also go
// through sse_encode as event data and must parse back as that data (CR and
// CRLF read as LF).
#include "plexus/transport/sse.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using plexus::transport::sse_event;
using plexus::transport::sse_parser;
using plexus::transport::sse_parser_options;

namespace {

struct outcome {
  std::vector<sse_event> events;
  bool failed = false;
  std::string last_id;
  std::optional<std::uint32_t> retry;
  bool discarded = false;
};

bool operator==(const outcome& a, const outcome& b) {
  return a.events == b.events && a.failed == b.failed && a.last_id == b.last_id &&
         a.retry == b.retry && a.discarded == b.discarded;
}

outcome run(std::string_view stream, std::size_t split, std::size_t max) {
  outcome out;
  sse_parser p([&](const sse_event& e) { out.events.push_back(e); }, sse_parser_options{max});
  bool ok = p.feed(stream.substr(0, split));
  ok = p.feed(stream.substr(split)) && ok;
  if (ok == p.failed()) std::abort();  // feed() reports the error state
  out.failed = p.failed();
  out.last_id = p.last_event_id();
  out.retry = p.retry();
  out.discarded = p.finish();
  for (const auto& e : out.events) {
    // The limit holds (the buffered data had one more "\n"; "message" is the default type).
    if (e.data.size() >= max || (e.event.size() > max && e.event != "message")) std::abort();
    if (e.event.empty() && (!e.data.empty() || (!e.has_id && !e.retry))) std::abort();
  }
  return out;
}

std::string normalize_newlines(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  std::size_t max = (data[0] & 1) ? 4 * 1024 * 1024 : 1 + data[0];
  std::size_t split = (std::size_t{data[1]} << 8 | data[2]);
  std::string_view stream(reinterpret_cast<const char*>(data + 3), size - 3);
  split = stream.empty() ? 0 : split % (stream.size() + 1);

  outcome whole = run(stream, stream.size(), max);
  outcome chunked = run(stream, split, max);
  if (!(whole == chunked)) std::abort();

  // Encoder round trip (the stream's bytes as one event's data).
  std::string wire = plexus::transport::sse_encode(stream, "message", "7");
  outcome back = run(wire, split % (wire.size() + 1), 4 * 1024 * 1024 + 64);
  if (back.failed || back.events.size() != 1 || back.events[0].data != normalize_newlines(stream) ||
      back.events[0].id != "7" || back.events[0].event != "message")
    std::abort();
  return 0;
}
