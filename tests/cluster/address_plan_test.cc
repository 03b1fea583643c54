#include "cluster/address_plan.h"

#include <gtest/gtest.h>

namespace shakeout::cluster {
namespace {

TEST(AddressPlan, LaysOutOneSlash16PerCluster) {
  const AddressPlan plan(7);
  EXPECT_EQ(plan.cidr(), "127.7.0.0/16");
  EXPECT_EQ(plan.etcd_client_url(1), "http://127.7.0.11:2379");
  EXPECT_EQ(plan.etcd_peer_url(3), "http://127.7.0.13:2380");
  EXPECT_EQ(plan.apiserver_ip(2), "127.7.0.22");
  EXPECT_EQ(plan.controller_manager_ip(1), "127.7.0.31");
  EXPECT_EQ(plan.scheduler_ip(1), "127.7.0.41");
  EXPECT_EQ(plan.node_ip(2), "127.7.2.1");
  EXPECT_EQ(plan.pod_cidr(2), "127.7.2.0/24");
  EXPECT_EQ(plan.service_cidr(), "127.7.255.0/24");
}

TEST(AddressPlan, NodesNeverReachTheServiceRange) {
  const AddressPlan plan(1);
  EXPECT_EQ(plan.node_ip(AddressPlan::kMaxNodes), "127.1.250.1");
  EXPECT_LT(AddressPlan::kMaxNodes, 255);
}

}  // namespace
}  // namespace shakeout::cluster
