// Parsing with exact numbers. Boost.JSON 1.81 converts decimal text to double with a
// fast algorithm that can land one ulp off the nearest double (6.9594111666136484
// became 6.959411166613648); a server or a gateway must not change the numbers it
// passes on, so doubles are converted again from their text with std::from_chars,
// which is exact. Everything else is Boost.JSON's own parser and value_stack.
#include "plexus/json/json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <charconv>
#include <string>

namespace plexus::json {
namespace {

using boost::json::string_view;
using boost::system::error_code;

struct exact_handler {
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  boost::json::value_stack st;
  std::string number;  // the text of a number split across inputs

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_array_begin(error_code&) { return true; }
  bool on_array_end(std::size_t n, error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_object_begin(error_code&) { return true; }
  bool on_object_end(std::size_t n, error_code&) {
    st.push_object(n);
    return true;
  }
  bool on_string_part(string_view s, std::size_t, error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(string_view s, std::size_t, error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_key_part(string_view s, std::size_t, error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_key(string_view s, std::size_t, error_code&) {
    st.push_key(s);
    return true;
  }
  bool on_number_part(string_view s, error_code&) {
    number.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, string_view, error_code&) {
    number.clear();
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, string_view, error_code&) {
    number.clear();
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, string_view s, error_code&) {
    const char* first = s.data();
    const char* last = s.data() + s.size();
    if (!number.empty()) {
      number.append(s.data(), s.size());
      first = number.data();
      last = number.data() + number.size();
    }
    double exact = 0;
    auto [end, err] = std::from_chars(first, last, exact);
    if (err == std::errc() && end == last) d = exact;  // out of range: keep Boost's answer
    number.clear();
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }
};

}  // namespace

value parse(std::string_view text, boost::system::error_code& ec, std::size_t max_depth) {
  boost::json::parse_options po;
  po.max_depth = max_depth;
  boost::json::basic_parser<exact_handler> p(po);
  p.handler().st.reset();
  std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  if (!ec && n < text.size()) ec = boost::json::error::extra_data;
  if (ec) return nullptr;
  return p.handler().st.release();
}

}  // namespace plexus::json
