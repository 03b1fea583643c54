#pragma once
// Pods and nodes as JSON for the scheduler's unit tests.

#include <nlohmann/json.hpp>

#include <string>

namespace shakeout::scheduler::testing {

using json = nlohmann::json;

// A Ready node with the given allocatable cpu, memory and pod count.
inline json make_node(const std::string& name, const std::string& cpu = "4",
                      const std::string& memory = "8Gi", const std::string& pods = "110") {
  json node = json::object();
  node["metadata"]["name"] = name;
  node["metadata"]["labels"]["kubernetes.io/hostname"] = name;
  node["spec"] = json::object();
  node["status"]["allocatable"] = {{"cpu", cpu}, {"memory", memory}, {"pods", pods}};
  node["status"]["conditions"] = json::array({{{"type", "Ready"}, {"status", "True"}}});
  return node;
}

// A pending pod in "default" with one container requesting cpu/memory
// ("" = no request).
inline json make_pod(const std::string& name, const std::string& cpu = "", const std::string& memory = "") {
  json pod = json::object();
  pod["metadata"]["name"] = name;
  pod["metadata"]["namespace"] = "default";
  pod["metadata"]["uid"] = "uid-" + name;
  json container = {{"name", "app"}, {"image", "app"}};
  if (!cpu.empty()) container["resources"]["requests"]["cpu"] = cpu;
  if (!memory.empty()) container["resources"]["requests"]["memory"] = memory;
  pod["spec"]["containers"] = json::array({container});
  return pod;
}

inline json& owned_by(json& pod, const std::string& owner_uid) {
  pod["metadata"]["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"},
                                                     {"kind", "ReplicaSet"},
                                                     {"name", "rs"},
                                                     {"uid", owner_uid},
                                                     {"controller", true}}});
  return pod;
}

inline json bound(json pod, const std::string& node) {
  pod["spec"]["nodeName"] = node;
  return pod;
}

}  // namespace shakeout::scheduler::testing
