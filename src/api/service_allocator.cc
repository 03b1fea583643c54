#include "api/service_allocator.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <map>
#include <optional>
#include <vector>

#include "api/resource_registry.h"

namespace shakeout::api {

namespace {

using nlohmann::json;

const ResourceInfo& services() {
  return *ResourceRegistry::builtin().by_plural("", "services");
}

std::string string_at(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

int node_port_of(const json& port) {
  if (!port.is_object()) return 0;
  auto it = port.find("nodePort");
  return it != port.end() && it->is_number_integer() ? it->get<int>() : 0;
}

std::string service_type(const json& service) {
  std::string type = service.contains("spec") ? string_at(service["spec"], "type") : "";
  return type.empty() ? "ClusterIP" : type;
}

// Upstream needsClusterIP / needsNodePort (pkg/registry/core/service/storage/storage.go).
bool needs_cluster_ip(const json& service) {
  return service_type(service) != "ExternalName";
}
bool needs_node_ports(const json& service) {
  std::string type = service_type(service);
  if (type == "NodePort") return true;
  if (type != "LoadBalancer") return false;
  const json& spec = service["spec"];
  auto it = spec.find("allocateLoadBalancerNodePorts");
  return it == spec.end() || !it->is_boolean() || it->get<bool>();
}

// The (one, single-stack) cluster IP a body asks for: clusterIP, else clusterIPs[0].
std::string requested_ip(const json& spec) {
  std::string ip = string_at(spec, "clusterIP");
  if (ip.empty()) {
    auto ips = spec.find("clusterIPs");
    if (ips != spec.end() && ips->is_array() && !ips->empty() && ips->at(0).is_string())
      ip = ips->at(0).get<std::string>();
  }
  return ip;
}

std::string owner_of(const json& service) {
  json owner = json::object();
  const json meta = service.value("metadata", json::object());
  owner["namespace"] = string_at(meta, "namespace");
  owner["name"] = string_at(meta, "name");
  return owner.dump();
}

std::string name_of(const json& service) {
  return string_at(service.value("metadata", json::object()), "name");
}

// Upstream calculateRangeOffset: min(max(lo, size/step), hi), 0 for tiny ranges.
int64_t range_offset(int64_t size, int64_t lo, int64_t hi, int64_t step) {
  if (size <= lo) return 0;
  return std::min(std::max(lo, size / step), hi);
}

// upstream randomScanStrategyWithOffset: the upper band [offset, size) from
// a random start, then the lower band [0, offset) from a random start.
std::vector<int64_t> scan_order(int64_t size, int64_t offset, std::mt19937_64& random) {
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(size));
  auto band = [&](int64_t lo, int64_t hi) {
    if (hi <= lo) return;
    int64_t start = std::uniform_int_distribution<int64_t>(0, hi - lo - 1)(random);
    for (int64_t i = 0; i < hi - lo; ++i) order.push_back(lo + (start + i) % (hi - lo));
  };
  band(offset, size);
  band(0, offset);
  return order;
}

ApiError invalid_field(const json& service, const std::string& field, const std::string& value,
                       const std::string& detail) {
  std::vector<Cause> causes;
  causes.push_back(Cause{"FieldValueInvalid", field, fmt::format("Invalid value: {}: {}", value, detail)});
  return invalid(services(), name_of(service), causes);
}

}  // namespace

void patch_allocated_values(const json& old_service, json& service) {
  if (!service.is_object() || !old_service.is_object()) return;
  if (!service.contains("spec") || !service["spec"].is_object()) service["spec"] = json::object();
  json& spec = service["spec"];
  const json old_spec = old_service.value("spec", json::object());
  // patchAllocatedValues: omitted allocations are kept.
  if (needs_cluster_ip(old_service) && needs_cluster_ip(service)) {
    if (string_at(spec, "clusterIP").empty() && old_spec.contains("clusterIP"))
      spec["clusterIP"] = old_spec["clusterIP"];
    auto ips = spec.find("clusterIPs");
    if ((ips == spec.end() || !ips->is_array() || ips->empty()) && old_spec.contains("clusterIPs"))
      spec["clusterIPs"] = old_spec["clusterIPs"];
  }
  if (needs_node_ports(old_service) && needs_node_ports(service) && spec.contains("ports") &&
      spec["ports"].is_array()) {
    std::set<int> in_new;
    for (const auto& p : spec["ports"])
      if (int np = node_port_of(p); np != 0) in_new.insert(np);
    std::map<std::string, int> by_name;
    for (const auto& p : old_spec.value("ports", json::array()))
      by_name[string_at(p, "name")] = node_port_of(p);
    for (auto& p : spec["ports"]) {
      if (!p.is_object() || node_port_of(p) != 0) continue;
      auto it = by_name.find(string_at(p, "name"));
      if (it != by_name.end() && it->second != 0 && in_new.count(it->second) == 0) {
        p["nodePort"] = it->second;
        in_new.insert(it->second);
      }
    }
  }
  // dropTypeDependentFields (pkg/registry/core/service/strategy.go): a type
  // change drops what the old type had allocated, if the body kept it as is.
  if (needs_cluster_ip(old_service) && !needs_cluster_ip(service) &&
      spec.value("clusterIP", json()) == old_spec.value("clusterIP", json())) {
    spec.erase("clusterIP");
    spec.erase("clusterIPs");
    spec.erase("ipFamilies");
    spec.erase("ipFamilyPolicy");
  }
  if (needs_node_ports(old_service) && !needs_node_ports(service) && spec.contains("ports") &&
      spec["ports"].is_array()) {
    std::set<int> old_ports;
    for (const auto& p : old_spec.value("ports", json::array())) old_ports.insert(node_port_of(p));
    bool same = true;
    for (const auto& p : spec["ports"])
      if (node_port_of(p) != 0 && old_ports.count(node_port_of(p)) == 0) same = false;
    if (same)
      for (auto& p : spec["ports"])
        if (p.is_object()) p.erase("nodePort");
  }
}

ServiceAllocations allocations_of(const json& service) {
  ServiceAllocations out;
  if (!service.is_object() || !service.contains("spec") || !service["spec"].is_object()) return out;
  const json& spec = service["spec"];
  if (needs_cluster_ip(service)) {
    std::string ip = requested_ip(spec);
    if (!ip.empty() && ip != "None") out.ips.insert(ip);
  }
  auto ports = spec.find("ports");
  if (ports != spec.end() && ports->is_array())
    for (const auto& p : *ports)
      if (int np = node_port_of(p); np != 0) out.node_ports.insert(np);
  return out;
}

ServiceAllocator::ServiceAllocator(etcd::Client& etcd, ServiceRanges ranges, uint64_t seed)
    : etcd_(etcd), ranges_(std::move(ranges)), random_(seed) {
  auto slash = ranges_.cluster_ip_cidr.find('/');
  assert(slash != std::string::npos);
  in_addr addr{};
  [[maybe_unused]] int parsed = inet_pton(AF_INET, ranges_.cluster_ip_cidr.substr(0, slash).c_str(), &addr);
  assert(parsed == 1);
  int prefix = std::stoi(ranges_.cluster_ip_cidr.substr(slash + 1));
  assert(prefix >= 0 && prefix <= 32);
  const int64_t size = int64_t{1} << (32 - prefix);
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  const uint32_t network = ntohl(addr.s_addr) & mask;
  // ipallocator: IPv4 ranges skip the network and broadcast addresses
  // (except /31 and /32, which have none).
  if (size > 2) {
    first_ip_ = network + 1;
    ip_count_ = size - 2;
  } else {
    first_ip_ = network;
    ip_count_ = size;
  }
  ip_offset_ = range_offset(size, 16, 256, 16);
  port_offset_ = range_offset(ranges_.node_port_max - ranges_.node_port_min + 1, 16, 128, 32);
}

std::string ServiceAllocator::ip_at(int64_t index) const {
  in_addr addr{};
  addr.s_addr = htonl(first_ip_ + static_cast<uint32_t>(index));
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr, text, sizeof text);
  return text;
}

