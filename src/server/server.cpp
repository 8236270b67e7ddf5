#include "plexus/server/server.hpp"

#include "server/server_impl.hpp"
#include "server/tool_wire.hpp"

#include <stdexcept>

namespace plexus::server {

// ---- change_bus ----------------------------------------------------------

std::uint64_t change_bus::subscribe(callback cb) {
  std::lock_guard lk(mu_);
  auto id = next_++;
  subs_[id] = std::make_shared<callback>(std::move(cb));
  return id;
}

void change_bus::unsubscribe(std::uint64_t id) {
  std::lock_guard lk(mu_);
  subs_.erase(id);
}

void change_bus::publish(const change& c) {
  std::vector<std::shared_ptr<callback>> targets;
  {
    std::lock_guard lk(mu_);
    for (auto& [id, cb] : subs_) targets.push_back(cb);
  }
  // Callbacks run outside the lock: they write to transports.
  for (auto& cb : targets) (*cb)(c);
}

// ---- server::impl ----------------------------------------------------------

server::impl::impl(protocol::implementation i, server_options o)
    : info(std::move(i)),
      info_wire(info.to_json()),
      info_meta_member(std::string(R"("_meta":)") +
                       json::dump(json::object{{protocol::meta::server_info, info_wire}})),
      complete_info_meta_members(R"("resultType":"complete",)" + info_meta_member),
      options(std::move(o)),
      cache_hint_members(R"(,"ttlMs":)" + std::to_string(options.list_ttl_ms) +
                         R"(,"cacheScope":)" + json::dump(json::value(options.cache_scope))),
      sealer(options.request_state_key),
      pool(options.worker_threads == 0 ? 1 : options.worker_threads) {}

server::impl::~impl() {
  pool.stop();
}

bool server::impl::has_tools() const {
  return options.enable_tools || !tools.snapshot()->empty();
}
bool server::impl::has_resources() const {
  return options.enable_resources || !resources.snapshot()->empty() ||
         !templates.snapshot()->empty();
}
bool server::impl::has_prompts() const {
  return options.enable_prompts || !prompts.snapshot()->empty();
}
bool server::impl::has_completions() const {
  std::lock_guard lk(const_cast<std::mutex&>(completions_mu));
  return options.enable_completions || !prompt_completions.empty() ||
         !resource_completions.empty() || has_prompts() || !templates.snapshot()->empty();
}

json::object server::impl::capabilities(protocol::era) const {
  json::object caps;
  if (has_tools()) caps["tools"] = json::object{{"listChanged", true}};
  if (has_resources()) caps["resources"] = json::object{{"subscribe", true}, {"listChanged", true}};
  if (has_prompts()) caps["prompts"] = json::object{{"listChanged", true}};
  if (options.enable_logging) caps["logging"] = json::object{};
  if (has_completions()) caps["completions"] = json::object{};
  return caps;
}

// ---- server ----------------------------------------------------------------

server::server(protocol::implementation info, server_options options)
    : impl_(std::make_unique<impl>(std::move(info), std::move(options))) {}

server::~server() = default;

const protocol::implementation& server::info() const {
  return impl_->info;
}
const server_options& server::options() const {
  return impl_->options;
}

void server::add_tool(protocol::tool definition, tool_handler handler) {
  add_tool(std::move(definition), std::move(handler), tool_dispatch::pool);
}

namespace {

std::shared_ptr<tool_entry> make_tool_entry(protocol::tool definition, tool_handler handler) {
  auto entry = std::make_shared<tool_entry>();
  entry->wire = definition.to_json();
  auto compiled = schema::validator::compile(definition.input_schema);
  if (!compiled)
    throw std::invalid_argument("tool " + definition.name +
                                ": invalid inputSchema: " + compiled.error());
  entry->input_validator = std::move(*compiled);
  entry->definition = std::move(definition);
  entry->handler = std::move(handler);
  return entry;
}

}  // namespace

void server::add_tool(protocol::tool definition, tool_handler handler, tool_dispatch dispatch) {
  auto entry = make_tool_entry(std::move(definition), std::move(handler));
  entry->dispatch = dispatch;
  impl_->add_tool(std::move(entry));
}

void server::add_tool(protocol::tool definition, tool_handler handler, task_start start) {
  auto entry = make_tool_entry(std::move(definition), std::move(handler));
  entry->start = start;
  impl_->add_tool(std::move(entry));
}

void server::add_tool(protocol::tool definition, tool_handler handler, task_start start,
                      async_tool_handler fast_path) {
  auto entry = make_tool_entry(std::move(definition), std::move(handler));
  entry->start = start;
  entry->fast_path = std::move(fast_path);
  impl_->add_tool(std::move(entry));
}

void server::impl::add_tool(std::shared_ptr<tool_entry> entry) {
  std::string name = entry->definition.name;
  tools.update([&](auto& list) {
    for (auto& t : list)
      if (t->definition.name == name) {
        t = entry;  // replacing keeps the position: list order stays deterministic
        return;
      }
    list.push_back(entry);
  });
  bus.publish({change::tools, {}});
}

bool server::remove_tool(std::string_view name) {
  bool removed = false;
  impl_->tools.update([&](auto& list) {
    auto it = std::find_if(list.begin(), list.end(),
                           [&](const auto& t) { return t->definition.name == name; });
    if (it != list.end()) {
      list.erase(it);
      removed = true;
    }
  });
  if (removed) impl_->bus.publish({change::tools, {}});
  return removed;
}

void server::add_resource(protocol::resource definition, resource_reader reader) {
  auto entry = std::make_shared<resource_entry>();
  entry->wire = definition.to_json();
  entry->definition = std::move(definition);
  entry->reader = std::move(reader);
  impl_->resources.update([&](auto& list) {
    for (auto& r : list)
      if (r->definition.uri == entry->definition.uri) {
        r = entry;
        return;
      }
    list.push_back(entry);
  });
  impl_->bus.publish({change::resources, {}});
}

bool server::remove_resource(std::string_view uri) {
  bool removed = false;
  impl_->resources.update([&](auto& list) {
    auto it = std::find_if(list.begin(), list.end(),
                           [&](const auto& r) { return r->definition.uri == uri; });
    if (it != list.end()) {
      list.erase(it);
      removed = true;
    }
  });
  if (removed) impl_->bus.publish({change::resources, {}});
  return removed;
}

void server::add_resource_template(protocol::resource_template definition, template_reader reader) {
  auto entry = std::make_shared<template_entry>(template_entry{
      definition, definition.to_json(), uri_template(definition.uri_template), std::move(reader)});
  impl_->templates.update([&](auto& list) {
    for (auto& t : list)
      if (t->definition.uri_template == entry->definition.uri_template) {
        t = entry;
        return;
      }
    list.push_back(entry);
  });
  impl_->bus.publish({change::resources, {}});
}

bool server::remove_resource_template(std::string_view uri_template) {
  bool removed = false;
  impl_->templates.update([&](auto& list) {
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& t) {
      return t->definition.uri_template == uri_template;
    });
    if (it != list.end()) {
      list.erase(it);
      removed = true;
    }
  });
  if (removed) impl_->bus.publish({change::resources, {}});
  return removed;
}

