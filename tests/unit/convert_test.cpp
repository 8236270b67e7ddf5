#include "plexus/json/convert.hpp"

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

namespace convert_test {

enum class units { metric, imperial };
BOOST_DESCRIBE_ENUM(units, metric, imperial)

enum class keyword { default_, delete_ };
BOOST_DESCRIBE_ENUM(keyword, default_, delete_)

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
};
BOOST_DESCRIBE_STRUCT(person, (), (name, home, work, others))

struct renamed {
  std::string type_;
  int content_type = 0;
};
BOOST_DESCRIBE_STRUCT(renamed, (), (type_, content_type))

struct base {
  int id = 0;
};
BOOST_DESCRIBE_STRUCT(base, (), (id))
struct derived : base {
  bool flag = false;
};
BOOST_DESCRIBE_STRUCT(derived, (base), (flag))

struct node {
  std::string label;
  std::vector<node> children;
};
BOOST_DESCRIBE_STRUCT(node, (), (label, children))

struct point {
  int x = 0;
  int y = 0;
  bool operator==(const point&) const = default;
};

}  // namespace convert_test

template <>
struct plexus::json::name_policy<convert_test::renamed> {
  static constexpr std::string_view json_name(std::string_view n) noexcept {
    return n == "content_type" ? "content-type" : plexus::json::strip_trailing_underscore(n);
  }
};

template <>
struct plexus::json::adapter<convert_test::point> {
  static value to_json(const convert_test::point& p) { return array{p.x, p.y}; }
  static plexus::expected<convert_test::point, conversion_error> from_json(const value& v) {
    auto a = plexus::json::from_json<std::array<int, 2>>(v);
    if (!a) return plexus::unexpected{a.error()};
    return convert_test::point{(*a)[0], (*a)[1]};
  }
};

