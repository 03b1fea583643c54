#include "kubelet/node_status.h"

#include <sys/utsname.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "api/store.h"
#include "client/leader_election.h"
#include "kubelet/json_fields.h"

namespace shakeout::kubelet {
namespace {

using json = nlohmann::json;

std::string first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string os_pretty_name() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string value = line.substr(12);
    if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  return "Linux";
}

json node_condition(const json& current, const std::string& type, const std::string& status,
                    const std::string& reason, const std::string& message, const std::string& now) {
  json c = json::object();
  c["type"] = type;
  c["status"] = status;
  c["reason"] = reason;
  c["message"] = message;
  c["lastHeartbeatTime"] = now;
  c["lastTransitionTime"] = now;
  const json& old = field(field(current, "status"), "conditions");
  if (old.is_array())
    for (const auto& o : old)
      if (string_field(o, "type") == type && string_field(o, "status") == status &&
          !string_field(o, "lastTransitionTime").empty())
        c["lastTransitionTime"] = o["lastTransitionTime"];
  return c;
}

}  // namespace

MachineInfo read_machine_info() {
  MachineInfo info;
  info.cpus = std::max<int64_t>(1, std::thread::hardware_concurrency());
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::istringstream fields(line.substr(9));
    fields >> info.memory_kib;
    break;
  }
  utsname names{};
  if (::uname(&names) == 0) info.kernel_version = names.release;
  info.machine_id = first_line("/etc/machine-id");
  info.os_image = os_pretty_name();
  return info;
}

json make_node(const NodeIdentity& identity) {
  json node = json::object();
  node["apiVersion"] = "v1";
  node["kind"] = "Node";
  node["metadata"]["name"] = identity.name;
  node["metadata"]["labels"]["kubernetes.io/hostname"] = identity.name;
  node["metadata"]["labels"]["kubernetes.io/os"] = "linux";
  node["metadata"]["labels"]["kubernetes.io/arch"] = "amd64";
  node["metadata"]["labels"]["beta.kubernetes.io/os"] = "linux";
  node["metadata"]["labels"]["beta.kubernetes.io/arch"] = "amd64";
  node["spec"]["podCIDR"] = identity.pod_cidr;
  node["spec"]["podCIDRs"] = json::array({identity.pod_cidr});
  return node;
}

json make_node_status(const NodeIdentity& identity, const MachineInfo& machine, const json& current,
                      std::chrono::system_clock::time_point now) {
  const std::string stamp = api::format_timestamp(now);
  json status = json::object();
  json capacity = json::object();
  capacity["cpu"] = std::to_string(machine.cpus);
  capacity["memory"] = std::to_string(machine.memory_kib) + "Ki";
  capacity["pods"] = "110";
  capacity["ephemeral-storage"] = "10Gi";
  status["capacity"] = capacity;
  status["allocatable"] = capacity;
  status["addresses"] = json::array({json{{"type", "InternalIP"}, {"address", identity.ip}},
                                     json{{"type", "Hostname"}, {"address", identity.name}}});
  status["daemonEndpoints"]["kubeletEndpoint"]["Port"] = identity.kubelet_port;
  json info = json::object();
  info["machineID"] = machine.machine_id;
  info["systemUUID"] = machine.machine_id;
  info["bootID"] = "";
  info["kernelVersion"] = machine.kernel_version;
  info["osImage"] = machine.os_image;
  info["containerRuntimeVersion"] = "shakeout://0.1.0";
  info["kubeletVersion"] = "v1.32.0-shakeout";
  info["kubeProxyVersion"] = "";
  info["operatingSystem"] = "linux";
  info["architecture"] = "amd64";
  status["nodeInfo"] = info;
  json conditions = json::array();
  conditions.push_back(node_condition(current, "MemoryPressure", "False", "KubeletHasSufficientMemory",
                                      "kubelet has sufficient memory available", stamp));
  conditions.push_back(node_condition(current, "DiskPressure", "False", "KubeletHasNoDiskPressure",
                                      "kubelet has no disk pressure", stamp));
  conditions.push_back(node_condition(current, "PIDPressure", "False", "KubeletHasSufficientPID",
                                      "kubelet has sufficient PID available", stamp));
  conditions.push_back(
      node_condition(current, "Ready", "True", "KubeletReady", "kubelet is posting ready status", stamp));
  status["conditions"] = conditions;
  return status;
}

json make_node_lease(const std::string& node, const std::string& node_uid, int64_t duration_seconds,
                     std::chrono::system_clock::time_point now) {
  json lease = json::object();
  lease["apiVersion"] = "coordination.k8s.io/v1";
  lease["kind"] = "Lease";
  lease["metadata"]["name"] = node;
  lease["metadata"]["namespace"] = kNodeLeaseNamespace;
  if (!node_uid.empty()) {
    json owner = json::object();
    owner["apiVersion"] = "v1";
    owner["kind"] = "Node";
    owner["name"] = node;
    owner["uid"] = node_uid;
    lease["metadata"]["ownerReferences"] = json::array({owner});
  }
  lease["spec"]["holderIdentity"] = node;
  lease["spec"]["leaseDurationSeconds"] = duration_seconds;
  lease["spec"]["renewTime"] = client::format_micro_time(now);
  return lease;
}

}  // namespace shakeout::kubelet
