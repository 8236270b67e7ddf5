#include "plexus/transport/stdio.hpp"

#include "plexus/server/connection.hpp"
#include "transport/fd_writer.hpp"

#include <spdlog/spdlog.h>

#include <sys/uio.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <vector>

namespace plexus::transport {

const void* line_splitter::memchr_(const void* p, int c, std::size_t n) {
  return std::memchr(p, c, n);
}

namespace {
// A batch this large is written at once: memory stays bounded on a long chunk.
constexpr std::size_t max_batch_bytes = 256 * 1024;
}  // namespace

void fd_writer::write_all(std::string_view a, std::string_view b) {
  iovec v[2] = {{const_cast<char*>(a.data()), a.size()}, {const_cast<char*>(b.data()), b.size()}};
  int first = 0;
  while (first < 2) {
    ssize_t n = ::writev(fd_, v + first, 2 - first);
    if (n < 0) {
      if (errno == EINTR) continue;
      broken_ = true;  // the peer closed its end: nothing more can be said
      return;
    }
    auto left = static_cast<std::size_t>(n);
    while (first < 2 && left >= v[first].iov_len) left -= v[first++].iov_len;
    if (first < 2) {
      v[first].iov_base = static_cast<char*>(v[first].iov_base) + left;
      v[first].iov_len -= left;
    }
  }
}

void fd_writer::send(std::string text) {
  std::lock_guard lk(mu_);
  if (broken_) return;
  if (batch_owner_ == std::this_thread::get_id()) {
    batch_ += text;
    batch_ += '\n';
    if (batch_.size() >= max_batch_bytes) {
      write_all(batch_, {});
      batch_.clear();
    }
    return;
  }
  write_all(text, "\n");
}

bool fd_writer::broken() const {
  std::lock_guard lk(mu_);
  return broken_;
}

void fd_writer::begin_batch() {
  std::lock_guard lk(mu_);
  batch_owner_ = std::this_thread::get_id();
}

void fd_writer::end_batch() {
  std::lock_guard lk(mu_);
  batch_owner_ = {};
  if (!batch_.empty() && !broken_) write_all(batch_, {});
  batch_.clear();
}

int pump_lines(int in_fd, server::connection& conn, fd_writer& out, std::size_t max_message_bytes) {
  line_splitter splitter(max_message_bytes);
  auto on_line = [&](std::string_view line) {
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;  // blank line
    conn.receive(line);
  };
  auto on_oversized = [&] { conn.receive_oversized(); };
  std::vector<char> buf(64 * 1024);
  int err = 0;
  for (;;) {
    ssize_t n = ::read(in_fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (n == 0) break;
    out.begin_batch();
    splitter.feed(buf.data(), static_cast<std::size_t>(n), on_line, on_oversized);
    out.end_batch();
  }
  out.begin_batch();
  splitter.finish(on_line, on_oversized);
  out.end_batch();
  return err;
}

int serve_stdio(server::server& srv, const stdio_options& options) {
  std::signal(SIGPIPE, SIG_IGN);
  auto writer = std::make_shared<fd_writer>(options.out_fd);
  server::connection conn(srv, writer, {.max_message_bytes = options.max_message_bytes});
  int rc = 0;
  if (int err = pump_lines(options.in_fd, conn, *writer, options.max_message_bytes)) {
    spdlog::error("stdio: read failed: {}", std::strerror(err));
    rc = 1;
  }
  // EOF: let what is running finish briefly, then cancel the rest.
  conn.wait_idle(options.drain_timeout);
  conn.close();
  conn.wait_idle(std::chrono::milliseconds(500));
  return rc;
}

}  // namespace plexus::transport
