// The ReplicaSet controller's pure rules: pods from the template, slow-start
// batches, status counts, and which surplus pods go first.

#include "controller/replicaset.h"

#include <gtest/gtest.h>

#include "api/store.h"

namespace shakeout::controller {
namespace {

using namespace std::chrono_literals;

json replicaset() {
  return json::parse(R"({
    "apiVersion": "apps/v1", "kind": "ReplicaSet",
    "metadata": {"name": "web", "namespace": "default", "uid": "rs-uid", "generation": 3},
    "spec": {"replicas": 3, "minReadySeconds": 10,
             "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web", "tier": "front"},
                                       "annotations": {"a": "b"}},
                          "spec": {"containers": [{"name": "c", "image": "i"}]}}}})");
}

json pod(const std::string& name, const std::string& node, const std::string& phase, bool ready,
         WallTime ready_since, WallTime created) {
  json p = json::object();
  p["metadata"]["name"] = name;
  p["metadata"]["namespace"] = "default";
  p["metadata"]["labels"] = {{"app", "web"}, {"tier", "front"}};
  p["metadata"]["creationTimestamp"] = api::format_timestamp(created);
  if (!node.empty()) p["spec"]["nodeName"] = node;
  p["status"]["phase"] = phase;
  json condition = {{"type", "Ready"},
                    {"status", ready ? "True" : "False"},
                    {"lastTransitionTime", api::format_timestamp(ready_since)}};
  p["status"]["conditions"] = json::array({condition});
  return p;
}

const WallTime kT0 = std::chrono::system_clock::time_point(std::chrono::hours(24 * 365 * 50));

TEST(ReplicaSetRules, PodFromTemplateCarriesLabelsSpecGenerateNameAndControllerRef) {
  const json p = pod_from_template(replicaset());
  EXPECT_EQ(p["metadata"]["generateName"], "web-");
  EXPECT_EQ(p["metadata"]["namespace"], "default");
  EXPECT_FALSE(p["metadata"].contains("name"));
  EXPECT_EQ(p["metadata"]["labels"]["tier"], "front");
  EXPECT_EQ(p["metadata"]["annotations"]["a"], "b");
  EXPECT_EQ(p["spec"]["containers"][0]["image"], "i");
  ASSERT_EQ(p["metadata"]["ownerReferences"].size(), 1u);
  const json& ref = p["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["apiVersion"], "apps/v1");
  EXPECT_EQ(ref["kind"], "ReplicaSet");
  EXPECT_EQ(ref["name"], "web");
  EXPECT_EQ(ref["uid"], "rs-uid");
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(ref["blockOwnerDeletion"], true);
}

TEST(ReplicaSetRules, SlowStartBatchesDouble) {
  EXPECT_EQ(slow_start_batches(10, 1), (std::vector<int>{1, 2, 4, 3}));
  EXPECT_EQ(slow_start_batches(1, 1), (std::vector<int>{1}));
  EXPECT_EQ(slow_start_batches(0, 1), (std::vector<int>{}));
  EXPECT_EQ(slow_start_batches(500, 1), (std::vector<int>{1, 2, 4, 8, 16, 32, 64, 128, 245}));
}

TEST(ReplicaSetRules, StatusCountsReadyAvailableAfterMinReadySecondsAndFullyLabeled) {
  const WallTime now = kT0 + 100s;
  std::vector<json> pods = {
      pod("a", "n1", "Running", true, now - 20s, kT0),  // available
      pod("b", "n1", "Running", true, now - 5s, kT0),   // ready, not yet available
      pod("c", "n1", "Pending", false, now, kT0),
  };
  pods[2]["metadata"]["labels"].erase("tier");  // matches the selector, not the template
  const json status = calculate_status(replicaset(), pods, now);
  EXPECT_EQ(status["replicas"], 3);
  EXPECT_EQ(status["fullyLabeledReplicas"], 2);
  EXPECT_EQ(status["readyReplicas"], 2);
  EXPECT_EQ(status["availableReplicas"], 1);
  EXPECT_EQ(status["observedGeneration"], 3);
}

TEST(ReplicaSetRules, SurplusGoesUnscheduledThenPendingThenNotReadyThenNewest) {
  const json ready_old = pod("ready-old", "n1", "Running", true, kT0, kT0);
  const json ready_new = pod("ready-new", "n1", "Running", true, kT0, kT0 + 10s);
  const json not_ready = pod("not-ready", "n1", "Running", false, kT0, kT0);
  const json pending = pod("pending", "n1", "Pending", false, kT0, kT0);
  const json unscheduled = pod("unscheduled", "", "Pending", false, kT0, kT0);
  const std::vector<json> all = {ready_old, ready_new, not_ready, pending, unscheduled};
  std::vector<std::string> order;
  for (const auto& p : pods_to_delete(all, 5)) order.push_back(p["metadata"]["name"]);
  EXPECT_EQ(order,
            (std::vector<std::string>{"unscheduled", "pending", "not-ready", "ready-new", "ready-old"}));
  const auto two = pods_to_delete(all, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1]["metadata"]["name"], "pending");
}

TEST(ReplicaSetRules, RecentlyReadyGoesBeforeLongReady) {
  const json long_ready = pod("long", "n1", "Running", true, kT0, kT0 + 10s);
  const json just_ready = pod("just", "n1", "Running", true, kT0 + 50s, kT0);
  const auto victims = pods_to_delete({long_ready, just_ready}, 1);
  ASSERT_EQ(victims.size(), 1u);
  EXPECT_EQ(victims[0]["metadata"]["name"], "just");
}

}  // namespace
}  // namespace shakeout::controller
