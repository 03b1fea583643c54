// Resource registry: discovery names and upstream's etcd keys.

#include <gtest/gtest.h>

#include "api/resource_registry.h"

namespace shakeout::api {
namespace {

const ResourceRegistry& registry() {
  return ResourceRegistry::builtin();
}

TEST(ResourceRegistry, KeysAreUpstreamEtcdKeys) {
  struct Case {
    const char* group;
    const char* plural;
    const char* key;
  };
  for (const Case& c :
       {Case{"", "namespaces", "/registry/namespaces/web"}, Case{"", "pods", "/registry/pods/web/web-1"},
        Case{"", "nodes", "/registry/minions/web-1"},
        Case{"", "services", "/registry/services/specs/web/web-1"},
        Case{"", "endpoints", "/registry/services/endpoints/web/web-1"},
        Case{"", "events", "/registry/events/web/web-1"},
        Case{"apps", "deployments", "/registry/deployments/web/web-1"},
        Case{"apps", "replicasets", "/registry/replicasets/web/web-1"},
        Case{"coordination.k8s.io", "leases", "/registry/leases/web/web-1"},
        Case{"discovery.k8s.io", "endpointslices", "/registry/endpointslices/web/web-1"}}) {
    const ResourceInfo* r = registry().by_plural(c.group, c.plural);
    ASSERT_NE(r, nullptr) << c.plural;
    std::string name = r->plural == "namespaces" ? "web" : "web-1";
    EXPECT_EQ(r->key("web", name), c.key) << c.plural;
  }
}

TEST(ResourceRegistry, ListPrefixesScopeToNamespaceOrAll) {
  const ResourceInfo* pods = registry().by_plural("", "pods");
  EXPECT_EQ(pods->list_prefix("web"), "/registry/pods/web/");
  EXPECT_EQ(pods->list_prefix(""), "/registry/pods/");
  const ResourceInfo* nodes = registry().by_plural("", "nodes");
  EXPECT_EQ(nodes->list_prefix("ignored"), "/registry/minions/");
}

TEST(ResourceRegistry, LookupByPluralKindShortNameAndQualifiedName) {
  EXPECT_EQ(registry().by_kind("apps", "Deployment")->plural, "deployments");
  EXPECT_EQ(registry().by_kind("", "Deployment"), nullptr);
  EXPECT_EQ(registry().by_short_name("svc")->kind, "Service");
  EXPECT_EQ(registry().by_short_name("no")->plural, "nodes");
  EXPECT_EQ(registry().find("po")->kind, "Pod");
  EXPECT_EQ(registry().find("deploy")->group, "apps");
  EXPECT_EQ(registry().find("ReplicaSet")->plural, "replicasets");
  EXPECT_EQ(registry().find("deployments.apps")->kind, "Deployment");
  EXPECT_EQ(registry().find("deployments.batch"), nullptr);
  EXPECT_EQ(registry().find("ep")->plural, "endpoints");
  EXPECT_EQ(registry().find("nosuch"), nullptr);
}

TEST(ResourceRegistry, DiscoveryFacts) {
  const ResourceInfo* pods = registry().by_plural("", "pods");
  EXPECT_TRUE(pods->namespaced);
  EXPECT_EQ(pods->api_version(), "v1");
  for (const char* sub : {"status", "binding", "eviction", "log"})
    EXPECT_TRUE(pods->has_subresource(sub)) << sub;
  EXPECT_EQ(pods->categories, std::vector<std::string>{"all"});
  const ResourceInfo* deployments = registry().by_plural("apps", "deployments");
  EXPECT_EQ(deployments->api_version(), "apps/v1");
  EXPECT_TRUE(deployments->has_subresource("scale"));
  EXPECT_TRUE(deployments->tracks_generation);
  EXPECT_FALSE(registry().by_plural("", "namespaces")->namespaced);
  EXPECT_FALSE(registry().by_plural("", "nodes")->namespaced);
  EXPECT_TRUE(registry().by_plural("", "nodes")->has_subresource("status"));
  EXPECT_FALSE(registry().by_plural("", "services")->tracks_generation);
  EXPECT_EQ(registry().by_plural("coordination.k8s.io", "leases")->api_version(), "coordination.k8s.io/v1");
  EXPECT_EQ(registry().all().size(), 11U);
}

}  // namespace
}  // namespace shakeout::api
