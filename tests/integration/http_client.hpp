// A small blocking HTTP/1.1 client over raw TCP sockets, for integration tests of
// the real binary's HTTP transports. It sends arbitrary bytes (so that tests can
// send malformed requests), reads responses with deadlines (poll), and parses the
// status line, headers and body: Content-Length, chunked, or read-until-close.
// Server-sent events can be read one at a time from a chunked (or close-delimited)
// body after read_head(). Only ever connects to 127.0.0.1.
// Thread-safety: one thread per client instance.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plexus::testing::http {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using header_list = std::vector<std::pair<std::string, std::string>>;

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && lower(a) == lower(b);
}

struct response {
  int status = 0;
  std::string reason;
  header_list headers;
  std::string body;  // decoded (chunked framing removed)
  bool chunked = false;

  // The first header of that name (case-insensitive).
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (iequals(k, name)) return v;
    return std::nullopt;
  }
  std::size_t count(std::string_view name) const {
    return static_cast<std::size_t>(std::count_if(
        headers.begin(), headers.end(), [&](const auto& kv) { return iequals(kv.first, name); }));
  }
};

struct sse_event {
  std::string event;  // empty: the default type ("message")
  std::string id;
  std::string data;  // data lines joined with '\n'
  std::optional<long> retry;
  bool has_id = false;
  bool has_data = false;
};

// Builds a request. Adds Host (127.0.0.1:port) and Content-Length unless the
// caller gave them (or Transfer-Encoding).
inline std::string build_request(std::string_view method, std::string_view target,
                                 std::uint16_t port, const header_list& headers = {},
                                 std::string_view body = {}) {
  bool has_host = false, has_length = false;
  for (const auto& [k, v] : headers) {
    has_host |= iequals(k, "host");
    has_length |= iequals(k, "content-length") || iequals(k, "transfer-encoding");
  }
  std::string out;
  out.reserve(body.size() + 256);
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  if (!has_host) out += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const auto& [k, v] : headers) out.append(k).append(": ").append(v).append("\r\n");
  if (!has_length && (!body.empty() || method == "POST"))
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "\r\n";
  out.append(body);
  return out;
}

