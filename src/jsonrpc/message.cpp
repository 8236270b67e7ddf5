#include "plexus/jsonrpc/message.hpp"
#include "json/write.hpp"

#include <cmath>

namespace plexus::jsonrpc {
namespace {

// Reads an id per MCP: string or integer. Anything else (null, float, bool, object) is invalid.
std::optional<request_id> read_id(const json::value& v) {
  if (v.is_string()) return request_id{std::string(v.get_string())};
  if (v.is_int64()) return request_id{v.get_int64()};
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    return request_id{static_cast<std::int64_t>(v.get_uint64())};
  return std::nullopt;
}

error_response invalid(std::optional<request_id> id, std::string why) {
  return make_error(std::move(id), codes::invalid_request, "Invalid Request: " + why);
}

}  // namespace

json::value to_json(const request_id& id) {
  if (auto* i = std::get_if<std::int64_t>(&id)) return *i;
  return json::value(std::get<std::string>(id));
}

std::string to_string(const request_id& id) {
  if (auto* i = std::get_if<std::int64_t>(&id)) return "i:" + std::to_string(*i);
  return "s:" + std::get<std::string>(id);
}

error_response make_error(std::optional<request_id> id, int code, std::string message,
                          std::optional<json::value> data) {
  return error_response{std::move(id), error{code, std::move(message), std::move(data)}};
}

std::variant<message, error_response> from_json(const json::value& v) {
  return from_json(json::value(v));
}

// Takes params, result and error data out of `v`: a copy of a decoded body cost an
// allocation per value in it, and the whole text of a large argument.
std::variant<message, error_response> from_json(json::value&& v) {
  if (!v.is_object()) return invalid(std::nullopt, "a message must be a JSON object");
  json::object& o = v.get_object();

  std::optional<request_id> id;
  bool has_id = false;
  if (auto it = o.find("id"); it != o.end()) {
    has_id = true;
    id = read_id(it->value());
  }
  auto version = json::find_string(o, "jsonrpc");
  if (!version || *version != "2.0") return invalid(id, "\"jsonrpc\" must be \"2.0\"");

  auto method_it = o.find("method");
  if (method_it != o.end()) {
    if (!method_it->value().is_string()) return invalid(id, "\"method\" must be a string");
    std::string method(method_it->value().get_string());
    json::value params;
    if (auto p = o.find("params"); p != o.end()) {
      if (!p->value().is_object() && !p->value().is_array())
        return invalid(id, "\"params\" must be an object or an array");
      params = std::move(p->value());
    }
    if (!has_id) return notification{std::move(method), std::move(params)};
    if (!id) return invalid(std::nullopt, "\"id\" must be a string or an integer, never null");
    return request{std::move(*id), std::move(method), std::move(params)};
  }

  auto result_it = o.find("result");
  auto error_it = o.find("error");
  if (result_it != o.end() && error_it == o.end()) {
    if (!id) return invalid(std::nullopt, "a response needs a string or integer \"id\"");
    return response{std::move(*id), std::move(result_it->value())};
  }
  if (error_it != o.end() && result_it == o.end()) {
    if (!error_it->value().is_object()) return invalid(id, "\"error\" must be an object");
    json::object& e = error_it->value().get_object();
    auto code = json::find_int(e, "code");
    auto msg = json::find_string(e, "message");
    if (!code || !msg) return invalid(id, "\"error\" needs an integer code and a string message");
    error err{static_cast<int>(*code), std::string(*msg), std::nullopt};
    if (auto d = e.find("data"); d != e.end()) err.data = std::move(d->value());
    // An error response may carry a null id (its request was unreadable). It is a
    // message from the peer, not an error of ours to answer.
    return message{error_response{std::move(id), std::move(err)}};
  }
  return invalid(id, "not a request, notification or response");
}

decoded decode(std::string_view text, const decode_options& opts) {
  decoded out;
  boost::json::parse_options po;
  po.max_depth = opts.max_depth;
  boost::system::error_code ec;
  boost::json::value v = plexus::json::parse(text, ec, po.max_depth);
  if (ec) {
    out.errors.push_back(
        make_error(std::nullopt, codes::parse_error, "Parse error: " + ec.message()));
    return out;
  }
  auto take = [&](json::value& item) {
    auto r = from_json(std::move(item));
    if (auto* m = std::get_if<message>(&r))
      out.messages.push_back(std::move(*m));
    else
      out.errors.push_back(std::move(std::get<error_response>(r)));
  };
  if (v.is_array()) {
    // A rejected or empty array is one invalid request, answered with one error object.
    if (!opts.allow_batch) {
      out.errors.push_back(
          invalid(std::nullopt, "batches are not supported in this protocol version"));
      return out;
    }
    auto& arr = v.get_array();
    if (arr.empty()) {
      out.errors.push_back(invalid(std::nullopt, "an empty batch"));
      return out;
    }
    out.batch = true;
    for (auto& item : arr) take(item);
    return out;
  }
  take(v);
  return out;
}

json::value to_json(const message& m) {
  json::object o;
  o["jsonrpc"] = "2.0";
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, request>) {
          o["id"] = to_json(x.id);
          o["method"] = x.method;
          if (!x.params.is_null()) o["params"] = x.params;
        } else if constexpr (std::is_same_v<T, notification>) {
          o["method"] = x.method;
          if (!x.params.is_null()) o["params"] = x.params;
        } else if constexpr (std::is_same_v<T, response>) {
          o["id"] = to_json(x.id);
          o["result"] = x.result;
        } else {
          o["id"] = x.id ? to_json(*x.id) : json::value(nullptr);
          json::object e;
          e["code"] = x.err.code;
          e["message"] = x.err.message;
          if (x.err.data) e["data"] = *x.err.data;
          o["error"] = std::move(e);
        }
      },
      m);
  return o;
}

