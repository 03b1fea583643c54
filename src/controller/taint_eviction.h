#pragma once
// TaintEvictionController: deletes the pods of nodes with NoExecute taints
// they do not tolerate (long enough), as upstream's
// pkg/controller/tainteviction/taint_eviction.go does.
//
//   informers: nodes, pods ──► tainted nodes (name -> NoExecute taints)
//     node taints changed ──► every pod on the node ──► EvictionSchedule
//     pod added / moved / tolerations changed ──► EvictionSchedule
//   EvictionSchedule.process_pod: untolerated taint   ──► evict now
//                                 min tolerationSeconds ──► evict at then
//                                 no tolerationSeconds  ──► never (cancel)
//   queue (add_after the due time) ──► sync(pod): still due? ──► Event
//     TaintManagerEviction, DisruptionTarget condition, DELETE the pod
//
// Contract:
// - A pod is deleted at once when some NoExecute taint of its node is not
//   tolerated, otherwise at the time the controller first saw it tainted plus
//   the least tolerationSeconds of the tolerations in use (<= 0: at once);
//   no tolerationSeconds means it stays. The time counts from the first
//   observation, as upstream's TimedWorkerQueue keeps CreatedAt: later
//   taint or toleration changes keep an already scheduled eviction as it is.
// - Removing the taints (or the node, or the pod) before then cancels it.
// - Pods already terminating are left alone.
// - Not reproduced: the per-node pod-deletion retry limit (a failed delete
//   is retried with the work queue's backoff until the pod is gone).
// Threading: one executor; the client, informers and timers must outlive it.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/taints.h"
#include "client/client.h"
#include "client/informer.h"
#include "common/clock.h"
#include "controller/work_queue.h"
#include "controller/worker.h"

namespace shakeout::controller {

using json = nlohmann::json;

using api::tolerates;  // api/taints.h

// The node's taints with effect NoExecute (getNoExecuteTaints).
json no_execute_taints(const json& node);

// How long `tolerations` let a pod stay on a node with `taints` (upstream
// GetMatchingTolerations + getMinTolerationTime): nullopt when some taint is
// not tolerated (evict now); Millis(-1) when every toleration in use has no
// tolerationSeconds (stay forever); else the least tolerationSeconds, with
// values <= 0 counted as 0.
std::optional<Millis> toleration_time(const json& tolerations, const json& taints);

// Upstream's TimedWorkerQueue bookkeeping, without the timers: per pod key,
// when its eviction was first scheduled and when it falls due.
class EvictionSchedule {
 public:
  struct Work {
    SteadyTime created;
    SteadyTime due;
  };

  // processPodOnNode: schedules, keeps or cancels the pod's eviction given
  // its tolerations and its node's NoExecute taints at `now`. Returns the
  // due time when one is scheduled.
  std::optional<SteadyTime> process_pod(const std::string& key, const json& tolerations, const json& taints,
                                        SteadyTime now);
  // Forgets the pod's eviction; true if there was one.
  bool cancel(const std::string& key) { return work_.erase(key) > 0; }
  const Work* get(const std::string& key) const;
  std::size_t size() const { return work_.size(); }

 private:
  std::map<std::string, Work> work_;
};

struct TaintEvictionOptions {
  int workers = 8;  // upstream runs 8 deletion workers
};

class TaintEvictionController {
 public:
  TaintEvictionController(client::Client& client, client::Informer& nodes, client::Informer& pods,
                          client::Timers& timers, TaintEvictionOptions options,
                          WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics);
  TaintEvictionController(const TaintEvictionController&) = delete;
  TaintEvictionController& operator=(const TaintEvictionController&) = delete;

  // Runs the workers until stop(). Start the informers first.
  asio::awaitable<void> run();
  void stop() { queue_.shut_down(); }

  // Deletes the pod "ns/name" if its eviction is due (public for tests).
  asio::awaitable<api::ApiResult<void>> sync(std::string key);

  const EvictionSchedule& schedule() const { return schedule_; }

 private:
  void node_changed(const json* old_node, const json* node);
  void pod_changed(const json* old_pod, const json& pod);
  void process_pod(const json& pod);
  void cancel(const std::string& key);
  asio::awaitable<void> record_event(json pod, std::string message);

  client::Client& client_;
  client::Informer& nodes_;
  client::Informer& pods_;
  const Clock& clock_;
  TaintEvictionOptions options_;
  SyncMetrics* sync_metrics_;
  WorkQueue queue_;
  EvictionSchedule schedule_;
  std::map<std::string, json> tainted_nodes_;  // node name -> NoExecute taints
};

}  // namespace shakeout::controller
