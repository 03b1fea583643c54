#include "metrics/measure.h"

#include <gtest/gtest.h>

#include <vector>

namespace shakeout::metrics {
namespace {

using std::chrono::milliseconds;

const SteadyTime kT0 = SteadyTime(std::chrono::hours(1));

SteadyTime at(int ms) {
  return kT0 + milliseconds(ms);
}

// Samples every `period` ms from `from` to `to` (exclusive), failing inside
// [down_from, down_to).
std::vector<Sample> periodic(int from, int to, int period, int down_from, int down_to) {
  std::vector<Sample> samples;
  for (int t = from; t < to; t += period) {
    Sample sample;
    sample.at = at(t);
    sample.ok = t < down_from || t >= down_to;
    if (!sample.ok) sample.error = "refused";
    sample.latency_ms = sample.ok ? 1.0 + (t % 7) : 0;
    samples.push_back(sample);
  }
  return samples;
}

TEST(MeasureTest, AnOutageOfKnownLengthIsMeasuredWithinTwoProbePeriods) {
  // 200/s probe (5 ms), fault at 1000 ms, outage from 1012 to 1437 ms.
  const int period = 5;
  const auto samples = periodic(0, 4000, period, 1012, 1437);
  const auto impact = measure_impact(samples, at(1000), at(4000), milliseconds(500));
  ASSERT_TRUE(impact.time_to_impact);
  EXPECT_NEAR(impact.time_to_impact->count(), 12, 2 * period);
  EXPECT_NEAR(impact.downtime.count(), 1437 - 1012, 2 * period);
  ASSERT_TRUE(impact.time_to_recover);
  EXPECT_NEAR(impact.time_to_recover->count(), 437, 2 * period);
  EXPECT_EQ(impact.failed, 85);
}

TEST(MeasureTest, ASlowStateProbeHoldsItsStateUntilTheNextSample) {
  // A replicas probe reporting only on change: down at 1100, back at 1900.
  std::vector<Sample> samples(3);
  samples[0].at = at(0);
  samples[0].ok = true;
  samples[1].at = at(1100);
  samples[1].ok = false;
  samples[2].at = at(1900);
  samples[2].ok = true;
  const auto impact = measure_impact(samples, at(1000), at(5000), milliseconds(1000));
  EXPECT_EQ(impact.time_to_impact, milliseconds(100));
  EXPECT_EQ(impact.downtime, milliseconds(800));
  EXPECT_EQ(impact.time_to_recover, milliseconds(900));
}

TEST(MeasureTest, AProbeThatNeverFailedRecoversAtTheFaultStart) {
  const auto samples = periodic(0, 3000, 10, 99999, 99999);
  const auto impact = measure_impact(samples, at(1000), at(3000), milliseconds(500));
  EXPECT_FALSE(impact.time_to_impact);
  EXPECT_EQ(impact.time_to_recover, milliseconds(0));
  EXPECT_EQ(impact.downtime, milliseconds(0));
}

TEST(MeasureTest, AShortGoodRunDoesNotCountAsRecovered) {
  // Down 1100-1500, up 1500-1600 (shorter than stable_for), down to 2000.
  auto samples = periodic(0, 1100, 10, 99999, 99999);
  for (const auto& more : {periodic(1100, 1500, 10, 0, 99999), periodic(1500, 1600, 10, 99999, 99999),
                           periodic(1600, 2000, 10, 0, 99999), periodic(2000, 4000, 10, 99999, 99999)})
    samples.insert(samples.end(), more.begin(), more.end());
  const auto impact = measure_impact(samples, at(1000), at(4000), milliseconds(300));
  EXPECT_EQ(impact.time_to_recover, milliseconds(1000));
  EXPECT_EQ(impact.downtime, milliseconds(800));
}

TEST(MeasureTest, ALateImpactIsNotHiddenByTheGoodStretchBeforeIt) {
  // Pods on a crashed node stay Ready until the node grace period: the
  // probe holds for longer than stable_for, then fails, then recovers.
  const auto samples = periodic(0, 5000, 10, 2500, 3000);
  const auto impact = measure_impact(samples, at(1000), at(5000), milliseconds(300));
  EXPECT_EQ(impact.time_to_impact, milliseconds(1500));
  EXPECT_EQ(impact.time_to_recover, milliseconds(2000));
  EXPECT_EQ(impact.downtime, milliseconds(500));
}

TEST(MeasureTest, NotRecoveredWhenTheGoodRunIsShorterThanStableForAtTheEnd) {
  const auto samples = periodic(0, 2000, 10, 1100, 1900);
  const auto impact = measure_impact(samples, at(1000), at(2000), milliseconds(500));
  EXPECT_FALSE(impact.time_to_recover);
  EXPECT_EQ(impact.downtime, milliseconds(800));
}

TEST(MeasureTest, AFailureAlreadyUnderwayAtTheFaultStartIsImmediateImpact) {
  const auto samples = periodic(0, 3000, 10, 900, 1200);
  const auto impact = measure_impact(samples, at(1000), at(3000), milliseconds(500));
  EXPECT_EQ(impact.time_to_impact, milliseconds(0));
  EXPECT_EQ(impact.downtime, milliseconds(200));
  EXPECT_EQ(impact.time_to_recover, milliseconds(200));
}

TEST(MeasureTest, AvailabilityCountsErrorsByKindAndLatencyOfSuccesses) {
  auto samples = periodic(0, 1000, 10, 500, 600);
  samples[55].error = "timeout";
  const auto availability = measure_availability(samples, at(0), at(1000));
  EXPECT_EQ(availability.total, 100);
  EXPECT_EQ(availability.ok, 90);
  EXPECT_DOUBLE_EQ(availability.ratio, 0.9);
  EXPECT_EQ(availability.errors.at("refused"), 9);
  EXPECT_EQ(availability.errors.at("timeout"), 1);
  EXPECT_EQ(availability.downtime, milliseconds(100));
  EXPECT_GE(availability.latency_p50_ms, 1.0);
  EXPECT_LE(availability.latency_p99_ms, 7.0);
}

TEST(MeasureTest, HoldsOverLooksAtTheStateWhenTheWindowStartsAndEverySampleInIt) {
  const auto samples = periodic(0, 2000, 100, 1000, 1300);
  EXPECT_TRUE(holds_over(samples, at(1000), milliseconds(500)));
  EXPECT_FALSE(holds_over(samples, at(1500), milliseconds(500)));
  EXPECT_FALSE(holds_over(samples, at(1750), milliseconds(500)));  // 1250 was still down
  EXPECT_TRUE(holds_over(samples, at(1850), milliseconds(500)));
  // No sample inside the window: the last one before it stands.
  EXPECT_TRUE(holds_over(samples, at(5000), milliseconds(500)));
  EXPECT_FALSE(holds_over({}, at(5000), milliseconds(500)));
}

TEST(MeasureTest, SamplesStillInFlightAreIgnoredByEveryMeasurement) {
  auto samples = periodic(0, 1000, 10, 99999, 99999);
  for (int i = 90; i < 100; ++i) {
    samples[i].ok = false;
    samples[i].pending = true;
  }
  EXPECT_TRUE(holds_over(samples, at(1000), milliseconds(300)));
  const auto availability = measure_availability(samples, at(0), at(1000));
  EXPECT_EQ(availability.total, 90);
  EXPECT_DOUBLE_EQ(availability.ratio, 1.0);
  const auto impact = measure_impact(samples, at(500), at(1000), milliseconds(300));
  EXPECT_FALSE(impact.time_to_impact);
  EXPECT_EQ(impact.downtime, milliseconds(0));
}

TEST(MeasureTest, AnsweredUntilIsTheEarliestSampleStillInFlight) {
  auto samples = periodic(0, 1000, 10, 99999, 99999);
  EXPECT_EQ(answered_until(samples, 0, at(1000)), at(1000));
  // A request hung since 800 ms, two recent ones in flight as usual.
  for (int i : {80, 97, 99}) samples[i].pending = true;
  EXPECT_EQ(answered_until(samples, 3, at(1000)), at(800));
  // Judged up to there, the window does not yet claim the time after it...
  EXPECT_TRUE(holds_over(samples, at(800), milliseconds(300)));
  // ...and once the request times out, its failure breaks the window.
  samples[80].pending = false;
  samples[80].ok = false;
  EXPECT_EQ(answered_until(samples, 2, at(1000)), at(970));
  EXPECT_FALSE(holds_over(samples, at(970), milliseconds(300)));
}

TEST(MeasureTest, SummarizeGivesMedianP95MinMax) {
  const auto summary = summarize({5, 1, 3, 2, 4});
  EXPECT_EQ(summary.count, 5);
  EXPECT_EQ(summary.min, 1);
  EXPECT_EQ(summary.median, 3);
  EXPECT_EQ(summary.p95, 5);
  EXPECT_EQ(summary.max, 5);
  EXPECT_EQ(summarize({1, 2}).median, 1.5);
  EXPECT_EQ(summarize({}).count, 0);
}

}  // namespace
}  // namespace shakeout::metrics