asio::awaitable<Result<bool>> ServiceAllocator::reserve_key(std::string key, std::string owner) {
  etcd::Compare absent;
  absent.key = key;
  absent.target = etcd::Compare::Target::kCreateRevision;
  absent.op = etcd::Compare::Op::kEqual;
  absent.number = 0;
  etcd::PutOp put;
  put.key = key;
  put.value = std::move(owner);
  etcd::TxnRequest request;
  request.compare.push_back(std::move(absent));
  request.success.emplace_back(std::move(put));
  auto response = co_await etcd_.txn(std::move(request));
  if (!response.ok()) co_return response.error();
  co_return response->succeeded;
}

asio::awaitable<Result<int64_t>> ServiceAllocator::reserve_next(std::string prefix, int64_t size,
                                                                int64_t offset, std::string owner, bool ips) {
  // What is taken now; a value taken after this read loses its txn below
  // and the scan moves on.
  etcd::RangeOptions options;
  options.prefix = true;
  options.keys_only = true;
  auto taken_keys = co_await etcd_.range(prefix, options);
  if (!taken_keys.ok()) co_return taken_keys.error();
  std::set<std::string> taken;
  for (const auto& kv : taken_keys->kvs) taken.insert(kv.key.substr(prefix.size()));

  const std::vector<int64_t> order = scan_order(size, offset, random_);
  for (int64_t index : order) {
    std::string value = ips ? ip_at(index) : std::to_string(ranges_.node_port_min + index);
    if (taken.count(value) != 0) continue;
    auto won = co_await reserve_key(prefix + value, owner);
    if (!won.ok()) co_return won.error();
    if (*won) co_return index;
  }
  co_return static_cast<int64_t>(-1);
}

