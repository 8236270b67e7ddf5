// The client side of the `plexus` command (tools, call, resources, read, prompts, prompt),
// driven as a real process against `plexus everything` over stdio (`-- plexus everything
// --stdio`) and over Streamable HTTP (`plexus everything --http 127.0.0.1:0`), in both eras
// (--legacy / --modern): --json output parsed and checked exactly, human output checked line by
// line, exit codes 0/1/2/3, progress, elicitation answered on stdin, roots, faults.
#include "child_process.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>
#include "temp_dir.hpp"

#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using plexus::testing::child_process;

namespace {

using plexus::testing::temp_dir;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

struct cli_result {
  int exit_code = -1;  // -1: did not exit in time (killed)
  std::string out;     // stdout
  std::string err;     // stderr
  double seconds = 0;
};

// Runs `plexus ARGS…` in `cwd` with `input` on stdin; stderr goes to a file so that none of it
// is lost when the process exits.
cli_result run_cli(const std::vector<std::string>& args, const std::string& input = "",
                   std::chrono::milliseconds timeout = 60s, const fs::path& cwd = {}) {
  temp_dir t;
  std::string script;
  if (!cwd.empty()) script += "cd " + shell_quote(cwd.string()) + " && ";
  script += "exec " + shell_quote(PLEXUS_BINARY);
  for (const auto& a : args) script += " " + shell_quote(a);
  script += " 2>" + shell_quote((t.path / "stderr").string());
  auto start = std::chrono::steady_clock::now();
  child_process p({"/bin/sh", "-c", script});
  if (!input.empty()) p.write(input);
  p.close_stdin();
  cli_result r;
  for (const auto& l : p.read_all_lines(timeout)) r.out += l + "\n";
  auto st = p.wait_exit(timeout);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (st && WIFEXITED(*st)) r.exit_code = WEXITSTATUS(*st);
  r.err = slurp(t.path / "stderr");
  return r;
}

boost::json::value parse(std::string_view s) {
  return boost::json::parse(s);
}

// The --json output of a command: one JSON document on one line.
boost::json::object json_out(const cli_result& r) {
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  boost::system::error_code ec;
  auto v = boost::json::parse(r.out, ec);
  EXPECT_FALSE(ec) << r.out;
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

// A result without the modern envelope (_meta, resultType "complete").
boost::json::object bare(boost::json::object o) {
  o.erase("_meta");
  if (auto t = o.if_contains("resultType"); t && *t == "complete") o.erase("resultType");
  return o;
}

std::vector<std::string> names(const boost::json::value& list, std::string_view key = "name") {
  std::vector<std::string> out;
  for (const auto& x : list.as_array()) out.emplace_back(x.at(key).as_string());
  return out;
}

const std::vector<std::string> everything_tools = {"echo",
                                                   "test_x_mcp_header",
                                                   "add",
                                                   "stats",
                                                   "long_running_operation",
                                                   "test_simple_text",
                                                   "test_image_content",
                                                   "test_audio_content",
                                                   "test_embedded_resource",
                                                   "test_multiple_content_types",
                                                   "test_tool_with_logging",
                                                   "test_logging_tool",
                                                   "test_tool_with_progress",
                                                   "test_error_handling",
                                                   "test_reconnection",
                                                   "test_sampling",
                                                   "test_elicitation",
                                                   "test_elicitation_sep1034_defaults",
                                                   "test_elicitation_sep1330_enums",
                                                   "json_schema_2020_12_tool",
                                                   "test_missing_capability",
                                                   "test_streaming_elicitation",
                                                   "test_trigger_tool_change",
                                                   "test_trigger_prompt_change",
                                                   "test_trigger_resource_update",
                                                   "test_input_required_result_elicitation",
                                                   "test_input_required_result_sampling",
                                                   "test_input_required_result_list_roots",
                                                   "test_input_required_result_request_state",
                                                   "test_input_required_result_multiple_inputs",
                                                   "test_input_required_result_multi_round",
                                                   "test_input_required_result_tampered_state",
                                                   "test_input_required_result_capabilities",
                                                   "greet",
                                                   "slow_compute",
                                                   "failing_job",
                                                   "protocol_error_job",
                                                   "confirm_delete",
                                                   "multi_input",
                                                   "test_tool_with_task"};

constexpr const char* png_1x1 =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg"
    "==";

// `plexus everything --http 127.0.0.1:0`, its URL read from the line it prints on stderr.
class http_everything {
 public:
  http_everything() : p_({PLEXUS_BINARY, "everything", "--http", "127.0.0.1:0"}) {
    static const std::regex re(R"(plexus: serving MCP on (http://127\.0\.0\.1:[0-9]+/mcp))");
    auto deadline = std::chrono::steady_clock::now() + 15s;
    std::smatch m;
    for (;;) {
      std::string err = p_.stderr_text();
      if (std::regex_search(err, m, re)) {
        url_ = m[1];
        break;
      }
      if (std::chrono::steady_clock::now() > deadline || !p_.alive()) break;
      p_.read_line(50ms);
    }
  }
  ~http_everything() {
    if (p_.alive()) ::kill(p_.pid(), SIGTERM);
    p_.wait_exit(10s);
  }
  const std::string& url() const { return url_; }

 private:
  child_process p_;
  std::string url_;
};

enum class via { stdio, http };
enum class era { legacy, modern };

struct cli_param {
  via transport;
  era mode;
};

std::string param_name(const ::testing::TestParamInfo<cli_param>& i) {
  return std::string(i.param.transport == via::stdio ? "Stdio" : "Http") +
         (i.param.mode == era::legacy ? "Legacy" : "Modern");
}

class ClientCli : public ::testing::TestWithParam<cli_param> {
 protected:
  static void SetUpTestSuite() { http_ = new http_everything(); }
  static void TearDownTestSuite() {
    delete http_;
    http_ = nullptr;
  }

  // plexus SUBCOMMAND [--legacy|--modern] OPERANDS… OPTIONS… SERVER
  std::vector<std::string> cmd(const std::string& sub, std::vector<std::string> operands,
                               std::vector<std::string> options = {}) {
    std::vector<std::string> a{sub};
    a.push_back(GetParam().mode == era::legacy ? "--legacy" : "--modern");
    if (GetParam().transport == via::http) a.push_back(http_->url());
    a.insert(a.end(), operands.begin(), operands.end());
    a.insert(a.end(), options.begin(), options.end());
    if (GetParam().transport == via::stdio)
      a.insert(a.end(), {"--", PLEXUS_BINARY, "everything", "--stdio"});
    return a;
  }

  void SetUp() override {
    if (GetParam().transport == via::http) {
      ASSERT_FALSE(http_->url().empty());
    }
  }

  bool modern() const { return GetParam().mode == era::modern; }

  static http_everything* http_;
};

http_everything* ClientCli::http_ = nullptr;

}  // namespace

TEST_P(ClientCli, ToolsJsonIsTheWholeList) {
  auto r = run_cli(cmd("tools", {}, {"--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  auto o = json_out(r);
  ASSERT_TRUE(o.contains("tools"));
  EXPECT_EQ(o.size(), 1u);
  EXPECT_EQ(names(o.at("tools")), everything_tools);
  EXPECT_EQ(o.at("tools").at(0), parse(R"({"name":"echo","description":"Echoes the text back",
      "inputSchema":{"type":"object","properties":{"text":{"type":"string",
      "description":"The text to echo"}},"required":["text"],"additionalProperties":false},
      "annotations":{"readOnlyHint":true,"openWorldHint":false}})"));
}

TEST_P(ClientCli, ToolsTableIsAlignedAndFitsOneHundredColumns) {
  auto r = run_cli(cmd("tools", {}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), everything_tools.size() + 1);
  // The widest name is test_input_required_result_multiple_inputs (42): column 2 at 44.
  EXPECT_EQ(lines[0], "NAME" + std::string(40, ' ') + "DESCRIPTION");
  EXPECT_EQ(lines[1], "echo" + std::string(40, ' ') + "Echoes the text back");
  EXPECT_EQ(lines[2], "test_x_mcp_header" + std::string(27, ' ') +
                          "Tool whose region argument is mirrored into the Mcp-Par…");
  for (const auto& l : lines) {
    std::size_t code_points = 0;
    for (unsigned char c : l) code_points += (c & 0xC0) != 0x80;
    EXPECT_LE(code_points, 100u) << l;
  }
}

TEST_P(ClientCli, CallPrintsTextAndJson) {
  auto text = run_cli(cmd("call", {"echo"}, {"--arg", "text=hello world"}));
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, "hello world\n");
  EXPECT_EQ(text.err, "");
  // The schema says string: 5 stays the string "5".
  auto five = run_cli(cmd("call", {"echo"}, {"--arg", "text=5", "--json"}));
  ASSERT_EQ(five.exit_code, 0) << five.err;
  EXPECT_EQ(bare(json_out(five)), parse(R"({"content":[{"type":"text","text":"5"}]})"));
  // Numbers as JSON; a string "2.5" coerced by the schema (number); := forces JSON.
  auto add = run_cli(cmd("call", {"add"}, {"--arg", "a=2", "--arg", "b:=2.5", "--json"}));
  ASSERT_EQ(add.exit_code, 0) << add.err;
  auto o = json_out(add);
  EXPECT_EQ(bare(o), parse(R"({"content":[{"type":"text","text":"4.5"}]})"));
  if (modern()) {
    EXPECT_EQ(o.at("resultType"), "complete");
    EXPECT_EQ(o.at("_meta").at("io.modelcontextprotocol/serverInfo").at("name"),
              "plexus-everything");
  } else {
    EXPECT_FALSE(o.contains("_meta"));
  }
  // --json '{…}' is the arguments object; --arg overrides a member of it.
  auto both =
      run_cli(cmd("call", {"add"}, {"--json", R"({"a":1,"b":1})", "--arg", "b=41", "--json"}));
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(bare(json_out(both)), parse(R"({"content":[{"type":"text","text":"42"}]})"));
}

TEST_P(ClientCli, CallPrettyPrintsStructuredContent) {
  auto r = run_cli(cmd("call", {"stats"}, {"--arg", "numbers=[1,2,6]"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The text mirror is not printed twice.
  EXPECT_EQ(r.out,
            "{\n  \"count\": 3,\n  \"sum\": 9.0,\n  \"mean\": 3.0,\n  \"min\": 1.0,\n  \"max\": "
            "6.0\n}\n");
  auto j = run_cli(cmd("call", {"stats"}, {"--arg", "numbers=[1,2,6]", "--json"}));
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto jo = json_out(j);
  const auto& sc = jo.at("structuredContent").as_object();
  EXPECT_EQ(sc.at("count").to_number<double>(), 3);
  EXPECT_EQ(sc.at("sum").to_number<double>(), 9);
  EXPECT_EQ(sc.at("mean").to_number<double>(), 3);
  EXPECT_EQ(sc.at("min").to_number<double>(), 1);
  EXPECT_EQ(sc.at("max").to_number<double>(), 6);
}

TEST_P(ClientCli, CallSummarizesOtherContent) {
  auto r = run_cli(cmd("call", {"test_multiple_content_types"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Multiple content types test:\n[image image/png, 70 bytes]\n"
            "[resource test://mixed-content-resource]\n");
  auto audio = run_cli(cmd("call", {"test_audio_content"}));
  ASSERT_EQ(audio.exit_code, 0) << audio.err;
  EXPECT_EQ(audio.out, "[audio audio/wav, 44 bytes]\n");
}

TEST_P(ClientCli, ToolErrorGoesToStderrWithExitOne) {
  auto r = run_cli(cmd("call", {"test_error_handling"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "This tool intentionally returns an error for testing\n");
  auto j = run_cli(cmd("call", {"test_error_handling"}, {"--json"}));
  EXPECT_EQ(j.exit_code, 1);
  EXPECT_EQ(bare(json_out(j)), parse(R"({"content":[{"type":"text",
      "text":"This tool intentionally returns an error for testing"}],"isError":true})"));
  // Arguments that fail the schema: the server's validation error, as a tool error.
  auto bad = run_cli(cmd("call", {"add"}, {"--arg", "a=x", "--arg", "b=1"}));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_NE(bad.err.find("/a"), std::string::npos) << bad.err;
}

TEST_P(ClientCli, UnknownToolIsAProtocolErrorWithExitThree) {
  auto r = run_cli(cmd("call", {"no_such_tool"}));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  std::string where = GetParam().transport == via::http
                          ? http_->url()
                          : std::string("stdio: ") + PLEXUS_BINARY + " everything --stdio";
  EXPECT_EQ(r.err, "plexus: " + where + ": error -32602: Unknown tool: no_such_tool\n");
}

TEST_P(ClientCli, ProgressOnStderr) {
  auto r = run_cli(cmd("call", {"test_tool_with_progress"}, {"--progress"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Tool with progress completed\n");
  EXPECT_EQ(r.err,
            "progress 0/100 Completed step 1 of 3\nprogress 50/100 Completed step 2 of 3\n"
            "progress 100/100 Completed step 3 of 3\n");
  // Without --progress (stderr is not a terminal here): no progress lines.
  auto quiet = run_cli(cmd("call", {"test_tool_with_progress"}));
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
}

TEST_P(ClientCli, TimeoutIsAnErrorWithExitThree) {
  auto r = run_cli(cmd("call", {"long_running_operation"},
                       {"--arg", "duration=20", "--arg", "steps=1", "--timeout", "0.5"}));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find(": timed out: tools/call after "), std::string::npos) << r.err;
  EXPECT_LT(r.seconds, 5.0);
}

TEST_P(ClientCli, ElicitationIsAskedOnStdin) {
  auto r = run_cli(cmd("call", {"test_input_required_result_elicitation"}), "Ada\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello, Ada!\n");
  EXPECT_EQ(r.err, "The server asks: What is your name?\n  name [string] *: ");
  // End of input declines.
  auto eof = run_cli(cmd("call", {"test_input_required_result_elicitation"}));
  ASSERT_EQ(eof.exit_code, 0) << eof.err;
  EXPECT_EQ(eof.out, "Hello, stranger!\n");
  EXPECT_NE(eof.err.find("plexus: end of input: declined the server's request\n"),
            std::string::npos)
      << eof.err;
  // Defaults, integers, enums by number or title, booleans.
  auto form = run_cli(cmd("call", {"test_elicitation_sep1034_defaults"}), "Grace\n\n99.5\n3\nn\n");
  ASSERT_EQ(form.exit_code, 0) << form.err;
  EXPECT_EQ(form.out,
            "Elicitation completed: action=accept, content={\"name\":\"Grace\",\"age\":30,"
            "\"score\":99.5,\"status\":\"pending\",\"verified\":false}\n");
  auto enums = run_cli(cmd("call", {"test_elicitation_sep1330_enums"}),
                       "2\nFirst Option\nopt3\n1,3\nvalue2\n");
  ASSERT_EQ(enums.exit_code, 0) << enums.err;
  EXPECT_EQ(enums.out,
            "Elicitation completed: action=accept, content={\"untitledSingle\":\"option2\","
            "\"titledSingle\":\"value1\",\"legacyEnum\":\"opt3\",\"untitledMulti\":[\"option1\","
            "\"option3\"],\"titledMulti\":[\"value2\"]}\n");
}

TEST_P(ClientCli, SamplingIsDeclinedRootsAreTheCurrentDirectory) {
  auto s = run_cli(cmd("call", {"test_input_required_result_sampling"}));
  EXPECT_NE(s.err.find("plexus: the server asked for a model completion (sampling); declined"),
            std::string::npos)
      << s.err;
  EXPECT_EQ(s.out, "");
  EXPECT_NE(s.err.find("Sampling declined: the plexus command line client has no model to ask"),
            std::string::npos)
      << s.err;
  // Modern: the client cannot fulfil the input request (exit 3); legacy: the server turns the
  // declined request into a tool error (exit 1).
  EXPECT_EQ(s.exit_code, modern() ? 3 : 1);
  temp_dir cwd;
  auto canonical = fs::canonical(cwd.path);
  auto roots = run_cli(cmd("call", {"test_input_required_result_list_roots"}), "", 60s, canonical);
  ASSERT_EQ(roots.exit_code, 0) << roots.err;
  EXPECT_EQ(roots.out, "Roots: file://" + canonical.string() + "\n");
}

TEST_P(ClientCli, ResourcesAndRead) {
  auto r = run_cli(cmd("resources", {}, {"--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto o = json_out(r);
  EXPECT_EQ(names(o.at("resources"), "uri"),
            (std::vector<std::string>{"test://static-text", "test://static-binary",
                                      "test://watched-resource"}));
  EXPECT_EQ(o.at("resources").at(0), parse(R"({"uri":"test://static-text","name":"static-text",
      "title":"Static Text Resource","description":"A static text resource for testing",
      "mimeType":"text/plain"})"));
  EXPECT_EQ(names(o.at("resourceTemplates"), "uriTemplate"),
            std::vector<std::string>{"test://template/{id}/data"});
  auto table = run_cli(cmd("resources", {}));
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out,
            "URI                        NAME              DESCRIPTION\n"
            "test://static-text         static-text       Static Text Resource\n"
            "test://static-binary       static-binary     Static Binary Resource\n"
            "test://watched-resource    watched-resource  Watched Resource\n"
            "test://template/{id}/data  template          Resource Template\n");
  auto text = run_cli(cmd("read", {"test://static-text"}));
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, "This is the content of the static text resource.\n");
  auto blob = run_cli(cmd("read", {"test://static-binary"}));
  ASSERT_EQ(blob.exit_code, 0) << blob.err;
  EXPECT_EQ(blob.out, "[blob image/png, 70 bytes]\n");
  auto bj = run_cli(cmd("read", {"test://static-binary"}, {"--json"}));
  ASSERT_EQ(bj.exit_code, 0) << bj.err;
  EXPECT_EQ(bare(json_out(bj)).at("contents"),
            parse(std::string(R"([{"uri":"test://static-binary","mimeType":"image/png","blob":")") +
                  png_1x1 + "\"}]"));
  auto tmpl = run_cli(cmd("read", {"test://template/42/data"}, {"--json"}));
  ASSERT_EQ(tmpl.exit_code, 0) << tmpl.err;
  EXPECT_EQ(bare(json_out(tmpl)).at("contents"),
            parse(R"([{"uri":"test://template/42/data","mimeType":"application/json",
                "text":"{\"id\":\"42\",\"templateTest\":true,\"data\":\"Data for ID: 42\"}"}])"));
  auto missing = run_cli(cmd("read", {"test://nothing-here"}));
  EXPECT_EQ(missing.exit_code, 3);
  // Each era's code for an unknown resource.
  EXPECT_NE(missing.err.find(std::string(modern() ? ": error -32602: " : ": error -32002: ") +
                             "Resource not found: test://nothing-here\n"),
            std::string::npos)
      << missing.err;
}

TEST_P(ClientCli, PromptsAndPrompt) {
  auto r = run_cli(cmd("prompts", {}, {"--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto o = json_out(r);
  EXPECT_EQ(
      names(o.at("prompts")),
      (std::vector<std::string>{"test_simple_prompt", "test_prompt_with_arguments",
                                "test_prompt_with_embedded_resource", "test_prompt_with_image",
                                "test_input_required_result_prompt"}));
  auto table = run_cli(cmd("prompts", {}));
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out,
            "NAME                                ARGUMENTS     DESCRIPTION\n"
            "test_simple_prompt                                Simple Test Prompt\n"
            "test_prompt_with_arguments          arg1*,arg2*   Prompt With Arguments\n"
            "test_prompt_with_embedded_resource  resourceUri*  Prompt With Embedded Resource\n"
            "test_prompt_with_image                            Prompt With Image\n"
            "test_input_required_result_prompt                 Prompt Needing Context\n");
  auto p = run_cli(
      cmd("prompt", {"test_prompt_with_arguments"}, {"--arg", "arg1=a b", "--arg", "arg2=7"}));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out, "user: Prompt with arguments: arg1='a b', arg2='7'\n");
  auto img = run_cli(cmd("prompt", {"test_prompt_with_image"}, {"--json"}));
  ASSERT_EQ(img.exit_code, 0) << img.err;
  EXPECT_EQ(bare(json_out(img)).at("messages"),
            parse(std::string(R"([{"role":"user","content":{"type":"image","data":")") + png_1x1 +
                  R"(","mimeType":"image/png"}},{"role":"user","content":{"type":"text",
                  "text":"Please analyze the image above."}}])"));
}

INSTANTIATE_TEST_SUITE_P(Everything, ClientCli,
                         ::testing::Values(cli_param{via::stdio, era::legacy},
                                           cli_param{via::stdio, era::modern},
                                           cli_param{via::http, era::legacy},
                                           cli_param{via::http, era::modern}),
                         param_name);

// ---- auto-detection, usage, connection failures ------------------------------------------------

TEST(ClientCliMisc, AutoDetectPicksTheModernEra) {
  auto r = run_cli(
      {"call", "echo", "--arg", "text=x", "--json", "--", PLEXUS_BINARY, "everything", "--stdio"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto o = json_out(r);
  EXPECT_EQ(o.at("resultType"), "complete");  // only the modern era says so
  http_everything http;
  ASSERT_FALSE(http.url().empty());
  auto h = run_cli({"call", http.url(), "echo", "--arg", "text=x", "--json"});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  EXPECT_EQ(json_out(h).at("resultType"), "complete");
}

TEST(ClientCliMisc, UsageErrorsExitTwo) {
  const std::string p = PLEXUS_BINARY;
  struct usage_case {
    std::vector<std::string> args;
    std::string message;  // a line of stderr
  };
  std::vector<usage_case> cases = {
      {{"tools"},
       "plexus: no server: give a URL (http, https, ws, wss), unix:/PATH, or a command after "
       "`--` (stdio)"},
      {{"tools", "ftp://example.com/mcp"},
       "plexus: the server must be an http://, https://, ws:// or wss:// URL, unix:/PATH, or a "
       "command after `--`; got \"ftp://example.com/mcp\""},
      {{"tools", "--"}, "plexus: `--` must be followed by the command that starts the server"},
      {{"call", "--", p, "everything", "--stdio"}, "plexus: missing the tool name"},
      {{"call", "echo", "extra", "--", p, "everything", "--stdio"},
       "plexus: unexpected argument \"extra\""},
      {{"tools", "http://127.0.0.1:1/mcp", "--", p},
       "plexus: unexpected argument \"http://127.0.0.1:1/mcp\""},
      {{"call", "echo", "--arg", "noequals", "--", p, "everything", "--stdio"},
       "plexus: --arg expects KEY=VALUE or KEY:=JSON, got \"noequals\""},
      {{"call", "echo", "--json", "{not json", "--", p, "everything", "--stdio"},
       "plexus: --json expects a JSON object of arguments, got {not json"},
      {{"call", "echo", "--arg", "x:={", "--", p, "everything", "--stdio"},
       "plexus: --arg x:= expects JSON, got {"},
      {{"tools", "--header", "X-A: b", "--", p, "everything", "--stdio"},
       "plexus: --header applies to URL servers, not to `--` commands"},
      {{"tools", "--header", "no-colon", "http://127.0.0.1:1/mcp"},
       "plexus: --header expects 'Name: value', got \"no-colon\""},
      {{"tools", "--env", "A=1", "http://127.0.0.1:1/mcp"},
       "plexus: --env and --cwd apply to a server command after `--`, not to URLs"},
      {{"tools", "--env", "novalue", "--", p, "everything", "--stdio"},
       "plexus: --env expects KEY=VALUE, got \"novalue\""},
      {{"tools", "--legacy", "--modern", "--", p, "everything", "--stdio"},
       "--legacy excludes --modern"},
      {{"tools", "--timeout", "-1", "--", p, "everything", "--stdio"},
       "--timeout: Value -1 not in range 0"},
      {{"tools", "--bogus", "--", p, "everything", "--stdio"},
       "The following argument was not expected: --bogus"},
      {{"read", "--", p, "everything", "--stdio"}, "plexus: missing the resource URI"},
      {{"tools", "--arg", "a=1", "--", p, "everything", "--stdio"},
       "The following argument was not expected: --arg"},
  };
  for (const auto& c : cases) {
    auto r = run_cli(c.args);
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << "\n" << r.err;
    EXPECT_EQ(r.out, "") << joined;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << joined << "\n" << r.err;
  }
  // --help is not an error; `everything` keeps its own behaviour.
  auto help = run_cli({"call", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--arg"), std::string::npos) << help.out;
  auto ev = run_cli({"everything"});
  EXPECT_NE(ev.exit_code, 0);
  EXPECT_NE(ev.exit_code, 2);
}

TEST(ClientCliMisc, ConnectionFailuresExitThree) {
  auto missing = run_cli({"tools", "--", "/nonexistent/mcp-server"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_EQ(missing.err,
            "plexus: stdio: cannot start /nonexistent/mcp-server: No such file or directory\n");
  auto exits = run_cli({"tools", "--", "/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(exits.exit_code, 3);
  EXPECT_EQ(exits.err,
            "plexus: cannot connect to stdio: /bin/sh -c exit 7: connection closed: the server "
            "exited with status 7\n");
  // Nothing listens on port 1.
  auto refused = run_cli({"tools", "http://127.0.0.1:1/mcp", "--timeout", "5"});
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_TRUE(refused.err.starts_with("plexus: cannot connect to http://127.0.0.1:1/mcp: "))
      << refused.err;
  EXPECT_LT(refused.seconds, 10.0);
}

TEST(ClientCliMisc, EnvAndCwdReachTheServer) {
  temp_dir dir;
  // A server script that only starts with the right environment, found relative to --cwd.
  {
    std::ofstream f(dir.path / "server.sh");
    f << "#!/bin/sh\n[ \"$PLEXUS_CLI_TEST\" = \"yes please\" ] || exit 9\nexec "
      << shell_quote(PLEXUS_BINARY) << " everything --stdio\n";
  }
  fs::permissions(dir.path / "server.sh", fs::perms::owner_all);
  auto ok = run_cli({"call", "echo", "--arg", "text=ok", "--cwd", dir.path.string(), "--env",
                     "PLEXUS_CLI_TEST=yes please", "--", "./server.sh"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "ok\n");
  auto no_env = run_cli({"tools", "--cwd", dir.path.string(), "--", "./server.sh"});
  EXPECT_EQ(no_env.exit_code, 3);
  EXPECT_NE(no_env.err.find("the server exited with status 9"), std::string::npos) << no_env.err;
}

TEST(ClientCliMisc, HeadersAreSentOverHttp) {
  http_everything http;
  ASSERT_FALSE(http.url().empty());
  // test_x_mcp_header mirrors its argument; a custom header must not break the exchange, and an
  // Origin the server does not accept is refused (403), which proves the header was sent.
  auto ok = run_cli({"call", http.url(), "echo", "--arg", "text=hi", "--header", "X-Trace: 1"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "hi\n");
  auto refused = run_cli({"tools", http.url(), "--header", "Origin: https://evil.example"});
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_NE(refused.err.find("Forbidden: Origin not allowed"), std::string::npos) << refused.err;
}

TEST(ClientCliMisc, HungServerIsKilledAfterTheTimeout) {
  temp_dir dir;
  // Answers nothing, ignores SIGTERM and the end of its stdin; writes its pid first.
  const auto pid_file = dir.path / "pid";
  auto r = run_cli({"tools", "--timeout", "0.5", "--", "/bin/sh", "-c",
                    "echo $$ > " + shell_quote(pid_file.string()) +
                        "; trap '' TERM; while :; do sleep 0.1; done"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("timed out: initialize after "), std::string::npos) << r.err;
  // 0.5 s probe + 0.5 s initialize + 1 s grace after EOF + 1 s after SIGTERM, then SIGKILL.
  EXPECT_LT(r.seconds, 5.0);
  auto pid_text = slurp(pid_file);
  ASSERT_FALSE(pid_text.empty());
  pid_t pid = std::stoi(pid_text);
  EXPECT_TRUE(::kill(pid, 0) == -1 && errno == ESRCH)
      << "the server process " << pid << " is still there";
}
