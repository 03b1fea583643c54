#include "proxy/rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "api/fields.h"

namespace shakeout::proxy {
namespace {

using json = nlohmann::json;

// j[key] when it is an object (an array), else an empty one.
json object_at(const json& j, const char* key) {
  const json& value = api::field(j, key);
  return value.is_object() ? value : json::object();
}

json array_at(const json& j, const char* key) {
  const json& value = api::field(j, key);
  return value.is_array() ? value : json::array();
}

std::string port_key(const json& port) {
  // A slice port with no name matches the service port with no name.
  return port.value("name", "");
}

bool endpoint_ready(const json& endpoint) {
  if (!endpoint.is_object()) return false;
  const json conditions = object_at(endpoint, "conditions");
  const auto ready_field = conditions.find("ready");
  const bool ready =
      ready_field == conditions.end() || !ready_field->is_boolean() || ready_field->get<bool>();
  const auto terminating_field = conditions.find("terminating");
  const bool terminating = terminating_field != conditions.end() && terminating_field->is_boolean() &&
                           terminating_field->get<bool>();
  return ready && !terminating;
}

}  // namespace

std::string dataplane_mode(const std::string& proxy_mode) {
  return proxy_mode == "ipvs" ? "round-robin" : "random";
}

std::vector<runtime::ServiceRule> compute_rules(const std::vector<json>& services,
                                                const std::vector<json>& endpoint_slices,
                                                const std::string& mode) {
  // (namespace, service, port name) -> ready endpoints.
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<Key, std::set<std::pair<std::string, int>>> ready;
  for (const auto& slice : endpoint_slices) {
    if (slice.value("addressType", "IPv4") != "IPv4") continue;
    const json metadata = object_at(slice, "metadata");
    const json labels = object_at(metadata, "labels");
    const std::string service = labels.value("kubernetes.io/service-name", "");
    if (service.empty()) continue;
    const std::string ns = metadata.value("namespace", "");
    const json ports = array_at(slice, "ports");
    const json endpoints = array_at(slice, "endpoints");
    for (const auto& port : ports) {
      if (!port.is_object() || port.value("protocol", "TCP") != "TCP" || !port.contains("port") ||
          !port["port"].is_number_integer())
        continue;
      const int number = port["port"].get<int>();
      auto& set = ready[Key(ns, service, port_key(port))];
      for (const auto& endpoint : endpoints) {
        if (!endpoint_ready(endpoint)) continue;
        const json addresses = array_at(endpoint, "addresses");
        for (const auto& address : addresses)
          if (address.is_string()) set.emplace(address.get<std::string>(), number);
      }
    }
  }

  std::vector<runtime::ServiceRule> rules;
  for (const auto& service : services) {
    const json metadata = object_at(service, "metadata");
    const json spec = object_at(service, "spec");
    const std::string type = spec.value("type", "ClusterIP");
    const std::string cluster_ip = spec.value("clusterIP", "");
    if (type == "ExternalName" || cluster_ip.empty() || cluster_ip == "None") continue;
    const bool node_ports = type == "NodePort" || type == "LoadBalancer";
    const std::string ns = metadata.value("namespace", "");
    const std::string name = metadata.value("name", "");
    const json ports = array_at(spec, "ports");
    for (const auto& port : ports) {
      if (!port.is_object() || port.value("protocol", "TCP") != "TCP") continue;
      runtime::ServiceRule rule;
      const std::string port_name = port_key(port);
      const int number = port.value("port", 0);
      rule.name = fmt::format("{}/{}:{}", ns, name, port_name.empty() ? std::to_string(number) : port_name);
      rule.cluster_ip = cluster_ip;
      rule.port = number;
      rule.node_port = node_ports ? port.value("nodePort", 0) : 0;
      rule.mode = mode;
      auto found = ready.find(Key(ns, name, port_name));
      if (found != ready.end())
        for (const auto& [ip, target] : found->second) rule.endpoints.push_back({ip, target});
      rules.push_back(std::move(rule));
    }
  }
  std::sort(rules.begin(), rules.end(),
            [](const runtime::ServiceRule& a, const runtime::ServiceRule& b) { return a.name < b.name; });
  return rules;
}

bool same_rules(const std::vector<runtime::ServiceRule>& a, const std::vector<runtime::ServiceRule>& b) {
  auto tie = [](const runtime::ServiceRule& rule) {
    std::vector<std::pair<std::string, int>> endpoints;
    for (const auto& endpoint : rule.endpoints) endpoints.emplace_back(endpoint.ip, endpoint.port);
    return std::make_tuple(rule.name, rule.cluster_ip, rule.port, rule.node_port, rule.protocol, rule.mode,
                           endpoints);
  };
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [&](const auto& x, const auto& y) { return tie(x) == tie(y); });
}

}  // namespace shakeout::proxy
