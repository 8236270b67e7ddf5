#include "plexus/transport/http_server.hpp"

#include "plexus/core/batch.hpp"
#include "plexus/core/cpu.hpp"
#include "plexus/core/random.hpp"
#include "plexus/jsonrpc/message.hpp"
#include "plexus/protocol/versions.hpp"
#include "plexus/server/connection.hpp"
#include "server/server_impl.hpp"
#include "transport/mcp_http.hpp"
#include "transport/response_stream.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <csignal>
#include <filesystem>
#include <map>
#include <ranges>
#include <set>
#include <thread>
#include <unordered_map>

namespace plexus::transport {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using unix_socket = net::local::stream_protocol;
using net::awaitable;
using net::use_awaitable;
using namespace std::chrono_literals;
using request_t = http::request<http::string_body>;
using headers_t = std::vector<std::pair<std::string, std::string>>;

namespace {

constexpr auto as_tuple = net::as_tuple(use_awaitable);

std::string error_body(int code, std::string_view message) {
  return jsonrpc::encode(jsonrpc::make_error(std::nullopt, code, std::string(message)));
}

bool is_loopback_name(std::string_view host) {
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host == "::1" ||
         host.ends_with(".localhost");
}

// "host:port" / "[v6]:port" / "host" -> host.
std::string_view host_part(std::string_view authority) {
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  auto colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

// Field names compare without case (RFC 9110 §5.1). Inline, lengths first (most names differ):
// beast::iequals is out of line, and it was 2% of a request's instructions in header scans.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// Whether `value` contains `token` (lower case), ignoring ASCII case. Called several times a
// request: a lowered copy of the value per call was an allocation each.
bool header_lists(std::string_view value, std::string_view token) {
  if (value.find(token) != std::string_view::npos) return true;  // as clients write it
  for (std::size_t i = 0; i + token.size() <= value.size(); ++i)
    if (ascii_lower(value[i]) == token[0] && iequals(value.substr(i, token.size()), token))
      return true;
  return false;
}

// A request's field by name, first of that name. Beast's own lookup walks a set ordered by a
// compare that lowers both names char by char: the dozen lookups of a request cost more than
// parsing its head did. A head has a handful of fields, so a scan is cheaper.
std::string_view field_of(const request_t& req, http::field name) {
  for (const auto& f : req)
    if (f.name() == name) return f.value();
  return {};
}

std::optional<std::string_view> find_field(const request_t& req, std::string_view name) {
  for (const auto& f : req)
    if (iequals(f.name_string(), name)) return f.value();
  return std::nullopt;
}

// Allocates exactly what it is asked for. For operations that stay pending while a stream is
// idle (its wake-up's timer, its close watch): Asio's recycling allocator would give them
// whatever larger block the last completion freed (a write's), kept for as long as the stream
// stays open (+0.3 KB each open listen stream). std::allocator would not do: Asio treats it as
// "no allocator" and recycles.
template <class T>
struct exact_allocator {
  using value_type = T;
  exact_allocator() = default;
  template <class U>
  exact_allocator(const exact_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  friend bool operator==(const exact_allocator&, const exact_allocator&) { return true; }
  friend bool operator!=(const exact_allocator&, const exact_allocator&) { return false; }
};

// A one-shot-at-a-time wake-up for the coroutine that drains a response_stream:
// producers on any thread call notify(); the coroutine waits on its strand.
class wakeup : public std::enable_shared_from_this<wakeup> {
 public:
  explicit wakeup(net::any_io_executor ex) : timer_(ex) {}
  std::function<void()> notifier() {
    std::weak_ptr<wakeup> weak = shared_from_this();
    return [weak] {
      if (auto self = weak.lock()) self->notify();
    };
  }
  void notify() {
    pending_.store(true);
    net::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
  }
  // Waits until notified or `timeout` passes. True if notified.
  awaitable<bool> wait(std::chrono::milliseconds timeout) {
    if (pending_.exchange(false)) co_return true;
    timer_.expires_after(timeout);
    auto [ec] = co_await timer_.async_wait(as_tuple);
    pending_.store(false);
    // Cancelled means woken (perhaps by a notification already consumed): look again.
    co_return ec == net::error::operation_aborted;
  }
  // The same for a callback: `done(true)` if notified. One wait at a time.
  template <class F>
  void async_wait(std::chrono::milliseconds timeout, F done) {
    if (pending_.exchange(false)) {
      net::post(timer_.get_executor(), [done = std::move(done)]() mutable { done(true); });
      return;
    }
    timer_.expires_after(timeout);
    timer_.async_wait(net::bind_allocator(
        exact_allocator<void>(),
        [self = shared_from_this(), done = std::move(done)](beast::error_code ec) mutable {
          self->pending_.store(false);
          done(ec == net::error::operation_aborted);
        }));
  }

 private:
  net::steady_timer timer_;
  std::atomic<bool> pending_{false};
};

// A session of legacy Streamable HTTP (2025-03-26 … 2025-11-25) or HTTP+SSE (2024-11-05).
struct legacy_session {
  std::string id;
  std::shared_ptr<server::connection> conn;
  std::shared_ptr<response_stream> standalone;  // the GET stream (or the HTTP+SSE stream)
  std::mutex mu;
  // Stream ids are decimal counters: ordered by number, begin() is the oldest.
  struct by_number {
    bool operator()(const std::string& a, const std::string& b) const {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    }
  };
  // SSE answers by stream id, for resumption with Last-Event-ID.
  std::map<std::string, std::shared_ptr<response_stream>, by_number> streams;
  std::uint64_t next_stream = 1;
  std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();
  std::atomic<int> busy{0};  // open HTTP exchanges
  bool sse_transport = false;
  const server::server* owner = nullptr;  // the endpoint's server that created it

  void touch() {
    std::lock_guard lk(mu);
    last_used = std::chrono::steady_clock::now();
  }
};

// Sends nothing: modern per-request connections answer only through their exchange.
struct null_outbound : server::outbound {
  void send(std::string) override {}
  // It has no state: every modern request's engine connection shares this one.
  static const std::shared_ptr<null_outbound>& shared() {
    static const auto none = std::make_shared<null_outbound>();
    return none;
  }
};

// An SSE response that goes on after its handler returned: the framed head (and what
// follows it), then the events of `rs`. The connection writes it with callbacks once the
// chain of handler coroutines has unwound, so an open stream (a listen stream or a GET
// stream lasts hours) keeps none of their frames, nor its request or read buffer.
struct sse_plan {
  std::shared_ptr<response_stream> rs;
  std::string pending;            // written first, with the first events
  std::uint64_t after = 0;        // events up to this sequence number are already sent
  bool with_ids = false;          // events carry `id:` (resumable streams)
  bool cancel_on_close = false;   // the client leaving calls on_client_gone
  bool allow_disconnect = false;  // SEP-1699: the engine may end the stream for a resume
  bool keep_alive = true;  // false: close the connection after it (serve() also asks the request)
  std::function<void()> on_client_gone;
  std::function<void()> on_done;  // the handlers' clean-up, innermost first

  void then(std::function<void()> f) {
    if (on_done)
      on_done = [a = std::move(on_done), b = std::move(f)] {
        a();
        b();
      };
    else
      on_done = std::move(f);
  }
};

// What the access log learns about one request while it is served, and the SSE
// response a handler left to the connection (if any).
struct request_meter {
  int status = 0;
  std::uint64_t bytes_out = 0;
  std::string mcp_method;
  std::string session_id;
  std::optional<sse_plan> deferred;
};

// A stream that counts the bytes written through it (for the access log); every
// other operation goes to the stream below, which stays reachable through
// beast::get_lowest_layer.
template <class Next>
class metered_stream {
 public:
  using executor_type = typename Next::executor_type;
  metered_stream(Next& next, request_meter& meter) : next_(next), meter_(meter) {}
  executor_type get_executor() noexcept { return next_.get_executor(); }
  Next& next_layer() noexcept { return next_; }
  const Next& next_layer() const noexcept { return next_; }
  request_meter& meter() noexcept { return meter_; }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return next_.async_read_some(buffers, std::forward<Token>(token));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return net::async_compose<Token, void(beast::error_code, std::size_t)>(
        write_op<Buffers>{next_, meter_, buffers}, token, next_);
  }

 private:
  template <class Buffers>
  struct write_op {
    Next& next;
    request_meter& meter;
    Buffers buffers;
    bool started = false;
    template <class Self>
    void operator()(Self& self, beast::error_code ec = {}, std::size_t n = 0) {
      if (!started) {
        started = true;
        next.async_write_some(buffers, std::move(self));
        return;
      }
      meter.bytes_out += n;
      self.complete(ec, n);
    }
  };
  Next& next_;
  request_meter& meter_;
};

// A stream whose bytes go to the socket as they are (no TLS): it may be written directly.
template <class Stream>
struct is_plain_stream : std::false_type {};
template <class Protocol, class Executor, class Policy>
struct is_plain_stream<beast::basic_stream<Protocol, Executor, Policy>> : std::true_type {};
template <class Next>
struct is_plain_stream<metered_stream<Next>> : is_plain_stream<Next> {};

template <class Stream>
request_meter* meter_of(Stream& stream) {
  if constexpr (requires { stream.meter(); })
    return &stream.meter();
  else
    return nullptr;
}

// A plain route registered with add_route.
struct route {
  std::string method;
  std::string prefix;
  route_handler handler;
  bool matches(std::string_view path) const {
    return path == prefix || (prefix.ends_with('/') && path.starts_with(prefix));
  }
};

http_reply run_route(const route_handler& handler, const http_request& req) {
  try {
    return handler(req);
  } catch (const std::exception& e) {
    spdlog::warn("http: route {} {} failed: {}", req.method, req.path, e.what());
  } catch (...) {
    spdlog::warn("http: route {} {} failed", req.method, req.path);
  }
  return {500, "application/json", error_body(-32603, "Internal error"), {}};
}

// The head of a response, written as text. Beast's response type keeps each field in a node of
// a case-insensitive set, and its serializer walks them as a buffer sequence: building and
// writing a small JSON answer's head that way cost more than the rest of writing it. Fields are
// views: what they point at must outlive the call to str().
class response_head {
 public:
  // Replaces a field of the same name (ASCII case ignored), as Beast's set() did; the value is
  // trimmed of surrounding blanks as Beast did.
  void set(std::string_view name, std::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    for (auto& f : fields_)
      if (iequals(f.first, name)) {
        f.second = value;
        return;
      }
    fields_.emplace_back(name, value);
  }

  // The status line, the fields, the connection's fate (RFC 9112 §9.3: HTTP/1.1 says when it
  // closes, HTTP/1.0 when it stays) and the framing: a length, or else chunks.
  std::string str(unsigned version, unsigned status, bool keep_alive,
                  std::optional<std::size_t> content_length) const {
    std::string out;
    std::size_t size = 64;
    for (const auto& [k, v] : fields_) size += k.size() + v.size() + 4;
    out.reserve(size);
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    char code[4] = {static_cast<char>('0' + status / 100 % 10),
                    static_cast<char>('0' + status / 10 % 10), static_cast<char>('0' + status % 10),
                    ' '};
    out.append(code, 4);
    out += http::obsolete_reason(static_cast<http::status>(status));
    out += "\r\n";
    for (const auto& [k, v] : fields_) {
      if (iequals(k, "connection") || iequals(k, "content-length") ||
          iequals(k, "transfer-encoding"))
        continue;  // decided below, from what is written
      out += k;
      out += ": ";
      out += v;
      out += "\r\n";
    }
    if (version == 10 && keep_alive) out += "Connection: keep-alive\r\n";
    if (version != 10 && !keep_alive) out += "Connection: close\r\n";
    if (content_length) {
      char digits[24];
      auto r = std::to_chars(digits, digits + sizeof digits, *content_length);
      out += "Content-Length: ";
      out.append(digits, r.ptr);
      out += "\r\n";
    } else {
      out += "Transfer-Encoding: chunked\r\n";
    }
    out += "\r\n";
    return out;
  }

 private:
  boost::container::small_vector<std::pair<std::string_view, std::string_view>, 8> fields_;
};

// One chunk of a chunked body (RFC 9112 §7.1).
void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char size[20];
  auto r = std::to_chars(size, size + sizeof size, data.size(), 16);
  out.append(size, r.ptr);
  out += "\r\n";
  out += data;
  out += "\r\n";
}

constexpr std::string_view last_chunk = "0\r\n\r\n";

// What the handlers of one batch of ready events defer (a stdio upstream's writes, from a
// gateway) runs after them: net::defer queues it on the calling thread without waking the
// reactor.
class loop_deferrer final : public batch_deferrer {
 public:
  explicit loop_deferrer(net::io_context& ioc) : ioc_(ioc) {}
  void defer(std::function<void()> task) override { net::defer(ioc_, std::move(task)); }

