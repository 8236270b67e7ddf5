// The knowledge server: chunking, ingestion of a small corpus with known answers (ranking asserted
// for BM25, vector and hybrid search), a fake OpenAI-compatible /v1/embeddings endpoint on
// 127.0.0.1 (a deterministic bag-of-words hashing embedder) and its failures, documents as
// resources, path confinement and bad input. Also the internal HTTP client (retries, limits).
#include "engine_harness.hpp"

#include "plexus/servers/builtin.hpp"
#include "plexus/servers/knowledge.hpp"
#include "servers/http_fetch.hpp"
#include "servers/knowledge_chunker.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

using namespace plexus;
using namespace plexus::testing;
using namespace std::chrono_literals;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using tcp = net::ip::tcp;

const fs::path corpus_dir = fs::path(PLEXUS_SOURCE_DIR) / "tests/unit/testdata/knowledge";

// ---- a fake embeddings endpoint ---------------------------------------------------------------

// Words, lower-cased, with a few synonyms folded together so that vector search can find what
// BM25 cannot ("fiery mountain" -> volcano).
std::vector<std::string> words_of(std::string_view s) {
  static const std::map<std::string, std::string> synonyms = {
      {"fiery", "volcano"}, {"mountain", "volcano"}, {"volcanoes", "volcano"}};
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (cur.size() > 2) {
      auto it = synonyms.find(cur);
      out.push_back(it == synonyms.end() ? cur : it->second);
    }
    cur.clear();
  };
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else
      flush();
  }
  flush();
  return out;
}

// A deterministic bag-of-words embedding: word counts hashed (FNV-1a) into 256 dimensions.
std::vector<double> hash_embed(std::string_view text) {
  std::vector<double> v(256, 0.0);
  for (const auto& w : words_of(text)) {
    std::uint32_t h = 2166136261u;
    for (char c : w) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
    v[h % v.size()] += 1.0;
  }
  if (std::all_of(v.begin(), v.end(), [](double x) { return x == 0; })) v[0] = 1;
  return v;
}

class fake_embeddings {
 public:
  struct reply {
    unsigned status = 200;
    std::string body;  // empty: the embeddings of the request
    std::chrono::milliseconds delay{0};
  };
  struct seen {
    std::string target, authorization;
    json::value body;
  };
  using handler = std::function<reply(const seen&)>;

  fake_embeddings() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~fake_embeddings() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket poke(ioc_);
    poke.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    accept_thread_.join();
    for (auto& t : workers_) t.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_handler(handler h) {
    std::lock_guard lk(mu_);
    handler_ = std::move(h);
  }
  std::vector<seen> requests() {
    std::lock_guard lk(mu_);
    return requests_;
  }
  std::size_t inputs_embedded() {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (const auto& r : requests_)
      if (r.body.is_object())
        if (auto* in = json::find_array(r.body.get_object(), "input")) n += in->size();
    return n;
  }

  static std::string embed_body(const json::value& request) {
    json::array data;
    if (auto* in = request.is_object() ? json::find_array(request.get_object(), "input") : nullptr)
      for (std::size_t i = 0; i < in->size(); ++i) {
        json::array e;
        for (double x : hash_embed((*in)[i].is_string() ? std::string_view((*in)[i].get_string())
                                                        : std::string_view()))
          e.push_back(x);
        // Reversed order with explicit indexes: the client must place items by "index".
        data.insert(data.begin(), json::object{{"object", "embedding"},
                                               {"index", static_cast<std::int64_t>(i)},
                                               {"embedding", std::move(e)}});
      }
    return json::dump(
        json::object{{"object", "list"}, {"data", std::move(data)}, {"model", "fake"}});
  }

