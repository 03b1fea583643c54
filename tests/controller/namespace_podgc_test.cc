// The namespace controller's status conditions and pod GC's choice of
// terminated pods, as pure functions.

#include <gtest/gtest.h>

#include "api/store.h"
#include "controller/disruption.h"
#include "controller/namespace.h"
#include "controller/podgc.h"

namespace shakeout::controller {
namespace {

json find(const json& conditions, const std::string& type) {
  for (const auto& c : conditions)
    if (c["type"] == type) return c;
  return json::object();
}

TEST(NamespaceConditions, EmptyContentIsAllClear) {
  auto conditions = namespace_conditions(NamespaceContent(), json::array(), "2026-11-29T08:00:00Z");
  ASSERT_EQ(conditions.size(), 5u);
  for (const auto& c : conditions) EXPECT_EQ(c["status"], "False") << c.dump();
  EXPECT_EQ(find(conditions, "NamespaceContentRemaining")["reason"], "ContentRemoved");
  EXPECT_EQ(find(conditions, "NamespaceFinalizersRemaining")["message"],
            "All content-preserving finalizers finished");
  EXPECT_EQ(find(conditions, "NamespaceDeletionContentFailure")["message"],
            "All content successfully deleted, may be waiting on finalization");
}

TEST(NamespaceConditions, RemainingContentAndFinalizersAreNamedAndTransitionTimesKept) {
  NamespaceContent content;
  content.remaining = {{"pods", 2}, {"replicasets.apps", 1}};
  content.finalizers = {{"example.com/keep", 1}};
  auto first = namespace_conditions(content, json::array(), "2026-11-29T08:00:00Z");
  auto remaining = find(first, "NamespaceContentRemaining");
  EXPECT_EQ(remaining["status"], "True");
  EXPECT_EQ(remaining["reason"], "SomeResourcesRemain");
  EXPECT_EQ(remaining["message"],
            "Some resources are remaining: pods has 2 resource instances, replicasets.apps has 1 resource "
            "instances");
  EXPECT_EQ(
      find(first, "NamespaceFinalizersRemaining")["message"],
      "Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances");
  // Same status later: the transition time stays; a change takes the new one.
  auto again = namespace_conditions(content, first, "2026-11-29T08:00:05Z");
  EXPECT_EQ(find(again, "NamespaceContentRemaining")["lastTransitionTime"], "2026-11-29T08:00:00Z");
  auto cleared = namespace_conditions(NamespaceContent(), first, "2026-11-29T08:00:09Z");
  EXPECT_EQ(find(cleared, "NamespaceContentRemaining")["lastTransitionTime"], "2026-11-29T08:00:09Z");
  EXPECT_EQ(find(cleared, "NamespaceDeletionDiscoveryFailure")["lastTransitionTime"], "2026-11-29T08:00:00Z");
}

json pod(const std::string& name, const std::string& phase, const std::string& created) {
  json p = json::object();
  p["metadata"] = {{"name", name}, {"namespace", "default"}, {"creationTimestamp", created}};
  p["status"]["phase"] = phase;
  return p;
}

TEST(PodGc, TerminatedPodsOverTheThresholdGoOldestFirst) {
  std::vector<json> pods = {pod("new-done", "Succeeded", "2026-11-29T08:00:03Z"),
                            pod("running", "Running", "2026-11-29T08:00:00Z"),
                            pod("old-failed", "Failed", "2026-11-29T08:00:01Z"),
                            pod("mid-done", "Succeeded", "2026-11-29T08:00:02Z")};
  auto victims = terminated_pods_to_delete(pods, 1);
  ASSERT_EQ(victims.size(), 2u);
  EXPECT_EQ(victims[0]["metadata"]["name"], "old-failed");
  EXPECT_EQ(victims[1]["metadata"]["name"], "mid-done");
  EXPECT_TRUE(terminated_pods_to_delete(pods, 3).empty());
  EXPECT_TRUE(terminated_pods_to_delete(pods, 0).empty()) << "0 turns the limit off";
}

json budget_pdb(const json& spec) {
  json pdb = json::object();
  pdb["metadata"] = {{"name", "db"}, {"namespace", "default"}, {"generation", 3}};
  pdb["spec"] = spec;
  return pdb;
}

TEST(Disruption, BudgetsFollowUpstreamsExpectedCountRules) {
  auto min_number = compute_budget(budget_pdb({{"minAvailable", 2}}), 3, std::nullopt);
  ASSERT_TRUE(min_number);
  EXPECT_EQ(min_number->expected, 3);
  EXPECT_EQ(min_number->desired_healthy, 2);
  // Percentages and maxUnavailable need the controllers' scale.
  EXPECT_FALSE(compute_budget(budget_pdb({{"minAvailable", "50%"}}), 3, std::nullopt));
  auto min_percent = compute_budget(budget_pdb({{"minAvailable", "50%"}}), 3, 5);
  EXPECT_EQ(min_percent->expected, 5);
  EXPECT_EQ(min_percent->desired_healthy, 3) << "50% of 5 rounds up";
  auto max_percent = compute_budget(budget_pdb({{"maxUnavailable", "30%"}}), 4, 4);
  EXPECT_EQ(max_percent->desired_healthy, 2) << "30% of 4 = 1.2 unavailable rounds up to 2";
  auto max_number = compute_budget(budget_pdb({{"maxUnavailable", 1}}), 3, 3);
  EXPECT_EQ(max_number->desired_healthy, 2);
  EXPECT_EQ(scaled_value(json("25%"), 10, false), 2);
  EXPECT_EQ(scaled_value(json("x%"), 10, false), std::nullopt);
}

json budget_pod(const std::string& name, bool ready, bool deleting) {
  json p = json::object();
  p["metadata"] = {{"name", name}, {"namespace", "default"}};
  if (deleting) p["metadata"]["deletionTimestamp"] = "2026-11-29T08:00:00Z";
  p["status"]["conditions"] = json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}});
  return p;
}