 private:
  net::io_context& ioc_;
};

}  // namespace

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  impl(server::server& s, http_server_options o)
      : srv(s),
        opts(std::move(o)),
        ioc(static_cast<int>(opts.threads ? opts.threads : usable_cores())),
        acceptor(ioc),
        unix_acceptor(ioc),
        reaper(ioc) {
    endpoints[opts.mcp_path] = &srv;
  }

  server::server& srv;
  http_server_options opts;
  // MCP endpoints by path (the main one included) and plain routes: fixed at start().
  std::map<std::string, server::server*, std::less<>> endpoints;
  std::vector<route> routes;
  std::optional<net::thread_pool> route_pool;
  std::atomic<bool> started{false};
  net::io_context ioc;
  loop_deferrer deferrer{ioc};
  std::vector<std::thread> threads;
  // One I/O thread (a server pinned to one core, or --threads 1) already runs a connection's
  // handlers one at a time: a strand would only add a lock and reference counts per handler
  // (~6% of a request's CPU).
  bool single_io_thread = false;
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor;
  unix_socket::acceptor unix_acceptor;
  net::steady_timer reaper;
  std::uint16_t bound_port = 0;
  bool bound_loopback = true;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> connections{0};
  std::atomic<std::int64_t> in_flight{0};
  std::mutex stopped_mu;
  std::condition_variable stopped_cv;
  bool stopped = false;

  std::mutex sessions_mu;
  std::unordered_map<std::string, std::shared_ptr<legacy_session>> sessions;
  // Engine connections of modern requests being served: cancelled when the
  // shutdown grace period ends (their coroutines never resume once I/O stops).
  std::mutex modern_mu;
  std::set<std::shared_ptr<server::connection>> modern_in_flight;

  // ---- lifecycle ------------------------------------------------------------

