// Compiled JSON Schema validator (2020-12 and draft-07). See docs/json-schema.md.
//
// Compilation: the schema document (and every external document it references, obtained only
// from the built-in metaschemas or compile_options::resolve_remote) is copied and indexed: every
// subschema gets its base URI, dialect and active vocabularies; $id / $anchor / $dynamicAnchor
// register URIs. Each subschema is then compiled into a node holding a list of keyword
// evaluators; $ref targets are resolved in a second pass, so recursion never follows references.
//
// Validation walks the node tree with a per-call eval_state (step budget, recursion bound,
// dynamic scope for $dynamicRef, annotation sets for unevaluated*). The compiled tree is never
// mutated after compile(), which makes a validator safe to share across threads.
#include "plexus/schema/validator.hpp"

#include "schema/internal.hpp"
#include "schema/metaschemas.hpp"

#include <boost/json.hpp>
#include <boost/regex.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace plexus::schema {

namespace detail {

using boost::json::array;
using boost::json::object;
using boost::json::value;

// ---------------------------------------------------------------------------------------------
// Small helpers

struct compile_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum vocab_bits : unsigned {
  v_core = 1,
  v_applicator = 2,
  v_unevaluated = 4,
  v_validation = 8,
  v_meta = 16,
  v_format_annotation = 32,
  v_format_assertion = 64,
  v_content = 128,
};
constexpr unsigned kDefaultVocab2020 =
    v_core | v_applicator | v_unevaluated | v_validation | v_meta | v_format_annotation | v_content;
constexpr unsigned kDraft7Vocab =
    v_core | v_applicator | v_validation | v_meta | v_format_annotation | v_content;

constexpr std::string_view kUri2020 = "https://json-schema.org/draft/2020-12/schema";
constexpr std::string_view kUriDraft7 = "http://json-schema.org/draft-07/schema";
constexpr std::string_view kDefaultBase = "plexus:/schema.json";

std::string escape_pointer_segment(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view kind_name(const value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return "boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
      return "integer";
    case boost::json::kind::double_: {
      double d = v.get_double();
      return (std::isfinite(d) && std::trunc(d) == d) ? "integer" : "number";
    }
    case boost::json::kind::string:
      return "string";
    case boost::json::kind::array:
      return "array";
    case boost::json::kind::object:
      return "object";
  }
  return "unknown";
}

long double to_ld(const value& v) {
  switch (v.kind()) {
    case boost::json::kind::int64:
      return static_cast<long double>(v.get_int64());
    case boost::json::kind::uint64:
      return static_cast<long double>(v.get_uint64());
    case boost::json::kind::double_:
      return static_cast<long double>(v.get_double());
    default:
      return 0;
  }
}

bool is_integral(const value& v) {
  if (v.is_int64() || v.is_uint64()) return true;
  if (v.is_double()) {
    double d = v.get_double();
    return std::isfinite(d) && std::trunc(d) == d;
  }
  return false;
}

// Numeric-aware deep equality (1 == 1.0). Instance depth is bounded before evaluation starts.
bool json_equal(const value& a, const value& b) {
  if (a.is_number() && b.is_number()) return to_ld(a) == to_ld(b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case boost::json::kind::null:
      return true;
    case boost::json::kind::bool_:
      return a.get_bool() == b.get_bool();
    case boost::json::kind::string:
      return a.get_string() == b.get_string();
    case boost::json::kind::array: {
      const auto& x = a.get_array();
      const auto& y = b.get_array();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!json_equal(x[i], y[i])) return false;
      }
      return true;
    }
    case boost::json::kind::object: {
      const auto& x = a.get_object();
      const auto& y = b.get_object();
      if (x.size() != y.size()) return false;
      for (const auto& kv : x) {
        auto it = y.find(kv.key());
        if (it == y.end() || !json_equal(kv.value(), it->value())) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

// Hash consistent with json_equal (numbers hash by value, objects ignore member order).
std::size_t json_hash(const value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      return 0x9e3779b9u;
    case boost::json::kind::bool_:
      return v.get_bool() ? 1 : 2;
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: {
      long double x = to_ld(v);
      if (x == 0) x = 0;  // -0.0 == 0.0
      return std::hash<long double>{}(x);
    }
    case boost::json::kind::string:
      return std::hash<std::string_view>{}(v.get_string());
    case boost::json::kind::array: {
      std::size_t h = 0xabcdef;
      for (const auto& e : v.get_array()) h = h * 1000003u ^ json_hash(e);
      return h;
    }
    case boost::json::kind::object: {
      std::size_t h = 0x12345;
      for (const auto& kv : v.get_object()) {
        h += std::hash<std::string_view>{}(kv.key()) * 31u ^ json_hash(kv.value());
      }
      return h;
    }
  }
  return 0;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string short_json(const value& v) {
  std::string s = boost::json::serialize(v);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  if (s.size() > 80) {
    out.append(s.substr(0, 77));
    out += "...";
  } else {
    out.append(s);
  }
  out += '"';
  return out;
}

// Instance nesting depth check without recursion.
bool depth_within(const value& root, std::size_t max_depth) {
  std::vector<std::pair<const value*, std::size_t>> stack{{&root, 0}};
  while (!stack.empty()) {
    auto [v, d] = stack.back();
    stack.pop_back();
    if (v->is_array()) {
      if (d + 1 > max_depth) return false;
      for (const auto& e : v->get_array()) {
        if (e.is_array() || e.is_object()) stack.emplace_back(&e, d + 1);
      }
    } else if (v->is_object()) {
      if (d + 1 > max_depth) return false;
      for (const auto& kv : v->get_object()) {
        if (kv.value().is_array() || kv.value().is_object()) stack.emplace_back(&kv.value(), d + 1);
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// URIs (RFC 3986 reference resolution)

struct uri_parts {
  std::string scheme;
  bool has_authority = false;
  std::string authority;
  std::string path;
  bool has_query = false;
  std::string query;
  bool has_fragment = false;
  std::string fragment;
};

uri_parts parse_uri(std::string_view s) {
  uri_parts u;
  if (auto h = s.find('#'); h != std::string_view::npos) {
    u.has_fragment = true;
    u.fragment = s.substr(h + 1);
    s = s.substr(0, h);
  }
  if (auto q = s.find('?'); q != std::string_view::npos) {
    u.has_query = true;
    u.query = s.substr(q + 1);
    s = s.substr(0, q);
  }
  if (auto c = s.find(':'); c != std::string_view::npos && c > 0) {
    bool ok = std::isalpha(static_cast<unsigned char>(s[0])) != 0;
    for (std::size_t i = 1; ok && i < c; ++i) {
      char ch = s[i];
      ok = std::isalnum(static_cast<unsigned char>(ch)) || ch == '+' || ch == '-' || ch == '.';
    }
    if (ok) {
      u.scheme = s.substr(0, c);
      s = s.substr(c + 1);
    }
  }
  if (s.substr(0, 2) == "//") {
    s.remove_prefix(2);
    auto sl = s.find('/');
    u.has_authority = true;
    u.authority = s.substr(0, sl);
    s = sl == std::string_view::npos ? std::string_view{} : s.substr(sl);
  }
  u.path = s;
  return u;
}

std::string remove_dot_segments(std::string_view in) {
  std::string input(in);
  std::string out;
  while (!input.empty()) {
    if (input.rfind("../", 0) == 0) {
      input.erase(0, 3);
    } else if (input.rfind("./", 0) == 0) {
      input.erase(0, 2);
    } else if (input.rfind("/./", 0) == 0) {
      input.erase(0, 2);
    } else if (input == "/.") {
      input = "/";
    } else if (input.rfind("/../", 0) == 0 || input == "/..") {
      input = input == "/.." ? "/" : input.substr(3);
      auto p = out.rfind('/');
      out.erase(p == std::string::npos ? 0 : p);
    } else if (input == "." || input == "..") {
      input.clear();
    } else {
      std::size_t start = input[0] == '/' ? 1 : 0;
      auto next = input.find('/', start);
      if (next == std::string::npos) next = input.size();
      out.append(input, 0, next);
      input.erase(0, next);
    }
  }
  return out;
}

std::string compose(const uri_parts& u) {
  std::string s;
  if (!u.scheme.empty()) s += u.scheme + ":";
  if (u.has_authority) s += "//" + u.authority;
  s += u.path;
  if (u.has_query) s += "?" + u.query;
  if (u.has_fragment) s += "#" + u.fragment;
  return s;
}

std::string resolve_uri(std::string_view base_s, std::string_view ref_s) {
  uri_parts r = parse_uri(ref_s);
  uri_parts b = parse_uri(base_s);
  uri_parts t;
  if (!r.scheme.empty()) {
    t = r;
    t.path = remove_dot_segments(r.path);
  } else {
    if (r.has_authority) {
      t.has_authority = true;
      t.authority = r.authority;
      t.path = remove_dot_segments(r.path);
      t.has_query = r.has_query;
      t.query = r.query;
    } else {
      if (r.path.empty()) {
        t.path = b.path;
        t.has_query = r.has_query || b.has_query;
        t.query = r.has_query ? r.query : b.query;
      } else {
        if (r.path[0] == '/') {
          t.path = remove_dot_segments(r.path);
        } else {
          std::string merged;
          if (b.has_authority && b.path.empty()) {
            merged = "/" + r.path;
          } else {
            auto p = b.path.rfind('/');
            merged = (p == std::string::npos ? std::string{} : b.path.substr(0, p + 1)) + r.path;
          }
          t.path = remove_dot_segments(merged);
        }
        t.has_query = r.has_query;
        t.query = r.query;
      }
      t.has_authority = b.has_authority;
      t.authority = b.authority;
    }
    t.scheme = b.scheme;
  }
  t.has_fragment = r.has_fragment;
  t.fragment = r.fragment;
  return compose(t);
}

// Splits "uri#frag" into ("uri", "frag"); a trailing empty fragment is dropped.
std::pair<std::string, std::string> split_fragment(std::string_view uri) {
  auto h = uri.find('#');
  if (h == std::string_view::npos) return {std::string(uri), {}};
  return {std::string(uri.substr(0, h)), std::string(uri.substr(h + 1))};
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Navigates an (already percent-decoded) JSON Pointer; nullptr when it does not resolve.
const value* navigate_pointer(const value& root, std::string_view ptr) {
  const value* cur = &root;
  if (ptr.empty()) return cur;
  if (ptr[0] != '/') return nullptr;
  std::size_t pos = 1;
  while (true) {
    auto next = ptr.find('/', pos);
    std::string_view raw = ptr.substr(pos, next == std::string_view::npos ? ptr.npos : next - pos);
    std::string seg;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        seg += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        seg += raw[i];
      }
    }
    if (cur->is_object()) {
      auto it = cur->get_object().find(seg);
      if (it == cur->get_object().end()) return nullptr;
      cur = &it->value();
    } else if (cur->is_array()) {
      if (seg.empty() || seg.size() > 18 ||
          !std::all_of(seg.begin(), seg.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return nullptr;
      }
      std::size_t idx = std::stoull(seg);
      if (idx >= cur->get_array().size()) return nullptr;
      cur = &cur->get_array()[idx];
    } else {
      return nullptr;
    }
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------
// Compiled form

struct node;

struct resource {
  std::string uri;
  std::unordered_map<std::string, const value*> dyn_anchor_values;  // compile-time only
  std::unordered_map<std::string, const node*> dyn_anchors;
};

struct regex_entry {
  std::string source;
  boost::wregex re;
};

// Evaluated-location annotations of one instance location (unevaluated* support).
struct annots {
  std::vector<bool> props;  // by member position in the instance object
  std::vector<bool> items;  // by index in the instance array
  void merge(const annots& o) {
    for (std::size_t i = 0; i < props.size() && i < o.props.size(); ++i) {
      if (o.props[i]) props[i] = true;
    }
    for (std::size_t i = 0; i < items.size() && i < o.items.size(); ++i) {
      if (o.items[i]) items[i] = true;
    }
  }
};

struct eval_state {
  const limits& lim;
  std::size_t max_eval_depth;
  bool collect_annotations;
  std::vector<validation_error>* errors = nullptr;  // nullptr = quiet (no error collection)
  std::size_t steps = 0;
  std::size_t depth = 0;
  bool aborted = false;
  std::string abort_message;
  std::vector<const resource*> scope;  // dynamic scope, outermost first
  std::vector<std::string> kw_path;
  std::vector<std::string> inst_path;

  bool halted() const { return aborted || (errors && errors->size() >= lim.max_errors); }
  void abort(std::string msg) {
    if (!aborted) {
      aborted = true;
      abort_message = std::move(msg);
    }
  }
  bool step() {
    if (++steps > lim.max_steps) {
      abort("validation aborted: evaluation budget of " + std::to_string(lim.max_steps) +
            " steps exceeded");
      return false;
    }
    return true;
  }
};

std::string join_pointer(const std::vector<std::string>& segs) {
  std::string s;
  for (const auto& seg : segs) {
    s += '/';
    s += escape_pointer_segment(seg);
  }
  return s;
}

void report(eval_state& st, std::initializer_list<std::string_view> kw, std::string msg) {
  if (!st.errors || st.errors->size() >= st.lim.max_errors) return;
  validation_error e;
  e.instance_path = join_pointer(st.inst_path);
  e.keyword_path = join_pointer(st.kw_path);
  for (auto seg : kw) {
    e.keyword_path += '/';
    e.keyword_path += escape_pointer_segment(seg);
  }
  e.message = std::move(msg);
  st.errors->push_back(std::move(e));
}

// Pushes path segments while errors are being collected; pops on destruction.
class path_guard {
 public:
  path_guard(eval_state& st, std::vector<std::string>& v, std::string_view a,
             std::string_view b = {}, bool two = false) {
    if (!st.errors) return;
    v_ = &v;
    n_ = v.size();
    v.emplace_back(a);
    if (two) v.emplace_back(b);
  }
  ~path_guard() {
    if (v_) v_->resize(n_);
  }
  path_guard(const path_guard&) = delete;
  path_guard& operator=(const path_guard&) = delete;

 private:
  std::vector<std::string>* v_ = nullptr;
  std::size_t n_ = 0;
};

class quiet_guard {
 public:
  explicit quiet_guard(eval_state& st) : st_(st), saved_(st.errors) { st.errors = nullptr; }
  ~quiet_guard() { st_.errors = saved_; }
  quiet_guard(const quiet_guard&) = delete;
  quiet_guard& operator=(const quiet_guard&) = delete;

 private:
  eval_state& st_;
  std::vector<validation_error>* saved_;
};

struct keyword {
  virtual ~keyword() = default;
  // `a` is the annotation set of the current node (nullptr when not collected).
  virtual bool eval(const value& inst, eval_state& st, annots* a) const = 0;
};

struct node {
  bool is_bool = false;
  bool bool_value = true;
  const resource* res = nullptr;
  std::vector<std::unique_ptr<keyword>> keywords;
  bool is_false() const { return is_bool && !bool_value; }
};

bool eval_node(const node& n, const value& inst, eval_state& st, annots* out) {
  if (st.halted() || !st.step()) return false;
  if (n.is_bool) {
    if (!n.bool_value) report(st, {}, "no value is allowed here (the schema is false)");
    return n.bool_value;
  }
  if (st.depth >= st.max_eval_depth) {
    st.abort("validation aborted: schema evaluation nested deeper than " +
             std::to_string(st.max_eval_depth) + " levels (recursive $ref without progress?)");
    return false;
  }
  ++st.depth;
  bool pushed = false;
  if (n.res && (st.scope.empty() || st.scope.back() != n.res)) {
    st.scope.push_back(n.res);
    pushed = true;
  }
  annots local;
  annots* la = nullptr;
  if (st.collect_annotations) {
    if (inst.is_object()) {
      local.props.assign(inst.get_object().size(), false);
      la = &local;
    } else if (inst.is_array()) {
      local.items.assign(inst.get_array().size(), false);
      la = &local;
    }
  }
  bool ok = true;
  for (const auto& k : n.keywords) {
    if (!k->eval(inst, st, la)) {
      ok = false;
      if (!st.errors || st.halted()) break;
    }
  }
  if (pushed) st.scope.pop_back();
  --st.depth;
  if (st.aborted) return false;
  if (ok && out && la) out->merge(*la);
  return ok;
}

// Evaluates `n` at instance member/element `seg` of the current location.
bool eval_child(const node& n, const value& inst, eval_state& st, std::string_view kw1,
                std::string_view kw2, bool two, std::string_view inst_seg) {
  path_guard kg(st, st.kw_path, kw1, kw2, two);
  path_guard ig(st, st.inst_path, inst_seg);
  return eval_node(n, inst, st, nullptr);
}

bool regex_match_search(const regex_entry& r, std::string_view s, eval_state& st) {
  if (!st.step()) return false;
  try {
    std::wstring w = utf8_to_wide(s);
    return boost::regex_search(w, r.re, boost::match_single_line | boost::match_not_dot_newline);
  } catch (const std::exception&) {
    st.abort("validation aborted: matching pattern " + quoted(r.source) +
             " exceeded the regular expression complexity limit");
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Keywords

enum type_bits : unsigned {
  t_null = 1,
  t_boolean = 2,
  t_object = 4,
  t_array = 8,
  t_number = 16,
  t_string = 32,
  t_integer = 64,
};

struct type_kw final : keyword {
  unsigned mask = 0;
  std::string desc;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    unsigned bit = 0;
    switch (inst.kind()) {
      case boost::json::kind::null:
        bit = t_null;
        break;
      case boost::json::kind::bool_:
        bit = t_boolean;
        break;
      case boost::json::kind::object:
        bit = t_object;
        break;
      case boost::json::kind::array:
        bit = t_array;
        break;
      case boost::json::kind::string:
        bit = t_string;
        break;
      default:
        bit = t_number | (is_integral(inst) ? t_integer : 0u);
        break;
    }
    if (mask & bit) return true;
    report(st, {"type"}, "expected " + desc + ", got " + std::string(kind_name(inst)));
    return false;
  }
};

struct enum_kw final : keyword {
  std::vector<const value*> values;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    for (const auto* v : values) {
      if (json_equal(inst, *v)) return true;
    }
    report(st, {"enum"}, "value " + short_json(inst) + " is not one of the allowed values");
    return false;
  }
};

struct const_kw final : keyword {
  const value* expected = nullptr;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    if (json_equal(inst, *expected)) return true;
    report(st, {"const"}, "value must be " + short_json(*expected));
    return false;
  }
};

struct number_bound_kw final : keyword {
  enum which { minimum, maximum, exclusive_minimum, exclusive_maximum } kind;
  std::string name;
  long double bound = 0;
  std::string text;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    if (!inst.is_number()) return true;
    long double x = to_ld(inst);
    bool ok = true;
    std::string rel;
    switch (kind) {
      case minimum:
        ok = x >= bound;
        rel = "less than the minimum ";
        break;
      case maximum:
        ok = x <= bound;
        rel = "greater than the maximum ";
        break;
      case exclusive_minimum:
        ok = x > bound;
        rel = "not greater than the exclusive minimum ";
        break;
      case exclusive_maximum:
        ok = x < bound;
        rel = "not less than the exclusive maximum ";
        break;
    }
    if (!ok) report(st, {name}, "number " + short_json(inst) + " is " + rel + text);
    return ok;
  }
};

struct multiple_of_kw final : keyword {
  const value* divisor = nullptr;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    if (!inst.is_number()) return true;
    bool ok;
    long double x = to_ld(inst);
    long double m = to_ld(*divisor);
    if (std::fmod(x, m) == 0) {  // exact on the binary values (integers, 0.5, ...)
      ok = true;
    } else {
      // Decimal fractions such as 0.01 have no exact binary form: compare the quotient with a
      // tolerance. A quotient that overflows a double is never a multiple.
      double q = static_cast<double>(x) / static_cast<double>(m);
      if (!std::isfinite(q)) {
        ok = false;
      } else {
        double r = std::nearbyint(q);
        double eps = std::max(1e-9, std::fabs(q) * 1e-15);
        ok = std::fabs(q - r) <= eps;
      }
    }
    if (!ok) {
      report(st, {"multipleOf"},
             "number " + short_json(inst) + " is not a multiple of " + short_json(*divisor));
    }
    return ok;
  }
};

struct length_kw final : keyword {
  bool is_max = false;
  std::size_t limit = 0;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    if (!inst.is_string()) return true;
    std::size_t n = utf8_length(inst.get_string());
    if (is_max ? n <= limit : n >= limit) return true;
    report(st, {is_max ? "maxLength" : "minLength"},
           "string has " + std::to_string(n) + " characters, " +
               (is_max ? "more than maxLength " : "fewer than minLength ") + std::to_string(limit));
    return false;
  }
};

struct pattern_kw final : keyword {
  std::shared_ptr<const regex_entry> re;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    if (!inst.is_string()) return true;
    if (regex_match_search(*re, inst.get_string(), st)) return true;
    report(st, {"pattern"}, "string does not match pattern " + quoted(re->source));
    return false;
  }
};

struct format_kw final : keyword {
  std::string format;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    if (!inst.is_string()) return true;
    bool known = true;
    if (check_format(format, inst.get_string(), known)) return true;
    report(st, {"format"}, "string is not a valid " + format);
    return false;
  }
};

struct count_kw final : keyword {
  bool is_max = false;
  bool on_object = false;  // minProperties/maxProperties; else minItems/maxItems
  std::size_t limit = 0;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    std::size_t n;
    if (on_object) {
      if (!inst.is_object()) return true;
      n = inst.get_object().size();
    } else {
      if (!inst.is_array()) return true;
      n = inst.get_array().size();
    }
    if (is_max ? n <= limit : n >= limit) return true;
    const char* kw = on_object ? (is_max ? "maxProperties" : "minProperties")
                               : (is_max ? "maxItems" : "minItems");
    report(st, {kw},
           std::string(on_object ? "object has " : "array has ") + std::to_string(n) +
               (on_object ? " properties, " : " items, ") +
               (is_max ? "more than " : "fewer than ") + kw + " " + std::to_string(limit));
    return false;
  }
};

struct unique_items_kw final : keyword {
  bool eval(const value& inst, eval_state& st, annots*) const override {
    if (!inst.is_array()) return true;
    const auto& arr = inst.get_array();
    // Sort indices by hash; only items with equal hashes are compared: O(n log n) typically.
    std::vector<std::pair<std::size_t, std::size_t>> hashed;
    hashed.reserve(arr.size());
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (!st.step()) return false;
      hashed.emplace_back(json_hash(arr[i]), i);
    }
    std::sort(hashed.begin(), hashed.end());
    for (std::size_t a = 0; a < hashed.size(); ++a) {
      for (std::size_t b = a + 1; b < hashed.size() && hashed[b].first == hashed[a].first; ++b) {
        if (!st.step()) return false;
        std::size_t i = hashed[a].second, j = hashed[b].second;
        if (json_equal(arr[i], arr[j])) {
          report(st, {"uniqueItems"},
                 "array items " + std::to_string(std::min(i, j)) + " and " +
                     std::to_string(std::max(i, j)) + " are equal, but items must be unique");
          return false;
        }
      }
    }
    return true;
  }
};

struct required_kw final : keyword {
  std::vector<std::string> names;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    if (!inst.is_object()) return true;
    bool ok = true;
    for (const auto& n : names) {
      if (!inst.get_object().contains(n)) {
        report(st, {"required"}, "missing required property " + quoted(n));
        ok = false;
        if (!st.errors) return false;
      }
    }
    return ok;
  }
};

