// The garbage collector's dependency graph (graph_builder.go's rules):
// which changes send which objects to attempt_to_delete / attempt_to_orphan.

#include "controller/garbage_collector.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace shakeout::controller {
namespace {

const api::ResourceInfo& res(const char* group, const char* plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}

json object(const std::string& kind, const std::string& name, const std::string& uid) {
  json o = json::object();
  o["kind"] = kind;
  o["metadata"] = {{"name", name}, {"namespace", "default"}, {"uid", uid}};
  return o;
}

json owned(json o, const json& owner_ref) {
  o["metadata"]["ownerReferences"].push_back(owner_ref);
  return o;
}

json ref(const std::string& api_version, const std::string& kind, const std::string& name,
         const std::string& uid, bool block) {
  return {{"apiVersion", api_version},  {"kind", kind}, {"name", name}, {"uid", uid}, {"controller", true},
          {"blockOwnerDeletion", block}};
}

json deleting(json o, const char* finalizer) {
  o["metadata"]["deletionTimestamp"] = "2026-11-29T08:00:00Z";
  o["metadata"]["finalizers"] = json::array({finalizer});
  return o;
}

bool contains(const std::vector<std::string>& list, const std::string& uid) {
  return std::find(list.begin(), list.end(), uid) != list.end();
}

TEST(DependencyGraph, ADependentSeenBeforeItsOwnerMakesAVirtualOwnerToVerify) {
  DependencyGraph graph;
  auto pod = owned(object("Pod", "web-1", "pod-1"), ref("apps/v1", "ReplicaSet", "web", "rs-1", true));
  auto work = graph.observe(res("", "pods"), pod);
  EXPECT_EQ(work.attempt_to_delete, std::vector<std::string>{"rs-1"});
  const auto* owner = graph.find("rs-1");
  ASSERT_NE(owner, nullptr);
  EXPECT_TRUE(owner->is_virtual);
  EXPECT_EQ(owner->identity.resource, &res("apps", "replicasets"));
  EXPECT_EQ(owner->identity.ns, "default");
  EXPECT_EQ(owner->identity.name, "web");
  EXPECT_EQ(owner->dependents, std::set<std::string>{"pod-1"});

  // Observing the owner makes it real; nothing to do.
  work = graph.observe(res("apps", "replicasets"), object("ReplicaSet", "web", "rs-1"));
  EXPECT_TRUE(work.attempt_to_delete.empty());
  EXPECT_FALSE(graph.find("rs-1")->is_virtual);
  EXPECT_EQ(graph.find("rs-1")->dependents, std::set<std::string>{"pod-1"});
}

TEST(DependencyGraph, ACrossScopeOwnerIsLookedUpWithoutANamespace) {
  DependencyGraph graph;
  auto lease = owned(object("Lease", "node-1", "lease-1"), ref("v1", "Node", "node-1", "node-uid", false));
  graph.observe(res("coordination.k8s.io", "leases"), lease);
  const auto* node = graph.find("node-uid");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->identity.resource, &res("", "nodes"));
  EXPECT_EQ(node->identity.ns, "");
}

TEST(DependencyGraph, AGoneOwnerSendsItsDependentsToBeDeleted) {
  DependencyGraph graph;
  graph.observe(res("apps", "replicasets"), object("ReplicaSet", "web", "rs-1"));
  for (const char* uid : {"pod-1", "pod-2"})
    graph.observe(res("", "pods"),
                  owned(object("Pod", uid, uid), ref("apps/v1", "ReplicaSet", "web", "rs-1", true)));
  auto work = graph.remove("rs-1");
  EXPECT_TRUE(contains(work.attempt_to_delete, "pod-1"));
  EXPECT_TRUE(contains(work.attempt_to_delete, "pod-2"));
  EXPECT_EQ(graph.find("rs-1"), nullptr);
  // The dependents keep pointing at it (their own object says so).
  EXPECT_EQ(graph.find("pod-1")->owners.front().uid, "rs-1");
}

