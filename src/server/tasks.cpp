#include "server/tasks.hpp"

#include "plexus/core/random.hpp"
#include "server/server_impl.hpp"

#include <algorithm>
#include <ctime>

namespace plexus::server {

namespace {

std::string random_task_id() {
  return random::hex(16);
}

json::object error_wire(const jsonrpc::error& e) {
  json::object o{{"code", e.code}, {"message", e.message}};
  if (e.data) o["data"] = *e.data;
  return o;
}

}  // namespace

std::string_view to_string(task_status s) {
  switch (s) {
    case task_status::working:
      return "working";
    case task_status::input_required:
      return "input_required";
    case task_status::completed:
      return "completed";
    case task_status::failed:
      return "failed";
    case task_status::cancelled:
      return "cancelled";
  }
  return "working";
}

std::string iso8601(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

bool declares_tasks_extension(const json::object& caps) {
  auto ext = json::find_object(caps, "extensions");
  if (!ext) return false;
  auto it = ext->find(tasks_extension);
  return it != ext->end() && !it->value().is_null();
}

json::object tasks_extension_required_data() {
  return {{"requiredCapabilities",
           json::object{{"extensions", json::object{{tasks_extension, json::object{}}}}}}};
}

// ---- task_store --------------------------------------------------------------

std::shared_ptr<task_record> task_store::create(const limits& lim, std::string owner,
                                                protocol::era era,
                                                std::optional<std::int64_t> requested_ttl_ms) {
  std::vector<std::pair<std::shared_ptr<task_record>, fired>> expired;
  std::shared_ptr<task_record> t;
  {
    std::lock_guard lk(mu_);
    sweep_locked(expired);
    if (tasks_.size() >= std::max<std::size_t>(1, lim.max_tasks)) {
      // Evict the oldest finished task; refuse when every task is still running.
      auto victim = tasks_.end();
      for (auto it = tasks_.begin(); it != tasks_.end(); ++it)
        if (is_terminal(it->second->status) &&
            (victim == tasks_.end() || it->second->seq < victim->second->seq))
          victim = it;
      if (victim != tasks_.end()) tasks_.erase(victim);
    }
    if (tasks_.size() < std::max<std::size_t>(1, lim.max_tasks)) {
      t = std::make_shared<task_record>();
      do t->id = random_task_id();
      while (tasks_.count(t->id));
      t->owner = std::move(owner);
      t->era = era;
      t->seq = next_seq_++;
      t->created = t->updated = std::chrono::system_clock::now();
      // A client may ask for less than the server's TTL, but not below a second.
      std::int64_t max_ms = std::max<std::int64_t>(1, lim.ttl.count());
      std::int64_t ttl = requested_ttl_ms
                             ? std::clamp<std::int64_t>(
                                   *requested_ttl_ms, std::min<std::int64_t>(1000, max_ms), max_ms)
                             : max_ms;
      t->ttl_ms = ttl;
      t->poll_ms = std::max<std::int64_t>(1, lim.poll_interval.count());
      t->expires = std::chrono::steady_clock::now() + std::chrono::milliseconds(ttl);
      tasks_[t->id] = t;
    }
  }
  fire_expired(expired);
  return t;
}

std::shared_ptr<task_record> task_store::find(std::string_view id, std::string_view owner) {
  std::vector<std::pair<std::shared_ptr<task_record>, fired>> expired;
  std::shared_ptr<task_record> t;
  {
    std::lock_guard lk(mu_);
    sweep_locked(expired);
    auto it = tasks_.find(id);
    if (it != tasks_.end() && it->second->owner == owner) t = it->second;
  }
  fire_expired(expired);
  return t;
}

std::vector<std::shared_ptr<task_record>> task_store::list(std::string_view owner) {
  std::vector<std::pair<std::shared_ptr<task_record>, fired>> expired;
  std::vector<std::shared_ptr<task_record>> out;
  {
    std::lock_guard lk(mu_);
    sweep_locked(expired);
    for (auto& [id, t] : tasks_)
      if (t->owner == owner) out.push_back(t);
  }
  fire_expired(expired);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->seq < b->seq; });
  return out;
}

std::size_t task_store::size() {
  std::lock_guard lk(mu_);
  return tasks_.size();
}

json::object task_store::base_wire_locked(const task_record& t, bool modern) {
  json::object o{{"taskId", t.id},
                 {"status", to_string(t.status)},
                 {"createdAt", iso8601(t.created)},
                 {"lastUpdatedAt", iso8601(t.updated)}};
  if (!t.status_message.empty()) o["statusMessage"] = t.status_message;
  if (modern) {
    o["ttlMs"] = t.ttl_ms;
    o["pollIntervalMs"] = t.poll_ms;
  } else {
    o["ttl"] = t.ttl_ms;
    o["pollInterval"] = t.poll_ms;
  }
  return o;
}

json::object task_store::modern_create_wire(const task_record& t) {
  std::lock_guard lk(mu_);
  json::object o = base_wire_locked(t, true);
  o["resultType"] = "task";
  return o;
}

json::object task_store::modern_detailed_wire(const task_record& t) {
  std::lock_guard lk(mu_);
  json::object o = base_wire_locked(t, true);
  if (t.status == task_status::completed && t.result) o["result"] = *t.result;
  if (t.status == task_status::failed && t.error) o["error"] = error_wire(*t.error);
  if (t.status == task_status::input_required) o["inputRequests"] = t.input_requests;
  return o;
}

json::object task_store::legacy_wire(const task_record& t) {
  std::lock_guard lk(mu_);
  return base_wire_locked(t, false);
}

