#include "plexus/transport/sse.hpp"

#include <stdexcept>
#include <utility>

namespace plexus::transport {
namespace {

constexpr char bom[3] = {'\xEF', '\xBB', '\xBF'};

// `retry` per WHATWG: one or more ASCII digits; we also ignore what overflows 32 bits.
std::optional<std::uint32_t> parse_retry(std::string_view v) {
  if (v.empty()) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
    if (n > UINT32_MAX) return std::nullopt;
  }
  return static_cast<std::uint32_t>(n);
}

// Position of the first CR or LF in s from `from`, or npos.
std::size_t find_eol(std::string_view s, std::size_t from) {
  for (std::size_t i = from; i < s.size(); ++i)
    if (s[i] == '\n' || s[i] == '\r') return i;
  return std::string_view::npos;
}

}  // namespace

sse_parser::sse_parser(event_handler on_event, sse_parser_options options)
    : on_event_(std::move(on_event)), max_(options.max_event_bytes ? options.max_event_bytes : 1) {}

void sse_parser::fail(std::string message) {
  error_ = std::move(message);
  line_.clear();
  line_.shrink_to_fit();
  data_.clear();
  data_.shrink_to_fit();
  type_.clear();
}

bool sse_parser::pending_too_large(std::size_t extra) const noexcept {
  return data_.size() + type_.size() + extra > max_;
}

bool sse_parser::feed(std::string_view in) {
  if (failed()) return false;
  std::size_t i = 0;
  // One BOM at the start of the stream is skipped; a partial match that turns
  // out not to be a BOM is ordinary data (of the first line).
  while (!bom_done_ && i < in.size()) {
    if (in[i] == bom[bom_seen_]) {
      ++i;
      if (++bom_seen_ == sizeof bom) bom_done_ = true;
    } else {
      bom_done_ = true;
      line_.append(bom, bom_seen_);
    }
  }
  if (skip_lf_ && i < in.size()) {
    skip_lf_ = false;
    if (in[i] == '\n') ++i;
  }
  while (i < in.size()) {
    std::size_t eol = find_eol(in, i);
    if (eol == std::string_view::npos) {
      if (line_.size() + (in.size() - i) > max_) {
        fail("SSE line longer than " + std::to_string(max_) + " bytes");
        return false;
      }
      line_.append(in.substr(i));
      break;
    }
    std::string_view piece = in.substr(i, eol - i);
    if (line_.size() + piece.size() > max_) {
      fail("SSE line longer than " + std::to_string(max_) + " bytes");
      return false;
    }
    // A CR ends the line at once; the LF of a CRLF may come with the next chunk.
    i = eol + 1;
    if (in[eol] == '\r') {
      if (i < in.size()) {
        if (in[i] == '\n') ++i;
      } else {
        skip_lf_ = true;
      }
    }
    if (line_.empty()) {
      process_line(piece);
    } else {
      line_.append(piece);
      // Moved out first: on_event may throw, and the line must not be seen twice.
      std::string line = std::move(line_);
      line_.clear();
      process_line(line);
      if (!failed()) {
        line.clear();
        line_.swap(line);  // keeps the buffer's capacity for the next partial line
      }
    }
    if (failed()) return false;
  }
  return true;
}

void sse_parser::process_line(std::string_view line) {
  if (line.empty()) {
    dispatch();
    return;
  }
  if (line.front() == ':') return;  // comment
  std::string_view name = line, value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    name = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (name == "data") {
    if (pending_too_large(value.size() + 1)) {
      fail("SSE event larger than " + std::to_string(max_) + " bytes");
      return;
    }
    data_.append(value);
    data_.push_back('\n');
  } else if (name == "event") {
    if (data_.size() + value.size() > max_) {
      fail("SSE event larger than " + std::to_string(max_) + " bytes");
      return;
    }
    type_.assign(value);
  } else if (name == "id") {
    if (value.find('\0') == std::string_view::npos) {
      last_id_.assign(value);
      block_has_id_ = true;
    }
  } else if (name == "retry") {
    if (auto r = parse_retry(value)) {
      retry_ = r;
      block_retry_ = r;
    }
  }
}

void sse_parser::dispatch() {
  bool has_id = std::exchange(block_has_id_, false);
  std::optional<std::uint32_t> retry = std::exchange(block_retry_, std::nullopt);
  if (data_.empty()) {
    type_.clear();
    if (!has_id && !retry) return;
    out_.event.clear();
    out_.data.clear();
  } else {
    data_.pop_back();  // every data line appended "\n"; the last one is not part of the data
    if (type_.empty())
      out_.event.assign("message");
    else
      out_.event.swap(type_);
    type_.clear();
    out_.data.swap(data_);
    data_.clear();  // the previous event's buffer, reused
  }
  out_.id.assign(last_id_);
  out_.has_id = has_id;
  out_.retry = retry;
  if (on_event_) on_event_(out_);
}

bool sse_parser::finish() {
  bool discarded = !line_.empty() || !data_.empty() || !type_.empty() || block_has_id_ ||
                   block_retry_ || (!bom_done_ && bom_seen_ > 0);
  line_.clear();
  data_.clear();
  type_.clear();
  block_has_id_ = false;
  block_retry_.reset();
  skip_lf_ = false;
  bom_seen_ = 0;
  bom_done_ = false;
  return discarded;
}

void sse_parser::reset() {
  finish();
  last_id_.clear();
  retry_.reset();
  error_.clear();
}

std::string sse_encode(std::string_view data, std::string_view event, std::string_view id) {
  if (event.find_first_of("\r\n") != std::string_view::npos)
    throw std::invalid_argument("SSE event type contains a line break");
  if (id.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos)
    throw std::invalid_argument("SSE event id contains a line break or NUL");
  std::string out;
  out.reserve(data.size() + event.size() + id.size() + 24);
  if (!event.empty()) {
    out += "event: ";
    out += event;
    out += '\n';
  }
  if (!id.empty()) {
    out += "id: ";
    out += id;
    out += '\n';
  }
  std::size_t i = 0;
  for (;;) {
    std::size_t eol = find_eol(data, i);
    out += "data: ";
    out += data.substr(i, eol == std::string_view::npos ? std::string_view::npos : eol - i);
    out += '\n';
    if (eol == std::string_view::npos) break;
    i = eol + 1;
    if (data[eol] == '\r' && i < data.size() && data[i] == '\n') ++i;
  }
  out += '\n';
  return out;
}

}  // namespace plexus::transport
