// MCP over HTTP, client side. Each request is its own exchange (blocking Beast
// I/O on a thread of its own once the answer turns out to be a stream).
#include "plexus/client/transport.hpp"

#include "client/tls_context.hpp"
#include "plexus/core/base64.hpp"
#include "plexus/protocol/versions.hpp"
#include "plexus/transport/sse.hpp"
#include "transport/mcp_http.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <sys/socket.h>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace plexus::client {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

bool needs_base64(std::string_view v) {
  if (v.empty()) return false;
  if (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t') return true;
  if (v.starts_with("=?base64?") && v.ends_with("?=")) return true;
  for (unsigned char c : v)
    if (c < 0x20 || c >= 0x7f) return true;
  return false;
}

std::string header_value(std::string_view v) {
  return needs_base64(v) ? "=?base64?" + base64::encode(v) + "?=" : std::string(v);
}

using transport::mcp_http::is_token;  // RFC 9110 token: the rule the server checks too

// x-mcp-header declarations of a tool: header name -> property path. Invalid
// declarations make the tool unusable over HTTP (the spec says: drop it).
std::optional<std::vector<std::pair<std::string, std::vector<std::string>>>> header_params(
    const json::object& input_schema, std::string& why) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  std::set<std::string> seen;
  std::vector<std::string> path;
  std::function<bool(const json::object&)> walk = [&](const json::object& schema) -> bool {
    auto props = json::find_object(schema, "properties");
    if (!props) return true;
    for (const auto& kv : *props) {
      if (!kv.value().is_object()) continue;
      const auto& p = kv.value().get_object();
      path.emplace_back(kv.key());
      if (auto it = p.find("x-mcp-header"); it != p.end()) {
        if (!it->value().is_string() || !is_token(it->value().get_string())) {
          why = "invalid x-mcp-header on " + std::string(kv.key());
          return false;
        }
        std::string name(it->value().get_string());
        std::string lower = name;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!seen.insert(lower).second) {
          why = "duplicate x-mcp-header " + name;
          return false;
        }
        auto type = json::find_string(p, "type");
        if (!type || (*type != "string" && *type != "integer" && *type != "boolean")) {
          why = "x-mcp-header " + name + " on a property that is not string, integer or boolean";
          return false;
        }
        out.emplace_back(name, path);
      }
      if (!walk(p)) return false;
      path.pop_back();
    }
    return true;
  };
  if (!walk(input_schema)) return std::nullopt;
  return out;
}

const json::value* at_path(const json::object& args, const std::vector<std::string>& path) {
  const json::object* o = &args;
  const json::value* v = nullptr;
  for (std::size_t i = 0; i < path.size(); ++i) {
    auto it = o->find(path[i]);
    if (it == o->end()) return nullptr;
    v = &it->value();
    if (i + 1 < path.size()) {
      if (!v->is_object()) return nullptr;
      o = &v->get_object();
    }
  }
  return v;
}

struct endpoint {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;
};

endpoint parse_endpoint(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) throw std::invalid_argument("invalid URL: " + url);
  endpoint e;
  if (u->scheme() == "https")
    e.tls = true;
  else if (u->scheme() != "http")
    throw std::invalid_argument("unsupported URL scheme (http or https): " + url);
  e.host = u->host();
  if (e.host.size() > 2 && e.host.front() == '[') e.host = e.host.substr(1, e.host.size() - 2);
  e.port = u->has_port() ? std::string(u->port()) : (e.tls ? "443" : "80");
  e.target = u->encoded_target().empty() ? "/" : std::string(u->encoded_target());
  return e;
}

// One HTTP connection (plain or TLS), blocking.
class connection {
 public:
  connection(net::io_context& ioc, ssl::context* tls) : tcp_(ioc) {
    if (tls) ssl_.emplace(tcp_, *tls);
  }
  void connect(const endpoint& e, std::chrono::milliseconds timeout) {
    tcp::resolver resolver(tcp_.get_executor());
    auto results = resolver.resolve(e.host, e.port);
    tcp_.socket().close();
    net::connect(tcp_.socket(), results);
    tcp_.socket().set_option(tcp::no_delay(true));
    (void)timeout;
    if (ssl_) {
      if (!SSL_set_tlsext_host_name(ssl_->native_handle(), e.host.c_str()))
        throw std::runtime_error("TLS: cannot set SNI");
      ssl_->set_verify_callback(ssl::host_name_verification(e.host));
      ssl_->handshake(ssl::stream_base::client);
    }
  }
  template <class Msg>
  void write(Msg& m) {
    on_stream([&](auto& s) { http::write(s, m); });
  }
  template <class Parser>
  void read_header(beast::flat_buffer& b, Parser& p) {
    on_stream([&](auto& s) { http::read_header(s, b, p); });
  }
  template <class Parser>
  void read(beast::flat_buffer& b, Parser& p) {
    on_stream([&](auto& s) { http::read(s, b, p); });
  }
  template <class Parser>
  std::size_t read_some(beast::flat_buffer& b, Parser& p, beast::error_code& ec) {
    return on_stream([&](auto& s) { return http::read_some(s, b, p, ec); });
  }
  // Asynchronous use (handlers run on the io_context's thread). Beast's composed HTTP reads
  // and writes are not used there: they post their completion even when the bytes were
  // already buffered or written, a scheduler round trip and a dozen executor copies per
  // step, and its serializer cost more than the request it wrote (see http_transport's
  // post_async).

