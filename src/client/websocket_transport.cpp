// MCP over a WebSocket, client side: one JSON-RPC message per text frame.
// Everything runs on one I/O thread per transport (Beast's WebSocket stream is
// not thread-safe, and with TLS a read and a write must never overlap on two
// threads): a read loop delivers messages, a write loop drains a queue that
// send() feeds from any thread, and close is the last item of that queue so it
// never overtakes a message already sent.
#include "plexus/client/transport.hpp"

#include "client/tls_context.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/url/parse.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace plexus::client {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;
using namespace std::chrono_literals;

namespace {

constexpr auto as_tuple = net::as_tuple(use_awaitable);

struct ws_endpoint {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string host_header;  // as in the URL (brackets kept), with the port
  std::string target;
};

ws_endpoint parse_ws_url(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) throw std::invalid_argument("invalid URL: " + url);
  ws_endpoint e;
  if (u->scheme() == "wss")
    e.tls = true;
  else if (u->scheme() != "ws")
    throw std::invalid_argument("unsupported URL scheme (ws or wss): " + url);
  if (u->host().empty()) throw std::invalid_argument("the URL has no host: " + url);
  e.host = u->host();
  if (e.host.size() > 2 && e.host.front() == '[') e.host = e.host.substr(1, e.host.size() - 2);
  e.port = u->has_port() ? std::string(u->port()) : (e.tls ? "443" : "80");
  e.host_header = std::string(u->encoded_host()) + ":" + e.port;
  e.target = u->encoded_target().empty() ? "/" : std::string(u->encoded_target());
  if (u->has_fragment()) throw std::invalid_argument("a WebSocket URL has no fragment: " + url);
  return e;
}

