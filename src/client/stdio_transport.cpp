#include "plexus/client/transport.hpp"
#include "plexus/core/batch.hpp"
#include "plexus/transport/stdio.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace plexus::client {
namespace {

// The child inherits the scheduling policy of the thread that spawns it, and glibc's
// posix_spawn can set only FIFO, RR or OTHER: so the spawning thread itself runs under
// SCHED_BATCH for the moment of the spawn, and the child is a batch process from its first
// instruction (its threads too). A system that refuses the policy leaves the child as it was.
class batch_policy_while_spawning {
 public:
  batch_policy_while_spawning(bool wanted, const std::string& command) {
    if (!wanted) return;
    policy_ = ::sched_getscheduler(0);
    if (policy_ < 0 || policy_ == SCHED_BATCH || ::sched_getparam(0, &param_) != 0) return;
    sched_param batch{};
    if (::sched_setscheduler(0, SCHED_BATCH, &batch) == 0)
      changed_ = true;
    else
      spdlog::info("stdio: {}: SCHED_BATCH refused ({}); the server starts as this thread runs",
                   command, std::strerror(errno));
  }
  ~batch_policy_while_spawning() {
    if (changed_) ::sched_setscheduler(0, policy_, &param_);
  }
  batch_policy_while_spawning(const batch_policy_while_spawning&) = delete;
  batch_policy_while_spawning& operator=(const batch_policy_while_spawning&) = delete;

 private:
  int policy_ = -1;
  sched_param param_{};
  bool changed_ = false;
};

// The server's stdin: the messages taken but not written yet, and who writes them. Shared
// with deferred flushes and a draining thread, which may outlive the transport.
struct writer {
  std::mutex mu;
  int fd = -1;  // non-blocking; -1 once closed
  // Taken by try_send and not written yet. Not empty: a flush is on its way (a loop's
  // deferred one, its retry or a thread), or a thread drains it.
  std::string pending;
  bool draining = false;  // a thread waits for the pipe to take the rest

  // Writes `data` from `done` on (with mu held), waiting up to `timeout_ms` (-1: for ever)
  // each time the pipe is full. True when all of it went out; false with errno set otherwise.
  bool write_bytes(std::string_view data, std::size_t& done, int timeout_ms) {
    while (done < data.size()) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n >= 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN && timeout_ms != 0) {
        pollfd pfd{fd, POLLOUT, 0};
        if (::poll(&pfd, 1, timeout_ms) > 0 || timeout_ms < 0) continue;
        errno = EAGAIN;
      }
      return false;
    }
    return true;
  }

  // Writes `pending` as write_bytes does.
  bool write_all(int timeout_ms) {
    std::size_t done = 0;
    bool ok = write_bytes(pending, done, timeout_ms);
    int saved = errno;
    // A failure other than a full pipe loses the rest: the server is gone, and its reader
    // reports that to the requests waiting.
    pending.erase(0, ok || saved == EAGAIN ? done : pending.size());
    // A large message held once does not keep its buffer.
    if (pending.empty() && pending.capacity() > 64 * 1024) std::string().swap(pending);
    errno = saved;
    return ok;
  }
};

// The deferred write of what try_send took during a loop's batch. What a full pipe does not
// take, a thread of its own writes as the server reads, and try_send declines meanwhile.
void drain(const std::shared_ptr<writer>& w) {
  for (;;) {
    std::lock_guard lk(w->mu);
    // A short wait at a time: close() takes the lock to close the pipe.
    if (w->fd < 0 || w->write_all(0) || errno != EAGAIN) {
      w->draining = false;
      return;
    }
    pollfd pfd{w->fd, POLLOUT, 0};
    ::poll(&pfd, 1, 100);
  }
}

void start_draining(const std::shared_ptr<writer>& w) {
  w->draining = true;
  std::thread([w] { drain(w); }).detach();
}

void flush(const std::shared_ptr<writer>& w, int retries);

// The task a loop defers: it flushes when it is done with, so that what it holds goes out even
// from a loop that stops before running it.
struct deferred_flush {
  std::shared_ptr<writer> w;
  int retries = 3;
  ~deferred_flush() {
    if (w) flush(w, retries);
  }
};

void flush(const std::shared_ptr<writer>& w, int retries) {
  std::unique_lock lk(w->mu, std::try_to_lock);
  if (!lk) {
    // Another thread holds the pipe: another loop thread adding to the batch (for a moment),
    // or send() or the draining thread, which write what is held first but may wait for room.
    // The loop must not wait: it tries again after its next batch, then leaves it to a thread.
    if (auto* loop = thread_batch_deferrer(); loop && retries > 0) {
      loop->defer([f = std::make_shared<deferred_flush>(w, retries - 1)] {});
      return;
    }
    std::thread([w] {
      {
        std::lock_guard held(w->mu);
        if (w->fd < 0 || w->draining || w->pending.empty()) return;
        w->draining = true;
      }
      drain(w);
    }).detach();
    return;
  }
  if (w->fd < 0 || w->draining || w->pending.empty()) return;
  if (w->write_all(0) || errno != EAGAIN) return;
  start_draining(w);
}