template <class Edit>
bool task_store::transition(const std::shared_ptr<task_record>& t, Edit edit) {
  fired f;
  {
    std::lock_guard lk(mu_);
    if (is_terminal(t->status)) return false;
    auto before = t->status;
    edit(*t);
    t->updated = std::chrono::system_clock::now();
    if (is_terminal(t->status)) finish_locked(*t, f);
    if (t->status != before && t->on_status) {
      f.status = t->on_status;
      f.wire = base_wire_locked(*t, t->era == protocol::era::modern);
    }
  }
  run(t, f);
  return true;
}

// A task just finished: stop its run, release what only a running task needs.
void task_store::finish_locked(task_record& t, fired& f) {
  if (t.env) {
    if (t.status == task_status::cancelled) t.env->cancelled = true;
    t.env.reset();
  }
  t.input_requests.clear();
  t.provided.clear();
  t.result_streams.clear();
  f.terminal.swap(t.on_terminal);
}

void task_store::run(const std::shared_ptr<task_record>& t, fired& f) {
  if (f.status) f.status(std::move(f.wire));
  for (auto& cb : f.terminal) cb(*t);
}

bool task_store::complete(const std::shared_ptr<task_record>& t, json::object result) {
  return transition(t, [&](task_record& r) {
    r.status = task_status::completed;
    r.result = std::move(result);
  });
}

bool task_store::fail(const std::shared_ptr<task_record>& t, jsonrpc::error error) {
  return transition(t, [&](task_record& r) {
    r.status = task_status::failed;
    r.status_message = error.message;
    r.error = std::move(error);
  });
}

bool task_store::cancel(const std::shared_ptr<task_record>& t, std::string message) {
  return transition(t, [&](task_record& r) {
    r.status = task_status::cancelled;
    r.status_message = std::move(message);
  });
}

bool task_store::set_working(const std::shared_ptr<task_record>& t) {
  return transition(t, [&](task_record& r) {
    r.status = task_status::working;
    r.status_message.clear();
    r.input_requests.clear();
  });
}

bool task_store::set_input_required(const std::shared_ptr<task_record>& t) {
  return transition(t, [&](task_record& r) {
    r.status = task_status::input_required;
    r.status_message = "Waiting for input";
  });
}

bool task_store::park_for_input(const std::shared_ptr<task_record>& t, json::object requests,
                                std::map<std::string, json::value> provided) {
  return transition(t, [&](task_record& r) {
    r.status = task_status::input_required;
    r.status_message = "Waiting for input";
    r.input_requests = std::move(requests);
    r.provided = std::move(provided);
    r.env.reset();  // the run ended; tasks/update starts the next one
  });
}

bool task_store::supply_input(const std::shared_ptr<task_record>& t, const json::object& responses,
                              std::map<std::string, json::value>& provided) {
  bool resume = false;
  transition(t, [&](task_record& r) {
    if (r.status != task_status::input_required) return;
    for (const auto& kv : responses) {
      auto pending = r.input_requests.find(kv.key());
      if (pending == r.input_requests.end()) continue;  // not asked (or answered): ignored
      r.provided[std::string(kv.key())] = kv.value();
      r.input_requests.erase(pending);
    }
    if (r.input_requests.empty()) {
      r.status = task_status::working;
      r.status_message.clear();
      provided = r.provided;
      resume = true;
    }
  });
  return resume;
}

void task_store::attach(const std::shared_ptr<task_record>& t,
                        std::shared_ptr<detail::request_env> env) {
  std::lock_guard lk(mu_);
  if (env && is_terminal(t->status)) {
    if (t->status == task_status::cancelled) env->cancelled = true;
    return;
  }
  t->env = std::move(env);
}

void task_store::when_finished(const std::shared_ptr<task_record>& t,
                               std::shared_ptr<exchange> stream,
                               std::function<void(const task_record&)> done) {
  {
    std::lock_guard lk(mu_);
    if (!is_terminal(t->status)) {
      if (stream) t->result_streams.push_back(std::move(stream));
      t->on_terminal.push_back(std::move(done));
      return;
    }
  }
  done(*t);
}

std::shared_ptr<exchange> task_store::result_stream(const std::shared_ptr<task_record>& t) {
  std::lock_guard lk(mu_);
  return t->result_streams.empty() ? nullptr : t->result_streams.back();
}

void task_store::drop_owner(std::string_view owner) {
  std::vector<std::pair<std::shared_ptr<task_record>, fired>> dropped;
  {
    std::lock_guard lk(mu_);
    for (auto it = tasks_.begin(); it != tasks_.end();) {
      if (it->second->owner != owner) {
        ++it;
        continue;
      }
      auto& t = *it->second;
      fired f;
      if (!is_terminal(t.status)) {
        t.status = task_status::cancelled;
        t.status_message = "The session ended";
        t.updated = std::chrono::system_clock::now();
        finish_locked(t, f);
      }
      dropped.emplace_back(it->second, std::move(f));
      it = tasks_.erase(it);
    }
  }
  for (auto& [t, f] : dropped) run(t, f);
}

void task_store::sweep_locked(std::vector<std::pair<std::shared_ptr<task_record>, fired>>& out) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_sweep_ < std::chrono::milliseconds(250)) return;
  last_sweep_ = now;
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    auto& t = *it->second;
    if (t.expires > now) {
      ++it;
      continue;
    }
    fired f;
    if (!is_terminal(t.status)) {
      t.status = task_status::cancelled;
      t.status_message = "The task expired";
      t.updated = std::chrono::system_clock::now();
      finish_locked(t, f);
    }
    out.emplace_back(it->second, std::move(f));
    it = tasks_.erase(it);
  }
}

void task_store::fire_expired(std::vector<std::pair<std::shared_ptr<task_record>, fired>>& e) {
  for (auto& [t, f] : e) run(t, f);
}

}  // namespace plexus::server
