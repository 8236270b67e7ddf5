// The server's task store: tasks of the modern extension io.modelcontextprotocol/tasks
// (SEP-2663, 2026-07-28) and of legacy task-augmented requests (2025-11-25).
//
// A task is a tools/call whose answer is delivered later: the engine answers the
// call with a CreateTaskResult and keeps running the handler on the worker pool;
// clients poll (tasks/get), supply input (tasks/update, modern), wait for the
// result (tasks/result, legacy), list (legacy) and cancel.
//
// Modern tasks are reachable by id from any connection (requests are stateless;
// the id is unguessable). Legacy tasks belong to the session that created them.
// The store is bounded (finished tasks are evicted first) and tasks expire
// `ttl` after creation; an expiring task that still runs is cancelled.
//
// Thread-safety: every member function may be called from any thread. Callbacks
// (status listeners, terminal waiters) run outside the store's lock.
#pragma once

#include "plexus/json/json.hpp"
#include "plexus/jsonrpc/message.hpp"
#include "plexus/protocol/types.hpp"
#include "plexus/protocol/versions.hpp"
#include "plexus/server/connection.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace plexus::server {

namespace detail {
struct request_env;
}

inline constexpr std::string_view tasks_extension = "io.modelcontextprotocol/tasks";

enum class task_status { working, input_required, completed, failed, cancelled };
std::string_view to_string(task_status s);
inline bool is_terminal(task_status s) {
  return s == task_status::completed || s == task_status::failed || s == task_status::cancelled;
}

struct task_record {
  // Set at creation, then immutable.
  std::string id;
  std::string owner;  // "" for modern tasks; the legacy session's id otherwise
  protocol::era era = protocol::era::modern;
  std::uint64_t seq = 0;  // creation order
  std::chrono::system_clock::time_point created;
  std::chrono::steady_clock::time_point expires;
  std::int64_t ttl_ms = 0;
  std::int64_t poll_ms = 0;
  // What a modern task needs to run its handler again after tasks/update.
  jsonrpc::request request;
  std::string version;
  json::object client_capabilities;
  protocol::implementation client_info;
  json::object meta;

  // Guarded by the store's lock.
  task_status status = task_status::working;
  std::string status_message;
  std::chrono::system_clock::time_point updated;
  std::optional<json::object> result;           // completed
  std::optional<jsonrpc::error> error;          // failed
  json::object input_requests;                  // input_required (modern): key -> {method, params}
  std::map<std::string, json::value> provided;  // answers gathered so far (modern)
  std::shared_ptr<detail::request_env> env;     // the run in progress (cancellation)
  // Legacy: where messages related to the task go while a tasks/result waits.
  std::vector<std::shared_ptr<exchange>> result_streams;
  std::vector<std::function<void(const task_record&)>> on_terminal;
  // Legacy: notifications/tasks/status to the owning session.
  std::function<void(json::object task_wire)> on_status;
};

// ISO 8601 UTC with milliseconds: 2026-07-28T12:34:56.789Z.
std::string iso8601(std::chrono::system_clock::time_point t);

class task_store {
 public:
  struct limits {
    std::size_t max_tasks = 1000;
    std::chrono::milliseconds ttl{std::chrono::hours(1)};
    std::chrono::milliseconds poll_interval{500};
  };

  // A new task in status `working`, or nullptr when the store is full of
  // unfinished tasks. `requested_ttl_ms` (legacy) is honoured up to limits.ttl.
  std::shared_ptr<task_record> create(const limits& lim, std::string owner, protocol::era era,
                                      std::optional<std::int64_t> requested_ttl_ms);
  std::shared_ptr<task_record> find(std::string_view id, std::string_view owner);
  // The owner's tasks, oldest first.
  std::vector<std::shared_ptr<task_record>> list(std::string_view owner);

  // Wire shapes (taken under the lock).
  json::object modern_create_wire(const task_record& t);    // CreateTaskResult body (flat)
  json::object modern_detailed_wire(const task_record& t);  // tasks/get DetailedTask
  json::object legacy_wire(const task_record& t);           // Task (2025-11-25)

  // Transitions; each is a no-op on a finished task. False: it was finished already.
  bool complete(const std::shared_ptr<task_record>& t, json::object result);
  bool fail(const std::shared_ptr<task_record>& t, jsonrpc::error error);
  bool cancel(const std::shared_ptr<task_record>& t, std::string message);
  bool set_working(const std::shared_ptr<task_record>& t);
  // Legacy: the running handler waits for the answer to a request it sent.
  bool set_input_required(const std::shared_ptr<task_record>& t);
  // Modern: the handler's run ended asking for `requests`; `provided` holds the
  // answers gathered so far, for the next run.
  bool park_for_input(const std::shared_ptr<task_record>& t, json::object requests,
                      std::map<std::string, json::value> provided);
  // Modern tasks/update: records the answers to pending input requests (others
  // are ignored). True when nothing is pending any more and the task should
  // run again (it is then `working`, with `provided` holding every answer).
  bool supply_input(const std::shared_ptr<task_record>& t, const json::object& responses,
                    std::map<std::string, json::value>& provided);
  // Attaches (or detaches, with nullptr) the run that serves the task.
  void attach(const std::shared_ptr<task_record>& t, std::shared_ptr<detail::request_env> env);

  // Legacy tasks/result: runs `done` once the task is finished (now, if it is);
  // until then messages related to the task are sent on `stream`.
  void when_finished(const std::shared_ptr<task_record>& t, std::shared_ptr<exchange> stream,
                     std::function<void(const task_record&)> done);
  // Where a legacy task's related messages go now: the stream of a waiting tasks/result.
  std::shared_ptr<exchange> result_stream(const std::shared_ptr<task_record>& t);

  // The session went away: cancels and forgets its tasks.
  void drop_owner(std::string_view owner);
  std::size_t size();

 private:
  struct fired {
    std::function<void(json::object)> status;
    json::object wire;
    std::vector<std::function<void(const task_record&)>> terminal;
  };
  // Applies `edit` under the lock when the task is unfinished; fires listeners after.
  template <class Edit>
  bool transition(const std::shared_ptr<task_record>& t, Edit edit);
  void finish_locked(task_record& t, fired& f);
  void run(const std::shared_ptr<task_record>& t, fired& f);
  void sweep_locked(std::vector<std::pair<std::shared_ptr<task_record>, fired>>& expired);
  void fire_expired(std::vector<std::pair<std::shared_ptr<task_record>, fired>>& expired);
  json::object base_wire_locked(const task_record& t, bool modern);

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<task_record>, std::less<>> tasks_;
  std::uint64_t next_seq_ = 1;
  std::chrono::steady_clock::time_point last_sweep_{};
};

// True when client capabilities declare the tasks extension (capabilities.extensions).
bool declares_tasks_extension(const json::object& client_capabilities);
// data of the -32021 error for a client that did not declare the extension.
json::object tasks_extension_required_data();

}  // namespace plexus::server
