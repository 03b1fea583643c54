#pragma once
// The scheduler's /metrics (Prometheus text format), after kube-scheduler's
// own metrics under shakeout's prefix (STYLE: shakeout_, base units, _total
// on counters):
//
//   shakeout_scheduler_pending_pods{queue}                          gauge
//       queue: active | backoff | unschedulable (upstream scheduler_pending_pods)
//   shakeout_scheduler_schedule_attempts_total{result}              counter
//       result: scheduled | unschedulable | error
//   shakeout_scheduler_scheduling_attempt_duration_seconds{result}  histogram
//       from taking a pod off the queue to its binding answered (or failure)
//   shakeout_scheduler_leader_election_master_status                gauge 1|0
// Not thread-safe beyond what prometheus-cpp guarantees (one io thread).

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace shakeout::scheduler {

class SchedulerMetrics {
 public:
  SchedulerMetrics();
  ~SchedulerMetrics();
  SchedulerMetrics(const SchedulerMetrics&) = delete;
  SchedulerMetrics& operator=(const SchedulerMetrics&) = delete;

  void set_pending(double active, double backoff, double unschedulable);
  // result: "scheduled", "unschedulable" or "error".
  void observe_attempt(const std::string& result, double seconds);
  void set_leader(bool leading);
  std::string serialize() const;

 private:
  struct Families;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Families> families_;
};

}  // namespace shakeout::scheduler
