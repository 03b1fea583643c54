#include "scheduler/algorithm.h"

#include <gtest/gtest.h>

#include <set>

#include "fake_objects.h"
#include "scheduler/taints.h"

namespace shakeout::scheduler {
namespace {

using testing::bound;
using testing::make_node;
using testing::make_pod;
using testing::owned_by;

// Always picks the first of tied nodes, or the last (uniform() near 1).
class FixedRandom final : public client::Random {
 public:
  explicit FixedRandom(double value) : value_(value) {}
  double uniform() override { return value_; }

 private:
  double value_;
};

std::vector<std::string> reasons_on(const json& pod, const json& node, const Cache& cache = Cache()) {
  std::vector<json> nodes = {node};
  auto infos = cache.snapshot(nodes);
  return filter_node(pod, make_pod_info(pod), infos[0]);
}

TEST(Filters, NotReadyNodesAreFiltered) {
  json node = make_node("a");
  node["status"]["conditions"][0]["status"] = "Unknown";
  EXPECT_EQ(reasons_on(make_pod("p"), node), std::vector<std::string>{kReasonNotReady});
  node["status"].erase("conditions");
  EXPECT_EQ(reasons_on(make_pod("p"), node), std::vector<std::string>{kReasonNotReady});
}

TEST(Filters, CordonedNodeUnlessThePodToleratesUnschedulable) {
  json node = make_node("a");
  node["spec"]["unschedulable"] = true;
  json pod = make_pod("p");
  EXPECT_EQ(reasons_on(pod, node), std::vector<std::string>{kReasonUnschedulable});
  pod["spec"]["tolerations"] =
      json::array({{{"key", kTaintUnschedulable}, {"operator", "Exists"}, {"effect", "NoSchedule"}}});
  EXPECT_TRUE(reasons_on(pod, node).empty());
}

TEST(Filters, UntoleratedTaintsNameTheTaint) {
  json node = make_node("a");
  node["spec"]["taints"] = json::array({{{"key", "dedicated"}, {"value", "db"}, {"effect", "NoExecute"}}});
  json pod = make_pod("p");
  EXPECT_EQ(reasons_on(pod, node), std::vector<std::string>{"node(s) had untolerated taint {dedicated: db}"});
  pod["spec"]["tolerations"] = json::array({{{"key", "dedicated"}, {"value", "db"}}});
  EXPECT_TRUE(reasons_on(pod, node).empty());
}

TEST(Filters, NodeSelectorMustMatchLabels) {
  json pod = make_pod("p");
  pod["spec"]["nodeSelector"] = {{"disk", "ssd"}};
  json node = make_node("a");
  EXPECT_EQ(reasons_on(pod, node), std::vector<std::string>{kReasonNodeSelector});
  node["metadata"]["labels"]["disk"] = "ssd";
  EXPECT_TRUE(reasons_on(pod, node).empty());
}

TEST(Filters, RequestsAgainstAllocatableMinusWhatIsThere) {
  json node = make_node("a", "1", "1Gi", "110");
  Cache cache;
  cache.update_pod(bound(make_pod("big", "600m", "600Mi"), "a"));
  EXPECT_TRUE(reasons_on(make_pod("p", "400m", "400Mi"), node, cache).empty());
  EXPECT_EQ(reasons_on(make_pod("p", "500m", "500Mi"), node, cache),
            (std::vector<std::string>{kReasonInsufficientCpu, kReasonInsufficientMemory}));
  EXPECT_EQ(reasons_on(make_pod("p", "", "500Mi"), node, cache),
            std::vector<std::string>{kReasonInsufficientMemory});
  // A pod without requests fits a full node.
  EXPECT_TRUE(reasons_on(make_pod("p"), make_node("a", "0", "0"), cache).empty());
}

TEST(Filters, PodCountAgainstAllocatablePods) {
  json node = make_node("a", "4", "8Gi", "1");
  Cache cache;
  EXPECT_TRUE(reasons_on(make_pod("p"), node, cache).empty());
  cache.update_pod(bound(make_pod("there"), "a"));
  EXPECT_EQ(reasons_on(make_pod("p"), node, cache), std::vector<std::string>{kReasonTooManyPods});
}

TEST(Scores, LeastAllocatedIsUpstreamsIntegerFormula) {
  std::vector<json> nodes = {make_node("a", "4", "8Gi")};
  Cache cache;
  cache.update_pod(bound(make_pod("x", "1", "2Gi"), "a"));
  auto infos = cache.snapshot(nodes);
  // cpu: (4000 - 2000) * 100 / 4000 = 50; memory: (8Gi - 3Gi) * 100 / 8Gi = 62; mean 56.
  EXPECT_EQ(least_allocated_score(make_pod_info(make_pod("p", "1", "1Gi")), infos[0]), 56);
  // Requests beyond capacity score 0 for that resource; no requests count
  // the non-zero defaults (100m, 200Mi): cpu (4000-1100)*100/4000 = 72,
  // memory (8192-2048-200)*100/8192 = 72.
  EXPECT_EQ(least_allocated_score(make_pod_info(make_pod("p", "8", "1Gi")), infos[0]), (0 + 62) / 2);
  EXPECT_EQ(least_allocated_score(make_pod_info(make_pod("p")), infos[0]), 72);
}

TEST(Scores, SpreadFavoursNodesWithFewerPodsOfTheSameOwner) {
  std::vector<json> nodes = {make_node("a"), make_node("b"), make_node("c")};
  Cache cache;
  json one = make_pod("one");
  json two = make_pod("two");
  json other = make_pod("other");
  cache.update_pod(bound(owned_by(one, "rs-1"), "a"));
  cache.update_pod(bound(owned_by(two, "rs-1"), "a"));
  cache.update_pod(bound(owned_by(other, "rs-2"), "b"));
  auto infos = cache.snapshot(nodes);
  std::vector<const NodeInfo*> feasible = {&infos[0], &infos[1], &infos[2]};
  json pod = make_pod("new");
  owned_by(pod, "rs-1");
  EXPECT_EQ(spread_scores(make_pod_info(pod), feasible), (std::vector<int64_t>{0, 100, 100}));
  cache.update_pod(bound(make_pod("three"), "b"));  // no owner: does not count
  json three = make_pod("three");
  cache.update_pod(bound(owned_by(three, "rs-1"), "b"));
  infos = cache.snapshot(nodes);
  feasible = {&infos[0], &infos[1], &infos[2]};
  EXPECT_EQ(spread_scores(make_pod_info(pod), feasible), (std::vector<int64_t>{0, 50, 100}));
  EXPECT_EQ(spread_scores(make_pod_info(make_pod("orphan")), feasible), (std::vector<int64_t>{0, 0, 0}));
}

TEST(Schedule, SpreadingBeatsABiggerNode) {
  // Least allocated alone prefers the big node for every pod; spreading the
  // owner's pods outweighs it once the big node has one.
  std::vector<json> nodes = {make_node("big", "64", "256Gi"), make_node("small", "4", "8Gi")};
  Cache cache;
  FixedRandom random(0.0);
  json first = make_pod("first");
  owned_by(first, "rs");
  EXPECT_EQ(schedule_pod(first, cache.snapshot(nodes), random).node, "big");
  cache.update_pod(bound(first, "big"));
  json second = make_pod("second");
  owned_by(second, "rs");
  EXPECT_EQ(schedule_pod(second, cache.snapshot(nodes), random).node, "small");
}

TEST(Schedule, TiesAreBrokenAtRandom) {
  std::vector<json> nodes = {make_node("a"), make_node("b"), make_node("c")};
  Cache cache;
  FixedRandom first(0.0);
  FixedRandom last(0.99);
  EXPECT_EQ(schedule_pod(make_pod("p"), cache.snapshot(nodes), first).node, "c");
  EXPECT_EQ(schedule_pod(make_pod("p"), cache.snapshot(nodes), last).node, "a");
  client::SeededRandom seeded(7);
  std::set<std::string> picked;
  for (int i = 0; i < 50; ++i) picked.insert(schedule_pod(make_pod("p"), cache.snapshot(nodes), seeded).node);
  EXPECT_EQ(picked.size(), 3U);
}

TEST(Schedule, FitErrorCountsReasonsSortedAsUpstream) {
  json cordoned = make_node("a");
  cordoned["spec"]["unschedulable"] = true;
  json tainted = make_node("b");
  tainted["spec"]["taints"] = json::array({{{"key", "k"}, {"value", "v"}, {"effect", "NoSchedule"}}});
  json tainted2 = make_node("c");
  tainted2["spec"]["taints"] = tainted["spec"]["taints"];
  std::vector<json> nodes = {cordoned, tainted, tainted2};
  Cache cache;
  FixedRandom random(0.0);
  Decision decision = schedule_pod(make_pod("p"), cache.snapshot(nodes), random);
  EXPECT_TRUE(decision.node.empty());
  EXPECT_EQ(decision.message(),
            "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) had untolerated taint {k: v}.");
  EXPECT_EQ(fit_error_message(0, {}), "no nodes available to schedule pods");
  EXPECT_EQ(fit_error_message(2, {{"Insufficient cpu", 2}, {"Insufficient memory", 1}}),
            "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.");
}

}  // namespace
}  // namespace shakeout::scheduler
