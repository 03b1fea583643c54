#pragma once
// NodeLifecycleController: watches node heartbeats and taints nodes that
// stopped posting, as upstream's
// pkg/controller/nodelifecycle/node_lifecycle_controller.go does.
//
//   informers: nodes, leases (kube-node-lease), pods
//   every --node-monitor-period: monitor_node_health()
//     per node: NodeHealthTracker.observe (Ready heartbeat, Lease renewTime,
//               on our own clock) ──► silent longer than the grace period?
//               ──► Ready/MemoryPressure/DiskPressure/PIDPressure = Unknown
//                   (PUT nodes/status) ──► pods on it Ready=False (pods/status)
//             observed Ready False/Unknown ──► zone's NoExecuteTaintQueue
//             observed Ready True          ──► NoExecute taints removed
//     per zone: ComputeZoneState ──► the zone queue's rate (handleDisruption)
//   every 100ms (upstream NodeEvictionPeriod): do_no_execute_tainting_pass()
//     each zone queue, rate-limited ──► swap not-ready <-> unreachable NoExecute
//   node events ──► queue ──► NoSchedule condition taints (doNoScheduleTaintingPass)
//
// Contract:
// - A node is judged on the later of the times this controller *observed*
//   a new Ready lastHeartbeatTime or a newer Lease renewTime (upstream's
//   probeTimestamp): clocks of kubelets do not matter. A node never seen
//   with a Ready condition gets --node-startup-grace-period.
// - Taints are written with timeAdded; the two NoExecute taints exclude
//   each other. Tainting is rate-limited per zone (token bucket, burst 1):
//   --node-eviction-rate, or in a partially disrupted zone
//   --secondary-node-eviction-rate (0 if the zone has at most
//   --large-cluster-size-threshold nodes); when every zone is fully
//   disrupted, NoExecute taints are removed and tainting stops, and on the
//   way out every node gets a fresh grace period.
// - MarkPodsNotReady runs once, on the pass that turns a Ready node
//   Unknown; pods whose update failed are not retried (upstream's
//   nodesToRetry). The tainting queue looks at an item's due time before
//   taking a token (upstream takes the token first).
// - Not reproduced: node Events (NodeNotReady, RemovingNode), deleting
//   nodes gone from a cloud provider, metrics per zone.
// Threading: one executor; not thread-safe. The client, informers and
// timers must outlive the controller, and the controller must outlive run().

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "client/timers.h"
#include "common/clock.h"
#include "controller/work_queue.h"
#include "controller/worker.h"

namespace shakeout::controller {

using json = nlohmann::json;
using WallTime = std::chrono::system_clock::time_point;

// The taint keys the node lifecycle controller manages.
inline constexpr const char* kTaintNotReady = "node.kubernetes.io/not-ready";
inline constexpr const char* kTaintUnreachable = "node.kubernetes.io/unreachable";
inline constexpr const char* kTaintUnschedulable = "node.kubernetes.io/unschedulable";
inline constexpr const char* kNodeLeaseNamespace = "kube-node-lease";

struct NodeLifecycleOptions {
  Millis monitor_period{5000};             // --node-monitor-period
  Millis grace_period{50000};              // --node-monitor-grace-period (v1.32)
  Millis startup_grace_period{60000};      // --node-startup-grace-period
  double eviction_rate = 0.1;              // --node-eviction-rate (nodes/s)
  double secondary_eviction_rate = 0.01;   // --secondary-node-eviction-rate
  double unhealthy_zone_threshold = 0.55;  // --unhealthy-zone-threshold
  int large_cluster_size_threshold = 50;   // --large-cluster-size-threshold
  Millis eviction_period{100};             // upstream scheduler.NodeEvictionPeriod
};

// The node's condition of `type`, or null.
const json* node_condition(const json& node, const std::string& type);

// What tryUpdateNodeHealth decided for one node.
struct NodeHealthObservation {
  json observed_ready;     // the Ready condition as read (synthesised Unknown if none)
  bool has_ready = false;  // the node has posted a Ready condition
  Millis grace{0};         // the grace period that applies
  SteadyTime probe{};      // when we last observed a sign of life
  bool stale = false;      // now > probe + grace
};

// Upstream's nodeHealthMap: per node, the status and Lease last observed
// and when (on this controller's clock) a heartbeat was last seen.
class NodeHealthTracker {
 public:
  NodeHealthTracker(Millis grace, Millis startup_grace) : grace_(grace), startup_grace_(startup_grace) {}
  // Looks at the node (and its Lease, may be null) at `now`: a Ready
  // condition with a lastHeartbeatTime we had not seen, or a Lease renewed
  // later than the one we had, moves the probe time to `now`. A node first
  // seen without a Ready condition counts from its creationTimestamp
  // (`wall_now` translates it to our clock).
  NodeHealthObservation observe(const json& node, const json* lease, SteadyTime now, WallTime wall_now);
  // After this controller wrote the node's status itself.
  void status_written(const json& node);
  void forget(const std::string& name) { health_.erase(name); }
  // Every node's probe time to `now` (leaving full disruption).
  void reset_probes(SteadyTime now);
  std::vector<std::string> names() const;

