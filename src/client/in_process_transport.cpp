#include "plexus/client/in_process.hpp"

#include "plexus/client/transport.hpp"
#include "plexus/server/connection.hpp"

#include <boost/json/parse.hpp>

#include <mutex>

namespace plexus::client {
namespace {

// What the engine sends goes straight to the client's inbound callback.
class to_client : public server::outbound {
 public:
  void attach(client_transport::inbound cb) {
    std::lock_guard lk(mu_);
    cb_ = std::move(cb);
  }
  void send(std::string text) override {
    client_transport::inbound cb;
    {
      std::lock_guard lk(mu_);
      cb = cb_;
    }
    boost::system::error_code ec;
    auto v = plexus::json::parse(text, ec);
    if (!ec && cb) cb(v);
  }

 private:
  std::mutex mu_;
  client_transport::inbound cb_;
};

// One request's answer stream: what the engine sends for it (progress, logs,
// server-to-client requests) is delivered as belonging to that request, so the
// client routes it to the request even when several are in flight (as HTTP does).
class request_exchange : public server::exchange {
 public:
  request_exchange(std::shared_ptr<to_client> out, std::string id_key)
      : out_(std::move(out)), id_key_(std::move(id_key)) {}
  void send(std::string text) override {
    delivery_scope scope(id_key_);
    out_->send(std::move(text));
  }
  void finish(std::string text, int) override {
    delivery_scope scope(id_key_);
    out_->send(std::move(text));
  }

 private:
  std::shared_ptr<to_client> out_;
  std::string id_key_;
};

class in_process_transport : public client_transport {
 public:
  explicit in_process_transport(server::server& srv)
      : out_(std::make_shared<to_client>()),
        conn_(std::make_shared<server::connection>(srv, out_)) {}
  ~in_process_transport() override { close(); }

  void start(inbound on_message, closed on_closed) override {
    out_->attach(std::move(on_message));
    on_closed_ = std::move(on_closed);
  }

  std::optional<transport_error> send(const json::object& message) override {
    std::string text = json::dump(message);
    // The engine takes one reader at a time (it applies backpressure there).
    std::lock_guard lk(receive_mu_);
    if (closed_) return transport_error{"in-process: closed"};
    auto id = message.find("id");
    if (id != message.end() && message.contains("method"))
      conn_->receive(text, std::make_shared<request_exchange>(out_, json::dump(id->value())));
    else
      conn_->receive(text);
    return std::nullopt;
  }

  void close() override {
    {
      std::lock_guard lk(receive_mu_);
      if (closed_) return;
      closed_ = true;
    }
    conn_->close();
    out_->attach(nullptr);
    if (on_closed_) on_closed_("in-process: closed");
  }

  std::string describe() const override { return "in-process"; }

 private:
  std::shared_ptr<to_client> out_;
  std::shared_ptr<server::connection> conn_;
  closed on_closed_;
  std::mutex receive_mu_;
  bool closed_ = false;
};

}  // namespace

std::unique_ptr<client_transport> make_in_process_transport(server::server& srv) {
  return std::make_unique<in_process_transport>(srv);
}

}  // namespace plexus::client
