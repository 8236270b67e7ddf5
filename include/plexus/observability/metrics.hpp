// plexus::observability — counters, gauges and histograms with labels, exported
// in the Prometheus text exposition format 0.0.4 (what GET /metrics answers).
//
//   observability::registry reg;
//   auto& calls = reg.counter("plexus_tool_calls_total", "Tool calls.", {"tool", "outcome"});
//   calls.with({"get_forecast", "ok"}).inc();
//   auto& latency = reg.histogram("plexus_tool_duration_seconds", "Tool latency.", {"tool"});
//   latency.with({"get_forecast"}).observe(0.042);
//   std::string text = reg.expose();  // serve with registry::content_type
//
// A family is a metric name with its help, type and label names; a series is one
// set of label values. Series are created on first use and never removed, so the
// reference `with()` returns stays valid for the registry's lifetime: hot paths
// keep it and update it with atomics only. `with()` takes a shared lock to find a
// series and an exclusive one only to create it.
//
// Misuse (an invalid name, a wrong number of label values, one name registered
// twice with another type or labels) throws std::invalid_argument: these are
// programming errors, found by the first test that runs the code.
// Thread-safety: every member is safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace plexus::observability {

using label_values = std::vector<std::string>;

// Only ever goes up (a reset is a process restart).
class counter {
 public:
  void inc(double by = 1.0);  // negative amounts are ignored
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Goes up and down, or is set.
class gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double by = 1.0) { value_.fetch_add(by, std::memory_order_relaxed); }
  void dec(double by = 1.0) { value_.fetch_sub(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into buckets by upper bound (le), plus their sum and count.
class histogram {
 public:
  explicit histogram(const std::vector<double>& bounds);  // sorted, without +Inf
  void observe(double v);
  struct snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0.0;
  };
  snapshot read() const;

 private:
  const std::vector<double>& bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // per bucket, not cumulative; +Inf last
  std::atomic<double> sum_{0.0};
};

// The latency buckets of the Prometheus client libraries, in seconds.
std::vector<double> default_buckets();

enum class metric_type { counter, gauge, histogram };

// The series of one metric name.
template <class Series>
class family {
 public:
  // The series for these label values (in the order of the label names).
  Series& with(const label_values& values);
  // The series of a family without labels.
  Series& get() { return with({}); }

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  friend class registry;
  family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {});
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;  // histograms
  mutable std::shared_mutex mu_;
  std::map<label_values, std::unique_ptr<Series>> series_;  // sorted: stable output
};

using counter_family = family<counter>;
using gauge_family = family<gauge>;
using histogram_family = family<histogram>;

class registry {
 public:
  // "text/plain; version=0.0.4; charset=utf-8"
  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  // Registers a family, or returns the one of that name when type and labels
  // match. Names follow [a-zA-Z_:][a-zA-Z0-9_:]*, label names
  // [a-zA-Z_][a-zA-Z0-9_]* without a leading "__" (and not "le" for histograms).
  counter_family& counter(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  gauge_family& gauge(std::string name, std::string help,
                      std::vector<std::string> label_names = {});
  histogram_family& histogram(std::string name, std::string help,
                              std::vector<std::string> label_names = {},
                              std::vector<double> bounds = default_buckets());

  // Called at the start of each expose(), e.g. to set gauges from a live source.
  void on_collect(std::function<void()> callback);

  // Every family with at least one series, sorted by name; series sorted by
  // label values. HELP and label values are escaped as the format requires.
  std::string expose() const;

 private:
  struct entry;
  template <class F>
  F& add(metric_type type, std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<entry>> families_;
  std::vector<std::function<void()>> collectors_;
};

// The value as the exposition format writes it: shortest round-trip decimal,
// "+Inf", "-Inf", "NaN".
std::string format_value(double v);
// A label value with \, " and newline escaped.
std::string escape_label_value(std::string_view v);

}  // namespace plexus::observability