 private:
  struct Health {
    json ready;  // the Ready condition last seen, null if none
    std::string lease_renew_time;
    std::optional<WallTime> lease_renewed;
    SteadyTime probe{};
  };
  Millis grace_;
  Millis startup_grace_;
  std::map<std::string, Health> health_;
};

// Sets Ready, MemoryPressure, DiskPressure and PIDPressure to Unknown
// (reason NodeStatusUnknown, "Kubelet stopped posting node status.",
// lastTransitionTime now) where they are not Unknown yet, and adds the
// missing ones (NodeStatusNeverUpdated). True if anything changed.
bool mark_node_status_unknown(json& node, WallTime now);

// MarkPodsNotReady for one pod: its Ready condition, if any, to False
// (lastTransitionTime now when it changes). True if it changed.
bool mark_pod_not_ready(json& pod, WallTime now);

// The NoExecute taint for a Ready condition status ("False" not-ready,
// "Unknown" unreachable), with timeAdded; null for "True".
json no_execute_taint_for(const std::string& ready_status, WallTime now);
bool has_taint(const json& node, const std::string& key, const std::string& effect);
// The node's taints without `remove_key` (any effect == `effect`), plus
// `add` (unless already there, by key and effect). True if different.
bool swap_taint(json& node, const json& add, const std::string& remove_key, const std::string& effect);

// doNoScheduleTaintingPass: the node's taints with the NoSchedule taints
// the controller manages (not-ready, unreachable, memory/disk/pid-pressure,
// network-unavailable, unschedulable) set from its conditions and
// spec.unschedulable; added ones get timeAdded `now`. True if they differ
// from the node's.
bool reconcile_no_schedule_taints(json& node, WallTime now);

// "region\x00:\x00zone" from topology.kubernetes.io/{region,zone} labels
// (upstream GetZoneKey); "" when neither is set.
std::string zone_key(const json& node);

enum class ZoneState { kInitial, kNormal, kPartialDisruption, kFullDisruption };
// ComputeZoneState: full disruption when no node is ready, partial when
// more than 2 and at least `threshold` of them are not ready.
ZoneState compute_zone_state(int ready, int not_ready, double threshold);
// setLimiterInZone: the tainting rate of a zone of `size` nodes.
double zone_eviction_rate(ZoneState state, int size, const NodeLifecycleOptions& options);

// flowcontrol's token bucket: `qps` tokens a second, at most `burst`,
// starting full; qps <= 0 never accepts.
class TokenBucket {
 public:
  TokenBucket(double qps, int burst, SteadyTime now) : qps_(qps), burst_(burst), tokens_(burst), last_(now) {}
  bool try_accept(SteadyTime now);
  double qps() const { return qps_; }

