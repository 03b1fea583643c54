// The Endpoints controller's pure rules: which pods appear where, port
// resolution (named targetPorts), repacking.

#include "controller/endpoints.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "controller/endpointslice.h"

namespace shakeout::controller {
namespace {

json service() {
  return json::parse(R"({
    "metadata": {"name": "web", "namespace": "default", "labels": {"team": "x"}},
    "spec": {"selector": {"app": "web"}, "clusterIP": "10.0.0.1",
             "ports": [{"name": "http", "port": 80, "targetPort": "http-port", "protocol": "TCP"},
                       {"name": "metrics", "port": 9090, "targetPort": 9100, "protocol": "TCP"}]}})");
}

json pod(const std::string& name, const std::string& ip, bool ready, int http_port) {
  json p = json::object();
  p["metadata"] = {
      {"name", name}, {"namespace", "default"}, {"uid", name + "-uid"}, {"labels", {{"app", "web"}}}};
  json container = {{"name", "c"}};
  if (http_port != 0)
    container["ports"] = json::array({{{"name", "http-port"}, {"containerPort", http_port}}});
  p["spec"] = {{"nodeName", "node-1"}, {"containers", json::array({container})}};
  p["status"]["phase"] = "Running";
  if (!ip.empty()) p["status"]["podIP"] = ip;
  p["status"]["conditions"] = json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}});
  return p;
}

TEST(EndpointsRules, FindPortResolvesNamedTargetPortsByProtocol) {
  const json p = pod("a", "10.1.0.1", true, 8080);
  const json svc = service();
  EXPECT_EQ(find_port(p, svc["spec"]["ports"][0]), 8080);
  EXPECT_EQ(find_port(p, svc["spec"]["ports"][1]), 9100);
  json udp = svc["spec"]["ports"][0];
  udp["protocol"] = "UDP";
  EXPECT_EQ(find_port(p, udp), std::nullopt) << "the container port is TCP";
  EXPECT_EQ(find_port(pod("b", "10.1.0.2", true, 0), svc["spec"]["ports"][0]), std::nullopt);
  json no_target = {{"port", 443}};
  EXPECT_EQ(find_port(p, no_target), 443);
}

TEST(EndpointsRules, ReadyPodsAreAddressesNotReadyOnesNotReadyAddresses) {
  const json subsets =
      compute_subsets(service(), {pod("b", "10.1.0.2", false, 8080), pod("a", "10.1.0.1", true, 8080)});
  ASSERT_EQ(subsets.size(), 1u) << subsets.dump();
  const json& s = subsets[0];
  ASSERT_EQ(s["addresses"].size(), 1u);
  EXPECT_EQ(s["addresses"][0]["ip"], "10.1.0.1");
  EXPECT_EQ(s["addresses"][0]["nodeName"], "node-1");
  EXPECT_EQ(s["addresses"][0]["targetRef"]["kind"], "Pod");
  EXPECT_EQ(s["addresses"][0]["targetRef"]["name"], "a");
  EXPECT_EQ(s["addresses"][0]["targetRef"]["uid"], "a-uid");
  ASSERT_EQ(s["notReadyAddresses"].size(), 1u);
  EXPECT_EQ(s["notReadyAddresses"][0]["ip"], "10.1.0.2");
  ASSERT_EQ(s["ports"].size(), 2u);
}