  // Writes what a plain socket takes at once without waiting, and returns how much that was
  // (0 for TLS, whose bytes are not the socket's). Errors are left to the asynchronous write
  // of the rest, which meets them again. MSG_DONTWAIT leaves the socket blocking for the
  // synchronous exchanges that may use this connection next.
  std::size_t write_now(std::string_view bytes) {
    if (ssl_) return 0;
    ssize_t n;
    do
      n = ::send(tcp_.socket().native_handle(), bytes.data(), bytes.size(),
                 MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  // Bytes already framed, asynchronously: all of them, or an error.
  template <class Handler>
  void async_write_bytes(std::string_view bytes, Handler&& h) {
    on_stream([&](auto& s) { net::async_write(s, net::buffer(bytes), std::forward<Handler>(h)); });
  }
  // What the connection has now, up to `max` bytes, into `b` (committed by the handler).
  template <class Handler>
  void async_read_bytes(beast::flat_buffer& b, std::size_t max, Handler&& h) {
    on_stream([&](auto& s) { s.async_read_some(b.prepare(max), std::forward<Handler>(h)); });
  }
  // Unblocks a reader on another thread.
  void abort() {
    beast::error_code ec;
    tcp_.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

 private:
  // Runs `f` on the stream a message goes through: TLS over TCP, or TCP.
  template <class F>
  decltype(auto) on_stream(F&& f) {
    if (ssl_) return f(*ssl_);
    return f(tcp_);
  }

  beast::tcp_stream tcp_;
  std::optional<ssl::stream<beast::tcp_stream&>> ssl_;
};

}  // namespace

// Runs each task on a thread of its own, reusing threads whose task finished:
// creating a thread per request cost more than a request to a local upstream. Idle
// threads wait 10 s for another task, then exit. Process-wide, never destroyed
// (detached threads may still be finishing at exit).
class thread_cache {
 public:
  static thread_cache& instance() {
    static auto* c = new thread_cache;
    return *c;
  }
  void run(std::function<void()> task) {
    {
      std::lock_guard lk(mu_);
      if (idle_ > 0) {
        --idle_;
        tasks_.push_back(std::move(task));
        cv_.notify_one();
        return;
      }
    }
    std::thread([this, t = std::move(task)]() mutable { loop(std::move(t)); }).detach();
  }

 private:
  void loop(std::function<void()> task) {
    for (;;) {
      task();
      task = nullptr;
      std::unique_lock lk(mu_);
      ++idle_;
      if (!cv_.wait_for(lk, std::chrono::seconds(10), [&] { return !tasks_.empty(); })) {
        --idle_;
        return;
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::size_t idle_ = 0;
};

class http_transport : public client_transport,
                       public std::enable_shared_from_this<http_transport> {
 public:
  http_transport(std::string url, http_transport_options o)
      : url_(std::move(url)), ep_(parse_endpoint(url_)), opts_(std::move(o)) {
    if (ep_.tls) {
      tls_.emplace(ssl::context::tls_client);
      detail::configure_client_tls(
          *tls_, {opts_.verify_tls, opts_.ca_file, opts_.client_cert_file, opts_.client_key_file});
    }
  }
  ~http_transport() override { close(); }

  void start(inbound on_message, closed on_closed) override {
    on_message_ = std::move(on_message);
    on_closed_ = std::move(on_closed);
  }

  std::string describe() const override { return url_; }

  std::optional<transport_error> send(const json::object& message) override {
    if (closing_) return transport_error{"the transport is closed"};
    auto method = json::find_string(message, "method");
    const json::object empty;
    auto params = json::find_object(message, "params");
    bool modern = false;
    if (params)
      if (auto meta = json::find_object(*params, "_meta"))
        if (auto v = json::find_string(*meta, protocol::meta::protocol_version))
          modern = protocol::is_modern_version(*v);
    // 2026-07-28 cancels by closing the request's stream.
    if (method && *method == "notifications/cancelled" && !session_active()) {
      if (params)
        if (auto id = params->find("requestId"); id != params->end())
          abort_stream(json::dump(id->value()));
      return std::nullopt;
    }
    if (sse_mode_) return post_legacy_sse(message);
    std::string m = method ? std::string(*method) : std::string();
    auto id = message.find("id");
    if (method && id != message.end()) {
      // A request waits for its answer on a thread of its own, so that the client's
      // timeout and cancellation hold even while a plain JSON answer is pending.
      auto self = shared_from_this();
      ++active_;
      thread_cache::instance().run(
          [self, message, m, params = params ? *params : empty, modern, idv = id->value()] {
            if (auto err = self->post(message, m, params, modern)) self->deliver_error(idv, *err);
            if (--self->active_ == 0) {
              std::lock_guard lk(self->mu_);
              self->idle_.notify_all();
            }
          });
      return std::nullopt;
    }
    return post(message, m, params ? *params : empty, modern);
  }

  // A 2026-07-28 request is posted from a thread of its own (see send): it never waits.
  // Legacy sessions stay with send(), whose caller re-initializes a session the server lost.
  bool try_send(const json::object& message) override {
    if (closing_ || sse_mode_ || session_active() || !message.contains("id")) return false;
    auto method = json::find_string(message, "method");
    auto params = json::find_object(message, "params");
    auto meta = params ? json::find_object(*params, "_meta") : nullptr;
    auto version = meta ? json::find_string(*meta, protocol::meta::protocol_version) : nullptr;
    if (!method || !version || !protocol::is_modern_version(*version)) return false;
    // Not with an auth hook: it may refresh a token over the network, which must not
    // happen on the caller's thread (a gateway's I/O thread).
    if (auto conn = opts_.auth ? nullptr : take_idle()) {
      post_async(message, std::string(*method), *params, std::move(conn));
      return true;
    }
    return !send(message);  // a new connection is made (blocking) on a thread of its own
  }

  // A failed exchange becomes the request's error answer: the server's JSON-RPC
  // error when the HTTP body carried one, else a transport error.
  void deliver_error(const json::value& id, const transport_error& err) {
    json::object e;
    if (err.body && err.body->is_object())
      if (auto be = json::find_object(err.body->get_object(), "error")) e = *be;
    if (e.empty()) {
      json::object data{{"transportError", true}, {"httpStatus", err.http_status}};
      if (err.body) data["body"] = *err.body;
      e = {{"code", -32000}, {"message", err.message}, {"data", std::move(data)}};
    }
    json::value answer = json::object{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(e)}};
    deliver(answer);
  }

  void reset_session() override {
    std::lock_guard lk(mu_);
    session_id_.clear();
    legacy_version_.clear();
  }

  void close() override {
    if (closing_.exchange(true)) return;
    std::string sid;
    {
      std::lock_guard lk(mu_);
      sid = session_id_;
    }
    if (!sid.empty() && !sse_mode_) {
      try {  // end the legacy session politely
        net::io_context ioc;
        connection c(ioc, tls_ ? &*tls_ : nullptr);
        c.connect(ep_, opts_.connect_timeout);
        http::request<http::empty_body> req{http::verb::delete_, ep_.target, 11};
        base_headers(req);
        req.set("Mcp-Session-Id", sid);
        c.write(req);
        beast::flat_buffer b;
        http::response_parser<http::string_body> p;
        p.body_limit(64 * 1024);
        c.read(b, p);
      } catch (const std::exception&) {
      }
    }
    std::vector<std::shared_ptr<connection>> open;
    {
      std::lock_guard lk(mu_);
      for (auto& [k, c] : streams_) open.push_back(c);
      if (get_conn_) open.push_back(get_conn_);
      for (auto& c : idle_conns_) open.push_back(c);
      idle_conns_.clear();
    }
    for (auto& c : open) c->abort();
    // On the I/O thread (the last owner let go from an answer's handler) the asynchronous
    // exchanges cannot end while it waits here: they end after it returns (each holds the
    // transport).
    if (!on_io_thread()) {
      std::unique_lock lk(mu_);
      idle_.wait_for(lk, std::chrono::seconds(5), [&] { return active_.load() == 0; });
    }
    std::vector<std::thread> threads;
    {
      std::lock_guard lk(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads)
      if (t.joinable()) t.join();
    if (io_thread_.joinable()) {
      io_work_.reset();
      ioc_.stop();
      if (io_thread_.get_id() == std::this_thread::get_id())
        io_thread_.detach();  // the last owner let go from an answer's handler
      else
        io_thread_.join();
    }
  }

 private:
  bool on_io_thread() const { return io_thread_id_.load() == std::this_thread::get_id(); }

  template <class Req>
  void base_headers(Req& req) {
    req.set(http::field::host, ep_.host + ":" + ep_.port);
    req.set(http::field::user_agent, "plexus/" PLEXUS_VERSION);
    for (const auto& [k, v] : opts_.headers) req.set(k, v);
    if (opts_.auth && opts_.auth->headers)
      for (const auto& [k, v] : opts_.auth->headers(std::string(req.method_string()), url_))
        req.set(k, v);
  }

  template <class Res>
  static std::map<std::string, std::string> header_map(const Res& res) {
    std::map<std::string, std::string> out;
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto [it, inserted] = out.emplace(name, std::string(f.value()));
      if (!inserted) it->second += ", " + std::string(f.value());
    }
    return out;
  }

  bool session_active() {
    std::lock_guard lk(mu_);
    return !session_id_.empty();
  }

  void deliver(json::value& v) {
    if (v.is_object()) observe(v.get_object());
    if (on_message_) on_message_(v);
  }

  // Watches answers go by: tools/list results teach the x-mcp-header mapping (and
  // tools with invalid declarations are dropped); initialize results carry the
  // negotiated version.
  void observe(const json::object& msg) {
    auto id = msg.find("id");
    if (id == msg.end()) return;
    std::string method;
    {
      std::lock_guard lk(mu_);
      auto it = methods_.find(json::dump(id->value()));
      if (it == methods_.end()) return;
      method = it->second;
      methods_.erase(it);
    }
    auto result = json::find_object(msg, "result");
    if (!result) return;
    if (method == "initialize") {
      if (auto v = json::find_string(*result, "protocolVersion")) {
        std::lock_guard lk(mu_);
        legacy_version_ = std::string(*v);
      }
    } else if (method == "tools/list") {
      auto tools = json::find_array(*result, "tools");
      if (!tools) return;
      json::array& mutable_tools = const_cast<json::array&>(*tools);
      for (auto it = mutable_tools.begin(); it != mutable_tools.end();) {
        if (!it->is_object()) {
          ++it;
          continue;
        }
        auto name = json::find_string(it->get_object(), "name");
        auto schema = json::find_object(it->get_object(), "inputSchema");
        std::string why;
        auto params =
            schema ? header_params(*schema, why)
                   : std::optional<std::vector<std::pair<std::string, std::vector<std::string>>>>{
                         std::vector<std::pair<std::string, std::vector<std::string>>>{}};
        if (!params) {
          spdlog::warn("{}: dropping tool {}: {}", url_, name ? std::string(*name) : "?", why);
          it = mutable_tools.erase(it);
          continue;
        }
        if (name) {
          std::lock_guard lk(mu_);
          tool_headers_[std::string(*name)] = std::move(*params);
        }
        ++it;
      }
    }
  }

  // One request posted on a kept-alive connection without a thread waiting for it: the
  // write starts on the caller's thread, the answer is read on the transport's I/O thread.
  // A 2026-07-28 request only (no session to re-establish), and no auth hook (no
  // challenges). A stream answer is read on a thread of its own, as post() does; a
  // connection the server had closed sends the request again through post().
  struct async_exchange {
    std::shared_ptr<http_transport> self;
    std::shared_ptr<connection> conn;
    json::object message;
    std::string method;
    std::string id_key;
    json::value id;
    std::string request;  // the bytes on the wire
    std::shared_ptr<beast::flat_buffer> buffer = std::make_shared<beast::flat_buffer>();
    std::shared_ptr<http::response_parser<http::buffer_body>> parser =
        std::make_shared<http::response_parser<http::buffer_body>>();
    bool header_seen = false;
    std::string body;
    char chunk[16 * 1024];
    // User-provided: make_shared value-initializes, which would zero `chunk` (16 KiB) for
    // every request; it is only ever written before it is read.
    async_exchange() {}
  };

  void post_async(const json::object& message, std::string method, const json::object& params,
                  std::shared_ptr<connection> conn) {
    std::call_once(io_started_, [this] {
      io_work_.emplace(net::make_work_guard(ioc_));
      // The thread holds the transport: it may be the one that lets it go (from an answer's
      // handler), and then the io_context must outlive its run().
      io_thread_ = std::thread([self = shared_from_this()] {
        self->io_thread_id_ = std::this_thread::get_id();
        self->ioc_.run();
      });
    });
    auto x = std::make_shared<async_exchange>();
    x->self = shared_from_this();
    x->conn = std::move(conn);
    x->message = message;
    x->method = std::move(method);
    x->id = message.at("id");
    x->id_key = json::dump(x->id);
    {
      std::lock_guard lk(mu_);
      methods_[x->id_key] = x->method;
      streams_[x->id_key] = x->conn;  // closing it cancels the request
    }
    ++active_;
    x->request = request_bytes(post_request(x->message, x->method, params, true));
    x->parser->body_limit(boost::none);
    x->parser->eager(false);
    std::string_view rest = x->request;
    rest.remove_prefix(x->conn->write_now(rest));
    if (rest.empty()) return async_read_answer(x);
    x->conn->async_write_bytes(rest, [x](beast::error_code ec, std::size_t) {
      if (ec) return x->self->async_failed(x);
      x->self->async_read_answer(x);
    });
  }

  // A request with a complete body as Beast would write it: the head, then the body.
  static std::string request_bytes(const http::request<http::string_body>& req) {
    std::string out;
    out.reserve(256 + req.body().size());
    out.append(req.method_string()).append(" ").append(req.target()).append(" HTTP/1.1\r\n");
    for (const auto& f : req)
      out.append(f.name_string()).append(": ").append(f.value()).append("\r\n");
    out.append("\r\n").append(req.body());
    return out;
  }

  // Reads the answer of an asynchronous exchange: the bytes already buffered are parsed
  // first, and the connection is read only for what is missing.
  void async_read_answer(const std::shared_ptr<async_exchange>& x) {
    auto& parser = *x->parser;
    auto& buffer = *x->buffer;
    for (;;) {
      if (parser.is_header_done() && !x->header_seen) {
        x->header_seen = true;
        if (!async_header(x)) return;  // answered, or the answer streams
      }
      if (parser.is_done())
        return async_done(x,
                          complete_answer(x->conn, parser, x->body, x->message, x->method, true));
      if (buffer.size() == 0) break;
      beast::error_code ec;
      std::size_t used;
      if (x->header_seen) {
        auto& body = parser.get().body();
        body.data = x->chunk;
        body.size = sizeof x->chunk;
        used = parser.put(buffer.data(), ec);
        x->body.append(x->chunk, sizeof x->chunk - body.size);
        if (ec == http::error::need_buffer) ec = {};
        if (!ec && x->body.size() > opts_.max_message_bytes) ec = http::error::body_limit;
      } else {
        used = parser.put(buffer.data(), ec);
      }
      buffer.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) return async_read_failed(x, ec);
      if (used == 0) break;
    }
    // A body that did not come with its head is read in large pieces: read_size alone would
    // read 512 bytes at a time from a buffer that the parser keeps empty.
    auto size = x->header_seen ? std::size_t{65536} : beast::read_size(buffer, 65536);
    x->conn->async_read_bytes(buffer, size, [x](beast::error_code ec, std::size_t n) {
      x->buffer->commit(n);
      auto& parser = *x->parser;
      // The end of a body that ends with the connection, or partial_message.
      if (ec == net::error::eof && parser.got_some()) parser.put_eof(ec);
      if (ec) return x->self->async_read_failed(x, ec);
      x->self->async_read_answer(x);
    });
  }

  void async_read_failed(const std::shared_ptr<async_exchange>& x, beast::error_code ec) {
    if (!answer_began(*x->parser, *x->buffer)) return async_failed(x);
    int status = static_cast<int>(x->parser->get().result_int());
    async_done(x, transport_error{"reading the answer failed: " + ec.message(), status});
  }

  // The head of an asynchronous exchange's answer is in: false when that was all (202), or
  // when the answer streams and its reader took the exchange over.
  bool async_header(const std::shared_ptr<async_exchange>& x) {
    auto& res = x->parser->get();
    int status = static_cast<int>(res.result_int());
    if (status == 202) {
      async_done(x, std::nullopt);
      return false;
    }
    std::string content_type(res[http::field::content_type]);
    if (content_type.find("text/event-stream") != std::string::npos && status == 200) {
      stream_answer(x->conn, x->buffer, x->parser, x->id_key, x->method, true);
      async_done(x, std::nullopt, false);
      return false;
    }
    return true;
  }

  // The write or the header failed: the server had closed the kept-alive connection, and
  // the request was not processed. Unless cancelled or closing, post() sends it again on a
  // fresh connection.
  void async_failed(const std::shared_ptr<async_exchange>& x) {
    bool cancelled;
    {
      std::lock_guard lk(mu_);
      cancelled = aborted_.count(x->id_key) > 0;
    }
    if (closing_ || cancelled)
      return async_done(
          x, transport_error{cancelled ? "the request was cancelled" : "the transport is closed"});
    auto self = x->self;
    thread_cache::instance().run([self, x] {
      if (auto err = self->post(x->message, x->method, x->message.at("params").as_object(), true))
        self->deliver_error(x->id, *err);
      self->async_done(x, std::nullopt, false);
    });
  }

  // A request's exchange on `conn` ended: its cancellation entry goes (unless `unregister`
  // is false: a stream reader or post() owns it now, or the answer streams), and so does
  // the note that it was cancelled.
  void forget_exchange(const std::string& id_key, const std::shared_ptr<connection>& conn,
                       bool unregister) {
    std::lock_guard lk(mu_);
    if (unregister) {
      auto it = streams_.find(id_key);
      if (it != streams_.end() && it->second == conn && !streaming_.count(id_key))
        streams_.erase(it);
    }
    aborted_.erase(id_key);
  }

  // The end of an asynchronous exchange; `unregister` false when the stream reader (or
  // post()) owns the request's entry now.
  void async_done(const std::shared_ptr<async_exchange>& x, std::optional<transport_error> err,
                  bool unregister = true) {
    if (err) deliver_error(x->id, *err);
    forget_exchange(x->id_key, x->conn, unregister);
    if (--active_ == 0) {
      std::lock_guard lk(mu_);
      idle_.notify_all();
    }
  }

  std::optional<transport_error> post(const json::object& message, const std::string& method,
                                      const json::object& params, bool modern) {
    auto id_it = message.find("id");
    std::string id_key = id_it != message.end() ? json::dump(id_it->value()) : std::string();
    if (!id_key.empty() && !method.empty()) {
      std::lock_guard lk(mu_);
      methods_[id_key] = method;
    }
    // A kept-alive connection when one is idle: a gateway calling the same upstream
    // again must not pay a TCP (and TLS) handshake per call.
    auto conn = take_idle();
    bool reused = conn != nullptr;
    if (!conn) conn = std::make_shared<connection>(ioc_, tls_ ? &*tls_ : nullptr);
    if (!id_key.empty()) {  // closing it cancels the request (2026-07-28), also before headers
      std::lock_guard lk(mu_);
      streams_[id_key] = conn;
    }
    struct unregister {
      http_transport* t;
      const std::string& key;
      std::shared_ptr<connection>* current;
      ~unregister() {
        if (!key.empty()) t->forget_exchange(key, *current, true);
      }
    } unreg{this, id_key, &conn};
    auto req = post_request(message, method, params, modern);

    auto buffer = std::make_shared<beast::flat_buffer>();
    auto parser = std::make_shared<http::response_parser<http::buffer_body>>();
    int status = 0;
    for (int attempt = 0;; ++attempt) {
      parser->body_limit(boost::none);
      try {
        if (!reused) conn->connect(ep_, opts_.connect_timeout);
        conn->write(req);
        conn->read_header(*buffer, *parser);
      } catch (const std::exception& e) {
        if (answer_began(*parser, *buffer))
          return transport_error{std::string("reading the answer failed: ") + e.what()};
        if (!reused || closing_ || was_aborted(id_key))
          return transport_error{std::string("cannot reach ") + url_ + ": " + e.what()};
        // The server closed the idle connection before it read this request: the
        // request was not processed, so it goes again on a fresh connection.
        reused = false;
        conn = std::make_shared<connection>(ioc_, tls_ ? &*tls_ : nullptr);
        buffer = std::make_shared<beast::flat_buffer>();
        parser = std::make_shared<http::response_parser<http::buffer_body>>();
        if (!id_key.empty()) {
          std::lock_guard lk(mu_);
          streams_[id_key] = conn;
        }
        --attempt;
        continue;
      }
      status = static_cast<int>(parser->get().result_int());
      bool challenge = status == 401 || status == 403 ||
                       (status == 400 && parser->get().find("DPoP-Nonce") != parser->get().end());
      if (!challenge || !opts_.auth || !opts_.auth->on_challenge ||
          attempt >= opts_.auth->max_retries)
        break;
      auto headers = header_map(parser->get());
      (void)read_body(*conn, *buffer, *parser);
      if (!opts_.auth->on_challenge(status, headers)) break;
      // Authenticated (or learnt a nonce): send again on a fresh connection.
      conn = std::make_shared<connection>(ioc_, tls_ ? &*tls_ : nullptr);
      buffer = std::make_shared<beast::flat_buffer>();
      parser = std::make_shared<http::response_parser<http::buffer_body>>();
      for (const auto& [k, v] : opts_.auth->headers ? opts_.auth->headers("POST", url_)
                                                    : std::map<std::string, std::string>{})
        req.set(k, v);
    }
    auto& res = parser->get();
    if (auto sid = res.find("Mcp-Session-Id"); sid != res.end() && method == "initialize") {
      std::lock_guard lk(mu_);
      session_id_ = std::string(sid->value());
    }
    std::string content_type(res[http::field::content_type]);
    if (status == 202) return std::nullopt;
    if (content_type.find("text/event-stream") != std::string::npos && status == 200) {
      stream_answer(conn, buffer, parser, id_key, method, modern);
      return std::nullopt;
    }
    // A complete body.
    auto body = read_body(*conn, *buffer, *parser);
    if (!body) return transport_error{"reading the answer failed", status};
    return complete_answer(conn, *parser, *body, message, method, modern);
  }

  // Whether a byte of an answer came before reading failed. Without one, the server had closed
  // the kept-alive connection and did not process the request, which may go again on a fresh
  // connection; with one, it did, and sending the request again would run it twice.
  static bool answer_began(const http::response_parser<http::buffer_body>& parser,
                           const beast::flat_buffer& buffer) {
    return parser.got_some() || buffer.size() > 0;
  }

  // The HTTP request that posts `message`.
  http::request<http::string_body> post_request(const json::object& message,
                                                const std::string& method,
                                                const json::object& params, bool modern) {
    http::request<http::string_body> req{http::verb::post, ep_.target, 11};
    base_headers(req);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json, text/event-stream");
    if (modern) {
      auto meta = json::find_object(params, "_meta");
      req.set("MCP-Protocol-Version",
              std::string(*json::find_string(*meta, protocol::meta::protocol_version)));
      req.set("Mcp-Method", method);
      const json::string* name = nullptr;
      if (method == "tools/call" || method == "prompts/get")
        name = json::find_string(params, "name");
      if (method == "resources/read") name = json::find_string(params, "uri");
      if (method.starts_with("tasks/")) name = json::find_string(params, "taskId");
      if (name) req.set("Mcp-Name", header_value(*name));
      if (method == "tools/call" && name) mirror_params(req, std::string(*name), params);
    } else {
      std::lock_guard lk(mu_);
      if (!session_id_.empty()) req.set("Mcp-Session-Id", session_id_);
      if (!legacy_version_.empty()) req.set("MCP-Protocol-Version", legacy_version_);
    }
    req.body() = json::dump(message);
    req.prepare_payload();
    return req;
  }

  // The answer streams (SSE): it is read on a thread of its own.
  void stream_answer(const std::shared_ptr<connection>& conn,
                     const std::shared_ptr<beast::flat_buffer>& buffer,
                     const std::shared_ptr<http::response_parser<http::buffer_body>>& parser,
                     const std::string& id_key, const std::string& method, bool modern) {
    {
      std::lock_guard lk(mu_);
      if (!id_key.empty()) {
        streams_[id_key] = conn;
        streaming_.insert(id_key);
      }
    }
    auto self = shared_from_this();
    std::lock_guard lk(mu_);
    bool initialize = method == "initialize" && !modern;
    threads_.emplace_back([self, conn, buffer, parser, id_key, modern, initialize] {
      self->read_stream(*conn, *buffer, *parser, id_key, !modern);
      if (initialize) self->maybe_open_get_stream();  // the answer came as a stream
      std::lock_guard g(self->mu_);
      self->streams_.erase(id_key);
      self->streaming_.erase(id_key);
    });
  }

  // An answer whose body was read whole: delivered, or the error it means.
  std::optional<transport_error> complete_answer(const std::shared_ptr<connection>& conn,
                                                 http::response_parser<http::buffer_body>& parser,
                                                 const std::string& body,
                                                 const json::object& message,
                                                 const std::string& method, bool modern) {
    auto& res = parser.get();
    int status = static_cast<int>(res.result_int());
    if (parser.is_done() && res.keep_alive()) give_back(conn);
    boost::system::error_code ec;
    auto v = body.empty() ? json::value() : plexus::json::parse(body, ec);
    if (!modern && method == "initialize" && (status == 400 || status == 404 || status == 405)) {
      bool modern_error = false;
      if (!ec && v.is_object())
        if (auto e = json::find_object(v.get_object(), "error"))
          if (auto code = json::find_int(*e, "code"))
            modern_error = *code == -32020 || *code == -32021 || *code == -32022;
      // Not a Streamable HTTP server: perhaps the 2024-11-05 HTTP+SSE transport.
      if (!modern_error && try_legacy_sse()) return post_legacy_sse(message);
    }
    if (status >= 400 || status < 200) {
      transport_error err{url_ + " answered HTTP " + std::to_string(status), status};
      if (!ec && !v.is_null()) err.body = v;
      err.headers = header_map(res);
      if (status == 404 && !modern && session_active()) err.message += " (session expired)";
      return err;
    }
    if (ec) return transport_error{"the answer is not JSON: " + ec.message(), status};
    if (!v.is_null()) deliver(v);
    if (method == "initialize" && !modern) maybe_open_get_stream();
    return std::nullopt;
  }

  void mirror_params(http::request<http::string_body>& req, const std::string& tool,
                     const json::object& params) {
    std::vector<std::pair<std::string, std::vector<std::string>>> decl;
    {
      std::lock_guard lk(mu_);
      auto it = tool_headers_.find(tool);
      if (it == tool_headers_.end()) return;
      decl = it->second;
    }
    auto args = json::find_object(params, "arguments");
    if (!args) return;
    for (const auto& [name, path] : decl) {
      const json::value* v = at_path(*args, path);
      if (!v || v->is_null()) continue;
      std::string text;
      if (v->is_string())
        text = std::string(v->get_string());
      else if (v->is_bool())
        text = v->get_bool() ? "true" : "false";
      else if (v->is_int64() || v->is_uint64())
        text = json::dump(*v);
      else if (v->is_double() && std::floor(v->get_double()) == v->get_double())
        text = std::to_string(static_cast<long long>(v->get_double()));
      else
        continue;
      req.set("Mcp-Param-" + name, header_value(text));
    }
  }

  // Reads the body in pieces, handing each to `on_bytes` (false: stop), while
  // `keep_going()` holds. True when the body ended normally.
  template <class OnBytes, class KeepGoing>
  static bool read_chunks(connection& c, beast::flat_buffer& buffer,
                          http::response_parser<http::buffer_body>& p, OnBytes on_bytes,
                          KeepGoing keep_going) {
    char chunk[16 * 1024];
    // Room for a chunk's worth per read: Beast reads 512 bytes at a time from a buffer whose
    // capacity is smaller, and the parser keeps this one empty.
    if (buffer.capacity() < sizeof chunk) buffer.reserve(sizeof chunk);
    while (!p.is_done() && keep_going()) {
      p.get().body().data = chunk;
      p.get().body().size = sizeof chunk;
      beast::error_code ec;
      c.read_some(buffer, p, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return false;
      if (!on_bytes(std::string_view(chunk, sizeof chunk - p.get().body().size))) return false;
    }
    return p.is_done();
  }

  // Delivers the JSON-RPC message an SSE event carries; true when it is the
  // answer to the request `id_key` (empty: none). Priming events carry nothing.
  bool deliver_event(const transport::sse_event& e, const std::string& id_key) {
    if (e.data.empty()) return false;
    boost::system::error_code ec;
    auto v = plexus::json::parse(e.data, ec);
    if (ec) {
      spdlog::warn("{}: an SSE event is not JSON", url_);
      return false;
    }
    bool answer = false;
    if (v.is_object() && !id_key.empty()) {
      const auto& o = v.get_object();
      auto it = o.find("id");
      answer = it != o.end() && json::dump(it->value()) == id_key && !o.contains("method");
    }
    delivery_scope scope(id_key);
    deliver(v);
    return answer;
  }

  std::optional<std::string> read_body(connection& c, beast::flat_buffer& buffer,
                                       http::response_parser<http::buffer_body>& p) {
    std::string body;
    bool ok = read_chunks(
        c, buffer, p,
        [&](std::string_view bytes) {
          body.append(bytes);
          return body.size() <= opts_.max_message_bytes;
        },
        [] { return true; });
    if (!ok) return std::nullopt;
    return body;
  }

  // Idle kept-alive connections (complete JSON answers only; streams are not reused).
  std::shared_ptr<connection> take_idle() {
    std::lock_guard lk(mu_);
    if (idle_conns_.empty()) return nullptr;
    auto c = std::move(idle_conns_.back());
    idle_conns_.pop_back();
    return c;
  }
  void give_back(std::shared_ptr<connection> c) {
    std::lock_guard lk(mu_);
    if (closing_ || idle_conns_.size() >= max_idle_connections) return;
    idle_conns_.push_back(std::move(c));
  }
  static constexpr std::size_t max_idle_connections = 32;

  // Reads an SSE answer until it ends; a legacy stream closed before its answer
  // is resumed with GET + Last-Event-ID after the server's `retry`.
  void read_stream(connection& c, beast::flat_buffer& buffer,
                   http::response_parser<http::buffer_body>& p, const std::string& id_key,
                   bool resumable) {
    bool answered = false;
    transport::sse_parser sse(
        [&](const transport::sse_event& e) { answered |= deliver_event(e, id_key); },
        {.max_event_bytes = opts_.max_message_bytes});
    read_chunks(
        c, buffer, p, [&](std::string_view bytes) { return sse.feed(bytes); },
        [&] { return !closing_; });
    sse.finish();
    c.abort();
    if (answered || closing_ || !resumable || id_key.empty()) return;
    std::string last = sse.last_event_id();
    if (last.empty()) return;
    auto wait = std::chrono::milliseconds(sse.retry().value_or(1000));
    for (int attempt = 0; attempt < 5 && !closing_ && !answered; ++attempt) {
      std::this_thread::sleep_for(wait);
      answered = resume(last, id_key);
    }
  }

  // GET with Last-Event-ID; true once the answer to `id_key` arrived.
  bool resume(std::string& last, const std::string& id_key) {
    try {
      auto conn = std::make_shared<connection>(ioc_, tls_ ? &*tls_ : nullptr);
      conn->connect(ep_, opts_.connect_timeout);
      http::request<http::empty_body> req{http::verb::get, ep_.target, 11};
      base_headers(req);
      req.set(http::field::accept, "text/event-stream");
      {
        std::lock_guard lk(mu_);
        req.set("Mcp-Session-Id", session_id_);
        if (!legacy_version_.empty()) req.set("MCP-Protocol-Version", legacy_version_);
        streams_[id_key] = conn;
      }
      req.set("Last-Event-ID", last);
      conn->write(req);
      beast::flat_buffer buffer;
      http::response_parser<http::buffer_body> p;
      p.body_limit(boost::none);
      conn->read_header(buffer, p);
      if (p.get().result_int() != 200) return false;
      bool answered = false;
      transport::sse_parser sse(
          [&](const transport::sse_event& e) { answered |= deliver_event(e, id_key); },
          {.max_event_bytes = opts_.max_message_bytes});
      read_chunks(
          *conn, buffer, p, [&](std::string_view bytes) { return sse.feed(bytes); },
          [&] { return !closing_ && !answered; });
      if (!sse.last_event_id().empty()) last = sse.last_event_id();
      conn->abort();
      return answered;
    } catch (const std::exception&) {
      return false;
    }
  }

  // The legacy GET stream: server-initiated messages not tied to a request.
  void maybe_open_get_stream() {
    if (!opts_.open_get_stream || !session_active()) return;
    auto self = shared_from_this();
    std::lock_guard lk(mu_);
    threads_.emplace_back([self] { self->get_stream_loop(); });
  }

  void get_stream_loop() {
    std::string last;
    std::chrono::milliseconds wait = 1000ms;
    for (int failures = 0; !closing_ && failures < 5;) {
      try {
        auto conn = std::make_shared<connection>(ioc_, tls_ ? &*tls_ : nullptr);
        {
          std::lock_guard lk(mu_);
          get_conn_ = conn;
        }
        conn->connect(ep_, opts_.connect_timeout);
        http::request<http::empty_body> req{http::verb::get, ep_.target, 11};
        base_headers(req);
        req.set(http::field::accept, "text/event-stream");
        {
          std::lock_guard lk(mu_);
          req.set("Mcp-Session-Id", session_id_);
          if (!legacy_version_.empty()) req.set("MCP-Protocol-Version", legacy_version_);
        }
        if (!last.empty()) req.set("Last-Event-ID", last);
        conn->write(req);
        beast::flat_buffer buffer;
        http::response_parser<http::buffer_body> p;
        p.body_limit(boost::none);
        conn->read_header(buffer, p);
        if (p.get().result_int() == 405) return;  // the server has no GET stream
        if (p.get().result_int() != 200) {
          ++failures;
          std::this_thread::sleep_for(wait);
          continue;
        }
        transport::sse_parser sse([&](const transport::sse_event& e) { deliver_event(e, {}); },
                                  {.max_event_bytes = opts_.max_message_bytes});
        read_chunks(
            *conn, buffer, p, [&](std::string_view bytes) { return sse.feed(bytes); },
            [&] { return !closing_; });
        last = sse.last_event_id();
        if (sse.retry()) wait = std::chrono::milliseconds(*sse.retry());
        failures = 0;
        if (!closing_) std::this_thread::sleep_for(wait);
      } catch (const std::exception&) {
        ++failures;
        if (!closing_) std::this_thread::sleep_for(wait);
      }
    }
  }

  // 2024-11-05 HTTP+SSE: everything comes back on the GET /sse stream.
  std::optional<transport_error> post_legacy_sse(const json::object& message) {
    try {
      net::io_context ioc;
      connection c(ioc, tls_ ? &*tls_ : nullptr);
      c.connect(ep_, opts_.connect_timeout);
      http::request<http::string_body> req{http::verb::post, sse_post_target_, 11};
      base_headers(req);
      req.set(http::field::content_type, "application/json");
      req.body() = json::dump(message);
      req.prepare_payload();
      c.write(req);
      beast::flat_buffer b;
      http::response_parser<http::string_body> p;
      p.body_limit(64 * 1024);
      c.read(b, p);
      int status = static_cast<int>(p.get().result_int());
      if (status >= 400)
        return transport_error{url_ + " answered HTTP " + std::to_string(status), status};
      return std::nullopt;
    } catch (const std::exception& e) {
      return transport_error{std::string("cannot reach ") + url_ + ": " + e.what()};
    }
  }

  void abort_stream(const std::string& id_key) {
    std::shared_ptr<connection> c;
    {
      std::lock_guard lk(mu_);
      auto it = streams_.find(id_key);
      if (it != streams_.end()) {
        c = it->second;
        aborted_.insert(id_key);  // its exchange must not send it again
      }
    }
    if (c) c->abort();
  }

  bool was_aborted(const std::string& id_key) {
    std::lock_guard lk(mu_);
    return aborted_.count(id_key) > 0;
  }

 private:
  // Switches to HTTP+SSE when the endpoint speaks 2024-11-05: GET the URL, expect
  // an `endpoint` event naming where to POST; everything else arrives on that stream.
  bool try_legacy_sse() {
    try {
      auto conn = std::make_shared<connection>(ioc_, tls_ ? &*tls_ : nullptr);
      conn->connect(ep_, opts_.connect_timeout);
      http::request<http::empty_body> req{http::verb::get, ep_.target, 11};
      base_headers(req);
      req.set(http::field::accept, "text/event-stream");
      conn->write(req);
      auto buffer = std::make_shared<beast::flat_buffer>();
      auto p = std::make_shared<http::response_parser<http::buffer_body>>();
      p->body_limit(boost::none);
      conn->read_header(*buffer, *p);
      if (p->get().result_int() != 200 ||
          std::string(p->get()[http::field::content_type]).find("text/event-stream") ==
              std::string::npos)
        return false;
      auto self = shared_from_this();
      {
        std::lock_guard lk(mu_);
        get_conn_ = conn;
        threads_.emplace_back(
            [self, conn, buffer, p] { self->sse_transport_loop(*conn, *buffer, *p); });
      }
      std::unique_lock lk(sse_mu_);
      sse_cv_.wait_for(lk, opts_.connect_timeout, [&] { return sse_endpoint_ || sse_failed_; });
      if (!sse_endpoint_) return false;
      // The endpoint is a URI reference relative to the SSE URL.
      auto base = boost::urls::parse_uri(url_);
      boost::urls::url resolved;
      auto ref = boost::urls::parse_uri_reference(*sse_endpoint_);
      if (!base || !ref || !boost::urls::resolve(*base, *ref, resolved)) return false;
      sse_post_target_ =
          resolved.encoded_target().empty() ? "/" : std::string(resolved.encoded_target());
      sse_mode_ = true;
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  void sse_transport_loop(connection& conn, beast::flat_buffer& buffer,
                          http::response_parser<http::buffer_body>& p) {
    transport::sse_parser sse(
        [&](const transport::sse_event& e) {
          if (e.event == "endpoint") {
            std::lock_guard g(sse_mu_);
            if (!sse_endpoint_) sse_endpoint_ = e.data;
            sse_cv_.notify_all();
            return;
          }
          deliver_event(e, {});
        },
        {.max_event_bytes = opts_.max_message_bytes});
    read_chunks(
        conn, buffer, p, [&](std::string_view bytes) { return sse.feed(bytes); },
        [&] { return !closing_; });
    {
      std::lock_guard g(sse_mu_);
      sse_failed_ = true;
      sse_cv_.notify_all();
    }
    if (on_closed_ && !closing_ && sse_mode_) on_closed_("the HTTP+SSE stream ended");
  }

 private:
  std::string url_;
  endpoint ep_;
  http_transport_options opts_;
  std::optional<ssl::context> tls_;
  net::io_context ioc_;
  // Runs ioc_ for asynchronous exchanges (started by the first).
  std::once_flag io_started_;
  std::atomic<std::thread::id> io_thread_id_{};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> io_work_;
  std::thread io_thread_;
  std::mutex mu_;
  std::string session_id_;
  std::string legacy_version_;
  std::map<std::string, std::string> methods_;  // request id -> method, to read their answers
  std::map<std::string, std::vector<std::pair<std::string, std::vector<std::string>>>>
      tool_headers_;
  std::map<std::string, std::shared_ptr<connection>> streams_;
  std::set<std::string> streaming_;  // requests whose answer is being read as a stream
  std::set<std::string> aborted_;    // requests cancelled while their exchange runs
  std::atomic<int> active_{0};       // requests waiting for their answer
  std::condition_variable idle_;
  std::shared_ptr<connection> get_conn_;
  std::vector<std::shared_ptr<connection>> idle_conns_;
  std::vector<std::thread> threads_;
  std::atomic<bool> closing_{false};
  std::atomic<bool> sse_mode_{false};
  std::string sse_post_target_;
  std::mutex sse_mu_;
  std::condition_variable sse_cv_;
  std::optional<std::string> sse_endpoint_;
  bool sse_failed_ = false;
  inbound on_message_;
  closed on_closed_;
};

std::unique_ptr<client_transport> make_http_transport(std::string url,
                                                      http_transport_options options) {
  // shared ownership inside (streams hold the transport alive); the caller owns a handle.
  struct holder : client_transport {
    std::shared_ptr<http_transport> t;
    void start(inbound m, closed c) override { t->start(std::move(m), std::move(c)); }
    std::optional<transport_error> send(const json::object& m) override { return t->send(m); }
    bool try_send(const json::object& m) override { return t->try_send(m); }
    void close() override { t->close(); }
    void reset_session() override { t->reset_session(); }
    std::string describe() const override { return t->describe(); }
    ~holder() override { t->close(); }
  };
  auto h = std::make_unique<holder>();
  h->t = std::make_shared<http_transport>(std::move(url), std::move(options));
  return h;
}

}  // namespace plexus::client