void server::add_prompt(protocol::prompt definition, prompt_handler handler) {
  auto entry = std::make_shared<prompt_entry>();
  entry->wire = definition.to_json();
  entry->definition = std::move(definition);
  entry->handler = std::move(handler);
  impl_->prompts.update([&](auto& list) {
    for (auto& p : list)
      if (p->definition.name == entry->definition.name) {
        p = entry;
        return;
      }
    list.push_back(entry);
  });
  impl_->bus.publish({change::prompts, {}});
}

bool server::remove_prompt(std::string_view name) {
  bool removed = false;
  impl_->prompts.update([&](auto& list) {
    auto it = std::find_if(list.begin(), list.end(),
                           [&](const auto& p) { return p->definition.name == name; });
    if (it != list.end()) {
      list.erase(it);
      removed = true;
    }
  });
  if (removed) impl_->bus.publish({change::prompts, {}});
  return removed;
}

void server::add_prompt_completion(std::string prompt_name, completion_handler handler) {
  std::lock_guard lk(impl_->completions_mu);
  impl_->prompt_completions[std::move(prompt_name)] = std::move(handler);
}

void server::add_resource_completion(std::string uri_template, completion_handler handler) {
  std::lock_guard lk(impl_->completions_mu);
  impl_->resource_completions[std::move(uri_template)] = std::move(handler);
}

void server::notify_resource_updated(const std::string& uri) {
  impl_->bus.publish({change::resource_updated, uri});
}
void server::notify_tools_changed() {
  impl_->bus.publish({change::tools, {}});
}
void server::notify_prompts_changed() {
  impl_->bus.publish({change::prompts, {}});
}
void server::notify_resources_changed() {
  impl_->bus.publish({change::resources, {}});
}

// ---- tool_result -----------------------------------------------------------

tool_result tool_result::text(std::string text) {
  tool_result r;
  r.content.push_back(protocol::content::text(std::move(text)));
  return r;
}

tool_result tool_result::error(std::string message) {
  tool_result r = text(std::move(message));
  r.is_error = true;
  return r;
}

tool_result& tool_result::add(json::object block) {
  content.push_back(std::move(block));
  return *this;
}

json::object tool_result::to_json() const {
  return detail::take_wire(tool_result(*this));
}

json::object detail::take_wire(tool_result&& r) {
  json::object o;
  o.reserve(4);
  o.emplace("content", std::move(r.content));
  if (r.structured_content) o.emplace("structuredContent", std::move(*r.structured_content));
  if (r.is_error) o.emplace("isError", true);
  if (!r.meta.empty()) o.emplace("_meta", std::move(r.meta));
  return o;
}

}  // namespace plexus::server
