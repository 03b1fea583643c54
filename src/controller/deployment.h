#pragma once
// DeploymentController: rolls a Deployment's pod template out through
// ReplicaSets, as upstream's pkg/controller/deployment (deployment_controller.go,
// sync.go, rolling.go, recreate.go, progress.go) does. The rules themselves
// are in deployment_util.h.
//
//   informers: deployments, replicasets, pods ──► handlers ──► queue of "ns/name"
//   sync(d):  claim RSs by selector (adopt orphans, release non-matching)
//               ──► being deleted:       status only
//               ──► paused / scaling:    plan_scale (proportional), cleanup
//               ──► RollingUpdate:       create/find new RS "<d>-<hash>",
//                                        scale it up within maxSurge, old ones
//                                        down within maxUnavailable
//               ──► Recreate:            old RSs to 0, wait until no old pod
//                                        runs, then the new RS to replicas
//               ──► PUT /status: counts, Available and Progressing conditions
//
// Contract:
// - Writes are made from the informer cache; a 409 Conflict or any API
//   error fails the sync, which the queue retries with per-key backoff. The
//   new RS's name is deterministic, so a create that races a slow cache ends
//   in AlreadyExists and finds the RS; an RS of that name with another
//   template is a hash collision: status.collisionCount goes up and the next
//   sync hashes again.
// - No polling: a rollout that is neither complete nor timed out is looked
//   at again when its progress deadline falls due (requeueStuckDeployment);
//   minReadySeconds is waited through the RSs' availableReplicas, which the
//   ReplicaSet controller requeues itself for.
// - Differences from upstream: the deployment's revision annotation is
//   written with a metadata merge patch (our apiserver's /status keeps only
//   status), no Events, no ReplicaFailure condition, no rollbackTo
//   (extensions/v1beta1 only), the template hash is FNV-1a over the
//   template's canonical JSON rather than over Go's struct dump (so hashes
//   differ from a real cluster's, not in their properties).
// Threading: one executor; not thread-safe. The client, informers, timers
// and metrics must outlive the controller, and the controller must outlive
// run().

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "controller/deployment_util.h"
#include "controller/work_queue.h"
#include "controller/worker.h"

namespace shakeout::controller {

struct DeploymentOptions {
  int workers = 5;  // --concurrent-deployment-syncs
};

class DeploymentController {
 public:
  DeploymentController(client::Client& client, client::Informer& deployments, client::Informer& replicasets,
                       client::Informer& pods, client::Timers& timers, DeploymentOptions options,
                       WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics);
  DeploymentController(const DeploymentController&) = delete;
  DeploymentController& operator=(const DeploymentController&) = delete;

  // Runs the workers until stop(). Start the informers first.
  asio::awaitable<void> run();
  void stop() { queue_.shut_down(); }

  // One reconciliation of the Deployment "ns/name" (public for tests).
  asio::awaitable<api::ApiResult<void>> sync(std::string key);

  const WorkQueue& queue() const { return queue_; }

 private:
  // The state of one sync: the working copy of the deployment (its status
  // edited in place as upstream's syncs do), its claimed RSs (replaced by
  // what each write returned) and its pods by owning RS uid.
  struct SyncState {
    json deployment;
    std::vector<json> replicasets;
    std::vector<json> pods;  // active or not, those the RSs own
  };

  void add_replicaset(const json& rs);
  void update_replicaset(const json& old_rs, const json& rs);
  void delete_replicaset(const json& rs);
  void delete_pod(const json& pod);
  const json* resolve(const std::string& ns, const json& ref) const;
  void enqueue_matching(const json& rs);

  asio::awaitable<api::ApiResult<void>> claim_replicasets(SyncState* state);
  // getAllReplicaSetsAndSyncRevision: the new RS (created when `create`
  // and missing), with its annotations and the deployment's revision synced.
  asio::awaitable<api::ApiResult<std::optional<json>>> new_replicaset(SyncState* state, bool create);
  // Writes spec.replicas and the replicas annotations; with `only_on_resize`
  // nothing is written when the size stays (scaleReplicaSetAndRecordEvent).
  // True when the size changed.
  asio::awaitable<api::ApiResult<bool>> scale_replicaset(SyncState* state, std::string name, int64_t replicas,
                                                         bool only_on_resize);
  asio::awaitable<api::ApiResult<void>> write_status(SyncState* state);
  asio::awaitable<api::ApiResult<void>> set_deployment_revision(SyncState* state, std::string revision);
  asio::awaitable<api::ApiResult<void>> check_paused_conditions(SyncState* state);
  asio::awaitable<api::ApiResult<bool>> is_scaling_event(SyncState* state);
  asio::awaitable<api::ApiResult<void>> sync_scale(SyncState* state);
  asio::awaitable<api::ApiResult<void>> sync_status_only(SyncState* state);
  asio::awaitable<api::ApiResult<void>> rollout_rolling(SyncState* state);
  asio::awaitable<api::ApiResult<void>> rollout_recreate(SyncState* state);
  asio::awaitable<api::ApiResult<void>> sync_rollout_status(SyncState* state,
                                                            std::optional<std::string> new_rs);
  asio::awaitable<api::ApiResult<void>> cleanup(SyncState* state, std::optional<std::string> new_rs);

  client::Client& client_;
  client::Informer& deployments_;
  client::Informer& replicasets_;
  client::Informer& pods_;
  const Clock& clock_;
  DeploymentOptions options_;
  SyncMetrics* sync_metrics_;
  WorkQueue queue_;
};

// oldPodsRunning (recreate.go): an old RS still counts pods in its status,
// or a pod owned by an RS other than `new_rs_uid` is not Succeeded/Failed.
bool old_pods_running(const std::vector<json>& old_rss, const std::vector<json>& pods,
                      const std::string& new_rs_uid);

}  // namespace shakeout::controller