 private:
  void accept_loop() {
    while (!stop_) {
      tcp::socket s(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) break;
      workers_.emplace_back([this, s = std::move(s)]() mutable { serve(std::move(s)); });
    }
  }
  void serve(tcp::socket s) {
    boost::system::error_code ec;
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    http::read(s, buf, req, ec);
    if (ec) return;
    seen r{std::string(req.target()), std::string(req[http::field::authorization]), {}};
    r.body = boost::json::parse(req.body(), ec);
    handler h;
    {
      std::lock_guard lk(mu_);
      requests_.push_back(r);
      h = handler_;
    }
    reply out = h ? h(r) : reply{};
    auto until = std::chrono::steady_clock::now() + out.delay;
    while (!stop_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    if (out.body.empty() && out.status == 200) out.body = embed_body(r.body);
    http::response<http::string_body> res{static_cast<http::status>(out.status), 11};
    res.set(http::field::content_type, "application/json");
    res.body() = out.body;
    res.prepare_payload();
    http::write(s, res, ec);
    s.shutdown(tcp::socket::shutdown_both, ec);
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  handler handler_;
  std::vector<seen> requests_;
};

// ---- the fixture ------------------------------------------------------------------------------

fs::path fresh_dir(const std::string& name) {
  static std::atomic<int> n{0};
  auto p = fs::temp_directory_path() / ("plexus-knowledge-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(n++) + "-" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

struct KnowledgeTest : ::testing::Test {
  fs::path work = fresh_dir("work");
  fs::path corpus = work / "corpus";
  std::unique_ptr<server::server> srv;
  std::shared_ptr<capture> out = std::make_shared<capture>();
  std::unique_ptr<server::connection> conn;
  std::int64_t next_id = 1;

  KnowledgeTest() { fs::copy(corpus_dir, corpus, fs::copy_options::recursive); }
  ~KnowledgeTest() override {
    conn.reset();
    srv.reset();
    std::error_code ec;
    fs::remove_all(work, ec);
  }

  servers::knowledge_config config() {
    servers::knowledge_config c;
    c.database_path = (work / "knowledge.db").string();
    c.ingest_roots = {corpus.string()};
    c.embeddings_timeout = 2000ms;
    c.embeddings_retries = 2;
    c.embeddings_backoff = 10ms;
    return c;
  }
  servers::knowledge_config config(const fake_embeddings& e) {
    auto c = config();
    c.embeddings_url = e.url();
    c.embeddings_model = "hash-256";
    c.embeddings_api_key = "sk-test";
    return c;
  }
  void start(servers::knowledge_config c) {
    conn.reset();
    srv.reset();
    srv = servers::make_knowledge_server(std::move(c));
    conn = std::make_unique<server::connection>(*srv, out, server::connection_options{});
  }

  json::object rpc(std::string_view method, json::object params) {
    auto id = next_id++;
    conn->receive(modern_request(id, method, std::move(params)));
    auto r = out->response(id, 20s);
    EXPECT_TRUE(r) << "no response to " << method;
    return r ? r->as_object() : json::object{};
  }
  json::object call(std::string_view name, json::object args = {}) {
    auto r = rpc("tools/call", {{"name", name}, {"arguments", std::move(args)}});
    EXPECT_TRUE(r.contains("result")) << json::dump(r);
    return r.contains("result") ? r.at("result").as_object() : json::object{};
  }
  static bool is_error(const json::object& result) {
    auto it = result.find("isError");
    return it != result.end() && it->value() == true;
  }
  static std::string text_of(const json::object& result) {
    return std::string(result.at("content").as_array().at(0).as_object().at("text").as_string());
  }
  static const json::object& sc(const json::object& result) {
    return result.at("structuredContent").as_object();
  }
  json::object search(std::string query, std::optional<std::string> mode = std::nullopt,
                      int limit = 5) {
    json::object a{{"query", query}, {"limit", limit}};
    if (mode) a["mode"] = *mode;
    auto r = call("search", std::move(a));
    EXPECT_FALSE(is_error(r)) << query << ": " << json::dump(r);
    return r;
  }
  static std::string first_source(const json::object& r) {
    const auto& hits = sc(r).at("hits").as_array();
    if (hits.empty()) return "(no hits)";
    return fs::path(std::string(hits.at(0).as_object().at("source").as_string()))
        .filename()
        .string();
  }
};

// (query, the file that answers it)
const std::vector<std::pair<std::string, std::string>> known_answers = {
    {"how long should sourdough dough proof in the banneton", "sourdough.md"},
    {"treating varroa mites with oxalic acid", "beekeeping.md"},
    {"congestion window during slow start", "tcp-congestion.md"},
    {"borrow checker and lifetimes of references", "rust-ownership.md"},
    {"Calvin cycle fixes carbon dioxide", "photosynthesis.md"},
    {"taper mileage before the race", "marathon-training.txt"},
    {"spring tides and neap tides", "tides.txt"},
    {"liveness probe restarts a hanging container", "kubernetes-pods.md"},
    {"squash commits in an interactive rebase", "git-rebase.md"},
    {"Eyjafjallajokull ash cloud", "volcanoes.md"},  // diacritics folded
    {"why is my shot sour? grind finer", "espresso.md"},
    {"Queen's Gambit declined", "chess-openings.md"},
};

// ---- chunking -----------------------------------------------------------------------------------

TEST(KnowledgeChunker, KeepsHeadingPathAndOverlapsLongSections) {
  std::string doc = "# Guide\n\nIntro paragraph.\n\n## Install\n\n### On Debian\n\n";
  for (int i = 0; i < 40; ++i) doc += "Sentence number " + std::to_string(i) + " about apt. ";
  doc += "\n\n## Usage\n\nRun it.\n";
  auto chunks = servers::detail::chunk_document(doc, {.target = 200, .overlap = 40});
  ASSERT_GE(chunks.size(), 5u);
  EXPECT_EQ(chunks.front().heading, "Guide");
  EXPECT_EQ(chunks.front().text, "# Guide\n\nIntro paragraph.");
  EXPECT_EQ(chunks.back().heading, "Guide > Usage");
  EXPECT_EQ(chunks.back().text, "## Usage\n\nRun it.");
  std::size_t debian = 0;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const auto& c = chunks[i];
    EXPECT_EQ(c.text, doc.substr(c.start, c.end - c.start));
    EXPECT_LE(c.text.size(), 200u);
    if (c.heading != "Guide > Install > On Debian") continue;
    if (debian++ > 0) {
      // Consecutive chunks of one section overlap, starting at a word.
      const auto& prev = chunks[i - 1];
      EXPECT_LT(c.start, prev.end) << i;
      EXPECT_GE(prev.end - c.start, 20u) << i;
      EXPECT_TRUE(doc[c.start - 1] == ' ') << i;
      // A cut falls after a sentence when one is near.
      EXPECT_EQ(prev.text.back(), '.') << prev.text;
    }
  }
  EXPECT_GE(debian, 3u);
}

TEST(KnowledgeChunker, NeverSplitsAUtf8Sequence) {
  std::string doc;
  for (int i = 0; i < 300; ++i) doc += (i % 3 == 0 ? "é" : i % 3 == 1 ? "€" : "😀");
  for (std::size_t target : {64u, 65u, 66u, 67u, 100u}) {
    auto chunks =
        servers::detail::chunk_document(doc, {.target = target, .overlap = 17, .markdown = false});
    ASSERT_GT(chunks.size(), 5u);
    for (const auto& c : chunks) {
      EXPECT_TRUE(servers::detail::valid_utf8(c.text)) << target;
      EXPECT_LE(c.text.size(), target);
      EXPECT_EQ(c.text, doc.substr(c.start, c.end - c.start));
    }
    EXPECT_EQ(chunks.front().start, 0u);
    EXPECT_EQ(chunks.back().end, doc.size());
    for (std::size_t i = 1; i < chunks.size(); ++i) EXPECT_LT(chunks[i].start, chunks[i - 1].end);
  }
  EXPECT_FALSE(servers::detail::valid_utf8("\xC3"));
  EXPECT_FALSE(servers::detail::valid_utf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(servers::detail::valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(servers::detail::valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_TRUE(servers::detail::valid_utf8("plain, é, €, 😀"));
}

TEST(KnowledgeChunker, IgnoresHeadingsInsideCodeFences) {
  std::string doc = "# Real\n\n```sh\n# not a heading\necho hi\n```\n\n## Next\n\nText.";
  auto chunks = servers::detail::chunk_document(doc, {});
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].heading, "Real");
  EXPECT_NE(chunks[0].text.find("# not a heading"), std::string::npos);
  EXPECT_EQ(chunks[1].heading, "Real > Next");
  auto plain = servers::detail::chunk_document(doc, {.markdown = false});
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].heading, "");
}

// ---- tools, BM25
// ---------------------------------------------------------------------------------

TEST_F(KnowledgeTest, ListsFiveToolsWithTruthfulAnnotationsAndOutputSchemas) {
  start(config());
  auto r = rpc("tools/list", {});
  const auto& tools = r.at("result").as_object().at("tools").as_array();
  std::map<std::string, json::object> by_name;
  for (const auto& t : tools) by_name[std::string(t.at("name").as_string())] = t.as_object();
  ASSERT_EQ(by_name.size(), 5u);
  auto hints = [&](const std::string& n) {
    const auto& a = by_name.at(n).at("annotations").as_object();
    return std::tuple{a.at("readOnlyHint") == true, a.at("destructiveHint") == true,
                      a.at("idempotentHint") == true, a.at("openWorldHint") == true};
  };
  EXPECT_EQ(hints("search"), std::tuple(true, false, true, false));
  EXPECT_EQ(hints("list_documents"), std::tuple(true, false, true, false));
  EXPECT_EQ(hints("health"), std::tuple(true, false, true, false));
  EXPECT_EQ(hints("ingest"), std::tuple(false, true, true, false));
  EXPECT_EQ(hints("delete_document"), std::tuple(false, true, true, false));
  for (auto& [name, t] : by_name) EXPECT_TRUE(t.contains("outputSchema")) << name;
  const auto& mode = by_name.at("search").at("inputSchema").at("properties").at("mode").as_object();
  EXPECT_EQ(mode.at("enum"), json::value(json::array{"bm25", "vector", "hybrid"}));
  wire_schema("2026-07-28").expect_valid("ListToolsResult", r.at("result"));

  // With an embeddings endpoint, ingest and search reach out to it.
  fake_embeddings e;
  start(config(e));
  r = rpc("tools/list", {});
  for (const auto& t : r.at("result").as_object().at("tools").as_array()) {
    auto name = std::string(t.at("name").as_string());
    bool open = t.at("annotations").at("openWorldHint") == true;
    EXPECT_EQ(open, name == "search" || name == "ingest") << name;
  }
}

TEST_F(KnowledgeTest, IngestsTheRootsAtStartAndRanksKnownAnswersFirstWithBm25) {
  start(config());
  auto h = call("health");
  EXPECT_EQ(sc(h).at("documents"), 12);  // 12 documents; image.txt and data.csv skipped
  EXPECT_EQ(sc(h).at("status"), "ok");
  EXPECT_EQ(sc(h).at("embeddings"), false);
  for (const auto& [q, expected] : known_answers) {
    auto r = search(q);
    EXPECT_EQ(sc(r).at("mode"), "bm25") << q;
    EXPECT_EQ(first_source(r), expected) << q << "\n" << json::dump(sc(r));
    wire_schema("2026-07-28").expect_valid("CallToolResult", r);
  }
  // Explicit hybrid without embeddings: BM25 with a note.
  auto r = search("varroa", "hybrid");
  EXPECT_EQ(sc(r).at("mode"), "bm25");
  EXPECT_NE(std::string(sc(r).at("note").as_string()).find("BM25 only"), std::string::npos);
  // Stemming: "extracted" finds "extraction".
  EXPECT_EQ(first_source(search("extracted")), "espresso.md");
}

TEST_F(KnowledgeTest, HitsCiteTheirDocumentsAsResourceLinks) {
  start(config());
  auto r = search("honey bee queen and workers", std::nullopt, 3);
  const auto& hits = sc(r).at("hits").as_array();
  ASSERT_FALSE(hits.empty());
  const auto& top = hits.at(0).as_object();
  std::string uri(top.at("uri").as_string());
  EXPECT_TRUE(uri.starts_with("knowledge://documents/")) << uri;
  EXPECT_EQ(top.at("title"), "Beekeeping");
  EXPECT_GT(top.at("score").as_double(), 0);
  EXPECT_NE(std::string(top.at("snippet").as_string()).find("queen"), std::string::npos);
  std::set<std::string> hit_uris, links;
  for (const auto& hv : hits) hit_uris.insert(std::string(hv.at("uri").as_string()));
  const auto& content = r.at("content").as_array();
  EXPECT_EQ(content.at(0).at("type"), "text");
  for (std::size_t i = 1; i < content.size(); ++i) {
    EXPECT_EQ(content[i].at("type"), "resource_link");
    links.insert(std::string(content[i].at("uri").as_string()));
  }
  EXPECT_EQ(links, hit_uris);  // each cited document once
  EXPECT_EQ(content.at(1).at("name"), "Beekeeping");

  // The cited document is readable, and listed.
  auto read = rpc("resources/read", {{"uri", uri}});
  const auto& contents = read.at("result").at("contents").as_array();
  ASSERT_EQ(contents.size(), 1u);
  EXPECT_EQ(contents[0].at("mimeType"), "text/markdown");
  EXPECT_TRUE(std::string(contents[0].at("text").as_string()).starts_with("# Beekeeping"));
  auto list = rpc("resources/list", {});
  bool listed = false;
  for (const auto& res : list.at("result").at("resources").as_array())
    if (res.at("uri") == json::value(uri)) listed = res.at("name") == "Beekeeping";
  EXPECT_TRUE(listed);
  auto templates = rpc("resources/templates/list", {});
  EXPECT_EQ(templates.at("result").at("resourceTemplates").at(0).at("uriTemplate"),
            "knowledge://documents/{id}");
  auto missing = rpc("resources/read", {{"uri", "knowledge://documents/9999"}});
  EXPECT_TRUE(missing.contains("error")) << json::dump(missing);
}

TEST_F(KnowledgeTest, ReingestingUnchangedIsANoOpAndChangesReplaceChunks) {
  start(config());
  auto again = call("ingest", {{"path", corpus.string()}});
  ASSERT_FALSE(is_error(again)) << json::dump(again);
  const auto& docs = sc(again).at("documents").as_array();
  EXPECT_EQ(docs.size(), 12u);
  for (const auto& d : docs) EXPECT_EQ(d.at("status"), "unchanged") << json::dump(d);
  const auto& skipped = sc(again).at("skipped").as_array();
  ASSERT_EQ(skipped.size(), 1u);  // image.txt; data.csv is not an indexed extension
  EXPECT_EQ(skipped[0].at("reason"), "not UTF-8 text");

  std::string tides_uri;
  for (const auto& d : docs)
    if (std::string(d.at("source").as_string()).ends_with("tides.txt"))
      tides_uri = std::string(d.at("uri").as_string());
  {
    std::ofstream f(corpus / "tides.txt", std::ios::trunc);
    f << "Ocean tides\n\nA tidal bore is a wave that travels up a river against its current.\n";
  }
  fs::remove(corpus / "git-rebase.md");
  auto changed = call("ingest", {{"path", "."}});  // relative to the root
  ASSERT_FALSE(is_error(changed)) << json::dump(changed);
  std::map<std::string, std::string> status;
  for (const auto& d : sc(changed).at("documents").as_array())
    status[fs::path(std::string(d.at("source").as_string())).filename().string()] =
        std::string(d.at("status").as_string());
  EXPECT_EQ(status["tides.txt"], "updated");
  EXPECT_EQ(status["git-rebase.md"], "removed");
  EXPECT_EQ(status["sourdough.md"], "unchanged");
  EXPECT_EQ(first_source(search("tidal bore river")), "tides.txt");
  EXPECT_EQ(sc(search("neap")).at("hits").as_array().size(), 0u);  // old chunks are gone
  EXPECT_EQ(sc(search("reflog squash")).at("hits").as_array().size(), 0u);
  // The URI stays the same across the update.
  EXPECT_EQ(sc(search("tidal bore")).at("hits").at(0).at("uri"), json::value(tides_uri));
  EXPECT_EQ(sc(call("health")).at("documents"), 11);
}

TEST_F(KnowledgeTest, TextDocumentsAreKeyedByTitleAndReadableAsResources) {
  start(config());
  auto r = call("ingest", {{"text", "Zebras have black and white stripes."}, {"title", "Zebras"}});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  const auto& d = sc(r).at("documents").at(0).as_object();
  EXPECT_EQ(d.at("status"), "added");
  EXPECT_EQ(d.at("source"), "text:Zebras");
  EXPECT_EQ(d.at("chunks"), 1);
  std::string uri(d.at("uri").as_string());
  auto same =
      call("ingest", {{"text", "Zebras have black and white stripes."}, {"title", "Zebras"}});
  EXPECT_EQ(sc(same).at("documents").at(0).at("status"), "unchanged");
  auto upd =
      call("ingest", {{"text", "Zebras live in herds on the savanna."}, {"title", "Zebras"}});
  EXPECT_EQ(sc(upd).at("documents").at(0).at("status"), "updated");
  EXPECT_EQ(sc(upd).at("documents").at(0).at("uri"), json::value(uri));
  auto read = rpc("resources/read", {{"uri", uri}});
  EXPECT_EQ(read.at("result").at("contents").at(0).at("text"),
            "Zebras live in herds on the savanna.");
  EXPECT_EQ(first_source(search("savanna herds")), "text:Zebras");

  // Without a title: titled by its first heading, keyed by its content.
  auto untitled = call("ingest", {{"text", "# Okapi\n\nThe okapi is a relative of the giraffe."}});
  EXPECT_EQ(sc(untitled).at("documents").at(0).at("title"), "Okapi");
  EXPECT_TRUE(std::string(sc(untitled).at("documents").at(0).at("source").as_string())
                  .starts_with("text:sha256:"));
}

TEST_F(KnowledgeTest, DeleteDocumentRemovesItEverywhere) {
  start(config());
  auto r = search("stratovolcano");
  std::string uri(sc(r).at("hits").at(0).at("uri").as_string());
  auto del = call("delete_document", {{"uri", uri}});
  ASSERT_FALSE(is_error(del)) << json::dump(del);
  EXPECT_EQ(sc(del).at("deleted"), true);
  EXPECT_GE(sc(del).at("chunks_removed").as_int64(), 1);
  EXPECT_EQ(sc(search("stratovolcano")).at("hits").as_array().size(), 0u);
  EXPECT_TRUE(rpc("resources/read", {{"uri", uri}}).contains("error"));
  auto listed = rpc("resources/list", {});
  for (const auto& res : listed.at("result").at("resources").as_array())
    EXPECT_NE(res.at("uri"), json::value(uri));
  auto twice = call("delete_document", {{"uri", uri}});
  EXPECT_FALSE(is_error(twice));
  EXPECT_EQ(sc(twice).at("deleted"), false);
}

TEST_F(KnowledgeTest, ListDocumentsPaginates) {
  auto c = config();
  c.ingest_roots.clear();
  start(c);
  for (int i = 0; i < 53; ++i)
    ASSERT_FALSE(is_error(call("ingest", {{"text", "Note number " + std::to_string(i)},
                                          {"title", "note " + std::to_string(i)}})));
  auto p1 = call("list_documents");
  EXPECT_EQ(sc(p1).at("documents").as_array().size(), 50u);
  ASSERT_TRUE(sc(p1).contains("nextCursor"));
  auto p2 = call("list_documents", {{"cursor", sc(p1).at("nextCursor")}});
  EXPECT_EQ(sc(p2).at("documents").as_array().size(), 3u);
  EXPECT_FALSE(sc(p2).contains("nextCursor"));
  EXPECT_EQ(sc(p2).at("documents").at(2).at("title"), "note 52");
  EXPECT_EQ(sc(p2).at("documents").at(2).at("mime_type"), "text/markdown");
  wire_schema("2026-07-28").expect_valid("CallToolResult", p2);
}

TEST_F(KnowledgeTest, PathsAreConfinedToTheIngestRoots) {
  auto outside = work / "outside";
  fs::create_directories(outside);
  {
    std::ofstream f(outside / "secret.md");
    f << "# Secret\n\nThe password is hunter2.\n";
  }
  fs::create_symlink(outside / "secret.md", corpus / "link.md");
  start(config());
  EXPECT_EQ(sc(search("hunter2")).at("hits").as_array().size(), 0u);  // the symlink was skipped

  auto r = call("ingest", {{"path", (outside / "secret.md").string()}});
  EXPECT_TRUE(is_error(r));
  EXPECT_NE(text_of(r).find("outside the ingest roots"), std::string::npos) << text_of(r);
  r = call("ingest", {{"path", (corpus / "link.md").string()}});
  EXPECT_TRUE(is_error(r));
  EXPECT_NE(text_of(r).find("outside the ingest roots"), std::string::npos) << text_of(r);
  r = call("ingest", {{"path", "../outside/secret.md"}});
  EXPECT_TRUE(is_error(r));
  r = call("ingest", {{"path", "nope.md"}});
  EXPECT_TRUE(is_error(r));
  EXPECT_NE(text_of(r).find("no such file or folder: nope.md"), std::string::npos) << text_of(r);
  r = call("ingest", {{"path", "notes/kubernetes-pods.md"}});
  EXPECT_FALSE(is_error(r)) << json::dump(r);
  EXPECT_EQ(sc(r).at("documents").at(0).at("status"), "unchanged");

  auto c = config();
  c.ingest_roots.clear();
  start(c);
  r = call("ingest", {{"path", corpus.string()}});
  EXPECT_TRUE(is_error(r));
  EXPECT_NE(text_of(r).find("ingesting from the filesystem is disabled"), std::string::npos);

  c.ingest_roots = {(work / "missing").string()};
  EXPECT_THROW(start(c), std::invalid_argument);
}

TEST_F(KnowledgeTest, RejectsBadInputWithPreciseErrors) {
  start(config());
  auto expect_error = [&](std::string_view tool, json::object args, std::string_view needle) {
    auto r = call(tool, args);
    EXPECT_TRUE(is_error(r)) << json::dump(args);
    if (is_error(r)) {
      EXPECT_NE(text_of(r).find(needle), std::string::npos) << text_of(r);
    }
  };
  expect_error("search", {{"query", "x"}, {"limit", 0}}, "limit");
  expect_error("search", {{"query", "x"}, {"limit", 51}}, "limit");
  expect_error("search", {{"query", "x"}, {"mode", "fuzzy"}}, "mode");
  expect_error("search", {{"query", ""}}, "query");
  expect_error("search", {{"limit", 3}}, "query");
  expect_error("search", {{"query", "?!  --"}}, "query has no searchable words");
  expect_error("search", {{"query", "x"}, {"mode", "vector"}},
               "vector search needs an embeddings endpoint");
  expect_error("search", {{"query", "x"}, {"extra", 1}}, "extra");
  expect_error("ingest", {}, "give a path (file or folder) or text");
  expect_error("ingest", {{"path", "a.md"}, {"text", "b"}}, "not both");
  expect_error("ingest", {{"text", "   \n"}}, "text must not be empty");
  expect_error("ingest", {{"path", "sourdough.md"}, {"title", "T"}}, "title applies to text only");
  expect_error("delete_document", {{"uri", "file:///etc/passwd"}}, "not a knowledge document URI");
  expect_error("delete_document", {{"uri", "knowledge://documents/12x"}},
               "not a knowledge document URI");
  expect_error("list_documents", {{"cursor", "abc"}}, "invalid cursor \"abc\"");
  // FTS syntax in a query is only words.
  auto r = search("sourdough AND (NEAR \"starter* OR");
  EXPECT_EQ(first_source(r), "sourdough.md");
}

// ---- embeddings
// ----------------------------------------------------------------------------------

TEST_F(KnowledgeTest, VectorAndHybridSearchWithAnEmbeddingsEndpoint) {
  fake_embeddings e;
  auto c = config(e);
  c.embeddings_batch = 4;
  start(c);
  auto h = sc(call("health"));
  EXPECT_EQ(h.at("status"), "ok") << json::dump(h);
  EXPECT_EQ(h.at("embeddings"), true);
  EXPECT_EQ(h.at("embedded_chunks"), h.at("chunks"));
  EXPECT_EQ(h.at("vector_index_size"), h.at("chunks"));
  EXPECT_EQ(h.at("embeddings_url"), json::value(e.url() + "/v1/embeddings"));

  auto reqs = e.requests();
  ASSERT_FALSE(reqs.empty());
  for (const auto& rq : reqs) {
    EXPECT_EQ(rq.target, "/v1/embeddings");
    EXPECT_EQ(rq.authorization, "Bearer sk-test");
    EXPECT_EQ(rq.body.at("model"), "hash-256");
    EXPECT_LE(rq.body.at("input").as_array().size(), 4u);  // batched
  }
  // Chunks are embedded with their document title as context.
  bool titled = false;
  for (const auto& rq : reqs)
    for (const auto& in : rq.body.at("input").as_array())
      titled |= std::string(in.as_string()).starts_with("Beekeeping > Varroa mites\n\n");
  EXPECT_TRUE(titled);

  for (const auto& [q, expected] : known_answers) {
    auto r = search(q);  // hybrid by default
    EXPECT_EQ(sc(r).at("mode"), "hybrid") << q;
    EXPECT_FALSE(sc(r).contains("note")) << q;
    EXPECT_EQ(first_source(r), expected) << q << "\n" << json::dump(sc(r));
    EXPECT_EQ(first_source(search(q, "vector")), expected) << q;
  }
  // Words no document contains, but whose meaning (per the embedder) is a volcano.
  EXPECT_EQ(sc(search("fiery mountain", "bm25")).at("hits").as_array().size(), 0u);
  auto v = search("fiery mountain", "vector");
  EXPECT_EQ(first_source(v), "volcanoes.md");
  double top = sc(v).at("hits").at(0).at("score").as_double();
  EXPECT_GT(top, 0.1);
  EXPECT_LE(top, 1.0 + 1e-6);
  EXPECT_EQ(first_source(search("fiery mountain", "hybrid")), "volcanoes.md");
  // Hybrid scores are reciprocal-rank-fusion scores.
  auto hy = search("varroa mites", "hybrid");
  EXPECT_NEAR(sc(hy).at("hits").at(0).at("score").as_double(), 2.0 / 61, 1e-9);
}

TEST_F(KnowledgeTest, EndpointFailuresFailVectorSearchAndDegradeHybridToBm25) {
  fake_embeddings e;
  start(config(e));
  std::atomic<int> calls{0};
  e.set_handler([&](const fake_embeddings::seen&) {
    ++calls;
    return fake_embeddings::reply{500, R"({"error":{"message":"model overloaded"}})"};
  });
  auto r = call("search", {{"query", "varroa mites"}, {"mode", "vector"}});
  ASSERT_TRUE(is_error(r)) << json::dump(r);
  EXPECT_NE(text_of(r).find("HTTP 500 after 3 attempts: model overloaded"), std::string::npos)
      << text_of(r);
  EXPECT_EQ(calls.load(), 3);  // retried twice

  auto hy = search("varroa mites");
  EXPECT_EQ(sc(hy).at("mode"), "bm25");
  EXPECT_NE(std::string(sc(hy).at("note").as_string()).find("model overloaded"), std::string::npos);
  EXPECT_EQ(first_source(hy), "beekeeping.md");
  EXPECT_EQ(sc(call("health")).at("status"), "degraded");

  // A 4xx is not retried.
  calls = 0;
  e.set_handler([&](const fake_embeddings::seen&) {
    ++calls;
    return fake_embeddings::reply{401, R"({"error":{"message":"bad key"}})"};
  });
  r = call("search", {{"query", "varroa"}, {"mode", "vector"}});
  EXPECT_NE(text_of(r).find("HTTP 401 after 1 attempt: bad key"), std::string::npos) << text_of(r);
  EXPECT_EQ(calls.load(), 1);

  // A malformed answer.
  e.set_handler([](const fake_embeddings::seen&) {
    return fake_embeddings::reply{200, R"({"data":[]})"};
  });
  r = call("search", {{"query", "varroa"}, {"mode", "vector"}});
  EXPECT_NE(text_of(r).find("asked for 1 embeddings, got 0"), std::string::npos) << text_of(r);
}

TEST_F(KnowledgeTest, EndpointTimeoutsAreBounded) {
  fake_embeddings e;
  auto c = config(e);
  start(c);
  c.embeddings_timeout = 200ms;
  c.embeddings_retries = 1;
  c.ingest_at_start = false;
  start(c);
  e.set_handler([](const fake_embeddings::seen&) {
    return fake_embeddings::reply{200, "", 3000ms};
  });
  auto t0 = std::chrono::steady_clock::now();
  auto r = call("search", {{"query", "varroa"}, {"mode", "vector"}});
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(is_error(r));
  EXPECT_NE(text_of(r).find("failed after 2 attempts: timed out after 200 ms"), std::string::npos)
      << text_of(r);
  EXPECT_LT(took, 2000ms);
}

TEST_F(KnowledgeTest, DocumentsIngestedWhileTheEndpointIsDownAreEmbeddedLater) {
  fake_embeddings e;
  e.set_handler([](const fake_embeddings::seen&) { return fake_embeddings::reply{503, "busy"}; });
  start(config(e));  // start does not fail
  auto h = sc(call("health"));
  EXPECT_EQ(h.at("documents"), 12);
  EXPECT_EQ(h.at("embedded_chunks"), 0);
  EXPECT_EQ(h.at("status"), "degraded");
  EXPECT_NE(std::string(h.at("last_embedding_error").as_string()).find("HTTP 503"),
            std::string::npos);
  EXPECT_EQ(first_source(search("varroa", "bm25")), "beekeeping.md");

  auto r = call("ingest", {{"text", "Llamas hum."}, {"title", "Llamas"}});
  ASSERT_FALSE(is_error(r));
  EXPECT_NE(std::string(sc(r).at("note").as_string()).find("searchable by BM25"),
            std::string::npos);
  EXPECT_EQ(sc(r).at("documents").at(0).at("embedded_chunks"), 0);

  e.set_handler(nullptr);  // back up
  r = call("ingest", {{"path", corpus.string()}});
  ASSERT_FALSE(is_error(r)) << json::dump(r);
  for (const auto& d : sc(r).at("documents").as_array()) {
    EXPECT_EQ(d.at("status"), "unchanged");
    EXPECT_EQ(d.at("embedded_chunks"), d.at("chunks"));
  }
  EXPECT_EQ(first_source(search("fiery mountain", "vector")), "volcanoes.md");
}

TEST_F(KnowledgeTest, TheVectorIndexIsRebuiltFromTheDatabaseAtStart) {
  fake_embeddings e;
  start(config(e));
  auto chunks = sc(call("health")).at("chunks").as_int64();
  auto embedded = e.inputs_embedded();
  EXPECT_EQ(static_cast<std::int64_t>(embedded), chunks);
  start(config(e));  // restart: nothing is embedded again
  EXPECT_EQ(e.inputs_embedded(), embedded);
  auto h = sc(call("health"));
  EXPECT_EQ(h.at("vector_index_size"), chunks);
  EXPECT_EQ(first_source(search("fiery mountain", "vector")), "volcanoes.md");
  EXPECT_EQ(e.inputs_embedded(), embedded + 1);  // the query

  // A different model: the old vectors are dropped and the corpus embedded again.
  auto c = config(e);
  c.embeddings_model = "hash-256-v2";
  start(c);
  EXPECT_EQ(e.inputs_embedded(), embedded * 2 + 1);
  EXPECT_EQ(sc(call("health")).at("embedded_chunks"), chunks);
}

TEST_F(KnowledgeTest, BuiltinFactoryBuildsTheServer) {
  servers::builtin_settings s;
  s.data_dir = (work / "data").string();
  s.ingest = {corpus.string()};
  auto names = servers::builtin_server_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "knowledge"), names.end());
  srv = servers::make_builtin_server("knowledge", s);
  conn = std::make_unique<server::connection>(*srv, out, server::connection_options{});
  EXPECT_EQ(sc(call("health")).at("database"),
            json::value((work / "data" / "knowledge.db").string()));
  EXPECT_EQ(sc(call("health")).at("documents"), 12);
  s.ingest = {(work / "missing").string()};
  EXPECT_THROW(servers::make_builtin_server("knowledge", s), servers::builtin_error);
}

