// The gateway's stage chain: token buckets, the rate-limit stage (gateway-wide and per
// upstream), and the order in which a chain refuses.
#include "plexus/gateway/stages.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace plexus;
using namespace std::chrono_literals;

namespace {

struct request_fixture {
  json::object params;
  protocol::implementation who{"t", "1"};
  server::request_info info{"tools/call", params, protocol::era::modern, who};
};

class named_stage : public gateway::stage {
 public:
  named_stage(std::string n, bool refuse, int* calls)
      : n_(std::move(n)), refuse_(refuse), calls_(calls) {}
  std::string_view name() const override { return n_; }
  std::optional<jsonrpc::error> on_request(const gateway::request_context&) override {
    ++*calls_;
    if (refuse_) return jsonrpc::error{-32001, n_ + " refused", std::nullopt};
    return std::nullopt;
  }

 private:
  std::string n_;
  bool refuse_;
  int* calls_;
};

}  // namespace

TEST(GatewayStages, TokenBucketSpendsBurstThenRefillsAtItsRate) {
  gateway::token_bucket b({.per_second = 50, .burst = 3});
  EXPECT_FALSE(b.take());
  EXPECT_FALSE(b.take());
  EXPECT_FALSE(b.take());
  auto wait = b.take();
  ASSERT_TRUE(wait);
  EXPECT_GE(wait->count(), 1);
  EXPECT_LE(wait->count(), 20);  // one token every 20 ms
  std::this_thread::sleep_for(*wait + 5ms);
  EXPECT_FALSE(b.take());
}

TEST(GatewayStages, RateLimitPerUpstreamAndForTheWholeGateway) {
  request_fixture f;
  auto stage = gateway::make_rate_limit_stage({}, {{"slow", {.per_second = 1, .burst = 2}}});
  gateway::request_context slow{f.info, "slow_tool", "slow"};
  gateway::request_context other{f.info, "fast_tool", "fast"};
  EXPECT_FALSE(stage->on_request(slow));
  EXPECT_FALSE(stage->on_request(slow));
  auto refused = stage->on_request(slow);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, gateway::rate_limited_code);
  EXPECT_NE(refused->message.find("upstream slow"), std::string::npos) << refused->message;
  ASSERT_TRUE(refused->data && refused->data->is_object());
  EXPECT_GT(refused->data->as_object().at("retryAfterMs").as_int64(), 0);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(stage->on_request(other));  // not limited

  auto all = gateway::make_rate_limit_stage({.per_second = 1, .burst = 1}, {});
  gateway::request_context list{f.info, "", ""};
  EXPECT_FALSE(all->on_request(list));
  auto r = all->on_request(other);
  ASSERT_TRUE(r);
  EXPECT_NE(r->message.find("gateway"), std::string::npos);
}

TEST(GatewayStages, ChainStopsAtTheFirstRefusal) {
  request_fixture f;
  int a = 0, b = 0, c = 0;
  gateway::stage_chain chain;
  EXPECT_TRUE(chain.empty());
  chain.add(std::make_shared<named_stage>("authenticate", false, &a));
  chain.add(std::make_shared<named_stage>("authorize", true, &b));
  chain.add(std::make_shared<named_stage>("rate_limit", false, &c));
  EXPECT_EQ(chain.names(), (std::vector<std::string>{"authenticate", "authorize", "rate_limit"}));
  auto r = chain.run({f.info, "t", "u"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "authorize refused");
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(c, 0);
}
