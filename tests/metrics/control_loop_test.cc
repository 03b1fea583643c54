#include "metrics/control_loop.h"

#include <gtest/gtest.h>

namespace shakeout::metrics {
namespace {

using std::chrono::milliseconds;

const SteadyTime kT0 = SteadyTime(std::chrono::hours(1));

SteadyTime at(int ms) {
  return kT0 + milliseconds(ms);
}

PodTimeline running_pod() {
  PodTimeline pod;
  pod.events = {{at(-900), PodEvent::kAdded},
                {at(-890), PodEvent::kBound},
                {at(-850), PodEvent::kRunning},
                {at(-800), PodEvent::kReady},
                {at(-790), PodEvent::kInEndpoints}};
  return pod;
}

TEST(ControlLoopTest, ADeletedPodsReplacementIsFollowedThroughEveryLoop) {
  std::map<std::string, PodTimeline> pods;
  pods["default/web-a"] = running_pod();
  pods["default/web-b"] = running_pod();
  pods["default/web-a"].events.insert(pods["default/web-a"].events.end(), {{at(4), PodEvent::kTerminating},
                                                                           {at(6), PodEvent::kNotReady},
                                                                           {at(9), PodEvent::kOutOfEndpoints},
                                                                           {at(40), PodEvent::kDeleted}});
  pods["default/web-c"].events = {{at(7), PodEvent::kAdded},
                                  {at(12), PodEvent::kBound},
                                  {at(30), PodEvent::kRunning},
                                  {at(45), PodEvent::kReady},
                                  {at(52), PodEvent::kInEndpoints}};
  std::map<std::string, std::vector<SteadyTime>> answers;
  answers["default/web-b"] = {at(-500), at(10), at(60)};
  answers["default/web-c"] = {at(58), at(63)};

  const auto loop = control_loop(pods, answers, at(0));
  EXPECT_EQ(loop.pod, "default/web-c");
  EXPECT_EQ(loop.detected, milliseconds(4));
  EXPECT_EQ(loop.created, milliseconds(7));
  EXPECT_EQ(loop.scheduled, milliseconds(12));
  EXPECT_EQ(loop.started, milliseconds(30));
  EXPECT_EQ(loop.ready, milliseconds(45));
  EXPECT_EQ(loop.endpoints, milliseconds(52));
  EXPECT_EQ(loop.serving, milliseconds(58));
}

TEST(ControlLoopTest, AContainerRestartedInPlaceHasNoCreatedOrScheduledStep) {
  std::map<std::string, PodTimeline> pods;
  pods["default/web-a"] = running_pod();
  pods["default/web-a"].events.insert(pods["default/web-a"].events.end(),
                                      {{at(20), PodEvent::kNotRunning},
                                       {at(21), PodEvent::kNotReady},
                                       {at(23), PodEvent::kOutOfEndpoints},
                                       {at(35), PodEvent::kRunning},
                                       {at(70), PodEvent::kReady},
                                       {at(75), PodEvent::kInEndpoints}});
  std::map<std::string, std::vector<SteadyTime>> answers;
  answers["default/web-a"] = {at(-100), at(5), at(80)};

  const auto loop = control_loop(pods, answers, at(0));
  EXPECT_EQ(loop.pod, "default/web-a");
  EXPECT_EQ(loop.detected, milliseconds(20));
  EXPECT_FALSE(loop.created);
  EXPECT_FALSE(loop.scheduled);
  EXPECT_EQ(loop.started, milliseconds(35));
  EXPECT_EQ(loop.ready, milliseconds(70));
  EXPECT_EQ(loop.endpoints, milliseconds(75));
  EXPECT_EQ(loop.serving, milliseconds(80));  // not the answer before the loss
}

TEST(ControlLoopTest, ARestartTheApiShowedOnlyAsAHigherRestartCountIsStillFollowed) {
  // One update carried the restart and the Ready it regained (the kubelet's
  // statuses in between never reached the watch): not running and running
  // again at the same instant, Ready throughout.
  std::map<std::string, PodTimeline> pods;
  pods["default/web-a"] = running_pod();
  pods["default/web-b"] = running_pod();
  pods["default/web-a"].events.insert(pods["default/web-a"].events.end(),
                                      {{at(40), PodEvent::kNotRunning}, {at(40), PodEvent::kRunning}});
  const auto loop = control_loop(pods, {}, at(0));
  EXPECT_EQ(loop.pod, "default/web-a");
  EXPECT_EQ(loop.detected, milliseconds(40));
  EXPECT_EQ(loop.started, milliseconds(40));
  EXPECT_FALSE(loop.ready);
  EXPECT_FALSE(loop.created);

  // A pod still unready after running again is not back.
  pods["default/web-a"].events.push_back({at(41), PodEvent::kNotReady});
  EXPECT_EQ(control_loop(pods, {}, at(0)).pod, "");
}

TEST(ControlLoopTest, NoLossAfterTheFaultMeansNoBreakdown) {
  std::map<std::string, PodTimeline> pods;
  pods["default/web-a"] = running_pod();
  pods["default/web-a"].events.push_back({at(-300), PodEvent::kNotReady});  // before the fault
  const auto loop = control_loop(pods, {}, at(0));
  EXPECT_TRUE(loop.pod.empty());
  EXPECT_FALSE(loop.detected);
  EXPECT_FALSE(loop.ready);
}

TEST(ControlLoopTest, AScaleUpsNewPodIsFollowedWithNoDetectedStep) {
  std::map<std::string, PodTimeline> pods;
  pods["default/web-a"] = running_pod();
  // Created at once, bound only when the scheduler is back.
  pods["default/web-x"].events = {{at(5), PodEvent::kAdded},
                                  {at(900), PodEvent::kBound},
                                  {at(960), PodEvent::kRunning},
                                  {at(1010), PodEvent::kReady},
                                  {at(1015), PodEvent::kInEndpoints}};
  const auto loop = control_loop(pods, {}, at(0));
  EXPECT_EQ(loop.pod, "default/web-x");
  EXPECT_FALSE(loop.detected);
  EXPECT_EQ(loop.created, milliseconds(5));
  EXPECT_EQ(loop.scheduled, milliseconds(900));
  EXPECT_EQ(loop.started, milliseconds(960));
  EXPECT_EQ(loop.ready, milliseconds(1010));
  EXPECT_EQ(loop.endpoints, milliseconds(1015));
  EXPECT_FALSE(loop.serving);
}

TEST(ControlLoopTest, ALossNotYetRecoveredGivesOnlyDetected) {
  std::map<std::string, PodTimeline> pods;
  pods["default/web-a"] = running_pod();
  pods["default/web-a"].events.push_back({at(2500), PodEvent::kNotReady});  // node grace period
  const auto loop = control_loop(pods, {}, at(0));
  EXPECT_EQ(loop.detected, milliseconds(2500));
  EXPECT_TRUE(loop.pod.empty());
  EXPECT_FALSE(loop.started);
}

TEST(ControlLoopTest, LossesAreSeenOnlyOnceEveryHitPodShowedOneAfterTheFault) {
  std::map<std::string, PodTimeline> pods;
  pods["default/web-a"] = running_pod();
  pods["default/web-b"] = running_pod();
  pods["default/web-b"].events.insert(pods["default/web-b"].events.begin(), {at(-950), PodEvent::kNotReady});
  // Nothing shown yet: a killed pod whose kubelet has not written its status.
  EXPECT_FALSE(losses_seen(pods, {"default/web-a"}, at(0)));
  // A loss before the fault (web-b's, at -950) does not count.
  EXPECT_FALSE(losses_seen(pods, {"default/web-b"}, at(0)));
  // A pod the API never showed at all.
  EXPECT_FALSE(losses_seen(pods, {"default/web-z"}, at(0)));
  pods["default/web-a"].events.insert(pods["default/web-a"].events.end(),
                                      {{at(1500), PodEvent::kNotRunning}, {at(1500), PodEvent::kRunning}});
  EXPECT_EQ(losses_seen(pods, {"default/web-a"}, at(0)), at(1500));
  // Two pods hit: seen when the later one shows its loss.
  EXPECT_FALSE(losses_seen(pods, {"default/web-a", "default/web-b"}, at(0)));
  pods["default/web-b"].events.insert(pods["default/web-b"].events.end(),
                                      {{at(700), PodEvent::kTerminating}, {at(900), PodEvent::kDeleted}});
  EXPECT_EQ(losses_seen(pods, {"default/web-a", "default/web-b"}, at(0)), at(1500));
  EXPECT_EQ(losses_seen(pods, {"default/web-b"}, at(0)), at(700));
  // No pod hit: seen from the start.
  EXPECT_EQ(losses_seen(pods, {}, at(0)), at(0));
}

}  // namespace
}  // namespace shakeout::metrics
