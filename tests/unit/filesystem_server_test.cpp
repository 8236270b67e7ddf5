// The filesystem server in process: every tool with good and bad input, confinement
// (.., absolute paths, symlinks out of the roots, loops, swaps after validation, hard
// links), size limits, read-only mode and the file:// resource template.
#include "engine_harness.hpp"

#include "plexus/core/base64.hpp"
#include "plexus/servers/filesystem.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace plexus;
using namespace plexus::testing;
namespace fs = std::filesystem;

namespace {

std::string make_temp_dir(const char* tag) {
  std::string tmpl = fs::temp_directory_path().string() + "/plexus-" + tag + "-XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  EXPECT_NE(p, nullptr);
  char* real = ::realpath(tmpl.c_str(), nullptr);
  std::string out = real;
  std::free(real);
  return out;
}

void put(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct FilesystemServerTest : ::testing::Test {
  std::string root = make_temp_dir("fsroot");
  std::string outside = make_temp_dir("fsout");
  std::function<void(const std::string&)> hook;
  std::unique_ptr<server::server> srv;
  std::shared_ptr<capture> out = std::make_shared<capture>();
  std::unique_ptr<server::connection> conn;
  std::int64_t next_id = 1;

  void SetUp() override {
    fs::create_directories(root + "/sub/deep");
    put(root + "/a.txt", "line1\nline2\nline3\nline4\n");
    put(root + "/sub/b.md", "# B\n");
    put(root + "/sub/deep/c.txt", "see");
    put(outside + "/secret.txt", "TOP SECRET");
    start({});
  }
  void TearDown() override {
    conn.reset();
    srv.reset();
    std::error_code ec;
    fs::remove_all(root, ec);
    fs::remove_all(outside, ec);
  }

  void start(servers::filesystem_config cfg) {
    conn.reset();
    if (cfg.roots.empty()) cfg.roots = {root};
    cfg.after_resolve = [this](const std::string& p) {
      if (hook) hook(p);
    };
    srv = servers::make_filesystem_server(std::move(cfg));
    conn = std::make_unique<server::connection>(*srv, out, server::connection_options{});
  }

  json::object rpc(std::string_view method, json::object params) {
    auto id = next_id++;
    conn->receive(modern_request(id, method, std::move(params)));
    auto r = out->response(id);
    EXPECT_TRUE(r) << "no response to " << method;
    return r ? r->as_object() : json::object{};
  }
  json::object call(std::string_view tool, json::object args = {}) {
    auto r = rpc("tools/call", {{"name", tool}, {"arguments", std::move(args)}});
    EXPECT_TRUE(r.contains("result")) << json::dump(r);
    return r.contains("result") ? r.at("result").as_object() : json::object{};
  }
  static std::string text(const json::object& r) {
    const auto& c = r.at("content").as_array();
    if (c.empty() || !c[0].as_object().contains("text")) return {};
    return std::string(c[0].as_object().at("text").as_string());
  }
  static bool is_error(const json::object& r) {
    auto e = json::find_bool(r, "isError");
    return e && *e;
  }
  // The text of a call that must succeed.
  std::string ok(std::string_view tool, json::object args = {}) {
    auto r = call(tool, std::move(args));
    EXPECT_FALSE(is_error(r)) << tool << ": " << text(r);
    return text(r);
  }
  // The message of a call that must fail.
  std::string fails(std::string_view tool, json::object args = {}) {
    auto r = call(tool, std::move(args));
    EXPECT_TRUE(is_error(r)) << tool << " succeeded: " << text(r);
    return text(r);
  }
  std::string escape_msg(const std::string& p) { return "path escapes the allowed roots: " + p; }
};

std::vector<std::string> tool_names(const json::object& list_result) {
  std::vector<std::string> names;
  for (auto& t : list_result.at("tools").as_array())
    names.emplace_back(t.as_object().at("name").as_string());
  return names;
}

const json::object& tool_named(const json::object& list_result, std::string_view name) {
  for (auto& t : list_result.at("tools").as_array())
    if (t.as_object().at("name").as_string() == name) return t.as_object();
  throw std::runtime_error("no tool " + std::string(name));
}

}  // namespace

TEST_F(FilesystemServerTest, ListsEveryToolWithTruthfulAnnotations) {
  auto r = rpc("tools/list", {}).at("result").as_object();
  wire_schema("2026-07-28").expect_valid("ListToolsResult", r);
  EXPECT_EQ(tool_names(r),
            (std::vector<std::string>{"read_text_file", "read_media_file", "read_multiple_files",
                                      "write_file", "edit_file", "create_directory", "move_file",
                                      "list_directory", "directory_tree", "search_files",
                                      "get_file_info", "list_allowed_directories", "health"}));
  auto ann = [&](std::string_view n) { return tool_named(r, n).at("annotations").as_object(); };
  EXPECT_EQ(ann("read_text_file").at("readOnlyHint"), true);
  EXPECT_EQ(ann("read_text_file").at("idempotentHint"), true);
  EXPECT_EQ(ann("write_file").at("readOnlyHint"), false);
  EXPECT_EQ(ann("write_file").at("destructiveHint"), true);
  EXPECT_EQ(ann("write_file").at("idempotentHint"), true);
  EXPECT_EQ(ann("edit_file").at("destructiveHint"), true);
  EXPECT_EQ(ann("edit_file").at("idempotentHint"), false);
  EXPECT_EQ(ann("move_file").at("destructiveHint"), true);
  EXPECT_EQ(ann("create_directory").at("destructiveHint"), false);
  EXPECT_EQ(ann("search_files").at("readOnlyHint"), true);
  auto schema = tool_named(r, "edit_file").at("inputSchema").as_object();
  EXPECT_EQ(schema.at("required"), (json::array{"path", "edits"}));
}

TEST_F(FilesystemServerTest, ReadOnlyModeRegistersNoWriteTools) {
  start({.read_only = true});
  auto r = rpc("tools/list", {}).at("result").as_object();
  EXPECT_EQ(tool_names(r),
            (std::vector<std::string>{"read_text_file", "read_media_file", "read_multiple_files",
                                      "list_directory", "directory_tree", "search_files",
                                      "get_file_info", "list_allowed_directories", "health"}));
  auto e = rpc("tools/call", {{"name", "write_file"},
                              {"arguments", json::object{{"path", "x"}, {"content", ""}}}});
  EXPECT_EQ(e.at("error").as_object().at("code"), -32602);
  EXPECT_FALSE(fs::exists(root + "/x"));
}

TEST_F(FilesystemServerTest, ReadTextFile) {
  EXPECT_EQ(ok("read_text_file", {{"path", "a.txt"}}), "line1\nline2\nline3\nline4\n");
  EXPECT_EQ(ok("read_text_file", {{"path", root + "/a.txt"}}), "line1\nline2\nline3\nline4\n");
  EXPECT_EQ(ok("read_text_file", {{"path", "./sub/../a.txt"}}), "line1\nline2\nline3\nline4\n");
  EXPECT_EQ(ok("read_text_file", {{"path", "a.txt"}, {"head", 2}}), "line1\nline2");
  EXPECT_EQ(ok("read_text_file", {{"path", "a.txt"}, {"tail", 2}}), "line3\nline4");
  EXPECT_EQ(ok("read_text_file", {{"path", "a.txt"}, {"head", 0}}), "");
  EXPECT_EQ(ok("read_text_file", {{"path", "a.txt"}, {"tail", 10}}), "line1\nline2\nline3\nline4");
  EXPECT_EQ(fails("read_text_file", {{"path", "a.txt"}, {"head", 1}, {"tail", 1}}),
            "Cannot specify both head and tail parameters simultaneously");
  EXPECT_EQ(fails("read_text_file", {{"path", "nope.txt"}}),
            "no such file or directory: " + root + "/nope.txt");
  EXPECT_EQ(fails("read_text_file", {{"path", "nope/x.txt"}}),
            "no such file or directory: " + root + "/nope");
  EXPECT_EQ(fails("read_text_file", {{"path", "sub"}}), "is a directory: " + root + "/sub");
  EXPECT_EQ(fails("read_text_file", {{"path", "a.txt/x"}}), "not a directory: " + root + "/a.txt");
  EXPECT_EQ(fails("read_text_file", {{"path", ""}}), "path must not be empty");
  // Schema validation: head must be an integer >= 0, path is required.
  auto bad = fails("read_text_file", {{"path", "a.txt"}, {"head", -1}});
  EXPECT_EQ(bad.rfind("Invalid arguments for tool read_text_file: /head", 0), 0u) << bad;
  bad = fails("read_text_file", {});
  EXPECT_EQ(bad.rfind("Invalid arguments for tool read_text_file:", 0), 0u) << bad;
}

TEST_F(FilesystemServerTest, ReadMediaFile) {
  std::string png("\x89PNG\r\n\x1a\n\0\x01", 10);
  put(root + "/pic.PNG", png);
  put(root + "/sound.wav", "RIFFxxxxWAVE");
  put(root + "/blob.bin", std::string("\0\1\2", 3));
  auto r = call("read_media_file", {{"path", "pic.PNG"}});
  ASSERT_FALSE(is_error(r));
  wire_schema("2026-07-28").expect_valid("CallToolResult", r);
  auto& img = r.at("content").as_array().at(0).as_object();
  EXPECT_EQ(img.at("type"), "image");
  EXPECT_EQ(img.at("mimeType"), "image/png");
  EXPECT_EQ(img.at("data"), json::value(base64::encode(png)));
  json::value aud = call("read_media_file", {{"path", "sound.wav"}}).at("content").as_array().at(0);
  EXPECT_EQ(aud.as_object().at("type"), "audio");
  EXPECT_EQ(aud.as_object().at("mimeType"), "audio/wav");
  EXPECT_EQ(aud.as_object().at("data"), json::value(base64::encode("RIFFxxxxWAVE")));
  json::value other =
      call("read_media_file", {{"path", "blob.bin"}}).at("content").as_array().at(0);
  EXPECT_EQ(other.as_object().at("type"), "resource");
  auto& res = other.as_object().at("resource").as_object();
  EXPECT_EQ(res.at("uri"), json::value("file://" + root + "/blob.bin"));
  EXPECT_EQ(res.at("mimeType"), "application/octet-stream");
  EXPECT_EQ(res.at("blob"), json::value(base64::encode(std::string("\0\1\2", 3))));
  EXPECT_EQ(fails("read_media_file", {{"path", "../x.png"}}), escape_msg("../x.png"));
}

TEST_F(FilesystemServerTest, ReadMultipleFiles) {
  EXPECT_EQ(
      ok("read_multiple_files",
         {{"paths", json::array{"sub/b.md", "missing.txt", "/etc/passwd", "sub/deep/c.txt"}}}),
      "sub/b.md:\n# B\n\n\n---\nmissing.txt: Error - no such file or directory: " + root +
          "/missing.txt\n---\n/etc/passwd: Error - path escapes the allowed roots: "
          "/etc/passwd\n---\nsub/deep/c.txt:\nsee\n");
  auto bad = fails("read_multiple_files", {{"paths", json::array{}}});
  EXPECT_EQ(bad.rfind("Invalid arguments for tool read_multiple_files: /paths", 0), 0u) << bad;
}

TEST_F(FilesystemServerTest, WriteFile) {
  EXPECT_EQ(ok("write_file", {{"path", "new.txt"}, {"content", "hello"}}),
            "Successfully wrote to new.txt");
  EXPECT_EQ(slurp(root + "/new.txt"), "hello");
  ::chmod((root + "/new.txt").c_str(), 0600);
  EXPECT_EQ(ok("write_file", {{"path", root + "/new.txt"}, {"content", "again"}}),
            "Successfully wrote to " + root + "/new.txt");
  EXPECT_EQ(slurp(root + "/new.txt"), "again");
  struct stat st {};
  ASSERT_EQ(::stat((root + "/new.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // the mode survives the atomic replace
  // No temporary files are left behind.
  std::size_t n = 0;
  for (auto& e : fs::directory_iterator(root))
    n += e.path().filename().string().find(".plexus-") != std::string::npos;
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(fails("write_file", {{"path", "nodir/x.txt"}, {"content", "x"}}),
            "no such file or directory: " + root + "/nodir");
  EXPECT_EQ(fails("write_file", {{"path", "sub"}, {"content", "x"}}),
            "is a directory: " + root + "/sub");
  EXPECT_EQ(fails("write_file", {{"path", "."}, {"content", "x"}}), "is a directory: " + root);
  EXPECT_EQ(fails("write_file", {{"path", outside + "/secret.txt"}, {"content", "pwned"}}),
            escape_msg(outside + "/secret.txt"));
  EXPECT_EQ(slurp(outside + "/secret.txt"), "TOP SECRET");
  auto bad = fails("write_file", {{"path", "x.txt"}});
  EXPECT_EQ(bad.rfind("Invalid arguments for tool write_file:", 0), 0u) << bad;
}

TEST_F(FilesystemServerTest, EditFileAppliesExactEditsAndReturnsDiff) {
  put(root + "/code.txt", "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n");
  std::string expected_diff =
      "```diff\nIndex: code.txt\n"
      "===================================================================\n"
      "--- code.txt\toriginal\n+++ code.txt\tmodified\n"
      "@@ -1,5 +1,5 @@\n one\n-two\n+TWO\n three\n four\n five\n"
      "@@ -7,4 +7,4 @@\n seven\n eight\n nine\n-ten\n+TEN\n```\n\n";
  EXPECT_EQ(
      ok("edit_file", {{"path", "code.txt"},
                       {"edits", json::array{json::object{{"oldText", "two"}, {"newText", "TWO"}},
                                             json::object{{"oldText", "ten"}, {"newText", "TEN"}}}},
                       {"dryRun", true}}),
      expected_diff);
  EXPECT_EQ(slurp(root + "/code.txt"),
            "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n");
  EXPECT_EQ(ok("edit_file",
               {{"path", "code.txt"},
                {"edits", json::array{json::object{{"oldText", "two"}, {"newText", "TWO"}},
                                      json::object{{"oldText", "ten"}, {"newText", "TEN"}}}}}),
            expected_diff);
  EXPECT_EQ(slurp(root + "/code.txt"),
            "one\nTWO\nthree\nfour\nfive\nsix\nseven\neight\nnine\nTEN\n");
  // A multi-line replacement that adds a line.
  put(root + "/small.txt", "a\nb\nc\n");
  EXPECT_EQ(ok("edit_file",
               {{"path", "small.txt"},
                {"edits", json::array{json::object{{"oldText", "b\n"}, {"newText", "b\nb2\n"}}}}}),
            "```diff\nIndex: small.txt\n"
            "===================================================================\n"
            "--- small.txt\toriginal\n+++ small.txt\tmodified\n"
            "@@ -1,3 +1,4 @@\n a\n b\n+b2\n c\n```\n\n");
  EXPECT_EQ(slurp(root + "/small.txt"), "a\nb\nb2\nc\n");

  EXPECT_EQ(fails("edit_file",
                  {{"path", "code.txt"},
                   {"edits", json::array{json::object{{"oldText", "zzz"}, {"newText", "y"}}}}}),
            "edit 1: oldText not found in code.txt: zzz");
  EXPECT_EQ(fails("edit_file",
                  {{"path", "code.txt"},
                   {"edits", json::array{json::object{{"oldText", "o"}, {"newText", "O"}}}}}),
            "edit 1: oldText matches 2 times in code.txt; include more context to make it unique");
  // A failing later edit leaves the file untouched.
  EXPECT_EQ(fails("edit_file",
                  {{"path", "small.txt"},
                   {"edits", json::array{json::object{{"oldText", "a"}, {"newText", "A"}},
                                         json::object{{"oldText", "q"}, {"newText", "Q"}}}}}),
            "edit 2: oldText not found in small.txt: q");
  EXPECT_EQ(slurp(root + "/small.txt"), "a\nb\nb2\nc\n");
  EXPECT_EQ(
      fails("edit_file", {{"path", "code.txt"},
                          {"edits", json::array{json::object{{"oldText", ""}, {"newText", "x"}}}}}),
      "edit 1: oldText must not be empty");
  EXPECT_EQ(fails("edit_file", {{"path", "code.txt"}, {"edits", json::array{}}}),
            "edits must not be empty");
  EXPECT_EQ(fails("edit_file",
                  {{"path", "../x"},
                   {"edits", json::array{json::object{{"oldText", "a"}, {"newText", "b"}}}}}),
            escape_msg("../x"));
}

TEST_F(FilesystemServerTest, CreateDirectory) {
  EXPECT_EQ(ok("create_directory", {{"path", "x/y/z"}}), "Successfully created directory x/y/z");
  EXPECT_TRUE(fs::is_directory(root + "/x/y/z"));
  EXPECT_EQ(ok("create_directory", {{"path", "x/y"}}), "Successfully created directory x/y");
  EXPECT_EQ(fails("create_directory", {{"path", "a.txt/sub"}}),
            "not a directory: " + root + "/a.txt");
  EXPECT_EQ(fails("create_directory", {{"path", "../escape"}}), escape_msg("../escape"));
  EXPECT_EQ(fails("create_directory", {{"path", outside + "/made"}}),
            escape_msg(outside + "/made"));
  EXPECT_FALSE(fs::exists(outside + "/made"));
  EXPECT_EQ(ok("create_directory", {{"path", root + "/abs/new"}}),
            "Successfully created directory " + root + "/abs/new");
  EXPECT_TRUE(fs::is_directory(root + "/abs/new"));
  // Refused before anything is created.
  EXPECT_EQ(fails("create_directory", {{"path", "fresh/../../x"}}), escape_msg("fresh/../../x"));
  EXPECT_FALSE(fs::exists(root + "/fresh"));
  ::symlink(outside.c_str(), (root + "/out").c_str());
  EXPECT_EQ(fails("create_directory", {{"path", "out/newdir/x"}}), escape_msg("out/newdir/x"));
  EXPECT_FALSE(fs::exists(outside + "/newdir"));
}

TEST_F(FilesystemServerTest, ListDirectoryAndTree) {
  ::symlink("a.txt", (root + "/link").c_str());
  EXPECT_EQ(ok("list_directory", {{"path", "."}}), "[FILE] a.txt\n[FILE] link\n[DIR] sub");
  EXPECT_EQ(ok("list_directory", {{"path", root + "/sub"}}), "[FILE] b.md\n[DIR] deep");
  EXPECT_EQ(fails("list_directory", {{"path", "a.txt"}}), "not a directory: " + root + "/a.txt");
  EXPECT_EQ(fails("list_directory", {{"path", "/"}}), escape_msg("/"));

  EXPECT_EQ(ok("directory_tree", {{"path", "sub"}}),
            R"([{"name":"b.md","type":"file"},{"name":"deep","type":"directory","children":)"
            R"([{"name":"c.txt","type":"file"}]}])");
  EXPECT_EQ(ok("directory_tree", {{"path", "."}, {"excludePatterns", json::array{"*.md", "deep"}}}),
            R"([{"name":"a.txt","type":"file"},{"name":"link","type":"file"},)"
            R"({"name":"sub","type":"directory","children":[]}])");
  EXPECT_EQ(fails("directory_tree", {{"path", "nope"}}),
            "no such file or directory: " + root + "/nope");
}

TEST_F(FilesystemServerTest, MoveFile) {
  EXPECT_EQ(ok("move_file", {{"source", "a.txt"}, {"destination", "sub/moved.txt"}}),
            "Successfully moved a.txt to sub/moved.txt");
  EXPECT_FALSE(fs::exists(root + "/a.txt"));
  EXPECT_EQ(slurp(root + "/sub/moved.txt"), "line1\nline2\nline3\nline4\n");
  EXPECT_EQ(fails("move_file", {{"source", "sub/moved.txt"}, {"destination", "sub/b.md"}}),
            "destination exists: " + root + "/sub/b.md");
  EXPECT_EQ(slurp(root + "/sub/b.md"), "# B\n");
  EXPECT_EQ(fails("move_file", {{"source", "gone.txt"}, {"destination", "x.txt"}}),
            "no such file or directory: " + root + "/gone.txt");
  EXPECT_EQ(fails("move_file", {{"source", "sub/b.md"}, {"destination", outside + "/b.md"}}),
            escape_msg(outside + "/b.md"));
  EXPECT_EQ(fails("move_file", {{"source", outside + "/secret.txt"}, {"destination", "s.txt"}}),
            escape_msg(outside + "/secret.txt"));
  EXPECT_EQ(fails("move_file", {{"source", "."}, {"destination", "elsewhere"}}),
            "cannot move an allowed root: " + root);
  EXPECT_TRUE(fs::exists(outside + "/secret.txt"));
}

TEST_F(FilesystemServerTest, SearchFiles) {
  EXPECT_EQ(ok("search_files", {{"path", "."}, {"pattern", "*.txt"}}),
            root + "/a.txt\n" + root + "/sub/deep/c.txt");
  EXPECT_EQ(ok("search_files", {{"path", "."}, {"pattern", "sub/**"}}),
            root + "/sub/b.md\n" + root + "/sub/deep\n" + root + "/sub/deep/c.txt");
  EXPECT_EQ(ok("search_files", {{"path", "sub"}, {"pattern", "[bc].*"}}),
            root + "/sub/b.md\n" + root + "/sub/deep/c.txt");
  EXPECT_EQ(ok("search_files",
               {{"path", "."}, {"pattern", "*.txt"}, {"excludePatterns", json::array{"deep"}}}),
            root + "/a.txt");
  EXPECT_EQ(ok("search_files", {{"path", "."}, {"pattern", "*.pdf"}}), "No matches found");
  EXPECT_EQ(fails("search_files", {{"path", "."}, {"pattern", ""}}), "pattern must not be empty");
  EXPECT_EQ(fails("search_files", {{"path", "/etc"}, {"pattern", "*"}}), escape_msg("/etc"));
}

TEST_F(FilesystemServerTest, GetFileInfoAndAllowedDirectories) {
  ::chmod((root + "/a.txt").c_str(), 0640);
  auto info = ok("get_file_info", {{"path", "a.txt"}});
  EXPECT_EQ(info.rfind("size: 24\ncreated: ", 0), 0u) << info;
  EXPECT_NE(info.find("\nisDirectory: false\nisFile: true\npermissions: 640"), std::string::npos)
      << info;
  EXPECT_EQ(info.substr(info.size() - 16), "permissions: 640");
  auto dir = ok("get_file_info", {{"path", "sub"}});
  EXPECT_NE(dir.find("\nisDirectory: true\nisFile: false\n"), std::string::npos) << dir;
  EXPECT_EQ(fails("get_file_info", {{"path", "/etc/passwd"}}), escape_msg("/etc/passwd"));

  EXPECT_EQ(ok("list_allowed_directories"), "Allowed directories:\n" + root);
  start({.roots = {root, outside}});
  EXPECT_EQ(ok("list_allowed_directories"), "Allowed directories:\n" + root + "\n" + outside);
  EXPECT_EQ(ok("read_text_file", {{"path", outside + "/secret.txt"}}), "TOP SECRET");
}

TEST_F(FilesystemServerTest, HealthIsStructured) {
  start({.max_read_bytes = 100, .max_write_bytes = 50, .read_only = true});
  auto r = call("health");
  ASSERT_FALSE(is_error(r));
  EXPECT_EQ(r.at("structuredContent"), (json::object{{"status", "ok"},
                                                     {"roots", json::array{json::value(root)}},
                                                     {"readOnly", true},
                                                     {"maxReadBytes", 100},
                                                     {"maxWriteBytes", 50}}));
}

TEST_F(FilesystemServerTest, RejectsDotDotAndAbsoluteEscapes) {
  for (std::string p : std::vector<std::string>{"..", "../", "../fsout/secret.txt", "sub/../../x",
                                                "sub/deep/../../../x", "/etc/passwd", "/", "/tmp",
                                                root + "/../x", root + "x/a.txt"})
    EXPECT_EQ(fails("read_text_file", {{"path", p}}), escape_msg(p)) << p;
  // A path that leaves and re-enters the root lexically is still an escape (no lexical tricks).
  std::string reenter = "../" + fs::path(root).filename().string() + "/a.txt";
  EXPECT_EQ(fails("read_text_file", {{"path", reenter}}), escape_msg(reenter));
}

TEST_F(FilesystemServerTest, SymlinksAreFollowedOnlyInsideTheRoots) {
  ::symlink("/etc", (root + "/etc").c_str());
  ::symlink((outside + "/secret.txt").c_str(), (root + "/secret").c_str());
  ::symlink("../../a.txt", (root + "/sub/deep/up").c_str());
  ::symlink("sub/deep", (root + "/deeplink").c_str());
  ::symlink((root + "/sub").c_str(), (root + "/abs_sub").c_str());
  ::symlink("../", (root + "/parent").c_str());
  EXPECT_EQ(fails("read_text_file", {{"path", "etc/passwd"}}), escape_msg("etc/passwd"));
  EXPECT_EQ(fails("read_text_file", {{"path", "secret"}}), escape_msg("secret"));
  EXPECT_EQ(fails("read_text_file", {{"path", "parent/fsout/secret.txt"}}),
            escape_msg("parent/fsout/secret.txt"));
  EXPECT_EQ(fails("write_file", {{"path", "secret"}, {"content", "pwned"}}), escape_msg("secret"));
  EXPECT_EQ(fails("list_directory", {{"path", "etc"}}), escape_msg("etc"));
  EXPECT_EQ(fails("search_files", {{"path", "etc"}, {"pattern", "*"}}), escape_msg("etc"));
  EXPECT_EQ(slurp(outside + "/secret.txt"), "TOP SECRET");
  // Inside the roots, links work (relative and absolute targets).
  EXPECT_EQ(ok("read_text_file", {{"path", "sub/deep/up"}, {"head", 1}}), "line1");
  EXPECT_EQ(ok("read_text_file", {{"path", "deeplink/c.txt"}}), "see");
  EXPECT_EQ(ok("read_text_file", {{"path", "abs_sub/b.md"}}), "# B\n");
  // Searching does not descend through links.
  EXPECT_EQ(ok("search_files", {{"path", "."}, {"pattern", "c.txt"}}), root + "/sub/deep/c.txt");
  // Writing through an in-root link writes its target.
  EXPECT_EQ(ok("write_file", {{"path", "sub/deep/up"}, {"content", "via link"}}),
            "Successfully wrote to sub/deep/up");
  EXPECT_EQ(slurp(root + "/a.txt"), "via link");
}

TEST_F(FilesystemServerTest, SymlinkLoopsAreReported) {
  ::symlink("loop2", (root + "/loop1").c_str());
  ::symlink("loop1", (root + "/loop2").c_str());
  ::symlink("self/x", (root + "/self").c_str());
  EXPECT_EQ(fails("read_text_file", {{"path", "loop1"}}),
            "too many levels of symbolic links: loop1");
  EXPECT_EQ(fails("read_text_file", {{"path", "self/a"}}),
            "too many levels of symbolic links: self/a");
  EXPECT_EQ(fails("write_file", {{"path", "loop2"}, {"content", "x"}}),
            "too many levels of symbolic links: loop2");
}

TEST_F(FilesystemServerTest, FileSwappedForSymlinkAfterValidationIsRefused) {
  put(root + "/swap.txt", "harmless");
  hook = [&](const std::string& p) {
    if (p != root + "/swap.txt") return;
    fs::remove(p);
    fs::create_symlink(outside + "/secret.txt", p);
  };
  auto msg = fails("read_text_file", {{"path", "swap.txt"}});
  EXPECT_EQ(msg, "refusing to follow a symbolic link (it changed during the operation): " + root +
                     "/swap.txt");
  EXPECT_EQ(msg.find("TOP SECRET"), std::string::npos);
  // The same swap before a write: the link itself is refused; the outside file is untouched.
  hook = [&](const std::string& p) {
    if (p != root + "/swap2.txt") return;
    fs::create_symlink(outside + "/secret.txt", p);
  };
  EXPECT_EQ(fails("write_file", {{"path", "swap2.txt"}, {"content", "pwned"}}),
            "refusing to follow a symbolic link (it changed during the operation): " + root +
                "/swap2.txt");
  EXPECT_EQ(slurp(outside + "/secret.txt"), "TOP SECRET");
}

TEST_F(FilesystemServerTest, DirectorySwappedForSymlinkAfterValidationStaysInside) {
  fs::create_directories(root + "/d");
  put(root + "/d/secret.txt", "inside");
  int swaps = 0;
  hook = [&](const std::string& p) {
    if (p != root + "/d/secret.txt") return;
    ++swaps;
    fs::rename(root + "/d", root + "/d.old");
    fs::create_directory_symlink(outside, root + "/d");
  };
  // The walk holds the directory it validated: the swapped-in link is never followed.
  EXPECT_EQ(ok("read_text_file", {{"path", "d/secret.txt"}}), "inside");
  EXPECT_EQ(swaps, 1);
  EXPECT_TRUE(fs::is_symlink(root + "/d"));
  hook = nullptr;
  EXPECT_EQ(fails("read_text_file", {{"path", "d/secret.txt"}}), escape_msg("d/secret.txt"));
}

TEST_F(FilesystemServerTest, HardLinkedFilesAreNotWritten) {
  ASSERT_EQ(::link((outside + "/secret.txt").c_str(), (root + "/hard.txt").c_str()), 0);
  EXPECT_EQ(fails("write_file", {{"path", "hard.txt"}, {"content", "pwned"}}),
            "refusing to write a file with 2 hard links (another link may be outside the "
            "allowed roots): " +
                root + "/hard.txt");
  EXPECT_EQ(fails("edit_file",
                  {{"path", "hard.txt"},
                   {"edits", json::array{json::object{{"oldText", "TOP"}, {"newText", "NOT"}}}}}),
            "refusing to write a file with 2 hard links (another link may be outside the "
            "allowed roots): " +
                root + "/hard.txt");
  EXPECT_EQ(slurp(outside + "/secret.txt"), "TOP SECRET");
}

TEST_F(FilesystemServerTest, SizeLimits) {
  start({.max_read_bytes = 10, .max_write_bytes = 5});
  put(root + "/ten.txt", "0123456789");
  put(root + "/eleven.txt", "0123456789A");
  EXPECT_EQ(ok("read_text_file", {{"path", "ten.txt"}}), "0123456789");
  EXPECT_EQ(fails("read_text_file", {{"path", "eleven.txt"}}),
            "file too large: " + root + "/eleven.txt is 11 bytes; the read limit is 10 bytes");
  EXPECT_EQ(fails("read_media_file", {{"path", "eleven.txt"}}),
            "file too large: " + root + "/eleven.txt is 11 bytes; the read limit is 10 bytes");
  EXPECT_EQ(ok("write_file", {{"path", "w.txt"}, {"content", "12345"}}),
            "Successfully wrote to w.txt");
  EXPECT_EQ(fails("write_file", {{"path", "w.txt"}, {"content", "123456"}}),
            "content too large: 6 bytes; the write limit is 5 bytes");
  EXPECT_EQ(slurp(root + "/w.txt"), "12345");
  EXPECT_EQ(fails("edit_file",
                  {{"path", "ten.txt"},
                   {"edits", json::array{json::object{{"oldText", "0"}, {"newText", "zero"}}}}}),
            "content too large: 13 bytes; the write limit is 5 bytes");
}

TEST_F(FilesystemServerTest, FilesAreResources) {
  put(root + "/pic.png", std::string("\x89PNG\0", 5));
  wire_schema ws("2026-07-28");
  auto list = rpc("resources/templates/list", {}).at("result").as_object();
  ws.expect_valid("ListResourceTemplatesResult", list);
  EXPECT_EQ(list.at("resourceTemplates").as_array().at(0).as_object().at("uriTemplate"),
            "file://{+path}");

  auto r =
      rpc("resources/read", {{"uri", "file://" + root + "/sub/b.md"}}).at("result").as_object();
  ws.expect_valid("ReadResourceResult", r);
  EXPECT_EQ(r.at("contents"), (json::array{json::object{{"uri", "file://" + root + "/sub/b.md"},
                                                        {"mimeType", "text/markdown"},
                                                        {"text", "# B\n"}}}));
  auto b = rpc("resources/read", {{"uri", "file://" + root + "/pic.png"}}).at("result").as_object();
  EXPECT_EQ(b.at("contents"),
            (json::array{json::object{{"uri", "file://" + root + "/pic.png"},
                                      {"mimeType", "image/png"},
                                      {"blob", base64::encode(std::string("\x89PNG\0", 5))}}}));
  for (std::string uri : std::vector<std::string>{"file://" + root + "/missing.txt",
                                                  std::string("file:///etc/passwd"),
                                                  "file://" + root + "/../fsout/secret.txt"}) {
    auto e = rpc("resources/read", {{"uri", uri}});
    ASSERT_TRUE(e.contains("error")) << uri;
    EXPECT_EQ(e.at("error").as_object().at("code"), -32602) << uri;
    EXPECT_EQ(e.at("error").as_object().at("message"), json::value("Resource not found: " + uri));
  }
  start({.max_read_bytes = 2});
  auto big = rpc("resources/read", {{"uri", "file://" + root + "/a.txt"}});
  EXPECT_EQ(big.at("error").as_object().at("code"), -32603);
  EXPECT_EQ(
      big.at("error").as_object().at("message"),
      json::value("file too large: " + root + "/a.txt is 24 bytes; the read limit is 2 bytes"));
}

TEST(FilesystemServerConfig, RejectsMissingRoots) {
  EXPECT_THROW(servers::make_filesystem_server({.roots = {"/nonexistent/plexus/root"}}),
               std::invalid_argument);
  EXPECT_THROW(servers::make_filesystem_server({}), std::invalid_argument);
}
