#include "plexus/transport/stdio.hpp"

#include "plexus/server/connection.hpp"
#include "transport/fd_writer.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

namespace plexus::transport {

const void* line_splitter::memchr_(const void* p, int c, std::size_t n) {
  return std::memchr(p, c, n);
}

void fd_writer::send(std::string text) {
  text += '\n';
  std::lock_guard lk(mu_);
  if (broken_) return;
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      broken_ = true;  // the peer closed its end: nothing more can be said
      return;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

bool fd_writer::broken() const {
  std::lock_guard lk(mu_);
  return broken_;
}

int serve_stdio(server::server& srv, const stdio_options& options) {
  std::signal(SIGPIPE, SIG_IGN);
  auto writer = std::make_shared<fd_writer>(options.out_fd);
  server::connection conn(srv, writer, {.max_message_bytes = options.max_message_bytes});
  line_splitter splitter(options.max_message_bytes);
  auto on_line = [&](std::string_view line) {
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;  // blank line
    conn.receive(line);
  };
  auto on_oversized = [&] { conn.receive_oversized(); };
  std::vector<char> buf(64 * 1024);
  int rc = 0;
  for (;;) {
    ssize_t n = ::read(options.in_fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("stdio: read failed: {}", std::strerror(errno));
      rc = 1;
      break;
    }
    if (n == 0) break;
    splitter.feed(buf.data(), static_cast<std::size_t>(n), on_line, on_oversized);
  }
  splitter.finish(on_line, on_oversized);
  // EOF: let what is running finish briefly, then cancel the rest.
  conn.wait_idle(options.drain_timeout);
  conn.close();
  conn.wait_idle(std::chrono::milliseconds(500));
  return rc;
}

}  // namespace plexus::transport
