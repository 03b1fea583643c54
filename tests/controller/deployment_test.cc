// The Deployment controller's pure rules (deployment_util.h): template
// hashes, maxSurge/maxUnavailable, one rolling-update step up and down,
// Recreate's wait for old pods, proportional scaling, revisions, conditions
// and the revision history cleanup.

#include "controller/deployment.h"

#include <gtest/gtest.h>

#include "api/store.h"
#include "controller/deployment_util.h"

namespace shakeout::controller {
namespace {

using namespace std::chrono_literals;

const WallTime kT0 = std::chrono::system_clock::time_point(std::chrono::hours(24 * 365 * 50));

json deployment(int64_t replicas, const json& surge = "25%", const json& unavailable = "25%") {
  json d = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 2},
    "spec": {"selector": {"matchLabels": {"app": "web"}}, "progressDeadlineSeconds": 600,
             "revisionHistoryLimit": 10,
             "strategy": {"type": "RollingUpdate"},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "c", "image": "v1"}]}}}})");
  d["spec"]["replicas"] = replicas;
  d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = surge;
  d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = unavailable;
  return d;
}

json rs(const std::string& name, int64_t replicas, int64_t available,
        const std::string& created = "2024-01-01T00:00:00Z") {
  json r = json::object();
  r["metadata"]["name"] = name;
  r["metadata"]["namespace"] = "default";
  r["metadata"]["uid"] = name + "-uid";
  r["metadata"]["creationTimestamp"] = created;
  r["spec"]["replicas"] = replicas;
  r["status"]["replicas"] = replicas;
  r["status"]["readyReplicas"] = available;
  r["status"]["availableReplicas"] = available;
  return r;
}

TEST(DeploymentHash, StableForATemplateAndChangesWithTemplateAndCollisionCount) {
  const json tmpl = deployment(3)["spec"]["template"];
  const std::string hash = compute_hash(tmpl, std::nullopt);
  EXPECT_EQ(hash, compute_hash(json::parse(tmpl.dump()), std::nullopt));
  EXPECT_FALSE(hash.empty());
  for (char c : hash)
    EXPECT_NE(std::string("bcdfghjklmnpqrstvwxz2456789").find(c), std::string::npos) << hash;
  json other = tmpl;
  other["spec"]["containers"][0]["image"] = "v2";
  EXPECT_NE(compute_hash(other, std::nullopt), hash);
  EXPECT_NE(compute_hash(tmpl, 1), hash);
  EXPECT_NE(compute_hash(tmpl, 1), compute_hash(tmpl, 2));
  EXPECT_EQ(safe_encode_string("0129"), "456f");  // byte % 27 into the alphabet: 48 -> 21 -> 4
}

TEST(DeploymentHash, NewReplicaSetCarriesTheHashInNameSelectorAndLabels) {
  const json d = deployment(3);
  const json r = new_replicaset_for(d, "abc");
  EXPECT_EQ(r["metadata"]["name"], "web-abc");
  EXPECT_EQ(r["spec"]["selector"]["matchLabels"][kPodTemplateHashLabel], "abc");
  EXPECT_EQ(r["spec"]["template"]["metadata"]["labels"][kPodTemplateHashLabel], "abc");
  EXPECT_EQ(r["metadata"]["labels"][kPodTemplateHashLabel], "abc");
  EXPECT_EQ(r["metadata"]["ownerReferences"][0]["kind"], "Deployment");
  EXPECT_EQ(r["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(r["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], true);
  EXPECT_TRUE(equal_ignore_hash(r["spec"]["template"], d["spec"]["template"]));
  std::vector<json> rss = {rs("web-old", 3, 3), r};
  rss[0]["spec"]["template"] = d["spec"]["template"];
  rss[0]["spec"]["template"]["spec"]["containers"][0]["image"] = "v0";
  EXPECT_EQ(find_new_replicaset(d, rss), std::optional<std::size_t>(1));
}

