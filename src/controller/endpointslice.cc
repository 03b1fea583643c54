#include "controller/endpointslice.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "api/resource_registry.h"
#include "common/log.h"
#include "controller/endpoints.h"
#include "controller/pod_util.h"

namespace shakeout::controller {
namespace {

constexpr const char* kLog = "endpointslice";

const api::ResourceInfo& slices_resource() {
  return *api::ResourceRegistry::builtin().by_plural("discovery.k8s.io", "endpointslices");
}

// endpointslice util podToEndpoint.
json endpoint_of(const json& service, const json& pod) {
  const bool serving = is_pod_ready(pod);
  const bool terminating = is_terminating(pod);
  const bool publish_not_ready = spec_of(service).value("publishNotReadyAddresses", false);
  json endpoint = json::object();
  endpoint["addresses"] = json::array({pod_ip(pod)});
  endpoint["conditions"] = {{"ready", publish_not_ready || (serving && !terminating)},
                            {"serving", serving},
                            {"terminating", terminating}};
  const std::string node = spec_of(pod).value("nodeName", "");
  if (!node.empty()) endpoint["nodeName"] = node;
  endpoint["targetRef"] = {{"kind", "Pod"},
                           {"namespace", meta_string(pod, "namespace")},
                           {"name", meta_string(pod, "name")},
                           {"uid", meta_string(pod, "uid")}};
  return endpoint;
}

bool managed_slice_of(const json& slice, const std::string& service) {
  const json* labels = labels_of(slice);
  return labels != nullptr && labels->value(kServiceNameLabel, "") == service &&
         labels->value(kManagedByLabel, "") == kManagedByValue;
}

json slice_labels(const json& service) {
  json labels = json::object();
  if (const json* own = labels_of(service))
    for (const auto& [key, value] : own->items())
      if (key != kServiceNameLabel && key != kManagedByLabel) labels[key] = value;
  labels[kServiceNameLabel] = meta_string(service, "name");
  labels[kManagedByLabel] = kManagedByValue;
  if (spec_of(service).value("clusterIP", "") == "None") labels["service.kubernetes.io/headless"] = "";
  return labels;
}

}  // namespace

std::vector<SliceContent> desired_endpoint_slices(const json& service, const std::vector<json>& pods,
                                                  int max_per_slice) {
  const json ports = spec_of(service).value("ports", json::array());
  // Resolved ports (serialized) -> endpoints by IP, in port-set order.
  std::map<std::string, std::map<std::string, json>> groups;
  for (const auto& pod : pods) {
    if (pod_ip(pod).empty() || is_pod_terminal(pod)) continue;
    json pod_ports = json::array();
    for (const auto& service_port : ports) {
      const auto number = find_port(pod, service_port);
      if (!number) continue;
      json port = {{"name", service_port.value("name", "")},
                   {"port", *number},
                   {"protocol", service_port.value("protocol", "TCP")}};
      if (service_port.contains("appProtocol")) port["appProtocol"] = service_port["appProtocol"];
      pod_ports.push_back(std::move(port));
    }
    groups[pod_ports.dump()][pod_ip(pod) + "/" + meta_string(pod, "uid")] = endpoint_of(service, pod);
  }
  std::vector<SliceContent> slices;
  for (const auto& [ports_key, endpoints] : groups) {
    SliceContent current;
    current.ports = json::parse(ports_key);
    for (const auto& [ip, endpoint] : endpoints) {
      if (static_cast<int>(current.endpoints.size()) == max_per_slice) {
        SliceContent next;
        next.ports = current.ports;
        slices.push_back(std::exchange(current, std::move(next)));
      }
      current.endpoints.push_back(endpoint);
    }
    slices.push_back(std::move(current));
  }
  return slices;
}

EndpointSliceController::EndpointSliceController(client::Client& client, client::Informer& services,
                                                 client::Informer& pods, client::Informer& slices,
                                                 client::Timers& timers, EndpointSliceOptions options,
                                                 WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics)
    : client_(client),
      services_(services),
      pods_(pods),
      slices_(slices),
      options_(options),
      sync_metrics_(sync_metrics),
      queue_(client.executor(), timers, queue_metrics) {
  client::EventHandlers service_handlers;
  service_handlers.on_add = [this](const json& svc) { queue_.add(client::object_key(svc)); };
  service_handlers.on_update = [this](const json&, const json& svc) { queue_.add(client::object_key(svc)); };
  services_.add_handlers(std::move(service_handlers));
  client::EventHandlers pod_handlers;
  pod_handlers.on_add = [this](const json& pod) { enqueue_services_of(pod); };
  pod_handlers.on_update = [this](const json& old_pod, const json& pod) {
    if (client::resource_version_of(old_pod) == client::resource_version_of(pod)) return;
    enqueue_services_of(old_pod);
    enqueue_services_of(pod);
  };
  pod_handlers.on_delete = [this](const json& pod, bool) { enqueue_services_of(pod); };
  pods_.add_handlers(std::move(pod_handlers));
  // A managed slice changed or deleted by someone else is put right.
  client::EventHandlers slice_handlers;
  slice_handlers.on_update = [this](const json&, const json& slice) { enqueue_owner_of(slice); };
  slice_handlers.on_delete = [this](const json& slice, bool) { enqueue_owner_of(slice); };
  slices_.add_handlers(std::move(slice_handlers));
}

void EndpointSliceController::enqueue_services_of(const json& pod) {
  for (const auto& service : services_.store().list())
    if (service_selects(service, pod)) queue_.add(client::object_key(service));
}

void EndpointSliceController::enqueue_owner_of(const json& slice) {
  const json* labels = labels_of(slice);
  if (labels == nullptr || labels->value(kManagedByLabel, "") != kManagedByValue) return;
  const std::string service = labels->value(kServiceNameLabel, "");
  if (!service.empty()) queue_.add(meta_string(slice, "namespace") + "/" + service);
}

asio::awaitable<void> EndpointSliceController::run() {
  WorkerOptions options;
  options.controller = kLog;
  options.workers = options_.workers;
  options.max_retries = EndpointsController::kMaxRetries;
  options.metrics = sync_metrics_;
  co_await run_workers(
      queue_, [this](std::string key) { return sync(std::move(key)); }, options);
}

void EndpointSliceController::remember(const std::string& service, const json& written) {
  const std::string rv = client::resource_version_of(written);
  if (!rv.empty()) written_[service][meta_string(written, "name")] = std::stoll(rv);
}

bool EndpointSliceController::stale(const std::string& service) {
  auto written = written_.find(service);
  if (written == written_.end()) return false;
  const std::string ns = service.substr(0, service.find('/'));
  auto& slices = written->second;
  for (auto it = slices.begin(); it != slices.end();) {
    const json* cached = slices_.store().get(ns, it->first);
    bool seen = false;
    if (it->second < 0) {
      seen = cached == nullptr;
    } else if (cached != nullptr) {
      const std::string rv = client::resource_version_of(*cached);
      seen = !rv.empty() && std::stoll(rv) >= it->second;
    }
    it = seen ? slices.erase(it) : std::next(it);
  }
  if (slices.empty()) written_.erase(written);
  return written_.contains(service);
}

asio::awaitable<api::ApiResult<void>> EndpointSliceController::sync(std::string key) {
  const json* cached = services_.store().get(key);
  if (cached == nullptr) {
    written_.erase(key);
    co_return api::ApiResult<void>();  // the GC removes its slices
  }
  if (stale(key))
    co_return api::internal_error(fmt::format("service {}: the EndpointSlice cache is out of date", key));
  const json service = *cached;
  const json& spec = spec_of(service);
  const auto selector = spec.find("selector");
  if (selector == spec.end() || !selector->is_object() || selector->empty()) co_return api::ApiResult<void>();
  const std::string ns = meta_string(service, "namespace");
  const std::string name = meta_string(service, "name");

  std::vector<json> pods;
  for (auto& pod : pods_.store().list())
    if (service_selects(service, pod)) pods.push_back(std::move(pod));
  auto desired = desired_endpoint_slices(service, pods, options_.max_endpoints_per_slice);
  // With no endpoint a Service keeps one placeholder slice, as upstream's.
  if (desired.empty()) desired.emplace_back();
  const json labels = slice_labels(service);

  std::vector<json> existing;
  for (auto& slice : slices_.store().list())
    if (meta_string(slice, "namespace") == ns && managed_slice_of(slice, name) && !is_terminating(slice))
      existing.push_back(std::move(slice));
  std::vector<bool> used(existing.size(), false);
  for (auto& content : desired) {
    // Prefer a slice with the same ports; else any unused one.
    int pick = -1;
    for (std::size_t i = 0; i < existing.size() && pick < 0; ++i)
      if (!used[i] && existing[i].value("ports", json::array()) == content.ports) pick = static_cast<int>(i);
    for (std::size_t i = 0; i < existing.size() && pick < 0; ++i)
      if (!used[i]) pick = static_cast<int>(i);
    if (pick >= 0) {
      used[pick] = true;
      json slice = existing[pick];
      const json* current_labels = labels_of(slice);
      if (slice.value("ports", json::array()) == content.ports &&
          slice.value("endpoints", json::array()) == content.endpoints && current_labels != nullptr &&
          *current_labels == labels)
        continue;
      slice["metadata"]["labels"] = labels;
      slice["ports"] = content.ports;
      slice["endpoints"] = content.endpoints;
      auto updated = co_await client_.update(slices_resource(), ns, std::move(slice));
      if (!updated) co_return updated.error();
      remember(key, *updated);
      continue;
    }
    json slice = json::object();
    slice["apiVersion"] = "discovery.k8s.io/v1";
    slice["kind"] = "EndpointSlice";
    slice["metadata"]["generateName"] = name + "-";
    slice["metadata"]["namespace"] = ns;
    slice["metadata"]["labels"] = labels;
    slice["metadata"]["ownerReferences"] = json::array({make_controller_ref(service, "v1", "Service")});
    slice["addressType"] = "IPv4";
    slice["ports"] = content.ports;
    slice["endpoints"] = content.endpoints;
    log::debug(kLog, "creating a slice for service {}", key);
    auto created = co_await client_.create(slices_resource(), ns, std::move(slice));
    if (!created) co_return created.error();
    remember(key, *created);
  }
  for (std::size_t i = 0; i < existing.size(); ++i) {
    if (used[i]) continue;
    client::DeleteOptions options;
    options.precondition_uid = meta_string(existing[i], "uid");
    auto removed = co_await client_.remove(slices_resource(), ns, meta_string(existing[i], "name"), options);
    if (!removed && !client::is_not_found(removed.error())) co_return removed.error();
    written_[key][meta_string(existing[i], "name")] = -1;
  }
  co_return api::ApiResult<void>();
}

}  // namespace shakeout::controller
