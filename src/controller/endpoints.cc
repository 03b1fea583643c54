#include "controller/endpoints.h"

#include <algorithm>
#include <map>
#include <set>

#include "api/resource_registry.h"
#include "common/log.h"

namespace shakeout::controller {
namespace {

constexpr const char* kLog = "endpoint";
// Upstream's label on the Endpoints of a headless Service
// (v1.IsHeadlessService / LabelIsHeadlessService).
constexpr const char* kHeadlessLabel = "service.kubernetes.io/headless";

const api::ResourceInfo& endpoints_resource() {
  return *api::ResourceRegistry::builtin().by_plural("", "endpoints");
}

std::string pod_node(const json& pod) {
  return spec_of(pod).value("nodeName", "");
}

json address_of(const json& pod) {
  json address = json::object();
  address["ip"] = pod_ip(pod);
  const std::string node = pod_node(pod);
  if (!node.empty()) address["nodeName"] = node;
  json ref = json::object();
  ref["kind"] = "Pod";
  ref["namespace"] = meta_string(pod, "namespace");
  ref["name"] = meta_string(pod, "name");
  ref["uid"] = meta_string(pod, "uid");
  address["targetRef"] = std::move(ref);
  return address;
}

// The Endpoints port for a Service port (endpointPortFromServicePort).
json endpoint_port(const json& service_port, int64_t port) {
  json out = json::object();
  const std::string name = service_port.value("name", "");
  if (!name.empty()) out["name"] = name;
  out["port"] = port;
  out["protocol"] = service_port.value("protocol", "TCP");
  if (service_port.contains("appProtocol")) out["appProtocol"] = service_port["appProtocol"];
  return out;
}

// Addresses keyed by IP then pod UID: the order upstream sorts them in.
using AddressSet = std::map<std::pair<std::string, std::string>, json>;

void insert(AddressSet& set, const json& address) {
  set[{address.value("ip", ""), address["targetRef"].value("uid", "")}] = address;
}

json to_array(const AddressSet& set) {
  json out = json::array();
  for (const auto& [key, address] : set) out.push_back(address);
  return out;
}

json desired_labels(const json& service) {
  const auto meta = service.find("metadata");
  json labels =
      meta != service.end() && meta->is_object() ? meta->value("labels", json::object()) : json::object();
  if (spec_of(service).value("clusterIP", "") == "None") labels[kHeadlessLabel] = "";
  return labels;
}

}  // namespace

std::optional<int64_t> find_port(const json& pod, const json& service_port) {
  const auto target = service_port.find("targetPort");
  if (target == service_port.end() || target->is_null()) return service_port.value("port", int64_t{0});
  if (target->is_number_integer()) return target->get<int64_t>();
  if (!target->is_string()) return std::nullopt;
  const std::string name = target->get<std::string>();
  const std::string protocol = service_port.value("protocol", "TCP");
  const auto containers = spec_of(pod).find("containers");
  if (containers == spec_of(pod).end() || !containers->is_array()) return std::nullopt;
  for (const auto& container : *containers) {
    if (!container.is_object() || !container.contains("ports") || !container["ports"].is_array()) continue;
    for (const auto& port : container["ports"])
      if (port.is_object() && port.value("name", "") == name && port.value("protocol", "TCP") == protocol)
        return port.value("containerPort", int64_t{0});
  }
  return std::nullopt;
}

bool service_selects(const json& service, const json& pod) {
  const json& spec = spec_of(service);
  const auto selector = spec.find("selector");
  // An empty selector map is omitted on the wire upstream, hence nil: no pods.
  if (selector == spec.end() || !selector->is_object() || selector->empty()) return false;
  if (meta_string(service, "namespace") != meta_string(pod, "namespace")) return false;
  const json* labels = labels_of(pod);
  for (const auto& [key, value] : selector->items())
    if (labels == nullptr || !labels->contains(key) || (*labels)[key] != value) return false;
  return true;
}

json compute_subsets(const json& service, const std::vector<json>& pods) {
  const json& spec = spec_of(service);
  const bool tolerate_unready = spec.value("publishNotReadyAddresses", false);
  const json ports = spec.value("ports", json::array());
  const bool headless_without_ports = ports.empty() && spec.value("clusterIP", "") == "None";
  // port (serialized) -> {ready, not ready}; "" stands for "no ports".
  std::map<std::string, std::pair<AddressSet, AddressSet>> by_port;
  for (const auto& pod : pods) {
    // endpointutil.ShouldPodBeInEndpoints
    if (is_pod_terminal(pod) || pod_ip(pod).empty()) continue;
    if (!tolerate_unready && is_terminating(pod)) continue;
    const json address = address_of(pod);
    const bool ready = tolerate_unready || is_pod_ready(pod);
    auto add = [&](const std::string& port_key) {
      auto& sets = by_port[port_key];
      insert(ready ? sets.first : sets.second, address);
    };
    if (headless_without_ports) {
      add("");
      continue;
    }
    for (const auto& service_port : ports) {
      const auto number = find_port(pod, service_port);
      if (!number) {
        log::debug(kLog, "service {}: pod {} has no port {}", client::object_key(service),
                   client::object_key(pod), service_port.value("targetPort", json()).dump());
        continue;
      }
      add(endpoint_port(service_port, *number).dump());
    }
  }
  // RepackSubsets: ports with the same ready and not-ready addresses share
  // one subset.
  std::map<std::string, std::pair<json, json>> groups;  // addresses (serialized) -> ports, sets
  for (const auto& [port_key, sets] : by_port) {
    json ready = to_array(sets.first);
    json not_ready = to_array(sets.second);
    const std::string group_key = ready.dump() + "|" + not_ready.dump();
    auto& [group_ports, group_sets] = groups[group_key];
    if (group_ports.is_null()) {
      group_ports = json::array();
      group_sets = json::array({ready, not_ready});
    }
    if (!port_key.empty()) group_ports.push_back(json::parse(port_key));
  }
  json subsets = json::array();
  for (const auto& [group_key, group] : groups) {
    json subset = json::object();
    if (!group.second[0].empty()) subset["addresses"] = group.second[0];
    if (!group.second[1].empty()) subset["notReadyAddresses"] = group.second[1];
    if (!group.first.empty()) subset["ports"] = group.first;
    subsets.push_back(std::move(subset));
  }
  return subsets;
}

EndpointsController::EndpointsController(client::Client& client, client::Informer& services,
                                         client::Informer& pods, client::Informer& endpoints,
                                         client::Timers& timers, EndpointsOptions options,
                                         WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics)
    : client_(client),
      services_(services),
      pods_(pods),
      endpoints_(endpoints),
      options_(options),
      sync_metrics_(sync_metrics),
      queue_(client.executor(), timers, queue_metrics) {
  client::EventHandlers service_handlers;
  service_handlers.on_add = [this](const json& svc) { queue_.add(client::object_key(svc)); };
  service_handlers.on_update = [this](const json&, const json& svc) { queue_.add(client::object_key(svc)); };
  service_handlers.on_delete = [this](const json& svc, bool) { queue_.add(client::object_key(svc)); };
  services_.add_handlers(std::move(service_handlers));
  client::EventHandlers pod_handlers;
  pod_handlers.on_add = [this](const json& pod) { enqueue_services_of(pod); };
  pod_handlers.on_update = [this](const json& old_pod, const json& pod) {
    if (client::resource_version_of(old_pod) == client::resource_version_of(pod)) return;
    enqueue_services_of(old_pod);  // labels may have changed: both sides
    enqueue_services_of(pod);
  };
  pod_handlers.on_delete = [this](const json& pod, bool) { enqueue_services_of(pod); };
  pods_.add_handlers(std::move(pod_handlers));
  // Someone deleting an Endpoints we manage: put it back (onEndpointsDelete).
  client::EventHandlers endpoints_handlers;
  endpoints_handlers.on_delete = [this](const json& ep, bool) {
    const std::string key = client::object_key(ep);
    if (services_.store().get(key) != nullptr) queue_.add(key);
  };
  endpoints_.add_handlers(std::move(endpoints_handlers));
}

void EndpointsController::enqueue_services_of(const json& pod) {
  for (const auto& service : services_.store().list())
    if (service_selects(service, pod)) queue_.add(client::object_key(service));
}

asio::awaitable<void> EndpointsController::run() {
  WorkerOptions options;
  options.controller = kLog;
  options.workers = options_.workers;
  options.max_retries = kMaxRetries;
  options.metrics = sync_metrics_;
  co_await run_workers(
      queue_, [this](std::string key) { return sync(std::move(key)); }, options);
}

asio::awaitable<api::ApiResult<void>> EndpointsController::sync(std::string key) {
  const auto slash = key.find('/');
  const std::string ns = key.substr(0, slash);
  const std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
  const json* cached = services_.store().get(key);
  if (cached == nullptr) {
    // The Service is gone: so is its Endpoints (the GC would get there too).
    auto removed = co_await client_.remove(endpoints_resource(), ns, name, client::DeleteOptions());
    if (!removed && !client::is_not_found(removed.error())) co_return removed.error();
    co_return api::ApiResult<void>();
  }
  const json service = *cached;
  const json& spec = spec_of(service);
  const auto selector = spec.find("selector");
  if (selector == spec.end() || !selector->is_object() || selector->empty()) co_return api::ApiResult<void>();

  std::vector<json> pods;
  for (auto& pod : pods_.store().list())
    if (service_selects(service, pod)) pods.push_back(std::move(pod));
  json subsets = compute_subsets(service, pods);
  json labels = desired_labels(service);

  const json* existing = endpoints_.store().get(key);
  json endpoints = existing != nullptr ? *existing : json::object();
  if (existing != nullptr) {
    const json current_subsets = existing->value("subsets", json::array());
    const json* current_labels = labels_of(*existing);
    if (current_subsets == subsets && (current_labels ? *current_labels : json::object()) == labels)
      co_return api::ApiResult<void>();
  } else {
    endpoints["apiVersion"] = "v1";
    endpoints["kind"] = "Endpoints";
    endpoints["metadata"]["name"] = name;
    endpoints["metadata"]["namespace"] = ns;
  }
  endpoints["metadata"]["labels"] = std::move(labels);
  endpoints["subsets"] = std::move(subsets);
  const bool create = existing == nullptr;
  log::debug(kLog, "{} endpoints {}", create ? "creating" : "updating", key);
  api::ApiResult<json> written = api::internal_error("unreachable");
  if (create) {
    written = co_await client_.create(endpoints_resource(), ns, std::move(endpoints));
  } else {
    written = co_await client_.update(endpoints_resource(), ns, std::move(endpoints));
  }
  if (!written) co_return written.error();
  co_return api::ApiResult<void>();
}

}  // namespace shakeout::controller