  void start() {
    started = true;
    if (!routes.empty()) route_pool.emplace(std::max<std::size_t>(1, opts.route_threads));
    if (!opts.tls_cert_file.empty()) {
      tls.emplace(ssl::context::tls_server);
      tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      tls->use_certificate_chain_file(opts.tls_cert_file);
      tls->use_private_key_file(opts.tls_key_file, ssl::context::pem);
      if (!opts.tls_client_ca_file.empty()) {
        tls->load_verify_file(opts.tls_client_ca_file);
        tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      }
    }
    auto address = net::ip::make_address(opts.host == "localhost" ? "127.0.0.1" : opts.host);
    bound_loopback = address.is_loopback();
    tcp::endpoint ep(address, opts.port);
    acceptor.open(ep.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(net::socket_base::max_listen_connections);
    bound_port = acceptor.local_endpoint().port();
    std::size_t n = opts.threads ? opts.threads : usable_cores();
    single_io_thread = n == 1;
    net::co_spawn(ioc, accept_tcp(shared_from_this()), net::detached);
    if (!opts.unix_path.empty()) {
      std::filesystem::remove(opts.unix_path);
      unix_acceptor.open(unix_socket());
      unix_acceptor.bind(unix_socket::endpoint(opts.unix_path));
      unix_acceptor.listen();
      net::co_spawn(ioc, accept_unix(shared_from_this()), net::detached);
    }
    schedule_reaper();
    for (std::size_t i = 0; i < n; ++i)
      threads.emplace_back([this] {
        set_thread_batch_deferrer(&deferrer);
        ioc.run();
        set_thread_batch_deferrer(nullptr);  // the loop is over: nothing may be deferred to it
      });
  }

  void stop(std::chrono::milliseconds grace) {
    if (stopping.exchange(true)) {
      wait();
      return;
    }
    net::post(ioc, [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor.close(ec);
      self->unix_acceptor.close(ec);
      self->reaper.cancel();
    });
    // Requests in flight may finish within the grace period.
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    std::vector<std::shared_ptr<server::connection>> modern;
    {
      std::lock_guard lk(modern_mu);
      modern.assign(modern_in_flight.begin(), modern_in_flight.end());
    }
    for (auto& c : modern) c->close();  // cancels what outlived the grace period
    std::vector<std::shared_ptr<legacy_session>> all;
    {
      std::lock_guard lk(sessions_mu);
      for (auto& [id, s] : sessions) all.push_back(s);
      sessions.clear();
    }
    for (auto& s : all) {
      s->conn->close();
      if (s->standalone) s->standalone->finish("", 0);
    }
    std::this_thread::sleep_for(50ms);
    ioc.stop();
    for (auto& t : threads)
      if (t.joinable()) t.join();
    if (route_pool) {  // handlers still running are waited for; queued ones are dropped
      route_pool->stop();
      route_pool->join();
    }
    {
      std::lock_guard lk(stopped_mu);
      stopped = true;
    }
    stopped_cv.notify_all();
  }

  void wait() {
    std::unique_lock lk(stopped_mu);
    stopped_cv.wait(lk, [&] { return stopped; });
  }

  // Drops sessions nobody used for session_idle_timeout.
  void schedule_reaper() {
    auto period = std::min<std::chrono::milliseconds>(opts.session_idle_timeout / 2, 10s);
    if (period < 50ms) period = 50ms;
    reaper.expires_after(period);
    reaper.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stopping) return;
      self->reap();
      self->schedule_reaper();
    });
  }

  void reap() {
    auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<legacy_session>> dead;
    {
      std::lock_guard lk(sessions_mu);
      for (auto it = sessions.begin(); it != sessions.end();) {
        auto& s = it->second;
        bool idle;
        {
          std::lock_guard sl(s->mu);
          idle = s->busy == 0 && now - s->last_used > opts.session_idle_timeout &&
                 !(s->standalone && s->standalone->attached());
        }
        if (idle) {
          dead.push_back(s);
          it = sessions.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& s : dead) s->conn->close();
  }

  std::shared_ptr<legacy_session> create_session(bool sse_transport, server::server& esrv) {
    auto s = std::make_shared<legacy_session>();
    s->id = random::hex(16);
    s->sse_transport = sse_transport;
    s->owner = &esrv;
    s->standalone = std::make_shared<response_stream>("0", !sse_transport, opts.max_stream_events);
    s->conn = std::make_shared<server::connection>(esrv, s->standalone,
                                                   server::connection_options{opts.max_body_bytes});
    std::shared_ptr<legacy_session> evicted;
    {
      std::lock_guard lk(sessions_mu);
      if (sessions.size() >= opts.max_sessions) {
        // Evict the least recently used idle session; refuse when all are busy.
        auto victim = sessions.end();
        for (auto it = sessions.begin(); it != sessions.end(); ++it) {
          std::lock_guard sl(it->second->mu);
          if (it->second->busy == 0 &&
              (victim == sessions.end() || it->second->last_used < victim->second->last_used))
            victim = it;
        }
        if (victim == sessions.end()) return nullptr;
        evicted = victim->second;
        sessions.erase(victim);
      }
      sessions[s->id] = s;
    }
    if (evicted) evicted->conn->close();
    return s;
  }

  std::shared_ptr<legacy_session> find_session(std::string_view id) {
    std::lock_guard lk(sessions_mu);
    auto it = sessions.find(std::string(id));
    return it == sessions.end() ? nullptr : it->second;
  }

  void remove_session(const std::string& id) {
    std::shared_ptr<legacy_session> s;
    {
      std::lock_guard lk(sessions_mu);
      auto it = sessions.find(id);
      if (it == sessions.end()) return;
      s = it->second;
      sessions.erase(it);
    }
    s->conn->close();
    s->standalone->finish("", 0);
  }

  // ---- accepting -------------------------------------------------------------

  // Where a new connection's handlers run, one at a time.
  net::any_io_executor connection_executor() {
    if (single_io_thread) return ioc.get_executor();
    return net::make_strand(ioc);
  }

  static awaitable<void> accept_tcp(std::shared_ptr<impl> self) {
    for (;;) {
      auto [ec, socket] =
          co_await self->acceptor.async_accept(self->connection_executor(), as_tuple);
      if (ec) {
        if (self->stopping || ec == net::error::operation_aborted) co_return;
        continue;
      }
      if (self->connections.load() >= self->opts.max_connections) {
        beast::error_code ignored;
        socket.close(ignored);  // over the limit: refuse rather than degrade everyone
        continue;
      }
      socket.set_option(tcp::no_delay(true));
      auto ex = socket.get_executor();
      if (self->tls) {
        net::co_spawn(ex, self->serve_tls(self, beast::tcp_stream(std::move(socket))),
                      net::detached);
      } else {
        net::co_spawn(ex, self->serve(self, beast::tcp_stream(std::move(socket)), false),
                      net::detached);
      }
    }
  }

  static awaitable<void> accept_unix(std::shared_ptr<impl> self) {
    for (;;) {
      auto [ec, socket] =
          co_await self->unix_acceptor.async_accept(self->connection_executor(), as_tuple);
      if (ec) {
        if (self->stopping || ec == net::error::operation_aborted) co_return;
        continue;
      }
      auto ex = socket.get_executor();
      net::co_spawn(ex,
                    self->serve(self, beast::basic_stream<unix_socket>(std::move(socket)), true),
                    net::detached);
    }
  }

  awaitable<void> serve_tls(std::shared_ptr<impl> self, beast::tcp_stream tcp_stream) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), *tls);
    beast::get_lowest_layer(stream).expires_after(opts.read_timeout);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, as_tuple);
    if (ec) co_return;  // bad client certificate, plain HTTP on the TLS port, ...
    co_await serve(self, std::move(stream), false);
  }

  // ---- one connection ----------------------------------------------------------

  template <class Stream>
  static std::string remote_of(Stream& stream, bool unix_peer) {
    using socket_t = std::decay_t<decltype(beast::get_lowest_layer(stream).socket())>;
    if constexpr (std::is_same_v<typename socket_t::protocol_type, tcp>) {
      if (unix_peer) return "unix";
      beast::error_code ec;
      auto ep = beast::get_lowest_layer(stream).socket().remote_endpoint(ec);
      if (ec) return "";
      auto a = ep.address();
      return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" +
             std::to_string(ep.port());
    } else {
      return "unix";
    }
  }

  void log_access(std::string_view method, std::string_view target, const request_meter& m,
                  std::chrono::steady_clock::time_point t0, std::uint64_t bytes_in,
                  const std::string& remote) {
    if (!opts.access_log) return;
    access_record r;
    r.method = std::string(method);
    r.path = std::string(target.substr(0, target.find('?')));
    r.status = m.status;
    r.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - t0);
    r.bytes_in = bytes_in;
    r.bytes_out = m.bytes_out;
    r.remote = remote;
    r.mcp_method = m.mcp_method;
    r.session_id = m.session_id;
    try {
      opts.access_log(r);
    } catch (const std::exception& e) {
      spdlog::warn("http: access log failed: {}", e.what());
    }
  }

  static constexpr std::uint64_t large_body_read_bytes = 1024 * 1024;
  static constexpr std::size_t small_buffer_bytes = 16 * 1024;

  // The answer to a request that could not be read, if it deserves one (then the
  // connection closes).
  static std::optional<std::pair<http::status, std::string>> read_refusal(beast::error_code ec,
                                                                          std::size_t n) {
    if (ec == http::error::body_limit)
      return std::pair{http::status::payload_too_large,
                       error_body(-32600, "Request body too large")};
    if (ec == http::error::header_limit)
      return std::pair{http::status::request_header_fields_too_large,
                       error_body(-32600, "Request headers too large")};
    // Bytes that are not HTTP (RFC 9112 §2.2: answer 400, then close).
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message)
      return std::pair{http::status::bad_request, error_body(-32600, "Malformed HTTP request")};
    if (ec != http::error::end_of_stream && ec != beast::error::timeout && ec != net::error::eof &&
        ec != net::error::connection_reset && ec != net::error::operation_aborted && n > 0)
      return std::pair{http::status::bad_request, error_body(-32600, "Malformed HTTP request")};
    return std::nullopt;
  }

  // Reads a request into `parser` until its head (`whole` false) or all of it is parsed, with
  // the errors of Beast's http::async_read_header / async_read (end_of_stream, partial_message,
  // buffer_overflow, the parser's limits); the count is of bytes parsed. Bytes already in
  // `buffer` are parsed first, and the socket is read only for what is missing. Beast's
  // composed reads keep a work guard and executor copies per layer and post their completion
  // even when the buffer already held everything, as it does when a body comes in its head's
  // packet: a scheduler round trip and ~90 executor copies a request.
  template <class Stream>
  static awaitable<std::pair<beast::error_code, std::size_t>> read_request(
      Stream& stream, beast::flat_buffer& buffer, http::request_parser<http::string_body>& parser,
      bool whole) {
    parser.eager(whole);
    std::size_t parsed = 0;
    for (;;) {
      if (whole ? parser.is_done() : parser.is_header_done())
        co_return std::pair{beast::error_code{}, parsed};
      if (buffer.size() > 0) {
        beast::error_code ec;
        auto used = parser.put(buffer.data(), ec);
        parsed += used;
        buffer.consume(used);
        if (!ec) continue;
        if (ec != http::error::need_more) co_return std::pair{ec, parsed};
      }
      auto size = beast::read_size(buffer, 65536);
      if (size == 0) co_return std::pair{beast::error_code(http::error::buffer_overflow), parsed};
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(size), as_tuple);
      buffer.commit(n);
      if (ec == net::error::eof) {
        if (!parser.got_some())
          co_return std::pair{beast::error_code(http::error::end_of_stream), parsed};
        beast::error_code eof_ec;
        parser.put_eof(eof_ec);  // done, or partial_message
        co_return std::pair{eof_ec, parsed};
      }
      if (ec) co_return std::pair{ec, parsed};
    }
  }

  // `buffer`: bytes already read from the connection (after a pumped SSE response).
  template <class Stream>
  awaitable<void> serve(std::shared_ptr<impl> self, Stream stream, bool unix_peer,
                        beast::flat_buffer buffer = beast::flat_buffer()) {
    ++connections;
    struct guard {
      impl* s;
      bool armed = true;  // false: the connection went to an sse_pump, which counts it
      ~guard() {
        if (armed) --s->connections;
      }
    } g{this};
    const std::string remote = remote_of(stream, unix_peer);
    for (bool kept_alive = false;; kept_alive = true) {
      if (stopping) break;
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
      parser.body_limit(opts.max_body_bytes);
      // A kept-alive connection may stay silent for idle_timeout between requests (the
      // option was ignored: idle connections lived read_timeout). Its next head falls under
      // the same bound: a head sent slowly holds the connection no longer than silence
      // would. The body then has read_timeout, as a whole first request has.
      auto& lowest = beast::get_lowest_layer(stream);
      lowest.expires_after(kept_alive ? opts.idle_timeout : opts.read_timeout);
      auto [ec, n] = co_await read_request(stream, buffer, parser, /*whole=*/false);
      if (!ec && !parser.is_done()) {
        if (auto len = parser.content_length(); kept_alive && !(len && *len <= buffer.size()))
          lowest.expires_after(opts.read_timeout);  // not all here yet: it may be waited for
        // A flat buffer grows only as far as asked: a large body would be read 512 bytes
        // per system call (64 KiB: ~130 reads). Room for it is made now and given back
        // after the request, so idle connections and open streams stay small.
        if (auto len = parser.content_length(); len && *len > buffer.capacity() - buffer.size())
          buffer.reserve(buffer.size() + static_cast<std::size_t>(
                                             std::min<std::uint64_t>(*len, large_body_read_bytes)));
        auto [body_ec, body_n] = co_await read_request(stream, buffer, parser, /*whole=*/true);
        ec = body_ec;
        n += body_n;
      }
      auto t0 = std::chrono::steady_clock::now();
      if (ec) {
        if (auto refusal = read_refusal(ec, n)) {
          request_meter m;
          metered_stream<Stream> ms(stream, m);
          co_await write_plain(ms, 11, refusal->first, std::move(refusal->second), false);
          if (ec == http::error::body_limit)
            log_access(parser.get().method_string(), parser.get().target(), m, t0, n, remote);
        }
        break;
      }
      beast::get_lowest_layer(stream).expires_never();
      // Used in place: a released copy would take a second slot in this coroutine's frame,
      // which lives as long as the connection (hours for a listen stream).
      request_t& req = parser.get();
      if (auto* ws_srv = websocket_server(req)) {
        if (opts.access_log) {
          request_meter m;
          m.status = security_rejection(req, unix_peer) ? 403 : 101;
          log_access(req.method_string(), req.target(), m, t0, n, remote);
        }
        co_await serve_websocket(self, std::move(stream), std::move(req), unix_peer, *ws_srv);
        co_return;
      }
      ++in_flight;
      bool keep = false;
      request_meter meter;
      try {
        metered_stream<Stream> ms(stream, meter);
        keep = co_await handle(ms, req, unix_peer, remote);
      } catch (const std::exception& e) {
        spdlog::warn("http: request failed: {}", e.what());
      }
      if (meter.deferred) {
        // The response goes on as a stream: the connection leaves this coroutine (and the
        // handlers' frames, the request, the read buffer) for a small callback writer.
        sse_plan plan = std::move(*meter.deferred);
        meter.deferred.reset();
        plan.keep_alive = plan.keep_alive && req.keep_alive();
        pumped_request pr{std::string(req.method_string()),
                          std::string(req.target()),
                          remote,
                          std::move(meter),
                          t0,
                          n,
                          unix_peer,
                          beast::flat_buffer()};
        if (buffer.size() > 0) pr.buffer = std::move(buffer);
        g.armed = false;
        std::make_shared<sse_pump<Stream>>(self, std::move(stream), std::move(plan), std::move(pr))
            ->start();
        co_return;
      }
      --in_flight;
      log_access(req.method_string(), req.target(), meter, t0, n, remote);
      if (!keep || !req.keep_alive() || stopping) break;
      if (buffer.capacity() > small_buffer_bytes && buffer.size() == 0) buffer.shrink_to_fit();
      // On a plain connection the answer usually went out at once (write_now), and the client
      // has not had time to send its next request: a read now would mostly find nothing (a
      // failed recvmsg per request). Other connections' ready work goes first. (A TLS answer
      // was written asynchronously: its completion already came through the scheduler.)
      if constexpr (is_plain_stream<Stream>::value)
        if (buffer.size() == 0)
          co_await net::post(co_await net::this_coro::executor, use_awaitable);
    }
    beast::error_code ec;
    beast::get_lowest_layer(stream).socket().shutdown(net::socket_base::shutdown_both, ec);
    beast::get_lowest_layer(stream).close();
  }

  // The server a WebSocket upgrade on this target talks to, or nullptr.
  server::server* websocket_server(const request_t& req) const {
    if (!opts.enable_websocket || !websocket::is_upgrade(req)) return nullptr;
    auto path = std::string_view(req.target());
    if (path == "/ws") return &srv;
    auto it = endpoints.find(path);
    return it == endpoints.end() ? nullptr : it->second;
  }

  // ---- writing -----------------------------------------------------------------

  void add_common_headers(response_head& res, const request_t* req, bool vary = true) {
    res.set("Server", "plexus/" PLEXUS_VERSION);
    if (req) {
      auto origin = field_of(*req, http::field::origin);
      if (!origin.empty() && origin_allowed(origin)) {
        res.set("Access-Control-Allow-Origin", origin);
        if (vary) res.set("Vary", "Origin");
        res.set("Access-Control-Expose-Headers",
                "Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate");
      }
    }
  }

  template <class Stream>
  awaitable<bool> write_plain(Stream& stream, unsigned version, http::status status,
                              std::string body, bool keep_alive,
                              std::string_view content_type = "application/json",
                              const request_t* req = nullptr,
                              std::vector<std::pair<std::string, std::string>> headers = {}) {
    response_head res;
    add_common_headers(res, req);
    if (!body.empty()) res.set("Content-Type", content_type);
    for (auto& [k, v] : headers) res.set(k, v);
    if (auto* m = meter_of(stream)) m->status = static_cast<int>(status);
    std::string head = res.str(version, static_cast<unsigned>(status), keep_alive, body.size());
    std::array<net::const_buffer, 2> bufs{net::buffer(head), net::buffer(body)};
    beast::buffers_suffix<std::array<net::const_buffer, 2>> rest(bufs);
    rest.consume(write_now(stream, bufs));
    if (beast::buffer_bytes(rest) == 0) co_return keep_alive;
    beast::get_lowest_layer(stream).expires_after(opts.read_timeout);
    auto [ec, n] = co_await net::async_write(stream, rest, as_tuple);
    beast::get_lowest_layer(stream).expires_never();
    co_return !ec && keep_alive;
  }

  // Writes what the socket takes at once, without waiting, and returns how much that was
  // (0 for a TLS stream, whose bytes are not the socket's). An answer usually fits in the
  // socket's buffer: an asynchronous write of it completed at once too, but posted its
  // completion through the scheduler and resumed the request's coroutines from there. Errors
  // are left to the asynchronous write of the rest, which meets them again.
  template <class Stream, class Buffers>
  static std::size_t write_now(Stream& stream, const Buffers& buffers) {
    if constexpr (is_plain_stream<Stream>::value) {
      auto& socket = beast::get_lowest_layer(stream).socket();
      beast::error_code ec;
      if (!socket.non_blocking()) socket.non_blocking(true, ec);  // once per connection
      if (ec) return 0;
      std::size_t n = socket.write_some(buffers, ec);
      if (ec) return 0;
      if (auto* m = meter_of(stream)) m->bytes_out += n;
      return n;
    } else {
      return 0;
    }
  }

  // Writes bytes already framed (a head, chunks); false when the client is gone.
  template <class Stream>
  awaitable<bool> write_raw(Stream& stream, std::string_view bytes) {
    if (bytes.empty()) co_return true;
    bytes.remove_prefix(write_now(stream, net::buffer(bytes)));
    if (bytes.empty()) co_return true;
    beast::get_lowest_layer(stream).expires_after(opts.read_timeout);
    auto [ec, n] = co_await net::async_write(stream, net::buffer(bytes), as_tuple);
    beast::get_lowest_layer(stream).expires_never();
    co_return !ec;
  }

  static std::string sse_event(std::string_view data, std::string_view id = {},
                               std::string_view event = "message") {
    std::string out;
    out.reserve(data.size() + 40);
    if (!event.empty()) {
      out += "event: ";
      out += event;
      out += '\n';
    }
    if (!id.empty()) {
      out += "id: ";
      out += id;
      out += '\n';
    }
    out += "data: ";
    out += data;
    out += "\n\n";
    return out;
  }

  // Leaves `plan` to the connection (serve()), which pumps it once the handlers return.
  template <class Stream>
  static void defer_sse(Stream& stream, sse_plan plan) {
    stream.meter().deferred = std::move(plan);
  }

  // Runs a handler's clean-up now, or when the SSE response it deferred has ended.
  template <class Stream>
  static void when_answered(Stream& stream, std::function<void()> clean_up) {
    if (auto& plan = stream.meter().deferred)
      plan->then(std::move(clean_up));
    else
      clean_up();
  }

  // SEP-1699: an event id and a retry hint, first on a resumable stream.
  std::string priming_event(const response_stream& rs, std::uint64_t seq) const {
    return "id: " + rs.id() + "-" + std::to_string(seq) +
           "\nretry: " + std::to_string(opts.sse_retry.count()) + "\ndata: \n\n";
  }

  // What serve() still owes a request whose response is pumped: its access-log line,
  // and the connection itself afterwards.
  struct pumped_request {
    std::string method;
    std::string target;
    std::string remote;
    request_meter meter;
    std::chrono::steady_clock::time_point t0;
    std::size_t bytes_in = 0;
    bool unix_peer = false;
    beast::flat_buffer buffer;  // bytes the client sent after the request (rarely any)
  };

  // Writes a deferred SSE response (sse_plan) as server-sent events, with callbacks on
  // the connection's strand, until the stream finishes, the client goes away, the engine
  // ends it for a resume (SEP-1699) or the server stops; then gives the connection back
  // to serve() (keep-alive) or closes it. Only callbacks and this object stay alive
  // between events: an idle stream costs a few hundred bytes here.
  template <class Stream>
  class sse_pump : public std::enable_shared_from_this<sse_pump<Stream>> {
   public:
    sse_pump(std::shared_ptr<impl> srv, Stream stream, sse_plan plan, pumped_request req)
        : srv_(std::move(srv)),
          stream_(std::move(stream)),
          plan_(std::move(plan)),
          req_(std::move(req)),
          wake_(std::make_shared<wakeup>(stream_.get_executor())) {}

    void start() {
      plan_.rs->attach(wake_->notifier());
      // Watch for the client closing its end while nothing is being written.
      beast::get_lowest_layer(stream_).socket().async_wait(
          net::socket_base::wait_read,
          net::bind_allocator(
              exact_allocator<void>(), [self = this->shared_from_this()](beast::error_code ec) {
                if (ec || self->finished_) return;
                beast::error_code aec;
                if (beast::get_lowest_layer(self->stream_).socket().available(aec) == 0) {
                  self->gone_ = true;
                  self->wake_->notify();
                }
              }));
      step();
    }

   private:
    // Takes what the stream has and writes it (what is pending first) in one write.
    void step() {
      auto b = plan_.rs->poll(plan_.after);
      std::string events;
      bool final = false;
      for (auto& e : b.events) {
        plan_.after = e.seq;
        if (e.data.empty() && e.final) {  // a stream closed without a last message
          final = true;
          break;
        }
        events += sse_event(
            e.data, plan_.with_ids ? plan_.rs->id() + "-" + std::to_string(e.seq) : std::string());
        if (e.final) {
          final = true;
          break;
        }
      }
      std::string wire = std::exchange(plan_.pending, std::string());
      append_chunk(wire, events);
      if (final) wire += last_chunk;
      write(std::move(wire),
            [this, final, overflowed = b.overflowed, disconnect = b.disconnect](bool ok) {
              if (!ok) gone_ = true;
              if (final) return finish(true);
              if (gone_ || overflowed || srv_->stopping) return finish(false);
              // SEP-1699: end the body cleanly (a terminating chunk): an aborted body reads as an
              // error to clients, a finished one as "resume later". Older clients do not resume,
              // so their streams stay open.
              if (disconnect && plan_.allow_disconnect)
                return write(std::string(last_chunk), [this](bool done) { finish(done); });
              wait();
            });
    }

    void wait() {
      wake_->async_wait(srv_->opts.keepalive_interval,
                        [self = this->shared_from_this()](bool woke) {
                          if (woke || self->gone_) return self->step();
                          std::string ping;
                          append_chunk(ping, ": keepalive\n\n");
                          self->write(std::move(ping), [s = self.get()](bool ok) {
                            if (!ok) s->gone_ = true;
                            s->step();
                          });
                        });
    }

    // `then(ok)` runs when the bytes are written (at once when there are none); the
    // pending write keeps this object alive.
    template <class F>
    void write(std::string bytes, F then) {
      if (bytes.empty()) return then(true);
      out_ = std::move(bytes);
      beast::get_lowest_layer(stream_).expires_after(srv_->opts.read_timeout);
      net::async_write(stream_, net::buffer(out_),
                       [self = this->shared_from_this(), then = std::move(then)](
                           beast::error_code ec, std::size_t n) mutable {
                         beast::get_lowest_layer(self->stream_).expires_never();
                         self->req_.meter.bytes_out += n;
                         self->out_ = std::string();
                         then(!ec);
                       });
    }

    // `complete`: the response ended properly, so the connection may carry another.
    void finish(bool complete) {
      finished_ = true;
      plan_.rs->detach();
      auto& lowest = beast::get_lowest_layer(stream_);
      beast::error_code ec;
      lowest.socket().cancel(ec);  // the close watch
      if (gone_ && plan_.cancel_on_close && plan_.on_client_gone) plan_.on_client_gone();
      if (plan_.on_done) plan_.on_done();
      --srv_->in_flight;
      srv_->log_access(req_.method, req_.target, req_.meter, req_.t0, req_.bytes_in, req_.remote);
      if (complete && !gone_ && plan_.keep_alive && !srv_->stopping) {
        auto ex = stream_.get_executor();
        net::co_spawn(ex,
                      srv_->serve(srv_, std::move(stream_), req_.unix_peer, std::move(req_.buffer)),
                      net::detached);
      } else {
        lowest.socket().shutdown(net::socket_base::shutdown_both, ec);
        lowest.close();
      }
      --srv_->connections;  // serve() counts it again when it carries on
    }

    std::shared_ptr<impl> srv_;
    Stream stream_;
    sse_plan plan_;
    pumped_request req_;
    std::shared_ptr<wakeup> wake_;
    std::string out_;  // the bytes being written
    bool gone_ = false;
    bool finished_ = false;
  };

  // The head of an SSE response, to be written with what follows it.
  template <class Stream>
  std::string sse_head(Stream& stream, const request_t& req,
                       std::vector<std::pair<std::string, std::string>> headers) {
    response_head res;
    add_common_headers(res, &req, /*vary=*/false);
    res.set("Content-Type", "text/event-stream");
    res.set("Cache-Control", "no-cache, no-transform");
    res.set("X-Accel-Buffering", "no");
    for (auto& [k, v] : headers) res.set(k, v);
    if (auto* m = meter_of(stream)) m->status = 200;
    // An HTTP/1.1 stream stays open; an HTTP/1.0 one ends with the connection.
    return res.str(req.version(), 200, req.version() != 10, std::nullopt);
  }

  // ---- security checks -----------------------------------------------------------

  bool listed(const std::vector<std::string>& list, std::string_view v) const {
    for (const auto& a : list)
      if (a == "*" || a == v) return true;
    return false;
  }

  bool host_allowed(std::string_view host_header, bool unix_peer) const {
    if (unix_peer) return true;
    std::string_view host = host_part(host_header);
    if (listed(opts.allowed_hosts, host) || listed(opts.allowed_hosts, host_header)) return true;
    if (bound_loopback) return is_loopback_name(host);
    return opts.allowed_hosts.empty();  // bound beyond loopback on purpose, no list: any host
  }

  bool origin_allowed(std::string_view origin) const {
    if (listed(opts.allowed_origins, origin)) return true;
    auto u = boost::urls::parse_uri(origin);
    if (!u) return false;
    return (u->scheme() == "http" || u->scheme() == "https") && is_loopback_name(u->host());
  }

  std::optional<std::string> security_rejection(const request_t& req, bool unix_peer) const {
    if (!host_allowed(field_of(req, http::field::host), unix_peer))
      return std::string("Forbidden: Host not allowed");
    auto origin = field_of(req, http::field::origin);
    if (!origin.empty() && !origin_allowed(origin))
      return std::string("Forbidden: Origin not allowed");
    return std::nullopt;
  }

  // ---- routing ----------------------------------------------------------------

  template <class Stream>
  awaitable<bool> handle(Stream& stream, const request_t& req, bool unix_peer,
                         const std::string& remote) {
    // Refusals are built here and written by the one co_await at the end: every co_await
    // with its own temporaries would add them to this frame for the life of the request.
    struct refusal {
      http::status status;
      std::string body;
      headers_t headers;
    };
    std::optional<refusal> no;
    auto target = std::string_view(req.target());
    auto path = target.substr(0, target.find('?'));
    if (auto why = security_rejection(req, unix_peer)) {
      no = refusal{http::status::forbidden, error_body(-32000, *why), {}};
    } else if (req.method() == http::verb::options) {
      co_return co_await preflight(stream, req);
    } else if (auto ep = endpoints.find(path); ep != endpoints.end()) {
      server::server& esrv = *ep->second;
      switch (req.method()) {
        case http::verb::post:
          co_return co_await mcp_post(stream, req, esrv);
        case http::verb::get:
          co_return co_await mcp_get(stream, req, esrv);
        case http::verb::delete_:
          co_return co_await mcp_delete(stream, req, esrv);
        default:
          no = refusal{http::status::method_not_allowed,
                       error_body(-32000, "Method not allowed"),
                       {{"Allow", "GET, POST, DELETE, OPTIONS"}}};
      }
    } else if (opts.enable_legacy_sse && path == "/sse" && req.method() == http::verb::get) {
      co_return co_await sse_get(stream, req);
    } else if (opts.enable_legacy_sse && path == "/messages" && req.method() == http::verb::post) {
      co_return co_await sse_post(stream, req, target);
    } else if (!routes.empty()) {
      const route* best = nullptr;
      std::string allow;
      for (const auto& r : routes) {
        if (!r.matches(path)) continue;
        if (r.method == req.method_string()) {
          if (!best || r.prefix.size() > best->prefix.size()) best = &r;
        } else if (allow.find(r.method) == std::string::npos) {
          allow += (allow.empty() ? "" : ", ") + r.method;
        }
      }
      if (best) co_return co_await serve_route(stream, req, *best, remote);
      if (!allow.empty())
        no = refusal{http::status::method_not_allowed,
                     error_body(-32000, "Method not allowed"),
                     {{"Allow", std::move(allow)}}};
    }
    if (!no) no = refusal{http::status::not_found, error_body(-32000, "Not found"), {}};
    co_return co_await write_plain(stream, req.version(), no->status, std::move(no->body),
                                   req.keep_alive(), "application/json", &req,
                                   std::move(no->headers));
  }

  // Runs a route's handler on the route pool, then answers from this
  // connection's strand: a blocking handler never holds an I/O thread.
  template <class Stream>
  awaitable<bool> serve_route(Stream& stream, const request_t& req, const route& r,
                              const std::string& remote) {
    auto hreq = std::make_shared<http_request>();
    hreq->method = std::string(req.method_string());
    hreq->target = std::string(req.target());
    auto q = hreq->target.find('?');
    hreq->path = hreq->target.substr(0, q);
    if (q != std::string::npos) hreq->query = hreq->target.substr(q + 1);
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      hreq->headers.emplace_back(std::move(name), std::string(f.value()));
    }
    hreq->body = req.body();
    hreq->remote = remote;
    auto ex = co_await net::this_coro::executor;
    const route_handler* handler = &r.handler;
    // A named initiation, not a temporary inside the co_await expression: GCC 12 destroys
    // such temporaries twice (their shared_ptr captures were freed twice).
    auto initiation = [pool = &*route_pool, handler, hreq, ex](auto completion) mutable {
      net::post(*pool, [handler, hreq, ex, completion = std::move(completion)]() mutable {
        http_reply out = run_route(*handler, *hreq);
        net::post(ex, [completion = std::move(completion), out = std::move(out)]() mutable {
          std::move(completion)(std::move(out));
        });
      });
    };
    http_reply reply = co_await net::async_initiate<decltype(use_awaitable), void(http_reply)>(
        initiation, use_awaitable);
    auto status = reply.status >= 100 && reply.status <= 999 ? reply.status : 500;
    co_return co_await write_plain(stream, req.version(), static_cast<http::status>(status),
                                   std::move(reply.body), req.keep_alive(), reply.content_type,
                                   &req, std::move(reply.headers));
  }

  template <class Stream>
  awaitable<bool> preflight(Stream& stream, const request_t& req) {
    std::vector<std::pair<std::string, std::string>> h{
        {"Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS"},
        {"Access-Control-Max-Age", "600"}};
    auto requested = field_of(req, http::field::access_control_request_headers);
    h.emplace_back("Access-Control-Allow-Headers",
                   requested.empty() ? "Content-Type, Accept, Authorization, Mcp-Session-Id, "
                                       "MCP-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID"
                                     : std::string(requested));
    co_return co_await write_plain(stream, req.version(), http::status::no_content, "",
                                   req.keep_alive(), "", &req, std::move(h));
  }

  template <class Stream>
  awaitable<bool> reject(Stream& stream, const request_t& req, http::status status, int code,
                         std::string_view message) {
    co_return co_await write_plain(stream, req.version(), status, error_body(code, message),
                                   req.keep_alive(), "application/json", &req);
  }

  // POST on the MCP endpoint: classify by claim, then serve in that era.
  template <class Stream>
  awaitable<bool> mcp_post(Stream& stream, const request_t& req, server::server& esrv) {
    auto content_type = field_of(req, http::field::content_type);
    if (!header_lists(content_type, "application/json"))
      co_return co_await reject(stream, req, http::status::unsupported_media_type, -32000,
                                "Unsupported Media Type: Content-Type must be application/json");
    auto accept = field_of(req, http::field::accept);
    bool accepts_both =
        (header_lists(accept, "application/json") && header_lists(accept, "text/event-stream")) ||
        header_lists(accept, "*/*");
    if (!accepts_both)
      co_return co_await reject(
          stream, req, http::status::not_acceptable, -32000,
          "Not Acceptable: Accept must list application/json and text/event-stream");
    boost::json::parse_options po;
    po.max_depth = 64;
    boost::system::error_code jec;
    json::value body = plexus::json::parse(req.body(), jec, po.max_depth);
    if (jec)
      co_return co_await reject(stream, req, http::status::bad_request, -32700,
                                "Parse error: " + jec.message());
    if (auto* m = meter_of(stream); m && body.is_object())
      if (auto method = json::find_string(body.get_object(), "method"))
        m->mcp_method = std::string(*method);

    auto version_header = find_field(req, "mcp-protocol-version");
    bool claims_modern = false;
    if (body.is_object())
      if (auto params = json::find_object(body.get_object(), "params"))
        if (auto meta = json::find_object(*params, "_meta"))
          claims_modern = meta->contains(protocol::meta::protocol_version) ||
                          meta->contains(protocol::meta::client_capabilities);
    std::string vh = version_header ? std::string(*version_header) : std::string();
    bool header_modern = version_header && protocol::is_modern_version(vh);
    bool header_legacy = version_header && protocol::is_legacy_version(vh);
    if (header_modern || claims_modern ||
        (version_header && !header_legacy && !find_field(req, "mcp-session-id")))
      co_return co_await modern_post(stream, req, std::move(body), esrv);
    co_return co_await legacy_post(stream, req, std::move(body), esrv);
  }

  // ---- modern (2026-07-28) ----------------------------------------------------------

  // A validated 2026-07-28 POST: an answer to write at once, or a request running in the
  // engine whose answers arrive on `rs`.
  struct modern_start {
    http::status status = http::status::ok;
    std::string body;
    std::string_view content_type = "application/json";
    std::shared_ptr<server::connection> conn;  // null: write `body` with `status`
    std::shared_ptr<response_stream> rs;
  };

  // Validation and dispatch of a modern POST, kept out of the coroutine: a coroutine frame
  // holds every local of every branch for as long as the request runs, and a
  // subscriptions/listen stream runs for hours (this cut ~1.4 KB from each open stream).
  modern_start start_modern(const request_t& req, json::value body, server::server& esrv) {
    modern_start out;
    auto early = [&](http::status st, int code, std::string_view message,
                     std::optional<jsonrpc::request_id> id = std::nullopt) {
      out.status = st;
      out.body = jsonrpc::encode(jsonrpc::make_error(std::move(id), code, std::string(message)));
      return std::move(out);
    };
    if (!body.is_object())
      return early(http::status::bad_request, -32600,
                   "Invalid Request: one JSON-RPC message per POST (no batches)");
    const json::object& msg = body.get_object();
    bool is_request = msg.contains("method") && msg.contains("id");
    auto headers = [&req](std::string_view name) { return find_field(req, name); };
    if (is_request) {
      if (auto r = mcp_http::validate_modern_envelope(msg)) {
        auto id_it = msg.find("id");
        auto rid = jsonrpc::from_json(
            json::object{{"jsonrpc", "2.0"}, {"id", id_it->value()}, {"result", 0}});
        std::optional<jsonrpc::request_id> id;
        if (auto* m = std::get_if<jsonrpc::message>(&rid)) id = std::get<jsonrpc::response>(*m).id;
        return early(http::status::bad_request, r->code, r->message, std::move(id));
      }
    }
    std::shared_ptr<const server::tool_entry> pinned;  // keeps the schema alive while validating
    auto tool_schema = [&](std::string_view name) -> const json::object* {
      pinned = esrv.internals().tools.find_if(
          [&](const server::tool_entry& t) { return t.definition.name == name; });
      return pinned ? &pinned->definition.input_schema : nullptr;
    };
    if (auto r = mcp_http::validate_modern_headers(headers, msg, tool_schema)) {
      std::optional<jsonrpc::request_id> id;
      if (auto it = msg.find("id"); it != msg.end()) {
        if (it->value().is_string())
          id = std::string(it->value().get_string());
        else if (it->value().is_int64())
          id = it->value().get_int64();
      }
      return early(static_cast<http::status>(r->status), r->code, r->message, std::move(id));
    }
    if (!msg.contains("method"))
      return early(http::status::bad_request, -32600,
                   "Invalid Request: clients send requests and notifications only");
    if (!msg.contains("id")) {  // a notification: nothing in 2026 needs an answer over HTTP
      out.status = http::status::accepted;
      out.content_type = "";
      return out;
    }
    out.conn = std::make_shared<server::connection>(
        esrv, null_outbound::shared(), server::connection_options{opts.max_body_bytes});
    out.rs = std::make_shared<response_stream>("", false, opts.max_stream_events);
    jsonrpc::decoded d;
    auto parsed = jsonrpc::from_json(std::move(body));
    if (auto* m = std::get_if<jsonrpc::message>(&parsed))
      d.messages.push_back(std::move(*m));
    else
      d.errors.push_back(std::get<jsonrpc::error_response>(parsed));
    {
      std::lock_guard lk(modern_mu);
      modern_in_flight.insert(out.conn);
    }
    out.conn->receive(std::move(d), out.rs);
    return out;
  }

  template <class Stream>
  awaitable<bool> modern_post(Stream& stream, const request_t& req, json::value body,
                              server::server& esrv) {
    auto s = start_modern(req, std::move(body), esrv);
    if (!s.conn)
      co_return co_await write_plain(stream, req.version(), s.status, std::move(s.body),
                                     req.keep_alive(), s.content_type, &req);
    std::function<void()> on_gone = [conn = s.conn] { conn->close(); };
    bool keep =
        co_await answer(stream, req, std::move(s.rs), /*modern=*/true, headers_t{}, false, on_gone);
    when_answered(stream, [this, conn = s.conn] {
      conn->close();
      std::lock_guard lk(modern_mu);
      modern_in_flight.erase(conn);
    });
    co_return keep;
  }

  // The first time a look at `rs` finds nothing, makes the wake-up and attaches it; true then:
  // look once more before waiting (an answer may have come in between). Not made earlier: a
  // direct tool's answer is usually there at the first look, and needs no wake-up at all.
  static bool attach_first(std::shared_ptr<wakeup>& wake, response_stream& rs,
                           const net::any_io_executor& ex) {
    if (wake) return false;
    wake = std::make_shared<wakeup>(ex);
    rs.attach(wake->notifier());
    return true;
  }

  // Waits for the first thing the engine says, then answers with JSON (a lone
  // final answer), 202 (nothing to say) or an SSE stream (anything else).
  template <class Stream>
  awaitable<bool> answer(Stream& stream, const request_t& req, std::shared_ptr<response_stream> rs,
                         bool modern, std::vector<std::pair<std::string, std::string>> headers,
                         bool priming, std::function<void()> on_client_gone) {
    std::shared_ptr<wakeup> wake;  // see attach_first
    response_stream::batch first;
    // A 2026-07-28 client cancels by closing its connection, also before the answer has
    // begun: watched once the answer takes a while (arming it cost a system call per call:
    // +30 us a forwarded call in the gateway). The watch and this frame share `watch`; its
    // handler runs on this executor.
    struct close_watch {
      bool done = false, gone = false;
    };
    std::shared_ptr<close_watch> watch;
    bool watchable = modern && on_client_gone;
    auto& socket = beast::get_lowest_layer(stream).socket();
    for (;;) {
      first = rs->poll(0);
      if (!first.events.empty() || first.accepted || first.disconnect || stopping) break;
      if (watch && watch->gone) break;
      if (attach_first(wake, *rs, co_await net::this_coro::executor)) continue;
      bool before_watch = watchable && !watch;
      bool woken = co_await wake->wait(before_watch ? std::min(opts.keepalive_interval, 20ms)
                                                    : opts.keepalive_interval);
      if (before_watch && !woken) {
        watch = std::make_shared<close_watch>();
        socket.async_wait(net::socket_base::wait_read,
                          [watch, wake, &socket](beast::error_code ec) {
                            if (ec || watch->done) return;
                            beast::error_code aec;
                            if (socket.available(aec) == 0) {  // end of stream: it left
                              watch->gone = true;
                              wake->notify();
                            }
                          });
      }
    }
    if (wake) rs->detach();
    if (watch) {
      watch->done = true;
      if (watch->gone) {
        on_client_gone();
        co_return false;
      }
      beast::error_code ec;
      socket.cancel(ec);  // ends the watch (nothing else waits on the socket now)
    }
    if (first.events.empty() && first.accepted)
      co_return co_await write_plain(stream, req.version(), http::status::accepted, "",
                                     req.keep_alive(), "", &req, std::move(headers));
    if (first.events.size() == 1 && first.events[0].final && !priming) {
      int status = modern ? mcp_http::modern_status_for(first.events[0].code) : 200;
      co_return co_await write_plain(stream, req.version(), static_cast<http::status>(status),
                                     std::move(first.events[0].data), req.keep_alive(),
                                     "application/json", &req, std::move(headers));
    }
    std::string pending = sse_head(stream, req, std::move(headers));
    std::uint64_t after = 0;
    if (priming) append_chunk(pending, priming_event(*rs, 0));
    if (!rs->resumable()) {
      // The events polled above were taken from the queue: they go first.
      std::string out;
      bool final = false;
      for (auto& e : first.events) {
        out += sse_event(e.data);
        final |= e.final;
      }
      append_chunk(pending, out);
      if (final) {
        pending += last_chunk;
        bool ok = co_await write_raw(stream, pending);
        if (!ok && on_client_gone) on_client_gone();
        co_return ok&& req.keep_alive();
      }
    }
    sse_plan plan;
    plan.rs = rs;
    plan.pending = std::move(pending);
    plan.after = after;
    plan.with_ids = rs->resumable();
    plan.cancel_on_close = modern;
    plan.on_client_gone = std::move(on_client_gone);
    defer_sse(stream, std::move(plan));
    co_return true;
  }

  // ---- legacy Streamable HTTP (2025-03-26 … 2025-11-25) -----------------------------

  static bool is_initialize(const json::value& body) {
    if (!body.is_object()) return false;
    auto m = json::find_string(body.get_object(), "method");
    return m && *m == "initialize";
  }

  template <class Stream>
  awaitable<bool> legacy_post(Stream& stream, const request_t& req, json::value body,
                              server::server& esrv) {
    std::shared_ptr<legacy_session> session;
    std::vector<std::pair<std::string, std::string>> headers;
    auto sid = find_field(req, "mcp-session-id");
    if (is_initialize(body)) {
      session = create_session(false, esrv);
      if (!session)
        co_return co_await reject(stream, req, http::status::service_unavailable, -32000,
                                  "Service Unavailable: too many sessions");
      headers.emplace_back("Mcp-Session-Id", session->id);
    } else {
      if (!sid)
        co_return co_await reject(stream, req, http::status::bad_request, -32000,
                                  "Bad Request: Mcp-Session-Id header is required");
      session = find_session(*sid);
      if (!session || session->sse_transport || session->owner != &esrv)
        co_return co_await reject(stream, req, http::status::not_found, -32001,
                                  "Session not found");
      if (auto v = find_field(req, "mcp-protocol-version");
          v && !protocol::is_legacy_version(std::string(*v)))
        co_return co_await reject(
            stream, req, http::status::bad_request, -32000,
            "Bad Request: unsupported MCP-Protocol-Version " + std::string(*v));
    }
    if (auto* m = meter_of(stream)) m->session_id = session->id;
    session->touch();
    ++session->busy;
    std::shared_ptr<response_stream> rs;
    {
      std::lock_guard lk(session->mu);
      rs = std::make_shared<response_stream>(std::to_string(session->next_stream++), true,
                                             opts.max_stream_events);
      session->streams[rs->id()] = rs;
      // Streams are kept for resumption only while the map is small: the oldest finished
      // one goes first, else the oldest (it keeps running; it just cannot be resumed).
      while (session->streams.size() > 64) {
        auto victim = std::find_if(session->streams.begin(), session->streams.end(),
                                   [](const auto& kv) { return kv.second->finished(); });
        session->streams.erase(victim != session->streams.end() ? victim
                                                                : session->streams.begin());
      }
    }
    std::string version = session->conn->protocol_version();
    bool batch_ok = protocol::allows_batch(version);
    auto decoded = jsonrpc::decode(req.body(), {.max_depth = 64, .allow_batch = batch_ok});
    session->conn->receive(std::move(decoded), rs);
    // Priming (SEP-1699) only for sessions that speak 2025-11-25, whose clients expect it.
    bool priming_capable = session->conn->protocol_version() == "2025-11-25";
    bool streamed = false;
    bool keep =
        co_await legacy_answer(stream, req, rs, std::move(headers), priming_capable, streamed);
    if (!streamed) {
      // Answered with plain JSON or 202: the client got no event id, so it can never resume
      // this stream. Keeping it cost every idle session its initialize result.
      std::lock_guard lk(session->mu);
      session->streams.erase(rs->id());
    }
    when_answered(stream, [session] {
      --session->busy;
      session->touch();
    });
    co_return keep;
  }

  template <class Stream>
  awaitable<bool> legacy_answer(Stream& stream, const request_t& req,
                                std::shared_ptr<response_stream> rs,
                                std::vector<std::pair<std::string, std::string>> headers,
                                bool priming_capable, bool& streamed) {
    std::shared_ptr<wakeup> wake;  // see attach_first
    response_stream::batch first;
    for (;;) {
      first = rs->poll(0);
      if (!first.events.empty() || first.accepted || first.disconnect || stopping) break;
      if (attach_first(wake, *rs, co_await net::this_coro::executor)) continue;
      co_await wake->wait(opts.keepalive_interval);
    }
    if (wake) rs->detach();
    if (first.events.empty() && first.accepted)
      co_return co_await write_plain(stream, req.version(), http::status::accepted, "",
                                     req.keep_alive(), "", &req, std::move(headers));
    if (first.events.size() == 1 && first.events[0].final && !first.disconnect) {
      auto& e = first.events[0];
      // Transport-level failures (unparseable body) are 400; JSON-RPC answers are 200.
      bool transport_error = e.code == -32700;
      co_return co_await write_plain(
          stream, req.version(), transport_error ? http::status::bad_request : http::status::ok,
          std::move(e.data), req.keep_alive(), "application/json", &req, std::move(headers));
    }
    streamed = true;
    std::string pending = sse_head(stream, req, std::move(headers));
    if (priming_capable) append_chunk(pending, priming_event(*rs, 0));
    // SEP-1699: the handler asked to close the stream; everything after the
    // priming event waits in the stream for a GET with Last-Event-ID.
    if (first.disconnect && priming_capable) {
      pending += last_chunk;
      co_return co_await write_raw(stream, pending) && req.keep_alive();
    }
    sse_plan plan;
    plan.rs = rs;
    plan.pending = std::move(pending);
    plan.with_ids = true;
    plan.allow_disconnect = priming_capable;
    defer_sse(stream, std::move(plan));
    co_return true;
  }

  static bool claims_modern_version(const request_t& req) {
    auto v = find_field(req, "mcp-protocol-version");
    return v && protocol::is_modern_version(std::string(*v));
  }

  // GET and DELETE belong to legacy sessions: 405 for requests claiming 2026-07-28.
  template <class Stream>
  awaitable<bool> reject_modern(Stream& stream, const request_t& req, std::string_view why) {
    headers_t allow{{"Allow", "POST"}};
    co_return co_await write_plain(stream, req.version(), http::status::method_not_allowed,
                                   error_body(-32000, "Method not allowed: " + std::string(why)),
                                   req.keep_alive(), "application/json", &req, std::move(allow));
  }

  template <class Stream>
  awaitable<bool> mcp_get(Stream& stream, const request_t& req, server::server& esrv) {
    if (claims_modern_version(req))
      co_return co_await reject_modern(stream, req, "2026-07-28 has no GET stream");
    if (!header_lists(field_of(req, http::field::accept), "text/event-stream"))
      co_return co_await reject(stream, req, http::status::not_acceptable, -32000,
                                "Not Acceptable: Accept must list text/event-stream");
    auto sid = find_field(req, "mcp-session-id");
    if (!sid)
      co_return co_await reject(stream, req, http::status::bad_request, -32000,
                                "Bad Request: Mcp-Session-Id header is required");
    auto session = find_session(*sid);
    if (!session || session->sse_transport || session->owner != &esrv)
      co_return co_await reject(stream, req, http::status::not_found, -32001, "Session not found");
    if (auto* m = meter_of(stream)) m->session_id = session->id;
    session->touch();
    std::shared_ptr<response_stream> rs = session->standalone;
    std::uint64_t after = 0;
    if (auto last = find_field(req, "last-event-id")) {
      std::string_view l = *last;
      auto dash = l.rfind('-');
      std::string stream_id(l.substr(0, dash));
      std::uint64_t seq = 0;
      if (dash != std::string_view::npos)
        std::from_chars(l.data() + dash + 1, l.data() + l.size(), seq);
      std::lock_guard lk(session->mu);
      if (auto it = session->streams.find(stream_id); it != session->streams.end()) {
        rs = it->second;
        after = seq;
      } else if (stream_id == "0") {
        after = seq;
      }
    } else if (rs->attached()) {
      co_return co_await reject(stream, req, http::status::conflict, -32000,
                                "Conflict: only one GET stream per session");
    }
    ++session->busy;
    bool resumable = session->conn->protocol_version() == "2025-11-25";
    sse_plan plan;
    plan.pending = sse_head(stream, req, headers_t{{"Mcp-Session-Id", session->id}});
    if (resumable) append_chunk(plan.pending, priming_event(*rs, after));
    plan.rs = std::move(rs);
    plan.after = after;
    plan.with_ids = true;
    plan.allow_disconnect = resumable;
    plan.on_done = [session] {
      --session->busy;
      session->touch();
    };
    defer_sse(stream, std::move(plan));
    co_return true;
  }

  template <class Stream>
  awaitable<bool> mcp_delete(Stream& stream, const request_t& req, server::server& esrv) {
    if (claims_modern_version(req))
      co_return co_await reject_modern(stream, req, "2026-07-28 has no sessions");
    auto sid = find_field(req, "mcp-session-id");
    if (!sid)
      co_return co_await reject(stream, req, http::status::bad_request, -32000,
                                "Bad Request: Mcp-Session-Id header is required");
    auto session = find_session(*sid);
    if (!session || session->owner != &esrv)
      co_return co_await reject(stream, req, http::status::not_found, -32001, "Session not found");
    if (auto* m = meter_of(stream)) m->session_id = session->id;
    remove_session(std::string(*sid));
    co_return co_await write_plain(stream, req.version(), http::status::ok, "", req.keep_alive(),
                                   "", &req);
  }

  // ---- 2024-11-05 HTTP+SSE -----------------------------------------------------------

  template <class Stream>
  awaitable<bool> sse_get(Stream& stream, const request_t& req) {
    auto session = create_session(true, srv);
    if (!session)
      co_return co_await reject(stream, req, http::status::service_unavailable, -32000,
                                "Service Unavailable: too many sessions");
    ++session->busy;
    sse_plan plan;
    plan.pending = sse_head(stream, req, headers_t{});
    append_chunk(plan.pending, sse_event("/messages?sessionId=" + session->id, "", "endpoint"));
    plan.rs = session->standalone;
    plan.keep_alive = false;  // the stream is the session: it ends with the connection
    plan.on_done = [this, session] {
      --session->busy;
      remove_session(session->id);  // the stream is the session
    };
    defer_sse(stream, std::move(plan));
    co_return false;
  }

  template <class Stream>
  awaitable<bool> sse_post(Stream& stream, const request_t& req, std::string_view target) {
    auto u = boost::urls::parse_origin_form(target);
    std::string sid;
    if (u) {
      auto params = u->params();
      if (auto it = params.find("sessionId"); it != params.end()) sid = (*it).value;
    }
    auto session = sid.empty() ? nullptr : find_session(sid);
    if (!session || !session->sse_transport)
      co_return co_await reject(stream, req, http::status::not_found, -32001, "Session not found");
    if (!header_lists(field_of(req, http::field::content_type), "application/json"))
      co_return co_await reject(stream, req, http::status::unsupported_media_type, -32000,
                                "Unsupported Media Type: Content-Type must be application/json");
    if (auto* m = meter_of(stream)) m->session_id = session->id;
    session->touch();
    session->conn->receive(req.body());  // answers travel on the SSE stream
    co_return co_await write_plain(stream, req.version(), http::status::accepted, "Accepted",
                                   req.keep_alive(), "text/plain", &req);
  }

  // ---- WebSocket -------------------------------------------------------------------

  template <class Stream>
  awaitable<void> serve_websocket(std::shared_ptr<impl> self, Stream stream, request_t req,
                                  bool unix_peer, server::server& esrv) {
    if (auto why = security_rejection(req, unix_peer)) {
      co_await write_plain(stream, req.version(), http::status::forbidden, error_body(-32000, *why),
                           false, "application/json", &req);
      co_return;
    }
    websocket::stream<Stream> ws(std::move(stream));
    ws.read_message_max(opts.max_body_bytes);
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    bool offers_mcp = false;
    for (auto part :
         std::string_view(req[http::field::sec_websocket_protocol]) | std::views::split(',')) {
      std::string_view p(part.begin(), part.end());
      while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
      while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
      offers_mcp |= p == "mcp";
    }
    ws.set_option(websocket::stream_base::decorator([offers_mcp](websocket::response_type& res) {
      res.set(http::field::server, "plexus/" PLEXUS_VERSION);
      if (offers_mcp) res.set(http::field::sec_websocket_protocol, "mcp");
    }));
    auto [aec] = co_await ws.async_accept(req, as_tuple);
    if (aec) co_return;
    ws.text(true);
    auto out = std::make_shared<response_stream>("", false, opts.max_stream_events * 4);
    auto conn = std::make_shared<server::connection>(
        esrv, out, server::connection_options{opts.max_body_bytes});
    auto ex = co_await net::this_coro::executor;
    auto wake = std::make_shared<wakeup>(ex);
    out->attach(wake->notifier());
    auto done = std::make_shared<std::atomic<bool>>(false);
    // Writer: drains the outbound queue into text frames.
    net::co_spawn(
        ex,
        [&ws, out, wake, done]() -> awaitable<void> {
          for (;;) {
            auto b = out->poll(0);
            for (auto& e : b.events) {
              if (e.data.empty()) continue;
              auto [ec, n] = co_await ws.async_write(net::buffer(e.data), as_tuple);
              if (ec) {
                done->store(true);
                co_return;
              }
            }
            if (done->load() || b.overflowed) co_return;
            co_await wake->wait(std::chrono::seconds(5));
          }
        },
        net::detached);
    beast::flat_buffer buf;
    for (;;) {
      auto [ec, n] = co_await ws.async_read(buf, as_tuple);
      if (ec || self->stopping) break;
      if (!ws.got_text()) {
        out->send(error_body(-32700, "Parse error: binary frames are not JSON-RPC"));
      } else {
        conn->receive(std::string_view(static_cast<const char*>(buf.data().data()), buf.size()));
      }
      buf.consume(buf.size());
    }
    done->store(true);
    wake->notify();
    conn->close();
    out->detach();
    // Let the writer observe `done` before the stream goes away.
    net::steady_timer t(ex);
    t.expires_after(20ms);
    co_await t.async_wait(as_tuple);
  }
};