struct dependent_required_kw final : keyword {
  std::string name;  // dependentRequired or dependencies
  std::vector<std::pair<std::string, std::vector<std::string>>> deps;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    if (!inst.is_object()) return true;
    const auto& o = inst.get_object();
    bool ok = true;
    for (const auto& [key, req] : deps) {
      if (!o.contains(key)) continue;
      for (const auto& r : req) {
        if (!o.contains(r)) {
          report(
              st, {name, key},
              "missing property " + quoted(r) + ", required when " + quoted(key) + " is present");
          ok = false;
          if (!st.errors) return false;
        }
      }
    }
    return ok;
  }
};

// properties + patternProperties + additionalProperties.
struct properties_kw final : keyword {
  std::map<std::string, const node*, std::less<>> props;
  std::vector<std::pair<std::shared_ptr<const regex_entry>, const node*>> patterns;
  const node* additional = nullptr;
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    if (!inst.is_object()) return true;
    const auto& o = inst.get_object();
    bool ok = true;
    std::size_t i = 0;
    for (auto it = o.begin(); it != o.end(); ++it, ++i) {
      std::string_view key = it->key();
      bool matched = false;
      if (auto p = props.find(key); p != props.end()) {
        matched = true;
        if (p->second->is_false()) {
          path_guard ig(st, st.inst_path, key);
          report(st, {"properties", key}, "property " + quoted(key) + " is not allowed");
          ok = false;
        } else if (!eval_child(*p->second, it->value(), st, "properties", key, true, key)) {
          ok = false;
        }
      }
      for (const auto& [re, n] : patterns) {
        if (!regex_match_search(*re, key, st)) {
          if (st.aborted) return false;
          continue;
        }
        matched = true;
        if (!eval_child(*n, it->value(), st, "patternProperties", re->source, true, key)) {
          ok = false;
        }
      }
      if (!matched && additional) {
        matched = true;
        if (additional->is_false()) {
          path_guard ig(st, st.inst_path, key);
          report(st, {"additionalProperties"},
                 "additional property " + quoted(key) + " is not allowed");
          ok = false;
        } else if (!eval_child(*additional, it->value(), st, "additionalProperties", {}, false,
                               key)) {
          ok = false;
        }
      }
      if (matched && a) a->props[i] = true;
      if (!ok && (!st.errors || st.halted())) return false;
    }
    return ok;
  }
};

