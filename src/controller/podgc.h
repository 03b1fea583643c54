#pragma once
// PodGC: deletes pods nobody else will, as upstream's
// pkg/controller/podgc/gc_controller.go, every gc_period:
//   - terminated pods (Succeeded/Failed) beyond --terminated-pod-gc-threshold,
//     oldest first;
//   - orphaned pods: bound to a node the informer has not seen for a
//     quarantine period and that a GET confirms is gone; they are marked
//     Failed with a DisruptionTarget condition (DeletionByPodGC) first;
//   - terminating pods that were never scheduled.
// Each is deleted with grace period 0 (no kubelet will finish them).
// Threading: one executor; not thread-safe.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "client/timers.h"
#include "controller/worker.h"

namespace shakeout::controller {

using json = nlohmann::json;

struct PodGcOptions {
  int64_t terminated_pod_gc_threshold = 12500;  // --terminated-pod-gc-threshold; <= 0 turns it off
  Millis gc_period{20000};                      // upstream gcCheckPeriod
  Millis quarantine{40000};                     // upstream quarantineTime
};

// The terminated pods to delete so that at most `threshold` remain, oldest
// (creationTimestamp) first.
std::vector<json> terminated_pods_to_delete(std::vector<json> pods, int64_t threshold);

class PodGcController {
 public:
  PodGcController(client::Client& client, client::Informer& pods, client::Informer& nodes,
                  client::Timers& timers, PodGcOptions options, SyncMetrics* sync_metrics);
  PodGcController(const PodGcController&) = delete;
  PodGcController& operator=(const PodGcController&) = delete;

  // Runs gc() every gc_period until stop().
  asio::awaitable<void> run();
  void stop() { sleeper_.stop(); }
  // One pass (public for tests).
  asio::awaitable<api::ApiResult<void>> gc();

 private:
  asio::awaitable<api::ApiResult<void>> delete_pod(json pod, bool mark_failed);

  client::Client& client_;
  client::Informer& pods_;
  client::Informer& nodes_;
  const Clock& clock_;
  PodGcOptions options_;
  SyncMetrics* sync_metrics_;
  client::Sleeper sleeper_;
  std::map<std::string, SteadyTime> quarantine_;  // node name -> first seen missing
};

}  // namespace shakeout::controller
