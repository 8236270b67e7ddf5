// Tests for plexus::schema::validator: API behaviour, DoS bounds, and the official JSON Schema
// Test Suite (draft 2020-12 and draft-07; required cases must all pass, optional ones are counted).
#include "plexus/schema/validator.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using plexus::schema::compile_options;
using plexus::schema::dialect;
using plexus::schema::validator;

const std::string kSuite = PLEXUS_SHARED_DIR "/json-schema-test-suite";

boost::json::value parse(std::string_view text) {
  boost::json::parse_options opt;
  opt.max_depth = 1024;
  return boost::json::parse(text, {}, opt);
}

boost::json::value parse_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str());
}

validator compile_ok(std::string_view schema, const compile_options& opt = {}) {
  auto v = validator::compile(parse(schema), opt);
  EXPECT_TRUE(v.has_value()) << (v ? std::string() : v.error());
  return std::move(v).value();
}

// Serves http://localhost:1234/... from the suite's remotes/ folder (never the network).
class remote_store {
 public:
  const boost::json::value* get(std::string_view uri) {
    constexpr std::string_view prefix = "http://localhost:1234/";
    if (uri.substr(0, prefix.size()) != prefix) return nullptr;
    std::string key(uri.substr(prefix.size()));
    auto it = docs_.find(key);
    if (it == docs_.end()) {
      fs::path p = fs::path(kSuite) / "remotes" / key;
      if (!fs::is_regular_file(p)) return nullptr;
      it = docs_.emplace(key, parse_file(p)).first;
    }
    return &it->second;
  }

 private:
  std::map<std::string, boost::json::value> docs_;
};

struct suite_counts {
  int passed = 0;
  int failed = 0;
  std::vector<std::string> failures;
};

void run_file(const fs::path& file, dialect d, bool assert_format, remote_store& remotes,
              suite_counts& counts) {
  auto groups = parse_file(file);
  for (const auto& g : groups.as_array()) {
    const auto& group = g.as_object();
    compile_options opt;
    opt.default_dialect = d;
    opt.assert_format = assert_format;
    opt.resolve_remote = [&remotes](std::string_view uri) { return remotes.get(uri); };
    auto v = validator::compile(group.at("schema"), opt);
    for (const auto& t : group.at("tests").as_array()) {
      const auto& test = t.as_object();
      std::string name = file.filename().string() + " | " +
                         std::string(group.at("description").as_string()) + " | " +
                         std::string(test.at("description").as_string());
      bool expected = test.at("valid").as_bool();
      if (!v) {
        ++counts.failed;
        counts.failures.push_back(name + " (compile error: " + v.error() + ")");
        continue;
      }
      bool got = v->is_valid(test.at("data"));
      bool consistent = v->validate(test.at("data")).empty() == got;
      if (got == expected && consistent) {
        ++counts.passed;
      } else {
        ++counts.failed;
        counts.failures.push_back(name + (consistent ? "" : " (validate/is_valid disagree)"));
      }
    }
  }
}

suite_counts run_dir(const fs::path& dir, dialect d, bool assert_format, bool recursive) {
  remote_store remotes;
  suite_counts counts;
  std::vector<fs::path> files;
  if (recursive) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    }
  } else {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) run_file(f, d, assert_format, remotes, counts);
  return counts;
}

void print(const std::string& label, const suite_counts& c, std::size_t max_failures) {
  std::cout << "[schema suite] " << label << ": passed " << c.passed << ", failed " << c.failed
            << "\n";
  for (std::size_t i = 0; i < c.failures.size() && i < max_failures; ++i) {
    std::cout << "    FAIL " << c.failures[i] << "\n";
  }
}

// ---------------------------------------------------------------------------------------------
// Official suite

TEST(SchemaSuite, Draft2020_12RequiredAllPass) {
  auto c =
      run_dir(fs::path(kSuite) / "tests" / "draft2020-12", dialect::draft2020_12, false, false);
  print("draft2020-12 required", c, 50);
  EXPECT_GT(c.passed, 1000);
  EXPECT_EQ(c.failed, 0);
}

TEST(SchemaSuite, Draft7RequiredAllPass) {
  auto c = run_dir(fs::path(kSuite) / "tests" / "draft7", dialect::draft7, false, false);
  print("draft7 required", c, 50);
  EXPECT_GT(c.passed, 800);
  EXPECT_EQ(c.failed, 0);
}