class client {
 public:
  // Connects to 127.0.0.1:port; check connected() (connect_error() says why not).
  explicit client(std::uint16_t port, std::chrono::milliseconds timeout = 5s) : port_(port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) {
      error_ = errno;
      return;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (rc != 0 && errno != EINPROGRESS) {
      error_ = errno;
      close();
      return;
    }
    if (rc != 0) {
      pollfd p{fd_, POLLOUT, 0};
      int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
      int err = 0;
      socklen_t len = sizeof err;
      if (r <= 0) {
        error_ = ETIMEDOUT;
        close();
        return;
      }
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        error_ = err;
        close();
        return;
      }
    }
  }

  client(const client&) = delete;
  client& operator=(const client&) = delete;
  client(client&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)),
        port_(o.port_),
        error_(o.error_),
        eof_(o.eof_),
        buf_(std::move(o.buf_)),
        stream_(std::move(o.stream_)),
        stream_mode_(o.stream_mode_),
        stream_left_(o.stream_left_),
        stream_done_(o.stream_done_) {}
  ~client() { close(); }

  bool connected() const { return fd_ >= 0; }
  int connect_error() const { return error_; }
  int fd() const { return fd_; }
  std::uint16_t port() const { return port_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Sends a FIN (nothing more will be written) and keeps reading.
  void close_write() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
  }

  // Closes with an RST (SO_LINGER 0) rather than a FIN.
  void abort() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

  // Writes every byte; false on error (EPIPE, ECONNRESET, ...) or timeout.
  bool send(std::string_view data, std::chrono::milliseconds timeout = 5s) {
    auto deadline = clock::now() + timeout;
    while (!data.empty()) {
      if (fd_ < 0) return false;
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
      int ms = remaining_ms(deadline);
      if (ms <= 0) return false;
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, ms);
    }
    return true;
  }

  bool send_request(std::string_view method, std::string_view target,
                    const header_list& headers = {}, std::string_view body = {}) {
    return send(build_request(method, target, port_, headers, body));
  }

  // Reads one whole response (head and body). nullopt on timeout, or when the
  // connection ended before a complete response.
  std::optional<response> read_response(std::chrono::milliseconds timeout = 10s) {
    auto deadline = clock::now() + timeout;
    auto head = read_head_until(deadline);
    if (!head) return std::nullopt;
    if (!read_body(*head, deadline)) return std::nullopt;
    return head;
  }

  // Reads only the status line and headers; the body is then read as a stream
  // with next_event() / read_stream_bytes(). For a response with a
  // Content-Length, use read_response() instead.
  std::optional<response> read_head(std::chrono::milliseconds timeout = 10s) {
    auto head = read_head_until(clock::now() + timeout);
    if (!head) return std::nullopt;
    stream_.clear();
    stream_done_ = false;
    stream_mode_ = head->chunked ? mode::chunked : mode::until_close;
    if (auto cl = head->header("content-length")) {
      stream_mode_ = mode::length;
      stream_left_ = std::stoull(*cl);
    }
    return head;
  }

  // The next server-sent event of the body being streamed (comments such as
  // keep-alives are skipped). nullopt on timeout or when the body ended.
  std::optional<sse_event> next_event(std::chrono::milliseconds timeout = 10s) {
    auto deadline = clock::now() + timeout;
    for (;;) {
      // An event ends at a blank line (LF LF, or CRLF CRLF).
      std::size_t end = std::string::npos, sep = 0;
      for (std::size_t i = 0; i < stream_.size(); ++i) {
        if (stream_.compare(i, 2, "\n\n") == 0) {
          end = i;
          sep = 2;
          break;
        }
        if (stream_.compare(i, 4, "\r\n\r\n") == 0) {
          end = i;
          sep = 4;
          break;
        }
      }
      if (end != std::string::npos) {
        std::string block = stream_.substr(0, end);
        stream_.erase(0, end + sep);
        if (auto e = parse_event(block)) return e;
        continue;  // only comments
      }
      if (stream_done_) return std::nullopt;
      if (!pump_stream(deadline)) return std::nullopt;
    }
  }

  // Whether the body being streamed has ended (last chunk seen, or EOF), waiting
  // up to `timeout` for that; the remaining decoded bytes stay readable via pending().
  bool stream_ends(std::chrono::milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    while (!stream_done_)
      if (!pump_stream(deadline)) break;
    return stream_done_;
  }
  const std::string& pending() const { return stream_; }

  // Waits until the peer closed the connection (EOF or reset); data received in
  // the meantime is discarded. False if still open at the deadline.
  bool wait_closed(std::chrono::milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    while (!eof_) {
      if (fd_ < 0) return true;
      if (!fill(deadline) && !eof_) return false;
      buf_.clear();
    }
    return true;
  }

  // True if the peer already closed or reset the connection (non-blocking check).
  bool peer_closed() {
    if (eof_ || fd_ < 0) return true;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    return false;
  }

  // Raw bytes received but not consumed yet (for diagnostics).
  const std::string& buffered() const { return buf_; }
  bool eof() const { return eof_; }

 private:
  enum class mode { none, length, chunked, until_close };

  static int remaining_ms(clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
  }

  // Reads what is available (waiting up to the deadline). False on timeout or EOF.
  bool fill(clock::time_point deadline) {
    if (fd_ < 0 || eof_) return false;
    for (;;) {
      char tmp[64 * 1024];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n > 0) {
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
      }
      if (n == 0) {
        eof_ = true;
        return false;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {  // ECONNRESET etc.
        eof_ = true;
        return false;
      }
      int ms = remaining_ms(deadline);
      if (ms <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, ms);
      if (r == 0) return false;
    }
  }

  std::optional<response> read_head_until(clock::time_point deadline) {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return std::nullopt;
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    response r;
    std::size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    // "HTTP/1.1 200 OK"
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
    r.status = std::atoi(status_line.substr(9, 3).c_str());
    if (status_line.size() > 13) r.reason = status_line.substr(13);
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      std::size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      pos = e + 2;
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      r.headers.emplace_back(line.substr(0, colon), std::move(value));
    }
    if (auto te = r.header("transfer-encoding");
        te && lower(*te).find("chunked") != std::string::npos)
      r.chunked = true;
    return r;
  }

  bool read_body(response& r, clock::time_point deadline) {
    if ((r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304) return true;
    if (r.chunked) {
      for (;;) {
        auto size = read_chunk_size(deadline);
        if (!size) return false;
        if (*size == 0) return skip_trailers(deadline);
        while (buf_.size() < *size + 2)
          if (!fill(deadline)) return false;
        r.body.append(buf_, 0, *size);
        buf_.erase(0, *size + 2);
      }
    }
    if (auto cl = r.header("content-length")) {
      std::size_t n = std::stoull(*cl);
      while (buf_.size() < n)
        if (!fill(deadline)) return false;
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
      return true;
    }
    // Neither: the body ends when the connection does.
    while (fill(deadline)) {
    }
    if (!eof_) return false;
    r.body = std::move(buf_);
    buf_.clear();
    return true;
  }

  std::optional<std::size_t> read_chunk_size(clock::time_point deadline) {
    std::size_t e;
    while ((e = buf_.find("\r\n")) == std::string::npos)
      if (!fill(deadline)) return std::nullopt;
    std::string line = buf_.substr(0, e);
    buf_.erase(0, e + 2);
    auto semi = line.find(';');
    if (semi != std::string::npos) line.resize(semi);
    if (line.empty()) return std::nullopt;
    return static_cast<std::size_t>(std::stoull(line, nullptr, 16));
  }

  bool skip_trailers(clock::time_point deadline) {
    for (;;) {
      std::size_t e;
      while ((e = buf_.find("\r\n")) == std::string::npos)
        if (!fill(deadline)) return false;
      bool blank = e == 0;
      buf_.erase(0, e + 2);
      if (blank) return true;
    }
  }

  // Moves decoded body bytes from buf_ to stream_ (reading more when needed).
  // False on timeout or when nothing more can come.
  bool pump_stream(clock::time_point deadline) {
    if (stream_done_) return false;
    switch (stream_mode_) {
      case mode::chunked: {
        auto size = read_chunk_size(deadline);
        if (!size) {
          if (eof_) stream_done_ = true;
          return false;
        }
        if (*size == 0) {
          skip_trailers(deadline);
          stream_done_ = true;
          return true;
        }
        while (buf_.size() < *size + 2)
          if (!fill(deadline)) {
            if (eof_) stream_done_ = true;
            return false;
          }
        stream_.append(buf_, 0, *size);
        buf_.erase(0, *size + 2);
        return true;
      }
      case mode::length: {
        if (stream_left_ == 0) {
          stream_done_ = true;
          return true;
        }
        if (buf_.empty() && !fill(deadline)) {
          if (eof_) stream_done_ = true;
          return false;
        }
        std::size_t take = std::min(stream_left_, buf_.size());
        stream_.append(buf_, 0, take);
        buf_.erase(0, take);
        stream_left_ -= take;
        if (stream_left_ == 0) stream_done_ = true;
        return true;
      }
      case mode::until_close:
      case mode::none: {
        if (buf_.empty() && !fill(deadline)) {
          if (eof_) stream_done_ = true;
          return false;
        }
        stream_ += buf_;
        buf_.clear();
        return true;
      }
    }
    return false;
  }

  static std::optional<sse_event> parse_event(std::string_view block) {
    sse_event e;
    bool any = false;
    while (!block.empty()) {
      auto nl = block.find('\n');
      std::string_view line = block.substr(0, nl);
      block = nl == std::string_view::npos ? std::string_view{} : block.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || line.front() == ':') continue;
      auto colon = line.find(':');
      std::string_view field = line.substr(0, colon);
      std::string_view value =
          colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      any = true;
      if (field == "event") {
        e.event = value;
      } else if (field == "data") {
        if (e.has_data) e.data += '\n';
        e.data += value;
        e.has_data = true;
      } else if (field == "id") {
        e.id = value;
        e.has_id = true;
      } else if (field == "retry") {
        e.retry = std::atol(std::string(value).c_str());
      }
    }
    if (!any) return std::nullopt;
    return e;
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  int error_ = 0;
  bool eof_ = false;
  std::string buf_;     // raw bytes received, not consumed
  std::string stream_;  // decoded body bytes of a streamed response, not consumed
  mode stream_mode_ = mode::none;
  std::size_t stream_left_ = 0;
  bool stream_done_ = false;
};

// A socket listening on 127.0.0.1 at a port the kernel picks, for tests' fake servers:
// {fd, port}. Throws when it cannot.
inline std::pair<int, std::uint16_t> listen_on_loopback() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd, 16) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  return {fd, ntohs(a.sin_port)};
}

// One request on a fresh connection; nullopt when no complete response came.
inline std::optional<response> exchange(std::uint16_t port, std::string_view raw,
                                        std::chrono::milliseconds timeout = 10s) {
  client c(port);
  if (!c.connected() || !c.send(raw)) return std::nullopt;
  return c.read_response(timeout);
}

}  // namespace plexus::testing::http
