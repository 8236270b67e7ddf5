#include "plexus/servers/knowledge.hpp"

#include "servers/sqlite_statement.hpp"

#include "http_fetch.hpp"
#include "knowledge_chunker.hpp"
#include "plexus/server/typed_tool.hpp"

#include <hnswlib/hnswlib.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace plexus::servers {

namespace {

namespace fs = std::filesystem;
using namespace plexus::server;
using detail::chunk_document;
using detail::chunking_options;
using detail::text_chunk;

constexpr std::string_view uri_prefix = "knowledge://documents/";
constexpr std::size_t list_page_size = 50;
constexpr double rrf_k = 60;

// ---- wire types -------------------------------------------------------------------------

struct ingest_args {
  std::optional<std::string> path;
  std::optional<std::string> text;
  std::optional<std::string> title;
};
BOOST_DESCRIBE_STRUCT(ingest_args, (), (path, text, title))

struct ingested_document {
  std::string uri;
  std::string title;
  std::string source;
  std::string status;  // added | updated | unchanged | removed
  std::int64_t chunks = 0;
  std::int64_t embedded_chunks = 0;
};
BOOST_DESCRIBE_STRUCT(ingested_document, (), (uri, title, source, status, chunks, embedded_chunks))

struct skipped_file {
  std::string path;
  std::string reason;
};
BOOST_DESCRIBE_STRUCT(skipped_file, (), (path, reason))

struct ingest_result {
  std::vector<ingested_document> documents;
  std::vector<skipped_file> skipped;
  std::optional<std::string> note;
};
BOOST_DESCRIBE_STRUCT(ingest_result, (), (documents, skipped, note))

struct search_args {
  std::string query;
  std::optional<int> limit;
  std::optional<std::string> mode;
};
BOOST_DESCRIBE_STRUCT(search_args, (), (query, limit, mode))

struct search_hit {
  std::string uri;
  std::string title;
  std::string source;
  std::int64_t chunk = 0;  // ordinal of the chunk in its document
  std::string heading;
  double score = 0;
  std::string snippet;
  std::string text;
};
BOOST_DESCRIBE_STRUCT(search_hit, (), (uri, title, source, chunk, heading, score, snippet, text))

struct search_result {
  std::string query;
  std::string mode;  // the ranking actually used
  std::vector<search_hit> hits;
  std::optional<std::string> note;
};
BOOST_DESCRIBE_STRUCT(search_result, (), (query, mode, hits, note))

struct list_args {
  std::optional<std::string> cursor;
};
BOOST_DESCRIBE_STRUCT(list_args, (), (cursor))

struct document_info {
  std::string uri;
  std::string title;
  std::string source;
  std::string mime_type;
  std::int64_t bytes = 0;
  std::int64_t chunks = 0;
  std::int64_t embedded_chunks = 0;
  std::string ingested_at;
};
BOOST_DESCRIBE_STRUCT(document_info, (),
                      (uri, title, source, mime_type, bytes, chunks, embedded_chunks, ingested_at))

struct list_result {
  std::vector<document_info> documents;
  std::optional<std::string> nextCursor;
};
BOOST_DESCRIBE_STRUCT(list_result, (), (documents, nextCursor))

struct delete_args {
  std::string uri;
};
BOOST_DESCRIBE_STRUCT(delete_args, (), (uri))

struct delete_result {
  std::string uri;
  bool deleted = false;
  std::int64_t chunks_removed = 0;
};
BOOST_DESCRIBE_STRUCT(delete_result, (), (uri, deleted, chunks_removed))

struct health_result {
  std::string status;
  std::string database;
  std::int64_t documents = 0;
  std::int64_t chunks = 0;
  std::int64_t embedded_chunks = 0;
  std::int64_t vector_index_size = 0;
  bool embeddings = false;
  std::string embeddings_url;
  std::string embeddings_model;
  std::string last_embedding_error;
  std::vector<std::string> ingest_roots;
};
BOOST_DESCRIBE_STRUCT(health_result, (),
                      (status, database, documents, chunks, embedded_chunks, vector_index_size,
                       embeddings, embeddings_url, embeddings_model, last_embedding_error,
                       ingest_roots))

// ---- helpers ------------------------------------------------------------------------------

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string iso_time(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string lower_ascii(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string document_uri(std::int64_t id) {
  return std::string(uri_prefix) + std::to_string(id);
}

// The id in knowledge://documents/{id}, or nullopt.
std::optional<std::int64_t> id_of_uri(std::string_view uri) {
  if (!uri.starts_with(uri_prefix)) return std::nullopt;
  auto digits = uri.substr(uri_prefix.size());
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  std::int64_t id = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + (c - '0');
  }
  return id;
}

bool markdown_extension(const fs::path& p) {
  auto e = lower_ascii(p.extension().string());
  return e == ".md" || e == ".markdown" || e == ".mdx";
}

bool indexed_extension(const fs::path& p) {
  auto e = lower_ascii(p.extension().string());
  return markdown_extension(p) || e == ".txt" || e == ".text";
}

// The text of the first Markdown heading, else the first non-empty line, at most 120 bytes.
std::string derive_title(std::string_view text, bool markdown) {
  std::size_t p = 0;
  std::string first_line;
  while (p < text.size()) {
    std::size_t nl = text.find('\n', p);
    std::string_view line = text.substr(p, nl == std::string_view::npos ? text.npos : nl - p);
    p = nl == std::string_view::npos ? text.size() : nl + 1;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
      line.remove_suffix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())))
      line.remove_prefix(1);
    if (line.empty()) continue;
    if (markdown && line.starts_with('#')) {
      while (!line.empty() && line.front() == '#') line.remove_prefix(1);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (!line.empty()) {
        first_line = std::string(line);
        break;
      }
      continue;
    }
    if (first_line.empty()) {
      first_line = std::string(line);
      if (!markdown) break;
    }
  }
  if (first_line.size() > 120)
    first_line.resize(detail::utf8_floor(first_line, 117)), first_line += "...";
  return first_line;
}

// Words of a query as an FTS5 expression: each word quoted (so no FTS syntax gets through),
// joined with OR so that BM25 ranks chunks matching more (and rarer) words higher.
std::vector<std::string> query_terms(std::string_view q) {
  std::vector<std::string> terms;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty() && terms.size() < 64) terms.push_back(lower_ascii(cur));
    cur.clear();
  };
  for (char c : q) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80)
      cur += c;
    else
      flush();
  }
  flush();
  std::sort(terms.begin(), terms.end());
  terms.erase(std::unique(terms.begin(), terms.end()), terms.end());
  return terms;
}

