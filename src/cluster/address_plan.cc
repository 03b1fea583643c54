#include "cluster/address_plan.h"

#include <fmt/format.h>

#include <cassert>

namespace shakeout::cluster {

std::string AddressPlan::cidr() const {
  return fmt::format("127.{}.0.0/16", subnet_);
}

std::string AddressPlan::control_plane_ip(int base, int index) const {
  assert(index >= 1 && index <= kMaxMembers);
  return fmt::format("127.{}.0.{}", subnet_, base + index);
}

std::string AddressPlan::etcd_ip(int member) const {
  return control_plane_ip(10, member);
}
std::string AddressPlan::etcd_client_url(int member) const {
  return fmt::format("http://{}:{}", etcd_ip(member), kEtcdClientPort);
}
std::string AddressPlan::etcd_peer_url(int member) const {
  return fmt::format("http://{}:{}", etcd_ip(member), kEtcdPeerPort);
}
std::string AddressPlan::apiserver_ip(int index) const {
  return control_plane_ip(20, index);
}
std::string AddressPlan::controller_manager_ip(int index) const {
  return control_plane_ip(30, index);
}
std::string AddressPlan::scheduler_ip(int index) const {
  return control_plane_ip(40, index);
}

std::string AddressPlan::node_ip(int node) const {
  assert(node >= 1 && node <= kMaxNodes);
  return fmt::format("127.{}.{}.1", subnet_, node);
}
std::string AddressPlan::pod_cidr(int node) const {
  assert(node >= 1 && node <= kMaxNodes);
  return fmt::format("127.{}.{}.0/24", subnet_, node);
}
std::string AddressPlan::service_cidr() const {
  return fmt::format("127.{}.255.0/24", subnet_);
}

}  // namespace shakeout::cluster
