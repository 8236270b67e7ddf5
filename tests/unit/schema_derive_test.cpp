#include "plexus/schema/derive.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace schema_derive_test {

enum class units { metric, imperial };
BOOST_DESCRIBE_ENUM(units, metric, imperial)

struct forecast_args {
  std::string city;
  std::optional<int> days;
  units unit = units::metric;
  std::vector<std::string> fields;
};
BOOST_DESCRIBE_STRUCT(forecast_args, (), (city, days, unit, fields))

struct address {
  std::string street;
  std::uint8_t floor = 0;
};
BOOST_DESCRIBE_STRUCT(address, (), (street, floor))

struct person {
  std::string name;
  address home;
  std::optional<address> work;
  std::vector<address> others;
  std::map<std::string, double> scores;
};
BOOST_DESCRIBE_STRUCT(person, (), (name, home, work, others, scores))

struct all_optional {
  std::optional<bool> a;
  std::optional<std::string> type_;
};
BOOST_DESCRIBE_STRUCT(all_optional, (), (a, type_))

struct wrapper {
  boost::json::value any;
  boost::json::object obj;
  boost::json::array arr;
  std::variant<int, std::string> either;
  std::array<float, 2> pair{};
};
BOOST_DESCRIBE_STRUCT(wrapper, (), (any, obj, arr, either, pair))

struct geo {
  double lat = 0;
  double lon = 0;
};

}  // namespace schema_derive_test

template <>
struct plexus::json::adapter<schema_derive_test::geo> {
  static value to_json(const schema_derive_test::geo& g) { return array{g.lat, g.lon}; }
  static plexus::expected<schema_derive_test::geo, conversion_error> from_json(const value&) {
    return schema_derive_test::geo{};
  }
  static boost::json::object schema() { return {{"type", "array"}, {"prefixItems", array{}}}; }
};

namespace {

using namespace schema_derive_test;
using plexus::schema::derive;

boost::json::value parse(std::string_view s) {
  return boost::json::parse(s);
}

TEST(SchemaDerive, Scalars) {
  EXPECT_EQ(derive<bool>(), parse(R"({"type":"boolean"})"));
  EXPECT_EQ(derive<double>(), parse(R"({"type":"number"})"));
  EXPECT_EQ(derive<float>(), parse(R"({"type":"number"})"));
  EXPECT_EQ(derive<std::string>(), parse(R"({"type":"string"})"));
  EXPECT_EQ(derive<units>(), parse(R"({"type":"string","enum":["metric","imperial"]})"));
}

TEST(SchemaDerive, IntegerBounds) {
  EXPECT_EQ(derive<std::uint8_t>(), parse(R"({"type":"integer","minimum":0,"maximum":255})"));
  EXPECT_EQ(derive<std::int8_t>(), parse(R"({"type":"integer","minimum":-128,"maximum":127})"));
  EXPECT_EQ(derive<std::int16_t>(),
            parse(R"({"type":"integer","minimum":-32768,"maximum":32767})"));
  EXPECT_EQ(derive<int>(),
            parse(R"({"type":"integer","minimum":-2147483648,"maximum":2147483647})"));
  EXPECT_EQ(derive<std::uint32_t>(),
            parse(R"({"type":"integer","minimum":0,"maximum":4294967295})"));
  EXPECT_EQ(derive<std::int64_t>(), parse(R"({"type":"integer"})"));
  EXPECT_EQ(derive<std::uint64_t>(), parse(R"({"type":"integer","minimum":0})"));
}

TEST(SchemaDerive, Containers) {
  EXPECT_EQ(derive<std::vector<int>>(),
            parse(R"({"type":"array","items":{"type":"integer","minimum":-2147483648,)"
                  R"("maximum":2147483647}})"));
  EXPECT_EQ((derive<std::array<bool, 3>>()),
            parse(R"({"type":"array","items":{"type":"boolean"},"minItems":3,"maxItems":3})"));
  EXPECT_EQ((derive<std::map<std::string, std::string>>()),
            parse(R"({"type":"object","additionalProperties":{"type":"string"}})"));
  EXPECT_EQ((derive<std::unordered_map<std::string, units>>()),
            parse(R"({"type":"object","additionalProperties":)"
                  R"({"type":"string","enum":["metric","imperial"]}})"));
  EXPECT_EQ(derive<std::optional<bool>>(),
            parse(R"({"anyOf":[{"type":"boolean"},{"type":"null"}]})"));
}

TEST(SchemaDerive, JsonTypesAndVariant) {
  EXPECT_EQ(derive<boost::json::value>(), parse("{}"));
  EXPECT_EQ(derive<boost::json::object>(), parse(R"({"type":"object"})"));
  EXPECT_EQ(derive<boost::json::array>(), parse(R"({"type":"array"})"));
  EXPECT_EQ((derive<std::variant<bool, std::string>>()),
            parse(R"({"anyOf":[{"type":"boolean"},{"type":"string"}]})"));
  EXPECT_EQ(derive<wrapper>(), parse(R"({
    "type":"object",
    "properties":{
      "any":{},
      "obj":{"type":"object"},
      "arr":{"type":"array"},
      "either":{"anyOf":[{"type":"integer","minimum":-2147483648,"maximum":2147483647},
                         {"type":"string"}]},
      "pair":{"type":"array","items":{"type":"number"},"minItems":2,"maxItems":2}
    },
    "required":["any","obj","arr","either","pair"],
    "additionalProperties":false})"));
}

TEST(SchemaDerive, SampleStructExact) {
  EXPECT_EQ(boost::json::serialize(derive<forecast_args>()),
            R"({"type":"object","properties":{"city":{"type":"string"},)"
            R"("days":{"type":"integer","minimum":-2147483648,"maximum":2147483647},)"
            R"("unit":{"type":"string","enum":["metric","imperial"]},)"
            R"("fields":{"type":"array","items":{"type":"string"}}},)"
            R"("required":["city","unit","fields"],"additionalProperties":false})");
}

TEST(SchemaDerive, NestedStructs) {
  const boost::json::value address_schema = parse(R"({"type":"object","properties":{
      "street":{"type":"string"},"floor":{"type":"integer","minimum":0,"maximum":255}},
      "required":["street","floor"],"additionalProperties":false})");
  boost::json::object expected = parse(R"({"type":"object","properties":{
      "name":{"type":"string"},
      "home":null, "work":null, "others":{"type":"array","items":null},
      "scores":{"type":"object","additionalProperties":{"type":"number"}}},
      "required":["name","home","others","scores"],"additionalProperties":false})")
                                     .as_object();
  auto& props = expected["properties"].as_object();
  props["home"] = address_schema;
  props["work"] = address_schema;
  props["others"].as_object()["items"] = address_schema;
  EXPECT_EQ(derive<person>(), expected);
}

