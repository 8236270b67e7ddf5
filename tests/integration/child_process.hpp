// A child process driven over pipes, for integration tests of the real binary.
// Spawns with posix_spawn (stdin/stdout/stderr each on a pipe), writes bytes and
// reads newline-terminated stdout lines with timeouts (poll). While writing, the
// child's output is drained too, so a large write never deadlocks against a
// child blocked on a full stdout pipe. The destructor kills and reaps the child.
// Thread-safety: one test thread per instance.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace plexus::testing {

class child_process {
 public:
  using clock = std::chrono::steady_clock;

  explicit child_process(std::vector<std::string> argv) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    // The test process ignores SIGPIPE (a write to a child that has exited must
    // fail with EPIPE, not kill the test); the child gets the default back.
    std::signal(SIGPIPE, SIG_IGN);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    int rc = ::posix_spawn(&pid_, args[0], &fa, &attr, args.data(), environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
    if (rc != 0) {
      pid_ = -1;
      close_fds();
      throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
    }
    ::fcntl(in_, F_SETFL, ::fcntl(in_, F_GETFL) | O_NONBLOCK);
    ::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK);
    ::fcntl(err_, F_SETFL, ::fcntl(err_, F_GETFL) | O_NONBLOCK);
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    if (pid_ > 0 && !exit_status_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
    close_fds();
  }

  pid_t pid() const { return pid_; }

  // Writes all bytes to the child's stdin (draining its output meanwhile).
  // False if stdin is closed or the child stopped reading (EPIPE) or the deadline passed.
  bool write(std::string_view data, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = clock::now() + timeout;
    while (!data.empty()) {
      if (in_ < 0) return false;
      ssize_t n = ::write(in_, data.data(), data.size());
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;  // EPIPE etc.
      if (clock::now() >= deadline) return false;
      pump(deadline, /*want_write=*/true);
    }
    return true;
  }

  bool write_line(std::string_view line) { return write(std::string(line) + "\n"); }

  void close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }

  // The next complete stdout line (without "\n"), or nullopt on timeout / EOF.
  std::optional<std::string> read_line(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = clock::now() + timeout;
    for (;;) {
      if (!lines_.empty()) {
        std::string l = std::move(lines_.front());
        lines_.pop_front();
        return l;
      }
      if (out_eof_ || clock::now() >= deadline) return std::nullopt;
      pump(deadline, false);
    }
  }

  // Reads stdout until EOF (or the deadline); returns the remaining complete lines.
  // A partial last line (no newline) is returned too, so that it can be checked.
  std::vector<std::string> read_all_lines(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = clock::now() + timeout;
    while (!out_eof_ && clock::now() < deadline) pump(deadline, false);
    std::vector<std::string> all(lines_.begin(), lines_.end());
    lines_.clear();
    if (out_eof_ && !partial_.empty()) {
      all.push_back(partial_);
      partial_.clear();
    }
    return all;
  }

  // Waits for the child to exit; the raw wait status, or nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = clock::now() + timeout;
    for (;;) {
      if (exit_status_) return exit_status_;
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exit_status_ = st;
        return exit_status_;
      }
      if (r < 0 && errno != EINTR) return std::nullopt;
      if (clock::now() >= deadline) return std::nullopt;
      // Keep draining so that the child never blocks on a full pipe while exiting.
      pump(std::min(deadline, clock::now() + std::chrono::milliseconds(10)), false);
    }
  }

  // Whether the child is still running (not exited, not reaped).
  bool alive() {
    if (exit_status_) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exit_status_ = st;
      return false;
    }
    return r == 0;
  }

  const std::string& stderr_text() const { return err_text_; }
  // Total bytes seen on stdout so far (complete lines and partial).
  std::size_t stdout_bytes() const { return out_bytes_; }

 private:
  // One poll round until the deadline: reads what is available on stdout/stderr.
  void pump(clock::time_point deadline, bool want_write) {
    pollfd fds[3];
    nfds_t n = 0;
    int out_idx = -1, err_idx = -1;
    if (!out_eof_) {
      out_idx = static_cast<int>(n);
      fds[n++] = {out_, POLLIN, 0};
    }
    if (!err_eof_) {
      err_idx = static_cast<int>(n);
      fds[n++] = {err_, POLLIN, 0};
    }
    if (want_write && in_ >= 0) fds[n++] = {in_, POLLOUT, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    int ms = static_cast<int>(std::max<std::int64_t>(0, std::min<std::int64_t>(left.count(), 100)));
    if (n == 0) {
      ::usleep(static_cast<useconds_t>(ms) * 1000);
      return;
    }
    int r = ::poll(fds, n, ms);
    if (r <= 0) return;
    if (out_idx >= 0 && fds[out_idx].revents) drain(out_, out_eof_, true);
    if (err_idx >= 0 && fds[err_idx].revents) drain(err_, err_eof_, false);
  }

  void drain(int fd, bool& eof, bool is_stdout) {
    char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        if (is_stdout) {
          out_bytes_ += static_cast<std::size_t>(n);
          split(std::string_view(buf, static_cast<std::size_t>(n)));
        } else {
          err_text_.append(buf, static_cast<std::size_t>(n));
        }
        continue;
      }
      if (n == 0) {
        eof = true;
        return;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) eof = true;
      return;
    }
  }

  void split(std::string_view data) {
    while (!data.empty()) {
      auto nl = data.find('\n');
      if (nl == std::string_view::npos) {
        partial_.append(data);
        return;
      }
      partial_.append(data.substr(0, nl));
      lines_.push_back(std::move(partial_));
      partial_.clear();
      data.remove_prefix(nl + 1);
    }
  }

  void close_fds() {
    for (int* fd : {&in_, &out_, &err_})
      if (*fd >= 0) {
        ::close(*fd);
        *fd = -1;
      }
  }

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  bool out_eof_ = false, err_eof_ = false;
  std::optional<int> exit_status_;
  std::deque<std::string> lines_;
  std::string partial_;
  std::string err_text_;
  std::size_t out_bytes_ = 0;
};

}  // namespace plexus::testing
