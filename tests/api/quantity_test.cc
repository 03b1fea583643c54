#include "api/quantity.h"

#include <gtest/gtest.h>

#include <limits>

namespace shakeout::api {
namespace {

int64_t milli(std::string_view text) {
  auto q = parse_quantity(text);
  EXPECT_TRUE(q.has_value()) << text;
  return q ? q->milli_value() : -1;
}

TEST(Quantity, DecimalSuffixesScaleExactly) {
  EXPECT_EQ(milli("100m"), 100);
  EXPECT_EQ(milli("1"), 1000);
  EXPECT_EQ(milli("0.5"), 500);
  EXPECT_EQ(milli("2k"), 2000000);
  EXPECT_EQ(milli("1M"), 1000000000);
  EXPECT_EQ(milli("1G"), 1000000000000);
  EXPECT_EQ(milli("1e3"), 1000000);
  EXPECT_EQ(milli("1E-3"), 1);
}

TEST(Quantity, BinarySuffixesArePowersOfTwo) {
  EXPECT_EQ(parse_quantity("128Mi")->value(), 128LL * 1024 * 1024);
  EXPECT_EQ(parse_quantity("1Ki")->value(), 1024);
  EXPECT_EQ(parse_quantity("1.5Gi")->value(), 3LL * 512 * 1024 * 1024);
}

TEST(Quantity, FractionsRoundUpAsMilliValueDoes) {
  EXPECT_EQ(milli("1.5m"), 2);  // MilliValue rounds up
  EXPECT_EQ(milli("1n"), 1);
  EXPECT_EQ(parse_quantity("0.1")->value(), 1);  // Value rounds up
  EXPECT_EQ(parse_quantity("2")->value(), 2);
}

TEST(Quantity, HugeValuesSaturate) {
  EXPECT_EQ(milli("100E"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(milli("99999999999999999999999"), std::numeric_limits<int64_t>::max());
}

TEST(Quantity, JsonNumbersAndStrings) {
  EXPECT_EQ(quantity_of(nlohmann::json(4))->milli_value(), 4000);
  EXPECT_EQ(quantity_of(nlohmann::json(0.25))->milli_value(), 250);
  EXPECT_EQ(quantity_of(nlohmann::json("250m"))->milli_value(), 250);
  EXPECT_FALSE(quantity_of(nlohmann::json::array()).has_value());
}

TEST(Quantity, MalformedTextDoesNotParse) {
  for (const char* bad : {"", "m", "1x", "1mi", "1Ki2", "1e", "abc", "1.2.3", "--1"})
    EXPECT_FALSE(parse_quantity(std::string_view(bad)).has_value()) << bad;
}

}  // namespace
}  // namespace shakeout::api
