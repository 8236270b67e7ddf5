#include "plexus/transport/unix_server.hpp"

#include "plexus/server/connection.hpp"
#include "plexus/transport/stdio.hpp"
#include "transport/fd_writer.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace plexus::transport {

struct unix_server::impl {
  server::server& srv;
  unix_server_options opts;
  int listen_fd = -1;
  std::thread acceptor;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::map<int, std::thread> clients;  // fd -> its thread
  std::vector<std::thread> finished;

  impl(server::server& s, unix_server_options o) : srv(s), opts(std::move(o)) {}

  void serve_client(int fd) {
    auto writer = std::make_shared<fd_writer>(fd);
    server::connection conn(srv, writer, {.max_message_bytes = opts.max_message_bytes});
    pump_lines(fd, conn, *writer, opts.max_message_bytes);
    conn.wait_idle(std::chrono::seconds(2));
    conn.close();
    conn.wait_idle(std::chrono::milliseconds(500));
    std::lock_guard lk(mu);
    ::close(fd);
    if (auto it = clients.find(fd); it != clients.end()) {
      finished.push_back(std::move(it->second));
      clients.erase(it);
    }
  }

  void accept_loop() {
    for (;;) {
      int fd = ::accept(listen_fd, nullptr, nullptr);
      if (fd < 0) {
        if (errno == EINTR) continue;
        return;  // closed by stop()
      }
      std::lock_guard lk(mu);
      for (auto& t : finished) t.join();
      finished.clear();
      if (stopping || clients.size() >= opts.max_connections) {
        ::close(fd);
        continue;
      }
      clients[fd] = std::thread([this, fd] { serve_client(fd); });
    }
  }
};

unix_server::unix_server(server::server& srv, unix_server_options options)
    : impl_(std::make_shared<impl>(srv, std::move(options))) {}

unix_server::~unix_server() {
  stop();
}

void unix_server::start() {
  std::signal(SIGPIPE, SIG_IGN);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (impl_->opts.path.size() >= sizeof(addr.sun_path))
    throw std::runtime_error("unix socket path too long: " + impl_->opts.path);
  std::strcpy(addr.sun_path, impl_->opts.path.c_str());
  ::unlink(impl_->opts.path.c_str());
  impl_->listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (impl_->listen_fd < 0)
    throw std::runtime_error("unix socket: " + std::string(strerror(errno)));
  mode_t old = ::umask(0177);  // the socket file is the access control: owner only
  int rc = ::bind(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (rc < 0 || ::listen(impl_->listen_fd, 64) < 0)
    throw std::runtime_error("unix socket " + impl_->opts.path + ": " + strerror(errno));
  impl_->acceptor = std::thread([i = impl_] { i->accept_loop(); });
}

void unix_server::stop() {
  if (impl_->stopping.exchange(true)) return;
  if (impl_->listen_fd >= 0) {
    ::shutdown(impl_->listen_fd, SHUT_RDWR);
    ::close(impl_->listen_fd);
  }
  if (impl_->acceptor.joinable()) impl_->acceptor.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lk(impl_->mu);
    for (auto& [fd, t] : impl_->clients) ::shutdown(fd, SHUT_RDWR);
  }
  // Client threads remove themselves; wait for them.
  for (;;) {
    {
      std::lock_guard lk(impl_->mu);
      for (auto& t : impl_->finished) threads.push_back(std::move(t));
      impl_->finished.clear();
      if (impl_->clients.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& t : threads) t.join();
  ::unlink(impl_->opts.path.c_str());
}

}  // namespace plexus::transport
