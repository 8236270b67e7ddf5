#include "plexus/core/base64.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace plexus;

TEST(Base64, EncodesAndDecodesStrictly) {
  EXPECT_EQ(base64::encode("Hello"), "SGVsbG8=");
  EXPECT_EQ(*base64::decode("SGVsbG8="), "Hello");
  EXPECT_FALSE(base64::decode("SGVsbG8"));      // missing padding
  EXPECT_FALSE(base64::decode("SGVs!!!bG8="));  // foreign characters
  EXPECT_FALSE(base64::decode("SGVsbG9="));     // non-canonical trailing bits
  EXPECT_FALSE(base64::decode("SGVsbG8=="));
  EXPECT_EQ(*base64::decode(""), "");
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(*base64::decode(base64::encode(s)), s);
    EXPECT_EQ(*base64::decode_url(base64::encode_url(s)), s);
  }
  EXPECT_EQ(base64::encode_url("\xfb\xff"), "-_8");
}
