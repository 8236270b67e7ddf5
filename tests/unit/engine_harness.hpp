// In-process harness for the session engine: a connection whose outbound
// captures every message, plus validation of what the server emits against the
// official schema.json of the era it speaks.
#pragma once

#include "plexus/schema/validator.hpp"
#include "plexus/server/connection.hpp"
#include "plexus/servers/everything.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>

namespace plexus::testing {

class capture : public server::outbound {
 public:
  void send(std::string text) override {
    auto v = boost::json::parse(text);
    std::lock_guard lk(mu_);
    raw_.push_back(std::move(text));
    if (v.is_array())
      for (auto& item : v.get_array()) msgs_.push_back(item);
    else
      msgs_.push_back(std::move(v));
    cv_.notify_all();
  }
  // Waits for (and removes) the first message matching `pred`.
  std::optional<json::value> take(const std::function<bool(const json::value&)>& pred,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock lk(mu_);
    std::optional<json::value> found;
    cv_.wait_for(lk, timeout, [&] {
      for (auto it = msgs_.begin(); it != msgs_.end(); ++it)
        if (pred(*it)) {
          found = *it;
          msgs_.erase(it);
          return true;
        }
      return false;
    });
    return found;
  }
  std::optional<json::value> response(std::int64_t id,
                                      std::chrono::milliseconds t = std::chrono::seconds(5)) {
    return take(
        [id](const json::value& v) {
          auto& o = v.get_object();
          auto it = o.find("id");
          return it != o.end() && it->value().is_int64() && it->value().get_int64() == id &&
                 !o.contains("method");
        },
        t);
  }
  std::optional<json::value> notification(std::string_view method,
                                          std::chrono::milliseconds t = std::chrono::seconds(5)) {
    return take(
        [method](const json::value& v) {
          auto& o = v.get_object();
          auto m = json::find_string(o, "method");
          return m && *m == method && !o.contains("id");
        },
        t);
  }
  std::optional<json::value> client_request(std::string_view method,
                                            std::chrono::milliseconds t = std::chrono::seconds(5)) {
    return take(
        [method](const json::value& v) {
          auto& o = v.get_object();
          auto m = json::find_string(o, "method");
          return m && *m == method && o.contains("id");
        },
        t);
  }
  std::vector<std::string> raw() {
    std::lock_guard lk(mu_);
    return raw_;
  }
  std::size_t pending() {
    std::lock_guard lk(mu_);
    return msgs_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json::value> msgs_;
  std::vector<std::string> raw_;
};

inline json::object modern_meta(json::object caps = {}) {
  return {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
          {"io.modelcontextprotocol/clientCapabilities", std::move(caps)},
          {"io.modelcontextprotocol/clientInfo",
           json::object{{"name", "engine-test"}, {"version", "1.0.0"}}}};
}

inline std::string request(std::int64_t id, std::string_view method, json::object params = {}) {
  json::object o{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.empty()) o["params"] = std::move(params);
  return json::dump(o);
}

inline std::string modern_request(std::int64_t id, std::string_view method,
                                  json::object params = {}, json::object caps = {}) {
  params["_meta"] = modern_meta(std::move(caps));
  return request(id, method, std::move(params));
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Validates `instance` against definition `def` of the official schema.json of `version`.
class wire_schema {
 public:
  explicit wire_schema(std::string version) : version_(std::move(version)) {
    doc_ = boost::json::parse(
        read_file(std::string(PLEXUS_SHARED_DIR) + "/mcp-schema/" + version_ + "/schema.json"));
  }
  std::vector<schema::validation_error> check(std::string_view def, const json::value& instance) {
    auto it = cache_.find(std::string(def));
    if (it == cache_.end()) {
      json::object root = doc_.as_object();
      bool draft7 = root.contains("definitions");
      root["$ref"] = std::string(draft7 ? "#/definitions/" : "#/$defs/") + std::string(def);
      auto v = schema::validator::compile(root);
      if (!v) {
        ADD_FAILURE() << "cannot compile " << version_ << " " << def << ": " << v.error();
        return {};
      }
      it = cache_.emplace(std::string(def), std::move(*v)).first;
    }
    return it->second.validate(instance);
  }
  void expect_valid(std::string_view def, const json::value& instance) {
    auto errors = check(def, instance);
    for (const auto& e : errors)
      ADD_FAILURE() << version_ << " " << def << " at " << e.instance_path << " (" << e.keyword_path
                    << "): " << e.message << "\n in " << json::dump(instance);
  }

 private:
  std::string version_;
  json::value doc_;
  std::map<std::string, schema::validator> cache_;
};

}  // namespace plexus::testing
