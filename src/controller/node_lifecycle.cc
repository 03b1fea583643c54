#include "controller/node_lifecycle.h"

#include <algorithm>

#include "api/resource_registry.h"
#include "api/store.h"
#include "client/leader_election.h"
#include "common/log.h"
#include "controller/pod_util.h"
#include "controller/wait_group.h"

namespace shakeout::controller {
namespace {

constexpr const char* kLog = "node-lifecycle";
constexpr const char* kNoExecute = "NoExecute";
constexpr const char* kNoSchedule = "NoSchedule";
constexpr int kUpdateTaintRetries = 5;       // upstream UpdateTaintRetries
constexpr int kNodeHealthUpdateRetries = 5;  // upstream NodeHealthUpdateRetry
// Upstream retries a node without a Ready condition 50ms later.
constexpr Millis kTaintRetry{50};
constexpr const char* kExcludeDisruptionLabel = "node.kubernetes.io/exclude-disruption";

const api::ResourceInfo& nodes_resource() {
  return *api::ResourceRegistry::builtin().by_plural("", "nodes");
}
const api::ResourceInfo& pods_resource() {
  return *api::ResourceRegistry::builtin().by_plural("", "pods");
}

std::string str(const json& object, const char* field) {
  if (!object.is_object()) return "";
  const auto value = object.find(field);
  return value != object.end() && value->is_string() ? value->get<std::string>() : "";
}

json* conditions_of(json& object) {
  if (!object.is_object()) return nullptr;
  json& status = object["status"];
  if (!status.is_object()) status = json::object();
  json& conditions = status["conditions"];
  if (!conditions.is_array()) conditions = json::array();
  return &conditions;
}

json* taints_of(json& node) {
  json& spec = node["spec"];
  if (!spec.is_object()) spec = json::object();
  json& taints = spec["taints"];
  if (!taints.is_array()) taints = json::array();
  return &taints;
}

void drop_empty_taints(json& node) {
  auto spec = node.find("spec");
  if (spec == node.end() || !spec->is_object()) return;
  auto taints = spec->find("taints");
  if (taints != spec->end() && taints->is_array() && taints->empty()) spec->erase(taints);
}

// The NoSchedule taint key for a condition (upstream
// nodeConditionToTaintKeyStatusMap), "" if none.
std::string no_schedule_key(const std::string& type, const std::string& status) {
  if (type == "Ready") {
    if (status == "False") return kTaintNotReady;
    if (status == "Unknown") return kTaintUnreachable;
    return "";
  }
  if (status != "True") return "";
  if (type == "MemoryPressure") return "node.kubernetes.io/memory-pressure";
  if (type == "DiskPressure") return "node.kubernetes.io/disk-pressure";
  if (type == "NetworkUnavailable") return "node.kubernetes.io/network-unavailable";
  if (type == "PIDPressure") return "node.kubernetes.io/pid-pressure";
  return "";
}

bool is_managed_no_schedule_key(const std::string& key) {
  return key == kTaintNotReady || key == kTaintUnreachable || key == kTaintUnschedulable ||
         key == "node.kubernetes.io/memory-pressure" || key == "node.kubernetes.io/disk-pressure" ||
         key == "node.kubernetes.io/network-unavailable" || key == "node.kubernetes.io/pid-pressure";
}

std::optional<WallTime> creation_time(const json& node) {
  return api::parse_timestamp(meta_string(node, "creationTimestamp"));
}

}  // namespace

const json* node_condition(const json& node, const std::string& type) {
  const auto status = node.find("status");
  if (status == node.end() || !status->is_object()) return nullptr;
  const auto conditions = status->find("conditions");
  if (conditions == status->end() || !conditions->is_array()) return nullptr;
  for (const auto& condition : *conditions)
    if (str(condition, "type") == type) return &condition;
  return nullptr;
}

// Upstream tryUpdateNodeHealth, the bookkeeping half.
NodeHealthObservation NodeHealthTracker::observe(const json& node, const json* lease, SteadyTime now,
                                                 WallTime wall_now) {
  const std::string name = meta_string(node, "name");
  const json* ready = node_condition(node, "Ready");
  NodeHealthObservation out;
  out.has_ready = ready != nullptr;
  auto it = health_.find(name);
  if (ready == nullptr) {
    // Never posted: a fake Unknown condition as of the node's creation.
    const std::string created = meta_string(node, "creationTimestamp");
    out.observed_ready = {{"type", "Ready"},
                          {"status", "Unknown"},
                          {"lastHeartbeatTime", created},
                          {"lastTransitionTime", created}};
    out.grace = startup_grace_;
    if (it == health_.end()) {
      Health health;
      const auto since = creation_time(node);
      const auto age = since ? std::max(wall_now - *since, WallTime::duration(0)) : WallTime::duration(0);
      health.probe = now - std::chrono::duration_cast<SteadyTime::duration>(age);
      it = health_.emplace(name, std::move(health)).first;
    }
  } else {
    out.observed_ready = *ready;
    out.grace = grace_;
    if (it == health_.end()) {
      it = health_.emplace(name, Health{}).first;  // first sight: assume now
      it->second.probe = now;
    } else if (it->second.ready.is_null() ||
               str(it->second.ready, "lastHeartbeatTime") != str(*ready, "lastHeartbeatTime")) {
      it->second.probe = now;  // a heartbeat we had not seen
    }
  }
  Health& health = it->second;
  if (ready == nullptr && !health.ready.is_null()) health.probe = now;  // Ready removed: upstream resets too
  health.ready = ready != nullptr ? *ready : json();

  // The Lease: always a probe when renewed later than the one we saw.
  if (lease != nullptr) {
    const std::string renew = str(spec_of(*lease), "renewTime");
    const auto renewed = client::parse_micro_time(renew);
    bool newer = false;
    if (!renew.empty() && health.lease_renew_time.empty()) {
      newer = true;
    } else if (renewed && health.lease_renewed) {
      newer = *health.lease_renewed < *renewed;
    } else {
      newer = !renew.empty() && renew != health.lease_renew_time;
    }
    if (newer) {
      health.lease_renew_time = renew;
      health.lease_renewed = renewed;
      health.probe = now;
    }
  }
  out.probe = health.probe;
  out.stale = now > health.probe + out.grace;
  return out;
}

void NodeHealthTracker::status_written(const json& node) {
  const auto it = health_.find(meta_string(node, "name"));
  if (it == health_.end()) return;
  const json* ready = node_condition(node, "Ready");
  it->second.ready = ready != nullptr ? *ready : json();
}

void NodeHealthTracker::reset_probes(SteadyTime now) {
  for (auto& [name, health] : health_) health.probe = now;
}

std::vector<std::string> NodeHealthTracker::names() const {
  std::vector<std::string> out;
  for (const auto& [name, health] : health_) out.push_back(name);
  return out;
}

bool mark_node_status_unknown(json& node, WallTime now) {
  const json* before = node_condition(node, "Ready");
  const json ready_before = before != nullptr ? *before : json();
  const std::string stamp = api::format_timestamp(now);
  json* conditions = conditions_of(node);
  // NetworkUnavailable is left alone: the control plane manages it.
  for (const char* type : {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
    json* found = nullptr;
    for (auto& condition : *conditions)
      if (str(condition, "type") == type) found = &condition;
    if (found == nullptr) {
      conditions->push_back({{"type", type},
                             {"status", "Unknown"},
                             {"reason", "NodeStatusNeverUpdated"},
                             {"message", "Kubelet never posted node status."},
                             {"lastHeartbeatTime", meta_string(node, "creationTimestamp")},
                             {"lastTransitionTime", stamp}});
    } else if (str(*found, "status") != "Unknown") {
      (*found)["status"] = "Unknown";
      (*found)["reason"] = "NodeStatusUnknown";
      (*found)["message"] = "Kubelet stopped posting node status.";
      (*found)["lastTransitionTime"] = stamp;
    }
  }
  // Upstream writes only when the Ready condition changed.
  return *node_condition(node, "Ready") != ready_before;
}

bool mark_pod_not_ready(json& pod, WallTime now) {
  json* conditions = conditions_of(pod);
  for (auto& condition : *conditions) {
    if (str(condition, "type") != "Ready") continue;
    if (str(condition, "status") == "False") return false;
    condition["status"] = "False";
    condition["lastTransitionTime"] = api::format_timestamp(now);
    return true;
  }
  return false;
}

json no_execute_taint_for(const std::string& ready_status, WallTime now) {
  std::string key;
  if (ready_status == "False") key = kTaintNotReady;
  if (ready_status == "Unknown") key = kTaintUnreachable;
  if (key.empty()) return json();
  return {{"key", key}, {"effect", kNoExecute}, {"timeAdded", api::format_timestamp(now)}};
}

bool has_taint(const json& node, const std::string& key, const std::string& effect) {
  const json& spec = spec_of(node);
  const auto taints = spec.find("taints");
  if (taints == spec.end() || !taints->is_array()) return false;
  return std::any_of(taints->begin(), taints->end(), [&](const json& taint) {
    return str(taint, "key") == key && str(taint, "effect") == effect;
  });
}

bool swap_taint(json& node, const json& add, const std::string& remove_key, const std::string& effect) {
  json* taints = taints_of(node);
  bool changed = false;
  for (auto it = taints->begin(); it != taints->end();) {
    if (!remove_key.empty() && str(*it, "key") == remove_key && str(*it, "effect") == effect) {
      it = taints->erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (add.is_object() && !has_taint(node, str(add, "key"), str(add, "effect"))) {
    taints->push_back(add);
    changed = true;
  }
  drop_empty_taints(node);
  return changed;
}

bool reconcile_no_schedule_taints(json& node, WallTime now) {
  std::set<std::string> wanted;
  const auto status = node.find("status");
  if (status != node.end() && status->is_object()) {
    const auto conditions = status->find("conditions");
    if (conditions != status->end() && conditions->is_array())
      for (const auto& condition : *conditions)
        if (auto key = no_schedule_key(str(condition, "type"), str(condition, "status")); !key.empty())
          wanted.insert(key);
  }
  const json& spec = spec_of(node);
  if (spec.value("unschedulable", false)) wanted.insert(kTaintUnschedulable);

  json* taints = taints_of(node);
  bool changed = false;
  std::set<std::string> present;
  for (auto it = taints->begin(); it != taints->end();) {
    const std::string key = str(*it, "key");
    if (str(*it, "effect") == kNoSchedule && is_managed_no_schedule_key(key)) {
      if (!wanted.contains(key)) {
        it = taints->erase(it);
        changed = true;
        continue;
      }
      present.insert(key);
    }
    ++it;
  }
  for (const auto& key : wanted) {
    if (present.contains(key)) continue;
    taints->push_back({{"key", key}, {"effect", kNoSchedule}, {"timeAdded", api::format_timestamp(now)}});
    changed = true;
  }
  drop_empty_taints(node);
  return changed;
}

std::string zone_key(const json& node) {
  const json* labels = labels_of(node);
  auto label = [&](const char* key, const char* legacy) -> std::string {
    if (labels == nullptr) return "";
    std::string value = str(*labels, key);
    return value.empty() ? str(*labels, legacy) : value;
  };
  const std::string region =
      label("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region");
  const std::string zone = label("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone");
  if (region.empty() && zone.empty()) return "";
  return region + std::string(":\x00:", 3) + zone;
}

ZoneState compute_zone_state(int ready, int not_ready, double threshold) {
  if (ready == 0 && not_ready > 0) return ZoneState::kFullDisruption;
  if (not_ready > 2 && static_cast<double>(not_ready) / (not_ready + ready) >= threshold)
    return ZoneState::kPartialDisruption;
  return ZoneState::kNormal;
}

double zone_eviction_rate(ZoneState state, int size, const NodeLifecycleOptions& options) {
  switch (state) {
    case ZoneState::kPartialDisruption:  // ReducedQPSFunc
      return size > options.large_cluster_size_threshold ? options.secondary_eviction_rate : 0.0;
    case ZoneState::kFullDisruption:  // HealthyQPSFunc: one zone down is not the cluster's fault
    case ZoneState::kNormal:
    case ZoneState::kInitial:
      break;
  }
  return options.eviction_rate;
}

bool TokenBucket::try_accept(SteadyTime now) {
  if (qps_ <= 0) return false;
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min<double>(burst_, tokens_ + std::max(elapsed, 0.0) * qps_);
  if (tokens_ < 1.0 - 1e-9) return false;  // rounding must not cost a whole interval
  tokens_ = std::max(tokens_, 1.0);
  tokens_ -= 1.0;
  return true;
}

bool NoExecuteTaintQueue::add(const std::string& name, SteadyTime now) {
  if (!set_.insert(name).second) return false;
  queue_.push_back(Item{name, now});
  return true;
}

void NoExecuteTaintQueue::remove(const std::string& name) {
  set_.erase(name);
  queue_.erase(
      std::remove_if(queue_.begin(), queue_.end(), [&](const Item& item) { return item.name == name; }),
      queue_.end());
}

std::optional<std::string> NoExecuteTaintQueue::next(SteadyTime now) {
  if (queue_.empty()) return std::nullopt;
  // The earliest due first (upstream's queue is a heap on processAt).
  auto head = std::min_element(queue_.begin(), queue_.end(),
                               [](const Item& a, const Item& b) { return a.process_at < b.process_at; });
  if (head->process_at > now) return std::nullopt;
  if (!limiter_.try_accept(now)) return std::nullopt;
  std::string name = head->name;
  queue_.erase(head);
  return name;
}

void NoExecuteTaintQueue::retry(const std::string& name, SteadyTime at) {
  if (!set_.contains(name)) return;
  queue_.push_back(Item{name, at});
}

void NoExecuteTaintQueue::set_rate(double qps, SteadyTime now) {
  if (qps == limiter_.qps()) return;
  limiter_ = TokenBucket(qps, 1, now);
}

NodeLifecycleController::NodeLifecycleController(client::Client& client, client::Informer& nodes,
                                                 client::Informer& leases, client::Informer& pods,
                                                 client::Timers& timers, NodeLifecycleOptions options,
                                                 WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics)
    : client_(client),
      nodes_(nodes),
      leases_(leases),
      pods_(pods),
      clock_(timers.clock()),
      options_(options),
      sync_metrics_(sync_metrics),
      monitor_sleeper_(client.executor(), timers),
      tainting_sleeper_(client.executor(), timers),
      no_schedule_queue_(client.executor(), timers, queue_metrics),
      health_(options.grace_period, options.startup_grace_period) {
  client::EventHandlers handlers;
  handlers.on_add = [this](const json& node) { no_schedule_queue_.add(meta_string(node, "name")); };
  handlers.on_update = [this](const json&, const json& node) {
    no_schedule_queue_.add(meta_string(node, "name"));
  };
  nodes_.add_handlers(std::move(handlers));
}

asio::awaitable<void> NodeLifecycleController::run() {
  WaitGroup group(client_.executor());
  group.spawn(monitor_loop());
  group.spawn(tainting_loop());
  WorkerOptions options;
  options.controller = kLog;
  options.workers = 1;
  options.metrics = sync_metrics_;
  group.spawn(run_workers(
      no_schedule_queue_, [this](std::string name) { return sync_no_schedule(std::move(name)); }, options));
  co_await group.wait();
}

void NodeLifecycleController::stop() {
  monitor_sleeper_.stop();
  tainting_sleeper_.stop();
  no_schedule_queue_.shut_down();
}

// Upstream runs monitorNodeHealth at once and then every period.
asio::awaitable<void> NodeLifecycleController::monitor_loop() {
  bool running = !monitor_sleeper_.stopped();
  while (running) {
    co_await monitor_node_health();
    running = co_await monitor_sleeper_.sleep(options_.monitor_period);
  }
}

asio::awaitable<void> NodeLifecycleController::tainting_loop() {
  bool running = co_await tainting_sleeper_.sleep(options_.eviction_period);
  while (running) {
    co_await do_no_execute_tainting_pass();
    running = co_await tainting_sleeper_.sleep(options_.eviction_period);
  }
}

NoExecuteTaintQueue& NodeLifecycleController::zone_queue(const std::string& zone) {
  auto it = zone_queues_.find(zone);
  if (it == zone_queues_.end())
    it = zone_queues_.emplace(zone, NoExecuteTaintQueue(options_.eviction_rate, clock_.now())).first;
  return it->second;
}

asio::awaitable<void> NodeLifecycleController::monitor_node_health() {
  const std::vector<json> nodes = nodes_.store().list();
  // Nodes that are gone: forget them and their pending taint.
  std::set<std::string> present;
  for (const auto& node : nodes) present.insert(meta_string(node, "name"));
  for (const auto& name : health_.names()) {
    if (present.contains(name)) continue;
    health_.forget(name);
    if (auto zone = node_zones_.find(name); zone != node_zones_.end()) {
      zone_queue(zone->second).remove(name);
      node_zones_.erase(zone);
    }
  }

  std::map<std::string, std::pair<int, int>> zones;  // zone -> (ready, not ready)
  for (const auto& cached : nodes) {
    if (monitor_sleeper_.stopped()) co_return;
    json node = cached;
    const std::string name = meta_string(node, "name");
    const std::string zone = zone_key(node);
    zone_queue(zone);
    node_zones_[name] = zone;
    const json* lease = leases_.store().get(kNodeLeaseNamespace, name);
    const NodeHealthObservation health = health_.observe(node, lease, clock_.now(), clock_.wall_now());

    if (health.stale) {
      auto marked = co_await mark_node_unknown(node, health);
      if (!marked) continue;  // the next pass tries again
      node = std::move(*marked);
    }
    const json* current_ready = node_condition(node, "Ready");
    if (current_ready == nullptr) continue;
    const std::string current_status = str(*current_ready, "status");
    const std::string observed_status = str(health.observed_ready, "status");

    const json* labels = labels_of(node);
    if (labels == nullptr || !labels->contains(kExcludeDisruptionLabel)) {
      auto& counts = zones[zone];
      (current_status == "True" ? counts.first : counts.second)++;
    }
    // Upstream decides taints on the condition as read, before this pass's
    // own update: a node marked Unknown now is queued on the next pass.
    co_await process_taint_base_eviction(node, observed_status);
    if (current_status != "True" && observed_status == "True") co_await mark_pods_not_ready(name);
  }
  co_await handle_disruption(std::move(zones));
}

asio::awaitable<std::optional<json>> NodeLifecycleController::mark_node_unknown(
    json node, NodeHealthObservation health) {
  const std::string name = meta_string(node, "name");
  const std::string heartbeat = str(health.observed_ready, "lastHeartbeatTime");
  for (int attempt = 0; attempt < kNodeHealthUpdateRetries; ++attempt) {
    if (attempt > 0) {
      // A conflict: read the node again (upstream monitorNodeHealth does);
      // a heartbeat that arrived meanwhile is for the next pass to judge.
      auto fresh = co_await client_.get(nodes_resource(), "", name);
      if (!fresh) break;
      const json* ready = node_condition(*fresh, "Ready");
      if (ready != nullptr && str(*ready, "lastHeartbeatTime") != heartbeat) break;
      node = std::move(*fresh);
    }
    json updated = node;
    if (!mark_node_status_unknown(updated, clock_.wall_now()))
      co_return std::optional<json>(std::move(updated));
    if (attempt == 0)
      log::info(kLog, "node {} has not posted status for more than {}: marking it Unknown", name,
                format_duration(health.grace));
    auto written = co_await client_.update_status(nodes_resource(), "", updated);
    if (written) {
      health_.status_written(*written);
      co_return std::optional<json>(std::move(*written));
    }
    log::warn(kLog, "node {}: updating status: {}", name, written.error().message());
    if (!client::is_conflict(written.error())) break;
  }
  co_return std::nullopt;
}

asio::awaitable<void> NodeLifecycleController::process_taint_base_eviction(json node,
                                                                           std::string ready_status) {
  const std::string name = meta_string(node, "name");
  NoExecuteTaintQueue& queue = zone_queue(zone_key(node));
  const SteadyTime now = clock_.now();
  if (ready_status == "False" || ready_status == "Unknown") {
    const bool unknown = ready_status == "Unknown";
    const std::string wanted = unknown ? kTaintUnreachable : kTaintNotReady;
    const std::string opposite = unknown ? kTaintNotReady : kTaintUnreachable;
    if (has_taint(node, opposite, kNoExecute)) {
      // Already tainted the other way: swap at once, without the rate limit.
      const json add = no_execute_taint_for(ready_status, clock_.wall_now());
      auto swap = [add, opposite](json& n) { return swap_taint(n, add, opposite, kNoExecute); };
      if (!co_await update_taints(name, swap))
        log::warn(kLog, "node {}: swapping {} for {} failed; next pass", name, opposite, wanted);
      co_return;
    }
    // markNodeForTainting: queue it again if its taint went missing.
    if (!has_taint(node, wanted, kNoExecute)) queue.remove(name);
    if (queue.add(name, now))
      log::info(kLog, "node {} is {}: queued for the {} taint", name, ready_status, wanted);
    co_return;
  }
  if (ready_status == "True") co_await mark_node_reachable(node);
}

asio::awaitable<bool> NodeLifecycleController::mark_node_reachable(json node) {
  const std::string name = meta_string(node, "name");
  zone_queue(zone_key(node)).remove(name);
  if (!has_taint(node, kTaintUnreachable, kNoExecute) && !has_taint(node, kTaintNotReady, kNoExecute))
    co_return true;
  log::info(kLog, "node {} is Ready again: removing its NoExecute taints", name);
  auto clear = [](json& n) {
    const bool a = swap_taint(n, json(), kTaintUnreachable, kNoExecute);
    const bool b = swap_taint(n, json(), kTaintNotReady, kNoExecute);
    return a || b;
  };
  co_return co_await update_taints(name, clear);
}

asio::awaitable<void> NodeLifecycleController::do_no_execute_tainting_pass() {
  for (auto& [zone, queue] : zone_queues_) {
    for (;;) {
      if (tainting_sleeper_.stopped()) co_return;
      const SteadyTime now = clock_.now();
      auto name = queue.next(now);
      if (!name) break;
      const json* node = nodes_.store().get(*name);
      if (node == nullptr) continue;  // gone; the monitor pass forgets it
      const json* ready = node_condition(*node, "Ready");
      if (ready == nullptr) {
        queue.retry(*name, now + kTaintRetry);
        continue;
      }
      const std::string status = str(*ready, "status");
      if (status != "False" && status != "Unknown") continue;  // Ready again meanwhile
      const json add = no_execute_taint_for(status, clock_.wall_now());
      const std::string opposite = status == "Unknown" ? kTaintNotReady : kTaintUnreachable;
      log::info(kLog, "tainting node {} with {}:NoExecute", *name, str(add, "key"));
      auto swap = [add, opposite](json& n) { return swap_taint(n, add, opposite, kNoExecute); };
      if (!co_await update_taints(*name, swap)) queue.retry(*name, clock_.now() + Millis(1));
    }
  }
}

asio::awaitable<api::ApiResult<void>> NodeLifecycleController::sync_no_schedule(std::string name) {
  const json* node = nodes_.store().get(name);
  if (node == nullptr) co_return api::ApiResult<void>();
  json copy = *node;
  if (!reconcile_no_schedule_taints(copy, clock_.wall_now())) co_return api::ApiResult<void>();
  const Clock* clock = &clock_;
  auto reconcile = [clock](json& n) { return reconcile_no_schedule_taints(n, clock->wall_now()); };
  if (!co_await update_taints(name, reconcile))
    co_return api::internal_error(fmt::format("node {}: NoSchedule taints not updated", name));
  co_return api::ApiResult<void>();
}

asio::awaitable<bool> NodeLifecycleController::update_taints(std::string name,
                                                             std::function<bool(json&)> mutate) {
  const json* cached = nodes_.store().get(name);
  if (cached == nullptr) co_return false;
  json node = *cached;
  for (int attempt = 0; attempt < kUpdateTaintRetries; ++attempt) {
    if (attempt > 0) {
      auto fresh = co_await client_.get(nodes_resource(), "", name);
      if (!fresh) {
        if (client::is_not_found(fresh.error())) co_return false;
        continue;
      }
      node = std::move(*fresh);
    }
    if (!mutate(node)) co_return true;
    auto written = co_await client_.update(nodes_resource(), "", node);
    if (written) co_return true;
    if (client::is_not_found(written.error())) co_return false;
    log::debug(kLog, "node {}: updating taints: {}", name, written.error().message());
  }
  co_return false;
}

// Upstream MarkPodsNotReady (pkg/controller/controller_utils.go): the pods
// of a node this controller just found silent are no longer Ready, so
// Services stop sending them traffic before they are evicted.
asio::awaitable<void> NodeLifecycleController::mark_pods_not_ready(std::string node_name) {
  std::vector<json> pods = pods_.store().list();
  for (auto& pod : pods) {
    if (str(spec_of(pod), "nodeName") != node_name) continue;
    if (!mark_pod_not_ready(pod, clock_.wall_now())) continue;
    log::info(kLog, "pod {}: Ready=False (node {} is not ready)", client::object_key(pod), node_name);
    auto written = co_await client_.update_status(pods_resource(), meta_string(pod, "namespace"), pod);
    if (!written && !client::is_not_found(written.error()))
      log::warn(kLog, "pod {}: marking not ready: {}", client::object_key(pod), written.error().message());
  }
}

// Upstream handleDisruption: the tainting rate per zone from its state;
// when every zone is fully disrupted the control plane is more likely cut
// off than the nodes dead, so tainting stops and NoExecute taints go.
asio::awaitable<void> NodeLifecycleController::handle_disruption(
    std::map<std::string, std::pair<int, int>> zones) {
  std::map<std::string, ZoneState> new_states;
  bool all_fully_disrupted = true;
  for (const auto& [zone, counts] : zones) {
    const ZoneState state =
        compute_zone_state(counts.first, counts.second, options_.unhealthy_zone_threshold);
    if (state != ZoneState::kFullDisruption) all_fully_disrupted = false;
    new_states[zone] = state;
    zone_states_.try_emplace(zone, ZoneState::kInitial);
  }
  bool all_were_fully_disrupted = true;
  for (auto it = zone_states_.begin(); it != zone_states_.end();) {
    if (!zones.contains(it->first)) {
      it = zone_states_.erase(it);
      continue;
    }
    if (it->second != ZoneState::kFullDisruption) all_were_fully_disrupted = false;
    ++it;
  }
  if (all_fully_disrupted && all_were_fully_disrupted) co_return;
  const SteadyTime now = clock_.now();
  auto size = [&](const std::string& zone) { return zones[zone].first + zones[zone].second; };
  if (all_fully_disrupted) {
    log::warn(kLog, "no node is Ready: entering full disruption mode, tainting stops");
    for (const auto& [zone, state] : zone_states_) zone_queue(zone).set_rate(0, now);
    for (auto& [zone, state] : zone_states_) state = ZoneState::kFullDisruption;
    const std::vector<json> nodes = nodes_.store().list();
    for (const auto& node : nodes) co_await mark_node_reachable(node);
    co_return;
  }
  if (all_were_fully_disrupted) {
    log::info(kLog, "some nodes are Ready: leaving full disruption mode");
    health_.reset_probes(now);
    for (auto& [zone, state] : zone_states_) {
      state = new_states[zone];
      zone_queue(zone).set_rate(zone_eviction_rate(state, size(zone), options_), now);
    }
    co_return;
  }
  for (auto& [zone, state] : zone_states_) {
    if (state == new_states[zone]) continue;
    state = new_states[zone];
    zone_queue(zone).set_rate(zone_eviction_rate(state, size(zone), options_), now);
  }
}

}  // namespace shakeout::controller
