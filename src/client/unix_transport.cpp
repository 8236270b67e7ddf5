// MCP over a Unix domain socket, client side: newline-delimited JSON-RPC, as
// on stdio. One reader thread; writes are serialized whole lines.
#include "plexus/client/transport.hpp"
#include "plexus/transport/stdio.hpp"

#include <spdlog/spdlog.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace plexus::client {
namespace {

class unix_transport final : public client_transport {
 public:
  unix_transport(std::string path, unix_transport_options o) : path_(std::move(path)), opts_(o) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.empty()) throw std::runtime_error("unix: no socket path");
    if (path_.size() >= sizeof(addr.sun_path))
      throw std::runtime_error("unix:" + path_ + ": the path is too long");
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("unix: socket: ") + std::strerror(errno));
    int rc;
    do {
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      int e = errno;
      ::close(fd_);
      fd_ = -1;
      throw std::runtime_error("cannot connect to unix:" + path_ + ": " + std::strerror(e));
    }
  }
  ~unix_transport() override { close(); }

  void start(inbound on_message, closed on_closed) override {
    on_message_ = std::move(on_message);
    on_closed_ = std::move(on_closed);
    {
      std::lock_guard lk(mu_);
      reading_ = true;
    }
    reader_ = std::thread([this] { read_loop(); });
  }

  std::optional<transport_error> send(const json::object& message) override {
    std::string line = json::dump(message);
    line += '\n';
    std::lock_guard lk(write_mu_);
    if (write_closed_) return transport_error{describe() + ": the connection is closed"};
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      // MSG_NOSIGNAL: a server gone away is an error here, not a SIGPIPE.
      ssize_t n = ::send(fd_, p, left, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return transport_error{describe() + ": cannot write: " + std::strerror(errno)};
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    return std::nullopt;
  }

  void close() override {
    std::lock_guard once(close_mu_);
    if (fd_ < 0) return;
    {
      std::lock_guard lk(mu_);
      closing_ = true;
    }
    {
      // End of our messages: the server finishes what it has and closes its side.
      std::lock_guard lk(write_mu_);
      write_closed_ = true;
      ::shutdown(fd_, SHUT_WR);
    }
    if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) {
      {
        std::unique_lock lk(mu_);
        if (!done_cv_.wait_for(lk, opts_.close_timeout, [&] { return !reading_; }))
          ::shutdown(fd_, SHUT_RDWR);  // it does not close: stop waiting for it
      }
      reader_.join();
    } else if (reader_.joinable()) {
      // From an inbound callback: the loop ends by itself; the destructor joins it.
      ::shutdown(fd_, SHUT_RDWR);
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }

  std::string describe() const override { return "unix:" + path_; }

 private:
  void read_loop() {
    transport::line_splitter splitter(opts_.max_message_bytes);
    std::string fatal;
    auto on_line = [&](std::string_view line) {
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
      boost::system::error_code ec;
      boost::json::parse_options po;
      po.max_depth = 64;
      auto v = plexus::json::parse(line, ec, po.max_depth);
      if (ec) {
        spdlog::warn("{}: the server wrote a line that is not JSON ({} bytes): {}", describe(),
                     line.size(), std::string(line.substr(0, 120)));
        return;
      }
      if (on_message_) on_message_(v);
    };
    auto on_oversized = [&] {
      if (fatal.empty())
        fatal = "the server sent a message over " + std::to_string(opts_.max_message_bytes) +
                " bytes (the client's limit)";
    };
    std::vector<char> buf(64 * 1024);
    std::string io_error;
    for (;;) {
      ssize_t n = ::read(fd_, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) io_error = std::strerror(errno);
      if (n <= 0) break;
      splitter.feed(buf.data(), static_cast<std::size_t>(n), on_line, on_oversized);
      if (!fatal.empty()) break;
    }
    if (fatal.empty()) splitter.finish(on_line, on_oversized);
    std::string why = !fatal.empty()     ? fatal
                      : io_error.empty() ? "the server closed the connection"
                                         : "reading failed: " + io_error;
    bool tell;
    {
      std::lock_guard lk(mu_);
      reading_ = false;
      tell = !closing_;
    }
    done_cv_.notify_all();
    if (tell) {
      {
        std::lock_guard lk(write_mu_);
        write_closed_ = true;
        ::shutdown(fd_, SHUT_RDWR);
      }
      if (on_closed_) on_closed_(why);
    }
  }

  std::string path_;
  unix_transport_options opts_;
  int fd_ = -1;
  std::mutex write_mu_;  // one line at a time
  bool write_closed_ = false;
  std::mutex close_mu_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool reading_ = false, closing_ = false;
  inbound on_message_;
  closed on_closed_;
  std::thread reader_;
};

}  // namespace

std::unique_ptr<client_transport> make_unix_transport(std::string path,
                                                      unix_transport_options options) {
  return std::make_unique<unix_transport>(std::move(path), options);
}

}  // namespace plexus::client