namespace {

using namespace convert_test;
using plexus::json::from_json;
using plexus::json::to_json;
using plexus::json::value;

using int2 = std::array<int, 2>;
using str_int_map = std::map<std::string, int>;

value parse(std::string_view s) {
  return boost::json::parse(s);
}

template <class T>
plexus::json::conversion_error error_of(std::string_view json) {
  auto r = from_json<T>(parse(json));
  EXPECT_FALSE(r.has_value()) << json;
  if (r) return {};
  return r.error();
}

#define EXPECT_CONV_ERROR(T, json, path_, message_) \
  do {                                              \
    auto e_ = error_of<T>(json);                    \
    EXPECT_EQ(e_.path, path_) << json;              \
    EXPECT_EQ(e_.message, message_) << json;        \
  } while (0)

TEST(Convert, Bool) {
  EXPECT_EQ(to_json(true), value(true));
  EXPECT_EQ(*from_json<bool>(parse("false")), false);
  EXPECT_CONV_ERROR(bool, "1", "", "expected boolean, got integer");
}

TEST(Convert, IntegersToJson) {
  EXPECT_EQ(to_json(42), value(42));
  EXPECT_EQ(to_json(std::int64_t{-5}), value(-5));
  EXPECT_EQ(to_json(std::uint8_t{255}), value(255));
  EXPECT_EQ(to_json(UINT64_MAX).as_uint64(), UINT64_MAX);
  EXPECT_TRUE(to_json(std::uint32_t{7}).is_int64());
}

TEST(Convert, IntegersFromJson) {
  EXPECT_EQ(*from_json<int>(parse("-12")), -12);
  EXPECT_EQ(*from_json<int>(parse("1.0")), 1);
  EXPECT_EQ(*from_json<std::uint8_t>(parse("255")), 255);
  EXPECT_EQ(*from_json<std::int8_t>(parse("-128")), -128);
  EXPECT_EQ(*from_json<std::uint64_t>(parse("18446744073709551615")), UINT64_MAX);
  EXPECT_EQ(*from_json<std::int64_t>(parse("-9223372036854775808")), INT64_MIN);
  EXPECT_EQ(*from_json<std::int64_t>(parse("1e3")), 1000);
}

TEST(Convert, IntegerErrors) {
  EXPECT_CONV_ERROR(int, R"("3")", "", "expected integer, got string");
  EXPECT_CONV_ERROR(int, "1.5", "", "expected integer, got non-integral number 1.5");
  EXPECT_CONV_ERROR(std::uint8_t, "300", "", "value 300 out of range for uint8");
  EXPECT_CONV_ERROR(std::uint8_t, "-1", "", "value -1 out of range for uint8");
  EXPECT_CONV_ERROR(std::int8_t, "128", "", "value 128 out of range for int8");
  EXPECT_CONV_ERROR(int, "2147483648", "", "value 2147483648 out of range for int32");
  EXPECT_CONV_ERROR(std::uint32_t, "-1.0", "", "value -1.0 out of range for uint32");
  EXPECT_CONV_ERROR(std::int64_t, "9223372036854775808", "",
                    "value 9223372036854775808 out of range for int64");
  EXPECT_CONV_ERROR(std::uint64_t, "1e20", "", "value 1e+20 out of range for uint64");
  EXPECT_CONV_ERROR(std::int64_t, "-1e19", "", "value -1e+19 out of range for int64");
  EXPECT_CONV_ERROR(int, "null", "", "expected integer, got null");
}

TEST(Convert, Floating) {
  EXPECT_EQ(to_json(2.5), value(2.5));
  EXPECT_EQ(*from_json<double>(parse("2.5")), 2.5);
  EXPECT_EQ(*from_json<double>(parse("3")), 3.0);
  EXPECT_EQ(*from_json<double>(parse("18446744073709551615")), 18446744073709551615.0);
  EXPECT_EQ(*from_json<float>(parse("0.5")), 0.5f);
  EXPECT_CONV_ERROR(double, "true", "", "expected number, got boolean");
  EXPECT_CONV_ERROR(float, "1e300", "", "value 1e+300 out of range for float");
}

TEST(Convert, Strings) {
  EXPECT_EQ(to_json(std::string("hi")), value("hi"));
  EXPECT_EQ(to_json(std::string_view("sv")), value("sv"));
  EXPECT_EQ(*from_json<std::string>(parse(R"("x\u0000y")")), std::string("x\0y", 3));
  EXPECT_CONV_ERROR(std::string, "[]", "", "expected string, got array");
}

TEST(Convert, Enums) {
  EXPECT_EQ(to_json(units::imperial), value("imperial"));
  EXPECT_EQ(*from_json<units>(parse(R"("metric")")), units::metric);
  EXPECT_CONV_ERROR(units, R"("kelvin")", "",
                    R"(unknown enum value "kelvin", expected one of metric, imperial)");
  EXPECT_CONV_ERROR(units, "0", "", "expected string, got integer");
  EXPECT_THROW((void)to_json(static_cast<units>(7)), std::invalid_argument);
}

TEST(Convert, EnumNamesStripTrailingUnderscore) {
  EXPECT_EQ(to_json(keyword::default_), value("default"));
  EXPECT_EQ(*from_json<keyword>(parse(R"("delete")")), keyword::delete_);
  EXPECT_CONV_ERROR(keyword, R"("delete_")", "",
                    R"(unknown enum value "delete_", expected one of default, delete)");
}

TEST(Convert, TopLevelOptional) {
  EXPECT_EQ(to_json(std::optional<int>{}), value(nullptr));
  EXPECT_EQ(to_json(std::optional<int>{3}), value(3));
  EXPECT_EQ(*from_json<std::optional<int>>(parse("null")), std::nullopt);
  EXPECT_EQ(*from_json<std::optional<int>>(parse("4")), 4);
}

TEST(Convert, Vectors) {
  EXPECT_EQ(to_json(std::vector<int>{1, 2}), parse("[1,2]"));
  EXPECT_EQ(to_json(std::vector<bool>{true, false}), parse("[true,false]"));
  EXPECT_EQ(*from_json<std::vector<std::string>>(parse(R"(["a","b"])")),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*from_json<std::vector<bool>>(parse("[true]")), std::vector<bool>{true});
  EXPECT_EQ(to_json(std::vector<std::optional<int>>{1, std::nullopt}), parse("[1,null]"));
  EXPECT_CONV_ERROR(std::vector<int>, "[1,2,\"x\"]", "/2", "expected integer, got string");
  EXPECT_CONV_ERROR(std::vector<int>, "{}", "", "expected array, got object");
}

TEST(Convert, StdArray) {
  EXPECT_EQ(to_json(std::array<int, 3>{1, 2, 3}), parse("[1,2,3]"));
  EXPECT_EQ((*from_json<std::array<int, 2>>(parse("[4,5]"))), (std::array<int, 2>{4, 5}));
  EXPECT_CONV_ERROR(int2, "[1]", "", "expected an array of 2 items, got 1");
}

TEST(Convert, Maps) {
  std::map<std::string, int> m{{"a", 1}, {"b", 2}};
  EXPECT_EQ(to_json(m), parse(R"({"a":1,"b":2})"));
  EXPECT_EQ(*from_json<str_int_map>(parse(R"({"a":1,"b":2})")), m);
  std::unordered_map<std::string, units> u{{"x", units::imperial}};
  EXPECT_EQ(to_json(u), parse(R"({"x":"imperial"})"));
  EXPECT_EQ((*from_json<std::unordered_map<std::string, units>>(parse(R"({"x":"imperial"})"))), u);
  EXPECT_CONV_ERROR(str_int_map, R"({"a/b~":true})", "/a~1b~0", "expected integer, got boolean");
  EXPECT_CONV_ERROR(str_int_map, "[]", "", "expected object, got array");
}

TEST(Convert, JsonValues) {
  const value v = parse(R"({"k":[1,"two",null]})");
  EXPECT_EQ(to_json(v), v);
  EXPECT_EQ(*from_json<value>(v), v);
  EXPECT_EQ(*from_json<boost::json::object>(v), v.get_object());
  EXPECT_EQ(to_json(v.get_object()), v);
  EXPECT_EQ(*from_json<boost::json::array>(parse("[1]")), parse("[1]").get_array());
  EXPECT_EQ(*from_json<boost::json::string>(parse(R"("s")")), "s");
  EXPECT_CONV_ERROR(boost::json::object, "[]", "", "expected object, got array");
  EXPECT_CONV_ERROR(boost::json::array, "{}", "", "expected array, got object");
}

TEST(Convert, Variant) {
  using V = std::variant<int, std::string, std::vector<int>>;
  EXPECT_EQ(to_json(V{5}), value(5));
  EXPECT_EQ(to_json(V{std::string("s")}), value("s"));
  EXPECT_EQ(from_json<V>(parse("5"))->index(), 0u);
  EXPECT_EQ(std::get<std::string>(*from_json<V>(parse(R"("s")"))), "s");
  EXPECT_EQ(std::get<2>(*from_json<V>(parse("[1]"))), std::vector<int>{1});
  // First matching alternative wins.
  using N = std::variant<int, double>;
  EXPECT_EQ(from_json<N>(parse("2"))->index(), 0u);
  EXPECT_EQ(from_json<N>(parse("2.5"))->index(), 1u);
  EXPECT_CONV_ERROR(V, "[true]", "",
                    "value matches none of the alternatives (0: expected integer, got array; 1: "
                    "expected string, got array; 2: /0: expected integer, got boolean)");
}

TEST(Convert, StructToJson) {
  forecast_args a{"Paris", std::nullopt, units::imperial, {"temp", "wind"}};
  EXPECT_EQ(boost::json::serialize(to_json(a)),
            R"({"city":"Paris","unit":"imperial","fields":["temp","wind"]})");
  a.days = 3;
  EXPECT_EQ(boost::json::serialize(to_json(a)),
            R"({"city":"Paris","days":3,"unit":"imperial","fields":["temp","wind"]})");
}

TEST(Convert, StructFromJson) {
  auto r =
      from_json<forecast_args>(parse(R"({"fields":["a"],"unit":"metric","city":"Oslo","days":5})"));
  ASSERT_TRUE(r.has_value()) << plexus::json::to_string(r.error());
  EXPECT_EQ(r->city, "Oslo");
  EXPECT_EQ(r->days, 5);
  EXPECT_EQ(r->unit, units::metric);
  EXPECT_EQ(r->fields, std::vector<std::string>{"a"});
}

TEST(Convert, OptionalMemberAbsentOrNull) {
  auto absent = from_json<forecast_args>(parse(R"({"city":"a","unit":"metric","fields":[]})"));
  ASSERT_TRUE(absent.has_value());
  EXPECT_EQ(absent->days, std::nullopt);
  auto null =
      from_json<forecast_args>(parse(R"({"city":"a","days":null,"unit":"metric","fields":[]})"));
  ASSERT_TRUE(null.has_value());
  EXPECT_EQ(null->days, std::nullopt);
}

TEST(Convert, StructErrors) {
  EXPECT_CONV_ERROR(forecast_args, R"({"unit":"metric","fields":[]})", "",
                    R"(missing required property "city")");
  EXPECT_CONV_ERROR(forecast_args, R"({"cty":"x","unit":"metric","fields":[]})", "",
                    R"(unknown property "cty")");
  EXPECT_CONV_ERROR(forecast_args, R"({"city":"x","days":"3","unit":"metric","fields":[]})",
                    "/days", "expected integer, got string");
  EXPECT_CONV_ERROR(forecast_args, R"({"city":"x","unit":"kelvin","fields":[]})", "/unit",
                    R"(unknown enum value "kelvin", expected one of metric, imperial)");
  EXPECT_CONV_ERROR(forecast_args, R"({"city":"x","unit":"metric","fields":["a",1]})", "/fields/1",
                    "expected string, got integer");
  EXPECT_CONV_ERROR(forecast_args, "[]", "", "expected object, got array");
}

TEST(Convert, StructFromAnObjectReadsItInPlaceWithTheSameRules) {
  // A tool's arguments are read from the object itself (no copy into a value).
  const value v = parse(R"({"fields":["a"],"unit":"metric","city":"Oslo","days":5})");
  auto r = from_json<forecast_args>(v.get_object());
  ASSERT_TRUE(r.has_value()) << plexus::json::to_string(r.error());
  EXPECT_EQ(r->city, "Oslo");
  EXPECT_EQ(r->days, 5);
  const value unknown = parse(R"({"cty":"x","unit":"metric","fields":[]})");
  auto e = from_json<forecast_args>(unknown.get_object());
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(plexus::json::to_string(e.error()),
            plexus::json::to_string(from_json<forecast_args>(unknown).error()));
  const value bad = parse(R"({"city":"x","unit":"metric","fields":["a",1]})");
  auto b = from_json<forecast_args>(bad.get_object());
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.error().path, "/fields/1");
}

