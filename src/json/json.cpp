#include "plexus/json/json.hpp"
#include "json/write.hpp"

#include <charconv>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cmath>
#include <cstring>

namespace plexus::json {

const object* find_object(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  return (it != o.end() && it->value().is_object()) ? &it->value().get_object() : nullptr;
}

const string* find_string(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  return (it != o.end() && it->value().is_string()) ? &it->value().get_string() : nullptr;
}

const array* find_array(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  return (it != o.end() && it->value().is_array()) ? &it->value().get_array() : nullptr;
}

std::optional<bool> find_bool(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_bool()) return std::nullopt;
  return it->value().get_bool();
}

std::optional<std::int64_t> find_int(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  const value& v = it->value();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return static_cast<std::int64_t>(v.get_uint64());
  if (v.is_double()) {
    double d = v.get_double();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18)
      return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

std::optional<double> find_number(const object& o, std::string_view key) noexcept {
  auto it = o.find(key);
  if (it == o.end()) return std::nullopt;
  const value& v = it->value();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  if (v.is_double()) return v.get_double();
  return std::nullopt;
}

std::string_view type_name(const value& v) noexcept {
  switch (v.kind()) {
    case boost::json::kind::null:
      return "null";
    case boost::json::kind::bool_:
      return "boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
      return "integer";
    case boost::json::kind::double_:
      return "number";
    case boost::json::kind::string:
      return "string";
    case boost::json::kind::array:
      return "array";
    case boost::json::kind::object:
      return "object";
  }
  return "unknown";
}

namespace {

// Where the first byte at or after `i` that JSON must escape is (a control character, '"'
// or '\\'); s.size() when there is none. Most text needs no escaping: 16 bytes are checked
// at a time (SSE2), and the last piece of a long string by an overlapping load, so that no
// string ends in a loop over its last bytes one by one (a 64 KiB echo over HTTP spent 10% of
// the server's time escaping, 8 bytes at a time).
std::size_t clean_until(std::string_view s, std::size_t i) {
#if defined(__SSE2__)
  if (s.size() >= 16) {
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i below_space = _mm_set1_epi8(0x1f);
    auto special = [&](std::size_t at) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + at));
      // Unsigned v <= 0x1f exactly when max(v, 0x1f) == 0x1f.
      __m128i hit =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                       _mm_cmpeq_epi8(_mm_max_epu8(v, below_space), below_space));
      return static_cast<unsigned>(_mm_movemask_epi8(hit));
    };
    for (; i + 16 <= s.size(); i += 16)
      if (unsigned mask = special(i)) return i + static_cast<std::size_t>(__builtin_ctz(mask));
    if (i == s.size()) return i;
    // The bytes before i in the last 16 were checked already: only those from i count.
    std::size_t last = s.size() - 16;
    unsigned mask = special(last) & (0xffffu << (i - last));
    return mask ? last + static_cast<std::size_t>(__builtin_ctz(mask)) : s.size();
  }
#endif
  for (; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == '"' || c == '\\') return i;
  }
  return i;
}

void write_escape(std::string& out, unsigned char c) {
  static constexpr char hex[] = "0123456789abcdef";
  switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default: {
      const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      out.append(u, sizeof u);
    }
  }
}

}  // namespace

void write_string(std::string& out, std::string_view s) {
  // Room for what follows a long string too: reserving it exactly made the next byte
  // written move the whole message to a buffer twice as large.
  if (out.capacity() < out.size() + s.size() + 2)
    out.reserve(out.size() + s.size() + s.size() / 8 + 64);
  out += '"';
  std::size_t start = 0;
  for (;;) {
    std::size_t i = clean_until(s, start);
    out.append(s.data() + start, i - start);
    if (i == s.size()) break;
    write_escape(out, static_cast<unsigned char>(s[i]));
    start = i + 1;
  }
  out += '"';
}

namespace {

template <class T>
void write_number(std::string& out, T n) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

}  // namespace

void write(std::string& out, const value& v) {
  switch (v.kind()) {
    case boost::json::kind::null:
      out += "null";
      break;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      break;
    case boost::json::kind::int64:
      write_number(out, v.get_int64());
      break;
    case boost::json::kind::uint64:
      write_number(out, v.get_uint64());
      break;
    case boost::json::kind::double_: {
      // Shortest round-trip form; JSON has no NaN or infinity.
      double d = v.get_double();
      if (!std::isfinite(d)) {
        out += "null";
        break;
      }
      std::size_t mark = out.size();
      write_number(out, d);
      // A whole double keeps a fraction ("20.0"), so typed readers still see a double.
      if (out.find_first_of(".e", mark) == std::string::npos) out += ".0";
      break;
    }
    case boost::json::kind::string:
      write_string(out, v.get_string());
      break;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write(out, item);
      }
      out += ']';
      break;
    }
    case boost::json::kind::object:
      write(out, v.get_object());
      break;
  }
}

void write(std::string& out, const object& o) {
  out += '{';
  bool first = true;
  for (const auto& kv : o) {
    if (!first) out += ',';
    first = false;
    write_string(out, kv.key());
    out += ':';
    write(out, kv.value());
  }
  out += '}';
}

std::string dump(const value& v) {
  std::string out;
  out.reserve(256);
  write(out, v);
  return out;
}

std::string dump(const object& o) {
  std::string out;
  out.reserve(256);
  write(out, o);
  return out;
}

}  // namespace plexus::json