// ---- the HTTP client
// ------------------------------------------------------------------------------

TEST(KnowledgeHttpFetch, RetriesServerErrorsButNotClientErrors) {
  fake_embeddings e;
  std::atomic<int> n{0};
  e.set_handler([&](const fake_embeddings::seen&) {
    return ++n < 3 ? fake_embeddings::reply{503, "later"} : fake_embeddings::reply{200, "{}"};
  });
  servers::detail::http_client client({.timeout = 1000ms, .retries = 2, .retry_backoff = 5ms});
  auto r = client.post_json(e.url() + "/x?y=1", json::object{{"a", 1}});
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(e.requests().back().target, "/x?y=1");
  EXPECT_EQ(e.requests().back().body, json::value(json::object{{"a", 1}}));

  n = 0;
  e.set_handler([&](const fake_embeddings::seen&) {
    ++n;
    return fake_embeddings::reply{404, "no"};
  });
  r = client.get(e.url() + "/missing");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.body, "no");
  EXPECT_EQ(n.load(), 1);

  servers::detail::http_client small({.timeout = 1000ms, .retries = 2, .max_response_bytes = 10});
  e.set_handler([](const fake_embeddings::seen&) {
    return fake_embeddings::reply{200, std::string(100, 'x')};
  });
  try {
    small.get(e.url() + "/big");
    ADD_FAILURE() << "no error";
  } catch (const servers::detail::http_fetch_error& err) {
    EXPECT_NE(std::string(err.what()).find("larger than 10 bytes"), std::string::npos)
        << err.what();
    EXPECT_EQ(err.attempts(), 1);
  }
  EXPECT_THROW(client.get("ftp://127.0.0.1/"), std::invalid_argument);

  // Nothing listens: a network error, retried, then reported.
  unsigned short dead;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    dead = a.local_endpoint().port();
  }
  try {
    client.get("http://127.0.0.1:" + std::to_string(dead) + "/");
    ADD_FAILURE() << "no error";
  } catch (const servers::detail::http_fetch_error& err) {
    EXPECT_EQ(err.attempts(), 3);
    EXPECT_NE(std::string(err.what()).find("failed after 3 attempts"), std::string::npos);
  }
}

}  // namespace
