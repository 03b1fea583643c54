#include "scheduler/cache.h"

#include <gtest/gtest.h>

#include "fake_objects.h"

namespace shakeout::scheduler {
namespace {

using testing::bound;
using testing::make_node;
using testing::make_pod;

TEST(PodRequests, SumsContainersTakesLargestInitAndAddsOverhead) {
  json pod = make_pod("p", "100m", "64Mi");
  pod["spec"]["containers"].push_back({{"name", "b"}, {"resources", {{"requests", {{"cpu", "200m"}}}}}});
  pod["spec"]["initContainers"] =
      json::array({{{"name", "init"}, {"resources", {{"requests", {{"cpu", "1"}, {"memory", "1Mi"}}}}}}});
  pod["spec"]["overhead"] = {{"cpu", "10m"}};
  Resources r = pod_requests(pod);
  EXPECT_EQ(r.milli_cpu, 1010);  // max(300m, 1) + 10m
  EXPECT_EQ(r.memory, 64LL * 1024 * 1024);
  EXPECT_EQ(r.pods, 1);
}

TEST(PodRequests, NonzeroDefaultsOnlyForMissingRequests) {
  Resources none = pod_nonzero_requests(make_pod("p"));
  EXPECT_EQ(none.milli_cpu, kDefaultMilliCpuRequest);
  EXPECT_EQ(none.memory, kDefaultMemoryRequest);
  Resources zero = pod_nonzero_requests(make_pod("p", "0", "0"));
  EXPECT_EQ(zero.milli_cpu, 0);
  EXPECT_EQ(zero.memory, 0);
  EXPECT_EQ(pod_requests(make_pod("p")).milli_cpu, 0);
}

TEST(NodeAllocatable, FallsBackToCapacity) {
  json node = make_node("n", "2", "1Gi", "10");
  node["status"]["allocatable"].erase("pods");
  node["status"]["capacity"] = {{"pods", "7"}};
  Resources r = node_allocatable(node);
  EXPECT_EQ(r.milli_cpu, 2000);
  EXPECT_EQ(r.memory, 1LL << 30);
  EXPECT_EQ(r.pods, 7);
}

TEST(Cache, AssumedPodsCountUntilTheInformerConfirmsThem) {
  Cache cache;
  std::vector<json> nodes = {make_node("a"), make_node("b")};
  json pod = make_pod("p", "500m");
  PodInfo info = make_pod_info(pod);
  info.node_name = "a";
  cache.assume(info);
  EXPECT_TRUE(cache.assumed("default/p"));
  auto infos = cache.snapshot(nodes);
  EXPECT_EQ(infos[0].requested.milli_cpu, 500);
  EXPECT_EQ(infos[0].requested.pods, 1);
  EXPECT_EQ(infos[1].requested.pods, 0);

  cache.update_pod(pod);  // a stale event from before the binding: kept
  EXPECT_TRUE(cache.assumed("default/p"));
  EXPECT_EQ(cache.snapshot(nodes)[0].requested.pods, 1);

  cache.update_pod(bound(pod, "a"));  // confirmed
  EXPECT_FALSE(cache.assumed("default/p"));
  EXPECT_EQ(cache.snapshot(nodes)[0].requested.pods, 1);
}

TEST(Cache, ForgetDropsOnlyAssumedPods) {
  Cache cache;
  std::vector<json> nodes = {make_node("a")};
  PodInfo info = make_pod_info(make_pod("p", "1"));
  info.node_name = "a";
  cache.assume(info);
  cache.forget("default/p");
  EXPECT_EQ(cache.snapshot(nodes)[0].requested.pods, 0);
  cache.update_pod(bound(make_pod("q", "1"), "a"));
  cache.forget("default/q");
  EXPECT_EQ(cache.snapshot(nodes)[0].requested.pods, 1);
}

TEST(Cache, TerminalAndDeletedPodsFreeTheirNode) {
  Cache cache;
  std::vector<json> nodes = {make_node("a")};
  json done = bound(make_pod("done", "1"), "a");
  cache.update_pod(done);
  cache.update_pod(bound(make_pod("gone", "1"), "a"));
  EXPECT_EQ(cache.snapshot(nodes)[0].requested.milli_cpu, 2000);
  done["status"]["phase"] = "Succeeded";
  cache.update_pod(done);
  cache.remove_pod("default/gone");
  EXPECT_EQ(cache.snapshot(nodes)[0].requested.milli_cpu, 0);
  EXPECT_EQ(cache.size(), 0U);
}

}  // namespace
}  // namespace shakeout::scheduler