TEST(DependencyGraph, ForegroundDeletionWaitsOnBlockingDependentsOnly) {
  DependencyGraph graph;
  auto rs = object("ReplicaSet", "web", "rs-1");
  graph.observe(res("apps", "replicasets"), rs);
  graph.observe(res("", "pods"),
                owned(object("Pod", "a", "pod-a"), ref("apps/v1", "ReplicaSet", "web", "rs-1", true)));
  graph.observe(res("", "pods"),
                owned(object("Pod", "b", "pod-b"), ref("apps/v1", "ReplicaSet", "web", "rs-1", false)));

  auto work = graph.observe(res("apps", "replicasets"), deleting(rs, "foregroundDeletion"));
  EXPECT_TRUE(graph.find("rs-1")->deleting_dependents);
  EXPECT_TRUE(contains(work.attempt_to_delete, "pod-a"));
  EXPECT_TRUE(contains(work.attempt_to_delete, "pod-b"));
  EXPECT_TRUE(contains(work.attempt_to_delete, "rs-1"));
  EXPECT_EQ(graph.blocking_dependents("rs-1"), std::vector<std::string>{"pod-a"});
  // The same state again is no transition.
  EXPECT_TRUE(graph.observe(res("apps", "replicasets"), deleting(rs, "foregroundDeletion"))
                  .attempt_to_delete.empty());

  // The blocking dependent going away makes the owner look again.
  work = graph.remove("pod-a");
  EXPECT_EQ(work.attempt_to_delete, std::vector<std::string>{"rs-1"});
  EXPECT_TRUE(graph.blocking_dependents("rs-1").empty());
}

TEST(DependencyGraph, UnblockingOrDroppingAReferenceWakesAForegroundOwner) {
  DependencyGraph graph;
  auto rs = object("ReplicaSet", "web", "rs-1");
  graph.observe(res("apps", "replicasets"), rs);
  auto pod = object("Pod", "a", "pod-a");
  graph.observe(res("", "pods"), owned(pod, ref("apps/v1", "ReplicaSet", "web", "rs-1", true)));
  graph.observe(res("apps", "replicasets"), deleting(rs, "foregroundDeletion"));

  auto work = graph.observe(res("", "pods"), owned(pod, ref("apps/v1", "ReplicaSet", "web", "rs-1", false)));
  EXPECT_EQ(work.attempt_to_delete, std::vector<std::string>{"rs-1"});
  EXPECT_TRUE(graph.blocking_dependents("rs-1").empty());
  work = graph.observe(res("", "pods"), pod);  // the reference is gone
  EXPECT_EQ(work.attempt_to_delete, std::vector<std::string>{"rs-1"});
  EXPECT_TRUE(graph.find("rs-1")->dependents.empty());
}

TEST(DependencyGraph, OrphanDeletionIsQueuedOnceForOrphaning) {
  DependencyGraph graph;
  auto rs = object("ReplicaSet", "web", "rs-1");
  graph.observe(res("apps", "replicasets"), rs);
  graph.observe(res("", "pods"),
                owned(object("Pod", "a", "pod-a"), ref("apps/v1", "ReplicaSet", "web", "rs-1", true)));
  auto work = graph.observe(res("apps", "replicasets"), deleting(rs, "orphan"));
  EXPECT_EQ(work.attempt_to_orphan, std::vector<std::string>{"rs-1"});
  EXPECT_TRUE(work.attempt_to_delete.empty());
  EXPECT_TRUE(graph.observe(res("apps", "replicasets"), deleting(rs, "orphan")).attempt_to_orphan.empty());
}

TEST(DependencyGraph, AVirtualOwnerNobodyNamesIsForgotten) {
  DependencyGraph graph;
  graph.observe(res("", "pods"),
                owned(object("Pod", "a", "pod-a"), ref("apps/v1", "ReplicaSet", "gone", "rs-x", true)));
  ASSERT_NE(graph.find("rs-x"), nullptr);
  graph.remove("pod-a");
  EXPECT_EQ(graph.find("rs-x"), nullptr);
  EXPECT_EQ(graph.size(), 0u);
}

TEST(DependencyGraph, OwnerReferencesParseAndSkipEntriesWithoutUid) {
  json o = object("Pod", "a", "pod-a");
  o["metadata"]["ownerReferences"] = json::array(
      {ref("apps/v1", "ReplicaSet", "web", "rs-1", true), {{"kind", "ReplicaSet"}, {"name", "no-uid"}}});
  auto refs = owner_references(o);
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].kind, "ReplicaSet");
  EXPECT_TRUE(refs[0].block_owner_deletion);
  // An unknown kind has no resource to look it up with.
  OwnerReference unknown{"example.com/v1", "Widget", "w", "w-1", false};
  EXPECT_EQ(owner_identity(unknown, "default").resource, nullptr);
}

}  // namespace
}  // namespace shakeout::controller
