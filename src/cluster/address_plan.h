#pragma once
// AddressPlan: where every component of cluster number C listens (DESIGN §3).
//
//   127.C.0.1x      etcd-x        client :2379, peer :2380
//   127.C.0.2x      apiserver-x   :6443
//   127.C.0.3x      controller-manager-x (metrics/health)
//   127.C.0.4x      scheduler-x   (metrics/health)
//   127.C.k.1       node-k's node IP (runtime :10010, kubelet :10250,
//                   kube-proxy healthz :10256, Service ports and NodePorts);
//                   pods take 127.C.k.2 .. 127.C.k.254
//   127.C.255.0/24  Service ClusterIPs
//
// Linux routes all of 127.0.0.0/8 to loopback, so each cluster owns a /16 and
// well-known ports without colliding with another cluster.

#include <string>

namespace shakeout::cluster {

class AddressPlan {
 public:
  static constexpr int kEtcdClientPort = 2379;
  static constexpr int kEtcdPeerPort = 2380;
  static constexpr int kApiserverPort = 6443;
  static constexpr int kControllerManagerPort = 10257;  // upstream's secure port numbers
  static constexpr int kSchedulerPort = 10259;
  // On each node IP: the runtime's local API (runtime_service.h), the
  // kubelet's API and kube-proxy's healthz (upstream's port numbers).
  static constexpr int kRuntimePort = 10010;
  static constexpr int kKubeletPort = 10250;
  static constexpr int kProxyHealthzPort = 10256;
  // Link proxies (DESIGN §4) listen on their client's address, on
  // kLinkPort + 10 x (0 kubelet / controller manager / scheduler, 1 proxy,
  // 2 apiserver) + the server's index (apiserver's, or etcd member's).
  static constexpr int kLinkPort = 16440;
  static constexpr int kMinSubnet = 1;
  static constexpr int kMaxSubnet = 254;
  static constexpr int kMaxMembers = 9;  // etcd / apiserver / controller replicas
  static constexpr int kMaxNodes = 250;  // node k uses 127.C.k.0/24, k < 255

  explicit AddressPlan(int subnet) : subnet_(subnet) {}

  int subnet() const { return subnet_; }
  std::string cidr() const;  // "127.C.0.0/16"

  std::string etcd_ip(int member) const;          // member 1..kMaxMembers
  std::string etcd_client_url(int member) const;  // "http://127.C.0.11:2379"
  std::string etcd_peer_url(int member) const;
  std::string apiserver_ip(int index) const;
  std::string controller_manager_ip(int index) const;
  std::string scheduler_ip(int index) const;
  std::string node_ip(int node) const;   // node 1..kMaxNodes
  std::string pod_cidr(int node) const;  // "127.C.k.0/24"
  std::string service_cidr() const;      // "127.C.255.0/24"

 private:
  std::string control_plane_ip(int base, int index) const;
  int subnet_;
};

}  // namespace shakeout::cluster