namespace {

void write_id(std::string& out, const request_id& id) {
  if (auto* i = std::get_if<std::int64_t>(&id))
    out += std::to_string(*i);
  else
    json::write_string(out, std::get<std::string>(id));
}

}  // namespace

std::string encode_result(const request_id& id, const json::object& result,
                          std::string_view more_members) {
  std::string out;
  out.reserve(256 + more_members.size());
  out += R"({"jsonrpc":"2.0","id":)";
  write_id(out, id);
  out += R"(,"result":)";
  json::write(out, result);
  if (!more_members.empty()) {
    out.pop_back();  // the result's '}': its members go on
    if (!result.empty()) out += ',';
    out += more_members;
    out += '}';
  }
  out += '}';
  return out;
}

// Written straight from the message, in to_json()'s key order: building the envelope as
// a json::object first copied the whole result (a third of encoding a small answer).
std::string encode(const message& m) {
  std::string out;
  out.reserve(256);
  out += R"({"jsonrpc":"2.0")";
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, request> || std::is_same_v<T, notification>) {
          if constexpr (std::is_same_v<T, request>) {
            out += R"(,"id":)";
            write_id(out, x.id);
          }
          out += R"(,"method":)";
          json::write_string(out, x.method);
          if (!x.params.is_null()) {
            out += R"(,"params":)";
            json::write(out, x.params);
          }
        } else if constexpr (std::is_same_v<T, response>) {
          out += R"(,"id":)";
          write_id(out, x.id);
          out += R"(,"result":)";
          json::write(out, x.result);
        } else {
          out += R"(,"id":)";
          if (x.id)
            write_id(out, *x.id);
          else
            out += "null";
          out += R"(,"error":{"code":)";
          out += std::to_string(x.err.code);
          out += R"(,"message":)";
          json::write_string(out, x.err.message);
          if (x.err.data) {
            out += R"(,"data":)";
            json::write(out, *x.err.data);
          }
          out += '}';
        }
      },
      m);
  out += '}';
  return out;
}

}  // namespace plexus::jsonrpc