struct property_names_kw final : keyword {
  const node* schema = nullptr;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    if (!inst.is_object()) return true;
    bool ok = true;
    for (const auto& kv : inst.get_object()) {
      value name(kv.key());
      bool r;
      {
        quiet_guard q(st);
        r = eval_node(*schema, name, st, nullptr);
      }
      if (!r) {
        if (st.aborted) return false;
        report(st, {"propertyNames"},
               "property name " + quoted(kv.key()) + " does not match the propertyNames schema");
        ok = false;
        if (!st.errors || st.halted()) return false;
      }
    }
    return ok;
  }
};

// dependentSchemas / draft-07 dependencies (schema form).
struct dependent_schemas_kw final : keyword {
  std::string name;
  std::vector<std::pair<std::string, const node*>> deps;
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    if (!inst.is_object()) return true;
    bool ok = true;
    for (const auto& [key, n] : deps) {
      if (!inst.get_object().contains(key)) continue;
      path_guard kg(st, st.kw_path, name, key, true);
      if (!eval_node(*n, inst, st, a)) {
        ok = false;
        if (!st.errors || st.halted()) return false;
      }
    }
    return ok;
  }
};

// prefixItems + items (2020-12) or items + additionalItems (draft-07).
struct items_kw final : keyword {
  std::vector<const node*> prefix;
  std::string prefix_name;
  const node* rest = nullptr;
  std::string rest_name;
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    if (!inst.is_array()) return true;
    const auto& arr = inst.get_array();
    bool ok = true;
    std::size_t np = std::min(prefix.size(), arr.size());
    for (std::size_t i = 0; i < np; ++i) {
      std::string idx = std::to_string(i);
      if (!eval_child(*prefix[i], arr[i], st, prefix_name, idx, true, idx)) {
        ok = false;
        if (!st.errors || st.halted()) return false;
      }
      if (a) a->items[i] = true;
    }
    if (rest && arr.size() > prefix.size()) {
      if (rest->is_false()) {
        report(st, {rest_name},
               "array has " + std::to_string(arr.size()) + " items, at most " +
                   std::to_string(prefix.size()) + " are allowed");
        return false;
      }
      for (std::size_t i = prefix.size(); i < arr.size(); ++i) {
        if (!eval_child(*rest, arr[i], st, rest_name, {}, false, std::to_string(i))) {
          ok = false;
          if (!st.errors || st.halted()) return false;
        }
        if (a) a->items[i] = true;
      }
    }
    return ok;
  }
};