std::string fts_expression(const std::vector<std::string>& terms) {
  std::string e;
  for (const auto& t : terms) e += (e.empty() ? "\"" : " OR \"") + t + "\"";
  return e;
}

// About 200 bytes of `text` around the first query word found in it.
std::string snippet_of(const std::string& text, const std::vector<std::string>& terms) {
  constexpr std::size_t width = 200;
  if (text.size() <= width) return text;
  auto low = lower_ascii(text);
  std::size_t hit = std::string::npos;
  for (const auto& t : terms)
    if (auto p = low.find(t); p != std::string::npos) hit = std::min(hit, p);
  std::size_t start = hit == std::string::npos || hit < width / 3 ? 0 : hit - width / 3;
  start = detail::utf8_floor(text, start);
  std::size_t end = detail::utf8_floor(text, std::min(text.size(), start + width));
  std::string s;
  if (start > 0) s += "…";
  s += text.substr(start, end - start);
  if (end < text.size()) s += "…";
  return s;
}

void normalize(std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += static_cast<double>(x) * x;
  n = std::sqrt(n);
  if (n > 0)
    for (auto& x : v) x = static_cast<float>(x / n);
}

// ---- SQLite ---------------------------------------------------------------------------------

// Statements name this server in their errors.
struct statement : sqlite_statement {
  statement(sqlite3* db, const char* sql) : sqlite_statement(db, sql, "knowledge") {}
};

struct stored_document {
  std::int64_t id = 0;
  std::string title, source, hash, mime, content;
  std::int64_t ingested_at = 0;
};

struct new_chunk {
  text_chunk chunk;
  std::vector<float> vector;  // empty: not embedded
};

struct chunk_row {
  std::int64_t id, doc_id, ordinal;
  std::string heading, text, title, source;
};

