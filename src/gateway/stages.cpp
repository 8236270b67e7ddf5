#include "plexus/gateway/stages.hpp"

#include <algorithm>
#include <cmath>

namespace plexus::gateway {

token_bucket::token_bucket(rate_limit_config c)
    : rate_(c.per_second),
      capacity_(c.burst > 0 ? c.burst : std::max(1.0, c.per_second)),
      tokens_(capacity_),
      last_(std::chrono::steady_clock::now()) {}

std::optional<std::chrono::milliseconds> token_bucket::take() {
  std::lock_guard lk(mu_);
  auto now = std::chrono::steady_clock::now();
  tokens_ =
      std::min(capacity_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
  last_ = now;
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return std::nullopt;
  }
  auto wait = std::ceil((1 - tokens_) / rate_ * 1000.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::max(1.0, wait)));
}

std::optional<jsonrpc::error> stage_chain::run(const request_context& r) const {
  for (const auto& s : stages_)
    if (auto refused = s->on_request(r)) return refused;
  return std::nullopt;
}

std::vector<std::string> stage_chain::names() const {
  std::vector<std::string> out;
  for (const auto& s : stages_) out.emplace_back(s->name());
  return out;
}

namespace {

class rate_limit_stage : public stage {
 public:
  rate_limit_stage(rate_limit_config all, const std::map<std::string, rate_limit_config>& ups) {
    if (all.enabled()) all_ = std::make_unique<token_bucket>(all);
    for (const auto& [name, c] : ups)
      if (c.enabled()) per_upstream_.emplace(name, std::make_unique<token_bucket>(c));
  }
  std::string_view name() const override { return "rate_limit"; }

  std::optional<jsonrpc::error> on_request(const request_context& r) override {
    if (all_)
      if (auto wait = all_->take()) return refuse(*wait, "gateway");
    if (!r.upstream.empty())
      if (auto it = per_upstream_.find(r.upstream); it != per_upstream_.end())
        if (auto wait = it->second->take()) return refuse(*wait, "upstream " + r.upstream);
    return std::nullopt;
  }

 private:
  static jsonrpc::error refuse(std::chrono::milliseconds wait, const std::string& limit) {
    return jsonrpc::error{
        rate_limited_code,
        "Rate limit exceeded (" + limit + "); retry in " + std::to_string(wait.count()) + " ms",
        json::object{{"retryAfterMs", wait.count()}, {"limit", limit}}};
  }
  std::unique_ptr<token_bucket> all_;
  std::map<std::string, std::unique_ptr<token_bucket>> per_upstream_;
};

}  // namespace

std::shared_ptr<stage> make_rate_limit_stage(
    rate_limit_config gateway_limit, const std::map<std::string, rate_limit_config>& per_upstream) {
  return std::make_shared<rate_limit_stage>(gateway_limit, per_upstream);
}

}  // namespace plexus::gateway
