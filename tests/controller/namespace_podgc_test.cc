// The namespace controller's status conditions and pod GC's choice of
// terminated pods, as pure functions.

#include <gtest/gtest.h>

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
  EXPECT_EQ(find(conditions, "NamespaceFinalizersRemaining")["message"], "All content-preserving finalizers finished");
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
            "Some resources are remaining: pods has 2 resource instances, replicasets.apps has 1 resource instances");
  EXPECT_EQ(find(first, "NamespaceFinalizersRemaining")["message"],
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

}  // namespace
}  // namespace shakeout::controller
