// Non-template parts of plexus/json/convert.hpp: error construction and number reading.
#include "plexus/json/convert.hpp"

#include <cmath>
#include <stdexcept>

namespace plexus::json {

std::string to_string(const conversion_error& e) {
  if (e.path.empty()) return e.message;
  std::string out = e.path;
  out += ": ";
  out += e.message;
  return out;
}

namespace detail {

namespace {

std::string quoted(std::string_view s) {
  return json::dump(value(s));
}

conversion_error make_error(std::string message) {
  return conversion_error{{}, std::move(message)};
}

}  // namespace

conversion_error mismatch(std::string_view expected, const value& got) {
  std::string m = "expected ";
  m += expected;
  m += ", got ";
  m += type_name(got);
  return make_error(std::move(m));
}

conversion_error out_of_range(const value& v, std::string_view type) {
  std::string m = "value ";
  m += json::dump(v);
  m += " out of range for ";
  m += type;
  return make_error(std::move(m));
}

conversion_error missing_property(std::string_view key) {
  return make_error("missing required property " + quoted(key));
}

conversion_error unknown_property(std::string_view key) {
  return make_error("unknown property " + quoted(key));
}

conversion_error unknown_enumerator(const value& v, std::span<const std::string_view> names) {
  std::string m = "unknown enum value " + json::dump(v) + ", expected one of ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) m += ", ";
    m += names[i];
  }
  return make_error(std::move(m));
}

conversion_error wrong_size(std::size_t expected, std::size_t got) {
  return make_error("expected an array of " + std::to_string(expected) + " items, got " +
                    std::to_string(got));
}

conversion_error no_alternative(std::span<const conversion_error> errors) {
  std::string m = "value matches none of the alternatives (";
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (i) m += "; ";
    m += std::to_string(i) + ": " + to_string(errors[i]);
  }
  m += ")";
  return make_error(std::move(m));
}

void prepend(conversion_error& e, std::string_view key) {
  std::string seg = "/";
  for (char c : key) {
    if (c == '~')
      seg += "~0";
    else if (c == '/')
      seg += "~1";
    else
      seg += c;
  }
  e.path.insert(0, seg);
}

void prepend(conversion_error& e, std::size_t index) {
  e.path.insert(0, "/" + std::to_string(index));
}

void throw_unnamed_enumerator(const std::string& underlying) {
  throw std::invalid_argument("plexus::json::to_json: enum value " + underlying +
                              " has no described enumerator");
}

bool read_integer(const value& v, std::string_view type, integer_repr& out, conversion_error& err) {
  switch (v.kind()) {
    case boost::json::kind::int64: {
      const std::int64_t i = v.get_int64();
      out.negative = i < 0;
      if (out.negative)
        out.s = i;
      else
        out.u = static_cast<std::uint64_t>(i);
      return true;
    }
    case boost::json::kind::uint64:
      out.negative = false;
      out.u = v.get_uint64();
      return true;
    case boost::json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d) || std::trunc(d) != d) {
        err = make_error("expected integer, got non-integral number " + json::dump(v));
        return false;
      }
      // 2^63 and 2^64 are exact doubles; every integral double below them converts exactly.
      if (d < 0) {
        if (d < -9223372036854775808.0) break;
        out.negative = true;
        out.s = static_cast<std::int64_t>(d);
      } else {
        if (d >= 18446744073709551616.0) break;
        out.negative = false;
        out.u = static_cast<std::uint64_t>(d);
      }
      return true;
    }
    default:
      err = mismatch("integer", v);
      return false;
  }
  err = out_of_range(v, type);
  return false;
}

bool read_number(const value& v, double& out, conversion_error& err) {
  switch (v.kind()) {
    case boost::json::kind::int64:
      out = static_cast<double>(v.get_int64());
      return true;
    case boost::json::kind::uint64:
      out = static_cast<double>(v.get_uint64());
      return true;
    case boost::json::kind::double_:
      out = v.get_double();
      return true;
    default:
      err = mismatch("number", v);
      return false;
  }
}

bool read_string(const value& v, std::string& out, conversion_error& err) {
  const string* s = v.if_string();
  if (!s) {
    err = mismatch("string", v);
    return false;
  }
  out.assign(s->data(), s->size());
  return true;
}

}  // namespace detail

}  // namespace plexus::json
