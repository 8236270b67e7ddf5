// libFuzzer target: the JSON-RPC decoder on arbitrary bytes, with and without
// batches. Every decoded message is re-encoded and decoded again, and must come
// back as the same message; every error answer must encode. Nothing may crash,
// leak or throw (an escaping exception aborts the run).
#include "plexus/jsonrpc/message.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace rpc = plexus::jsonrpc;
namespace bj = boost::json;

namespace {

// Structural equality, with what JSON text cannot keep: numbers compare by value
// with a little slack and whatever their kind (an integral double is written
// "2" and reads back as an integer; the last bits of a double may differ), and a
// non-finite double (what "1e400" parses to) is written as null.
bool same(const bj::value& a, const bj::value& b) {
  if (a.is_double() && !std::isfinite(a.get_double())) return b.is_null();
  if (b.is_double() && !std::isfinite(b.get_double())) return a.is_null();
  auto number = [](const bj::value& v, double& out) {
    if (v.is_double()) return out = v.get_double(), true;
    if (v.is_int64()) return out = static_cast<double>(v.get_int64()), true;
    if (v.is_uint64()) return out = static_cast<double>(v.get_uint64()), true;
    return false;
  };
  double x = 0, y = 0;
  if (number(a, x) && number(b, y)) {
    if (x == y) return true;
    return std::fabs(x - y) <= 1e-12 * std::fmax(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto &p = a.get_array(), &q = b.get_array();
    if (p.size() != q.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (!same(p[i], q[i])) return false;
    return true;
  }
  if (a.is_object()) {
    const auto &p = a.get_object(), &q = b.get_object();
    if (p.size() != q.size()) return false;
    for (const auto& kv : p) {
      auto it = q.find(kv.key());
      if (it == q.end() || !same(kv.value(), it->value())) return false;
    }
    return true;
  }
  return a == b;
}

// A broken invariant: say which, then crash so that libFuzzer keeps the input.
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      std::fprintf(stderr, "fuzz_jsonrpc: invariant failed: %s\n", #cond); \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool batch : {false, true}) {
    rpc::decoded d = rpc::decode(text, {.max_depth = 64, .allow_batch = batch});
    CHECK(batch || !d.batch);
    // One error at most, unless each element of a batch was judged on its own.
    CHECK(d.batch || d.messages.size() + d.errors.size() == 1);
    for (const rpc::message& m : d.messages) {
      std::string wire = rpc::encode(m);
      rpc::decoded again = rpc::decode(wire, {.max_depth = 64, .allow_batch = false});
      CHECK(again.errors.empty() && again.messages.size() == 1 && !again.batch);
      CHECK(again.messages[0].index() == m.index());
      CHECK(same(rpc::to_json(again.messages[0]), rpc::to_json(m)));
    }
    for (const rpc::error_response& e : d.errors) {
      std::string wire = rpc::encode(rpc::message{e});
      CHECK(!wire.empty());
    }
  }
  return 0;
}