struct contains_kw final : keyword {
  const node* schema = nullptr;
  std::size_t min = 1;
  std::optional<std::size_t> max;
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    if (!inst.is_array()) return true;
    const auto& arr = inst.get_array();
    std::size_t count = 0;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      bool r;
      {
        quiet_guard q(st);
        r = eval_node(*schema, arr[i], st, nullptr);
      }
      if (st.aborted) return false;
      if (r) {
        ++count;
        if (a) a->items[i] = true;
        if (!a && !max && count >= min) break;
      }
    }
    if (count < min) {
      if (min == 1) {
        report(st, {"contains"}, "array does not contain an item matching the contains schema");
      } else {
        report(st, {"minContains"},
               "array contains " + std::to_string(count) + " matching items, fewer than " +
                   "minContains " + std::to_string(min));
      }
      return false;
    }
    if (max && count > *max) {
      report(st, {"maxContains"},
             "array contains " + std::to_string(count) + " matching items, more than " +
                 "maxContains " + std::to_string(*max));
      return false;
    }
    return true;
  }
};

struct all_of_kw final : keyword {
  std::vector<const node*> schemas;
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    bool ok = true;
    for (std::size_t i = 0; i < schemas.size(); ++i) {
      path_guard kg(st, st.kw_path, "allOf", std::to_string(i), true);
      if (!eval_node(*schemas[i], inst, st, a)) {
        ok = false;
        if (!st.errors || st.halted()) return false;
      }
    }
    return ok;
  }
};

struct any_of_kw final : keyword {
  std::vector<const node*> schemas;
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    bool any = false;
    {
      quiet_guard q(st);
      for (const auto* s : schemas) {
        if (eval_node(*s, inst, st, a)) {
          any = true;
          if (!a) break;
        }
        if (st.aborted) return false;
      }
    }
    if (!any) report(st, {"anyOf"}, "value does not match any of the anyOf schemas");
    return any;
  }
};

struct one_of_kw final : keyword {
  std::vector<const node*> schemas;
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    std::vector<std::size_t> matched;
    {
      quiet_guard q(st);
      for (std::size_t i = 0; i < schemas.size() && matched.size() < 2; ++i) {
        if (eval_node(*schemas[i], inst, st, a)) matched.push_back(i);
        if (st.aborted) return false;
      }
    }
    if (matched.size() == 1) return true;
    if (matched.empty()) {
      report(st, {"oneOf"}, "value does not match any of the oneOf schemas");
    } else {
      report(st, {"oneOf"},
             "value matches more than one oneOf schema (" + std::to_string(matched[0]) + " and " +
                 std::to_string(matched[1]) + ")");
    }
    return false;
  }
};

struct not_kw final : keyword {
  const node* schema = nullptr;
  bool eval(const value& inst, eval_state& st, annots*) const override {
    bool r;
    {
      quiet_guard q(st);
      r = eval_node(*schema, inst, st, nullptr);
    }
    if (st.aborted) return false;
    if (!r) return true;
    report(st, {"not"}, "value must not match the \"not\" schema");
    return false;
  }
};

