// Internals of plexus::server::server shared by the engine's translation units.
#pragma once

#include "server/handler_pool.hpp"

#include "plexus/jsonrpc/message.hpp"
#include "plexus/schema/validator.hpp"
#include "plexus/server/server.hpp"
#include "server/request_state.hpp"
#include "server/tasks.hpp"
#include "server/uri_template.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <shared_mutex>

namespace plexus::server {

struct tool_entry {
  protocol::tool definition;
  json::object wire;  // definition.to_json(), computed once
  std::optional<schema::validator> input_validator;
  tool_handler handler;
  task_start start = task_start::at_call;
  tool_dispatch dispatch = tool_dispatch::pool;
  async_tool_handler fast_path;  // tried before `handler` when set
};

struct resource_entry {
  protocol::resource definition;
  json::object wire;
  resource_reader reader;
};

struct template_entry {
  protocol::resource_template definition;
  json::object wire;
  uri_template matcher;
  template_reader reader;
};

struct prompt_entry {
  protocol::prompt definition;
  json::object wire;
  prompt_handler handler;
};

// A change that clients may be told about.
struct change {
  enum kind_t { tools, prompts, resources, resource_updated } kind;
  std::string uri;  // for resource_updated
};

// Process-wide publish/subscribe of changes: legacy sessions and modern
// subscriptions/listen streams both subscribe here.
class change_bus {
 public:
  using callback = std::function<void(const change&)>;
  std::uint64_t subscribe(callback cb);
  void unsubscribe(std::uint64_t id);
  void publish(const change& c);

 private:
  std::mutex mu_;
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, std::shared_ptr<callback>> subs_;
};

// Copy-on-write list: readers take a snapshot without locking for long.
template <class T>
class cow_list {
 public:
  using list = std::vector<std::shared_ptr<const T>>;
  std::shared_ptr<const list> snapshot() const {
    std::lock_guard lk(mu_);
    return items_;
  }
  // The first entry matching `pred`, from the current snapshot (kept alive by the result).
  template <class Pred>
  std::shared_ptr<const T> find_if(Pred pred) const {
    auto items = snapshot();
    for (const auto& item : *items)
      if (pred(*item)) return item;
    return nullptr;
  }
  void update(const std::function<void(list&)>& edit) {
    std::lock_guard lk(mu_);
    auto copy = std::make_shared<list>(*items_);
    edit(*copy);
    items_ = std::move(copy);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const list> items_ = std::make_shared<const list>();
};

struct server::impl {
  impl(protocol::implementation i, server_options o);
  ~impl();

  protocol::implementation info;
  json::object info_wire;
  // `"_meta":{"<serverInfo key>":info_wire}`, serialized once: the tail of most modern results.
  std::string info_meta_member;
  std::string complete_info_meta_members;  // `"resultType":"complete",` and the above
  server_options options;
  std::string cache_hint_members;  // `,"ttlMs":…,"cacheScope":…` of `options`
  request_state_sealer sealer;
  detail::handler_pool pool;
  change_bus bus;

  cow_list<tool_entry> tools;
  cow_list<resource_entry> resources;
  cow_list<template_entry> templates;
  cow_list<prompt_entry> prompts;
  std::mutex completions_mu;
  std::map<std::string, completion_handler> prompt_completions;
  std::map<std::string, completion_handler> resource_completions;
  task_store tasks;

  // Adds or replaces (same name, same position) a tool; clients are told.
  void add_tool(std::shared_ptr<tool_entry> entry);
  bool has_tools() const;
  bool has_resources() const;
  bool has_prompts() const;
  bool has_completions() const;
  json::object capabilities(protocol::era era) const;
};

// The environment of one inbound request while its handler runs.
struct pending_client_request;
class session;

namespace detail {

struct request_env {
  protocol::era era = protocol::era::legacy;
  std::string version;
  json::object client_capabilities;
  protocol::implementation client_info;
  json::object meta;
  std::string method;
  jsonrpc::request_id id;
  server::impl* srv = nullptr;
  std::optional<protocol::logging_level> log_level;  // nullopt: send no logs
  std::optional<json::value> progress_token;
  double last_progress = -1e300;
  std::atomic<bool> cancelled{false};
  // Sends a notification or request tied to this request.
  std::function<void(std::string)> send;
  std::function<void()> close_stream;
  // Legacy: sends a server-to-client request and waits for its answer.
  std::function<plexus::expected<json::value, jsonrpc::error>(const input_request&)> call_client;
  // Modern MRTR: answers gathered so far (sealed state + inputResponses).
  std::map<std::string, json::value> provided;
  std::map<std::string, json::value> consumed;  // those the handler used in this run
  bool resumed = false;
  json::value state;
  // Tasks: the task this run serves (if any); whether this tools/call may become
  // one; and how it becomes one (answers CreateTaskResult, then reports to the task).
  std::shared_ptr<task_record> task;
  bool task_allowed = false;
  std::function<bool()> start_task;
  // The tool whose input schema the call's arguments already passed (a fast path that
  // declined checked them first): call_tool does not check them again.
  std::shared_ptr<const tool_entry> arguments_checked_for;
};

// Thrown inside a modern handler by `ask` when inputs are missing.
struct input_required_signal {
  std::vector<std::pair<std::string, input_request>> missing;
};
// Thrown when the handler asks for a kind of input the client did not declare.
struct missing_capability_signal {
  std::string capability;  // "sampling" | "elicitation" | "roots"
};

}  // namespace detail
}  // namespace plexus::server