asio::awaitable<void> ServiceAllocator::release_keys(std::set<std::string> keys) {
  // Best effort: a key left behind after an etcd failure keeps its value
  // reserved (visible with its owner) until removed by hand.
  for (const auto& key : keys) {
    auto deleted = co_await etcd_.del(key);
    (void)deleted;
  }
}

asio::awaitable<ApiResult<json>> ServiceAllocator::allocate_node_ports(json service, json old_service,
                                                                       std::string owner,
                                                                       std::set<std::string>* reserved) {
  if (!needs_node_ports(service) || !service["spec"].contains("ports") ||
      !service["spec"]["ports"].is_array())
    co_return service;
  std::set<int> held;
  if (old_service.is_object() && needs_node_ports(old_service)) held = allocations_of(old_service).node_ports;
  json& ports = service["spec"]["ports"];
  for (size_t i = 0; i < ports.size(); ++i) {
    if (!ports[i].is_object()) continue;
    int np = node_port_of(ports[i]);
    const std::string field = fmt::format("spec.ports[{}].nodePort", i);
    if (np != 0) {
      if (held.count(np) != 0) continue;
      if (np < ranges_.node_port_min || np > ranges_.node_port_max) {
        co_return invalid_field(
            service, field, std::to_string(np),
            fmt::format("provided port is not in the valid range. The range of valid ports is "
                        "{}-{}",
                        ranges_.node_port_min, ranges_.node_port_max));
      }
      auto won = co_await reserve_key(port_key(np), owner);
      if (!won.ok()) co_return from_storage_error(won.error());
      if (!*won)
        co_return invalid_field(service, field, std::to_string(np), "provided port is already allocated");
      reserved->insert(port_key(np));
      held.insert(np);
      continue;
    }
    auto index =
        co_await reserve_next(kServiceNodePortKeyPrefix, ranges_.node_port_max - ranges_.node_port_min + 1,
                              port_offset_, owner, false);
    if (!index.ok()) co_return from_storage_error(index.error());
    if (*index < 0) co_return internal_error("failed to allocate a nodePort: range is full");
    int port = ranges_.node_port_min + static_cast<int>(*index);
    reserved->insert(port_key(port));
    held.insert(port);
    ports[i]["nodePort"] = port;
  }
  co_return service;
}