struct if_kw final : keyword {
  const node* cond = nullptr;
  const node* then_ = nullptr;
  const node* else_ = nullptr;
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    if (!then_ && !else_ && !a) return true;
    bool r;
    {
      quiet_guard q(st);
      r = eval_node(*cond, inst, st, a);
    }
    if (st.aborted) return false;
    const node* next = r ? then_ : else_;
    if (!next) return true;
    path_guard kg(st, st.kw_path, r ? "then" : "else");
    return eval_node(*next, inst, st, a);
  }
};

struct ref_kw final : keyword {
  std::string name;  // $ref or $dynamicRef
  const node* target = nullptr;
  std::string dynamic_anchor;  // non-empty: $dynamicRef with dynamic behaviour
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    const node* t = target;
    if (!dynamic_anchor.empty()) {
      for (const auto* r : st.scope) {
        auto it = r->dyn_anchors.find(dynamic_anchor);
        if (it != r->dyn_anchors.end()) {
          t = it->second;
          break;
        }
      }
    }
    path_guard kg(st, st.kw_path, name);
    return eval_node(*t, inst, st, a);
  }
};

struct unevaluated_properties_kw final : keyword {
  const node* schema = nullptr;
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    if (!inst.is_object()) return true;
    const auto& o = inst.get_object();
    bool ok = true;
    std::size_t i = 0;
    for (auto it = o.begin(); it != o.end(); ++it, ++i) {
      if (a && a->props[i]) continue;
      std::string_view key = it->key();
      if (schema->is_false()) {
        path_guard ig(st, st.inst_path, key);
        report(st, {"unevaluatedProperties"},
               "unevaluated property " + quoted(key) + " is not allowed");
        ok = false;
      } else if (!eval_child(*schema, it->value(), st, "unevaluatedProperties", {}, false, key)) {
        ok = false;
      }
      if (!ok && (!st.errors || st.halted())) return false;
    }
    if (ok && a) std::fill(a->props.begin(), a->props.end(), true);
    return ok;
  }
};

struct unevaluated_items_kw final : keyword {
  const node* schema = nullptr;
  bool eval(const value& inst, eval_state& st, annots* a) const override {
    if (!inst.is_array()) return true;
    const auto& arr = inst.get_array();
    bool ok = true;
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (a && a->items[i]) continue;
      if (schema->is_false()) {
        path_guard ig(st, st.inst_path, std::to_string(i));
        report(st, {"unevaluatedItems"}, "unevaluated array item is not allowed");
        ok = false;
      } else if (!eval_child(*schema, arr[i], st, "unevaluatedItems", {}, false,
                             std::to_string(i))) {
        ok = false;
      }
      if (!ok && (!st.errors || st.halted())) return false;
    }
    if (ok && a) std::fill(a->items.begin(), a->items.end(), true);
    return ok;
  }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------

struct compiled_schema_impl {
  dialect root_dialect = dialect::draft2020_12;
  limits bounds;
  bool annotations_needed = false;
  std::deque<boost::json::value> docs;  // owned copies of the schema and remote documents
  std::vector<std::unique_ptr<detail::resource>> resources;
  std::vector<std::unique_ptr<detail::node>> nodes;
  const detail::node* root = nullptr;
};

namespace detail {
namespace {

struct loc_info {
  std::string base;
  resource* res = nullptr;
  dialect d = dialect::draft2020_12;
  unsigned vocab = 0;
};

struct pending_ref {
  ref_kw* kw;
  std::string uri;  // absolute, possibly with fragment
  loc_info ctx;
  bool dynamic;
};

class compiler {
 public:
  compiler(compiled_schema_impl& out, const compile_options& opt) : out_(out), opt_(opt) {}

  void run(const value& schema) {
    out_.docs.push_back(schema);
    const value& root = out_.docs.back();
    dialect d = opt_.default_dialect;
    unsigned vocab = d == dialect::draft7 ? kDraft7Vocab : kDefaultVocab2020;
    index(root, std::string(kDefaultBase), nullptr, d, vocab, 0, true);
    out_.root_dialect = locs_.at(&root).d;
    out_.root = compile_node(root, "", 0);
    while (true) {
      resolve_pending();
      bool more = false;
      for (std::size_t i = 0; i < out_.resources.size(); ++i) {
        resource& r = *out_.resources[i];
        for (const auto& [name, v] : r.dyn_anchor_values) {
          if (r.dyn_anchors.count(name)) continue;
          r.dyn_anchors[name] = compile_node(*v, r.uri + "#" + name, 0);
          more = true;
        }
      }
      if (!more && pending_.empty()) break;
    }
    out_.annotations_needed = annotations_needed_;
  }

 private:
  [[noreturn]] static void fail(const std::string& where, const std::string& msg) {
    throw compile_error("invalid schema at " + (where.empty() ? std::string("root") : where) +
                        ": " + msg);
  }

  std::pair<dialect, unsigned> dialect_of(std::string_view schema_uri) {
    auto [uri, frag] = split_fragment(schema_uri);
    if (uri == kUri2020) return {dialect::draft2020_12, kDefaultVocab2020};
    if (uri == kUriDraft7 || uri == "https://json-schema.org/draft-07/schema") {
      return {dialect::draft7, kDraft7Vocab};
    }
    const value* doc = builtin_document(uri);
    if (!doc && opt_.resolve_remote) doc = opt_.resolve_remote(uri);
    if (doc && doc->is_object()) {
      const auto* ms = doc->get_object().if_contains("$schema");
      if (ms && ms->is_string() && split_fragment(ms->get_string()).first == kUri2020) {
        const auto* vocab = doc->get_object().if_contains("$vocabulary");
        if (!vocab) return {dialect::draft2020_12, kDefaultVocab2020};
        if (!vocab->is_object()) throw compile_error("invalid $vocabulary in metaschema " + uri);
        unsigned bits = v_core;
        static const std::pair<std::string_view, unsigned> known[] = {
            {"https://json-schema.org/draft/2020-12/vocab/core", v_core},
            {"https://json-schema.org/draft/2020-12/vocab/applicator", v_applicator},
            {"https://json-schema.org/draft/2020-12/vocab/unevaluated", v_unevaluated},
            {"https://json-schema.org/draft/2020-12/vocab/validation", v_validation},
            {"https://json-schema.org/draft/2020-12/vocab/meta-data", v_meta},
            {"https://json-schema.org/draft/2020-12/vocab/format-annotation", v_format_annotation},
            {"https://json-schema.org/draft/2020-12/vocab/format-assertion", v_format_assertion},
            {"https://json-schema.org/draft/2020-12/vocab/content", v_content},
        };
        for (const auto& kv : vocab->get_object()) {
          auto k = std::find_if(std::begin(known), std::end(known),
                                [&](const auto& p) { return p.first == kv.key(); });
          if (k != std::end(known)) {
            bits |= k->second;
          } else if (kv.value().is_bool() && kv.value().get_bool()) {
            throw compile_error("unsupported required vocabulary \"" + std::string(kv.key()) +
                                "\" in metaschema " + uri);
          }
        }
        return {dialect::draft2020_12, bits};
      }
    }
    throw compile_error("unsupported dialect \"" + std::string(schema_uri) +
                        "\" (supported: https://json-schema.org/draft/2020-12/schema, "
                        "http://json-schema.org/draft-07/schema#)");
  }

  resource* new_resource(const std::string& uri, const value& v) {
    out_.resources.push_back(std::make_unique<resource>());
    resource* r = out_.resources.back().get();
    r->uri = uri;
    uris_.emplace(uri, &v);
    return r;
  }

