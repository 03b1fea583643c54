#include "cluster/profile.h"

#include <gtest/gtest.h>

namespace shakeout::cluster {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsGoStyleDurations) {
  EXPECT_EQ(*parse_duration("250ms"), 250ms);
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("2m30s"), 150s);
  EXPECT_EQ(*parse_duration("1h"), 3600s);
  EXPECT_EQ(*parse_duration("0"), 0ms);
}

TEST(ParseDuration, RejectsMissingOrUnknownUnits) {
  for (const char* bad : {"", "10", "5 s", "1d", "ms", "1.2.3s", "-1s"}) {
    auto d = parse_duration(bad);
    EXPECT_FALSE(d.ok()) << bad;
    if (!d) {
      EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(Profile, KubernetesUsesUpstreamDefaults) {
  const auto p = Profile::kubernetes();
  EXPECT_EQ(p.duration("node-lease-duration"), 40s);
  EXPECT_EQ(p.duration("node-lease-renew-interval"), 10s);
  EXPECT_EQ(p.duration("node-monitor-period"), 5s);
  EXPECT_EQ(p.duration("node-monitor-grace-period"), 50s);
  EXPECT_EQ(p.duration("default-not-ready-toleration-seconds"), 300s);
  EXPECT_EQ(p.duration("default-unreachable-toleration-seconds"), 300s);
  EXPECT_EQ(p.duration("leader-elect-lease-duration"), 15s);
  EXPECT_EQ(p.duration("leader-elect-renew-deadline"), 10s);
  EXPECT_EQ(p.duration("leader-elect-retry-period"), 2s);
  EXPECT_EQ(p.duration("crashloop-backoff-initial"), 10s);
  EXPECT_EQ(p.duration("crashloop-backoff-max"), 300s);
  EXPECT_EQ(p.duration("crashloop-backoff-reset"), 600s);
  EXPECT_EQ(p.duration("pod-initial-backoff"), 1s);
  EXPECT_EQ(p.duration("pod-max-backoff"), 10s);
  EXPECT_EQ(p.duration("readiness-period"), 10s);
  EXPECT_EQ(p.count("readiness-failure-threshold"), 3);
  EXPECT_EQ(p.duration("termination-grace-period"), 30s);
  EXPECT_EQ(p.etcd_heartbeat(), 100ms);
  EXPECT_EQ(p.etcd_election_timeout(), 1000ms);
}

TEST(Profile, FastScalesBy005WithFloors) {
  const auto p = Profile::fast();
  EXPECT_DOUBLE_EQ(p.time_scale(), 0.05);
  EXPECT_EQ(p.duration("node-lease-duration"), 2s);
  EXPECT_EQ(p.duration("node-monitor-grace-period"), 2500ms);
  EXPECT_EQ(p.duration("leader-elect-retry-period"), 100ms);
  EXPECT_EQ(p.duration("node-monitor-period"), 250ms);
  EXPECT_EQ(p.duration("pod-initial-backoff"), 50ms);
  EXPECT_EQ(p.duration("pod-max-backoff"), 500ms);
  // Floors: etcd heartbeat >= 10ms, election >= 100ms, any period >= 50ms.
  EXPECT_EQ(p.etcd_heartbeat(), 10ms);
  EXPECT_EQ(p.etcd_election_timeout(), 100ms);
  EXPECT_EQ(p.count("readiness-failure-threshold"), 3);  // counts are not scaled
}

TEST(Profile, FloorAppliesToEveryPeriodAtSmallScales) {
  ProfileOptions options;
  options.time_scale = 0.001;
  auto p = Profile::make(options);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->duration("leader-elect-retry-period"), 50ms);
  EXPECT_EQ(p->duration("node-lease-duration"), 50ms);
}

TEST(Profile, OverridesByNameWin) {
  ProfileOptions options;
  options.overrides = {{"node-monitor-grace-period", "4s"}, {"readiness-failure-threshold", "5"}};
  auto p = Profile::make(options);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->duration("node-monitor-grace-period"), 4s);
  EXPECT_EQ(p->count("readiness-failure-threshold"), 5);
  EXPECT_TRUE(p->overridden("node-monitor-grace-period"));
  EXPECT_FALSE(p->overridden("node-monitor-period"));
}

TEST(Profile, RejectsBadInputNamingTheField) {
  auto expect_error = [](ProfileOptions options, const std::string& needle) {
    auto p = Profile::make(options);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(p.error().message.find(needle), std::string::npos) << p.error().message;
  };
  ProfileOptions unknown_profile;
  unknown_profile.name = "slow";
  expect_error(unknown_profile, "slow");
  ProfileOptions unknown_param;
  unknown_param.overrides = {{"node-grace", "1s"}};
  expect_error(unknown_param, "node-grace");
  ProfileOptions bad_value;
  bad_value.overrides = {{"node-lease-duration", "soon"}};
  expect_error(bad_value, "node-lease-duration");
  ProfileOptions bad_count;
  bad_count.overrides = {{"readiness-failure-threshold", "0"}};
  expect_error(bad_count, "readiness-failure-threshold");
  ProfileOptions bad_scale;
  bad_scale.time_scale = 2.0;
  expect_error(bad_scale, "timeScale");
  ProfileOptions election_too_short;
  election_too_short.overrides = {{"etcd-heartbeat-interval", "50ms"}};
  expect_error(election_too_short, "etcd-election-timeout");
}

TEST(Profile, EffectiveValuesListEveryParameterInOrder) {
  const auto values = Profile::fast().effective_values();
  ASSERT_EQ(values.size(), profile_parameters().size());
  EXPECT_EQ(values.front().first, "node-lease-duration");
  EXPECT_EQ(values.front().second, "2s");
}

}  // namespace
}  // namespace shakeout::cluster
