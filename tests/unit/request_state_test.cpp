// MRTR requestState sealing: binding to method and parameters, expiry, tampering.
#include "server/request_state.hpp"
#include "server/uri_template.hpp"

#include <gtest/gtest.h>

using namespace plexus;
using plexus::server::request_state_sealer;

TEST(RequestState, RoundTripsAndBindsToTheRequest) {
  request_state_sealer s("k");
  json::object params{{"name", "t"}, {"arguments", json::object{{"a", 1}, {"b", 2}}}};
  auto token =
      s.seal("tools/call", params, {{"r", json::object{{"x", 1}}}}, std::chrono::seconds(60));
  auto back = s.unseal(token, "tools/call", params);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->at("r").at("x"), 1);
  // Key order, _meta, inputResponses and requestState do not change the digest.
  json::object reordered{{"arguments", json::object{{"b", 2}, {"a", 1}}},
                         {"name", "t"},
                         {"_meta", json::object{{"x", 1}}},
                         {"inputResponses", json::object{}},
                         {"requestState", token}};
  EXPECT_TRUE(s.unseal(token, "tools/call", reordered));
  EXPECT_EQ(s.unseal(token, "prompts/get", params).error(), "bound to another request");
  json::object other = params;
  other["arguments"].as_object()["a"] = 3;
  EXPECT_EQ(s.unseal(token, "tools/call", other).error(), "bound to another request");
}

TEST(RequestState, RejectsTamperingForeignKeysAndExpiry) {
  request_state_sealer s("k");
  json::object params{{"name", "t"}};
  auto token = s.seal("tools/call", params, {}, std::chrono::seconds(60));
  EXPECT_EQ(s.unseal(token + "-TAMPERED", "tools/call", params).error(), "bad signature");
  std::string flipped = token;
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(s.unseal(flipped, "tools/call", params));
  EXPECT_EQ(request_state_sealer("other").unseal(token, "tools/call", params).error(),
            "bad signature");
  EXPECT_EQ(s.unseal("garbage", "tools/call", params).error(), "malformed");
  auto expired = s.seal("tools/call", params, {}, std::chrono::seconds(-5));
  EXPECT_EQ(s.unseal(expired, "tools/call", params).error(), "expired");
  // Two processes without a configured key do not accept each other's state.
  request_state_sealer r1(""), r2("");
  EXPECT_FALSE(r2.unseal(r1.seal("m", params, {}, std::chrono::seconds(60)), "m", params));
}

TEST(UriTemplate, MatchesRfc6570Expressions) {
  using plexus::server::uri_template;
  uri_template simple("test://template/{id}/data");
  auto m = simple.match("test://template/123/data");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("id"), "123");
  EXPECT_FALSE(simple.match("test://template/1/2/data"));
  EXPECT_FALSE(simple.match("test://template//data"));
  EXPECT_EQ(uri_template("file:///{+path}").match("file:///a/b%20c.txt")->at("path"), "a/b c.txt");
  auto q = uri_template("search://x{?q,lang}").match("search://x?lang=en&q=hello%21");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->at("q"), "hello!");
  EXPECT_EQ(q->at("lang"), "en");
  EXPECT_EQ(uri_template("a://b{/seg}").match("a://b/zz")->at("seg"), "zz");
  EXPECT_EQ(uri_template("a://b/{x}.{y}").variables().size(), 2u);
}
