#include "controller/disruption.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "api/resource_registry.h"
#include "api/selector.h"
#include "api/store.h"
#include "common/log.h"
#include "controller/pod_util.h"

namespace shakeout::controller {
namespace {

constexpr const char* kLog = "disruption";

const api::ResourceInfo& pdbs_resource() {
  return *api::ResourceRegistry::builtin().by_plural("policy", "poddisruptionbudgets");
}

bool selects(const json& pdb, const json& pod) {
  if (meta_string(pdb, "namespace") != meta_string(pod, "namespace")) return false;
  const json& spec = spec_of(pdb);
  auto selector = spec.find("selector");
  // policy/v1: a null selector matches nothing, an empty one everything.
  if (selector == spec.end() || selector->is_null()) return false;
  return api::label_selector_matches(*selector, labels_of(pod));
}

}  // namespace

std::optional<Budget> compute_budget(const json& pdb, std::size_t pods,
                                     std::optional<int64_t> controllers_scale) {
  const json& spec = spec_of(pdb);
  Budget budget;
  if (auto max = spec.find("maxUnavailable"); max != spec.end() && !max->is_null()) {
    if (!controllers_scale) return std::nullopt;
    budget.expected = *controllers_scale;
    auto unavailable = scaled_value(*max, budget.expected, true);
    if (!unavailable) return std::nullopt;
    budget.desired_healthy = std::max<int64_t>(0, budget.expected - *unavailable);
    return budget;
  }
  auto min = spec.find("minAvailable");
  if (min == spec.end() || min->is_null()) {
    // Neither set: upstream defaults minAvailable to 1 on old versions; an
    // empty policy/v1 budget protects nothing.
    budget.expected = static_cast<int64_t>(pods);
    return budget;
  }
  if (min->is_number_integer()) {
    budget.expected = static_cast<int64_t>(pods);
    budget.desired_healthy = min->get<int64_t>();
    return budget;
  }
  if (!controllers_scale) return std::nullopt;
  budget.expected = *controllers_scale;
  auto desired = scaled_value(*min, budget.expected, true);
  if (!desired) return std::nullopt;
  budget.desired_healthy = *desired;
  return budget;
}

json pdb_status(const json& pdb, const std::vector<json>& pods, std::optional<Budget> budget, WallTime now) {
  const json old_status = pdb.value("status", json::object());
  // disruptedPods: kept while younger than the deletion timeout and the pod
  // is not yet being deleted (buildDisruptedPodMap).
  json disrupted = json::object();
  const json old_disrupted = old_status.value("disruptedPods", json::object());
  for (const auto& [entry, stamp] : old_disrupted.items()) {
    const std::string name = entry;  // (a structured binding cannot be captured before C++20 in clang 14)
    auto when = stamp.is_string() ? api::parse_timestamp(stamp.get<std::string>()) : std::nullopt;
    if (!when || *when + kPdbDeletionTimeout < now) continue;
    auto pod =
        std::find_if(pods.begin(), pods.end(), [&](const json& p) { return meta_string(p, "name") == name; });
    if (pod == pods.end() || is_terminating(*pod)) continue;
    disrupted[name] = stamp;
  }
  int64_t healthy = 0;
  for (const auto& pod : pods) {
    if (is_terminating(pod) || disrupted.contains(meta_string(pod, "name"))) continue;
    if (is_pod_ready(pod)) ++healthy;
  }
  json status = json::object();
  status["observedGeneration"] = pdb["metadata"].value("generation", int64_t{1});
  status["currentHealthy"] = healthy;
  status["desiredHealthy"] = budget ? budget->desired_healthy : 0;
  status["expectedPods"] = budget ? budget->expected : 0;
  const int64_t allowed =
      budget && budget->expected > 0 ? std::max<int64_t>(0, healthy - budget->desired_healthy) : 0;
  status["disruptionsAllowed"] = allowed;
  if (!disrupted.empty()) status["disruptedPods"] = std::move(disrupted);
  json condition = {{"type", "DisruptionAllowed"}, {"observedGeneration", status["observedGeneration"]}};
  if (!budget) {
    condition["status"] = "False";
    condition["reason"] = "SyncFailed";
    condition["message"] = "found no controllers for some of the pods matching the budget's selector";
  } else if (allowed > 0) {
    condition["status"] = "True";
    condition["reason"] = "SufficientPods";
    condition["message"] = "";
  } else {
    condition["status"] = "False";
    condition["reason"] = "InsufficientPods";
    condition["message"] = "";
  }
  condition["lastTransitionTime"] = api::format_timestamp(now);
  const json old_conditions = old_status.value("conditions", json::array());
  for (const auto& old : old_conditions)
    if (old.value("type", "") == "DisruptionAllowed" && old.value("status", "") == condition["status"] &&
        old.contains("lastTransitionTime"))
      condition["lastTransitionTime"] = old["lastTransitionTime"];
  status["conditions"] = json::array({condition});
  return status;
}

DisruptionController::DisruptionController(client::Client& client, client::Informer& pdbs,
                                           client::Informer& pods, client::Informer& replicasets,
                                           client::Informer& deployments, client::Timers& timers,
                                           DisruptionOptions options, WorkQueueMetrics* queue_metrics,
                                           SyncMetrics* sync_metrics)
    : client_(client),
      pdbs_(pdbs),
      pods_(pods),
      replicasets_(replicasets),
      deployments_(deployments),
      clock_(timers.clock()),
      options_(options),
      sync_metrics_(sync_metrics),
      queue_(client.executor(), timers, queue_metrics) {
  client::EventHandlers pdb_handlers;
  pdb_handlers.on_add = [this](const json& pdb) { queue_.add(client::object_key(pdb)); };
  pdb_handlers.on_update = [this](const json&, const json& pdb) { queue_.add(client::object_key(pdb)); };
  pdbs_.add_handlers(std::move(pdb_handlers));
  client::EventHandlers pod_handlers;
  pod_handlers.on_add = [this](const json& pod) { enqueue_budgets_of(pod); };
  pod_handlers.on_update = [this](const json& old_pod, const json& pod) {
    enqueue_budgets_of(old_pod);
    enqueue_budgets_of(pod);
  };
  pod_handlers.on_delete = [this](const json& pod, bool) { enqueue_budgets_of(pod); };
  pods_.add_handlers(std::move(pod_handlers));
}

void DisruptionController::enqueue_budgets_of(const json& pod) {
  for (const auto& pdb : pdbs_.store().list())
    if (selects(pdb, pod)) queue_.add(client::object_key(pdb));
}

std::optional<int64_t> DisruptionController::controllers_scale(const std::vector<json>& pods) const {
  std::map<std::string, int64_t> scales;  // controller uid -> replicas
  for (const auto& pod : pods) {
    const json* ref = controller_ref(pod);
    if (ref == nullptr || ref->value("kind", "") != "ReplicaSet") return std::nullopt;
    const std::string ns = meta_string(pod, "namespace");
    const json* rs = replicasets_.store().get(ns, ref->value("name", ""));
    if (rs == nullptr || meta_string(*rs, "uid") != ref->value("uid", "")) return std::nullopt;
    // getPodReplicaSet / getPodDeployment: a ReplicaSet owned by a
    // Deployment counts with the Deployment's scale.
    const json* owner = controller_ref(*rs);
    if (owner != nullptr && owner->value("kind", "") == "Deployment") {
      const json* deployment = deployments_.store().get(ns, owner->value("name", ""));
      if (deployment != nullptr && meta_string(*deployment, "uid") == owner->value("uid", "")) {
        scales[meta_string(*deployment, "uid")] = spec_of(*deployment).value("replicas", int64_t{1});
        continue;
      }
    }
    scales[meta_string(*rs, "uid")] = spec_of(*rs).value("replicas", int64_t{1});
  }
  int64_t total = 0;
  for (const auto& [uid, replicas] : scales) total += replicas;
  return total;
}

asio::awaitable<void> DisruptionController::run() {
  WorkerOptions options;
  options.controller = kLog;
  options.workers = options_.workers;
  options.metrics = sync_metrics_;
  co_await run_workers(
      queue_, [this](std::string key) { return sync(std::move(key)); }, options);
}

asio::awaitable<api::ApiResult<void>> DisruptionController::sync(std::string key) {
  const json* cached = pdbs_.store().get(key);
  if (cached == nullptr) co_return api::ApiResult<void>();
  json pdb = *cached;
  std::vector<json> pods;
  for (auto& pod : pods_.store().list())
    if (selects(pdb, pod)) pods.push_back(std::move(pod));
  const auto now = clock_.wall_now();
  auto budget = compute_budget(pdb, pods.size(), controllers_scale(pods));
  json status = pdb_status(pdb, pods, budget, now);
  // Look again when the oldest disruptedPods entry expires.
  const json disrupted = status.value("disruptedPods", json::object());
  for (const auto& [name, stamp] : disrupted.items()) {
    auto when = api::parse_timestamp(stamp.get<std::string>());
    if (!when) continue;
    auto due = std::chrono::duration_cast<Millis>(*when + kPdbDeletionTimeout - now);
    queue_.add_after(key, std::max(due, Millis(1)));
  }
  if (pdb.value("status", json::object()) == status) co_return api::ApiResult<void>();
  pdb["status"] = std::move(status);
  const std::string ns = meta_string(pdb, "namespace");  // before the move below
  auto updated = co_await client_.update_status(pdbs_resource(), ns, std::move(pdb));
  if (!updated && !client::is_not_found(updated.error())) co_return updated.error();
  co_return api::ApiResult<void>();
}

}  // namespace shakeout::controller
