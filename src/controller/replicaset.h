#pragma once
// ReplicaSetController: keeps spec.replicas pods of each ReplicaSet, as
// upstream's pkg/controller/replicaset/replica_set.go does.
//
//   informers: replicasets, pods ──► handlers ──► queue of "ns/name"
//   sync(rs):  pods of the namespace, active only
//                ──► claim: adopt matching orphans, release owned pods that
//                    stopped matching (patches of ownerReferences)
//                ──► if expectations satisfied: create (slow-start batches
//                    1,2,4,..., at most burst_replicas per sync) or delete
//                    surplus (delete_first order)
//                ──► PUT /status: replicas, fullyLabeledReplicas,
//                    readyReplicas, availableReplicas, observedGeneration
//
// Contract:
// - No pod is created twice for one missing replica: after creating or
//   deleting pods, the RS is not managed again until the informer has
//   observed each of them (Expectations), or 5 minutes passed.
// - A failed sync (API error, 409 Conflict) is retried with the queue's
//   per-key backoff; handlers never block.
// - Not reproduced: the ReplicaFailure condition, terminatingReplicas, the
//   co-location ranks of ActivePodsWithRanks, namespace-terminating causes.
// Threading: one executor (the informers'); not thread-safe. The client,
// informers, timers and metrics must outlive the controller, and the
// controller must outlive run().

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "controller/expectations.h"
#include "controller/pod_util.h"
#include "controller/work_queue.h"
#include "controller/worker.h"

namespace shakeout::controller {

// The pod a ReplicaSet creates (controller.GetPodFromTemplate): the
// template's labels, annotations, finalizers and spec, generateName
// "<rs>-", an ownerReference to the RS (controller, blockOwnerDeletion).
json pod_from_template(const json& replicaset);

// Batch sizes of upstream's slowStartBatch(count, initial): initial,
// 2*initial, 4*initial, ... with the last one cut to what remains.
std::vector<int> slow_start_batches(int count, int initial);

// The counted fields of a ReplicaSet's status over its active, claimed
// pods (calculateStatus in replica_set_utils.go): replicas,
// fullyLabeledReplicas (pods carrying every template label), readyReplicas,
// availableReplicas (ready for minReadySeconds at `now`), observedGeneration.
json calculate_status(const json& replicaset, const std::vector<json>& pods, WallTime now);

// The `count` pods to delete first, in delete_first order.
std::vector<json> pods_to_delete(std::vector<json> pods, int count);

struct ReplicaSetOptions {
  int workers = 5;             // --concurrent-replicaset-syncs
  int burst_replicas = 500;    // upstream BurstReplicas
  int slow_start_initial = 1;  // upstream SlowStartInitialBatchSize
};

class ReplicaSetController {
 public:
  ReplicaSetController(client::Client& client, client::Informer& replicasets, client::Informer& pods,
                       client::Timers& timers, ReplicaSetOptions options, WorkQueueMetrics* queue_metrics,
                       SyncMetrics* sync_metrics);
  ReplicaSetController(const ReplicaSetController&) = delete;
  ReplicaSetController& operator=(const ReplicaSetController&) = delete;

  // Runs the workers until stop(). Start the informers first.
  asio::awaitable<void> run();
  void stop() { queue_.shut_down(); }

  // One reconciliation of the ReplicaSet "ns/name" (public for tests).
  asio::awaitable<api::ApiResult<void>> sync(std::string key);

  const Expectations& expectations() const { return expectations_; }
  const WorkQueue& queue() const { return queue_; }

 private:
  void add_replicaset(const json& rs);
  void add_pod(const json& pod);
  void update_pod(const json& old_pod, const json& pod);
  void delete_pod(const json& pod);
  // The cached RS `ref` points to in `ns`, or null (resolveControllerRef).
  const json* resolve(const std::string& ns, const json& ref) const;
  // Keys of the cached ReplicaSets in the pod's namespace whose selector
  // matches it (GetPodReplicaSets).
  std::vector<std::string> matching_replicasets(const json& pod) const;

  asio::awaitable<api::ApiResult<std::vector<json>>> claim_pods(json rs, std::vector<json> pods);
  asio::awaitable<api::ApiResult<void>> manage_replicas(json rs, std::vector<json> pods);
  asio::awaitable<api::ApiResult<void>> create_pods(json rs, int count);
  asio::awaitable<api::ApiResult<void>> delete_pods(json rs, std::vector<json> victims);
  asio::awaitable<api::ApiResult<void>> update_status(json rs, json status);

  client::Client& client_;
  client::Informer& replicasets_;
  client::Informer& pods_;
  const Clock& clock_;
  ReplicaSetOptions options_;
  SyncMetrics* sync_metrics_;
  WorkQueue queue_;
  Expectations expectations_;
};

}  // namespace shakeout::controller