TEST(SchemaDerive, AllOptionalOmitsRequiredAndRenames) {
  EXPECT_EQ(boost::json::serialize(derive<all_optional>()),
            R"({"type":"object","properties":{"a":{"type":"boolean"},"type":{"type":"string"}},)"
            R"("additionalProperties":false})");
}

TEST(SchemaDerive, NoSchemaKeywordAtRoot) {
  EXPECT_FALSE(derive<forecast_args>().contains("$schema"));
}

TEST(SchemaDerive, Adapter) {
  EXPECT_EQ(derive<geo>(), parse(R"({"type":"array","prefixItems":[]})"));
  EXPECT_EQ(derive<std::vector<geo>>(),
            parse(R"({"type":"array","items":{"type":"array","prefixItems":[]}})"));
}

TEST(SchemaDerive, Annotations) {
  auto s = derive<forecast_args>({{"days", {{"minimum", 1}, {"maximum", 16}}},
                                  {"city", {{"description", "City name"}}},
                                  {"", {{"title", "Forecast"}}},
                                  {"fields/*", {{"minLength", 1}}}});
  EXPECT_EQ(s["title"], "Forecast");
  EXPECT_EQ(s.at("properties").at("city"), parse(R"({"type":"string","description":"City name"})"));
  EXPECT_EQ(s.at("properties").at("days"), parse(R"({"type":"integer","minimum":1,"maximum":16})"));
  EXPECT_EQ(s.at("properties").at("fields").at("items"),
            parse(R"({"type":"string","minLength":1})"));
}

TEST(SchemaDerive, AnnotationsOnNestedProperties) {
  auto s = derive<person>({{"home/floor", {{"minimum", 1}}},
                           {"/work/street", {{"description", "Office street"}}},
                           {"others/*/floor", {{"maximum", 100}}},
                           {"scores/*", {{"minimum", 0}}}});
  const auto& props = s.at("properties");
  EXPECT_EQ(props.at("home").at("properties").at("floor"),
            parse(R"({"type":"integer","minimum":1,"maximum":255})"));
  EXPECT_EQ(props.at("work").at("properties").at("street"),
            parse(R"({"type":"string","description":"Office street"})"));
  EXPECT_EQ(props.at("others").at("items").at("properties").at("floor"),
            parse(R"({"type":"integer","minimum":0,"maximum":100})"));
  EXPECT_EQ(props.at("scores").at("additionalProperties"),
            parse(R"({"type":"number","minimum":0})"));
  // The unannotated schema is unchanged.
  EXPECT_EQ(derive<person>().at("properties").at("home").at("properties").at("floor"),
            parse(R"({"type":"integer","minimum":0,"maximum":255})"));
}

TEST(SchemaDerive, BadAnnotationPathThrows) {
  EXPECT_THROW((void)derive<forecast_args>({{"cty", {{"description", "x"}}}}),
               std::invalid_argument);
  EXPECT_THROW((void)derive<person>({{"home/nope", {{"description", "x"}}}}),
               std::invalid_argument);
  EXPECT_THROW((void)derive<forecast_args>({{"city/*", {{"description", "x"}}}}),
               std::invalid_argument);
  try {
    (void)derive<person>({{"home/nope", {}}});
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 R"(plexus::schema::derive: annotation path "home/nope": no property "nope")");
  }
}

}  // namespace
