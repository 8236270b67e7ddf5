#include "plexus/servers/memory.hpp"

#include "servers/sqlite_statement.hpp"

#include "plexus/server/typed_tool.hpp"

#include <boost/describe.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

namespace plexus::servers {

namespace {

using namespace plexus::server;

// ---- wire types (the shapes of @modelcontextprotocol/server-memory) ------------------

struct entity {
  std::string name;
  std::string entityType;
  std::vector<std::string> observations;
};
BOOST_DESCRIBE_STRUCT(entity, (), (name, entityType, observations))

struct relation {
  std::string from;
  std::string to;
  std::string relationType;
};
BOOST_DESCRIBE_STRUCT(relation, (), (from, to, relationType))

struct knowledge_graph {
  std::vector<entity> entities;
  std::vector<relation> relations;
};
BOOST_DESCRIBE_STRUCT(knowledge_graph, (), (entities, relations))

struct create_entities_args {
  std::vector<entity> entities;
};
BOOST_DESCRIBE_STRUCT(create_entities_args, (), (entities))

struct relations_args {
  std::vector<relation> relations;
};
BOOST_DESCRIBE_STRUCT(relations_args, (), (relations))

struct observation_add {
  std::string entityName;
  std::vector<std::string> contents;
};
BOOST_DESCRIBE_STRUCT(observation_add, (), (entityName, contents))

struct add_observations_args {
  std::vector<observation_add> observations;
};
BOOST_DESCRIBE_STRUCT(add_observations_args, (), (observations))

struct observation_added {
  std::string entityName;
  std::vector<std::string> addedObservations;
};
BOOST_DESCRIBE_STRUCT(observation_added, (), (entityName, addedObservations))

struct add_observations_result {
  std::vector<observation_added> results;
};
BOOST_DESCRIBE_STRUCT(add_observations_result, (), (results))

struct delete_entities_args {
  std::vector<std::string> entityNames;
};
BOOST_DESCRIBE_STRUCT(delete_entities_args, (), (entityNames))

struct observation_deletion {
  std::string entityName;
  std::vector<std::string> observations;
};
BOOST_DESCRIBE_STRUCT(observation_deletion, (), (entityName, observations))

struct delete_observations_args {
  std::vector<observation_deletion> deletions;
};
BOOST_DESCRIBE_STRUCT(delete_observations_args, (), (deletions))

struct search_args {
  std::string query;
};
BOOST_DESCRIBE_STRUCT(search_args, (), (query))

struct open_args {
  std::vector<std::string> names;
};
BOOST_DESCRIBE_STRUCT(open_args, (), (names))

struct status_result {
  bool success;
  std::string message;
};
BOOST_DESCRIBE_STRUCT(status_result, (), (success, message))

struct health_result {
  std::string status;
  std::string database;
  std::int64_t entities;
  std::int64_t relations;
  std::int64_t observations;
};
BOOST_DESCRIBE_STRUCT(health_result, (), (status, database, entities, relations, observations))

// JSON.stringify(v, null, 2): the text mirror of the reference server.
void pretty(std::string& out, const json::value& v, int depth) {
  auto indent = [&](int d) { out.append(static_cast<std::size_t>(d) * 2, ' '); };
  if (v.is_array()) {
    const auto& a = v.get_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    for (std::size_t i = 0; i < a.size(); ++i) {
      indent(depth + 1);
      pretty(out, a[i], depth + 1);
      out += i + 1 < a.size() ? ",\n" : "\n";
    }
    indent(depth);
    out += "]";
  } else if (v.is_object()) {
    const auto& o = v.get_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    std::size_t i = 0;
    for (const auto& kv : o) {
      indent(depth + 1);
      out += json::dump(json::value(kv.key())) + ": ";
      pretty(out, kv.value(), depth + 1);
      out += ++i < o.size() ? ",\n" : "\n";
    }
    indent(depth);
    out += "}";
  } else {
    out += json::dump(v);
  }
}

std::string pretty(const json::value& v) {
  std::string out;
  pretty(out, v, 0);
  return out;
}

// ---- SQLite ---------------------------------------------------------------------------

// Statements name this server in their errors.
struct statement : sqlite_statement {
  statement(sqlite3* db, const char* sql) : sqlite_statement(db, sql, "memory") {}
};

class graph_store {
 public:
  explicit graph_store(std::string path) : path_(std::move(path)) {
    if (sqlite3_open_v2(path_.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("memory: cannot open database " + path_ + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA foreign_keys=ON");
    exec("PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS entities("
        " id INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL UNIQUE,"
        " entity_type TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS observations("
        " id INTEGER PRIMARY KEY,"
        " entity_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,"
        " content TEXT NOT NULL,"
        " UNIQUE(entity_id, content));"
        "CREATE TABLE IF NOT EXISTS relations("
        " id INTEGER PRIMARY KEY,"
        " from_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,"
        " to_id INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,"
        " relation_type TEXT NOT NULL,"
        " UNIQUE(from_id, to_id, relation_type));"
        "CREATE INDEX IF NOT EXISTS relations_to ON relations(to_id);"
        "PRAGMA user_version=1;");
  }
  ~graph_store() { sqlite3_close(db_); }
  graph_store(const graph_store&) = delete;
  graph_store& operator=(const graph_store&) = delete;

  const std::string& path() const { return path_; }

  // Runs `f` in one transaction (rolled back when it throws), under the store's mutex.
  template <class F>
  auto transaction(F&& f) {
    std::lock_guard lk(mu_);
    exec("BEGIN IMMEDIATE");
    try {
      if constexpr (std::is_void_v<decltype(f())>) {
        f();
        exec("COMMIT");
      } else {
        auto r = f();
        exec("COMMIT");
        return r;
      }
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  std::optional<std::int64_t> id_of(std::string_view name) {
    statement s(db_, "SELECT id FROM entities WHERE name = ?1");
    s.bind(1, name);
    if (s.step()) return s.integer(0);
    return std::nullopt;
  }

  std::vector<entity> create_entities(const std::vector<entity>& in) {
    std::vector<entity> created;
    statement ins(db_, "INSERT OR IGNORE INTO entities(name, entity_type) VALUES(?1, ?2)");
    statement obs(db_, "INSERT OR IGNORE INTO observations(entity_id, content) VALUES(?1, ?2)");
    for (const auto& e : in) {
      if (e.name.empty()) throw tool_error("entity name must not be empty");
      if (e.entityType.empty())
        throw tool_error("entityType of \"" + e.name + "\" must not be empty");
      ins.bind(1, e.name).bind(2, e.entityType);
      ins.run();
      if (sqlite3_changes(db_) == 0) continue;  // exists: ignored, as the reference does
      std::int64_t id = sqlite3_last_insert_rowid(db_);
      entity made{e.name, e.entityType, {}};
      for (const auto& o : e.observations) {
        obs.bind(1, id).bind(2, o);
        obs.run();
        if (sqlite3_changes(db_) > 0) made.observations.push_back(o);
      }
      created.push_back(std::move(made));
    }
    return created;
  }

  std::vector<relation> create_relations(const std::vector<relation>& in) {
    std::vector<relation> created;
    statement ins(db_,
                  "INSERT OR IGNORE INTO relations(from_id, to_id, relation_type) "
                  "VALUES(?1, ?2, ?3)");
    for (const auto& r : in) {
      if (r.relationType.empty()) throw tool_error("relationType must not be empty");
      auto describe = [&] {
        return "\"" + r.from + "\" -[" + r.relationType + "]-> \"" + r.to + "\"";
      };
      auto from = id_of(r.from);
      if (!from)
        throw tool_error("Cannot create relation " + describe() + ": entity \"" + r.from +
                         "\" does not exist");
      auto to = id_of(r.to);
      if (!to)
        throw tool_error("Cannot create relation " + describe() + ": entity \"" + r.to +
                         "\" does not exist");
      ins.bind(1, *from).bind(2, *to).bind(3, r.relationType);
      ins.run();
      if (sqlite3_changes(db_) > 0) created.push_back(r);
    }
    return created;
  }

  std::vector<observation_added> add_observations(const std::vector<observation_add>& in) {
    std::vector<observation_added> out;
    statement obs(db_, "INSERT OR IGNORE INTO observations(entity_id, content) VALUES(?1, ?2)");
    for (const auto& a : in) {
      auto id = id_of(a.entityName);
      if (!id) throw tool_error("Entity with name " + a.entityName + " not found");
      observation_added added{a.entityName, {}};
      for (const auto& c : a.contents) {
        obs.bind(1, *id).bind(2, c);
        obs.run();
        if (sqlite3_changes(db_) > 0) added.addedObservations.push_back(c);
      }
      out.push_back(std::move(added));
    }
    return out;
  }

  void delete_entities(const std::vector<std::string>& names) {
    statement del(db_, "DELETE FROM entities WHERE name = ?1");
    for (const auto& n : names) {
      del.bind(1, n);
      del.run();
    }
  }

  void delete_observations(const std::vector<observation_deletion>& in) {
    statement del(db_,
                  "DELETE FROM observations WHERE content = ?2 AND entity_id = "
                  "(SELECT id FROM entities WHERE name = ?1)");
    for (const auto& d : in)
      for (const auto& o : d.observations) {
        del.bind(1, d.entityName).bind(2, o);
        del.run();
      }
  }

  void delete_relations(const std::vector<relation>& in) {
    statement del(db_,
                  "DELETE FROM relations WHERE relation_type = ?3"
                  " AND from_id = (SELECT id FROM entities WHERE name = ?1)"
                  " AND to_id = (SELECT id FROM entities WHERE name = ?2)");
    for (const auto& r : in) {
      del.bind(1, r.from).bind(2, r.to).bind(3, r.relationType);
      del.run();
    }
  }

  knowledge_graph read_graph() {
    knowledge_graph g;
    std::map<std::int64_t, std::size_t> index;
    statement ents(db_, "SELECT id, name, entity_type FROM entities ORDER BY id");
    while (ents.step()) {
      index[ents.integer(0)] = g.entities.size();
      g.entities.push_back({ents.text(1), ents.text(2), {}});
    }
    statement obs(db_, "SELECT entity_id, content FROM observations ORDER BY id");
    while (obs.step())
      if (auto it = index.find(obs.integer(0)); it != index.end())
        g.entities[it->second].observations.push_back(obs.text(1));
    statement rels(db_,
                   "SELECT f.name, t.name, r.relation_type FROM relations r"
                   " JOIN entities f ON f.id = r.from_id JOIN entities t ON t.id = r.to_id"
                   " ORDER BY r.id");
    while (rels.step()) g.relations.push_back({rels.text(0), rels.text(1), rels.text(2)});
    return g;
  }

  health_result health() {
    auto count = [&](const char* sql) {
      statement s(db_, sql);
      s.step();
      return s.integer(0);
    };
    return {"ok", path_, count("SELECT count(*) FROM entities"),
            count("SELECT count(*) FROM relations"), count("SELECT count(*) FROM observations")};
  }

 private:
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw std::runtime_error("memory: database error: " + msg);
    }
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::mutex mu_;
};

// The graph restricted to `keep` entities, with the relations between two kept entities.
knowledge_graph subgraph(knowledge_graph g, const std::function<bool(const entity&)>& keep) {
  knowledge_graph out;
  std::set<std::string> names;
  for (auto& e : g.entities)
    if (keep(e)) {
      names.insert(e.name);
      out.entities.push_back(std::move(e));
    }
  for (auto& r : g.relations)
    if (names.contains(r.from) && names.contains(r.to)) out.relations.push_back(std::move(r));
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A tool whose structuredContent is `Out` and whose text is the reference server's text.
template <class Args, class Out, class F>
void add_graph_tool(server::server& srv, std::string name, std::string description,
                    protocol::tool_annotations annotations, schema::annotations fields, F f) {
  protocol::tool def;
  def.name = name;
  def.description = std::move(description);
  def.annotations = std::move(annotations);
  if constexpr (std::is_void_v<Args>)
    def.input_schema = {
        {"type", "object"}, {"properties", json::object{}}, {"additionalProperties", false}};
  else
    def.input_schema = schema::derive<Args>(fields);
  def.output_schema = json::value(schema::derive<Out>());
  srv.add_tool(std::move(def), [f = std::move(f), name](context&, const json::object& arguments) {
    std::pair<Out, std::string> r;
    if constexpr (std::is_void_v<Args>) {
      r = f();
    } else {
      auto params = json::from_json<Args>(arguments);
      if (!params) return detail::invalid_arguments(name, params.error());
      r = f(*params);
    }
    tool_result out = tool_result::text(std::move(r.second));
    out.structured_content = json::to_json(r.first);
    return out;
  });
}

void register_tools(server::server& srv, std::shared_ptr<graph_store> db) {
  const protocol::tool_annotations adds{
      .read_only = false, .destructive = false, .idempotent = true, .open_world = false};
  const protocol::tool_annotations deletes{
      .read_only = false, .destructive = true, .idempotent = true, .open_world = false};
  const protocol::tool_annotations reads{
      .read_only = true, .destructive = false, .idempotent = true, .open_world = false};

  add_graph_tool<create_entities_args, create_entities_args>(
      srv, "create_entities",
      "Create multiple new entities in the knowledge graph; entities whose name exists are "
      "ignored. Returns the entities created.",
      adds,
      {{"entities", {{"description", "The entities to create"}}},
       {"entities/*/name", {{"description", "The name of the entity"}}},
       {"entities/*/entityType", {{"description", "The type of the entity"}}},
       {"entities/*/observations", {{"description", "Observations about the entity"}}}},
      [db](const create_entities_args& a) {
        auto made = db->transaction([&] { return db->create_entities(a.entities); });
        create_entities_args out{std::move(made)};
        return std::pair{out, pretty(json::to_json(out.entities))};
      });

  add_graph_tool<relations_args, relations_args>(
      srv, "create_relations",
      "Create relations between entities (in active voice); duplicates are ignored and both "
      "entities must exist. Returns the relations created.",
      adds,
      {{"relations", {{"description", "The relations to create"}}},
       {"relations/*/from", {{"description", "Name of the entity the relation starts at"}}},
       {"relations/*/to", {{"description", "Name of the entity the relation ends at"}}},
       {"relations/*/relationType", {{"description", "The type of the relation"}}}},
      [db](const relations_args& a) {
        auto made = db->transaction([&] { return db->create_relations(a.relations); });
        relations_args out{std::move(made)};
        return std::pair{out, pretty(json::to_json(out.relations))};
      });

  add_graph_tool<add_observations_args, add_observations_result>(
      srv, "add_observations",
      "Add observations to existing entities; observations already present are ignored. "
      "Returns the observations added per entity.",
      adds,
      {{"observations", {{"description", "Observations to add, per entity"}}},
       {"observations/*/entityName", {{"description", "The entity to add to"}}},
       {"observations/*/contents", {{"description", "The observations to add"}}}},
      [db](const add_observations_args& a) {
        auto added = db->transaction([&] { return db->add_observations(a.observations); });
        add_observations_result out{std::move(added)};
        return std::pair{out, pretty(json::to_json(out.results))};
      });

  add_graph_tool<delete_entities_args, status_result>(
      srv, "delete_entities",
      "Delete entities and the relations that involve them; unknown names are ignored", deletes,
      {{"entityNames", {{"description", "Names of the entities to delete"}}}},
      [db](const delete_entities_args& a) {
        db->transaction([&] { db->delete_entities(a.entityNames); });
        return std::pair{status_result{true, "Entities deleted successfully"},
                         std::string("Entities deleted successfully")};
      });

  add_graph_tool<delete_observations_args, status_result>(
      srv, "delete_observations",
      "Delete specific observations from entities; unknown ones are ignored", deletes,
      {{"deletions", {{"description", "Observations to delete, per entity"}}},
       {"deletions/*/entityName", {{"description", "The entity holding the observations"}}},
       {"deletions/*/observations", {{"description", "The observations to delete"}}}},
      [db](const delete_observations_args& a) {
        db->transaction([&] { db->delete_observations(a.deletions); });
        return std::pair{status_result{true, "Observations deleted successfully"},
                         std::string("Observations deleted successfully")};
      });

  add_graph_tool<relations_args, status_result>(
      srv, "delete_relations", "Delete relations; unknown ones are ignored", deletes,
      {{"relations", {{"description", "The relations to delete"}}}}, [db](const relations_args& a) {
        db->transaction([&] { db->delete_relations(a.relations); });
        return std::pair{status_result{true, "Relations deleted successfully"},
                         std::string("Relations deleted successfully")};
      });

  add_graph_tool<void, knowledge_graph>(
      srv, "read_graph", "Read the entire knowledge graph", reads, {}, [db]() {
        auto g = db->transaction([&] { return db->read_graph(); });
        return std::pair{g, pretty(json::to_json(g))};
      });

  add_graph_tool<search_args, knowledge_graph>(
      srv, "search_nodes",
      "Entities whose name, type or an observation contains the query (case-insensitive), with "
      "the relations between them",
      reads, {{"query", {{"description", "Text to look for"}}}}, [db](const search_args& a) {
        auto q = lower(a.query);
        auto g = subgraph(db->transaction([&] { return db->read_graph(); }), [&](const entity& e) {
          if (lower(e.name).find(q) != std::string::npos) return true;
          if (lower(e.entityType).find(q) != std::string::npos) return true;
          return std::any_of(e.observations.begin(), e.observations.end(),
                             [&](auto& o) { return lower(o).find(q) != std::string::npos; });
        });
        return std::pair{g, pretty(json::to_json(g))};
      });

  add_graph_tool<open_args, knowledge_graph>(
      srv, "open_nodes", "The named entities, with the relations between them", reads,
      {{"names", {{"description", "Names of the entities"}}}}, [db](const open_args& a) {
        std::set<std::string> wanted(a.names.begin(), a.names.end());
        auto g = subgraph(db->transaction([&] { return db->read_graph(); }),
                          [&](const entity& e) { return wanted.contains(e.name); });
        return std::pair{g, pretty(json::to_json(g))};
      });

  add_tool(srv, "health", "Liveness of the memory server and the size of its graph",
           [db]() { return db->transaction([&] { return db->health(); }); },
           {.annotations = reads});
}

}  // namespace

void register_memory(server::server& srv, memory_config config) {
  register_tools(srv, std::make_shared<graph_store>(std::move(config.database_path)));
}

std::unique_ptr<server::server> make_memory_server(memory_config config,
                                                   server::server_options options) {
  if (!options.instructions)
    options.instructions =
        "A persistent knowledge graph: entities (name, entityType, observations) and directed "
        "relations between them.";
  auto srv = std::make_unique<server::server>(
      protocol::implementation{
          .name = "plexus-memory", .version = PLEXUS_VERSION, .title = "Plexus Memory Server"},
      std::move(options));
  register_memory(*srv, std::move(config));
  return srv;
}

}  // namespace plexus::servers