TEST(DeploymentFenceposts, SurgeRoundsUpUnavailableRoundsDownAndBothZeroMakesOneUnavailable) {
  EXPECT_EQ(resolve_fenceposts("25%", "25%", 10), (std::pair<int64_t, int64_t>{3, 2}));
  EXPECT_EQ(resolve_fenceposts("25%", "25%", 1), (std::pair<int64_t, int64_t>{1, 0}));
  EXPECT_EQ(resolve_fenceposts(0, "10%", 3), (std::pair<int64_t, int64_t>{0, 1}));
  EXPECT_EQ(resolve_fenceposts(2, 0, 3), (std::pair<int64_t, int64_t>{2, 0}));
  EXPECT_EQ(scaled_value("50%", 5, true), 3);
  EXPECT_EQ(scaled_value("50%", 5, false), 2);
  EXPECT_EQ(scaled_value("x%", 5, false), std::nullopt);
  EXPECT_EQ(max_surge(deployment(10)), 3);
  EXPECT_EQ(max_unavailable(deployment(10)), 2);
  EXPECT_EQ(max_unavailable(deployment(2, 0, 5)), 2);  // at most replicas
  EXPECT_EQ(max_unavailable(deployment(0)), 0);
  json recreate = deployment(10);
  recreate["spec"]["strategy"] = {{"type", "Recreate"}};
  EXPECT_EQ(max_surge(recreate), 0);
  EXPECT_EQ(max_unavailable(recreate), 0);
}

TEST(DeploymentRolling, NewReplicaSetGrowsWithinMaxSurge) {
  const json d = deployment(10);  // surge 3
  EXPECT_EQ(new_rs_replicas(d, {rs("old", 10, 10), rs("new", 0, 0)}, rs("new", 0, 0)), 3);
  EXPECT_EQ(new_rs_replicas(d, {rs("old", 10, 10), rs("new", 3, 0)}, rs("new", 3, 0)), 3);  // at 13
  EXPECT_EQ(new_rs_replicas(d, {rs("old", 2, 2), rs("new", 8, 8)}, rs("new", 8, 8)),
            10);  // not past replicas
  json recreate = deployment(10);
  recreate["spec"]["strategy"] = {{"type", "Recreate"}};
  EXPECT_EQ(new_rs_replicas(recreate, {rs("new", 0, 0)}, rs("new", 0, 0)), 10);
}

TEST(DeploymentRolling, OldReplicaSetsShrinkKeepingReplicasMinusMaxUnavailableAvailable) {
  const json d = deployment(10);  // unavailable 2: keep 8 available
  using Plan = std::vector<std::pair<std::string, int64_t>>;
  // The new RS is not available yet: only the 2 spare available may go.
  EXPECT_EQ(plan_old_scale_down(d, {rs("old", 10, 10)}, rs("new", 3, 0)), (Plan{{"old", 8}}));
  // Nothing spare: no step.
  EXPECT_EQ(plan_old_scale_down(d, {rs("old", 8, 8)}, rs("new", 3, 0)), Plan{});
  // Unhealthy old replicas go first, then available ones down to 8.
  EXPECT_EQ(plan_old_scale_down(d, {rs("old", 10, 7)}, rs("new", 3, 3)), (Plan{{"old", 5}}));
  // Oldest first across several old RSs.
  EXPECT_EQ(plan_old_scale_down(d, {rs("b", 5, 5, "2024-01-02T00:00:00Z"), rs("a", 5, 5)}, rs("new", 3, 3)),
            (Plan{{"a", 0}}));
  // All old ones at 0: nothing to do.
  EXPECT_EQ(plan_old_scale_down(d, {rs("old", 0, 0)}, rs("new", 10, 10)), Plan{});
}

TEST(DeploymentRecreate, OldPodsRunningUntilOldReplicaSetsAndTheirPodsAreGone) {
  json old_rs = rs("old", 0, 0);
  old_rs["status"]["replicas"] = 1;
  EXPECT_TRUE(old_pods_running({old_rs}, {}, "new-uid"));
  old_rs["status"]["replicas"] = 0;
  json pod = json::object();
  pod["metadata"]["ownerReferences"] = json::array({{{"uid", "old-uid"}, {"controller", true}}});
  pod["status"]["phase"] = "Running";
  EXPECT_TRUE(old_pods_running({old_rs}, {pod}, "new-uid"));
  pod["status"]["phase"] = "Succeeded";
  EXPECT_FALSE(old_pods_running({old_rs}, {pod}, "new-uid"));
  pod["status"]["phase"] = "Running";
  pod["metadata"]["ownerReferences"][0]["uid"] = "new-uid";
  EXPECT_FALSE(old_pods_running({old_rs}, {pod}, "new-uid"));
}