TEST(SchemaSuite, OptionalCounts) {
  struct run {
    const char* label;
    const char* dir;
    dialect d;
  };
  for (auto r : {run{"draft2020-12", "draft2020-12", dialect::draft2020_12},
                 run{"draft7", "draft7", dialect::draft7}}) {
    fs::path base = fs::path(kSuite) / "tests" / r.dir / "optional";
    suite_counts other;
    {
      remote_store remotes;
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(base)) {
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) run_file(f, r.d, false, remotes, other);
    }
    auto formats = run_dir(base / "format", r.d, true, true);
    print(std::string(r.label) + " optional (non-format)", other, 20);
    print(std::string(r.label) + " optional/format (assert_format=true)", formats, 0);
  }
}

// ---------------------------------------------------------------------------------------------
// API

TEST(SchemaValidator, DefaultDialectAndSchemaKeyword) {
  EXPECT_EQ(compile_ok(R"({"type":"object"})").schema_dialect(), dialect::draft2020_12);
  EXPECT_EQ(compile_ok(R"({"$schema":"http://json-schema.org/draft-07/schema#"})").schema_dialect(),
            dialect::draft7);
  compile_options opt;
  opt.default_dialect = dialect::draft7;
  EXPECT_EQ(compile_ok("{}", opt).schema_dialect(), dialect::draft7);
  EXPECT_EQ(compile_ok(R"({"$schema":"https://json-schema.org/draft/2020-12/schema"})", opt)
                .schema_dialect(),
            dialect::draft2020_12);
}

TEST(SchemaValidator, UnsupportedDialectIsCompileError) {
  auto v = validator::compile(parse(R"({"$schema":"http://json-schema.org/draft-04/schema#"})"));
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().find("unsupported dialect"), std::string::npos) << v.error();
}

TEST(SchemaValidator, ErrorsCarryPathsAndMessages) {
  auto v = compile_ok(R"({
    "type": "object",
    "required": ["a", "address"],
    "properties": {
      "address": {"type": "object", "properties": {"city": {"type": "integer"}}}
    }
  })");
  auto errors = v.validate(parse(R"({"address": {"city": "Paris"}})"));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].instance_path, "");
  EXPECT_EQ(errors[0].keyword_path, "/required");
  EXPECT_EQ(errors[0].message, "missing required property \"a\"");
  EXPECT_EQ(errors[1].instance_path, "/address/city");
  EXPECT_EQ(errors[1].keyword_path, "/properties/address/properties/city/type");
  EXPECT_EQ(errors[1].message, "expected integer, got string");
  EXPECT_FALSE(v.is_valid(parse(R"({"address": {"city": "Paris"}})")));
  EXPECT_TRUE(v.is_valid(parse(R"({"a": 1, "address": {"city": 75}})")));
}

TEST(SchemaValidator, KeywordPathFollowsRef) {
  auto v = compile_ok(R"({"$defs": {"n": {"type": "number"}}, "items": {"$ref": "#/$defs/n"}})");
  auto errors = v.validate(parse(R"([1, "x"])"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].instance_path, "/1");
  EXPECT_EQ(errors[0].keyword_path, "/items/$ref/type");
}

TEST(SchemaValidator, InstancePathEscapesPointerCharacters) {
  auto v = compile_ok(R"({"additionalProperties": false})");
  auto errors = v.validate(parse(R"({"a/b~c": 1})"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].instance_path, "/a~1b~0c");
  EXPECT_EQ(errors[0].keyword_path, "/additionalProperties");
  EXPECT_NE(errors[0].message.find("not allowed"), std::string::npos);
}

TEST(SchemaValidator, MaxErrorsCapsTheReport) {
  compile_options opt;
  opt.bounds.max_errors = 3;
  auto v = compile_ok(R"({"items": {"type": "string"}})", opt);
  EXPECT_EQ(v.validate(parse("[1,2,3,4,5,6,7,8,9,10]")).size(), 3u);
}

TEST(SchemaValidator, NumericEqualityAndUnicodeLength) {
  auto v = compile_ok(R"({"const": 1})");
  EXPECT_TRUE(v.is_valid(parse("1.0")));
  auto e = compile_ok(R"({"enum": [[1, {"a": 2}]]})");
  EXPECT_TRUE(e.is_valid(parse(R"([1.0, {"a": 2.0}])")));
  auto len = compile_ok(R"({"maxLength": 2, "minLength": 2})");
  EXPECT_TRUE(len.is_valid(parse(R"("\u00e9\ud83d\udca9")")));  // 2 code points, 6 bytes
  EXPECT_FALSE(len.is_valid(parse(R"("abc")")));
  auto mul = compile_ok(R"({"multipleOf": 0.01})");
  EXPECT_TRUE(mul.is_valid(parse("19.99")));
  EXPECT_FALSE(mul.is_valid(parse("19.995")));
}

TEST(SchemaValidator, UnevaluatedPropertiesSeeThroughApplicators) {
  auto v = compile_ok(R"({
    "allOf": [{"properties": {"a": true}}],
    "anyOf": [{"properties": {"b": true}}, {"required": ["c"], "properties": {"c": true}}],
    "unevaluatedProperties": false
  })");
  EXPECT_TRUE(v.is_valid(parse(R"({"a": 1, "b": 2})")));
  EXPECT_TRUE(v.is_valid(parse(R"({"a": 1, "c": 2})")));
  EXPECT_FALSE(v.is_valid(parse(R"({"a": 1, "d": 2})")));
  auto errors = v.validate(parse(R"({"d": 2})"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].instance_path, "/d");
  EXPECT_EQ(errors[0].keyword_path, "/unevaluatedProperties");
}