// What try_send holds for a loop's deferred flush, at most.
constexpr std::size_t max_held_bytes = 256 * 1024;

class stdio_transport : public client_transport {
 public:
  explicit stdio_transport(process_spec spec) : spec_(std::move(spec)) { spawn(); }
  ~stdio_transport() override {
    destroying_ = true;
    close();
  }

  void start(inbound on_message, closed on_closed) override {
    // The reader owns the callbacks (see read_stdout).
    reader_ = std::thread([this, orphaned = orphaned_, on_message = std::move(on_message),
                           on_closed = std::move(on_closed), what = describe()] {
      read_stdout(*orphaned, on_message, on_closed, what);
    });
    errors_ = std::thread([this] { read_stderr(); });
  }

  std::optional<transport_error> send(const json::object& message) override {
    std::string line = json::dump(message);
    line += '\n';
    std::lock_guard lk(writer_->mu);
    if (writer_->fd < 0) return transport_error{"stdio: the server's stdin is closed"};
    bool ok;
    if (writer_->pending.empty()) {
      std::size_t done = 0;
      ok = writer_->write_bytes(line, done, -1);
    } else {
      writer_->pending += line;  // messages taken earlier by try_send go first
      ok = writer_->write_all(-1);
    }
    if (ok) return std::nullopt;
    std::string reason = std::string("cannot write to the server: ") + std::strerror(errno);
    if (errno == EPIPE) reason = exit_reason(reason);  // it exited: say how
    return transport_error{"stdio: " + reason};
  }

  bool try_send(const json::object& message) override {
    std::string line = json::dump(message);
    line += '\n';
    std::unique_lock lk(writer_->mu, std::try_to_lock);
    // Another message is being written, or the server is slow to read what we hold: the
    // caller may wait (send), this thread may not.
    if (!lk || writer_->fd < 0 || writer_->draining) return false;
    auto& w = *writer_;
    // On an event loop, the messages of one batch of ready events go out in one write once
    // the batch is handled (see batch_deferrer): one system call, and one wake-up of the
    // server, instead of one per message.
    if (auto* loop = thread_batch_deferrer(); loop || !w.pending.empty()) {
      if (w.pending.size() + line.size() > max_held_bytes) return false;
      bool first = w.pending.empty();
      w.pending += line;
      if (first) loop->defer([f = std::make_shared<deferred_flush>(writer_)] {});
      return true;
    }
    // Up to PIPE_BUF bytes a pipe write is atomic: all of it, or EAGAIN and nothing.
    if (line.size() > PIPE_BUF) return false;
    ssize_t n;
    do n = ::write(w.fd, line.data(), line.size());
    while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(line.size());
  }

  void close() override {
    if (closing_.exchange(true)) {
      join();
      return;
    }
    {
      std::lock_guard lk(writer_->mu);
      if (writer_->fd >= 0) {
        writer_->write_all(0);  // what try_send took (a cancellation, say), if it fits now
        ::close(writer_->fd);   // a well-behaved server exits on EOF
      }
      writer_->fd = -1;
      writer_->pending.clear();
    }
    if (!wait_exit(spec_.shutdown_grace)) {
      ::kill(pid_, SIGTERM);
      if (!wait_exit(spec_.shutdown_grace)) {
        ::kill(pid_, SIGKILL);
        wait_exit(std::chrono::seconds(5));
      }
    }
    join();
  }

  std::string describe() const override {
    std::string s = "stdio: " + spec_.command;
    for (const auto& a : spec_.args) s += " " + a;
    return s;
  }