 private:
  double qps_;
  int burst_;
  double tokens_;
  SteadyTime last_;
};

// Upstream RateLimitedTimedQueue for one zone: node names in insertion
// order with the time each may be processed; a name stays in the set
// after it was processed, so it is not queued again until remove().
class NoExecuteTaintQueue {
 public:
  NoExecuteTaintQueue(double qps, SteadyTime now) : limiter_(qps, 1, now) {}
  // False if already in the set.
  bool add(const std::string& name, SteadyTime now);
  void remove(const std::string& name);
  // The next name due at `now` that the rate limiter lets through; it
  // leaves the queue (not the set). Report a failure with retry().
  std::optional<std::string> next(SteadyTime now);
  void retry(const std::string& name, SteadyTime at);
  // SwapLimiter: a new bucket (full) when the rate changes.
  void set_rate(double qps, SteadyTime now);
  double rate() const { return limiter_.qps(); }
  bool contains(const std::string& name) const { return set_.contains(name); }

 private:
  struct Item {
    std::string name;
    SteadyTime process_at;
  };
  TokenBucket limiter_;
  std::deque<Item> queue_;
  std::set<std::string> set_;
};

class NodeLifecycleController {
 public:
  NodeLifecycleController(client::Client& client, client::Informer& nodes, client::Informer& leases,
                          client::Informer& pods, client::Timers& timers, NodeLifecycleOptions options,
                          WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics);
  NodeLifecycleController(const NodeLifecycleController&) = delete;
  NodeLifecycleController& operator=(const NodeLifecycleController&) = delete;

  // Runs the monitor and tainting loops and the NoSchedule worker until
  // stop(). Start the informers first.
  asio::awaitable<void> run();
  void stop();

  // One pass of each loop (public for tests).
  asio::awaitable<void> monitor_node_health();
  asio::awaitable<void> do_no_execute_tainting_pass();
  asio::awaitable<api::ApiResult<void>> sync_no_schedule(std::string name);

 private:
  asio::awaitable<void> monitor_loop();
  asio::awaitable<void> tainting_loop();
  // The silent node's conditions to Unknown through nodes/status (after a
  // 409, again on a fresh read, 5 times); the node as written, or nullopt.
  asio::awaitable<std::optional<json>> mark_node_unknown(json node, NodeHealthObservation health);
  // Upstream processTaintBaseEviction for one node.
  asio::awaitable<void> process_taint_base_eviction(json node, std::string ready_status);
  // Upstream markNodeAsReachable: both NoExecute taints off.
  asio::awaitable<bool> mark_node_reachable(json node);
  // Upstream SwapNodeControllerTaint / AddOrUpdateTaintOnNode: applies
  // `mutate` to the node (the cached one first, a fresh read after a 409)
  // and PUTs it if it changed, at most 5 times. True once the node is so.
  asio::awaitable<bool> update_taints(std::string name, std::function<bool(json&)> mutate);
  asio::awaitable<void> mark_pods_not_ready(std::string node_name);
  // zone -> (ready, not ready) nodes of this pass.
  asio::awaitable<void> handle_disruption(std::map<std::string, std::pair<int, int>> zones);
  NoExecuteTaintQueue& zone_queue(const std::string& zone);

  client::Client& client_;
  client::Informer& nodes_;
  client::Informer& leases_;
  client::Informer& pods_;
  const Clock& clock_;
  NodeLifecycleOptions options_;
  SyncMetrics* sync_metrics_;
  client::Sleeper monitor_sleeper_;
  client::Sleeper tainting_sleeper_;
  WorkQueue no_schedule_queue_;
  NodeHealthTracker health_;
  std::map<std::string, NoExecuteTaintQueue> zone_queues_;
  std::map<std::string, ZoneState> zone_states_;
  std::map<std::string, std::string> node_zones_;  // node name -> zone of its tainting queue
};

}  // namespace shakeout::controller