  void index_children(const value& v, const loc_info& li, std::size_t depth) {
    const object& o = v.get_object();
    auto one = [&](std::string_view k) {
      if (const value* c = o.if_contains(k)) index(*c, li.base, li.res, li.d, li.vocab, depth + 1);
    };
    auto arr = [&](std::string_view k) {
      if (const value* c = o.if_contains(k); c && c->is_array()) {
        for (const auto& e : c->get_array()) index(e, li.base, li.res, li.d, li.vocab, depth + 1);
      }
    };
    auto map = [&](std::string_view k) {
      if (const value* c = o.if_contains(k); c && c->is_object()) {
        for (const auto& e : c->get_object()) {
          if (e.value().is_object() || e.value().is_bool()) {
            index(e.value(), li.base, li.res, li.d, li.vocab, depth + 1);
          }
        }
      }
    };
    for (auto k :
         {"additionalProperties", "propertyNames", "contains", "not", "if", "then", "else"}) {
      one(k);
    }
    for (auto k : {"allOf", "anyOf", "oneOf"}) arr(k);
    for (auto k : {"properties", "patternProperties"}) map(k);
    if (li.d == dialect::draft2020_12) {
      for (auto k : {"items", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}) {
        one(k);
      }
      arr("prefixItems");
      map("$defs");
      map("dependentSchemas");
    } else {
      one("additionalItems");
      if (const value* c = o.if_contains("items")) {
        if (c->is_array()) {
          arr("items");
        } else {
          one("items");
        }
      }
      map("definitions");
    }
    map("dependencies");
  }

  void index(const value& v, const std::string& base_in, resource* res_in, dialect d_in,
             unsigned vocab_in, std::size_t depth, bool is_root = false) {
    if (depth > opt_.bounds.max_depth) {
      throw compile_error("schema nesting exceeds the maximum depth of " +
                          std::to_string(opt_.bounds.max_depth));
    }
    if (locs_.count(&v)) return;
    loc_info li{base_in, res_in, d_in, vocab_in};
    if (v.is_object()) {
      const object& o = v.get_object();
      const value* idv = o.if_contains("$id");
      std::string id = idv && idv->is_string() ? std::string(idv->get_string()) : std::string();
      bool anchor_only_id = li.d == dialect::draft7 && !id.empty() && id[0] == '#';
      bool new_res = is_root || (!id.empty() && !anchor_only_id);
      if (li.d == dialect::draft7 && o.contains("$ref")) {
        id.clear();
        anchor_only_id = false;
        new_res = is_root;
      }
      if (new_res) {
        if (const value* sv = o.if_contains("$schema")) {
          if (!sv->is_string()) throw compile_error("$schema must be a string");
          std::tie(li.d, li.vocab) = dialect_of(sv->get_string());
          if (li.d == dialect::draft7 && o.contains("$ref")) id.clear();
          if (li.d == dialect::draft7 && !id.empty() && id[0] == '#') {
            anchor_only_id = true;
            new_res = is_root;
          }
        }
      }
      if (new_res) {
        std::string uri = base_in;
        if (!id.empty() && !anchor_only_id) uri = split_fragment(resolve_uri(base_in, id)).first;
        li.res = new_resource(uri, v);
        if (is_root && uri != base_in) uris_.emplace(base_in, &v);
        li.base = uri;
      }
      if (li.d == dialect::draft7 && !id.empty()) {
        auto frag = split_fragment(resolve_uri(li.base, id)).second;
        if (!frag.empty()) uris_.emplace(li.base + "#" + frag, &v);
      }
      if (li.d == dialect::draft2020_12) {
        if (const value* a = o.if_contains("$anchor"); a && a->is_string()) {
          uris_.emplace(li.base + "#" + std::string(a->get_string()), &v);
        }
        if (const value* a = o.if_contains("$dynamicAnchor"); a && a->is_string()) {
          std::string name(a->get_string());
          uris_.emplace(li.base + "#" + name, &v);
          if (li.res) li.res->dyn_anchor_values.emplace(name, &v);
        }
      }
    }
    locs_.emplace(&v, li);
    if (v.is_object()) index_children(v, li, depth);
  }

  void load_remote(const std::string& uri, const loc_info& ctx) {
    const value* doc = builtin_document(uri);
    if (!doc && opt_.resolve_remote) {
      if (const value* r = opt_.resolve_remote(uri)) {
        out_.docs.push_back(*r);
        doc = &out_.docs.back();
      }
    }
    if (!doc) {
      throw compile_error("unresolved $ref to external document \"" + uri +
                          "\" (remote schemas are never fetched over the network; supply it "
                          "through compile_options::resolve_remote)");
    }
    unsigned vocab = ctx.d == dialect::draft7 ? kDraft7Vocab : kDefaultVocab2020;
    index(*doc, uri, nullptr, ctx.d, vocab, 0, true);
  }

  const value* resolve_target(const std::string& abs, const loc_info& ctx) {
    auto [doc_uri, frag] = split_fragment(abs);
    if (!uris_.count(doc_uri)) load_remote(doc_uri, ctx);
    auto it = uris_.find(doc_uri);
    if (it == uris_.end()) throw compile_error("unresolved $ref \"" + abs + "\"");
    const value* root = it->second;
    if (frag.empty()) return root;
    if (frag[0] == '/') {
      const value* t = navigate_pointer(*root, percent_decode(frag));
      if (!t) throw compile_error("unresolved $ref \"" + abs + "\": JSON pointer not found");
      if (!locs_.count(t)) {
        const loc_info& rl = locs_.at(root);
        index(*t, rl.base, rl.res, rl.d, rl.vocab, 0);
      }
      return t;
    }
    auto a = uris_.find(doc_uri + "#" + percent_decode(frag));
    if (a == uris_.end()) throw compile_error("unresolved $ref \"" + abs + "\": anchor not found");
    return a->second;
  }

  void resolve_pending() {
    while (!pending_.empty()) {
      pending_ref p = std::move(pending_.back());
      pending_.pop_back();
      const value* t = resolve_target(p.uri, p.ctx);
      p.kw->target = compile_node(*t, p.uri, 0);
      if (p.dynamic) {
        auto frag = split_fragment(p.uri).second;
        const value* da = t->is_object() ? t->get_object().if_contains("$dynamicAnchor") : nullptr;
        if (!frag.empty() && frag[0] != '/' && da && da->is_string() && da->get_string() == frag) {
          p.kw->dynamic_anchor = frag;
        }
      }
    }
  }

  std::size_t nonneg(const value* v, const std::string& where, std::string_view kw) {
    if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::size_t>(v->get_int64());
    if (v->is_uint64()) return static_cast<std::size_t>(v->get_uint64());
    if (v->is_double() && is_integral(*v) && v->get_double() >= 0) {
      double d = v->get_double();
      return d > 1e18 ? static_cast<std::size_t>(-1) : static_cast<std::size_t>(d);
    }
    fail(where, std::string(kw) + " must be a non-negative integer");
  }

  std::shared_ptr<const regex_entry> make_regex(std::string_view source, const std::string& where) {
    auto r = std::make_shared<regex_entry>();
    r->source = std::string(source);
    try {
      r->re = compile_ecma_regex(r->source);
    } catch (const std::exception& e) {
      fail(where, "invalid regular expression " + quoted(r->source) + ": " + e.what());
    }
    return r;
  }