asio::awaitable<ApiResult<json>> ServiceAllocator::allocate(json service) {
  if (!service.is_object()) co_return bad_request("the body of a Service must be an object");
  if (!service.contains("spec") || !service["spec"].is_object()) service["spec"] = json::object();
  const std::string owner = owner_of(service);
  std::set<std::string> reserved;
  std::optional<ApiError> failure;

  if (needs_cluster_ip(service)) {
    json& spec = service["spec"];
    std::string ip = requested_ip(spec);
    if (ip.empty()) {
      auto index = co_await reserve_next(kServiceIpKeyPrefix, ip_count_, ip_offset_, owner, true);
      if (!index.ok()) {
        failure = from_storage_error(index.error());
      } else if (*index < 0) {
        failure = internal_error("failed to allocate a serviceIP: range is full");
      } else {
        ip = ip_at(*index);
        reserved.insert(ip_key(ip));
      }
    } else if (ip != "None") {
      const std::string value = fmt::format("[]string{{{}}}", json(ip).dump());
      in_addr addr{};
      bool in_range = inet_pton(AF_INET, ip.c_str(), &addr) == 1 && ntohl(addr.s_addr) >= first_ip_ &&
                      ntohl(addr.s_addr) - first_ip_ < static_cast<uint64_t>(ip_count_);
      if (!in_range) {
        failure =
            invalid_field(service, "spec.clusterIPs", value,
                          fmt::format("failed to allocate IP {}: the provided IP ({}) is not in the valid "
                                      "range. The range of valid IPs is {}",
                                      ip, ip, ranges_.cluster_ip_cidr));
      } else {
        auto won = co_await reserve_key(ip_key(ip), owner);
        if (!won.ok()) {
          failure = from_storage_error(won.error());
        } else if (!*won) {
          failure =
              invalid_field(service, "spec.clusterIPs", value,
                            fmt::format("failed to allocate IP {}: provided IP is already allocated", ip));
        } else {
          reserved.insert(ip_key(ip));
        }
      }
    }
    if (!failure) {
      spec["clusterIP"] = ip;
      spec["clusterIPs"] = json::array({ip});
    }
  }
  if (!failure) {
    auto with_ports = co_await allocate_node_ports(service, json(), owner, &reserved);
    if (with_ports.ok()) co_return std::move(with_ports).value();
    failure = with_ports.error();
  }
  co_await release_keys(reserved);
  co_return *failure;
}

asio::awaitable<ApiResult<json>> ServiceAllocator::reallocate(json old_service, json service) {
  if (!service.is_object()) co_return bad_request("the body of a Service must be an object");
  if (!service.contains("spec") || !service["spec"].is_object()) service["spec"] = json::object();
  const std::string owner = owner_of(service);
  std::set<std::string> reserved;
  std::optional<ApiError> failure;
  const ServiceAllocations before = allocations_of(old_service);

  // A service that gains a cluster IP (ExternalName -> ClusterIP) gets one
  // as on create; a changed IP is left to validate_object (immutable).
  if (needs_cluster_ip(service) && !needs_cluster_ip(old_service)) {
    json fresh = service;
    fresh["spec"]["ports"] = json::array();  // IP only; ports follow below
    auto allocated = co_await allocate(fresh);
    if (!allocated.ok()) co_return allocated.error();
    for (const auto& ip : allocations_of(*allocated).ips) reserved.insert(ip_key(ip));
    service["spec"]["clusterIP"] = (*allocated)["spec"]["clusterIP"];
    service["spec"]["clusterIPs"] = (*allocated)["spec"]["clusterIPs"];
  }
  if (!needs_node_ports(service) && service["spec"].contains("ports") &&
      service["spec"]["ports"].is_array()) {
    for (auto& p : service["spec"]["ports"])
      if (p.is_object() && before.node_ports.count(node_port_of(p)) != 0) p.erase("nodePort");
  }
  auto with_ports = co_await allocate_node_ports(service, old_service, owner, &reserved);
  if (with_ports.ok()) co_return std::move(with_ports).value();
  failure = with_ports.error();
  co_await release_keys(reserved);
  co_return *failure;
}

asio::awaitable<void> ServiceAllocator::release_unused(json held, json kept) {
  const ServiceAllocations have = allocations_of(held);
  const ServiceAllocations keep = allocations_of(kept);
  std::set<std::string> keys;
  for (const auto& ip : have.ips)
    if (keep.ips.count(ip) == 0) keys.insert(ip_key(ip));
  for (int port : have.node_ports)
    if (keep.node_ports.count(port) == 0) keys.insert(port_key(port));
  co_await release_keys(std::move(keys));
}

asio::awaitable<void> ServiceAllocator::release(json service) {
  json nothing = json::object();
  co_await release_unused(std::move(service), std::move(nothing));
}

}  // namespace shakeout::api
