#include "apiserver/route.h"

#include <gtest/gtest.h>

namespace shakeout::apiserver {
namespace {

const api::ResourceRegistry& registry() {
  return api::ResourceRegistry::builtin();
}

TEST(Route, NamespacedCollectionObjectAndSubresource) {
  auto collection = parse_route("/api/v1/namespaces/default/pods", registry());
  ASSERT_TRUE(collection);
  EXPECT_EQ(collection->resource->plural, "pods");
  EXPECT_EQ(collection->ns, "default");
  EXPECT_TRUE(collection->collection());

  auto object = parse_route("/api/v1/namespaces/default/pods/web-1", registry());
  ASSERT_TRUE(object);
  EXPECT_EQ(object->name, "web-1");
  EXPECT_EQ(object->subresource, "");

  auto status = parse_route("/api/v1/namespaces/default/pods/web-1/status", registry());
  ASSERT_TRUE(status);
  EXPECT_EQ(status->subresource, "status");
  auto eviction = parse_route("/api/v1/namespaces/kube-system/pods/web-1/eviction", registry());
  ASSERT_TRUE(eviction);
  EXPECT_EQ(eviction->ns, "kube-system");
  EXPECT_EQ(eviction->subresource, "eviction");
}

TEST(Route, NamedGroupsNeedTheirVersion) {
  auto scale = parse_route("/apis/apps/v1/namespaces/default/deployments/web/scale", registry());
  ASSERT_TRUE(scale);
  EXPECT_EQ(scale->resource->group, "apps");
  EXPECT_EQ(scale->subresource, "scale");
  EXPECT_FALSE(parse_route("/apis/apps/v1beta1/namespaces/default/deployments", registry()));
  EXPECT_FALSE(parse_route("/api/v1/namespaces/default/deployments", registry()));
  EXPECT_FALSE(parse_route("/apis/apps/v1/namespaces/default/pods", registry()));
}

TEST(Route, NamespacesAreAResourceAndAScope) {
  auto ns = parse_route("/api/v1/namespaces/default", registry());
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->resource->plural, "namespaces");
  EXPECT_EQ(ns->name, "default");
  EXPECT_EQ(ns->ns, "");
  auto all = parse_route("/api/v1/namespaces", registry());
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->collection());
}

TEST(Route, AcrossNamespacesAndClusterScoped) {
  auto pods = parse_route("/api/v1/pods", registry());
  ASSERT_TRUE(pods);
  EXPECT_TRUE(pods->collection());
  EXPECT_EQ(pods->ns, "");
  // A namespaced object cannot be named without its namespace.
  EXPECT_FALSE(parse_route("/api/v1/pods/web-1", registry()));

  auto node = parse_route("/api/v1/nodes/node-1/status", registry());
  ASSERT_TRUE(node);
  EXPECT_EQ(node->name, "node-1");
  EXPECT_EQ(node->subresource, "status");
  // Cluster-scoped resources have no namespace.
  EXPECT_FALSE(parse_route("/api/v1/namespaces/default/nodes/node-1", registry()));
  // A namespace's own subresources.
  for (const char* sub : {"status", "finalize"}) {
    auto ns = parse_route(std::string("/api/v1/namespaces/doomed/") + sub, registry());
    ASSERT_TRUE(ns) << sub;
    EXPECT_EQ(ns->resource->plural, "namespaces");
    EXPECT_EQ(ns->name, "doomed");
    EXPECT_EQ(ns->ns, "");
    EXPECT_EQ(ns->subresource, sub);
  }
  EXPECT_FALSE(parse_route("/api/v1/namespaces/doomed/bogus", registry()));
}

TEST(Route, RejectsUnknownShapes) {
  EXPECT_FALSE(parse_route("/api/v1", registry()));
  EXPECT_FALSE(parse_route("/api/v1/widgets", registry()));
  EXPECT_FALSE(parse_route("/api/v1/namespaces/default/pods/web-1/bogus", registry()));
  EXPECT_FALSE(parse_route("/api/v1/nodes/node-1/scale", registry()));
  EXPECT_FALSE(parse_route("/api/v1/namespaces/default/pods/a/b/c", registry()));
  EXPECT_FALSE(parse_route("/api//v1/pods", registry()));
  EXPECT_FALSE(parse_route("/healthz", registry()));
}

}  // namespace
}  // namespace shakeout::apiserver