TEST(DeploymentScale, OneActiveReplicaSetTakesTheWholeCount) {
  json only = rs("new", 3, 3);
  EXPECT_EQ(plan_scale(deployment(5), &only, {rs("old", 0, 0)}),
            (std::vector<std::pair<std::string, int64_t>>{{"new", 5}}));
}

TEST(DeploymentScale, MidRolloutReplicasAreSpreadProportionally) {
  json new_rs = rs("new", 5, 0, "2024-01-02T00:00:00Z");
  json old_rs = rs("old", 8, 8);
  for (json* r : {&new_rs, &old_rs}) set_replicas_annotations(*r, 10, 13);
  using Plan = std::vector<std::pair<std::string, int64_t>>;
  // 10 -> 20: 25 allowed, 12 to add: old 8*25/13 = 15.4 -> 15, new 5*25/13 = 9.6 -> 10.
  EXPECT_EQ(plan_scale(deployment(20), &new_rs, {old_rs}), (Plan{{"old", 15}, {"new", 10}}));
  // 10 -> 5: 7 allowed, 6 to remove: old 8*7/13 = 4.3 -> 4, new 5*7/13 = 2.7 -> 3.
  EXPECT_EQ(plan_scale(deployment(5), &new_rs, {old_rs}), (Plan{{"old", 4}, {"new", 3}}));
  // To 0: everything goes.
  EXPECT_EQ(plan_scale(deployment(0), &new_rs, {old_rs}), (Plan{{"old", 0}, {"new", 0}}));
}

TEST(DeploymentRevision, NewIsMaxPlusOneAndARolledBackReplicaSetKeepsItsHistory) {
  const json d = deployment(4);
  json old1 = rs("a", 0, 0);
  old1["metadata"]["annotations"][kRevisionAnnotation] = "1";
  json old2 = rs("b", 0, 0);
  old2["metadata"]["annotations"][kRevisionAnnotation] = "2";
  EXPECT_EQ(max_revision({old1, old2}), 2);
  json fresh = new_replicaset_for(d, "h");
  EXPECT_TRUE(set_new_replicaset_annotations(d, fresh, 3, false));
  EXPECT_EQ(fresh["metadata"]["annotations"][kRevisionAnnotation], "3");
  EXPECT_EQ(fresh["metadata"]["annotations"][kDesiredReplicasAnnotation], "4");
  EXPECT_EQ(fresh["metadata"]["annotations"][kMaxReplicasAnnotation], "5");
  // Back to the template of revision 1: it becomes revision 3.
  EXPECT_TRUE(set_new_replicaset_annotations(d, old1, 3, true));
  EXPECT_EQ(old1["metadata"]["annotations"][kRevisionAnnotation], "3");
  EXPECT_EQ(old1["metadata"]["annotations"][kRevisionHistoryAnnotation], "1");
  EXPECT_FALSE(old1["metadata"]["annotations"].contains(kDesiredReplicasAnnotation));
  EXPECT_FALSE(set_new_replicaset_annotations(d, old1, 3, true));  // nothing left to change
}

TEST(DeploymentConditions, AvailableFollowsMinimumAvailability) {
  const json d = deployment(4);  // unavailable 1
  json status = calculate_status(d, {rs("new", 4, 3)}, nullptr, kT0);
  const json* available = get_condition(status, "Available");
  ASSERT_NE(available, nullptr);
  EXPECT_EQ((*available)["status"], "True");
  EXPECT_EQ((*available)["reason"], kMinimumReplicasAvailable);
  EXPECT_EQ((*available)["message"], "Deployment has minimum availability.");
  EXPECT_EQ(status["unavailableReplicas"], 1);
  EXPECT_EQ(status["observedGeneration"], 2);
  status = calculate_status(d, {rs("new", 4, 2)}, nullptr, kT0);
  available = get_condition(status, "Available");
  EXPECT_EQ((*available)["status"], "False");
  EXPECT_EQ((*available)["reason"], kMinimumReplicasUnavailable);
  EXPECT_EQ((*available)["message"], "Deployment does not have minimum availability.");
}

