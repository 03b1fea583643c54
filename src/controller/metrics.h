#pragma once
// The controller manager's /metrics (Prometheus text format), mirroring
// upstream's workqueue and leader-election metrics under shakeout's prefix:
//
//   shakeout_workqueue_depth{name}                         gauge
//   shakeout_workqueue_adds_total{name}                    counter
//   shakeout_workqueue_retries_total{name}                 counter
//   shakeout_controller_reconcile_duration_seconds{controller}  histogram
//   shakeout_controller_reconciles_total{controller,result}     counter (success|conflict|error)
//   shakeout_leader_election_master_status{name}           gauge, 1 while leading
//
// name/controller are controller names ("replicaset", "endpoint"): bounded.
// Not thread-safe beyond what prometheus-cpp guarantees (one io thread).

#include <map>
#include <memory>
#include <string>

#include "controller/work_queue.h"
#include "controller/worker.h"

namespace prometheus {
class Registry;
}

namespace shakeout::controller {

class ControllerMetrics {
 public:
  // `lease_name` labels the leader gauge ("kube-controller-manager").
  explicit ControllerMetrics(const std::string& lease_name);
  ~ControllerMetrics();
  ControllerMetrics(const ControllerMetrics&) = delete;
  ControllerMetrics& operator=(const ControllerMetrics&) = delete;

  // The metrics of controller `name`'s queue and syncs; owned here.
  WorkQueueMetrics* queue(const std::string& name);
  SyncMetrics* sync(const std::string& name);
  void set_leader(bool leading);
  std::string serialize() const;

 private:
  struct Families;
  class Queue;
  class Sync;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
  std::map<std::string, std::unique_ptr<Queue>> queues_;
  std::map<std::string, std::unique_ptr<Sync>> syncs_;
};

}  // namespace shakeout::controller