TEST(EndpointsRules, PodsWithoutIpTerminatingOrTerminalAreLeftOut) {
  json terminating = pod("t", "10.1.0.3", true, 8080);
  terminating["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z";
  json failed = pod("f", "10.1.0.4", false, 8080);
  failed["status"]["phase"] = "Failed";
  EXPECT_EQ(compute_subsets(service(), {pod("n", "", true, 8080), terminating, failed}), json::array());
  json publish = service();
  publish["spec"]["publishNotReadyAddresses"] = true;
  const json subsets = compute_subsets(publish, {terminating});
  ASSERT_EQ(subsets.size(), 1u) << "publishNotReadyAddresses keeps terminating pods, as ready";
  EXPECT_EQ(subsets[0]["addresses"][0]["ip"], "10.1.0.3");
}

TEST(EndpointsRules, PodWithoutTheNamedPortGetsOnlyTheOtherPortInItsOwnSubset) {
  const json subsets =
      compute_subsets(service(), {pod("a", "10.1.0.1", true, 8080), pod("b", "10.1.0.2", true, 0)});
  ASSERT_EQ(subsets.size(), 2u) << subsets.dump();
  // One subset: both pods on the metrics port; the other: pod a on http.
  int both = 0;
  int only_a = 0;
  for (const auto& s : subsets) {
    if (s["addresses"].size() == 2 && s["ports"].size() == 1 && s["ports"][0]["port"] == 9100) ++both;
    if (s["addresses"].size() == 1 && s["ports"].size() == 1 && s["ports"][0]["port"] == 8080 &&
        s["addresses"][0]["ip"] == "10.1.0.1")
      ++only_a;
  }
  EXPECT_EQ(both, 1) << subsets.dump();
  EXPECT_EQ(only_a, 1) << subsets.dump();
}

TEST(EndpointsRules, SelectorMatchesOnlyItsNamespaceAndNeverWhenEmpty) {
  const json p = pod("a", "10.1.0.1", true, 8080);
  EXPECT_TRUE(service_selects(service(), p));
  json other_ns = p;
  other_ns["metadata"]["namespace"] = "other";
  EXPECT_FALSE(service_selects(service(), other_ns));
  json no_selector = service();
  no_selector["spec"].erase("selector");
  EXPECT_FALSE(service_selects(no_selector, p));
  json other_labels = p;
  other_labels["metadata"]["labels"]["app"] = "db";
  EXPECT_FALSE(service_selects(service(), other_labels));
}

TEST(EndpointSliceRules, PodsGroupByResolvedPortsWithUpstreamConditions) {
  json terminating = pod("c", "10.1.0.3", true, 8080);
  terminating["metadata"]["deletionTimestamp"] = "2026-11-29T08:00:00Z";
  json finished = pod("d", "10.1.0.4", true, 8080);
  finished["status"]["phase"] = "Succeeded";
  const std::vector<json> pods = {pod("b", "10.1.0.2", false, 8080),
                                  pod("a", "10.1.0.1", true, 8080),
                                  pod("e", "10.1.0.5", true, 8081),
                                  pod("noip", "", true, 8080),
                                  terminating,
                                  finished};
  auto slices = desired_endpoint_slices(service(), pods, 100);
  ASSERT_EQ(slices.size(), 2u) << "two port sets: http-port 8080 and 8081";
  const SliceContent* on_8080 = nullptr;
  for (const auto& slice : slices)
    if (slice.ports[0]["port"] == 8080) on_8080 = &slice;
  ASSERT_NE(on_8080, nullptr);
  EXPECT_EQ(on_8080->ports, json::parse(R"([{"name": "http", "port": 8080, "protocol": "TCP"},
                                            {"name": "metrics", "port": 9100, "protocol": "TCP"}])"));
  ASSERT_EQ(on_8080->endpoints.size(), 3u) << "no IP and terminal pods are left out";
  EXPECT_EQ(on_8080->endpoints[0]["addresses"], json::array({"10.1.0.1"}));
  EXPECT_EQ(on_8080->endpoints[0]["conditions"],
            json::parse(R"({"ready": true, "serving": true, "terminating": false})"));
  EXPECT_EQ(on_8080->endpoints[0]["targetRef"]["name"], "a");
  EXPECT_EQ(on_8080->endpoints[0]["nodeName"], "node-1");
  EXPECT_EQ(on_8080->endpoints[1]["conditions"],
            json::parse(R"({"ready": false, "serving": false, "terminating": false})"));
  EXPECT_EQ(on_8080->endpoints[2]["conditions"],
            json::parse(R"({"ready": false, "serving": true, "terminating": true})"));

  json publish = service();
  publish["spec"]["publishNotReadyAddresses"] = true;
  auto published = desired_endpoint_slices(publish, {pod("b", "10.1.0.2", false, 8080)}, 100);
  EXPECT_EQ(published[0].endpoints[0]["conditions"]["ready"], true);
}

TEST(EndpointSliceRules, ASliceHoldsAtMostMaxEndpoints) {
  std::vector<json> pods;
  for (int i = 1; i <= 5; ++i)
    pods.push_back(pod(fmt::format("p{}", i), fmt::format("10.1.0.{}", i), true, 8080));
  auto slices = desired_endpoint_slices(service(), pods, 2);
  ASSERT_EQ(slices.size(), 3u);
  EXPECT_EQ(slices[0].endpoints.size(), 2u);
  EXPECT_EQ(slices[2].endpoints.size(), 1u);
  for (const auto& slice : slices) EXPECT_EQ(slice.ports.size(), 2u);
}

}  // namespace
}  // namespace shakeout::controller
