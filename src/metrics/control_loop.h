#pragma once
// The control-loop breakdown of a replica recovery (DESIGN §7): after a
// fault, when each loop did its part for the pod that brought the replicas
// back, read from watched events stamped on the one steady clock.
//
//   detected   the first loss the API shows: a pod not running, not Ready,
//              terminating, deleted, or out of its Service's endpoints
//   created    the replacement pod appears (ReplicaSet controller)
//   scheduled  it is bound to a node (scheduler)
//   started    its container runs (kubelet + runtime)
//   ready      it is Ready (kubelet's readiness probe)
//   endpoints  it is a ready endpoint of the Service (EndpointSlice controller)
//   serving    the service probe first gets an answer from it (kube-proxy)
//
// The recovering pod is the first one created after the fault; with none
// (a container restarted in place) the first pod that lost and regained
// Ready after it, or that ran again after a loss with no unready state (a
// restart the API showed only as a higher restartCount). A step that did
// not happen (no new pod after a kill, no Service; no loss before a
// scale-up's new pod) is absent. The pod's own
// steps are searched each from the one before; endpoints from its start
// (another watch stream, whose event may overtake the Ready one) and
// serving from its Ready.
// Pure functions; no clock is read here.

#include <utility>

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace shakeout::metrics {

enum class PodEvent {
  kAdded,
  kBound,
  kRunning,
  kNotRunning,
  kReady,
  kNotReady,
  kTerminating,
  kDeleted,
  kInEndpoints,
  kOutOfEndpoints,
};

// What was seen of one pod, in time order.
struct PodTimeline {
  std::vector<std::pair<SteadyTime, PodEvent>> events;
};

struct ControlLoop {
  std::string pod;  // "namespace/name" of the recovering pod; empty: none seen
  std::optional<Millis> detected, created, scheduled, started, ready, endpoints, serving;
  // In kControlLoopSteps order.
  std::array<const std::optional<Millis>*, 7> steps() const {
    return {&detected, &created, &scheduled, &started, &ready, &endpoints, &serving};
  }
};

// The steps' names in the reports ("<step>Ms" in report.json).
inline constexpr std::array<const char*, 7> kControlLoopSteps = {
    "detected", "created", "scheduled", "started", "ready", "endpoints", "serving"};

// pods and answers are keyed "namespace/name"; answers are the times a
// service probe got an answer from that pod, in order.
ControlLoop control_loop(const std::map<std::string, PodTimeline>& pods,
                         const std::map<std::string, std::vector<SteadyTime>>& answers,
                         SteadyTime fault_start);

// When the API had shown a loss (as `detected` above) on every one of `hit`
// ("namespace/name") at or after `from`: the latest of their first losses.
// None while one of them has shown nothing yet (its kubelet has not told).
std::optional<SteadyTime> losses_seen(const std::map<std::string, PodTimeline>& pods,
                                      const std::vector<std::string>& hit, SteadyTime from);

}  // namespace shakeout::metrics
