// The metrics registry and its Prometheus text exposition (format 0.0.4):
// exact output, escaping, histogram buckets, misuse and concurrent updates.
#include "plexus/observability/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

namespace obs = plexus::observability;

TEST(Metrics, CounterWithoutLabelsIsExportedFromTheStart) {
  obs::registry reg;
  reg.counter("plexus_up_total", "Times it came up.");
  EXPECT_EQ(reg.expose(),
            "# HELP plexus_up_total Times it came up.\n"
            "# TYPE plexus_up_total counter\n"
            "plexus_up_total 0\n");
  reg.counter("plexus_up_total", "Times it came up.").get().inc();
  reg.counter("plexus_up_total", "Times it came up.").get().inc(2.5);
  reg.counter("plexus_up_total", "Times it came up.").get().inc(-4);  // ignored
  EXPECT_EQ(reg.counter("plexus_up_total", "").get().value(), 3.5);
  EXPECT_NE(reg.expose().find("\nplexus_up_total 3.5\n"), std::string::npos);
}

TEST(Metrics, LabelledFamiliesAreSortedAndEscaped) {
  obs::registry reg;
  auto& req =
      reg.counter("http_requests_total", "Requests by method\nand \\status.", {"method", "status"});
  req.with({"POST", "200"}).inc(3);
  req.with({"GET", "404"}).inc();
  req.with({"GET", "200"}).inc(2);
  auto& g = reg.gauge("a_in_flight", "In flight.", {"path"});
  g.with({"/a\"b\\c\nd"}).set(-2);
  auto& labelled_but_unused = reg.gauge("z_unused", "No series yet.", {"x"});
  (void)labelled_but_unused;
  EXPECT_EQ(reg.expose(),
            "# HELP a_in_flight In flight.\n"
            "# TYPE a_in_flight gauge\n"
            "a_in_flight{path=\"/a\\\"b\\\\c\\nd\"} -2\n"
            "# HELP http_requests_total Requests by method\\nand \\\\status.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{method=\"GET\",status=\"200\"} 2\n"
            "http_requests_total{method=\"GET\",status=\"404\"} 1\n"
            "http_requests_total{method=\"POST\",status=\"200\"} 3\n");
}

TEST(Metrics, GaugeMovesBothWays) {
  obs::registry reg;
  auto& g = reg.gauge("plexus_in_flight", "Requests being served.").get();
  g.inc();
  g.inc(4);
  g.dec(2);
  EXPECT_EQ(g.value(), 3);
  g.set(0.25);
  EXPECT_EQ(reg.expose(),
            "# HELP plexus_in_flight Requests being served.\n"
            "# TYPE plexus_in_flight gauge\n"
            "plexus_in_flight 0.25\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  obs::registry reg;
  auto& h = reg.histogram("rpc_seconds", "Latency.", {"tool"}, {0.125, 0.5, 1});
  auto& s = h.with({"echo"});
  s.observe(0.0625);
  s.observe(0.125);  // le is inclusive
  s.observe(0.25);
  s.observe(2);
  EXPECT_EQ(reg.expose(),
            "# HELP rpc_seconds Latency.\n"
            "# TYPE rpc_seconds histogram\n"
            "rpc_seconds_bucket{tool=\"echo\",le=\"0.125\"} 2\n"
            "rpc_seconds_bucket{tool=\"echo\",le=\"0.5\"} 3\n"
            "rpc_seconds_bucket{tool=\"echo\",le=\"1\"} 3\n"
            "rpc_seconds_bucket{tool=\"echo\",le=\"+Inf\"} 4\n"
            "rpc_seconds_sum{tool=\"echo\"} 2.4375\n"
            "rpc_seconds_count{tool=\"echo\"} 4\n");
}

TEST(Metrics, HistogramWithoutLabelsAndDefaultBuckets) {
  obs::registry reg;
  auto& h = reg.histogram("d_seconds", "D.").get();
  h.observe(0.007);
  std::string text = reg.expose();
  EXPECT_NE(text.find("d_seconds_bucket{le=\"0.005\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("d_seconds_bucket{le=\"0.01\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("d_seconds_bucket{le=\"10\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("d_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("d_seconds_sum 0.007\n"), std::string::npos);
  EXPECT_NE(text.find("d_seconds_count 1\n"), std::string::npos);
  // A bound of +Inf given by the caller is implied, not doubled.
  auto& h2 = reg.histogram("e_seconds", "E.", {}, {1, std::numeric_limits<double>::infinity()});
  h2.get().observe(5);
  text = reg.expose();
  EXPECT_NE(text.find("e_seconds_bucket{le=\"1\"} 0\ne_seconds_bucket{le=\"+Inf\"} 1\n"),
            std::string::npos);
}

TEST(Metrics, SpecialValues) {
  EXPECT_EQ(obs::format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(obs::format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(obs::format_value(std::nan("")), "NaN");
  EXPECT_EQ(obs::format_value(1e21), "1e+21");
  EXPECT_EQ(obs::format_value(42), "42");
  EXPECT_EQ(obs::escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(Metrics, MisuseIsRejected) {
  obs::registry reg;
  EXPECT_THROW(reg.counter("1bad", "x"), std::invalid_argument);
  EXPECT_THROW(reg.counter("bad-name", "x"), std::invalid_argument);
  EXPECT_THROW(reg.counter("ok", "x", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(reg.counter("ok2", "x", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(reg.histogram("h", "x", {"le"}), std::invalid_argument);
  EXPECT_THROW(reg.histogram("h2", "x", {}, {1, 0.5}), std::invalid_argument);
  auto& c = reg.counter("c_total", "x", {"a"});
  EXPECT_THROW(c.with({}), std::invalid_argument);
  EXPECT_THROW(c.with({"1", "2"}), std::invalid_argument);
  EXPECT_THROW(reg.gauge("c_total", "x", {"a"}), std::invalid_argument);    // another type
  EXPECT_THROW(reg.counter("c_total", "x", {"b"}), std::invalid_argument);  // other labels
  EXPECT_EQ(&reg.counter("c_total", "x", {"a"}), &c);                       // same: the same family
  EXPECT_NO_THROW(reg.counter("ns:sub_total", "x"));
}

TEST(Metrics, CollectorsRunBeforeExposition) {
  obs::registry reg;
  auto& g = reg.gauge("upstreams_up", "Upstreams up.", {"upstream"});
  int calls = 0;
  reg.on_collect([&] {
    ++calls;
    g.with({"weather"}).set(1);
  });
  EXPECT_EQ(reg.expose(),
            "# HELP upstreams_up Upstreams up.\n"
            "# TYPE upstreams_up gauge\n"
            "upstreams_up{upstream=\"weather\"} 1\n");
  EXPECT_EQ(calls, 1);
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  obs::registry reg;
  auto& c = reg.counter("n_total", "N.", {"t"});
  auto& h = reg.histogram("n_seconds", "N.", {"t"}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.with({std::to_string(i % 3)}).inc();
        h.with({"x"}).observe(t % 2 ? 0.5 : 2);
        if (i % 1000 == 0) (void)reg.expose();
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.with({"0"}).value() + c.with({"1"}).value() + c.with({"2"}).value(), 40000);
  std::string text = reg.expose();
  EXPECT_NE(text.find("n_seconds_bucket{t=\"x\",le=\"1\"} 20000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("n_seconds_count{t=\"x\"} 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("n_seconds_sum{t=\"x\"} 50000\n"), std::string::npos) << text;
}
