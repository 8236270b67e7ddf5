#include "plexus/transport/stdio.hpp"
#include "plexus/core/batch.hpp"

#include "plexus/server/connection.hpp"
#include "transport/fd_writer.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>

namespace plexus::transport {

const void* line_splitter::memchr_(const void* p, int c, std::size_t n) {
  return std::memchr(p, c, n);
}

namespace {
// A batch this large is written at once: memory stays bounded on a long chunk.
constexpr std::size_t max_batch_bytes = 256 * 1024;
// An answer this large is not copied into the batch.
constexpr std::size_t large_message_bytes = 16 * 1024;
}  // namespace

void fd_writer::write_all(std::string_view a, std::string_view b, std::string_view c) {
  iovec v[3] = {{const_cast<char*>(a.data()), a.size()},
                {const_cast<char*>(b.data()), b.size()},
                {const_cast<char*>(c.data()), c.size()}};
  int first = 0;
  while (first < 3) {
    ssize_t n = ::writev(fd_, v + first, 3 - first);
    if (n < 0) {
      if (errno == EINTR) continue;
      broken_ = true;  // the peer closed its end: nothing more can be said
      return;
    }
    auto left = static_cast<std::size_t>(n);
    while (first < 3 && left >= v[first].iov_len) left -= v[first++].iov_len;
    if (first < 3) {
      v[first].iov_base = static_cast<char*>(v[first].iov_base) + left;
      v[first].iov_len -= left;
    }
  }
}

void fd_writer::send(std::string text) {
  std::lock_guard lk(mu_);
  if (broken_) return;
  if (batch_owner_ == std::this_thread::get_id()) {
    if (text.size() >= large_message_bytes) {
      // Written as it is after what was gathered: copying it into the batch cost a pass
      // over the whole message.
      write_all(batch_, text, "\n");
      batch_.clear();
      return;
    }
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

namespace {

// The batch of pump_lines is one read's lines: what handling them deferred (a gateway's writes
// to its stdio upstreams) runs once they are handled, before the next read.
class chunk_deferrer final : public batch_deferrer {
 public:
  chunk_deferrer() : outer_(thread_batch_deferrer()) { set_thread_batch_deferrer(this); }
  ~chunk_deferrer() {
    set_thread_batch_deferrer(outer_);
    run();
  }
  chunk_deferrer(const chunk_deferrer&) = delete;
  chunk_deferrer& operator=(const chunk_deferrer&) = delete;
  void defer(std::function<void()> task) override { tasks_.push_back(std::move(task)); }
  // Runs (and lets go of) what was deferred, and what that defers in turn.
  void run() {
    while (!tasks_.empty()) {
      auto tasks = std::move(tasks_);
      tasks_.clear();
      for (auto& t : tasks) t();
    }
  }

 private:
  batch_deferrer* outer_;  // whoever had the thread before (usually no one)
  std::vector<std::function<void()>> tasks_;
};

}  // namespace

int pump_lines(int in_fd, server::connection& conn, fd_writer& out, std::size_t max_message_bytes,
               std::size_t read_bytes) {
  chunk_deferrer deferred;
  line_splitter splitter(max_message_bytes);
  auto on_line = [&](std::string_view line) {
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;  // blank line
    conn.receive(line);
  };
  auto on_oversized = [&] { conn.receive_oversized(); };
  // Left uninitialized: an idle connection does not touch (and so does not hold) it.
  std::unique_ptr<char[]> buf(new char[read_bytes]);
  int err = 0;
  for (;;) {
    ssize_t n = ::read(in_fd, buf.get(), read_bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (n == 0) break;
    out.begin_batch();
    splitter.feed(buf.get(), static_cast<std::size_t>(n), on_line, on_oversized);
    deferred.run();
    out.end_batch();
  }
  out.begin_batch();
  splitter.finish(on_line, on_oversized);
  deferred.run();
  out.end_batch();
  return err;
}

std::size_t widen_pipe(int fd, std::size_t bytes) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) return 0;
  int now = ::fcntl(fd, F_GETPIPE_SZ);
  if (now < 0) return 0;
  if (static_cast<std::size_t>(now) < bytes) {
    int got = ::fcntl(fd, F_SETPIPE_SZ, static_cast<int>(bytes));
    if (got > 0) now = got;
  }
  return static_cast<std::size_t>(now);
}

std::size_t read_bytes_for(std::size_t pipe_capacity) {
  return std::clamp<std::size_t>(pipe_capacity, 64 * 1024, 256 * 1024);
}

int serve_stdio(server::server& srv, const stdio_options& options) {
  std::signal(SIGPIPE, SIG_IGN);
  std::size_t in_pipe = widen_pipe(options.in_fd);
  std::size_t out_pipe = widen_pipe(options.out_fd);
  server::connection_options conn_options{.max_message_bytes = options.max_message_bytes};
  // A call in a message of up to half the output pipe runs on the reader (when its tool
  // may): the write of an answer of that size rarely waits for the client.
  conn_options.direct_max_bytes = std::max(conn_options.direct_max_bytes, out_pipe / 2);
  auto writer = std::make_shared<fd_writer>(options.out_fd);
  server::connection conn(srv, writer, conn_options);
  int rc = 0;
  if (int err = pump_lines(options.in_fd, conn, *writer, options.max_message_bytes,
                           read_bytes_for(in_pipe))) {
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