TEST(DeploymentConditions, SetConditionKeepsTransitionTimeWhileTheStatusStays) {
  json status = json::object();
  set_condition(status, new_condition("Progressing", "True", kNewRSReason, "m", kT0));
  set_condition(status, new_condition("Progressing", "True", kReplicaSetUpdatedReason, "m", kT0 + 10s));
  const json* c = get_condition(status, "Progressing");
  EXPECT_EQ((*c)["reason"], kReplicaSetUpdatedReason);
  EXPECT_EQ((*c)["lastTransitionTime"], api::format_timestamp(kT0));
  EXPECT_EQ((*c)["lastUpdateTime"], api::format_timestamp(kT0 + 10s));
  set_condition(status, new_condition("Progressing", "False", kTimedOutReason, "m", kT0 + 20s));
  EXPECT_EQ((*get_condition(status, "Progressing"))["lastTransitionTime"], api::format_timestamp(kT0 + 20s));
  EXPECT_EQ(status["conditions"].size(), 1u);
}

TEST(DeploymentConditions, ProgressingBecomesAvailableUpdatedOrTimedOut) {
  json d = deployment(3);
  d["status"] = calculate_status(d, {rs("old", 3, 3), rs("new", 1, 0)}, nullptr, kT0);
  d["status"]["updatedReplicas"] = 1;
  set_condition(d["status"], new_condition("Progressing", "True", kNewRSReason, "created", kT0));
  json new_rs = rs("web-h", 3, 3);

  // More updated replicas than before: progress, lastUpdateTime moves.
  json more = calculate_status(d, {rs("old", 1, 1), rs("web-h", 3, 1)}, &new_rs, kT0 + 60s);
  update_progressing(d, &new_rs, more, kT0 + 60s);
  const json* c = get_condition(more, "Progressing");
  EXPECT_EQ((*c)["reason"], kReplicaSetUpdatedReason);
  EXPECT_EQ((*c)["message"], "ReplicaSet \"web-h\" is progressing.");
  EXPECT_EQ((*c)["lastUpdateTime"], api::format_timestamp(kT0 + 60s));
  EXPECT_EQ((*c)["lastTransitionTime"], api::format_timestamp(kT0));

  // Everything updated and available: complete.
  json done = calculate_status(d, {rs("old", 0, 0), new_rs}, &new_rs, kT0 + 60s);
  update_progressing(d, &new_rs, done, kT0 + 60s);
  EXPECT_EQ((*get_condition(done, "Progressing"))["reason"], kNewRSAvailableReason);
  EXPECT_EQ((*get_condition(done, "Progressing"))["message"],
            "ReplicaSet \"web-h\" has successfully progressed.");
  EXPECT_EQ(stuck_requeue_after(d, done, kT0 + 60s), std::nullopt);

  // No progress: requeued for the deadline, then timed out past it.
  json stuck = calculate_status(d, {rs("old", 3, 3), rs("web-h", 1, 0)}, &new_rs, kT0 + 60s);
  stuck["updatedReplicas"] = 1;
  update_progressing(d, &new_rs, stuck, kT0 + 60s);
  EXPECT_EQ((*get_condition(stuck, "Progressing"))["reason"], kNewRSReason);
  EXPECT_EQ(stuck_requeue_after(d, stuck, kT0 + 60s), std::optional<Millis>(Millis(541000)));
  update_progressing(d, &new_rs, stuck, kT0 + 601s);
  EXPECT_EQ((*get_condition(stuck, "Progressing"))["reason"], kTimedOutReason);
  EXPECT_EQ((*get_condition(stuck, "Progressing"))["status"], "False");
  EXPECT_TRUE(deployment_timed_out(d, stuck, kT0 + 601s));
}

TEST(DeploymentCleanup, OldestRevisionsBeyondTheLimitThatAreScaledDownGo) {
  json d = deployment(3);
  d["spec"]["revisionHistoryLimit"] = 1;
  std::vector<json> olds;
  for (int i = 1; i <= 3; ++i) {
    json r = rs("r" + std::to_string(i), 0, 0);
    r["metadata"]["annotations"][kRevisionAnnotation] = std::to_string(i);
    olds.push_back(r);
  }
  olds[0]["spec"]["replicas"] = 1;  // still scaled up: kept
  const auto victims = replicasets_to_clean_up(d, olds);
  ASSERT_EQ(victims.size(), 1u);
  EXPECT_EQ(victims[0]["metadata"]["name"], "r2");
}

}  // namespace
}  // namespace shakeout::controller
