#pragma once
// DisruptionController: the status of each PodDisruptionBudget, which the
// apiserver's eviction subresource reads, as upstream's
// pkg/controller/disruption/disruption.go.
//
//   informers: poddisruptionbudgets, pods, replicasets, deployments
//     pod/PDB changes ──► queue of "ns/name" (the PDBs selecting the pod)
//   sync(pdb): pods of its namespace matching spec.selector
//     ──► expectedPods, desiredHealthy (compute_budget)
//     ──► currentHealthy: ready pods not being deleted, minus those the
//         apiserver recorded in disruptedPods within the last 2 minutes
//     ──► disruptionsAllowed = max(0, currentHealthy - desiredHealthy),
//         condition DisruptionAllowed, observedGeneration ──► PUT /status
//
// Contract:
// - minAvailable as a number counts the matching pods as expected; a
//   percentage or maxUnavailable needs the pods' controllers' scale
//   (a ReplicaSet's replicas, or its Deployment's when it has one), summed
//   over distinct controllers. A pod without such a controller makes the
//   budget fail safe: disruptionsAllowed 0, condition SyncFailed.
// - disruptedPods entries older than 2 minutes are dropped (the pod was
//   not deleted after all); the PDB is looked at again when one expires.
// Threading: one executor; see ReplicaSetController.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "common/clock.h"
#include "controller/pod_util.h"
#include "controller/work_queue.h"
#include "controller/worker.h"

namespace shakeout::controller {

using json = nlohmann::json;

struct Budget {
  int64_t expected = 0;
  int64_t desired_healthy = 0;
};

// expectedPods and desiredHealthy of `pdb` (getExpectedPodCount): `pods` is
// the matching pods; `controllers_scale` the summed scale of their
// controllers, nullopt when some pod has none.
std::optional<Budget> compute_budget(const json& pdb, std::size_t pods,
                                     std::optional<int64_t> controllers_scale);

// The full status for `pdb` (without conditions' times kept), at `now`.
json pdb_status(const json& pdb, const std::vector<json>& pods, std::optional<Budget> budget, WallTime now);

// Upstream DeletionTimeout: how long a disruptedPods entry waits for the
// pod's deletion to show.
inline constexpr Millis kPdbDeletionTimeout{2 * 60 * 1000};

struct DisruptionOptions {
  int workers = 1;  // upstream runs one worker
};

class DisruptionController {
 public:
  DisruptionController(client::Client& client, client::Informer& pdbs, client::Informer& pods,
                       client::Informer& replicasets, client::Informer& deployments, client::Timers& timers,
                       DisruptionOptions options, WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics);
  DisruptionController(const DisruptionController&) = delete;
  DisruptionController& operator=(const DisruptionController&) = delete;

  asio::awaitable<void> run();
  void stop() { queue_.shut_down(); }
  asio::awaitable<api::ApiResult<void>> sync(std::string key);

 private:
  void enqueue_budgets_of(const json& pod);
  // The summed scale of the pods' controllers, nullopt if one has none.
  std::optional<int64_t> controllers_scale(const std::vector<json>& pods) const;

  client::Client& client_;
  client::Informer& pdbs_;
  client::Informer& pods_;
  client::Informer& replicasets_;
  client::Informer& deployments_;
  const Clock& clock_;
  DisruptionOptions options_;
  SyncMetrics* sync_metrics_;
  WorkQueue queue_;
};

}  // namespace shakeout::controller
