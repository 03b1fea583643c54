// The node lifecycle and taint eviction rules on a fake clock: when a
// silent node goes Unknown, how it is tainted (and how fast), and when the
// pods on it are evicted.

#include "controller/node_lifecycle.h"

#include <gtest/gtest.h>

#include "api/store.h"
#include "client/leader_election.h"
#include "controller/taint_eviction.h"

namespace shakeout::controller {
namespace {

using namespace std::chrono_literals;

// cluster::Profile::kubernetes() values (DESIGN §2); the integration test
// checks that the profile still says so.
constexpr Millis kMonitorPeriod = 5s;
constexpr Millis kGracePeriod = 50s;
constexpr Millis kStartupGracePeriod = 60s;
constexpr int64_t kDefaultTolerationSeconds = 300;

json make_node(const std::string& name, const std::string& ready, const std::string& heartbeat,
               WallTime created) {
  json node = json::object();
  node["metadata"]["name"] = name;
  node["metadata"]["creationTimestamp"] = api::format_timestamp(created);
  node["spec"] = json::object();
  node["status"]["conditions"] = json::array();
  if (!ready.empty()) {
    node["status"]["conditions"].push_back({{"type", "Ready"},
                                            {"status", ready},
                                            {"reason", "KubeletReady"},
                                            {"lastHeartbeatTime", heartbeat},
                                            {"lastTransitionTime", heartbeat}});
    node["status"]["conditions"].push_back({{"type", "MemoryPressure"},
                                            {"status", "False"},
                                            {"lastHeartbeatTime", heartbeat},
                                            {"lastTransitionTime", heartbeat}});
  }
  return node;
}

json make_lease(const std::string& name, WallTime renewed) {
  json lease = json::object();
  lease["metadata"]["name"] = name;
  lease["metadata"]["namespace"] = kNodeLeaseNamespace;
  lease["spec"]["holderIdentity"] = name;
  lease["spec"]["renewTime"] = client::format_micro_time(renewed);
  return lease;
}

// What DefaultTolerationSeconds admission adds to every pod.
json default_tolerations() {
  json tolerations = json::array();
  for (const char* key : {kTaintNotReady, kTaintUnreachable})
    tolerations.push_back({{"key", key},
                           {"operator", "Exists"},
                           {"effect", "NoExecute"},
                           {"tolerationSeconds", kDefaultTolerationSeconds}});
  return tolerations;
}

json ready_pod(const std::string& name, const std::string& node) {
  json pod = json::object();
  pod["metadata"]["name"] = name;
  pod["metadata"]["namespace"] = "default";
  pod["spec"]["nodeName"] = node;
  pod["status"]["phase"] = "Running";
  pod["status"]["conditions"] =
      json::array({{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", "2024-01-01T00:00:00Z"}}});
  return pod;
}

std::string ready_status(const json& node) {
  const json* ready = node_condition(node, "Ready");
  return ready != nullptr ? ready->value("status", "") : "";
}

// The monitor ticks of a silent node: the first one after lease renewal
// + grace marks it Unknown.
TEST(NodeHealth, SilentNodeGoesUnknownAtFirstTickAfterGracePeriod) {
  FakeClock clock;
  NodeHealthTracker tracker(kGracePeriod, kStartupGracePeriod);
  const WallTime created = clock.wall_now() - 1h;
  const std::string heartbeat = api::format_timestamp(clock.wall_now());
  const json node = make_node("node-1", "True", heartbeat, created);
  const json lease = make_lease("node-1", clock.wall_now());  // renewed at t0, then never again
  const SteadyTime t0 = clock.now();

  std::optional<SteadyTime> went_stale;
  for (int tick = 0; tick < 20 && !went_stale; ++tick) {
    const auto health = tracker.observe(node, &lease, clock.now(), clock.wall_now());
    EXPECT_EQ(health.grace, kGracePeriod);
    if (health.stale) went_stale = clock.now();
    clock.advance(kMonitorPeriod);
  }
  ASSERT_TRUE(went_stale);
  EXPECT_EQ(*went_stale - t0, 55s);  // t0+50s is not yet past the grace period

  json updated = node;
  const WallTime now = clock.wall_now();
  ASSERT_TRUE(mark_node_status_unknown(updated, now));
  for (const char* type : {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
    const json* condition = node_condition(updated, type);
    ASSERT_NE(condition, nullptr) << type;
    EXPECT_EQ((*condition)["status"], "Unknown") << type;
    EXPECT_EQ((*condition)["lastTransitionTime"], api::format_timestamp(now)) << type;
  }
  EXPECT_EQ((*node_condition(updated, "Ready"))["reason"], "NodeStatusUnknown");
  EXPECT_EQ((*node_condition(updated, "Ready"))["message"], "Kubelet stopped posting node status.");
  EXPECT_EQ((*node_condition(updated, "Ready"))["lastHeartbeatTime"], heartbeat);  // kept
  EXPECT_EQ((*node_condition(updated, "DiskPressure"))["reason"], "NodeStatusNeverUpdated");
  EXPECT_FALSE(mark_node_status_unknown(updated, now + 5s));  // already Unknown: no second write
}

// Lease renewals and new heartbeats count when *we* see them, whatever
// time the kubelet wrote into them.
TEST(NodeHealth, LeaseRenewalOrNewHeartbeatKeepsNodeFreshOnOurClock) {
  FakeClock clock;
  NodeHealthTracker tracker(kGracePeriod, kStartupGracePeriod);
  const WallTime skewed = clock.wall_now() - 24h;  // the kubelet's clock is a day late
  json node = make_node("node-1", "True", api::format_timestamp(skewed), clock.wall_now());
  for (int tick = 0; tick < 40; ++tick) {
    const json lease = make_lease("node-1", skewed + tick * 1s);  // renewed every tick
    EXPECT_FALSE(tracker.observe(node, &lease, clock.now(), clock.wall_now()).stale) << tick;
    clock.advance(kMonitorPeriod);
  }
  // Only the Ready heartbeat now (no Lease): each new heartbeat is a probe.
  for (int tick = 0; tick < 40; ++tick) {
    (*node["status"]["conditions"].begin())["lastHeartbeatTime"] = api::format_timestamp(skewed + tick * 1s);
    EXPECT_FALSE(tracker.observe(node, nullptr, clock.now(), clock.wall_now()).stale) << tick;
    clock.advance(kMonitorPeriod);
  }
  // A Lease renewed *earlier* than the one seen is no sign of life.
  const json lease = make_lease("node-1", skewed);
  const json older = make_lease("node-1", skewed - 1s);
  tracker.observe(node, &lease, clock.now(), clock.wall_now());
  clock.advance(kGracePeriod + 1s);
  EXPECT_TRUE(tracker.observe(node, &older, clock.now(), clock.wall_now()).stale);
}

TEST(NodeHealth, NodeThatNeverPostedReadyGetsTheStartupGracePeriodFromCreation) {
  FakeClock clock;
  NodeHealthTracker tracker(kGracePeriod, kStartupGracePeriod);
  const json node = make_node("node-1", "", "", clock.wall_now() - 10s);  // created 10s ago
  auto health = tracker.observe(node, nullptr, clock.now(), clock.wall_now());
  EXPECT_EQ(health.grace, kStartupGracePeriod);
  EXPECT_EQ(health.observed_ready["status"], "Unknown");
  clock.advance(50s);  // 60s after creation: not past it yet
  EXPECT_FALSE(tracker.observe(node, nullptr, clock.now(), clock.wall_now()).stale);
  clock.advance(1s);
  EXPECT_TRUE(tracker.observe(node, nullptr, clock.now(), clock.wall_now()).stale);
}

TEST(NodeHealth, MarkPodsNotReadySetsReadyFalseOnce) {
  const WallTime now = std::chrono::system_clock::now();
  json pod = ready_pod("web-1", "node-1");
  ASSERT_TRUE(mark_pod_not_ready(pod, now));
  EXPECT_EQ(pod["status"]["conditions"][0]["status"], "False");
  EXPECT_EQ(pod["status"]["conditions"][0]["lastTransitionTime"], api::format_timestamp(now));
  EXPECT_FALSE(mark_pod_not_ready(pod, now + 1s));
  json no_condition = ready_pod("web-2", "node-1");
  no_condition["status"]["conditions"] = json::array();
  EXPECT_FALSE(mark_pod_not_ready(no_condition, now));
}

// The whole path under the kubernetes profile: silent node ──► Unknown ──►
// unreachable:NoExecute ──► pods evicted per their tolerations.
TEST(NodeLifecycle, KubernetesProfileSilentNodeIsTaintedAndItsPodsEvictedPerTolerations) {
  FakeClock clock;
  NodeLifecycleOptions options;
  NodeHealthTracker tracker(kGracePeriod, kStartupGracePeriod);
  NoExecuteTaintQueue queue(options.eviction_rate, clock.now());
  json node = make_node("node-1", "True", api::format_timestamp(clock.wall_now()), clock.wall_now() - 1h);
  const json lease = make_lease("node-1", clock.wall_now());
  const SteadyTime t0 = clock.now();

  // Monitor ticks until the node goes Unknown and is queued for tainting.
  std::optional<SteadyTime> unknown_at;
  std::optional<SteadyTime> tainted_at;
  for (int tick = 0; tick < 30 && !tainted_at; ++tick) {
    const auto health = tracker.observe(node, &lease, clock.now(), clock.wall_now());
    if (health.stale && mark_node_status_unknown(node, clock.wall_now())) {
      tracker.status_written(node);
      unknown_at = clock.now();
    }
    // processTaintBaseEviction works on the condition as read this tick.
    const std::string observed = health.observed_ready["status"];
    if (observed == "Unknown") queue.add("node-1", clock.now());
    // The tainting pass (every 100ms; one right after the tick here).
    if (auto name = queue.next(clock.now())) {
      EXPECT_EQ(*name, "node-1");
      ASSERT_TRUE(swap_taint(node, no_execute_taint_for(ready_status(node), clock.wall_now()), kTaintNotReady,
                             "NoExecute"));
      tainted_at = clock.now();
      break;
    }
    clock.advance(kMonitorPeriod);
  }
  ASSERT_TRUE(unknown_at);
  ASSERT_TRUE(tainted_at);
  EXPECT_EQ(*unknown_at - t0, 55s);
  EXPECT_EQ(*tainted_at - t0, 60s);  // queued on the next tick, as upstream
  EXPECT_TRUE(has_taint(node, kTaintUnreachable, "NoExecute"));
  EXPECT_FALSE(has_taint(node, kTaintNotReady, "NoExecute"));
  EXPECT_EQ(node["spec"]["taints"][0]["timeAdded"], api::format_timestamp(clock.wall_now()));

  // The taint eviction controller sees the taint.
  const json taints = no_execute_taints(node);
  ASSERT_EQ(taints.size(), 1u);
  EvictionSchedule schedule;
  const SteadyTime seen = clock.now();
  json untolerating = json::array();
  json zero = default_tolerations();
  for (auto& toleration : zero) toleration["tolerationSeconds"] = 0;
  EXPECT_EQ(schedule.process_pod("default/default-tolerations", default_tolerations(), taints, seen),
            seen + 300s);
  EXPECT_EQ(schedule.process_pod("default/no-tolerations", untolerating, taints, seen), seen);
  EXPECT_EQ(schedule.process_pod("default/zero-seconds", zero, taints, seen), seen);
  ASSERT_NE(schedule.get("default/default-tolerations"), nullptr);
  EXPECT_EQ(schedule.get("default/default-tolerations")->due, seen + 300s);

  // Seen again later (another taint change): still due 300s after the first sight.
  clock.advance(100s);
  EXPECT_EQ(schedule.process_pod("default/default-tolerations", default_tolerations(), taints, clock.now()),
            seen + 300s);
}

TEST(TaintEviction, TolerationsDecideWhenAPodGoes) {
  const json unreachable = json::array({{{"key", kTaintUnreachable}, {"effect", "NoExecute"}}});
  // No toleration: at once.
  EXPECT_EQ(toleration_time(json::array(), unreachable), std::nullopt);
  // Default tolerations: 300s.
  EXPECT_EQ(toleration_time(default_tolerations(), unreachable), Millis(300s));
  // tolerationSeconds 0 (or negative): at once.
  json zero = default_tolerations();
  zero[1]["tolerationSeconds"] = 0;
  EXPECT_EQ(toleration_time(zero, unreachable), Millis(0));
  // Exists without tolerationSeconds: forever.
  const json forever = json::array({{{"operator", "Exists"}}});
  EXPECT_EQ(toleration_time(forever, unreachable), Millis(-1));
  // Another key does not tolerate; a NoSchedule toleration neither.
  EXPECT_EQ(toleration_time(json::array({{{"key", kTaintNotReady}, {"operator", "Exists"}}}), unreachable),
            std::nullopt);
  EXPECT_EQ(toleration_time(
                json::array({{{"key", kTaintUnreachable}, {"operator", "Exists"}, {"effect", "NoSchedule"}}}),
                unreachable),
            std::nullopt);
  // Equal compares values.
  const json valued = json::array({{{"key", "k"}, {"value", "v"}, {"effect", "NoExecute"}}});
  EXPECT_TRUE(tolerates(json({{"key", "k"}, {"operator", "Equal"}, {"value", "v"}}), valued[0]));
  EXPECT_FALSE(tolerates(json({{"key", "k"}, {"operator", "Equal"}, {"value", "w"}}), valued[0]));
  // Two taints: each needs a toleration; the least seconds of those used wins.
  json both = unreachable;
  both.push_back({{"key", kTaintNotReady}, {"effect", "NoExecute"}});
  json mixed = default_tolerations();
  mixed[0]["tolerationSeconds"] = 30;
  EXPECT_EQ(toleration_time(mixed, both), Millis(30s));
}

TEST(TaintEviction, TaintRemovalCancelsAndAnUntoleratedTaintEvictsAtOnce) {
  FakeClock clock;
  EvictionSchedule schedule;
  const json unreachable = json::array({{{"key", kTaintUnreachable}, {"effect", "NoExecute"}}});
  const SteadyTime t = clock.now();
  ASSERT_TRUE(schedule.process_pod("default/a", default_tolerations(), unreachable, t));
  clock.advance(299s);
  // Taints gone before the time: nothing left to do.
  EXPECT_EQ(schedule.process_pod("default/a", default_tolerations(), json::array(), clock.now()),
            std::nullopt);
  EXPECT_EQ(schedule.get("default/a"), nullptr);
  // Tainted again: the count starts over.
  EXPECT_EQ(schedule.process_pod("default/a", default_tolerations(), unreachable, clock.now()),
            clock.now() + 300s);
  // A new taint it does not tolerate: now.
  json more = unreachable;
  more.push_back({{"key", "example.com/broken"}, {"effect", "NoExecute"}});
  EXPECT_EQ(schedule.process_pod("default/a", default_tolerations(), more, clock.now()), clock.now());
  EXPECT_TRUE(schedule.cancel("default/a"));
  EXPECT_EQ(schedule.size(), 0u);
}

TEST(NoExecuteTainting, EvictionRateLimitsNodesTaintedPerSecond) {
  FakeClock clock;
  NoExecuteTaintQueue queue(0.1, clock.now());  // --node-eviction-rate default
  for (const char* name : {"node-1", "node-2", "node-3"}) EXPECT_TRUE(queue.add(name, clock.now()));
  EXPECT_FALSE(queue.add("node-1", clock.now()));  // already queued
  EXPECT_EQ(queue.next(clock.now()), "node-1");    // the bucket starts with one token
  EXPECT_EQ(queue.next(clock.now()), std::nullopt);
  clock.advance(9900ms);
  EXPECT_EQ(queue.next(clock.now()), std::nullopt);
  clock.advance(100ms);
  EXPECT_EQ(queue.next(clock.now()), "node-2");
  clock.advance(10s);
  EXPECT_EQ(queue.next(clock.now()), "node-3");
  // A tainted node stays in the set until removed (Ready again).
  EXPECT_FALSE(queue.add("node-1", clock.now()));
  queue.remove("node-1");
  EXPECT_TRUE(queue.add("node-1", clock.now()));
  // Rate 0 (full disruption): nothing goes.
  queue.set_rate(0, clock.now());
  clock.advance(1h);
  EXPECT_EQ(queue.next(clock.now()), std::nullopt);
}

TEST(NoExecuteTainting, ZoneStatesSetTheRate) {
  NodeLifecycleOptions options;
  EXPECT_EQ(compute_zone_state(10, 0, 0.55), ZoneState::kNormal);
  EXPECT_EQ(compute_zone_state(7, 3, 0.55), ZoneState::kNormal);             // 30% unhealthy
  EXPECT_EQ(compute_zone_state(1, 2, 0.55), ZoneState::kNormal);             // not more than 2
  EXPECT_EQ(compute_zone_state(2, 3, 0.55), ZoneState::kPartialDisruption);  // 60%
  EXPECT_EQ(compute_zone_state(0, 1, 0.55), ZoneState::kFullDisruption);
  EXPECT_DOUBLE_EQ(zone_eviction_rate(ZoneState::kNormal, 10, options), 0.1);
  EXPECT_DOUBLE_EQ(zone_eviction_rate(ZoneState::kPartialDisruption, 50, options), 0.0);
  EXPECT_DOUBLE_EQ(zone_eviction_rate(ZoneState::kPartialDisruption, 51, options), 0.01);
  EXPECT_DOUBLE_EQ(zone_eviction_rate(ZoneState::kFullDisruption, 3, options), 0.1);
  json node = json::object();
  EXPECT_EQ(zone_key(node), "");
  node["metadata"]["labels"]["topology.kubernetes.io/zone"] = "a";
  EXPECT_EQ(zone_key(node), std::string(":\x00:a", 4));
}

TEST(NoExecuteTainting, NotReadyAndUnreachableTaintsExcludeEachOther) {
  const WallTime now = std::chrono::system_clock::now();
  json node = make_node("node-1", "False", "2024-01-01T00:00:00Z", now);
  ASSERT_TRUE(swap_taint(node, no_execute_taint_for("False", now), kTaintUnreachable, "NoExecute"));
  EXPECT_TRUE(has_taint(node, kTaintNotReady, "NoExecute"));
  EXPECT_FALSE(swap_taint(node, no_execute_taint_for("False", now + 5s), kTaintUnreachable, "NoExecute"));
  ASSERT_TRUE(swap_taint(node, no_execute_taint_for("Unknown", now), kTaintNotReady, "NoExecute"));
  EXPECT_TRUE(has_taint(node, kTaintUnreachable, "NoExecute"));
  EXPECT_FALSE(has_taint(node, kTaintNotReady, "NoExecute"));
  EXPECT_EQ(no_execute_taint_for("True", now), json());
  ASSERT_TRUE(swap_taint(node, json(), kTaintUnreachable, "NoExecute"));
  EXPECT_TRUE(no_execute_taints(node).empty());
}

TEST(NoScheduleTainting, ConditionsAndUnschedulableBecomeNoScheduleTaints) {
  const WallTime now = std::chrono::system_clock::now();
  json node = make_node("node-1", "False", "2024-01-01T00:00:00Z", now);
  node["spec"]["taints"] = json::array({{{"key", "example.com/mine"}, {"effect", "NoSchedule"}}});
  ASSERT_TRUE(reconcile_no_schedule_taints(node, now));
  EXPECT_TRUE(has_taint(node, kTaintNotReady, "NoSchedule"));
  EXPECT_FALSE(reconcile_no_schedule_taints(node, now));  // nothing more to do
  (*node["status"]["conditions"].begin())["status"] = "True";
  node["spec"]["unschedulable"] = true;
  ASSERT_TRUE(reconcile_no_schedule_taints(node, now));
  EXPECT_FALSE(has_taint(node, kTaintNotReady, "NoSchedule"));
  EXPECT_TRUE(has_taint(node, kTaintUnschedulable, "NoSchedule"));
  EXPECT_TRUE(has_taint(node, "example.com/mine", "NoSchedule"));  // not ours: kept
}

}  // namespace
}  // namespace shakeout::controller