TEST(Disruption, StatusCountsHealthyPodsAndExpiresDisruptedOnes) {
  const auto now = api::parse_timestamp("2026-11-29T08:10:00Z").value();
  json pdb = budget_pdb({{"minAvailable", 1}});
  pdb["status"]["disruptedPods"] = {{"a", "2026-11-29T08:09:30Z"}, {"old", "2026-11-29T08:00:00Z"}};
  std::vector<json> pods = {budget_pod("a", true, false), budget_pod("b", true, false),
                            budget_pod("c", true, false), budget_pod("d", false, false),
                            budget_pod("e", true, true),  budget_pod("old", true, false)};
  auto budget = compute_budget(pdb, pods.size(), std::nullopt);
  json status = pdb_status(pdb, pods, budget, now);
  EXPECT_EQ(status["observedGeneration"], 3);
  EXPECT_EQ(status["currentHealthy"], 3) << "b, c and old: a was just disrupted, d not ready, e deleting";
  EXPECT_EQ(status["desiredHealthy"], 1);
  EXPECT_EQ(status["expectedPods"], 6);
  EXPECT_EQ(status["disruptionsAllowed"], 2);
  EXPECT_EQ(status["disruptedPods"], json({{"a", "2026-11-29T08:09:30Z"}}));
  EXPECT_EQ(status["conditions"][0]["reason"], "SufficientPods");

  json none = pdb_status(budget_pdb({{"minAvailable", 5}}), pods, Budget{6, 5}, now);
  EXPECT_EQ(none["disruptionsAllowed"], 0);
  EXPECT_EQ(none["conditions"][0]["reason"], "InsufficientPods");
  json failed = pdb_status(budget_pdb({{"maxUnavailable", 1}}), pods, std::nullopt, now);
  EXPECT_EQ(failed["disruptionsAllowed"], 0);
  EXPECT_EQ(failed["conditions"][0]["reason"], "SyncFailed");
}

}  // namespace
}  // namespace shakeout::controller