std::string millis(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

template <class Next>
class ws_transport final : public client_transport {
  using ws_stream = websocket::stream<Next>;
  static constexpr bool tls = !std::is_same_v<Next, beast::tcp_stream>;

  struct outgoing {
    std::string data;
    bool close = false;
    std::shared_ptr<std::promise<std::string>> done;  // "" or why it failed
    bool counted = false;                             // sent by try_send: one of unwritten_
  };
  // At most this many messages of try_send wait to be written: a server that stops
  // reading meets send()'s bound instead of a growing queue.
  static constexpr int max_unwritten = 256;

 public:
  ws_transport(std::string url, ws_endpoint ep, websocket_transport_options o)
      : url_(std::move(url)), ep_(std::move(ep)), opts_(std::move(o)) {
    if constexpr (tls) {
      tls_.emplace(ssl::context::tls_client);
      detail::configure_client_tls(
          *tls_, {opts_.verify_tls, opts_.ca_file, opts_.client_cert_file, opts_.client_key_file});
      ws_.emplace(ioc_, *tls_);
    } else {
      ws_.emplace(ioc_);
    }
    io_ = std::thread([this] {
      io_id_ = std::this_thread::get_id();
      ioc_.run();
      io_done_.set_value();
    });
    auto connected = std::make_shared<std::promise<std::string>>();
    auto result = connected->get_future();
    net::co_spawn(ioc_, connect(), [connected](std::exception_ptr e, std::string why) {
      if (e) why = "the WebSocket connection failed";
      connected->set_value(std::move(why));
    });
    // Each step has its own timer; this bound only guards against a bug.
    std::string why = "timed out";
    if (result.wait_for(opts_.connect_timeout * 4 + 2s) == std::future_status::ready)
      why = result.get();
    if (!why.empty()) {
      shut_down();
      throw std::runtime_error("cannot connect to " + url_ + ": " + why);
    }
    connected_ = true;
  }

  ~ws_transport() override { close(); }

  void start(inbound on_message, closed on_closed) override {
    on_message_ = std::move(on_message);
    on_closed_ = std::move(on_closed);
    {
      std::lock_guard lk(mu_);
      reading_ = true;
    }
    net::co_spawn(ioc_, read_loop(), net::detached);
  }

  std::optional<transport_error> send(const json::object& message) override {
    std::string data = json::dump(message);
    {
      std::lock_guard lk(mu_);
      if (closing_ || closed_)
        return transport_error{url_ + ": " + (why_.empty() ? "the WebSocket is closed" : why_)};
    }
    auto done = std::make_shared<std::promise<std::string>>();
    auto written = done->get_future();
    net::post(ioc_, [this, o = outgoing{std::move(data), false, done}]() mutable {
      enqueue(std::move(o));
    });
    // On the I/O thread (an inbound callback sending): never wait for ourselves.
    if (std::this_thread::get_id() == io_id_) return std::nullopt;
    // A server that stops reading must not block the caller forever.
    auto bound = std::max<std::chrono::milliseconds>(opts_.connect_timeout, 30s);
    if (written.wait_for(bound) != std::future_status::ready) {
      abort_socket();
      return transport_error{url_ + ": the server does not read (a write took over " +
                             millis(bound) + ")"};
    }
    try {
      auto why = written.get();
      if (!why.empty()) return transport_error{url_ + ": " + why};
    } catch (const std::future_error&) {
      return transport_error{url_ + ": the WebSocket is closed"};
    }
    return std::nullopt;
  }

  bool try_send(const json::object& message) override {
    {
      std::lock_guard lk(mu_);
      if (closing_ || closed_) return false;
    }
    if (unwritten_.fetch_add(1) >= max_unwritten) {
      --unwritten_;
      return false;
    }
    auto o =
        outgoing{json::dump(message), false, std::make_shared<std::promise<std::string>>(), true};
    net::post(ioc_, [this, o = std::move(o)]() mutable { enqueue(std::move(o)); });
    return true;
  }

  void close() override {
    if (std::this_thread::get_id() == io_id_.load()) {  // from an inbound callback
      {
        std::lock_guard lk(mu_);
        closing_ = true;
      }
      abort_socket();
      return;
    }
    std::lock_guard once(close_mu_);
    if (!io_.joinable()) return;
    {
      std::lock_guard lk(mu_);
      closing_ = true;
    }
    if (connected_) {
      auto done = std::make_shared<std::promise<std::string>>();
      auto closed = done->get_future();
      net::post(ioc_, [this, o = outgoing{{}, true, done}]() mutable { enqueue(std::move(o)); });
      (void)closed.wait_for(opts_.close_timeout);
      std::unique_lock lk(mu_);
      reader_cv_.wait_for(lk, opts_.close_timeout, [&] { return !reading_; });
    }
    shut_down();
  }

  std::string describe() const override { return url_; }

 private:
  // The connection: resolve, TCP (bounded), TLS (bounded), upgrade (bounded).
  awaitable<std::string> connect() {
    tcp::resolver resolver(ioc_);
    auto [rec, results] = co_await resolver.async_resolve(ep_.host, ep_.port, as_tuple);
    if (rec) co_return "cannot resolve " + ep_.host + ": " + rec.message();
    auto& lowest = beast::get_lowest_layer(*ws_);
    lowest.expires_after(opts_.connect_timeout);
    auto [cec, peer] = co_await lowest.async_connect(results, as_tuple);
    if (cec == beast::error::timeout)
      co_return "connecting timed out after " + millis(opts_.connect_timeout);
    if (cec) co_return cec.message();
    beast::error_code ignored;
    lowest.socket().set_option(tcp::no_delay(true), ignored);
    if constexpr (tls) {
      auto& stream = ws_->next_layer();
      beast::error_code not_ip;
      (void)net::ip::make_address(ep_.host, not_ip);
      // SNI names hosts, never addresses (RFC 6066 §3).
      if (not_ip && !SSL_set_tlsext_host_name(stream.native_handle(), ep_.host.c_str()))
        co_return std::string("TLS: cannot set SNI");
      if (opts_.verify_tls) stream.set_verify_callback(ssl::host_name_verification(ep_.host));
      lowest.expires_after(opts_.connect_timeout);
      auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, as_tuple);
      if (hec == beast::error::timeout)
        co_return "the TLS handshake timed out after " + millis(opts_.connect_timeout);
      if (hec) co_return "TLS handshake failed: " + hec.message();
    }
    // From here the WebSocket's own timeouts apply (Beast: not both).
    lowest.expires_never();
    auto t = websocket::stream_base::timeout::suggested(beast::role_type::client);
    t.handshake_timeout = opts_.connect_timeout;
    t.idle_timeout = websocket::stream_base::none();
    ws_->set_option(t);
    ws_->set_option(websocket::stream_base::decorator(
        [h = opts_.headers, sp = opts_.subprotocol](websocket::request_type& req) {
          req.set(http::field::user_agent, "plexus/" PLEXUS_VERSION);
          if (!sp.empty()) req.set(http::field::sec_websocket_protocol, sp);
          for (const auto& [k, v] : h) req.set(k, v);
        }));
    ws_->read_message_max(opts_.max_message_bytes);
    ws_->auto_fragment(false);
    websocket::response_type res;
    auto upgrade_started = std::chrono::steady_clock::now();
    auto [wec] = co_await ws_->async_handshake(res, ep_.host_header, ep_.target, as_tuple);
    // The lower layer's timeout can surface as another error (Beast then reports a
    // declined upgrade with an empty 500 answer): the clock tells what happened.
    if (wec == beast::error::timeout ||
        (wec && std::chrono::steady_clock::now() - upgrade_started >= opts_.connect_timeout))
      co_return "the WebSocket upgrade timed out after " + millis(opts_.connect_timeout);
    if (wec == websocket::error::upgrade_declined)
      co_return "the server declined the WebSocket upgrade (HTTP " +
          std::to_string(res.result_int()) + ")";
    if (wec) co_return "the WebSocket upgrade failed: " + wec.message();
    std::string selected(res[http::field::sec_websocket_protocol]);
    if (!selected.empty() && selected != opts_.subprotocol) {
      abort_now();
      co_return "the server selected the subprotocol \"" + selected + "\", not \"" +
          opts_.subprotocol + "\"";
    }
    ws_->text(true);
    co_return std::string();
  }

  awaitable<void> read_loop() {
    beast::flat_buffer buffer;
    std::string why;
    for (;;) {
      auto [ec, n] = co_await ws_->async_read(buffer, as_tuple);
      if (ec) {
        if (ec == websocket::error::closed) {
          auto r = ws_->reason();
          why = "the server closed the WebSocket (" + std::to_string(static_cast<int>(r.code)) +
                (r.reason.empty() ? std::string() : " " + std::string(r.reason.c_str())) + ")";
        } else if (ec == websocket::error::message_too_big) {
          why = "the server sent a message over " + std::to_string(opts_.max_message_bytes) +
                " bytes (the client's limit)";
        } else {
          why = "the WebSocket connection failed: " + ec.message();
        }
        break;
      }
      if (!ws_->got_text()) {
        spdlog::warn("{}: ignoring a binary frame ({} bytes)", url_, n);
        buffer.consume(buffer.size());
        continue;
      }
      std::string_view text(static_cast<const char*>(buffer.data().data()), buffer.size());
      boost::system::error_code jec;
      boost::json::parse_options po;
      po.max_depth = 64;
      auto v = plexus::json::parse(text, jec, po.max_depth);
      if (jec)
        spdlog::warn("{}: the server sent a frame that is not JSON ({} bytes): {}", url_,
                     text.size(), std::string(text.substr(0, 120)));
      buffer.consume(buffer.size());
      if (!jec && on_message_) on_message_(v);
    }
    bool tell;
    {
      std::lock_guard lk(mu_);
      closed_ = true;
      why_ = why;
      reading_ = false;
      tell = !closing_;
    }
    reader_cv_.notify_all();
    fail_queue(why);
    if (tell) {
      abort_now();
      if (on_closed_) on_closed_(why);
    }
  }

  // How writing `o` ended ("" or why not).
  void settle(outgoing& o, std::string why) {
    if (o.counted) --unwritten_;
    o.done->set_value(std::move(why));
  }

  // I/O thread only.
  void enqueue(outgoing o) {
    bool dead;
    {
      std::lock_guard lk(mu_);
      dead = closed_;
    }
    if (dead) {
      settle(o, o.close ? std::string() : "the WebSocket is closed");
      return;
    }
    queue_.push_back(std::move(o));
    if (!writing_) {
      writing_ = true;
      net::co_spawn(ioc_, write_loop(), net::detached);
    }
  }

  awaitable<void> write_loop() {
    while (!queue_.empty()) {
      auto o = std::move(queue_.front());
      queue_.pop_front();
      if (o.close) {
        auto [ec] = co_await ws_->async_close(websocket::close_code::normal, as_tuple);
        settle(o, ec ? ec.message() : std::string());
        continue;
      }
      auto [ec, n] = co_await ws_->async_write(net::buffer(o.data), as_tuple);
      if (ec) {
        std::string why = "cannot write to the WebSocket: " + ec.message();
        settle(o, why);
        fail_queue(why);
        break;
      }
      settle(o, std::string());
    }
    writing_ = false;
  }

  void fail_queue(const std::string& why) {
    while (!queue_.empty()) {
      settle(queue_.front(), queue_.front().close ? std::string() : why);
      queue_.pop_front();
    }
  }

  // I/O thread: drops the TCP connection, which ends pending operations.
  void abort_now() {
    beast::error_code ec;
    auto& s = beast::get_lowest_layer(*ws_).socket();
    s.shutdown(tcp::socket::shutdown_both, ec);
    s.close(ec);
  }

  void abort_socket() {
    net::post(ioc_, [this] { abort_now(); });
  }

  // Ends the I/O thread: the socket is closed, so every operation completes.
  void shut_down() {
    if (!io_.joinable()) return;
    abort_socket();
    work_.reset();
    // What is left are timers (Beast's handshake timeout outlives a failed
    // upgrade): do not wait them out.
    if (io_done_future_.wait_for(500ms) != std::future_status::ready) ioc_.stop();
    io_.join();
  }

  std::string url_;
  ws_endpoint ep_;
  websocket_transport_options opts_;
  net::io_context ioc_;
  // Keeps run() going until shut_down() has closed the socket.
  net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(ioc_);
  std::optional<ssl::context> tls_;
  std::optional<ws_stream> ws_;
  std::promise<void> io_done_;
  std::future<void> io_done_future_ = io_done_.get_future();
  std::thread io_;
  std::atomic<std::thread::id> io_id_;
  std::atomic<int> unwritten_{0};
  std::mutex close_mu_;
  bool connected_ = false;
  // I/O thread only.
  std::deque<outgoing> queue_;
  bool writing_ = false;
  // Guarded by mu_.
  std::mutex mu_;
  std::condition_variable reader_cv_;
  bool reading_ = false, closing_ = false, closed_ = false;
  std::string why_;
  inbound on_message_;
  closed on_closed_;
};

}  // namespace

std::unique_ptr<client_transport> make_websocket_transport(std::string url,
                                                           websocket_transport_options options) {
  auto ep = parse_ws_url(url);
  if (ep.tls)
    return std::make_unique<ws_transport<beast::ssl_stream<beast::tcp_stream>>>(
        std::move(url), std::move(ep), std::move(options));
  return std::make_unique<ws_transport<beast::tcp_stream>>(std::move(url), std::move(ep),
                                                           std::move(options));
}

}  // namespace plexus::client