 private:
  void spawn() {
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
      throw std::runtime_error(std::string("stdio: pipe: ") + std::strerror(errno));
    // Wide pipes whatever the server does about them (most do nothing): a large message
    // then does not make its writer wait for the reader once per message.
    transport::widen_pipe(in[1]);
    read_bytes_ = transport::read_bytes_for(transport::widen_pipe(out[0]));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    if (!spec_.working_directory.empty())
      posix_spawn_file_actions_addchdir_np(&fa, spec_.working_directory.c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // The child starts with default signal dispositions and an empty mask even if
    // the parent blocks SIGINT/SIGTERM for sigwait.
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> argv_s{spec_.command};
    argv_s.insert(argv_s.end(), spec_.args.begin(), spec_.args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      auto key = kv.substr(0, kv.find('='));
      if (!spec_.env.count(std::string(key))) env_s.emplace_back(kv);
    }
    for (const auto& [k, v] : spec_.env) env_s.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    int rc;
    {
      batch_policy_while_spawning batch(spec_.batch_scheduling, spec_.command);
      rc = posix_spawnp(&pid_, spec_.command.c_str(), &fa, &attr, argv.data(), envp.data());
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
      ::close(in[1]);
      ::close(out[0]);
      ::close(err[0]);
      throw std::runtime_error("stdio: cannot start " + spec_.command + ": " + std::strerror(rc));
    }
    writer_->fd = in[1];
    // Our end only (the child's stdin is the other end): try_send must never wait.
    ::fcntl(in[1], F_SETFL, ::fcntl(in[1], F_GETFL) | O_NONBLOCK);
    out_fd_ = out[0];
    err_fd_ = err[0];
    std::signal(SIGPIPE, SIG_IGN);
  }

  // The reader's loop. The callbacks are its own copies: a callback may destroy this
  // transport (the application drops its client from an answer), and then `orphaned` is set
  // and the loop touches nothing of `this` any more.
  void read_stdout(const std::atomic<bool>& orphaned, const inbound& on_message,
                   const closed& on_closed, const std::string& what) {
    const int fd = out_fd_;
    const std::size_t read_bytes = read_bytes_, max_bytes = spec_.max_message_bytes;
    transport::line_splitter splitter(max_bytes);
    // Uninitialized: an idle server's reader does not touch (hold) it.
    std::unique_ptr<char[]> buf(new char[read_bytes]);
    auto on_line = [&](std::string_view line) {
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
      boost::system::error_code ec;
      boost::json::parse_options po;
      po.max_depth = 64;
      auto v = plexus::json::parse(line, ec, po.max_depth);
      if (ec) {
        spdlog::warn("{}: the server wrote a line that is not JSON ({} bytes): {}", what,
                     line.size(), std::string(line.substr(0, 120)));
        return;
      }
      if (on_message) on_message(v);
    };
    std::string fatal;
    auto on_oversized = [&] {
      // The stream cannot be trusted past a message we could not read: end it, so
      // that waiting requests fail now with this reason instead of timing out.
      if (fatal.empty())
        fatal = "the server sent a message over " + std::to_string(max_bytes) +
                " bytes (the client's limit)";
    };
    for (;;) {
      ssize_t n = ::read(fd, buf.get(), read_bytes);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      splitter.feed(buf.get(), static_cast<std::size_t>(n), on_line, on_oversized);
      if (orphaned.load()) break;
      if (!fatal.empty()) break;
    }
    if (fatal.empty() && !orphaned.load()) splitter.finish(on_line, on_oversized);
    ::close(fd);
    if (orphaned.load()) return;  // no one to tell
    std::string why = fatal.empty() ? exit_reason("the server closed its stdout") : fatal;
    if (on_closed) on_closed(why);
  }

  // Why the server went away: its exit status when it exits within a moment.
  std::string exit_reason(const std::string& otherwise) {
    if (closing_) return otherwise;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    for (;;) {
      std::lock_guard lk(reap_mu_);
      if (!exit_status_.empty()) return exit_status_;
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        exit_status_ = WIFEXITED(status)
                           ? "the server exited with status " + std::to_string(WEXITSTATUS(status))
                           : "the server was killed by signal " + std::to_string(WTERMSIG(status));
        return exit_status_;
      }
      if (r < 0 || std::chrono::steady_clock::now() >= deadline) return otherwise;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  void read_stderr() {
    std::string pending;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(err_fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buf, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        spdlog::info("[{}] {}", spec_.command, pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
      if (pending.size() > 64 * 1024) pending.clear();
    }
    if (!pending.empty()) spdlog::info("[{}] {}", spec_.command, pending);
    ::close(err_fd_);
  }

  bool wait_exit(std::chrono::milliseconds timeout) {
    if (reaped_) return true;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        reaped_ = true;
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void join() {
    if (reader_.joinable()) {
      if (reader_.get_id() != std::this_thread::get_id()) {
        reader_.join();
      } else if (destroying_) {
        // Destroyed from one of its own callbacks: the reader finishes on its own.
        orphaned_->store(true);
        reader_.detach();
      }
    }
    if (errors_.joinable()) errors_.join();
  }

  process_spec spec_;
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::size_t read_bytes_ = 64 * 1024;  // set by spawn(): what one read of stdout takes
  std::shared_ptr<writer> writer_ = std::make_shared<writer>();
  std::atomic<bool> closing_{false};
  std::atomic<bool> reaped_{false};
  std::mutex reap_mu_;
  std::string exit_status_;
  std::thread reader_, errors_;
  bool destroying_ = false;
  std::shared_ptr<std::atomic<bool>> orphaned_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

std::unique_ptr<client_transport> make_stdio_transport(process_spec spec) {
  return std::make_unique<stdio_transport>(std::move(spec));
}

}  // namespace plexus::client
