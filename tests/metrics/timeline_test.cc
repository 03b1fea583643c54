#include "metrics/timeline.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "metrics/measure.h"

namespace shakeout::metrics {
namespace {

using std::chrono::milliseconds;
using Intervals = std::vector<std::pair<double, double>>;

const SteadyTime kT0 = SteadyTime(std::chrono::hours(1));

SteadyTime at(int ms) {
  return kT0 + milliseconds(ms);
}

Sample sample(int ms, bool ok, bool pending = false) {
  Sample one;
  one.at = at(ms);
  one.ok = ok;
  one.pending = pending;
  return one;
}

TEST(TimelineTest, ConsecutiveFailuresMergeIntoOneIntervalThatEndsAtTheNextGoodSample) {
  const std::vector<Sample> samples = {sample(0, true),    sample(100, false), sample(110, false),
                                       sample(120, false), sample(130, true),  sample(500, false),
                                       sample(510, true)};
  const auto line = timeline(samples, at(0), at(1000));
  EXPECT_EQ(line.failing, (Intervals{{100, 130}, {500, 510}}));
}

TEST(TimelineTest, TheIntervalsAddUpToTheDowntimeMeasureReports) {
  std::vector<Sample> samples;
  for (int t = -200; t < 3000; t += 5) samples.push_back(sample(t, t < 700 || (t >= 1210 && t < 2400)));
  const auto line = timeline(samples, at(0), at(3000));
  const double total =
      std::accumulate(line.failing.begin(), line.failing.end(), 0.0,
                      [](double sum, const auto& one) { return sum + one.second - one.first; });
  EXPECT_DOUBLE_EQ(total, static_cast<double>(
                              measure_impact(samples, at(0), at(3000), milliseconds(100)).downtime.count()));
  EXPECT_EQ(line.failing, (Intervals{{700, 1210}, {2400, 3000}}));
}

TEST(TimelineTest, AFailureBeforeTheRangeStartsAnIntervalAtZeroAndPendingSamplesAreSkipped) {
  const std::vector<Sample> samples = {sample(-50, false), sample(20, false, true), sample(40, true),
                                       sample(60, false, true)};
  const auto line = timeline(samples, at(0), at(100));
  EXPECT_EQ(line.failing, (Intervals{{0, 40}}));
  EXPECT_EQ(std::accumulate(line.ok.begin(), line.ok.end(), 0), 1);
  EXPECT_EQ(std::accumulate(line.failed.begin(), line.failed.end(), 0), 0);
}

TEST(TimelineTest, BucketsAreAFewHundredAtMostWithA125WidthAndCountEachSampleOnce) {
  std::vector<Sample> samples;
  for (int t = 0; t < 61'000; t += 5) samples.push_back(sample(t, t < 1000 || t >= 1400));
  const auto line = timeline(samples, at(0), at(61'000));
  EXPECT_EQ(line.bucket_ms, 500);  // 200 ms would make 305 buckets
  ASSERT_EQ(line.ok.size(), 122u);
  ASSERT_EQ(line.failed.size(), 122u);
  EXPECT_EQ(line.ok[0], 100);
  EXPECT_EQ(line.failed[2], 80);  // 1000..1400 of 1000..1500
  EXPECT_EQ(line.ok[2], 20);
  EXPECT_EQ(std::accumulate(line.ok.begin(), line.ok.end(), 0) +
                std::accumulate(line.failed.begin(), line.failed.end(), 0),
            static_cast<int>(samples.size()));
}

TEST(TimelineTest, Step125IsTheSmallestOneTwoFiveStepAtLeastTheValue) {
  EXPECT_EQ(step_125(0), 1);
  EXPECT_EQ(step_125(1.5), 2);
  EXPECT_EQ(step_125(2), 2);
  EXPECT_EQ(step_125(2.01), 5);
  EXPECT_EQ(step_125(7), 10);
  EXPECT_EQ(step_125(1250), 2000);
}

TEST(TimelineTest, AnEmptyRangeHasNoBuckets) {
  const auto line = timeline({sample(0, false)}, at(10), at(10));
  EXPECT_TRUE(line.failing.empty());
  EXPECT_EQ(line.bucket_ms, 0);
  EXPECT_TRUE(line.ok.empty());
}

}  // namespace
}  // namespace shakeout::metrics
