#include "kubelet/envvars.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "kubelet/json_fields.h"

namespace shakeout::kubelet {
namespace {

using json = nlohmann::json;

// upstream makeEnvVariableName: upper case, '-' becomes '_'.
std::string env_name(std::string name) {
  for (auto& c : name) c = (c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string field_ref_value(const std::string& path, const json& pod, const PodEnvContext& context) {
  const json& meta = field(pod, "metadata");
  if (path == "metadata.name") return string_field(meta, "name");
  if (path == "metadata.namespace") return string_field(meta, "namespace");
  if (path == "metadata.uid") return string_field(meta, "uid");
  if (path == "status.podIP") return context.pod_ip;
  if (path == "status.hostIP") return context.node_ip;
  if (path == "spec.nodeName") return context.node_name;
  if (path == "spec.serviceAccountName") return string_field(field(pod, "spec"), "serviceAccountName");
  return "";
}

}  // namespace

std::map<std::string, std::string> service_env(const std::vector<json>& services, const std::string& host) {
  std::map<std::string, std::string> env;
  for (const auto& service : services) {
    const json& spec = field(service, "spec");
    const std::string cluster_ip = string_field(spec, "clusterIP");
    if (cluster_ip.empty() || cluster_ip == "None") continue;
    const json& ports = field(spec, "ports");
    if (!ports.is_array() || ports.empty()) continue;
    const std::string name = env_name(string_field(field(service, "metadata"), "name"));
    env[name + "_SERVICE_HOST"] = host;
    bool first = true;
    for (const auto& port : ports) {
      const int64_t number = int_field(port, "port", 0);
      std::string protocol = string_field(port, "protocol");
      if (protocol.empty()) protocol = "TCP";
      const std::string port_name = string_field(port, "name");
      const std::string url = fmt::format("{}://{}:{}", lower(protocol), host, number);
      if (first) {
        env[name + "_SERVICE_PORT"] = std::to_string(number);
        env[name + "_PORT"] = url;
        first = false;
      }
      if (!port_name.empty()) env[name + "_SERVICE_PORT_" + env_name(port_name)] = std::to_string(number);
      const std::string prefix = fmt::format("{}_PORT_{}_{}", name, number, protocol);
      env[prefix] = url;
      env[prefix + "_PROTO"] = lower(protocol);
      env[prefix + "_PORT"] = std::to_string(number);
      env[prefix + "_ADDR"] = host;
    }
  }
  return env;
}

std::map<std::string, std::string> container_env(const json& pod, const json& container,
                                                 const PodEnvContext& context,
                                                 const std::vector<json>& services) {
  std::map<std::string, std::string> env = service_env(services, context.node_ip);
  const json& meta = field(pod, "metadata");
  env["POD_NAME"] = string_field(meta, "name");
  env["POD_NAMESPACE"] = string_field(meta, "namespace");
  env["POD_IP"] = context.pod_ip;
  env["NODE_NAME"] = context.node_name;
  env["HOST_IP"] = context.node_ip;
  const json& vars = field(container, "env");
  if (!vars.is_array()) return env;
  for (const auto& var : vars) {
    const std::string name = string_field(var, "name");
    if (name.empty()) continue;
    const json& from = field(var, "valueFrom");
    if (from.is_object()) {
      const std::string path = string_field(field(from, "fieldRef"), "fieldPath");
      env[name] = field_ref_value(path, pod, context);
    } else {
      env[name] = string_field(var, "value");
    }
  }
  return env;
}

}  // namespace shakeout::kubelet
