#pragma once
// EndpointsController: one Endpoints object per Service with a selector,
// listing the pods behind it, as upstream's
// pkg/controller/endpoint/endpoints_controller.go does.
//
//   informers: services, pods, endpoints ──► handlers ──► queue of "ns/name"
//   sync(svc): service gone ──► DELETE its Endpoints
//              no selector  ──► leave its Endpoints alone
//              otherwise    ──► pods of the namespace matching the selector
//                               ──► compute_subsets ──► create / update if different
//
// Contract:
// - A pod appears when it has an IP, is not terminal, and (unless the
//   Service publishes not-ready addresses) is not terminating: ready pods
//   under addresses, the others under notReadyAddresses, each with ip,
//   nodeName and a targetRef to the pod.
// - Ports: each Service port's targetPort, a number or the name of a
//   container port of the pod with the same protocol; a pod without that
//   named port is left out of that port only (upstream FindPort).
// - Subsets are repacked as upstream's RepackSubsets: ports that list the
//   same addresses share a subset; addresses sorted by IP.
// - Writes only when subsets or labels differ from the cached Endpoints; a
//   409 is retried with backoff, at most 15 times in a row (upstream
//   maxRetries), after which the key waits for the next event.
// - Not reproduced: hostname/subdomain, the
//   last-change-trigger-time annotation, the over-capacity annotation.
// Threading: one executor; see ReplicaSetController.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "controller/pod_util.h"
#include "controller/work_queue.h"
#include "controller/worker.h"

namespace shakeout::controller {

// The container port a Service port targets on `pod` (podutil.FindPort):
// a numeric targetPort as is (absent: the Service port), a named one looked
// up among the pod's container ports of the same protocol; nullopt if the
// pod has no such port.
std::optional<int64_t> find_port(const json& pod, const json& service_port);

// Whether `service`'s spec.selector (a label map; absent or empty selects
// nothing) matches `pod`.
bool service_selects(const json& service, const json& pod);

// The subsets of `service`'s Endpoints given the pods matching its
// selector (see the contract); an empty array when none qualifies.
json compute_subsets(const json& service, const std::vector<json>& pods);

struct EndpointsOptions {
  int workers = 5;  // --concurrent-endpoint-syncs
};

class EndpointsController {
 public:
  static constexpr int kMaxRetries = 15;

  EndpointsController(client::Client& client, client::Informer& services, client::Informer& pods,
                      client::Informer& endpoints, client::Timers& timers, EndpointsOptions options,
                      WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics);
  EndpointsController(const EndpointsController&) = delete;
  EndpointsController& operator=(const EndpointsController&) = delete;

  asio::awaitable<void> run();
  void stop() { queue_.shut_down(); }
  asio::awaitable<api::ApiResult<void>> sync(std::string key);

 private:
  void enqueue_services_of(const json& pod);

  client::Client& client_;
  client::Informer& services_;
  client::Informer& pods_;
  client::Informer& endpoints_;
  EndpointsOptions options_;
  SyncMetrics* sync_metrics_;
  WorkQueue queue_;
};

}  // namespace shakeout::controller