class store {
 public:
  explicit store(std::string path) : path_(std::move(path)) {
    if (sqlite3_open_v2(path_.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("knowledge: cannot open database " + path_ + ": " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA foreign_keys=ON");
    exec("PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS documents("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " source TEXT NOT NULL UNIQUE,"
        " title TEXT NOT NULL,"
        " mime_type TEXT NOT NULL,"
        " content_hash TEXT NOT NULL,"
        " content TEXT NOT NULL,"
        " ingested_at INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS chunks("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
        " ordinal INTEGER NOT NULL,"
        " heading TEXT NOT NULL,"
        " text TEXT NOT NULL,"
        " start_offset INTEGER NOT NULL,"
        " end_offset INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, ordinal);"
        "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5("
        " title, heading, body, tokenize = 'porter unicode61 remove_diacritics 2');"
        "CREATE TABLE IF NOT EXISTS embeddings("
        " chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,"
        " model TEXT NOT NULL,"
        " vector BLOB NOT NULL);"
        "PRAGMA user_version=1;");
  }
  ~store() { sqlite3_close(db_); }
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  const std::string& path() const { return path_; }

  // Runs `f` under the store's mutex, in a transaction when `write` (rolled back on throw).
  template <class F>
  auto locked(bool write, F&& f) {
    std::lock_guard lk(mu_);
    if (!write) return f();
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

  std::optional<stored_document> find_source(const std::string& source) {
    statement s(db_,
                "SELECT id, title, source, content_hash, mime_type, '', ingested_at"
                " FROM documents WHERE source = ?1");
    s.bind(1, source);
    return row_of(s);
  }

  std::optional<stored_document> find_id(std::int64_t id) {
    statement s(db_,
                "SELECT id, title, source, content_hash, mime_type, content, ingested_at"
                " FROM documents WHERE id = ?1");
    s.bind(1, id);
    return row_of(s);
  }

  // Inserts or replaces the document of `doc.source` (keeping its id) with these chunks.
  // Returns the document id and the ids of the chunks it replaced.
  std::pair<std::int64_t, std::vector<std::int64_t>> put(const stored_document& doc,
                                                         const std::vector<new_chunk>& chunks,
                                                         const std::string& model) {
    std::int64_t id;
    std::vector<std::int64_t> old;
    if (auto existing = find_source(doc.source)) {
      id = existing->id;
      old = remove_chunks(id);
      statement up(db_,
                   "UPDATE documents SET title = ?2, mime_type = ?3, content_hash = ?4,"
                   " content = ?5, ingested_at = ?6 WHERE id = ?1");
      up.bind(1, id).bind(2, doc.title).bind(3, doc.mime).bind(4, doc.hash);
      up.bind(5, doc.content).bind(6, doc.ingested_at);
      up.run();
    } else {
      statement ins(db_,
                    "INSERT INTO documents(source, title, mime_type, content_hash, content,"
                    " ingested_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
      ins.bind(1, doc.source).bind(2, doc.title).bind(3, doc.mime).bind(4, doc.hash);
      ins.bind(5, doc.content).bind(6, doc.ingested_at);
      ins.run();
      id = sqlite3_last_insert_rowid(db_);
    }
    statement ins(db_,
                  "INSERT INTO chunks(doc_id, ordinal, heading, text, start_offset, end_offset)"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    statement fts(db_,
                  "INSERT INTO chunks_fts(rowid, title, heading, body) VALUES(?1, ?2, ?3, ?4)");
    std::int64_t ordinal = 0;
    for (const auto& c : chunks) {
      ins.bind(1, id).bind(2, ordinal++).bind(3, c.chunk.heading).bind(4, c.chunk.text);
      ins.bind(5, static_cast<std::int64_t>(c.chunk.start));
      ins.bind(6, static_cast<std::int64_t>(c.chunk.end));
      ins.run();
      std::int64_t cid = sqlite3_last_insert_rowid(db_);
      fts.bind(1, cid).bind(2, doc.title).bind(3, c.chunk.heading).bind(4, c.chunk.text);
      fts.run();
      if (!c.vector.empty()) put_embedding(cid, model, c.vector);
    }
    return {id, old};
  }

  void put_embedding(std::int64_t chunk_id, const std::string& model, const std::vector<float>& v) {
    statement s(db_,
                "INSERT OR REPLACE INTO embeddings(chunk_id, model, vector) VALUES(?1, ?2, ?3)");
    s.bind(1, chunk_id).bind(2, model).bind_blob(3, v.data(), v.size() * sizeof(float));
    s.run();
  }

  // Deletes a document; returns the ids of its chunks (empty and false when unknown).
  std::pair<bool, std::vector<std::int64_t>> remove(std::int64_t id) {
    auto chunks = remove_chunks(id);
    statement s(db_, "DELETE FROM documents WHERE id = ?1");
    s.bind(1, id);
    s.run();
    return {sqlite3_changes(db_) > 0, std::move(chunks)};
  }

  // Ids and sources of the documents ingested from files under `folder`.
  std::vector<std::pair<std::int64_t, std::string>> under(const std::string& folder) {
    std::vector<std::pair<std::int64_t, std::string>> out;
    statement s(db_, "SELECT id, source FROM documents WHERE substr(source, 1, length(?1)) = ?1");
    s.bind(1, folder + "/");
    while (s.step()) out.emplace_back(s.integer(0), s.text(1));
    return out;
  }

  // BM25 over chunks: (chunk id, score) best first; score = -bm25 (higher is better).
  std::vector<std::pair<std::int64_t, double>> bm25(const std::string& expression,
                                                    std::size_t limit) {
    statement s(db_,
                "SELECT rowid, bm25(chunks_fts, 2.0, 2.0, 1.0) AS r FROM chunks_fts"
                " WHERE chunks_fts MATCH ?1 ORDER BY r, rowid LIMIT ?2");
    s.bind(1, expression).bind(2, static_cast<std::int64_t>(limit));
    std::vector<std::pair<std::int64_t, double>> out;
    while (s.step()) out.emplace_back(s.integer(0), -s.real(1));
    return out;
  }

  std::optional<chunk_row> chunk(std::int64_t id) {
    statement s(db_,
                "SELECT c.id, c.doc_id, c.ordinal, c.heading, c.text, d.title, d.source"
                " FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return chunk_row{s.integer(0), s.integer(1), s.integer(2), s.text(3),
                     s.text(4),    s.text(5),    s.text(6)};
  }

  // Chunks without an embedding of `model` (all documents, or one), with their embedding input.
  std::vector<std::pair<std::int64_t, std::string>> unembedded(const std::string& model,
                                                               std::optional<std::int64_t> doc) {
    statement s(db_,
                "SELECT c.id, d.title, c.heading, c.text FROM chunks c"
                " JOIN documents d ON d.id = c.doc_id"
                " LEFT JOIN embeddings e ON e.chunk_id = c.id AND e.model = ?1"
                " WHERE e.chunk_id IS NULL AND (?2 IS NULL OR c.doc_id = ?2) ORDER BY c.id");
    s.bind(1, model);
    if (doc) s.bind(2, *doc);
    std::vector<std::pair<std::int64_t, std::string>> out;
    while (s.step())
      out.emplace_back(s.integer(0), embedding_input(s.text(1), s.text(2), s.text(3)));
    return out;
  }

  // Every stored vector of `model`; vectors of other models are dropped (the model changed).
  std::vector<std::pair<std::int64_t, std::vector<float>>> vectors(const std::string& model) {
    statement drop(db_, "DELETE FROM embeddings WHERE model <> ?1");
    drop.bind(1, model);
    drop.run();
    statement s(db_, "SELECT chunk_id, vector FROM embeddings ORDER BY chunk_id");
    std::vector<std::pair<std::int64_t, std::vector<float>>> out;
    while (s.step()) out.emplace_back(s.integer(0), s.floats(1));
    return out;
  }

  std::vector<document_info> list(std::int64_t after, std::size_t limit) {
    statement s(db_,
                "SELECT d.id, d.title, d.source, d.mime_type, length(CAST(d.content AS BLOB)),"
                " (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id),"
                " (SELECT count(*) FROM chunks c JOIN embeddings e ON e.chunk_id = c.id"
                "   WHERE c.doc_id = d.id), d.ingested_at"
                " FROM documents d WHERE d.id > ?1 ORDER BY d.id LIMIT ?2");
    s.bind(1, after).bind(2, static_cast<std::int64_t>(limit));
    std::vector<document_info> out;
    while (s.step())
      out.push_back(document_info{document_uri(s.integer(0)), s.text(1), s.text(2), s.text(3),
                                  s.integer(4), s.integer(5), s.integer(6),
                                  iso_time(s.integer(7))});
    return out;
  }

  std::int64_t count(const char* sql) {
    statement s(db_, sql);
    s.step();
    return s.integer(0);
  }

  std::vector<std::int64_t> chunk_ids(std::int64_t doc) {
    statement s(db_, "SELECT id FROM chunks WHERE doc_id = ?1 ORDER BY ordinal");
    s.bind(1, doc);
    std::vector<std::int64_t> ids;
    while (s.step()) ids.push_back(s.integer(0));
    return ids;
  }

  std::int64_t embedded_count(std::int64_t doc) {
    statement s(db_,
                "SELECT count(*) FROM chunks c JOIN embeddings e ON e.chunk_id = c.id"
                " WHERE c.doc_id = ?1");
    s.bind(1, doc);
    s.step();
    return s.integer(0);
  }

  // The text embedded for a chunk: its place in the document ("Title > Section") and the text.
  static std::string embedding_input(const std::string& title, const std::string& heading,
                                     const std::string& text) {
    std::string in;
    if (heading.empty())
      in = title;
    else if (heading == title || heading.starts_with(title + " > "))
      in = heading;  // the heading path already starts with the document's title
    else
      in = title.empty() ? heading : title + " > " + heading;
    if (!in.empty()) in += "\n\n";
    return in + text;
  }

 private:
  std::optional<stored_document> row_of(statement& s) {
    if (!s.step()) return std::nullopt;
    return stored_document{s.integer(0), s.text(1), s.text(2),   s.text(3),
                           s.text(4),    s.text(5), s.integer(6)};
  }

  std::vector<std::int64_t> remove_chunks(std::int64_t doc) {
    std::vector<std::int64_t> ids;
    statement q(db_, "SELECT id FROM chunks WHERE doc_id = ?1");
    q.bind(1, doc);
    while (q.step()) ids.push_back(q.integer(0));
    statement f(db_, "DELETE FROM chunks_fts WHERE rowid = ?1");
    for (auto id : ids) {
      f.bind(1, id);
      f.run();
    }
    statement c(db_, "DELETE FROM chunks WHERE doc_id = ?1");  // embeddings cascade
    c.bind(1, doc);
    c.run();
    return ids;
  }

  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw std::runtime_error("knowledge: database error: " + msg);
    }
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::mutex mu_;
};

// ---- the vector index -------------------------------------------------------------------------

// hnswlib over unit vectors with the inner-product space: distance = 1 - cosine similarity.
// Labels are chunk ids (AUTOINCREMENT, never reused, so a deleted label never comes back).
class vector_index {
 public:
  void add(std::int64_t label, const std::vector<float>& v) {
    std::unique_lock lk(mu_);
    if (!hnsw_) {
      dim_ = v.size();
      space_ = std::make_unique<hnswlib::InnerProductSpace>(dim_);
      hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), 1024, 16, 200);
      hnsw_->setEf(128);
    }
    if (v.size() != dim_)
      throw std::runtime_error("embedding has " + std::to_string(v.size()) +
                               " dimensions, the index " + std::to_string(dim_));
    auto key = static_cast<hnswlib::labeltype>(label);
    if (live_.contains(key)) return;
    if (hnsw_->cur_element_count >= hnsw_->max_elements_)
      hnsw_->resizeIndex(hnsw_->max_elements_ * 2);
    hnsw_->addPoint(v.data(), key);
    live_.insert(key);
  }

  void remove(std::int64_t label) {
    std::unique_lock lk(mu_);
    auto key = static_cast<hnswlib::labeltype>(label);
    if (live_.erase(key)) hnsw_->markDelete(key);
  }

  // (label, cosine similarity), best first.
  std::vector<std::pair<std::int64_t, double>> search(const std::vector<float>& q,
                                                      std::size_t k) const {
    std::shared_lock lk(mu_);
    std::vector<std::pair<std::int64_t, double>> out;
    if (!hnsw_ || q.size() != dim_ || live_.empty()) return out;
    auto pq = hnsw_->searchKnn(q.data(), std::min(k, live_.size()));
    while (!pq.empty()) {
      out.emplace_back(static_cast<std::int64_t>(pq.top().second), 1.0 - pq.top().first);
      pq.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  std::size_t dimensions() const {
    std::shared_lock lk(mu_);
    return dim_;
  }
  std::size_t size() const {
    std::shared_lock lk(mu_);
    return live_.size();
  }

 private:
  mutable std::shared_mutex mu_;
  std::size_t dim_ = 0;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_;
  std::unordered_set<hnswlib::labeltype> live_;
};

// ---- the embeddings client ---------------------------------------------------------------------

class embedder {
 public:
  explicit embedder(const knowledge_config& c)
      : model_(c.embeddings_model),
        key_(c.embeddings_api_key),
        batch_(std::max<std::size_t>(c.embeddings_batch, 1)),
        http_(detail::http_fetch_options{.timeout = c.embeddings_timeout,
                                         .retries = c.embeddings_retries,
                                         .retry_backoff = c.embeddings_backoff,
                                         .max_response_bytes = 64 * 1024 * 1024,
                                         .verify_tls = c.verify_tls,
                                         .user_agent = "plexus-knowledge/" PLEXUS_VERSION}) {
    std::string base = c.embeddings_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    url_ = base + (base.ends_with("/v1") ? "/embeddings" : "/v1/embeddings");
    auto u = boost::urls::parse_uri(url_);
    if (!u || (u->scheme() != "http" && u->scheme() != "https"))
      throw std::invalid_argument("knowledge: embeddings_url must be an http or https URL: " +
                                  c.embeddings_url);
  }

  const std::string& url() const { return url_; }
  const std::string& model() const { return model_; }

  // One unit vector per input. Throws std::runtime_error naming the endpoint and the reason.
  std::vector<std::vector<float>> embed(const std::vector<std::string>& inputs) const {
    std::vector<std::vector<float>> out;
    for (std::size_t i = 0; i < inputs.size(); i += batch_) {
      std::size_t n = std::min(batch_, inputs.size() - i);
      auto part = embed_batch(std::vector<std::string>(inputs.begin() + i, inputs.begin() + i + n));
      for (auto& v : part) out.push_back(std::move(v));
    }
    return out;
  }

 private:
  std::vector<std::vector<float>> embed_batch(const std::vector<std::string>& inputs) const {
    json::array in;
    for (const auto& s : inputs) in.emplace_back(s);
    json::object body{{"model", model_}, {"input", std::move(in)}};
    detail::http_headers headers;
    if (!key_.empty()) headers.emplace_back("Authorization", "Bearer " + key_);
    auto fail = [&](const std::string& why) {
      return std::runtime_error("embeddings endpoint " + url_ + " failed: " + why);
    };
    detail::http_response r;
    try {
      r = http_.post_json(url_, body, headers);
    } catch (const detail::http_fetch_error& e) {
      throw std::runtime_error("embeddings endpoint failed: " + std::string(e.what()));
    }
    if (!r.ok()) {
      std::string detail = r.body.substr(0, detail::utf8_floor(r.body, 300));
      boost::system::error_code ec;
      auto v = boost::json::parse(r.body, ec);
      if (!ec && v.is_object())
        if (auto* err = json::find_object(v.get_object(), "error"))
          if (auto m = json::find_string(*err, "message")) detail = std::string(*m);
      throw fail("HTTP " + std::to_string(r.status) + " after " + std::to_string(r.attempts) +
                 (r.attempts == 1 ? " attempt" : " attempts") +
                 (detail.empty() ? "" : ": " + detail));
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    const json::array* data =
        !ec && v.is_object() ? json::find_array(v.get_object(), "data") : nullptr;
    if (!data) throw fail("the answer has no \"data\" array");
    if (data->size() != inputs.size())
      throw fail("asked for " + std::to_string(inputs.size()) + " embeddings, got " +
                 std::to_string(data->size()));
    std::vector<std::vector<float>> out(inputs.size());
    for (std::size_t i = 0; i < data->size(); ++i) {
      const auto* item = (*data)[i].if_object();
      const json::array* e = item ? json::find_array(*item, "embedding") : nullptr;
      if (!e || e->empty()) throw fail("item " + std::to_string(i) + " has no \"embedding\" array");
      std::size_t at = i;
      if (auto idx = json::find_int(*item, "index")) {
        if (*idx < 0 || static_cast<std::size_t>(*idx) >= inputs.size())
          throw fail("item " + std::to_string(i) + " has index " + std::to_string(*idx) +
                     " out of range");
        at = static_cast<std::size_t>(*idx);
      }
      std::vector<float> vec;
      vec.reserve(e->size());
      for (const auto& x : *e) {
        double d;
        if (x.is_double())
          d = x.get_double();
        else if (x.is_int64())
          d = static_cast<double>(x.get_int64());
        else if (x.is_uint64())
          d = static_cast<double>(x.get_uint64());
        else
          throw fail("item " + std::to_string(i) + " has a non-numeric component");
        if (!std::isfinite(d)) throw fail("item " + std::to_string(i) + " is not finite");
        vec.push_back(static_cast<float>(d));
      }
      normalize(vec);
      out[at] = std::move(vec);
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i].empty()) throw fail("no embedding for input " + std::to_string(i));
      if (out[i].size() != out[0].size()) throw fail("embeddings of different dimensions");
    }
    return out;
  }

  std::string url_, model_, key_;
  std::size_t batch_;
  detail::http_client http_;
};

// ---- the service -------------------------------------------------------------------------------

class knowledge_service : public std::enable_shared_from_this<knowledge_service> {
 public:
  knowledge_service(server::server& srv, knowledge_config c)
      : srv_(srv), cfg_(std::move(c)), db_(cfg_.database_path) {
    if (cfg_.chunk_size < 64) throw std::invalid_argument("knowledge: chunk_size must be >= 64");
    if (cfg_.chunk_overlap > cfg_.chunk_size / 2)
      throw std::invalid_argument("knowledge: chunk_overlap must be at most half of chunk_size");
    for (const auto& r : cfg_.ingest_roots) {
      std::error_code ec;
      auto p = fs::canonical(r, ec);
      if (ec)
        throw std::invalid_argument("knowledge: ingest root " + r +
                                    " cannot be used: " + ec.message());
      roots_.push_back(p);
    }
    if (!cfg_.embeddings_url.empty()) embed_ = std::make_unique<embedder>(cfg_);
  }

  // Loads the vectors, registers the documents as resources and ingests the roots.
  void start() {
    if (embed_) {
      auto vs = db_.locked(true, [&] { return db_.vectors(embed_->model()); });
      for (auto& [id, v] : vs) {
        try {
          index_.add(id, v);
        } catch (const std::exception& e) {
          spdlog::warn("knowledge: chunk {} not indexed: {}", id, e.what());
        }
      }
    }
    for (std::int64_t after = 0;;) {
      auto page = db_.locked(false, [&] { return db_.list(after, 500); });
      if (page.empty()) break;
      for (const auto& d : page)
        publish(*id_of_uri(d.uri), d.title, d.source, d.mime_type, d.bytes);
      after = *id_of_uri(page.back().uri);
    }
    if (cfg_.ingest_at_start)
      for (const auto& r : roots_) {
        try {
          auto res = ingest_path(r);
          for (const auto& s : res.skipped)
            spdlog::warn("knowledge: skipped {}: {}", s.path, s.reason);
          if (res.note) spdlog::warn("knowledge: {}", *res.note);
        } catch (const std::exception& e) {
          spdlog::warn("knowledge: cannot ingest {}: {}", r.string(), e.what());
        }
      }
    if (embed_) {
      try {
        embed_missing(std::nullopt);
      } catch (const std::exception& e) {
        spdlog::warn("knowledge: {}", e.what());
      }
    }
  }

  bool has_embeddings() const { return embed_ != nullptr; }

  ingest_result ingest(const ingest_args& a) {
    if (a.path && a.text) throw tool_error("give either path or text, not both");
    if (!a.path && !a.text) throw tool_error("give a path (file or folder) or text to ingest");
    if (a.path) {
      if (a.title)
        throw tool_error("title applies to text only; a file's title is its first heading");
      return ingest_path(resolve(*a.path));
    }
    const std::string& text = *a.text;
    if (text.find_first_not_of(" \t\r\n") == std::string::npos)
      throw tool_error("text must not be empty");
    if (text.size() > cfg_.max_document_bytes)
      throw tool_error("text is " + std::to_string(text.size()) +
                       " bytes, more than the limit of " + std::to_string(cfg_.max_document_bytes));
    if (!detail::valid_utf8(text)) throw tool_error("text is not valid UTF-8");
    if (a.title && a.title->empty()) throw tool_error("title must not be empty when given");
    std::string title = a.title ? *a.title : derive_title(text, true);
    std::string source = a.title ? "text:" + *a.title : "text:sha256:" + sha256_hex(text);
    std::lock_guard ingest_lk(ingest_mu_);
    ingest_result out;
    out.documents.push_back(ingest_one(source, title, text, "text/markdown", out));
    return out;
  }

  search_result search(const search_args& a) {
    auto terms = query_terms(a.query);
    std::size_t limit = static_cast<std::size_t>(a.limit.value_or(5));
    std::string mode = a.mode.value_or(embed_ ? "hybrid" : "bm25");
    search_result out{a.query, mode, {}, std::nullopt};
    if (mode == "vector" && !embed_)
      throw tool_error("vector search needs an embeddings endpoint (embeddings_url is not set)");
    if (mode == "hybrid" && !embed_) {
      out.mode = "bm25";
      out.note = "no embeddings endpoint is configured: ranked by BM25 only";
    }
    const std::size_t candidates = std::max<std::size_t>(limit * 4, 20);

    std::vector<std::pair<std::int64_t, double>> lexical, semantic;
    if (out.mode != "vector") {
      if (terms.empty()) {
        if (out.mode == "bm25") throw tool_error("query has no searchable words");
      } else {
        auto expr = fts_expression(terms);
        try {
          lexical = db_.locked(false, [&] { return db_.bm25(expr, candidates); });
        } catch (const std::runtime_error& e) {
          throw tool_error(std::string("query cannot be searched: ") + e.what());
        }
      }
    }
    if (out.mode == "vector" || out.mode == "hybrid") {
      try {
        auto q = embed_->embed({a.query});
        remember_error({});
        semantic = index_.search(q.at(0), candidates);
      } catch (const std::exception& e) {
        remember_error(e.what());
        if (out.mode == "vector") throw tool_error(e.what());
        out.mode = "bm25";
        out.note = std::string("vector search unavailable, ranked by BM25 only: ") + e.what();
        if (terms.empty()) throw tool_error("query has no searchable words");
      }
    }

    std::vector<std::pair<std::int64_t, double>> ranked;
    if (out.mode == "bm25") {
      ranked = lexical;
    } else if (out.mode == "vector") {
      ranked = semantic;
    } else {
      std::map<std::int64_t, double> fused;
      for (std::size_t i = 0; i < lexical.size(); ++i)
        fused[lexical[i].first] += 1.0 / (rrf_k + static_cast<double>(i + 1));
      for (std::size_t i = 0; i < semantic.size(); ++i)
        fused[semantic[i].first] += 1.0 / (rrf_k + static_cast<double>(i + 1));
      ranked.assign(fused.begin(), fused.end());
      std::stable_sort(ranked.begin(), ranked.end(),
                       [](const auto& x, const auto& y) { return x.second > y.second; });
    }
    for (const auto& [id, score] : ranked) {
      if (out.hits.size() >= limit) break;
      auto row = db_.locked(false, [&] { return db_.chunk(id); });
      if (!row) continue;  // deleted meanwhile
      out.hits.push_back(search_hit{document_uri(row->doc_id), row->title, row->source,
                                    row->ordinal, row->heading, score, snippet_of(row->text, terms),
                                    row->text});
    }
    return out;
  }

  list_result list(const list_args& a) {
    std::int64_t after = 0;
    if (a.cursor) {
      auto& c = *a.cursor;
      bool digits = !c.empty() && c.size() <= 18 &&
                    std::all_of(c.begin(), c.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      if (!digits)
        throw tool_error("invalid cursor \"" + c +
                         "\": pass the nextCursor of a previous list_documents result");
      after = std::stoll(c);
    }
    auto docs = db_.locked(false, [&] { return db_.list(after, list_page_size + 1); });
    list_result out;
    if (docs.size() > list_page_size) {
      docs.resize(list_page_size);
      out.nextCursor = std::to_string(*id_of_uri(docs.back().uri));
    }
    out.documents = std::move(docs);
    return out;
  }

  delete_result remove(const delete_args& a) {
    auto id = id_of_uri(a.uri);
    if (!id)
      throw tool_error("not a knowledge document URI: \"" + a.uri +
                       "\" (expected knowledge://documents/{id}, as listed by list_documents)");
    std::lock_guard ingest_lk(ingest_mu_);
    return remove_id(*id);
  }

  health_result health() {
    health_result h;
    h.status = "ok";
    h.database = db_.path();
    db_.locked(false, [&] {
      h.documents = db_.count("SELECT count(*) FROM documents");
      h.chunks = db_.count("SELECT count(*) FROM chunks");
      h.embedded_chunks = db_.count("SELECT count(*) FROM embeddings");
    });
    h.vector_index_size = static_cast<std::int64_t>(index_.size());
    h.embeddings = embed_ != nullptr;
    if (embed_) {
      h.embeddings_url = embed_->url();
      h.embeddings_model = embed_->model();
      std::lock_guard lk(error_mu_);
      h.last_embedding_error = last_error_;
      if (!last_error_.empty() || h.embedded_chunks < h.chunks) h.status = "degraded";
    }
    for (const auto& r : roots_) h.ingest_roots.push_back(r.string());
    return h;
  }

  std::optional<std::vector<protocol::resource_contents>> read(const std::string& uri) {
    auto id = id_of_uri(uri);
    if (!id) return std::nullopt;
    auto doc = db_.locked(false, [&] { return db_.find_id(*id); });
    if (!doc) return std::nullopt;
    return std::vector{protocol::resource_contents::of_text(uri, doc->content, doc->mime)};
  }

 private:
  // The canonical path of `p` when it lies inside an ingest root; else a tool error.
  fs::path resolve(const std::string& p) {
    if (roots_.empty())
      throw tool_error(
          "ingesting from the filesystem is disabled: no ingest roots are configured "
          "(settings: ingest); pass text instead");
    if (p.empty()) throw tool_error("path must not be empty");
    std::vector<fs::path> candidates;
    if (fs::path(p).is_absolute())
      candidates.emplace_back(p);
    else
      for (const auto& r : roots_)
        candidates.push_back((fs::is_directory(r) ? r : r.parent_path()) / p);
    for (const auto& c : candidates) {
      std::error_code ec;
      auto canon = fs::canonical(c, ec);
      if (ec) continue;
      if (inside_roots(canon)) return canon;
      throw tool_error("path " + p + " is outside the ingest roots (" + roots_text() + ")");
    }
    throw tool_error("no such file or folder: " + p);
  }

  bool inside_roots(const fs::path& canon) const {
    for (const auto& r : roots_) {
      auto [ri, ci] = std::mismatch(r.begin(), r.end(), canon.begin(), canon.end());
      if (ri == r.end()) return true;
    }
    return false;
  }

  std::string roots_text() const {
    std::string s;
    for (const auto& r : roots_) s += (s.empty() ? "" : ", ") + r.string();
    return s;
  }

  ingest_result ingest_path(const fs::path& target) {
    std::lock_guard ingest_lk(ingest_mu_);
    ingest_result out;
    std::error_code ec;
    if (fs::is_regular_file(target, ec)) {
      ingest_file(target, out);
      return out;
    }
    if (!fs::is_directory(target, ec))
      throw tool_error("not a regular file or folder: " + target.string());
    std::vector<fs::path> files;
    fs::recursive_directory_iterator it(target, fs::directory_options::skip_permission_denied, ec);
    if (ec) throw tool_error("cannot read folder " + target.string() + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const auto& entry = *it;
      auto name = entry.path().filename().string();
      if (name.starts_with('.')) {
        if (entry.is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (!entry.is_regular_file(ec) || !indexed_extension(entry.path())) continue;
      if (files.size() >= cfg_.max_files_per_ingest) {
        out.skipped.push_back(
            {entry.path().string(),
             "more than " + std::to_string(cfg_.max_files_per_ingest) + " files in one ingest"});
        break;
      }
      files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    std::set<std::string> seen;
    for (const auto& f : files) {
      auto canon = fs::canonical(f, ec);
      if (ec || !inside_roots(canon)) {
        out.skipped.push_back({f.string(), "resolves outside the ingest roots"});
        continue;
      }
      seen.insert(canon.string());
      ingest_file(canon, out);
    }
    // A folder is synced: documents of files that left it go too.
    auto known = db_.locked(false, [&] { return db_.under(target.string()); });
    for (const auto& [id, source] : known) {
      if (seen.contains(source)) continue;
      std::error_code exists_ec;
      if (fs::exists(source, exists_ec)) continue;  // still there, e.g. a skipped extension
      auto r = remove_id(id);
      if (r.deleted)
        out.documents.push_back({document_uri(id), "", source, "removed", r.chunks_removed, 0});
    }
    return out;
  }

  void ingest_file(const fs::path& file, ingest_result& out) {
    std::error_code ec;
    auto size = fs::file_size(file, ec);
    if (ec) {
      out.skipped.push_back({file.string(), "cannot read: " + ec.message()});
      return;
    }
    if (size > cfg_.max_document_bytes) {
      out.skipped.push_back({file.string(), std::to_string(size) +
                                                " bytes, more than the limit of " +
                                                std::to_string(cfg_.max_document_bytes)});
      return;
    }
    std::ifstream in(file, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      out.skipped.push_back({file.string(), "cannot read"});
      return;
    }
    if (!detail::valid_utf8(content) || content.find('\0') != std::string::npos) {
      out.skipped.push_back({file.string(), "not UTF-8 text"});
      return;
    }
    bool md = markdown_extension(file);
    std::string title = derive_title(content, md);
    if (title.empty()) title = file.filename().string();
    out.documents.push_back(
        ingest_one(file.string(), title, content, md ? "text/markdown" : "text/plain", out));
  }

  ingested_document ingest_one(const std::string& source, const std::string& title,
                               const std::string& content, const std::string& mime,
                               ingest_result& out) {
    stored_document doc{0,
                        title,
                        source,
                        sha256_hex(content),
                        mime,
                        content,
                        static_cast<std::int64_t>(std::time(nullptr))};
    auto existing = db_.locked(false, [&] { return db_.find_source(source); });
    if (existing && existing->hash == doc.hash && existing->title == title &&
        existing->mime == mime) {
      if (embed_) embed_missing_noted(existing->id, out);
      auto [chunks, embedded] = db_.locked(false, [&] {
        return std::pair{static_cast<std::int64_t>(db_.chunk_ids(existing->id).size()),
                         db_.embedded_count(existing->id)};
      });
      return {document_uri(existing->id), title, source, "unchanged", chunks, embedded};
    }

    std::vector<new_chunk> chunks;
    chunking_options opts{cfg_.chunk_size, cfg_.chunk_overlap, mime == "text/markdown"};
    for (auto& c : chunk_document(content, opts)) chunks.push_back({std::move(c), {}});
    std::int64_t embedded = 0;
    if (embed_ && !chunks.empty()) {
      std::vector<std::string> inputs;
      for (const auto& c : chunks)
        inputs.push_back(store::embedding_input(title, c.chunk.heading, c.chunk.text));
      try {
        auto vs = embed_->embed(inputs);
        remember_error({});
        for (std::size_t i = 0; i < chunks.size(); ++i) chunks[i].vector = std::move(vs[i]);
        embedded = static_cast<std::int64_t>(chunks.size());
      } catch (const std::exception& e) {
        remember_error(e.what());
        add_note(out, std::string(e.what()) +
                          " (documents stay searchable by BM25; ingest them again to embed)");
      }
    }
    auto [id, old] =
        db_.locked(true, [&] { return db_.put(doc, chunks, embed_ ? embed_->model() : ""); });
    for (auto cid : old) index_.remove(cid);
    if (embedded) {
      auto ids = db_.locked(false, [&] { return db_.chunk_ids(id); });
      for (std::size_t i = 0; i < ids.size() && i < chunks.size(); ++i)
        add_vector(ids[i], chunks[i].vector);
    }
    publish(id, title, source, mime, static_cast<std::int64_t>(content.size()));
    if (existing) srv_.notify_resource_updated(document_uri(id));
    return {document_uri(id),
            title,
            source,
            existing ? "updated" : "added",
            static_cast<std::int64_t>(chunks.size()),
            embedded};
  }

  void add_vector(std::int64_t id, const std::vector<float>& v) {
    try {
      index_.add(id, v);
    } catch (const std::exception& e) {
      // A model whose dimension changed under the same name: keep BM25 working.
      remember_error(e.what());
    }
  }

  void embed_missing_noted(std::int64_t doc, ingest_result& out) {
    try {
      embed_missing(doc);
    } catch (const std::exception& e) {
      add_note(out, std::string(e.what()) + " (the document stays searchable by BM25)");
    }
  }

  // Embeds the chunks that have no vector yet (of one document, or all).
  void embed_missing(std::optional<std::int64_t> doc) {
    auto unembedded_chunks =
        db_.locked(false, [&] { return db_.unembedded(embed_->model(), doc); });
    if (unembedded_chunks.empty()) return;
    std::vector<std::string> inputs;
    for (const auto& t : unembedded_chunks) inputs.push_back(t.second);
    std::vector<std::vector<float>> vs;
    try {
      vs = embed_->embed(inputs);
      remember_error({});
    } catch (const std::exception& e) {
      remember_error(e.what());
      throw;
    }
    db_.locked(true, [&] {
      for (std::size_t i = 0; i < unembedded_chunks.size(); ++i)
        if (db_.chunk(unembedded_chunks[i].first))
          db_.put_embedding(unembedded_chunks[i].first, embed_->model(), vs[i]);
    });
    for (std::size_t i = 0; i < unembedded_chunks.size(); ++i)
      add_vector(unembedded_chunks[i].first, vs[i]);
  }

  delete_result remove_id(std::int64_t id) {
    auto [deleted, chunks] = db_.locked(true, [&] { return db_.remove(id); });
    for (auto cid : chunks) index_.remove(cid);
    if (deleted) srv_.remove_resource(document_uri(id));
    return {document_uri(id), deleted, static_cast<std::int64_t>(chunks.size())};
  }

  // Lists the document as a resource (replacing an older entry of the same URI).
  void publish(std::int64_t id, const std::string& title, const std::string& source,
               const std::string& mime, std::int64_t bytes) {
    protocol::resource r;
    r.uri = document_uri(id);
    r.name = title.empty() ? r.uri : title;
    r.title = title;
    r.description = "Knowledge document from " + source;
    r.mime_type = mime;
    r.size = static_cast<std::uint64_t>(bytes);
    // Weak: the server owns this reader, and the service must not keep itself alive through it.
    std::weak_ptr<knowledge_service> self = weak_from_this();
    srv_.add_resource(std::move(r), [self](context&, const std::string& uri) {
      auto me = self.lock();
      auto c = me ? me->read(uri) : std::nullopt;
      if (!c) throw protocol_error(-32002, "Resource not found", json::object{{"uri", uri}});
      return *c;
    });
  }

  // The last endpoint failure, for health; a later success clears it.
  void remember_error(const std::string& e) {
    std::lock_guard lk(error_mu_);
    last_error_ = e;
  }

  static void add_note(ingest_result& out, const std::string& n) {
    if (!out.note)
      out.note = n;
    else if (out.note->find(n) == std::string::npos)
      *out.note += "; " + n;
  }

  server::server& srv_;
  knowledge_config cfg_;
  store db_;
  vector_index index_;
  std::unique_ptr<embedder> embed_;
  std::vector<fs::path> roots_;
  std::mutex ingest_mu_;  // one ingest or delete at a time: keeps the index in step with the DB
  std::mutex error_mu_;
  std::string last_error_;
};

// A tool with a described argument struct (or none) and a described result: the result is
// structuredContent with an outputSchema, a JSON text mirror, and whatever extra content blocks
// `extra` adds (resource links).
template <class Args, class Out, class F, class Extra>
void add_knowledge_tool(server::server& srv, std::string name, std::string description,
                        protocol::tool_annotations annotations, schema::annotations fields, F f,
                        Extra extra) {
  protocol::tool def;
  def.name = name;
  def.description = std::move(description);
  def.annotations = std::move(annotations);
  if constexpr (std::is_void_v<Args>)
    def.input_schema = server::detail::empty_input_schema();
  else
    def.input_schema = schema::derive<Args>(fields);
  def.output_schema = json::value(schema::derive<Out>());
  srv.add_tool(std::move(def), [f = std::move(f), extra = std::move(extra), name](
                                   context&, const json::object& arguments) {
    Out r;
    if constexpr (std::is_void_v<Args>) {
      r = f();
    } else {
      auto params = json::from_json<Args>(arguments);
      if (!params) return server::detail::invalid_arguments(name, params.error());
      r = f(*params);
    }
    auto v = json::to_json(r);
    tool_result out = tool_result::text(json::dump(v));
    out.structured_content = std::move(v);
    extra(r, out);
    return out;
  });
}

struct no_extra {
  template <class Out>
  void operator()(const Out&, tool_result&) const {}
};

void register_tools(server::server& srv, std::shared_ptr<knowledge_service> svc) {
  const bool remote = svc->has_embeddings();  // ingest and search then call the endpoint
  const protocol::tool_annotations ingests{
      .read_only = false, .destructive = true, .idempotent = true, .open_world = remote};
  const protocol::tool_annotations searches{
      .read_only = true, .destructive = false, .idempotent = true, .open_world = remote};
  const protocol::tool_annotations reads{
      .read_only = true, .destructive = false, .idempotent = true, .open_world = false};
  const protocol::tool_annotations deletes{
      .read_only = false, .destructive = true, .idempotent = true, .open_world = false};

  add_knowledge_tool<ingest_args, ingest_result>(
      srv, "ingest",
      "Add Markdown or plain-text documents to the knowledge base, or refresh them. Give text "
      "(with an optional title; the same title replaces the earlier text) or a path to a file or "
      "folder inside the configured ingest roots (folders: *.md, *.markdown, *.mdx, *.txt, "
      "*.text; documents of files deleted from the folder are removed). Unchanged documents are "
      "left as they are.",
      ingests,
      {{"path",
        {{"description",
          "A file or folder inside an ingest root (absolute, or relative to a root)"},
         {"minLength", 1}}},
       {"text", {{"description", "Markdown or plain text to ingest"}, {"minLength", 1}}},
       {"title",
        {{"description", "Title of the text (default: its first heading or line)"},
         {"minLength", 1},
         {"maxLength", 500}}}},
      [svc](const ingest_args& a) { return svc->ingest(a); }, no_extra{});

  add_knowledge_tool<search_args, search_result>(
      srv, "search",
      "Search the knowledge base; returns the best matching chunks with the URI of their document "
      "(readable as a resource). mode: bm25 (keywords), vector (meaning; needs an embeddings "
      "endpoint) or hybrid (both, fused; the default when embeddings are configured).",
      searches,
      {{"query", {{"description", "What to look for"}, {"minLength", 1}, {"maxLength", 4096}}},
       {"limit",
        {{"description", "Most hits to return (default 5)"}, {"minimum", 1}, {"maximum", 50}}},
       {"mode",
        {{"description", "Ranking: bm25, vector or hybrid"},
         {"enum", json::array{"bm25", "vector", "hybrid"}}}}},
      [svc](const search_args& a) { return svc->search(a); },
      [](const search_result& r, tool_result& out) {
        std::set<std::string> cited;
        for (const auto& h : r.hits)
          if (cited.insert(h.uri).second)
            out.add(protocol::content::resource_link(h.uri, h.title.empty() ? h.uri : h.title,
                                                     std::nullopt, "Source: " + h.source));
      });

  add_knowledge_tool<list_args, list_result>(
      srv, "list_documents", "The documents in the knowledge base, 50 per page, oldest first",
      reads, {{"cursor", {{"description", "nextCursor of the previous page"}}}},
      [svc](const list_args& a) { return svc->list(a); }, no_extra{});

  add_knowledge_tool<delete_args, delete_result>(
      srv, "delete_document",
      "Remove a document and its chunks from the knowledge base (deleted is false when there was "
      "no such document)",
      deletes, {{"uri", {{"description", "The document's URI, knowledge://documents/{id}"}}}},
      [svc](const delete_args& a) { return svc->remove(a); }, no_extra{});

  add_tool(srv, "health",
           "Liveness of the knowledge server: corpus size, embedding coverage and configuration "
           "(no network traffic)",
           [svc]() { return svc->health(); }, {.annotations = reads});

  protocol::resource_template t;
  t.uri_template = "knowledge://documents/{id}";
  t.name = "knowledge-document";
  t.title = "Knowledge documents";
  t.description = "The full text of an ingested document, as cited by search results";
  std::weak_ptr<knowledge_service> weak = svc;
  srv.add_resource_template(
      t,
      [weak](context&, const std::string& uri, const std::map<std::string, std::string>&)
          -> std::optional<std::vector<protocol::resource_contents>> {
        auto me = weak.lock();
        if (!me) return std::nullopt;
        return me->read(uri);
      });
}

}  // namespace

void register_knowledge(server::server& srv, knowledge_config config) {
  auto svc = std::make_shared<knowledge_service>(srv, std::move(config));
  register_tools(srv, svc);
  svc->start();
}

std::unique_ptr<server::server> make_knowledge_server(knowledge_config config,
                                                      server::server_options options) {
  if (!options.instructions)
    options.instructions =
        "A searchable knowledge base of Markdown and plain-text documents. Use search to find "
        "passages (each hit cites its document's URI, readable as a resource), ingest to add "
        "text or files, list_documents and delete_document to manage the corpus.";
  auto srv =
      std::make_unique<server::server>(protocol::implementation{.name = "plexus-knowledge",
                                                                .version = PLEXUS_VERSION,
                                                                .title = "Plexus Knowledge Server"},
                                       std::move(options));
  register_knowledge(*srv, std::move(config));
  return srv;
}

}  // namespace plexus::servers
