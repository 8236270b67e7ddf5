// The bridge between one forwarded call and the caller it serves, when the upstream
// may ask the caller something (sampling, elicitation, roots) in the middle.
//
// The upstream call runs on its own thread, or (the fast path) as an asynchronous request
// that no thread waits for until the upstream asks something: the first question then
// hands the call to a handler thread (on_first_question), and the answer goes there too
// (settle). When the upstream asks, the thread that asks (the client's) posts the
// question here and waits; the handler thread that serves the caller picks it up and
// asks the caller with server::context::ask. A legacy caller answers
// inline. A modern caller gets an InputRequiredResult, so the handler run ends while
// the upstream call stays parked (by id, in the gateway's parking table) until the
// caller retries with the answer; the retry's handler run finds the call again
// through the sealed requestState and hands the answer over.
#pragma once

#include "plexus/client/client.hpp"
#include "plexus/server/context.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace plexus::gateway::detail {

class bridged_call : public std::enable_shared_from_this<bridged_call> {
 public:
  // One server-to-client request, or (batch) a whole MRTR round: inputRequests by key.
  struct question {
    std::string method;
    json::object params;
    std::optional<json::object> batch;
  };

  ~bridged_call() {
    if (worker_.joinable()) worker_.detach();  // it only touches this object through a shared_ptr
  }

  // Runs `call` on a worker thread; it gets handlers that route questions here and
  // a cancellation linked to this bridge.
  void run(std::function<client::result<json::object>(std::shared_ptr<const client::input_handlers>,
                                                      std::shared_ptr<client::cancellation>)>
               call,
           bool sampling, bool elicitation, bool roots) {
    auto self = shared_from_this();
    auto h = routed_handlers(self, sampling, elicitation, roots);
    auto cancel =
        std::make_shared<client::cancellation>([self] { return self->cancelled_.load(); });
    worker_ = std::thread([self, call = std::move(call), h, cancel] {
      auto r = call(h, cancel);
      std::lock_guard lk(self->mu_);
      self->done_ = std::move(r);
      self->cv_.notify_all();
    });
  }

  // Client handlers for the upstream's questions of the kinds the caller declared, routed to
  // `call` while it lives.
  static std::shared_ptr<const client::input_handlers> routed_handlers(
      const std::weak_ptr<bridged_call>& call, bool sampling, bool elicitation, bool roots) {
    auto route = [call](std::string method) {
      return [call, method](const json::object& params) -> client::result<json::object> {
        if (auto c = call.lock()) return c->ask(method, params);
        return ended();
      };
    };
    auto h = std::make_shared<client::input_handlers>();
    if (sampling) h->sampling = route("sampling/createMessage");
    if (elicitation) h->elicitation = route("elicitation/create");
    if (roots) h->roots = route("roots/list");
    return h;
  }
  // request_options::on_input_required for a modern upstream: its MRTR round reaches the
  // caller whole, with its own keys.
  static std::function<client::result<json::object>(const json::object&)> round_hook(
      std::weak_ptr<bridged_call> call) {
    return [call](const json::object& reqs) -> client::result<json::object> {
      if (auto c = call.lock()) return c->ask_round(reqs);
      return ended();
    };
  }

  // The asynchronous variant: `f` runs once, at the first question, before the question
  // waits (it starts the handler side). Set before the call is sent.
  void on_first_question(std::function<void()> f) { promote_ = std::move(f); }
  // The asynchronous call's answer: true when no question came first (the caller is
  // answered directly; the context attached for progress is let go), false when a handler
  // side waits for it (it keeps `r`).
  bool settle(client::result<json::object>& r) {
    {
      std::lock_guard lk(mu_);
      if (promoted_) {
        done_ = std::move(r);
        cv_.notify_all();
        return false;
      }
      settled_ = true;
    }
    attach(nullptr);
    return true;
  }
  // True once a handler side took over the call (it polls the caller's cancellation then).
  bool promoted() {
    std::lock_guard lk(mu_);
    return promoted_;
  }
  bool cancelled() const { return cancelled_.load(); }

  // The handler side: waits until the call ends or asks something. Polls the
  // caller's cancellation meanwhile.
  enum class event { done, question, cancelled };
  event wait(const server::context& ctx) {
    std::unique_lock lk(mu_);
    for (;;) {
      if (done_) return event::done;
      if (pending_ && !answer_) return event::question;
      if (ctx.cancelled()) {
        cancelled_.store(true);
        cv_.notify_all();
        return event::cancelled;
      }
      cv_.wait_for(lk, std::chrono::milliseconds(50));
    }
  }

  const question& pending() {
    std::lock_guard lk(mu_);
    return *pending_;
  }
  int round() const { return round_; }

  // Hands the caller's answer (or failure) to the waiting upstream thread.
  void answer(client::result<json::object> a) {
    std::lock_guard lk(mu_);
    answer_ = std::move(a);
    ++round_;
    cv_.notify_all();
  }

  client::result<json::object> take_result() {
    std::lock_guard lk(mu_);
    return std::move(*done_);
  }

  void cancel() {
    cancelled_.store(true);
    cv_.notify_all();
  }

  // The context currently serving this call (null while parked): progress and
  // logs of the upstream go to it.
  void attach(server::context* ctx) {
    std::lock_guard lk(ctx_mu_);
    ctx_ = ctx;
  }
  template <class F>
  void with_context(F&& f) {
    std::lock_guard lk(ctx_mu_);
    if (ctx_) f(*ctx_);
  }

  std::chrono::steady_clock::time_point parked_at;
  // Input keys already used with the caller in this call (a later round reusing one gets
  // a distinct key: the caller's answers of earlier rounds are still around).
  std::set<std::string> used_keys;

  // The upstream side: a whole MRTR round, answered with inputResponses by key.
  client::result<json::object> ask_round(const json::object& input_requests) {
    return ask_question(question{"", {}, input_requests});
  }

 private:
  // The upstream side: posts a question and waits for its answer.
  client::result<json::object> ask(const std::string& method, const json::object& params) {
    return ask_question(question{method, params, std::nullopt});
  }

  static client::result<json::object> ended() {
    client::error e;
    e.kind = client::error::cancelled;
    e.code = -32603;
    e.message = "the call ended";
    return plexus::unexpected{e};
  }

  client::result<json::object> ask_question(question q) {
    std::function<void()> promote;
    {
      std::lock_guard lk(mu_);
      if (settled_) return ended();  // answered already: a stray question has no one to ask
      pending_ = std::move(q);
      answer_.reset();
      cv_.notify_all();
      if (promote_ && !promoted_) {
        promoted_ = true;
        promote = std::move(promote_);
      }
    }
    if (promote) promote();
    std::unique_lock lk(mu_);
    while (!answer_ && !cancelled_.load()) cv_.wait_for(lk, std::chrono::milliseconds(100));
    if (!answer_) {
      client::error e;
      e.kind = client::error::cancelled;
      e.code = -32603;
      e.message = "the caller went away before answering";
      return plexus::unexpected{e};
    }
    auto a = std::move(*answer_);
    answer_.reset();
    pending_.reset();
    return a;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<question> pending_;
  std::optional<client::result<json::object>> answer_;
  std::optional<client::result<json::object>> done_;
  std::atomic<bool> cancelled_{false};
  std::function<void()> promote_;
  bool promoted_ = false, settled_ = false;
  int round_ = 0;
  std::thread worker_;
  std::mutex ctx_mu_;
  server::context* ctx_ = nullptr;
};

}  // namespace plexus::gateway::detail
