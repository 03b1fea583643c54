#pragma once
// EndpointSliceController: the discovery.k8s.io/v1 EndpointSlices of each
// Service with a selector, as upstream's pkg/controller/endpointslice
// (endpointslice_controller.go, reconciler.go).
//
//   informers: services, pods, endpointslices ──► queue of "ns/name"
//   sync(svc): gone or no selector ──► nothing (the garbage collector
//                removes slices through their ownerReference)
//              otherwise ──► desired_endpoint_slices(pods) ──► reuse the
//                managed slices with the same ports (update when they
//                differ), create the missing, delete the rest
//
// Contract:
// - Slices carry labels kubernetes.io/service-name and
//   endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io,
//   an ownerReference to the Service, addressType IPv4, generateName
//   "<service>-".
// - A pod with an IP that is not terminal is an endpoint, terminating ones
//   included: serving = pod Ready, terminating = deletionTimestamp set,
//   ready = serving and not terminating (or publishNotReadyAddresses).
// - The controller never acts on a cache older than its own writes: each
//   slice it created, updated or deleted is tracked with the
//   resourceVersion it wrote until the informer has seen it; until then a
//   sync fails (and is retried with backoff), as upstream's
//   endpointSliceTracker.StaleSlices.
// - Pods are grouped by their resolved ports (named targetPorts may
//   differ per pod), at most --max-endpoints-per-slice (100) per slice.
// - Not reproduced: the zone/hints of topology-aware routing, the
//   churn-minimising placement of endpoints into partly full slices, the
//   last-change-trigger-time annotation, mirroring of custom Endpoints.
// Threading: one executor; see ReplicaSetController.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "controller/work_queue.h"
#include "controller/worker.h"

namespace shakeout::controller {

using json = nlohmann::json;

inline constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";
inline constexpr const char* kManagedByLabel = "endpointslice.kubernetes.io/managed-by";
inline constexpr const char* kManagedByValue = "endpointslice-controller.k8s.io";

// One slice's content: its ports and endpoints (sorted by IP).
struct SliceContent {
  json ports = json::array();
  json endpoints = json::array();
};

// The slices `service` should have for the pods matching its selector.
std::vector<SliceContent> desired_endpoint_slices(const json& service, const std::vector<json>& pods,
                                                  int max_per_slice);

struct EndpointSliceOptions {
  int workers = 5;                    // --concurrent-service-endpoint-syncs
  int max_endpoints_per_slice = 100;  // --max-endpoints-per-slice
};

class EndpointSliceController {
 public:
  EndpointSliceController(client::Client& client, client::Informer& services, client::Informer& pods,
                          client::Informer& slices, client::Timers& timers, EndpointSliceOptions options,
                          WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics);
  EndpointSliceController(const EndpointSliceController&) = delete;
  EndpointSliceController& operator=(const EndpointSliceController&) = delete;

  asio::awaitable<void> run();
  void stop() { queue_.shut_down(); }
  asio::awaitable<api::ApiResult<void>> sync(std::string key);

 private:
  void enqueue_services_of(const json& pod);
  void enqueue_owner_of(const json& slice);
  // Whether the informer has not yet seen a write of ours for `service`;
  // forgets the writes it has seen.
  bool stale(const std::string& service);
  void remember(const std::string& service, const json& written);

  // service key -> slice name -> resourceVersion we wrote (-1: deleted).
  std::map<std::string, std::map<std::string, int64_t>> written_;

  client::Client& client_;
  client::Informer& services_;
  client::Informer& pods_;
  client::Informer& slices_;
  EndpointSliceOptions options_;
  SyncMetrics* sync_metrics_;
  WorkQueue queue_;
};

}  // namespace shakeout::controller
