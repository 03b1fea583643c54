#pragma once
// The Node object a kubelet registers and the status it posts (upstream
// pkg/kubelet/kubelet_node_status.go, pkg/kubelet/nodestatus/setters.go),
// and the node Lease it renews (pkg/kubelet/nodelease,
// component-helpers/apimachinery/lease/controller.go).

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace shakeout::kubelet {

struct MachineInfo {
  int64_t cpus = 1;
  int64_t memory_kib = 0;  // /proc/meminfo MemTotal
  std::string kernel_version;
  std::string machine_id;
  std::string os_image;
};

// This machine's cores, memory and kernel.
MachineInfo read_machine_info();

struct NodeIdentity {
  std::string name;
  std::string ip;
  std::string pod_cidr;
  int kubelet_port = 10250;
};

// A new Node: labels kubernetes.io/hostname, os and arch; spec.podCIDR(s).
nlohmann::json make_node(const NodeIdentity& identity);

// The status to post: capacity/allocatable (cpu, memory, pods 110),
// addresses, daemonEndpoints, nodeInfo, and Ready plus the three pressure
// conditions with upstream's reasons and messages, heartbeat `now`;
// lastTransitionTime kept from `current` (the Node as stored) when a
// condition's status did not change.
nlohmann::json make_node_status(const NodeIdentity& identity, const MachineInfo& machine,
                                const nlohmann::json& current, std::chrono::system_clock::time_point now);

inline constexpr const char* kNodeLeaseNamespace = "kube-node-lease";

// The Lease kube-node-lease/<node> held by the node, renewed `now`.
nlohmann::json make_node_lease(const std::string& node, const std::string& node_uid, int64_t duration_seconds,
                               std::chrono::system_clock::time_point now);

}  // namespace shakeout::kubelet
