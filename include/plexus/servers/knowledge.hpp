// The knowledge server: retrieval over a local corpus of Markdown and plain-text documents
// (RAG). Documents are split into overlapping chunks (Markdown-aware: a chunk stays inside one
// section and carries its heading path), indexed for BM25 in SQLite FTS5 and, when an
// OpenAI-compatible embeddings endpoint is configured, embedded and indexed for vector search
// (hnswlib, cosine). Search ranks by BM25, by vector similarity, or by both fused with
// reciprocal rank fusion (k = 60).
//
// Tools (structured output with output schemas):
//   ingest           {path? | text + title?}  add or refresh documents (a changed file replaces
//                    its chunks, an unchanged one is a no-op; a folder is synced: documents of
//                    files that disappeared from it are removed)
//   search           {query, limit?, mode?}  ranked chunks with their document's URI; the result
//                    also carries one resource_link content block per cited document
//   list_documents   {cursor?}  the documents, paginated
//   delete_document  {uri}  removes a document and its chunks
//   health           counts and configuration (no network traffic)
// Documents are resources: each is listed (resources/list) and readable as
// knowledge://documents/{id} (template `knowledge://documents/{id}`), text/markdown or
// text/plain.
//
// Filesystem access: `ingest` accepts text always, and a path only when it lies (after symlinks
// are resolved) inside one of `ingest_roots`; with no roots, path ingestion is disabled. The
// roots themselves are ingested at start. Folders contribute *.md, *.markdown, *.mdx, *.txt and
// *.text files (hidden entries skipped); a file named directly may have any extension but must
// be UTF-8 text. This keeps the tool from becoming a way to read arbitrary files.
//
// Embeddings: POST {model, input: [...]} to `embeddings_url` + "/v1/embeddings" (or +
// "/embeddings" when the URL already ends in "/v1"), Authorization: Bearer `embeddings_api_key`
// when set; batched, with a per-attempt timeout and retries on 5xx/429/network errors. Chunks
// are embedded at ingest (a failure leaves the document searchable by BM25 and is reported;
// missing embeddings are retried at start and when the document is ingested again). Queries are
// embedded at search: in "vector" mode a failing endpoint is a tool error, in "hybrid" mode the
// search falls back to BM25 and says so in `note`.
//
// Storage: one SQLite database (WAL): documents, chunks, an FTS5 table over the chunks and the
// embeddings; the vector index is rebuilt from it at start.
// Thread-safety: the returned server is as plexus::server::server; the store is guarded by a
// mutex, the vector index by a shared mutex, and endpoint calls run outside both.
#pragma once

#include "plexus/server/server.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace plexus::servers {

struct knowledge_config {
  std::string database_path = "knowledge.db";  // ":memory:" for a corpus that is not kept
  // Files or folders ingested at start; also the only places the ingest tool may read.
  std::vector<std::string> ingest_roots;
  bool ingest_at_start = true;
  // OpenAI-compatible embeddings; empty URL: BM25 only.
  std::string embeddings_url;
  std::string embeddings_model = "text-embedding-3-small";
  std::string embeddings_api_key;
  std::size_t embeddings_batch = 64;                     // inputs per request
  std::chrono::milliseconds embeddings_timeout{30'000};  // per attempt
  int embeddings_retries = 2;                            // extra attempts after the first
  std::chrono::milliseconds embeddings_backoff{250};     // doubled after every attempt
  bool verify_tls = true;
  // Chunking: about chunk_size bytes per chunk, chunk_overlap bytes repeated between
  // consecutive chunks of a section (at most half of chunk_size).
  std::size_t chunk_size = 800;
  std::size_t chunk_overlap = 120;
  std::size_t max_document_bytes = 10 * 1024 * 1024;
  std::size_t max_files_per_ingest = 10'000;
};

// Registers the knowledge tools and resources on `srv`, and ingests the roots when
// `ingest_at_start`. Throws std::invalid_argument for a bad setting (e.g. a root that does not
// exist) and std::runtime_error when the database cannot be opened.
void register_knowledge(server::server& srv, knowledge_config config);

std::unique_ptr<server::server> make_knowledge_server(knowledge_config config,
                                                      server::server_options options = {});

}  // namespace plexus::servers
