#include "plexus/observability/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace plexus::observability {

namespace {

bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// {a="x",b="y"} with an optional extra label (le for buckets); empty when no labels.
std::string label_set(const std::vector<std::string>& names, const label_values& values,
                      std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    out += escape_label_value(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::vector<double> default_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// ---- series -----------------------------------------------------------------

void counter::inc(double by) {
  if (by > 0) value_.fetch_add(by, std::memory_order_relaxed);
}

histogram::histogram(const std::vector<double>& bounds)
    : bounds_(bounds), counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void histogram::observe(double v) {
  // The first bucket whose upper bound holds v (le is inclusive); NaN lands in +Inf.
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

histogram::snapshot histogram::read() const {
  snapshot s;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- families -----------------------------------------------------------------

template <class Series>
family<Series>::family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {}

template <class Series>
Series& family<Series>::with(const label_values& values) {
  if (values.size() != label_names_.size())
    throw std::invalid_argument("metric " + name_ + ": expected " +
                                std::to_string(label_names_.size()) + " label values, got " +
                                std::to_string(values.size()));
  {
    std::shared_lock lk(mu_);
    if (auto it = series_.find(values); it != series_.end()) return *it->second;
  }
  std::unique_lock lk(mu_);
  auto& slot = series_[values];
  if (!slot) {
    if constexpr (std::is_same_v<Series, histogram>)
      slot = std::make_unique<histogram>(bounds_);
    else
      slot = std::make_unique<Series>();
  }
  return *slot;
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

// ---- registry -----------------------------------------------------------------

struct registry::entry {
  metric_type type;
  std::unique_ptr<counter_family> c;
  std::unique_ptr<gauge_family> g;
  std::unique_ptr<histogram_family> h;
};

registry::registry() = default;
registry::~registry() = default;

template <class F>
F& registry::add(metric_type type, std::string name, std::string help,
                 std::vector<std::string> label_names, std::vector<double> bounds) {
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name: " + name);
  for (const auto& l : label_names) {
    if (!valid_label_name(l) || (type == metric_type::histogram && l == "le"))
      throw std::invalid_argument("metric " + name + ": invalid label name: " + l);
    if (std::count(label_names.begin(), label_names.end(), l) > 1)
      throw std::invalid_argument("metric " + name + ": duplicate label name: " + l);
  }
  if (type == metric_type::histogram) {
    bounds.erase(std::remove_if(bounds.begin(), bounds.end(),
                                [](double b) { return std::isinf(b) && b > 0; }),
                 bounds.end());
    if (std::any_of(bounds.begin(), bounds.end(), [](double b) { return std::isnan(b); }) ||
        !std::is_sorted(bounds.begin(), bounds.end()) ||
        std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end())
      throw std::invalid_argument("metric " + name + ": bucket bounds must be increasing");
  }
  std::lock_guard lk(mu_);
  auto& slot = families_[name];
  if (slot) {
    F* existing = nullptr;
    if constexpr (std::is_same_v<F, counter_family>) existing = slot->c.get();
    if constexpr (std::is_same_v<F, gauge_family>) existing = slot->g.get();
    if constexpr (std::is_same_v<F, histogram_family>) existing = slot->h.get();
    if (slot->type != type || !existing || existing->label_names() != label_names ||
        (type == metric_type::histogram && existing->bounds_ != bounds))
      throw std::invalid_argument("metric " + name +
                                  " is already registered with another type or labels");
    return *existing;
  }
  slot = std::make_unique<entry>();
  slot->type = type;
  bool no_labels = label_names.empty();
  auto fam = std::unique_ptr<F>(
      new F(std::move(name), std::move(help), std::move(label_names), std::move(bounds)));
  F& ref = *fam;
  if constexpr (std::is_same_v<F, counter_family>) slot->c = std::move(fam);
  if constexpr (std::is_same_v<F, gauge_family>) slot->g = std::move(fam);
  if constexpr (std::is_same_v<F, histogram_family>) slot->h = std::move(fam);
  if (no_labels) ref.with({});  // a metric without labels is exported (as 0) from the start
  return ref;
}

counter_family& registry::counter(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  return add<counter_family>(metric_type::counter, std::move(name), std::move(help),
                             std::move(label_names), {});
}

gauge_family& registry::gauge(std::string name, std::string help,
                              std::vector<std::string> label_names) {
  return add<gauge_family>(metric_type::gauge, std::move(name), std::move(help),
                           std::move(label_names), {});
}

histogram_family& registry::histogram(std::string name, std::string help,
                                      std::vector<std::string> label_names,
                                      std::vector<double> bounds) {
  return add<histogram_family>(metric_type::histogram, std::move(name), std::move(help),
                               std::move(label_names), std::move(bounds));
}

void registry::on_collect(std::function<void()> callback) {
  std::lock_guard lk(mu_);
  collectors_.push_back(std::move(callback));
}

namespace {

template <class F>
void header(std::string& out, const F& f, std::string_view help, std::string_view type) {
  out += "# HELP ";
  out += f.name();
  out += ' ';
  out += escape_help(help);
  out += "\n# TYPE ";
  out += f.name();
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

std::string registry::expose() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lk(mu_);
    collectors = collectors_;
  }
  for (auto& c : collectors) c();  // outside the lock: a collector may register metrics
  std::string out;
  std::lock_guard lk(mu_);
  for (const auto& [name, e] : families_) {
    if (e->c) {
      std::shared_lock sl(e->c->mu_);
      if (e->c->series_.empty()) continue;
      header(out, *e->c, e->c->help_, "counter");
      for (const auto& [values, s] : e->c->series_)
        out += name + label_set(e->c->label_names_, values) + ' ' + format_value(s->value()) + '\n';
    } else if (e->g) {
      std::shared_lock sl(e->g->mu_);
      if (e->g->series_.empty()) continue;
      header(out, *e->g, e->g->help_, "gauge");
      for (const auto& [values, s] : e->g->series_)
        out += name + label_set(e->g->label_names_, values) + ' ' + format_value(s->value()) + '\n';
    } else if (e->h) {
      const auto& f = *e->h;
      std::shared_lock sl(f.mu_);
      if (f.series_.empty()) continue;
      header(out, f, f.help_, "histogram");
      for (const auto& [values, s] : f.series_) {
        auto snap = s->read();
        for (std::size_t i = 0; i < f.bounds_.size(); ++i)
          out += name + "_bucket" +
                 label_set(f.label_names_, values, "le", format_value(f.bounds_[i])) + ' ' +
                 std::to_string(snap.cumulative[i]) + '\n';
        std::uint64_t total = snap.cumulative.back();
        out += name + "_bucket" + label_set(f.label_names_, values, "le", "+Inf") + ' ' +
               std::to_string(total) + '\n';
        out +=
            name + "_sum" + label_set(f.label_names_, values) + ' ' + format_value(snap.sum) + '\n';
        // _count equals the +Inf bucket of the same read, even while others observe.
        out += name + "_count" + label_set(f.label_names_, values) + ' ' + std::to_string(total) +
               '\n';
      }
    }
  }
  return out;
}

}  // namespace plexus::observability
