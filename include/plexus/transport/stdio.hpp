// stdio transport, server side: newline-delimited JSON-RPC on a pair of file
// descriptors (stdin/stdout by default). One reader thread feeds the session
// engine; writes are serialized so concurrent handlers never interleave lines.
// Logs never go to stdout. Returns when the input reaches EOF (or fails).
// Thread-safety: serve_stdio blocks its caller; call it from one thread.
#pragma once

#include "plexus/server/server.hpp"

#include <chrono>
#include <cstddef>

namespace plexus::transport {

struct stdio_options {
  int in_fd = 0;
  int out_fd = 1;
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  // On EOF, how long in-flight requests may take to finish before they are cancelled.
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(2)};
};

// Serves `srv` until EOF on the input. Returns 0 on EOF, 1 on an I/O error.
int serve_stdio(server::server& srv, const stdio_options& options = {});

// What both ends of a stdio connection ask of their pipes. The default, 64 KiB, holds
// less than one 64 KiB message: its writer then waited for the reader once per message
// (64 KiB echoes: 8.5k -> 26k/s). Not more: a user's pipes share one budget
// (/proc/sys/fs/pipe-user-pages-soft, 64 MiB), and a gateway may run many stdio servers.
inline constexpr std::size_t stdio_pipe_bytes = 256 * 1024;

// Asks for a pipe of at least `bytes` (F_SETPIPE_SZ) when `fd` is a pipe; returns the
// capacity it has then, 0 when `fd` is not a pipe. A refusal (a limit) leaves it as it was.
std::size_t widen_pipe(int fd, std::size_t bytes = stdio_pipe_bytes);

// How much one read(2) of a stream takes: as much as its pipe holds, 64 KiB to 256 KiB (a
// message that spans two reads is gathered, that is copied, before it is decoded).
std::size_t read_bytes_for(std::size_t pipe_capacity);

// Splits a byte stream into lines no longer than a limit; what is longer is
// reported once as oversized and skipped up to its newline.
class line_splitter {
 public:
  explicit line_splitter(std::size_t max_line) : max_(max_line) {}
  // Feeds bytes; calls on_line(std::string_view) for each complete line (without
  // "\n" or a trailing "\r") and on_oversized() once for each line over the limit,
  // as soon as it passes the limit.
  template <class OnLine, class OnOversized>
  void feed(const char* data, std::size_t n, OnLine&& on_line, OnOversized&& on_oversized) {
    for (std::size_t i = 0; i < n;) {
      const char* nl = static_cast<const char*>(memchr_(data + i, '\n', n - i));
      std::size_t take = nl ? static_cast<std::size_t>(nl - (data + i)) : n - i;
      if (!skipping_ && nl && buf_.empty()) {
        // A whole line inside this chunk is passed in place: copying it first cost a
        // pass over every message (64 KiB for a 64 KiB call).
        emit(std::string_view(data + i, take), on_line, on_oversized);
        i += take + 1;
        continue;
      }
      if (!skipping_) {
        if (buf_.size() + take > max_ + 1) {
          // Reported now, not at the newline: a line that never ends must not
          // leave the reader waiting (the rest of it is skipped).
          skipping_ = true;
          buf_.clear();
          on_oversized();
        } else {
          buf_.append(data + i, take);
        }
      }
      i += take;
      if (nl) {
        ++i;
        if (skipping_) {
          skipping_ = false;
        } else {
          emit(std::string_view(buf_), on_line, on_oversized);
          buf_.clear();
        }
      }
    }
  }
  // At EOF: the last line without a newline, if any.
  template <class OnLine, class OnOversized>
  void finish(OnLine&& on_line, OnOversized&& on_oversized) {
    if (!skipping_ && !buf_.empty()) emit(std::string_view(buf_), on_line, on_oversized);
    buf_.clear();
    skipping_ = false;
  }

 private:
  // A complete line, without its trailing "\r": to on_line, or to on_oversized past the limit.
  template <class OnLine, class OnOversized>
  void emit(std::string_view line, OnLine& on_line, OnOversized& on_oversized) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_)
      on_oversized();
    else
      on_line(line);
  }
  static const void* memchr_(const void* p, int c, std::size_t n);
  std::size_t max_;
  std::string buf_;
  bool skipping_ = false;
};

}  // namespace plexus::transport
