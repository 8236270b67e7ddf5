#include "plexus/servers/everything.hpp"

#include "plexus/jsonrpc/message.hpp"
#include "plexus/server/typed_tool.hpp"

#include <boost/describe.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <thread>

namespace plexus::servers {

namespace {

using namespace plexus::server;
using protocol::logging_level;
namespace content = protocol::content;

constexpr const char* png_1x1 =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg"
    "==";
constexpr const char* wav_min = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

struct echo_args {
  std::string text;
};
BOOST_DESCRIBE_STRUCT(echo_args, (), (text))

struct add_args {
  double a;
  double b;
};
BOOST_DESCRIBE_STRUCT(add_args, (), (a, b))

struct stats_args {
  std::vector<double> numbers;
};
BOOST_DESCRIBE_STRUCT(stats_args, (), (numbers))

struct stats_result {
  std::int64_t count;
  double sum;
  double mean;
  double min;
  double max;
};
BOOST_DESCRIBE_STRUCT(stats_result, (), (count, sum, mean, min, max))

struct long_running_args {
  std::optional<double> duration;  // seconds
  std::optional<int> steps;
};
BOOST_DESCRIBE_STRUCT(long_running_args, (), (duration, steps))

struct sampling_args {
  std::string prompt;
};
BOOST_DESCRIBE_STRUCT(sampling_args, (), (prompt))

struct elicitation_args {
  std::string message;
};
BOOST_DESCRIBE_STRUCT(elicitation_args, (), (message))

json::object empty_schema() {
  return {{"type", "object"}, {"properties", json::object{}}};
}

protocol::tool plain_tool(std::string name, std::string description,
                          json::object schema = empty_schema()) {
  protocol::tool t;
  t.name = std::move(name);
  t.description = std::move(description);
  t.input_schema = std::move(schema);
  return t;
}

// Shortest text that reads back as the same double ("3.75", "0.1", "5").
std::string number_text(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

json::object name_schema(std::string_view property, std::string_view type = "string") {
  return {{"type", "object"},
          {"properties", json::object{{property, json::object{{"type", type}}}}},
          {"required", json::array{json::value(property)}}};
}

void register_tools(server::server& srv) {
  // First in the list on purpose: it accepts {} (header-validation scenarios call
  // the first listed tool with empty arguments).
  // echo and add neither block nor run long: they run on the thread that read the call.
  // Taking the arguments by value moves the text in and out (no copy of a large one).
  add_tool(srv, "echo", "Echoes the text back", [](echo_args a) { return std::move(a.text); },
           {.annotations = protocol::tool_annotations{.read_only = true, .open_world = false},
            .fields = {{"text", {{"description", "The text to echo"}}}},
            .dispatch = tool_dispatch::direct});
  srv.add_tool(
      plain_tool(
          "test_x_mcp_header",
          "Tool whose region argument is mirrored into the Mcp-Param-Region header",
          {{"type", "object"},
           {"properties", json::object{{"region", json::object{{"type", "string"},
                                                               {"x-mcp-header", "Region"},
                                                               {"description", "Region to query"}}},
                                       {"level", json::object{{"type", "integer"}}}}}}),
      [](context&, const json::object& args) {
        std::string region = "unset";
        if (auto r = json::find_string(args, "region")) region = std::string(*r);
        return tool_result::text("region=" + region);
      });
  add_tool(srv, "add", "Adds two numbers", [](const add_args& a) { return number_text(a.a + a.b); },
           {.annotations = protocol::tool_annotations{.read_only = true, .open_world = false},
            .fields = {{"a", {{"description", "First addend"}}},
                       {"b", {{"description", "Second addend"}}}},
            .dispatch = tool_dispatch::direct});
  add_tool(srv, "stats", "Count, sum, mean, min and max of a list of numbers (structured output)",
           [](const stats_args& a) {
             if (a.numbers.empty()) throw tool_error("numbers must not be empty");
             stats_result r{static_cast<std::int64_t>(a.numbers.size()), 0, 0, a.numbers[0],
                            a.numbers[0]};
             for (double n : a.numbers) {
               r.sum += n;
               r.min = std::min(r.min, n);
               r.max = std::max(r.max, n);
             }
             r.mean = r.sum / static_cast<double>(r.count);
             return r;
           },
           {.annotations = protocol::tool_annotations{.read_only = true, .open_world = false},
            .fields = {{"numbers", {{"description", "The numbers"}, {"minItems", 1}}}}});
  add_tool(srv, "long_running_operation",
           "Runs for a while, reporting progress; stops early when cancelled",
           [](context& ctx, const long_running_args& a) {
             double duration = a.duration.value_or(2.0);
             int steps = a.steps.value_or(4);
             if (duration < 0 || duration > 300)
               throw tool_error("duration must be within 0..300 s");
             if (steps < 1 || steps > 1000) throw tool_error("steps must be within 1..1000");
             auto slice = std::chrono::duration<double>(duration / steps);
             for (int i = 1; i <= steps; ++i) {
               auto until = std::chrono::steady_clock::now() + slice;
               while (std::chrono::steady_clock::now() < until) {
                 if (ctx.cancelled()) return tool_result::text("cancelled");
                 std::this_thread::sleep_for(std::chrono::milliseconds(5));
               }
               ctx.progress(i, steps, "step " + std::to_string(i) + " of " + std::to_string(steps));
             }
             return tool_result::text("Long running operation completed: " + std::to_string(steps) +
                                      " steps in " + number_text(duration) + " s");
           },
           {.fields = {{"duration", {{"description", "Seconds to run"}, {"minimum", 0}}},
                       {"steps", {{"description", "Number of progress steps"}, {"minimum", 1}}}}});

  // ---- conformance fixtures (both eras) ----------------------------------
  srv.add_tool(plain_tool("test_simple_text", "Tests simple text content response"),
               [](context&, const json::object&) {
                 return tool_result::text("This is a simple text response for testing.");
               });
  srv.add_tool(plain_tool("test_image_content", "Tests image content response"),
               [](context&, const json::object&) {
                 tool_result r;
                 r.add(content::image(png_1x1, "image/png"));
                 return r;
               });
  srv.add_tool(plain_tool("test_audio_content", "Tests audio content response"),
               [](context&, const json::object&) {
                 tool_result r;
                 r.add(content::audio(wav_min, "audio/wav"));
                 return r;
               });
  srv.add_tool(
      plain_tool("test_embedded_resource", "Tests embedded resource content response"),
      [](context&, const json::object&) {
        tool_result r;
        r.add(content::embedded_text("test://embedded-resource",
                                     "This is an embedded resource content.", "text/plain"));
        return r;
      });
  srv.add_tool(
      plain_tool("test_multiple_content_types",
                 "Tests response with multiple content types (text, image, resource)"),
      [](context&, const json::object&) {
        tool_result r;
        r.add(content::text("Multiple content types test:"));
        r.add(content::image(png_1x1, "image/png"));
        r.add(content::embedded_text("test://mixed-content-resource",
                                     R"({"test":"data","value":123})", "application/json"));
        return r;
      });
  auto logging_tool = [](context& ctx, const json::object&) {
    for (const char* msg :
         {"Tool execution started", "Tool processing data", "Tool execution completed"}) {
      ctx.log(logging_level::info, json::value(msg));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return tool_result::text("Tool with logging executed successfully");
  };
  srv.add_tool(
      plain_tool("test_tool_with_logging", "Tests tool that emits log messages during execution"),
      logging_tool);
  srv.add_tool(plain_tool("test_logging_tool",
                          "Logs three messages when the request asks for logs (_meta logLevel)"),
               logging_tool);
  srv.add_tool(
      plain_tool("test_tool_with_progress", "Tests tool that reports progress notifications"),
      [](context& ctx, const json::object&) {
        for (int p : {0, 50, 100}) {
          ctx.progress(p, 100, "Completed step " + std::to_string(p / 50 + 1) + " of 3");
          if (p != 100) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return tool_result::text("Tool with progress completed");
      });
  srv.add_tool(plain_tool("test_error_handling", "Tests error response handling"),
               [](context&, const json::object&) {
                 return tool_result::error("This tool intentionally returns an error for testing");
               });
  srv.add_tool(plain_tool("test_reconnection",
                          "Tests SSE stream disconnection and client reconnection (SEP-1699). "
                          "Server will close the stream mid-call and send the result after "
                          "client reconnects."),
               [](context& ctx, const json::object&) {
                 // Over legacy Streamable HTTP this closes the SSE stream mid-call; the
                 // client resumes with Last-Event-ID and receives the result.
                 ctx.close_stream();
                 std::this_thread::sleep_for(std::chrono::milliseconds(100));
                 return tool_result::text(
                     "Reconnection test completed successfully. The result was delivered.");
               });
  add_tool(srv, "test_sampling", "Tests server-initiated sampling (LLM completion request)",
           [](context& ctx, const sampling_args& a) {
             auto answer = ctx.sample("llm_response", input::sample_text(a.prompt, 100).params);
             return "LLM response: " +
                    (answer.is_string() ? std::string(answer.get_string()) : json::dump(answer));
           },
           {.fields = {{"prompt", {{"description", "The prompt to send to the LLM"}}}}});
  add_tool(srv, "test_elicitation", "Tests server-initiated elicitation (user input request)",
           [](context& ctx, const elicitation_args& a) {
             auto r = ctx.elicit(
                 "user_response", a.message,
                 {{"type", "object"},
                  {"properties",
                   json::object{{"username", json::object{{"type", "string"},
                                                          {"description", "User's response"}}},
                                {"email", json::object{{"type", "string"},
                                                       {"description", "User's email address"}}}}},
                  {"required", json::array{"username", "email"}}});
             return "User response: action=" + r.action + ", content=" + json::dump(r.content);
           },
           {.fields = {{"message", {{"description", "The message to show the user"}}}}});
  srv.add_tool(
      plain_tool("test_elicitation_sep1034_defaults",
                 "Tests elicitation with default values per SEP-1034"),
      [](context& ctx, const json::object&) {
        json::object props{
            {"name",
             json::object{
                 {"type", "string"}, {"description", "User name"}, {"default", "John Doe"}}},
            {"age",
             json::object{{"type", "integer"}, {"description", "User age"}, {"default", 30}}},
            {"score",
             json::object{{"type", "number"}, {"description", "User score"}, {"default", 95.5}}},
            {"status", json::object{{"type", "string"},
                                    {"description", "User status"},
                                    {"enum", json::array{"active", "inactive", "pending"}},
                                    {"default", "active"}}},
            {"verified",
             json::object{
                 {"type", "boolean"}, {"description", "Verification status"}, {"default", true}}}};
        auto r =
            ctx.elicit("defaults", "Please review and update the form fields with defaults",
                       {{"type", "object"}, {"properties", props}, {"required", json::array{}}});
        return tool_result::text("Elicitation completed: action=" + r.action +
                                 ", content=" + json::dump(r.content));
      });
  srv.add_tool(
      plain_tool("test_elicitation_sep1330_enums",
                 "Tests elicitation with enum schema improvements per SEP-1330"),
      [](context& ctx, const json::object&) {
        auto titled = [](std::initializer_list<std::pair<const char*, const char*>> items) {
          json::array a;
          for (auto& [c, t] : items) a.push_back(json::object{{"const", c}, {"title", t}});
          return a;
        };
        json::object props{
            {"untitledSingle",
             json::object{{"type", "string"},
                          {"description", "Select one option"},
                          {"enum", json::array{"option1", "option2", "option3"}}}},
            {"titledSingle", json::object{{"type", "string"},
                                          {"description", "Select one option with titles"},
                                          {"oneOf", titled({{"value1", "First Option"},
                                                            {"value2", "Second Option"},
                                                            {"value3", "Third Option"}})}}},
            {"legacyEnum",
             json::object{{"type", "string"},
                          {"description", "Select one option (legacy)"},
                          {"enum", json::array{"opt1", "opt2", "opt3"}},
                          {"enumNames", json::array{"Option One", "Option Two", "Option Three"}}}},
            {"untitledMulti",
             json::object{
                 {"type", "array"},
                 {"description", "Select multiple options"},
                 {"minItems", 1},
                 {"maxItems", 3},
                 {"items", json::object{{"type", "string"},
                                        {"enum", json::array{"option1", "option2", "option3"}}}}}},
            {"titledMulti",
             json::object{
                 {"type", "array"},
                 {"description", "Select multiple options with titles"},
                 {"minItems", 1},
                 {"maxItems", 3},
                 {"items", json::object{{"anyOf", titled({{"value1", "First Choice"},
                                                          {"value2", "Second Choice"},
                                                          {"value3", "Third Choice"}})}}}}}};
        auto r =
            ctx.elicit("enums", "Please select options from the enum fields",
                       {{"type", "object"}, {"required", json::array{}}, {"properties", props}});
        return tool_result::text("Elicitation completed: action=" + r.action +
                                 ", content=" + json::dump(r.content));
      });
  srv.add_tool(
      plain_tool("json_schema_2020_12_tool",
                 "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
                 boost::json::parse(R"({
                   "$schema":"https://json-schema.org/draft/2020-12/schema",
                   "type":"object",
                   "$defs":{"address":{"$anchor":"address","type":"object",
                                       "properties":{"street":{"type":"string"},
                                                     "city":{"type":"string"}}}},
                   "properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"},
                                 "kind":{"enum":["person","business"]}},
                   "additionalProperties":false,
                   "allOf":[{"anyOf":[{"required":["name"]},{"required":["address"]},
                                      {"maxProperties":0}]}],
                   "if":{"properties":{"kind":{"const":"business"}},"required":["kind"]},
                   "then":{"required":["name","address"]},
                   "else":{"properties":{"kind":{"const":"person"}}}})")
                     .as_object()),
      [](context&, const json::object& args) {
        return tool_result::text("JSON Schema 2020-12 tool called with: " + json::dump(args));
      });

  // ---- 2026-07-28 diagnostics ---------------------------------------------
  srv.add_tool(plain_tool("test_missing_capability",
                          "Needs the client's sampling capability (answers -32021 without it)"),
               [](context& ctx, const json::object&) {
                 auto answer = ctx.sample("question", input::sample_text("Say hello", 20).params);
                 return tool_result::text("Sampled: " + json::dump(answer));
               });
  srv.add_tool(plain_tool("test_streaming_elicitation",
                          "Asks the user for a name; never sends a JSON-RPC request in 2026"),
               [](context& ctx, const json::object&) {
                 auto r = ctx.elicit("user_name", "What is your name?", name_schema("name"));
                 return tool_result::text("Elicitation: action=" + r.action +
                                          ", content=" + json::dump(r.content));
               });
  srv.add_tool(plain_tool("test_trigger_tool_change",
                          "Publishes notifications/tools/list_changed to every listener"),
               [&srv](context&, const json::object&) {
                 srv.notify_tools_changed();
                 return tool_result::text("tools list_changed published");
               });
  srv.add_tool(plain_tool("test_trigger_prompt_change",
                          "Publishes notifications/prompts/list_changed to every listener"),
               [&srv](context&, const json::object&) {
                 srv.notify_prompts_changed();
                 return tool_result::text("prompts list_changed published");
               });
  srv.add_tool(plain_tool("test_trigger_resource_update",
                          "Publishes notifications/resources/updated for test://watched-resource"),
               [&srv](context&, const json::object&) {
                 srv.notify_resource_updated("test://watched-resource");
                 return tool_result::text("resource update published");
               });

  // ---- MRTR (input required) ------------------------------------------------
  srv.add_tool(
      plain_tool("test_input_required_result_elicitation",
                 "Asks the user's name (elicitation), then greets"),
      [](context& ctx, const json::object&) {
        auto r = ctx.elicit("user_name", "What is your name?", name_schema("name"));
        auto name = json::find_string(r.content, "name");
        return tool_result::text("Hello, " + (name ? std::string(*name) : "stranger") + "!");
      });
  srv.add_tool(
      plain_tool("test_input_required_result_sampling", "Asks the model a question (sampling)"),
      [](context& ctx, const json::object&) {
        auto a = ctx.sample("capital_question",
                            input::sample_text("What is the capital of France?", 100).params);
        return tool_result::text("The model said: " +
                                 (a.is_string() ? std::string(a.get_string()) : json::dump(a)));
      });
  srv.add_tool(plain_tool("test_input_required_result_list_roots", "Lists the client's roots"),
               [](context& ctx, const json::object&) {
                 auto roots = ctx.roots("client_roots");
                 std::string text = "Roots:";
                 for (const auto& r : roots) text += " " + r.uri;
                 return tool_result::text(text);
               });
  srv.add_tool(
      plain_tool("test_input_required_result_request_state",
                 "Asks for confirmation and carries a sealed requestState"),
      [](context& ctx, const json::object&) {
        auto r = ctx.elicit("confirm", "Please confirm", name_schema("ok", "boolean"));
        return tool_result::text(ctx.resumed() ? "state-ok: action=" + r.action : "state-missing");
      });
  srv.add_tool(
      plain_tool("test_input_required_result_multiple_inputs",
                 "Asks for elicitation, sampling and roots in one round"),
      [](context& ctx, const json::object&) {
        std::vector<std::pair<std::string, input_request>> asks;
        asks.emplace_back("user_name", input::elicit("What is your name?", name_schema("name")));
        asks.emplace_back("greeting", input::sample_text("Write a greeting", 50));
        asks.emplace_back("client_roots", input::list_roots());
        auto answers = ctx.ask(std::move(asks));
        return tool_result::text("Received " + std::to_string(answers.size()) + " inputs: " +
                                 json::dump(json::object(answers.begin(), answers.end())));
      });
  srv.add_tool(
      plain_tool("test_input_required_result_multi_round",
                 "Two rounds of elicitation: name, then favourite colour"),
      [](context& ctx, const json::object&) {
        auto a = ctx.elicit("step1", "What is your name?", name_schema("name"));
        auto b = ctx.elicit("step2", "What is your favourite colour?", name_schema("color"));
        return tool_result::text("Done: " + json::dump(a.content) + " " + json::dump(b.content));
      });
  srv.add_tool(plain_tool("test_input_required_result_tampered_state",
                          "Asks for confirmation; a tampered requestState is rejected"),
               [](context& ctx, const json::object&) {
                 auto r = ctx.elicit("confirm", "Please confirm", name_schema("ok", "boolean"));
                 return tool_result::text("confirmed: action=" + r.action);
               });
  srv.add_tool(plain_tool("test_input_required_result_capabilities",
                          "Asks only for the kinds of input the client declared"),
               [](context& ctx, const json::object&) {
                 std::vector<std::pair<std::string, input_request>> asks;
                 if (ctx.client_supports("elicitation.form"))
                   asks.emplace_back("user_name",
                                     input::elicit("What is your name?", name_schema("name")));
                 if (ctx.client_supports("sampling"))
                   asks.emplace_back("greeting", input::sample_text("Write a greeting", 50));
                 if (ctx.client_supports("roots"))
                   asks.emplace_back("client_roots", input::list_roots());
                 if (asks.empty())
                   return tool_result::text("The client declared no input capabilities");
                 auto answers = ctx.ask(std::move(asks));
                 return tool_result::text("Received " + std::to_string(answers.size()) + " inputs");
               });

  // ---- tasks (extension io.modelcontextprotocol/tasks; legacy 2025-11-25) ----
  auto task_tool = [](std::string name, std::string description, std::string support,
                      json::object schema = empty_schema()) {
    protocol::tool t = plain_tool(std::move(name), std::move(description), std::move(schema));
    t.task_support = std::move(support);
    return t;
  };
  // Sleeps for `seconds`, stopping early when cancelled. True if it slept it all.
  auto nap = [](context& ctx, double seconds) {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      if (ctx.cancelled()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return !ctx.cancelled();
  };
  srv.add_tool(plain_tool("greet", "Greets by name; synchronous only (no task support)",
                          name_schema("name")),
               [](context&, const json::object& args) {
                 auto name = json::find_string(args, "name");
                 return tool_result::text("Hello, " + std::string(*name) + "!");
               });
  srv.add_tool(
      task_tool("slow_compute",
                "Sleeps `seconds` then reports; runs as a task and stops when cancelled",
                "optional",
                {{"type", "object"},
                 {"properties",
                  json::object{{"seconds", json::object{{"type", "number"},
                                                        {"minimum", 0},
                                                        {"maximum", 600},
                                                        {"description", "Seconds to compute"}}},
                               {"label", json::object{{"type", "string"},
                                                      {"description", "A label for the run"}}}}}}),
      [nap](context& ctx, const json::object& args) {
        double seconds = json::find_number(args, "seconds").value_or(1.0);
        std::string label = "unlabelled";
        if (auto l = json::find_string(args, "label")) label = std::string(*l);
        if (!nap(ctx, seconds)) return tool_result::text("slow_compute " + label + ": cancelled");
        return tool_result::text("slow_compute " + label + ": done after " + number_text(seconds) +
                                 " s");
      });
  srv.add_tool(task_tool("failing_job",
                         "Runs as a task (required) and reports a tool error after about a second",
                         "required"),
               [nap](context& ctx, const json::object&) {
                 nap(ctx, 1.0);
                 return tool_result::error("failing_job: the job failed, as it always does");
               });
  srv.add_tool(
      task_tool("protocol_error_job",
                "Runs as a task and fails with a protocol-level (JSON-RPC) error", "optional"),
      [nap](context& ctx, const json::object&) -> tool_result {
        nap(ctx, 0.2);
        throw protocol_error(jsonrpc::codes::internal_error, "protocol_error_job: the job crashed");
      });
  srv.add_tool(
      task_tool("confirm_delete", "Asks the user to confirm (elicitation), then deletes a file",
                "optional", name_schema("filename")),
      [](context& ctx, const json::object& args) {
        std::string file(*json::find_string(args, "filename"));
        auto r = ctx.elicit("confirm", "Delete " + file + "?", name_schema("confirm", "boolean"));
        bool yes = r.accepted() && json::find_bool(r.content, "confirm").value_or(false);
        return tool_result::text(yes ? "Deleted " + file : "Kept " + file);
      });
  srv.add_tool(
      task_tool("multi_input", "Asks two questions at once (two elicitations), then reports both",
                "optional"),
      [](context& ctx, const json::object&) {
        std::vector<std::pair<std::string, input_request>> asks;
        asks.emplace_back("name", input::elicit("What is your name?", name_schema("name")));
        asks.emplace_back("confirm", input::elicit("Proceed?", name_schema("confirm", "boolean")));
        auto answers = ctx.ask(std::move(asks));
        return tool_result::text("Received: " +
                                 json::dump(json::object(answers.begin(), answers.end())));
      });
  srv.add_tool(
      task_tool("test_tool_with_task",
                "Asks the user's name (MRTR), then finishes the work as a task", "required"),
      [nap](context& ctx, const json::object&) {
        auto r = ctx.elicit("user_name", "What is your name?", name_schema("name"));
        auto name = json::find_string(r.content, "name");
        std::string who = name ? std::string(*name) : "stranger";
        ctx.start_task();  // the client gets a CreateTaskResult; the rest runs as a task
        nap(ctx, 0.2);
        return tool_result::text("Hello, " + who + "! (finished as a task)");
      },
      task_start::by_handler);
}

void register_resources(server::server& srv) {
  auto text_resource = [&](std::string uri, std::string name, std::string title,
                           std::string description, std::string text) {
    protocol::resource r;
    r.uri = uri;
    r.name = std::move(name);
    r.title = std::move(title);
    r.description = std::move(description);
    r.mime_type = "text/plain";
    srv.add_resource(r, [uri, text](context&, const std::string&) {
      return std::vector{protocol::resource_contents::of_text(uri, text, "text/plain")};
    });
  };
  text_resource("test://static-text", "static-text", "Static Text Resource",
                "A static text resource for testing",
                "This is the content of the static text resource.");
  protocol::resource bin;
  bin.uri = "test://static-binary";
  bin.name = "static-binary";
  bin.title = "Static Binary Resource";
  bin.description = "A static binary resource (image) for testing";
  bin.mime_type = "image/png";
  srv.add_resource(bin, [](context&, const std::string&) {
    return std::vector{
        protocol::resource_contents::of_blob("test://static-binary", png_1x1, "image/png")};
  });
  text_resource("test://watched-resource", "watched-resource", "Watched Resource",
                "A resource to subscribe to (test_trigger_resource_update changes it)",
                "Watched resource content");

  protocol::resource_template tmpl;
  tmpl.uri_template = "test://template/{id}/data";
  tmpl.name = "template";
  tmpl.title = "Resource Template";
  tmpl.description = "A resource template with parameter substitution";
  tmpl.mime_type = "application/json";
  srv.add_resource_template(
      tmpl,
      [](context&, const std::string& uri, const std::map<std::string, std::string>& vars)
          -> std::optional<std::vector<protocol::resource_contents>> {
        const auto& id = vars.at("id");
        if (id.empty()) return std::nullopt;
        json::object body{{"id", id}, {"templateTest", true}, {"data", "Data for ID: " + id}};
        return std::vector{
            protocol::resource_contents::of_text(uri, json::dump(body), "application/json")};
      });
  srv.add_resource_completion(
      "test://template/{id}/data",
      [](const std::string&, const std::string& value, const std::map<std::string, std::string>&) {
        completion c;
        for (const char* v : {"1", "2", "3", "123"})
          if (std::string_view(v).starts_with(value)) c.values.push_back(v);
        return c;
      });
}

void register_prompts(server::server& srv) {
  auto user_text = [](std::string text) {
    return protocol::prompt_message{"user", content::text(std::move(text))};
  };
  srv.add_prompt(
      {.name = "test_simple_prompt",
       .title = "Simple Test Prompt",
       .description = "A simple prompt without arguments"},
      [user_text](context&, const auto&) {
        return get_prompt_result{std::nullopt, {user_text("This is a simple prompt for testing.")}};
      });
  srv.add_prompt(
      {.name = "test_prompt_with_arguments",
       .title = "Prompt With Arguments",
       .description = "A prompt with required arguments",
       .arguments = {{.name = "arg1", .description = "First test argument", .required = true},
                     {.name = "arg2", .description = "Second test argument", .required = true}}},
      [user_text](context&, const std::map<std::string, std::string>& args) {
        return get_prompt_result{std::nullopt,
                                 {user_text("Prompt with arguments: arg1='" + args.at("arg1") +
                                            "', arg2='" + args.at("arg2") + "'")}};
      });
  srv.add_prompt_completion(
      "test_prompt_with_arguments", [](const std::string& arg, const std::string& value,
                                       const std::map<std::string, std::string>&) {
        completion c;
        std::vector<std::string> pool = arg == "arg1"
                                            ? std::vector<std::string>{"paris", "park", "parade"}
                                            : std::vector<std::string>{"red", "green", "blue"};
        for (auto& v : pool)
          if (v.starts_with(value)) c.values.push_back(v);
        return c;
      });
  srv.add_prompt({.name = "test_prompt_with_embedded_resource",
                  .title = "Prompt With Embedded Resource",
                  .description = "A prompt that includes an embedded resource",
                  .arguments = {{.name = "resourceUri",
                                 .description = "URI of the resource to embed",
                                 .required = true}}},
                 [user_text](context&, const std::map<std::string, std::string>& args) {
                   return get_prompt_result{
                       std::nullopt,
                       {protocol::prompt_message{
                            "user", content::embedded_text(args.at("resourceUri"),
                                                           "Embedded resource content for testing.",
                                                           "text/plain")},
                        user_text("Please process the embedded resource above.")}};
                 });
  srv.add_prompt({.name = "test_prompt_with_image",
                  .title = "Prompt With Image",
                  .description = "A prompt that includes image content"},
                 [user_text](context&, const auto&) {
                   return get_prompt_result{
                       std::nullopt,
                       {protocol::prompt_message{"user", content::image(png_1x1, "image/png")},
                        user_text("Please analyze the image above.")}};
                 });
  srv.add_prompt({.name = "test_input_required_result_prompt",
                  .title = "Prompt Needing Context",
                  .description = "Asks the user for context (elicitation) before answering"},
                 [user_text](context& ctx, const auto&) {
                   auto r = ctx.elicit("user_context", "What context should the prompt use?",
                                       name_schema("context"));
                   auto c = json::find_string(r.content, "context");
                   return get_prompt_result{
                       std::nullopt,
                       {user_text("Context: " + (c ? std::string(*c) : std::string("none")))}};
                 });
}

}  // namespace

void register_everything(server::server& srv) {
  register_tools(srv);
  register_resources(srv);
  register_prompts(srv);
}

std::unique_ptr<server::server> make_everything_server(server::server_options options) {
  options.enable_completions = true;
  if (!options.instructions)
    options.instructions =
        "The Plexus everything server: every MCP feature, for testing clients and gateways.";
  auto srv = std::make_unique<server::server>(
      protocol::implementation{.name = "plexus-everything",
                               .version = PLEXUS_VERSION,
                               .title = "Plexus Everything Server"},
      std::move(options));
  register_everything(*srv);
  return srv;
}

}  // namespace plexus::servers
