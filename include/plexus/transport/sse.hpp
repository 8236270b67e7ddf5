// Server-Sent Events (text/event-stream): an incremental parser that follows the
// WHATWG HTML "event stream interpretation" rules, and an encoder for one event.
// The parser takes bytes in chunks of any size (a line, an event or a field name
// may be split anywhere, even between the CR and LF of a CRLF) and calls back
// once per event; feeding the same bytes in different chunks gives the same
// events. It buffers only the unfinished line and the event being assembled,
// both bounded by `max_event_bytes`; going over the bound is an error state, so
// a hostile or broken peer can never make it grow without limit.
// Thread-safety: a parser is not synchronized; use one from one thread at a
// time. sse_encode is a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace plexus::transport {

// One callback of the parser. Two kinds, told apart by `event`:
//  * a dispatched event (what a browser's EventSource would fire): `event` is
//    the type ("message" when the stream named none, never empty) and `data` the
//    data lines joined with "\n" (it may be empty: "data:" then a blank line);
//  * an id/retry update (`event` empty, `data` empty): a block that ended with a
//    blank line without any data line, but carried a valid `id` and/or `retry`
//    field. The WHATWG rules dispatch no event for it, yet they do update the
//    stream's last event ID and reconnection time. MCP servers send such blocks
//    as "priming" events (SEP-1699) so that a client can resume a stream with
//    Last-Event-ID before the first real message arrives; a client that only
//    saw EventSource-visible events would miss that id, hence the update.
//    Blocks with neither data nor id nor retry (only comments or `event`) are
//    not reported at all.
struct sse_event {
  std::string event;  // type; empty only for an id/retry update (see above)
  std::string data;
  // The stream's last event ID when the block ended (WHATWG: it persists from
  // block to block until an `id` field changes it, so it is set even when this
  // block had no `id` field).
  std::string id;
  bool has_id = false;                 // this block had a valid `id` field (maybe "")
  std::optional<std::uint32_t> retry;  // this block's valid `retry` field, in milliseconds

  bool operator==(const sse_event&) const = default;
};

struct sse_parser_options {
  // Bound of the unfinished line and of the event being assembled (data plus
  // type). Exceeding it puts the parser in the error state. Must be > 0.
  std::size_t max_event_bytes = 4 * 1024 * 1024;
};

// The rules applied, in WHATWG terms:
//  * one UTF-8 BOM (EF BB BF) at the very start of the stream is skipped (it may
//    arrive split across chunks); bytes are otherwise passed through unchanged
//    (no UTF-8 validation: invalid sequences are the consumer's business);
//  * lines end with CRLF, LF or CR;
//  * a blank line ends the block: it dispatches an event when the data buffer is
//    not empty, else reports an id/retry update when the block had one (above);
//  * a line starting with ':' is a comment; "name:value" splits at the first
//    ':' and drops one leading space of the value; a line without ':' is a field
//    name with an empty value; unknown fields are ignored; names are
//    case-sensitive;
//  * `data` appends the value and "\n" to the data buffer (the final "\n" is
//    removed on dispatch); `event` sets the type; `id` sets the last event ID
//    unless the value contains NUL (then the field is ignored); `retry` sets the
//    reconnection time if the value is one or more ASCII digits (values above
//    2^32-1 ms are ignored too);
//  * at end of stream (finish()), an unfinished line and an event without its
//    closing blank line are discarded, never dispatched.
class sse_parser {
 public:
  using event_handler = std::function<void(const sse_event&)>;

  // `on_event` must not call back into this parser. If it throws, the
  // exception leaves feed() and the rest of that chunk is not processed.
  explicit sse_parser(event_handler on_event, sse_parser_options options = {});

  // Parses the next bytes of the stream, calling on_event for each event they
  // complete. Returns false when the parser is (or just went) in the error
  // state; then it ignores every further byte until reset().
  bool feed(std::string_view bytes);

  // End of the stream: discards what is unfinished (see above). Returns true
  // when something was discarded. The last event ID and retry are kept, so
  // a reconnecting client can read them; feed() may then continue with the
  // bytes of a new connection (its BOM is skipped again).
  bool finish();

  // Forgets everything, including the last event ID, retry and the error.
  void reset();

  bool failed() const noexcept { return !error_.empty(); }
  const std::string& error() const noexcept { return error_; }  // empty unless failed()

  // What a reconnecting client sends as Last-Event-ID (empty: send none).
  const std::string& last_event_id() const noexcept { return last_id_; }
  // The latest valid `retry` of the stream, in milliseconds.
  std::optional<std::uint32_t> retry() const noexcept { return retry_; }

 private:
  void process_line(std::string_view line);
  void dispatch();
  void fail(std::string message);
  bool pending_too_large(std::size_t extra) const noexcept;

  event_handler on_event_;
  std::size_t max_;
  std::string line_;     // the unfinished line (only when a chunk ends inside one)
  std::string data_;     // data buffer
  std::string type_;     // event type buffer
  std::string last_id_;  // last event ID buffer
  std::string error_;    // non-empty: error state
  sse_event out_;        // reused for every callback (keeps buffer capacity)
  std::optional<std::uint32_t> retry_;
  std::optional<std::uint32_t> block_retry_;
  bool block_has_id_ = false;
  bool skip_lf_ = false;       // the previous chunk ended with CR: a leading LF completes a CRLF
  std::uint8_t bom_seen_ = 0;  // BOM bytes matched so far at the start of the stream
  bool bom_done_ = false;
};

// One event in wire form: `event: <event>` (omitted when empty), `id: <id>`
// (omitted when empty), one `data: ` line per line of `data`, and a blank
// line. Data is split at LF, CRLF and CR (all three end a line for a parser), so
// data without CR round-trips unchanged through sse_parser and CR/CRLF come
// back as LF. Empty data gives one "data: " line (an event with empty data).
// Throws std::invalid_argument when `event` or `id` contains CR or LF (they
// would inject fields) or `id` contains NUL (a parser would ignore it).
std::string sse_encode(std::string_view data, std::string_view event = "message",
                       std::string_view id = {});

}  // namespace plexus::transport
