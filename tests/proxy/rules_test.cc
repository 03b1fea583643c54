#include "proxy/rules.h"

#include <gtest/gtest.h>

namespace shakeout::proxy {
namespace {

using json = nlohmann::json;

json service(const std::string& name, const std::string& type, const std::string& cluster_ip, json ports) {
  return {{"metadata", {{"namespace", "default"}, {"name", name}}},
          {"spec", {{"type", type}, {"clusterIP", cluster_ip}, {"ports", std::move(ports)}}}};
}

json endpoint(const std::string& ip, json conditions) {
  return {{"addresses", {ip}}, {"conditions", std::move(conditions)}};
}

json slice(const std::string& service_name, const std::string& name, json ports, json endpoints) {
  return {{"metadata",
           {{"namespace", "default"},
            {"name", name},
            {"labels", {{"kubernetes.io/service-name", service_name}}}}},
          {"addressType", "IPv4"},
          {"ports", std::move(ports)},
          {"endpoints", std::move(endpoints)}};
}

TEST(ProxyRulesTest, OneRulePerTcpPortWithTheReadyEndpointsOfAllSlices) {
  const std::vector<json> services = {
      service("web", "NodePort", "127.1.255.10",
              json::array({{{"name", "http"}, {"port", 80}, {"nodePort", 30080}, {"protocol", "TCP"}},
                           {{"name", "dns"}, {"port", 53}, {"nodePort", 30053}, {"protocol", "UDP"}}}))};
  const std::vector<json> slices = {
      slice("web", "web-a", json::array({{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}),
            json::array({endpoint("127.1.1.2", {{"ready", true}}), endpoint("127.1.2.2", json::object()),
                         endpoint("127.1.3.2", {{"ready", false}})})),
      slice("web", "web-b", json::array({{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}),
            json::array({endpoint("127.1.1.3", {{"ready", true}, {"terminating", true}}),
                         endpoint("127.1.1.2", {{"ready", true}})})),
  };
  auto rules = compute_rules(services, slices, "random");
  ASSERT_EQ(rules.size(), 1u);  // the UDP port gets none
  EXPECT_EQ(rules[0].name, "default/web:http");
  EXPECT_EQ(rules[0].cluster_ip, "127.1.255.10");
  EXPECT_EQ(rules[0].port, 80);
  EXPECT_EQ(rules[0].node_port, 30080);
  EXPECT_EQ(rules[0].mode, "random");
  // Not ready and terminating endpoints are left out, duplicates merged.
  ASSERT_EQ(rules[0].endpoints.size(), 2u);
  EXPECT_EQ(rules[0].endpoints[0].ip, "127.1.1.2");
  EXPECT_EQ(rules[0].endpoints[0].port, 8080);
  EXPECT_EQ(rules[0].endpoints[1].ip, "127.1.2.2");
}

TEST(ProxyRulesTest, HeadlessAndExternalNameServicesGetNoRuleAndClusterIpTypeNoNodePort) {
  const std::vector<json> services = {
      service("headless", "ClusterIP", "None", json::array({{{"port", 80}}})),
      service("ext", "ExternalName", "", json::array({{{"port", 80}}})),
      service("internal", "ClusterIP", "127.1.255.11", json::array({{{"port", 81}, {"nodePort", 30081}}})),
  };
  const std::vector<json> slices = {slice("internal", "internal-a", json::array({{{"port", 9090}}}),
                                          json::array({endpoint("127.1.2.9", {})}))};
  auto rules = compute_rules(services, slices, dataplane_mode("ipvs"));
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].name, "default/internal:81");
  EXPECT_EQ(rules[0].node_port, 0);
  EXPECT_EQ(rules[0].mode, "round-robin");
  ASSERT_EQ(rules[0].endpoints.size(), 1u);  // unnamed slice port matches the unnamed service port
  EXPECT_EQ(rules[0].endpoints[0].port, 9090);
}

TEST(ProxyRulesTest, SlicesOfAnotherNamespaceOrPortNameDoNotMatch) {
  const std::vector<json> services = {
      service("web", "ClusterIP", "127.1.255.10", json::array({{{"name", "http"}, {"port", 80}}}))};
  json other_namespace = slice("web", "web-x", json::array({{{"name", "http"}, {"port", 8080}}}),
                               json::array({endpoint("127.1.1.7", {})}));
  other_namespace["metadata"]["namespace"] = "other";
  const std::vector<json> slices = {
      other_namespace, slice("web", "web-y", json::array({{{"name", "metrics"}, {"port", 9100}}}),
                             json::array({endpoint("127.1.1.8", {})}))};
  auto rules = compute_rules(services, slices, "random");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_TRUE(rules[0].endpoints.empty());
}

TEST(ProxyRulesTest, SameRulesComparesEverythingButTheGeneration) {
  const std::vector<json> services = {
      service("web", "ClusterIP", "127.1.255.10", json::array({{{"name", "http"}, {"port", 80}}}))};
  const std::vector<json> one = {slice("web", "a", json::array({{{"name", "http"}, {"port", 8080}}}),
                                       json::array({endpoint("127.1.1.2", {})}))};
  const std::vector<json> two = {slice("web", "a", json::array({{{"name", "http"}, {"port", 8080}}}),
                                       json::array({endpoint("127.1.1.3", {})}))};
  EXPECT_TRUE(same_rules(compute_rules(services, one, "random"), compute_rules(services, one, "random")));
  EXPECT_FALSE(same_rules(compute_rules(services, one, "random"), compute_rules(services, two, "random")));
  EXPECT_FALSE(
      same_rules(compute_rules(services, one, "random"), compute_rules(services, one, "round-robin")));
}

}  // namespace
}  // namespace shakeout::proxy