  node* compile_node(const value& v, const std::string& where, std::size_t depth) {
    if (auto it = compiled_.find(&v); it != compiled_.end()) return it->second;
    if (depth > opt_.bounds.max_depth) {
      throw compile_error("schema nesting exceeds the maximum depth of " +
                          std::to_string(opt_.bounds.max_depth));
    }
    if (out_.nodes.size() >= opt_.bounds.max_subschemas) {
      throw compile_error("schema has more than " + std::to_string(opt_.bounds.max_subschemas) +
                          " subschemas");
    }
    auto li_it = locs_.find(&v);
    if (li_it == locs_.end()) fail(where, "internal error: subschema was not indexed");
    const loc_info li = li_it->second;
    out_.nodes.push_back(std::make_unique<node>());
    node* n = out_.nodes.back().get();
    compiled_.emplace(&v, n);
    n->res = li.res;
    if (v.is_bool()) {
      n->is_bool = true;
      n->bool_value = v.get_bool();
      return n;
    }
    if (!v.is_object()) fail(where, "a schema must be an object or a boolean");
    const object& o = v.get_object();
    const bool d7 = li.d == dialect::draft7;
    const unsigned vb = li.vocab;
    auto sub = [&](const value& c, std::string_view k1, std::string_view k2 = {}) {
      std::string w = where + "/" + escape_pointer_segment(k1);
      if (!k2.empty()) w += "/" + escape_pointer_segment(k2);
      if (!locs_.count(&c)) index(c, li.base, li.res, li.d, li.vocab, 0);
      return compile_node(c, w, depth + 1);
    };
    auto get = [&](std::string_view k) { return o.if_contains(k); };
    auto add_ref = [&](std::string_view name, bool dynamic) {
      const value* r = get(name);
      if (!r) return;
      if (!r->is_string()) fail(where, std::string(name) + " must be a string");
      auto kw = std::make_unique<ref_kw>();
      kw->name = std::string(name);
      pending_.push_back({kw.get(), resolve_uri(li.base, r->get_string()), li, dynamic});
      n->keywords.push_back(std::move(kw));
    };

    if (d7 && get("$ref")) {  // draft-07: $ref overrides every sibling keyword
      add_ref("$ref", false);
      return n;
    }

    // --- validation vocabulary
    if (vb & v_validation) {
      if (const value* t = get("type")) {
        auto kw = std::make_unique<type_kw>();
        auto add = [&](const value& s) {
          if (!s.is_string()) fail(where, "type must be a string or an array of strings");
          std::string_view name = s.get_string();
          static const std::pair<std::string_view, unsigned> names[] = {
              {"null", t_null},      {"boolean", t_boolean}, {"object", t_object},
              {"array", t_array},    {"number", t_number},   {"string", t_string},
              {"integer", t_integer}};
          auto f = std::find_if(std::begin(names), std::end(names),
                                [&](const auto& p) { return p.first == name; });
          if (f == std::end(names)) fail(where, "unknown type " + quoted(name));
          kw->mask |= f->second;
          if (!kw->desc.empty()) kw->desc += " or ";
          kw->desc += std::string(name);
        };
        if (t->is_array()) {
          for (const auto& e : t->get_array()) add(e);
        } else {
          add(*t);
        }
        if (kw->mask & t_number) kw->mask |= t_integer;
        n->keywords.push_back(std::move(kw));
      }
      if (const value* e = get("enum")) {
        if (!e->is_array()) fail(where, "enum must be an array");
        auto kw = std::make_unique<enum_kw>();
        for (const auto& x : e->get_array()) kw->values.push_back(&x);
        n->keywords.push_back(std::move(kw));
      }
      if (const value* c = get("const")) {
        auto kw = std::make_unique<const_kw>();
        kw->expected = c;
        n->keywords.push_back(std::move(kw));
      }
      using nb = number_bound_kw;
      for (auto [name, which] :
           {std::pair{"minimum", nb::minimum}, std::pair{"maximum", nb::maximum},
            std::pair{"exclusiveMinimum", nb::exclusive_minimum},
            std::pair{"exclusiveMaximum", nb::exclusive_maximum}}) {
        if (const value* b = get(name)) {
          if (!b->is_number()) fail(where, std::string(name) + " must be a number");
          auto kw = std::make_unique<nb>();
          kw->kind = which;
          kw->name = name;
          kw->bound = to_ld(*b);
          kw->text = short_json(*b);
          n->keywords.push_back(std::move(kw));
        }
      }
      if (const value* m = get("multipleOf")) {
        if (!m->is_number() || !(to_ld(*m) > 0)) fail(where, "multipleOf must be a number > 0");
        auto kw = std::make_unique<multiple_of_kw>();
        kw->divisor = m;
        n->keywords.push_back(std::move(kw));
      }
      for (auto [name, is_max] : {std::pair{"minLength", false}, std::pair{"maxLength", true}}) {
        if (const value* l = get(name)) {
          auto kw = std::make_unique<length_kw>();
          kw->is_max = is_max;
          kw->limit = nonneg(l, where, name);
          n->keywords.push_back(std::move(kw));
        }
      }
      if (const value* p = get("pattern")) {
        if (!p->is_string()) fail(where, "pattern must be a string");
        auto kw = std::make_unique<pattern_kw>();
        kw->re = make_regex(p->get_string(), where + "/pattern");
        n->keywords.push_back(std::move(kw));
      }
      for (auto [name, is_max, on_obj] :
           {std::tuple{"minItems", false, false}, std::tuple{"maxItems", true, false},
            std::tuple{"minProperties", false, true}, std::tuple{"maxProperties", true, true}}) {
        if (const value* l = get(name)) {
          auto kw = std::make_unique<count_kw>();
          kw->is_max = is_max;
          kw->on_object = on_obj;
          kw->limit = nonneg(l, where, name);
          n->keywords.push_back(std::move(kw));
        }
      }
      if (const value* u = get("uniqueItems")) {
        if (!u->is_bool()) fail(where, "uniqueItems must be a boolean");
        if (u->get_bool()) n->keywords.push_back(std::make_unique<unique_items_kw>());
      }
      if (const value* r = get("required")) {
        if (!r->is_array()) fail(where, "required must be an array of strings");
        auto kw = std::make_unique<required_kw>();
        for (const auto& e : r->get_array()) {
          if (!e.is_string()) fail(where, "required must be an array of strings");
          kw->names.emplace_back(e.get_string());
        }
        if (!kw->names.empty()) n->keywords.push_back(std::move(kw));
      }
      if (!d7) {
        if (const value* dr = get("dependentRequired")) {
          if (!dr->is_object()) fail(where, "dependentRequired must be an object");
          auto kw = std::make_unique<dependent_required_kw>();
          kw->name = "dependentRequired";
          for (const auto& kv : dr->get_object()) {
            if (!kv.value().is_array()) fail(where, "dependentRequired values must be arrays");
            std::vector<std::string> req;
            for (const auto& e : kv.value().get_array()) {
              if (!e.is_string()) fail(where, "dependentRequired values must be string arrays");
              req.emplace_back(e.get_string());
            }
            kw->deps.emplace_back(std::string(kv.key()), std::move(req));
          }
          n->keywords.push_back(std::move(kw));
        }
      }
    }
    bool assert_fmt = opt_.assert_format || (vb & v_format_assertion);
    if (const value* f = get("format"); f && assert_fmt && f->is_string()) {
      auto kw = std::make_unique<format_kw>();
      kw->format = std::string(f->get_string());
      n->keywords.push_back(std::move(kw));
    }

    // --- core
    add_ref("$ref", false);
    if (!d7) add_ref("$dynamicRef", true);

    // --- applicators
    if (vb & v_applicator) {
      const value* props = get("properties");
      const value* pats = get("patternProperties");
      const value* addl = get("additionalProperties");
      if (props || pats || addl) {
        auto kw = std::make_unique<properties_kw>();
        if (props) {
          if (!props->is_object()) fail(where, "properties must be an object");
          for (const auto& kv : props->get_object()) {
            kw->props.emplace(std::string(kv.key()), sub(kv.value(), "properties", kv.key()));
          }
        }
        if (pats) {
          if (!pats->is_object()) fail(where, "patternProperties must be an object");
          for (const auto& kv : pats->get_object()) {
            kw->patterns.emplace_back(make_regex(kv.key(), where + "/patternProperties"),
                                      sub(kv.value(), "patternProperties", kv.key()));
          }
        }
        if (addl) kw->additional = sub(*addl, "additionalProperties");
        n->keywords.push_back(std::move(kw));
      }
      if (const value* pn = get("propertyNames")) {
        auto kw = std::make_unique<property_names_kw>();
        kw->schema = sub(*pn, "propertyNames");
        n->keywords.push_back(std::move(kw));
      }
      {
        // draft-07 `dependencies`; also honoured in 2020-12 for compatibility with older schemas.
        if (const value* deps = get("dependencies")) {
          if (!deps->is_object()) fail(where, "dependencies must be an object");
          auto req = std::make_unique<dependent_required_kw>();
          req->name = "dependencies";
          auto sch = std::make_unique<dependent_schemas_kw>();
          sch->name = "dependencies";
          for (const auto& kv : deps->get_object()) {
            if (kv.value().is_array()) {
              std::vector<std::string> names;
              for (const auto& e : kv.value().get_array()) {
                if (!e.is_string()) fail(where, "dependencies arrays must hold strings");
                names.emplace_back(e.get_string());
              }
              req->deps.emplace_back(std::string(kv.key()), std::move(names));
            } else {
              sch->deps.emplace_back(std::string(kv.key()),
                                     sub(kv.value(), "dependencies", kv.key()));
            }
          }
          if (!req->deps.empty()) n->keywords.push_back(std::move(req));
          if (!sch->deps.empty()) n->keywords.push_back(std::move(sch));
        }
      }
      if (const value* ds = d7 ? nullptr : get("dependentSchemas")) {
        if (!ds->is_object()) fail(where, "dependentSchemas must be an object");
        auto kw = std::make_unique<dependent_schemas_kw>();
        kw->name = "dependentSchemas";
        for (const auto& kv : ds->get_object()) {
          kw->deps.emplace_back(std::string(kv.key()),
                                sub(kv.value(), "dependentSchemas", kv.key()));
        }
        n->keywords.push_back(std::move(kw));
      }
      // arrays
      {
        auto kw = std::make_unique<items_kw>();
        const value* items = get("items");
        if (d7) {
          kw->prefix_name = "items";
          if (items && items->is_array()) {
            std::size_t i = 0;
            for (const auto& e : items->get_array()) {
              kw->prefix.push_back(sub(e, "items", std::to_string(i++)));
            }
            if (const value* ai = get("additionalItems")) {
              kw->rest = sub(*ai, "additionalItems");
              kw->rest_name = "additionalItems";
            }
          } else if (items) {
            kw->rest = sub(*items, "items");
            kw->rest_name = "items";
          }
        } else {
          kw->prefix_name = "prefixItems";
          if (const value* pi = get("prefixItems")) {
            if (!pi->is_array()) fail(where, "prefixItems must be an array");
            std::size_t i = 0;
            for (const auto& e : pi->get_array()) {
              kw->prefix.push_back(sub(e, "prefixItems", std::to_string(i++)));
            }
          }
          if (items) {
            if (items->is_array()) fail(where, "items must be a schema (use prefixItems)");
            kw->rest = sub(*items, "items");
            kw->rest_name = "items";
          }
        }
        if (!kw->prefix.empty() || kw->rest) n->keywords.push_back(std::move(kw));
      }
      if (const value* c = get("contains")) {
        auto kw = std::make_unique<contains_kw>();
        kw->schema = sub(*c, "contains");
        if (!d7 && (vb & v_validation)) {
          if (const value* mn = get("minContains")) kw->min = nonneg(mn, where, "minContains");
          if (const value* mx = get("maxContains")) kw->max = nonneg(mx, where, "maxContains");
        }
        n->keywords.push_back(std::move(kw));
      }
      if (const value* ao = get("allOf")) {
        if (!ao->is_array() || ao->get_array().empty())
          fail(where, "allOf must be a non-empty array");
        auto kw = std::make_unique<all_of_kw>();
        std::size_t i = 0;
        for (const auto& e : ao->get_array())
          kw->schemas.push_back(sub(e, "allOf", std::to_string(i++)));
        n->keywords.push_back(std::move(kw));
      }
      if (const value* ao = get("anyOf")) {
        if (!ao->is_array() || ao->get_array().empty())
          fail(where, "anyOf must be a non-empty array");
        auto kw = std::make_unique<any_of_kw>();
        std::size_t i = 0;
        for (const auto& e : ao->get_array())
          kw->schemas.push_back(sub(e, "anyOf", std::to_string(i++)));
        n->keywords.push_back(std::move(kw));
      }
      if (const value* ao = get("oneOf")) {
        if (!ao->is_array() || ao->get_array().empty())
          fail(where, "oneOf must be a non-empty array");
        auto kw = std::make_unique<one_of_kw>();
        std::size_t i = 0;
        for (const auto& e : ao->get_array())
          kw->schemas.push_back(sub(e, "oneOf", std::to_string(i++)));
        n->keywords.push_back(std::move(kw));
      }
      if (const value* nt = get("not")) {
        auto kw = std::make_unique<not_kw>();
        kw->schema = sub(*nt, "not");
        n->keywords.push_back(std::move(kw));
      }
      if (const value* c = get("if")) {
        auto kw = std::make_unique<if_kw>();
        kw->cond = sub(*c, "if");
        if (const value* t = get("then")) kw->then_ = sub(*t, "then");
        if (const value* e = get("else")) kw->else_ = sub(*e, "else");
        n->keywords.push_back(std::move(kw));
      }
    }

    // --- unevaluated (must run after every other keyword of this node)
    if (!d7 && (vb & v_unevaluated)) {
      if (const value* ui = get("unevaluatedItems")) {
        auto kw = std::make_unique<unevaluated_items_kw>();
        kw->schema = sub(*ui, "unevaluatedItems");
        n->keywords.push_back(std::move(kw));
        annotations_needed_ = true;
      }
      if (const value* up = get("unevaluatedProperties")) {
        auto kw = std::make_unique<unevaluated_properties_kw>();
        kw->schema = sub(*up, "unevaluatedProperties");
        n->keywords.push_back(std::move(kw));
        annotations_needed_ = true;
      }
    }
    return n;
  }