TEST(Convert, NestedStructs) {
  person p{"Ann", {"Main St", 3}, std::nullopt, {{"Side St", 0}}};
  const value j = to_json(p);
  EXPECT_EQ(j, parse(R"({"name":"Ann","home":{"street":"Main St","floor":3},)"
                     R"("others":[{"street":"Side St","floor":0}]})"));
  auto back = from_json<person>(j);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(to_json(*back), j);

  EXPECT_CONV_ERROR(person, R"({"name":"a","home":{"street":"s","floor":300},"others":[]})",
                    "/home/floor", "value 300 out of range for uint8");
  EXPECT_CONV_ERROR(person, R"({"name":"a","home":{"street":"s"},"others":[]})", "/home",
                    R"(missing required property "floor")");
  EXPECT_CONV_ERROR(
      person,
      R"({"name":"a","home":{"street":"s","floor":1},"work":{"street":"w","floor":1,"x":1},"others":[]})",
      "/work", R"(unknown property "x")");
  EXPECT_CONV_ERROR(person,
                    R"({"name":"a","home":{"street":"s","floor":1},"others":[{"street":5}]})",
                    "/others/0/street", "expected string, got integer");
}

TEST(Convert, RoundTrip) {
  forecast_args a{"Rome", 7, units::imperial, {"x", "y", "z"}};
  auto back = from_json<forecast_args>(to_json(a));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->city, a.city);
  EXPECT_EQ(back->days, a.days);
  EXPECT_EQ(back->unit, a.unit);
  EXPECT_EQ(back->fields, a.fields);

  person p{"Bo", {"A", 1}, address{"B", 2}, {}};
  auto pb = from_json<person>(to_json(p));
  ASSERT_TRUE(pb.has_value());
  ASSERT_TRUE(pb->work.has_value());
  EXPECT_EQ(pb->work->street, "B");
  EXPECT_EQ(pb->work->floor, 2);
}