TEST(SchemaValidator, Draft7RefOverridesSiblings) {
  auto v = compile_ok(R"({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": {"s": {"type": "string"}},
    "properties": {"x": {"$ref": "#/definitions/s", "maxLength": 1}}
  })");
  EXPECT_TRUE(v.is_valid(parse(R"({"x": "long string"})")));
  EXPECT_FALSE(v.is_valid(parse(R"({"x": 5})")));
}

TEST(SchemaValidator, MetaschemaRefIsBuiltIn) {
  auto v = compile_ok(R"({"$ref": "https://json-schema.org/draft/2020-12/schema"})");
  EXPECT_TRUE(v.is_valid(parse(R"({"type": "string", "minLength": 1})")));
  EXPECT_FALSE(v.is_valid(parse(R"({"minLength": -1})")));
  auto d7 = compile_ok(R"({"$ref": "http://json-schema.org/draft-07/schema#"})");
  EXPECT_FALSE(d7.is_valid(parse(R"({"type": 12})")));
}

TEST(SchemaValidator, RemoteRefsGoThroughTheResolverOnly) {
  auto v = validator::compile(parse(R"({"$ref": "https://example.com/x"})"));
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().find("https://example.com/x"), std::string::npos) << v.error();
  EXPECT_NE(v.error().find("never fetched"), std::string::npos) << v.error();

  boost::json::value remote = parse(R"({"type": "integer"})");
  std::vector<std::string> asked;
  compile_options opt;
  opt.resolve_remote = [&](std::string_view uri) -> const boost::json::value* {
    asked.emplace_back(uri);
    return uri == "https://example.com/x" ? &remote : nullptr;
  };
  auto ok = validator::compile(parse(R"({"$ref": "https://example.com/x#"})"), opt);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(asked, std::vector<std::string>{"https://example.com/x"});
  remote = parse(R"({"type": "string"})");  // the compiled validator holds its own copy
  EXPECT_TRUE(ok->is_valid(parse("3")));
  EXPECT_FALSE(ok->is_valid(parse("\"3\"")));
}

TEST(SchemaValidator, FormatIsAnnotationUnlessAsserted) {
  EXPECT_TRUE(compile_ok(R"({"format": "email"})").is_valid(parse(R"("nope")")));
  compile_options opt;
  opt.assert_format = true;
  auto v = compile_ok(R"({"format": "email"})", opt);
  EXPECT_FALSE(v.is_valid(parse(R"("nope")")));
  EXPECT_TRUE(v.is_valid(parse(R"("a@example.com")")));
}

TEST(SchemaValidator, InvalidSchemasAreCompileErrors) {
  EXPECT_FALSE(validator::compile(parse(R"({"type": "strin"})")));
  EXPECT_FALSE(validator::compile(parse(R"({"minLength": -1})")));
  EXPECT_FALSE(validator::compile(parse(R"({"pattern": "("})")));
  EXPECT_FALSE(validator::compile(parse(R"({"$ref": "#/$defs/missing"})")));
  EXPECT_FALSE(validator::compile(parse("42")));
}

TEST(SchemaValidator, SharedAcrossThreads) {
  auto v =
      compile_ok(R"({"type": "array", "items": {"type": "integer"}, "unevaluatedItems": false})");
  auto good = parse("[1,2,3]");
  auto bad = parse("[1,\"x\"]");
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, copy = v] {
      for (int i = 0; i < 500; ++i) {
        if (!copy.is_valid(good) || copy.is_valid(bad) || copy.validate(bad).size() != 1) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// DoS bounds

boost::json::value nested_arrays(int depth) {
  boost::json::value v = boost::json::array{};
  for (int i = 1; i < depth; ++i) {
    boost::json::array a;
    a.push_back(std::move(v));
    v = std::move(a);
  }
  return v;
}

TEST(SchemaValidatorDoS, DeeplyNestedInstanceIsRejectedCleanly) {
  auto v = compile_ok(R"({"$defs": {"a": {"type": "array", "items": {"$ref": "#/$defs/a"}}},
                          "$ref": "#/$defs/a"})");
  auto deep = nested_arrays(10000);
  EXPECT_FALSE(v.is_valid(deep));
  auto errors = v.validate(deep);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("nesting depth exceeds"), std::string::npos);
  EXPECT_TRUE(v.is_valid(nested_arrays(60)));
  // Even a schema that ignores the structure refuses to walk it.
  EXPECT_FALSE(compile_ok("{}").is_valid(deep));
}

TEST(SchemaValidatorDoS, DeeplyNestedSchemaFailsToCompile) {
  std::string s;
  for (int i = 0; i < 500; ++i) s += R"({"not":)";
  s += "{}";
  for (int i = 0; i < 500; ++i) s += "}";
  auto v = validator::compile(parse(s));
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().find("maximum depth"), std::string::npos) << v.error();
}

TEST(SchemaValidatorDoS, TooManySubschemasFailsToCompile) {
  compile_options opt;
  opt.bounds.max_subschemas = 100;
  boost::json::object props;
  for (int i = 0; i < 200; ++i) props["p" + std::to_string(i)] = boost::json::object{};
  boost::json::value schema = {{"properties", props}};
  auto v = validator::compile(schema, opt);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().find("more than 100 subschemas"), std::string::npos) << v.error();
}

TEST(SchemaValidatorDoS, ExponentialSchemaHitsStepBudget) {
  // d0 -> anyOf [d1, d1] -> ... -> d29: 2^30 evaluations without a budget.
  boost::json::object defs;
  for (int i = 0; i < 30; ++i) {
    std::string next = "#/$defs/d" + std::to_string(i + 1);
    defs["d" + std::to_string(i)] = {
        {"anyOf", boost::json::array{{{"$ref", next}}, {{"$ref", next}, {"minimum", 0}}}}};
  }
  defs["d30"] = {{"type", "string"}};
  boost::json::value schema = {{"$defs", defs}, {"$ref", "#/$defs/d0"}};
  auto v = validator::compile(schema);
  ASSERT_TRUE(v) << v.error();
  EXPECT_FALSE(v->is_valid(boost::json::value(1)));
  auto errors = v->validate(boost::json::value(1));
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors.back().message.find("budget"), std::string::npos) << errors.back().message;
  EXPECT_TRUE(v->is_valid(boost::json::value("s")));
}

TEST(SchemaValidatorDoS, UniqueItemsOnLargeArraysStaysCheap) {
  auto v = compile_ok(R"({"uniqueItems": true})");
  boost::json::array big;
  for (int i = 0; i < 50000; ++i) big.push_back(i);
  EXPECT_TRUE(v.is_valid(big));
  big.push_back(123.0);  // equal to 123
  auto errors = v.validate(big);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "array items 123 and 50000 are equal, but items must be unique");
}

TEST(SchemaValidatorDoS, InfiniteRefLoopIsBounded) {
  auto v = compile_ok(R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                          "$ref": "#/$defs/a"})");
  auto errors = v.validate(parse("1"));
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors.back().message.find("nested deeper"), std::string::npos)
      << errors.back().message;
}

TEST(SchemaValidatorDoS, CatastrophicRegexIsBounded) {
  auto v = compile_ok(R"({"pattern": "^(a+)+$"})");
  std::string s(64, 'a');
  s += "!";
  auto errors = v.validate(boost::json::value(s));
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors.back().message.find("complexity"), std::string::npos) << errors.back().message;
}

}  // namespace
