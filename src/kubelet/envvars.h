#pragma once
// The environment of a container, as upstream's kubelet builds it
// (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables,
// pkg/kubelet/envvars/envvars.go FromServices).

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace shakeout::kubelet {

struct PodEnvContext {
  std::string node_name;
  std::string node_ip;  // HOST_IP, status.hostIP, and every <NAME>_SERVICE_HOST (DESIGN §3)
  std::string pod_ip;
};

// Service variables for `services` (Service objects of the pod's
// namespace): <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT,
// <NAME>_SERVICE_PORT_<PORTNAME> and the docker-link <NAME>_PORT* set.
// Headless Services (clusterIP None or empty) give none. The host is
// `host` (this node's IP: its dataplane serves each Service port there).
std::map<std::string, std::string> service_env(const std::vector<nlohmann::json>& services,
                                               const std::string& host);

// The whole environment of `container` in `pod`: POD_NAME, POD_NAMESPACE,
// POD_IP, NODE_NAME, HOST_IP, the Service variables, then the container's
// env (value, and valueFrom.fieldRef for metadata.name/namespace/uid,
// status.podIP, spec.nodeName, status.hostIP), which wins over the rest.
std::map<std::string, std::string> container_env(const nlohmann::json& pod, const nlohmann::json& container,
                                                 const PodEnvContext& context,
                                                 const std::vector<nlohmann::json>& services);

}  // namespace shakeout::kubelet