TEST(Convert, MemberRenaming) {
  renamed r{"t", 4};
  EXPECT_EQ(boost::json::serialize(to_json(r)), R"({"type":"t","content-type":4})");
  auto back = from_json<renamed>(parse(R"({"type":"u","content-type":5})"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->type_, "u");
  EXPECT_EQ(back->content_type, 5);
  EXPECT_CONV_ERROR(renamed, R"({"type_":"u","content-type":5})", "",
                    R"(unknown property "type_")");
}

TEST(Convert, InheritedMembers) {
  derived d;
  d.id = 9;
  d.flag = true;
  EXPECT_EQ(boost::json::serialize(to_json(d)), R"({"id":9,"flag":true})");
  auto back = from_json<derived>(parse(R"({"id":1,"flag":false})"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->id, 1);
  EXPECT_CONV_ERROR(derived, R"({"flag":false})", "", R"(missing required property "id")");
}

TEST(Convert, RecursiveTypesConvert) {
  node n{"root", {{"a", {}}, {"b", {{"c", {}}}}}};
  const value j = to_json(n);
  auto back = from_json<node>(j);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->children.at(1).children.at(0).label, "c");
  EXPECT_CONV_ERROR(node, R"({"label":"r","children":[{"label":"a","children":[{"label":1}]}]})",
                    "/children/0/children/0/label", "expected string, got integer");
}

TEST(Convert, Adapter) {
  EXPECT_EQ(to_json(point{1, 2}), parse("[1,2]"));
  EXPECT_EQ(*from_json<point>(parse("[3,4]")), (point{3, 4}));
  EXPECT_EQ(to_json(std::vector<point>{{1, 2}}), parse("[[1,2]]"));
  EXPECT_CONV_ERROR(std::vector<point>, R"([[1,"x"]])", "/0/1", "expected integer, got string");
}

TEST(Convert, ErrorToString) {
  EXPECT_EQ(plexus::json::to_string({"/days", "expected integer, got string"}),
            "/days: expected integer, got string");
  EXPECT_EQ(plexus::json::to_string({"", "unknown property \"cty\""}), "unknown property \"cty\"");
}

}  // namespace
