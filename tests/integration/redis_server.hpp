// A throwaway redis-server for tests: listening only on 127.0.0.1 on a free port, no persistence
// (--save '' --appendonly no, working directory in a fresh temp dir), stopped (SIGTERM, then
// SIGKILL) and its directory removed in the destructor. Skips cleanly when redis-server is not
// installed (scripts/install-deps.sh --test installs it).
//
// Usage:
//   auto r = plexus::testing::redis_server::start();     // never throws
//   if (!r->available()) GTEST_SKIP() << r->skip_reason();
//   ASSERT_TRUE(r->ok()) << r->error();
//   r->url()  ->  "redis://127.0.0.1:PORT"; r->command({"GET", "k"}) for checks.
//
// Thread-safety: one test thread per instance.
#pragma once

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace plexus::testing {

class redis_server {
 public:
  static std::unique_ptr<redis_server> start() {
    std::unique_ptr<redis_server> s(new redis_server());
    for (const char* p : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"})
      if (::access(p, X_OK) == 0) s->binary_ = p;
    if (s->binary_.empty()) {
      s->skip_ = "redis-server not found (install it with scripts/install-deps.sh --test)";
      return s;
    }
    try {
      s->boot();
    } catch (const std::exception& e) {
      s->error_ = e.what();
    }
    return s;
  }

  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  ~redis_server() {
    stop();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  bool available() const { return !binary_.empty(); }
  const std::string& skip_reason() const { return skip_; }
  bool ok() const { return pid_ > 0 && error_.empty(); }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  // One command; the reply as text (strings, status, errors "ERR ...", integers in decimal),
  // std::nullopt for nil. Throws when Redis cannot be reached.
  std::optional<std::string> command(const std::vector<std::string>& argv) const {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, {2, 0});
    if (!c || c->err) {
      std::string why = c ? c->errstr : "out of memory";
      if (c) redisFree(c);
      throw std::runtime_error("redis: " + why);
    }
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
    std::optional<std::string> out;
    if (!r) {
      std::string why = c->errstr;
      redisFree(c);
      throw std::runtime_error("redis: " + why);
    }
    if (r->type == REDIS_REPLY_INTEGER)
      out = std::to_string(r->integer);
    else if (r->type != REDIS_REPLY_NIL && r->str)
      out = std::string(r->str, r->len);
    freeReplyObject(r);
    redisFree(c);
    return out;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  redis_server() = default;

  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    if (port == 0) throw std::runtime_error("no free TCP port on 127.0.0.1");
    return port;
  }

  void boot() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "plexus-redis-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = free_port();
      std::vector<std::string> argv = {
          binary_,  "--port",    std::to_string(port_), "--bind",      "127.0.0.1",
          "--save", "",          "--appendonly",        "no",          "--dir",
          dir_,     "--logfile", dir_ + "/redis.log",   "--daemonize", "no"};
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
      posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
      posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      int rc = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
      posix_spawn_file_actions_destroy(&fa);
      if (rc != 0) {
        pid_ = -1;
        throw std::runtime_error(std::string("posix_spawn redis-server: ") + std::strerror(rc));
      }
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {  // exited: the port was taken?
          pid_ = -1;
          break;
        }
        try {
          if (command({"PING"}) == "PONG") return;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      stop();
    }
    throw std::runtime_error("redis-server did not start (see " + dir_ + "/redis.log)");
  }

  std::string binary_, skip_, error_, dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace plexus::testing
