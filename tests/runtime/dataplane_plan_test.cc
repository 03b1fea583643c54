#include <gtest/gtest.h>

#include <algorithm>

#include "runtime/dataplane.h"

namespace shakeout::runtime {
namespace {

ServiceRule rule(const std::string& name, const std::string& cluster_ip, int port, int node_port) {
  ServiceRule r;
  r.name = name;
  r.cluster_ip = cluster_ip;
  r.port = port;
  r.node_port = node_port;
  return r;
}

TEST(DataplanePlan, EachRuleListensOnClusterIpNodeIpAndNodePort) {
  const auto plan = plan_listeners({rule("ns/web:80", "127.1.255.10", 80, 30080)}, "127.1.1.1");
  ASSERT_EQ(plan.listeners.size(), 3U);
  EXPECT_TRUE(plan.listeners.at("127.1.255.10:80").reuse_port);
  EXPECT_FALSE(plan.listeners.at("127.1.1.1:80").reuse_port);
  EXPECT_FALSE(plan.listeners.at("127.1.1.1:30080").reuse_port);
  EXPECT_EQ(plan.listeners.at("127.1.1.1:30080").rule, "ns/web:80");
  EXPECT_TRUE(plan.conflicts.empty());
}

TEST(DataplanePlan, HeadlessRuleWithoutNodePortListensOnlyOnNodeIp) {
  const auto plan = plan_listeners({rule("ns/db:5432", "", 5432, 0)}, "127.1.1.1");
  ASSERT_EQ(plan.listeners.size(), 1U);
  EXPECT_TRUE(plan.listeners.contains("127.1.1.1:5432"));
}

TEST(DataplanePlan, SecondRuleOnTheSameAddressIsAConflict) {
  const auto plan = plan_listeners(
      {rule("ns/a:80", "127.1.255.10", 80, 0), rule("ns/b:80", "127.1.255.11", 80, 0)}, "127.1.1.1");
  EXPECT_EQ(plan.listeners.at("127.1.1.1:80").rule, "ns/a:80");
  EXPECT_TRUE(plan.listeners.contains("127.1.255.11:80"));
  ASSERT_EQ(plan.conflicts.count("ns/b:80"), 1U);
  EXPECT_NE(plan.conflicts.find("ns/b:80")->second.find("127.1.1.1:80"), std::string::npos);
}

std::vector<std::string> keys(const std::vector<ListenSpec>& specs) {
  std::vector<std::string> out;
  for (const auto& spec : specs) out.push_back(spec.key());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(DataplanePlan, DiffKeepsUnchangedAddressesOpensNewClosesGone) {
  const auto before = plan_listeners({rule("ns/web:80", "127.1.255.10", 80, 30080)}, "127.1.1.1");
  const auto after =
      plan_listeners({rule("ns/web:80", "127.1.255.10", 80, 0), rule("ns/api:81", "", 81, 0)}, "127.1.1.1");
  const auto diff = diff_listeners(before.listeners, after.listeners);
  EXPECT_EQ(diff.close, std::vector<std::string>{"127.1.1.1:30080"});
  EXPECT_EQ(keys(diff.open), std::vector<std::string>{"127.1.1.1:81"});
  EXPECT_EQ(keys(diff.keep), (std::vector<std::string>{"127.1.1.1:80", "127.1.255.10:80"}));
}

TEST(DataplanePlan, DiffReopensAnAddressWhoseSocketOptionsChange) {
  std::map<std::string, ListenSpec> current = {{"127.1.1.1:80", ListenSpec{"127.1.1.1", 80, "a", false}}};
  std::map<std::string, ListenSpec> desired = {{"127.1.1.1:80", ListenSpec{"127.1.1.1", 80, "a", true}}};
  const auto diff = diff_listeners(current, desired);
  EXPECT_EQ(diff.close, std::vector<std::string>{"127.1.1.1:80"});
  EXPECT_EQ(keys(diff.open), std::vector<std::string>{"127.1.1.1:80"});
  EXPECT_TRUE(diff.keep.empty());
}

TEST(DataplanePlan, DiffOfIdenticalPlansOnlyKeeps) {
  const auto plan = plan_listeners({rule("ns/web:80", "127.1.255.10", 80, 30080)}, "127.1.1.1");
  const auto diff = diff_listeners(plan.listeners, plan.listeners);
  EXPECT_TRUE(diff.close.empty());
  EXPECT_TRUE(diff.open.empty());
  EXPECT_EQ(diff.keep.size(), 3U);
}

}  // namespace
}  // namespace shakeout::runtime
