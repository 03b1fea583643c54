#include "faults/toxic.h"

#include <gtest/gtest.h>

namespace shakeout::faults {
namespace {

TEST(ToxicTest, TypeNamesRoundTrip) {
  for (auto type : {ToxicType::kLatency, ToxicType::kBandwidth, ToxicType::kSlowClose, ToxicType::kTimeout,
                    ToxicType::kResetPeer, ToxicType::kSlicer, ToxicType::kLimitData}) {
    auto parsed = parse_toxic_type(to_string(type));
    ASSERT_TRUE(parsed.ok()) << to_string(type);
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_FALSE(parse_toxic_type("jitter").ok());
  EXPECT_EQ(*parse_stream("upstream"), Stream::kUpstream);
  EXPECT_EQ(*parse_stream("downstream"), Stream::kDownstream);
  EXPECT_FALSE(parse_stream("sideways").ok());
}

TEST(ToxicTest, ValidateRejectsBadFields) {
  Toxic toxic;
  toxic.name = "t";
  EXPECT_TRUE(validate(toxic).ok());
  toxic.toxicity = 1.5;
  EXPECT_FALSE(validate(toxic).ok());
  toxic.toxicity = 0.5;
  toxic.type = ToxicType::kBandwidth;
  EXPECT_FALSE(validate(toxic).ok()) << "bandwidth needs a rate";
  toxic.rate_kbps = 10;
  EXPECT_TRUE(validate(toxic).ok());
  toxic.type = ToxicType::kSlicer;
  toxic.average_size = 10;
  toxic.size_variation = 10;
  EXPECT_FALSE(validate(toxic).ok()) << "variation must stay below the average";
  toxic.size_variation = 3;
  EXPECT_TRUE(validate(toxic).ok());
  toxic.latency = Millis(-1);
  auto bad = validate(toxic);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("\"t\""), std::string::npos) << "the error names the toxic";
  toxic.latency = Millis(0);
  toxic.name.clear();
  EXPECT_FALSE(validate(toxic).ok());
}

TEST(ToxicTest, ToxicityRollIsDeterministicAndFair) {
  int hits = 0;
  for (uint64_t c = 0; c < 10000; ++c) {
    const bool applies = toxic_applies(7, c, "lag", 0.3);
    EXPECT_EQ(applies, toxic_applies(7, c, "lag", 0.3));
    hits += applies ? 1 : 0;
    EXPECT_FALSE(toxic_applies(7, c, "lag", 0.0));
    EXPECT_TRUE(toxic_applies(7, c, "lag", 1.0));
  }
  EXPECT_GT(hits, 2700);
  EXPECT_LT(hits, 3300);
  // Another seed or toxic name picks another subset.
  int same = 0;
  for (uint64_t c = 0; c < 1000; ++c)
    same += toxic_applies(7, c, "lag", 0.5) == toxic_applies(8, c, "lag", 0.5) ? 1 : 0;
  EXPECT_LT(same, 600);
}

}  // namespace
}  // namespace shakeout::faults