  compiled_schema_impl& out_;
  const compile_options& opt_;
  std::unordered_map<const value*, loc_info> locs_;
  std::unordered_map<std::string, const value*> uris_;
  std::unordered_map<const value*, node*> compiled_;
  std::vector<pending_ref> pending_;
  bool annotations_needed_ = false;
};

}  // namespace
}  // namespace detail

// ---------------------------------------------------------------------------------------------

plexus::expected<validator, std::string> validator::compile(const boost::json::value& schema,
                                                            const compile_options& options) {
  auto impl = std::make_shared<compiled_schema_impl>();
  impl->bounds = options.bounds;
  try {
    detail::compiler c(*impl, options);
    c.run(schema);
  } catch (const detail::compile_error& e) {
    return plexus::unexpected<std::string>{e.what()};
  } catch (const std::exception& e) {
    return plexus::unexpected<std::string>{std::string("invalid schema: ") + e.what()};
  }
  return validator(std::move(impl));
}

namespace {

std::size_t eval_depth_limit(const limits& l) {
  return std::max<std::size_t>(l.max_depth * 16, 64);
}

std::string depth_message(const limits& l) {
  return "instance nesting depth exceeds the limit of " + std::to_string(l.max_depth);
}

}  // namespace

bool validator::is_valid(const boost::json::value& instance) const {
  const auto& impl = *impl_;
  if (!detail::depth_within(instance, impl.bounds.max_depth)) return false;
  detail::eval_state st{impl.bounds, eval_depth_limit(impl.bounds), impl.annotations_needed};
  bool ok = detail::eval_node(*impl.root, instance, st, nullptr);
  return ok && !st.aborted;
}

std::vector<validation_error> validator::validate(const boost::json::value& instance) const {
  const auto& impl = *impl_;
  std::vector<validation_error> errors;
  if (!detail::depth_within(instance, impl.bounds.max_depth)) {
    errors.push_back({"", "", depth_message(impl.bounds)});
    return errors;
  }
  detail::eval_state st{impl.bounds, eval_depth_limit(impl.bounds), impl.annotations_needed};
  st.errors = &errors;
  bool ok = detail::eval_node(*impl.root, instance, st, nullptr);
  if (st.aborted) {
    if (errors.size() >= impl.bounds.max_errors && !errors.empty()) errors.pop_back();
    errors.push_back({"", "", st.abort_message});
  } else if (!ok && errors.empty()) {
    errors.push_back({"", "", "instance is invalid"});
  }
  return errors;
}

dialect validator::schema_dialect() const {
  return impl_->root_dialect;
}

}  // namespace plexus::schema
