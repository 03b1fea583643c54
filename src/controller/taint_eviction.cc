#include "controller/taint_eviction.h"

#include <algorithm>

#include "api/event.h"
#include "api/resource_registry.h"
#include "api/store.h"
#include "common/log.h"
#include "controller/pod_util.h"

namespace shakeout::controller {
namespace {

constexpr const char* kLog = "taint-eviction-controller";

const api::ResourceInfo& pods_resource() {
  return *api::ResourceRegistry::builtin().by_plural("", "pods");
}
const api::ResourceInfo& events_resource() {
  return *api::ResourceRegistry::builtin().by_plural("", "events");
}

std::string str(const json& object, const char* field) {
  if (!object.is_object()) return "";
  const auto value = object.find(field);
  return value != object.end() && value->is_string() ? value->get<std::string>() : "";
}

std::string node_name_of(const json& pod) {
  return str(spec_of(pod), "nodeName");
}

json tolerations_of(const json& pod) {
  const json& spec = spec_of(pod);
  const auto tolerations = spec.find("tolerations");
  return tolerations != spec.end() && tolerations->is_array() ? *tolerations : json::array();
}

// Sets the pod condition DisruptionTarget=True (upstream
// addConditionAndDeletePod).
void add_disruption_target(json& pod, WallTime now) {
  json& status = pod["status"];
  if (!status.is_object()) status = json::object();
  json& conditions = status["conditions"];
  if (!conditions.is_array()) conditions = json::array();
  const json condition = {{"type", "DisruptionTarget"},
                          {"status", "True"},
                          {"reason", "DeletionByTaintManager"},
                          {"message", "Taint manager: deleting due to NoExecute taint"},
                          {"lastTransitionTime", api::format_timestamp(now)}};
  for (auto& existing : conditions) {
    if (existing.is_object() && existing.value("type", "") == "DisruptionTarget") {
      existing = condition;
      return;
    }
  }
  conditions.push_back(condition);
}

}  // namespace

json no_execute_taints(const json& node) {
  json out = json::array();
  const json& spec = spec_of(node);
  const auto taints = spec.find("taints");
  if (taints == spec.end() || !taints->is_array()) return out;
  for (const auto& taint : *taints)
    if (str(taint, "effect") == "NoExecute") out.push_back(taint);
  return out;
}

std::optional<Millis> toleration_time(const json& tolerations, const json& taints) {
  // GetMatchingTolerations: the first toleration that tolerates each taint.
  std::vector<const json*> used;
  for (const auto& taint : taints) {
    const json* match = nullptr;
    if (tolerations.is_array()) {
      for (const auto& toleration : tolerations) {
        if (tolerates(toleration, taint)) {
          match = &toleration;
          break;
        }
      }
    }
    if (match == nullptr) return std::nullopt;
    used.push_back(match);
  }
  // getMinTolerationTime: -1 stands for "forever".
  if (used.empty()) return Millis(0);
  int64_t min_seconds = -1;
  for (const json* toleration : used) {
    const auto seconds = toleration->find("tolerationSeconds");
    if (seconds == toleration->end() || !seconds->is_number()) continue;
    const auto value = seconds->get<int64_t>();
    if (value <= 0) return Millis(0);
    if (min_seconds < 0 || value < min_seconds) min_seconds = value;
  }
  return min_seconds < 0 ? Millis(-1) : Millis(min_seconds * 1000);
}

std::optional<SteadyTime> EvictionSchedule::process_pod(const std::string& key, const json& tolerations,
                                                        const json& taints, SteadyTime now) {
  if (!taints.is_array() || taints.empty()) {
    cancel(key);
    return std::nullopt;
  }
  const auto stay = toleration_time(tolerations, taints);
  if (!stay) {
    // Not tolerated: whatever was scheduled, the pod goes now.
    work_[key] = Work{now, now};
    return now;
  }
  if (*stay < Millis(0)) {
    cancel(key);
    return std::nullopt;
  }
  // An eviction already scheduled stays as it is (upstream processPodOnNode
  // returns when CreatedAt + minTolerationTime is before now + it).
  if (const auto existing = work_.find(key); existing != work_.end()) return existing->second.due;
  work_[key] = Work{now, now + *stay};
  return now + *stay;
}

const EvictionSchedule::Work* EvictionSchedule::get(const std::string& key) const {
  const auto work = work_.find(key);
  return work == work_.end() ? nullptr : &work->second;
}

TaintEvictionController::TaintEvictionController(client::Client& client, client::Informer& nodes,
                                                 client::Informer& pods, client::Timers& timers,
                                                 TaintEvictionOptions options,
                                                 WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics)
    : client_(client),
      nodes_(nodes),
      pods_(pods),
      clock_(timers.clock()),
      options_(options),
      sync_metrics_(sync_metrics),
      queue_(client.executor(), timers, queue_metrics) {
  client::EventHandlers node_handlers;
  node_handlers.on_add = [this](const json& node) { node_changed(nullptr, &node); };
  node_handlers.on_update = [this](const json& old_node, const json& node) {
    node_changed(&old_node, &node);
  };
  node_handlers.on_delete = [this](const json& node, bool) { node_changed(&node, nullptr); };
  nodes_.add_handlers(std::move(node_handlers));
  client::EventHandlers pod_handlers;
  pod_handlers.on_add = [this](const json& pod) { pod_changed(nullptr, pod); };
  pod_handlers.on_update = [this](const json& old_pod, const json& pod) { pod_changed(&old_pod, pod); };
  pod_handlers.on_delete = [this](const json& pod, bool) { cancel(client::object_key(pod)); };
  pods_.add_handlers(std::move(pod_handlers));
}

asio::awaitable<void> TaintEvictionController::run() {
  WorkerOptions options;
  options.controller = kLog;
  options.workers = options_.workers;
  options.metrics = sync_metrics_;
  co_await run_workers(
      queue_, [this](std::string key) { return sync(std::move(key)); }, options);
}

void TaintEvictionController::cancel(const std::string& key) {
  if (schedule_.cancel(key)) log::info(kLog, "cancelling the eviction of pod {}", key);
}

// Upstream NodeUpdated/handleNodeUpdate: only a change of NoExecute taints
// matters; then every pod on the node is looked at again.
void TaintEvictionController::node_changed(const json* old_node, const json* node) {
  const json old_taints = old_node != nullptr ? no_execute_taints(*old_node) : json::array();
  const json taints = node != nullptr ? no_execute_taints(*node) : json::array();
  if (old_node != nullptr && node != nullptr && old_taints == taints) return;
  const std::string name = meta_string(node != nullptr ? *node : *old_node, "name");
  if (taints.empty()) {
    tainted_nodes_.erase(name);
  } else {
    tainted_nodes_[name] = taints;
  }
  for (const auto& pod : pods_.store().list())
    if (node_name_of(pod) == name) process_pod(pod);
}

// Upstream PodUpdated: only a new node or new tolerations matter.
void TaintEvictionController::pod_changed(const json* old_pod, const json& pod) {
  if (is_terminating(pod)) {
    cancel(client::object_key(pod));
    return;
  }
  if (old_pod != nullptr && node_name_of(*old_pod) == node_name_of(pod) &&
      tolerations_of(*old_pod) == tolerations_of(pod))
    return;
  process_pod(pod);
}

void TaintEvictionController::process_pod(const json& pod) {
  const std::string key = client::object_key(pod);
  if (is_terminating(pod)) {
    cancel(key);
    return;
  }
  const auto tainted = tainted_nodes_.find(node_name_of(pod));
  if (tainted == tainted_nodes_.end()) {
    cancel(key);
    return;
  }
  const SteadyTime now = clock_.now();
  const auto due = schedule_.process_pod(key, tolerations_of(pod), tainted->second, now);
  if (!due) {
    cancel(key);
    return;
  }
  log::info(kLog, "pod {} on tainted node {}: eviction in {}", key, tainted->first,
            format_duration(std::max(*due - now, SteadyTime::duration(0))));
  queue_.add_after(key, std::chrono::duration_cast<Millis>(std::max(*due - now, SteadyTime::duration(0))));
}

asio::awaitable<api::ApiResult<void>> TaintEvictionController::sync(std::string key) {
  const EvictionSchedule::Work* work = schedule_.get(key);
  if (work == nullptr) co_return api::ApiResult<void>();  // cancelled meanwhile
  const SteadyTime now = clock_.now();
  if (work->due > now) {
    // The queue keeps the earliest due time; a later one is waited for again.
    queue_.add_after(key, std::chrono::ceil<Millis>(work->due - now));
    co_return api::ApiResult<void>();
  }
  const json* cached = pods_.store().get(key);
  if (cached == nullptr || is_terminating(*cached)) {
    schedule_.cancel(key);
    co_return api::ApiResult<void>();
  }
  json pod = *cached;
  const std::string ns = meta_string(pod, "namespace");
  const std::string name = meta_string(pod, "name");
  log::info(kLog, "deleting pod {} (NoExecute taint on node {})", key, node_name_of(pod));
  co_await record_event(pod, fmt::format("Marking for deletion Pod {}", key));

  // Upstream addConditionAndDeletePod: DisruptionTarget=True first, so the
  // pod's owner can tell why it went. A failure here does not stop the
  // deletion (upstream retries both; we retry the deletion only).
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) {
      auto fresh = co_await client_.get(pods_resource(), ns, name);
      if (!fresh) break;
      pod = std::move(*fresh);
    }
    add_disruption_target(pod, clock_.wall_now());
    auto marked = co_await client_.update_status(pods_resource(), ns, pod);
    if (marked) break;
    log::warn(kLog, "{}: DisruptionTarget condition: {}", key, marked.error().message());
    if (!client::is_conflict(marked.error())) break;
  }

  auto deleted = co_await client_.remove(pods_resource(), ns, name, client::DeleteOptions());
  if (!deleted && !client::is_not_found(deleted.error())) co_return deleted.error();
  schedule_.cancel(key);
  co_return api::ApiResult<void>();
}

// A Normal Event TaintManagerEviction on the pod, as upstream's recorder
// writes it; a failure is only logged.
asio::awaitable<void> TaintEvictionController::record_event(json pod, std::string message) {
  const auto wall = clock_.wall_now();
  const std::string ns = meta_string(pod, "namespace");
  const std::string name = meta_string(pod, "name");
  api::EventText text;
  text.reason = "TaintManagerEviction";
  text.message = message;
  api::EventSource source;
  source.component = "taint-eviction-controller";
  json event = api::make_event(pod, "v1", "Pod", text, source, wall);
  auto created = co_await client_.create(events_resource(), ns, event);
  if (!created)
    log::warn(kLog, "{}/{}: recording TaintManagerEviction: {}", ns, name, created.error().message());
}

}  // namespace shakeout::controller
