#include "common/clock.h"

#include <gtest/gtest.h>

namespace shakeout {
namespace {

using namespace std::chrono_literals;

TEST(FormatDuration, MatchesGoStyle) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(250ms), "250ms");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(120s), "2m0s");
  EXPECT_EQ(format_duration(3h + 5min + 2s), "3h5m2s");
  EXPECT_EQ(format_duration(-40ms), "-40ms");
}

TEST(FakeClock, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  const auto start = clock.now();
  EXPECT_EQ(clock.now(), start);
  clock.advance(3s);
  EXPECT_EQ(clock.now() - start, 3s);
}

}  // namespace
}  // namespace shakeout
