// The README's example: a typed MCP tool server over stdio.
#include <plexus/plexus.hpp>

struct forecast_args {
  std::string city;
  std::optional<int> days;  // optional: not required in the derived schema
};
BOOST_DESCRIBE_STRUCT(forecast_args, (), (city, days))

struct forecast {
  std::string city;
  std::vector<double> highs_c;
};
BOOST_DESCRIBE_STRUCT(forecast, (), (city, highs_c))

int main() {
  plexus::server::server srv({.name = "forecaster", .version = "1.0.0"});
  plexus::server::add_tool(srv, "get_forecast", "Daily high temperatures for a city",
                           [](const forecast_args& a) {
                             forecast f{a.city, {}};
                             for (int d = 0; d < a.days.value_or(3); ++d)
                               f.highs_c.push_back(20.0 + d);
                             return f;  // structuredContent + outputSchema + a text mirror
                           },
                           {.fields = {{"days", {{"minimum", 1}, {"maximum", 16}}}}});
  return plexus::transport::serve_stdio(srv);
}