http_server::http_server(server::server& srv, http_server_options options)
    : impl_(std::make_shared<impl>(srv, std::move(options))) {}

http_server::~http_server() {
  if (!impl_->stopping) stop(std::chrono::milliseconds(500));
}

std::optional<std::string_view> http_request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return std::string_view(v);
  return std::nullopt;
}

void http_server::add_endpoint(std::string path, server::server& srv) {
  if (impl_->started) throw std::logic_error("http server: add_endpoint after start()");
  if (path.empty() || path.front() != '/')
    throw std::logic_error("http server: endpoint path must start with '/': " + path);
  if (path == "/ws" || path == "/sse" || path == "/messages" || impl_->endpoints.contains(path))
    throw std::logic_error("http server: endpoint path already taken: " + path);
  impl_->endpoints.emplace(std::move(path), &srv);
}

void http_server::add_route(std::string method, std::string path_prefix, route_handler handler) {
  if (impl_->started) throw std::logic_error("http server: add_route after start()");
  if (method.empty() || path_prefix.empty() || path_prefix.front() != '/' || !handler)
    throw std::logic_error("http server: invalid route " + method + " " + path_prefix);
  impl_->routes.push_back({std::move(method), std::move(path_prefix), std::move(handler)});
}

void http_server::start() {
  try {
    impl_->start();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("http server: ") + e.what());
  }
}

std::uint16_t http_server::port() const {
  return impl_->bound_port;
}

void http_server::stop(std::chrono::milliseconds grace) {
  impl_->stop(grace);
}

void http_server::wait() {
  impl_->wait();
}

void block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_shutdown_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace plexus::transport
