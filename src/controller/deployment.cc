#include "controller/deployment.h"

#include <algorithm>

#include "api/resource_registry.h"
#include "api/selector.h"
#include "common/log.h"

namespace shakeout::controller {
namespace {

constexpr const char* kLog = "deployment";
constexpr const char* kKind = "Deployment";
constexpr const char* kApiVersion = "apps/v1";

const api::ResourceInfo& deployments_resource() {
  return *api::ResourceRegistry::builtin().by_plural("apps", "deployments");
}
const api::ResourceInfo& replicasets_resource() {
  return *api::ResourceRegistry::builtin().by_plural("apps", "replicasets");
}

std::string key_of(const json& object) {
  return client::object_key(object);
}

// A deployment selects nothing without a selector, and (upstream's
// SelectingAll guard aside) an empty one selects everything.
bool selects(const json& deployment, const json& object) {
  const json& spec = spec_of(deployment);
  const auto selector = spec.find("selector");
  if (selector == spec.end() || !selector->is_object()) return false;
  return api::label_selector_matches(*selector, labels_of(object));
}

bool selects_everything(const json& deployment) {
  const json& spec = spec_of(deployment);
  const auto selector = spec.find("selector");
  return selector != spec.end() && selector->is_object() &&
         selector->value("matchLabels", json::object()).empty() &&
         selector->value("matchExpressions", json::array()).empty();
}

json* find_named(std::vector<json>& replicasets, const std::string& name) {
  for (auto& rs : replicasets)
    if (meta_string(rs, "name") == name) return &rs;
  return nullptr;
}

std::vector<json> others(const std::vector<json>& replicasets, const std::optional<std::string>& name) {
  std::vector<json> out;
  for (const auto& rs : replicasets)
    if (!name || meta_string(rs, "name") != *name) out.push_back(rs);
  return out;
}

const json& status_of(const json& object) {
  static const json kEmpty = json::object();
  const auto status = object.find("status");
  return status != object.end() && status->is_object() ? *status : kEmpty;
}

}  // namespace

bool old_pods_running(const std::vector<json>& old_rss, const std::vector<json>& pods,
                      const std::string& new_rs_uid) {
  if (actual_replica_count(old_rss) > 0) return true;
  for (const auto& pod : pods) {
    const json* ref = controller_ref(pod);
    if (ref == nullptr || ref->value("uid", "") == new_rs_uid) continue;
    if (!is_pod_terminal(pod)) return true;  // Pending, Running and the deprecated Unknown all count
  }
  return false;
}

DeploymentController::DeploymentController(client::Client& client, client::Informer& deployments,
                                           client::Informer& replicasets, client::Informer& pods,
                                           client::Timers& timers, DeploymentOptions options,
                                           WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics)
    : client_(client),
      deployments_(deployments),
      replicasets_(replicasets),
      pods_(pods),
      clock_(timers.clock()),
      options_(options),
      sync_metrics_(sync_metrics),
      queue_(client.executor(), timers, queue_metrics) {
  client::EventHandlers d_handlers;
  d_handlers.on_add = [this](const json& d) { queue_.add(key_of(d)); };
  d_handlers.on_update = [this](const json&, const json& d) { queue_.add(key_of(d)); };
  d_handlers.on_delete = [this](const json& d, bool) { queue_.add(key_of(d)); };
  deployments_.add_handlers(std::move(d_handlers));
  client::EventHandlers rs_handlers;
  rs_handlers.on_add = [this](const json& rs) { add_replicaset(rs); };
  rs_handlers.on_update = [this](const json& old_rs, const json& rs) { update_replicaset(old_rs, rs); };
  rs_handlers.on_delete = [this](const json& rs, bool) { delete_replicaset(rs); };
  replicasets_.add_handlers(std::move(rs_handlers));
  client::EventHandlers pod_handlers;
  pod_handlers.on_delete = [this](const json& pod, bool) { delete_pod(pod); };
  pods_.add_handlers(std::move(pod_handlers));
}

asio::awaitable<void> DeploymentController::run() {
  WorkerOptions options;
  options.controller = kLog;
  options.workers = options_.workers;
  options.max_retries = 15;  // upstream maxRetries: then dropped until the next event
  options.metrics = sync_metrics_;
  co_await run_workers(
      queue_, [this](std::string key) { return sync(std::move(key)); }, options);
}

const json* DeploymentController::resolve(const std::string& ns, const json& ref) const {
  if (ref.value("kind", "") != kKind) return nullptr;
  const json* d = deployments_.store().get(ns, ref.value("name", ""));
  if (d == nullptr || meta_string(*d, "uid") != ref.value("uid", "")) return nullptr;
  return d;
}

// getDeploymentsForReplicaSet: an orphan may be adopted by any deployment
// of its namespace that selects it.
void DeploymentController::enqueue_matching(const json& rs) {
  if (labels_of(rs) == nullptr) return;
  const std::string ns = meta_string(rs, "namespace");
  for (const auto& d : deployments_.store().list())
    if (meta_string(d, "namespace") == ns && selects(d, rs)) queue_.add(key_of(d));
}

void DeploymentController::add_replicaset(const json& rs) {
  if (is_terminating(rs)) {
    delete_replicaset(rs);
    return;
  }
  if (const json* ref = controller_ref(rs)) {
    if (const json* d = resolve(meta_string(rs, "namespace"), *ref)) queue_.add(key_of(*d));
    return;
  }
  enqueue_matching(rs);
}

// Upstream updateReplicaSet.
void DeploymentController::update_replicaset(const json& old_rs, const json& rs) {
  if (client::resource_version_of(old_rs) == client::resource_version_of(rs)) return;
  const json* old_ref = controller_ref(old_rs);
  const json* ref = controller_ref(rs);
  const bool ref_changed = (old_ref == nullptr) != (ref == nullptr) ||
                           (old_ref != nullptr && old_ref->value("uid", "") != ref->value("uid", ""));
  const std::string ns = meta_string(rs, "namespace");
  if (ref_changed && old_ref != nullptr)
    if (const json* d = resolve(ns, *old_ref)) queue_.add(key_of(*d));
  if (ref != nullptr) {
    if (const json* d = resolve(ns, *ref)) queue_.add(key_of(*d));
    return;
  }
  const json old_labels = labels_of(old_rs) ? *labels_of(old_rs) : json();
  const json labels = labels_of(rs) ? *labels_of(rs) : json();
  if (labels != old_labels || ref_changed) enqueue_matching(rs);
}

void DeploymentController::delete_replicaset(const json& rs) {
  const json* ref = controller_ref(rs);
  if (ref == nullptr) return;
  if (const json* d = resolve(meta_string(rs, "namespace"), *ref)) queue_.add(key_of(*d));
}

// Upstream deletePod: only a Recreate rollout waits for pods to go.
void DeploymentController::delete_pod(const json& pod) {
  const json* ref = controller_ref(pod);
  if (ref == nullptr || ref->value("kind", "") != "ReplicaSet") return;
  const std::string ns = meta_string(pod, "namespace");
  const json* rs = replicasets_.store().get(ns, ref->value("name", ""));
  if (rs == nullptr || meta_string(*rs, "uid") != ref->value("uid", "")) return;
  const json* rs_ref = controller_ref(*rs);
  if (rs_ref == nullptr) return;
  const json* d = resolve(ns, *rs_ref);
  if (d != nullptr && is_recreate(*d)) queue_.add(key_of(*d));
}

// Upstream syncDeployment.
asio::awaitable<api::ApiResult<void>> DeploymentController::sync(std::string key) {
  const json* cached = deployments_.store().get(key);
  if (cached == nullptr) co_return api::ApiResult<void>();
  SyncState state;
  state.deployment = *cached;  // the cache moves on while we wait on the API
  json& d = state.deployment;

  if (selects_everything(d)) {
    // Upstream refuses a selector that selects every pod.
    const int64_t generation = d["metadata"].value("generation", int64_t{0});
    if (status_int(d, "observedGeneration") < generation) {
      d["status"]["observedGeneration"] = generation;
      co_return co_await write_status(&state);
    }
    co_return api::ApiResult<void>();
  }

  if (auto claimed = co_await claim_replicasets(&state); !claimed) co_return claimed.error();
  std::vector<std::string> uids;
  for (const auto& rs : state.replicasets) uids.push_back(meta_string(rs, "uid"));
  const std::string ns = meta_string(d, "namespace");
  for (auto& pod : pods_.store().list()) {
    const json* ref = controller_ref(pod);
    if (meta_string(pod, "namespace") != ns || ref == nullptr || !selects(d, pod)) continue;
    if (std::find(uids.begin(), uids.end(), ref->value("uid", "")) != uids.end())
      state.pods.push_back(std::move(pod));
  }

  if (is_terminating(d)) co_return co_await sync_status_only(&state);
  if (auto checked = co_await check_paused_conditions(&state); !checked) co_return checked.error();
  if (spec_of(d).value("paused", false)) co_return co_await sync_scale(&state);
  auto scaling = co_await is_scaling_event(&state);
  if (!scaling) co_return scaling.error();
  if (*scaling) co_return co_await sync_scale(&state);
  if (is_recreate(d)) co_return co_await rollout_recreate(&state);
  if (is_rolling_update(d)) co_return co_await rollout_rolling(&state);
  co_return api::internal_error(fmt::format("{}: unexpected deployment strategy type", key));
}

// ClaimReplicaSets (controller_ref_manager.go): keep owned RSs that match,
// release owned ones that do not, adopt matching orphans after a fresh read
// shows the deployment still there and not being deleted.
asio::awaitable<api::ApiResult<void>> DeploymentController::claim_replicasets(SyncState* state) {
  const json& d = state->deployment;
  const std::string uid = meta_string(d, "uid");
  const std::string ns = meta_string(d, "namespace");
  const std::string name = meta_string(d, "name");
  bool adoption_checked = false;
  for (auto& rs : replicasets_.store().list()) {
    if (meta_string(rs, "namespace") != ns) continue;
    const json* ref = controller_ref(rs);
    const bool match = selects(d, rs);
    const std::string rs_name = meta_string(rs, "name");
    if (ref != nullptr) {
      if (ref->value("uid", "") != uid) continue;  // someone else's
      if (match) {
        state->replicasets.push_back(std::move(rs));
        continue;
      }
      if (is_terminating(d)) continue;
      json drop = json::object();
      drop["$patch"] = "delete";
      drop["uid"] = uid;
      json patch = json::object();
      patch["metadata"]["ownerReferences"] = json::array();
      patch["metadata"]["ownerReferences"].push_back(std::move(drop));
      patch["metadata"]["uid"] = meta_string(rs, "uid");
      log::info(kLog, "releasing replicaset {}/{} from {}/{}", ns, rs_name, ns, name);
      auto released = co_await client_.patch(replicasets_resource(), ns, rs_name,
                                             client::PatchType::kStrategicMergePatch, patch.dump(), "");
      if (!released && !client::is_not_found(released.error())) co_return released.error();
      continue;
    }
    if (!match || is_terminating(d) || is_terminating(rs)) continue;
    if (!adoption_checked) {
      auto fresh = co_await client_.get(deployments_resource(), ns, name);
      if (!fresh) co_return fresh.error();
      if (meta_string(*fresh, "uid") != uid || is_terminating(*fresh))
        co_return api::internal_error(
            fmt::format("{}/{} cannot adopt: it is gone or being deleted", ns, name));
      adoption_checked = true;
    }
    json patch = json::object();
    patch["metadata"]["ownerReferences"] = json::array();
    patch["metadata"]["ownerReferences"].push_back(make_controller_ref(d, kApiVersion, kKind));
    patch["metadata"]["uid"] = meta_string(rs, "uid");
    patch["metadata"]["resourceVersion"] = client::resource_version_of(rs);
    log::info(kLog, "adopting replicaset {}/{} into {}/{}", ns, rs_name, ns, name);
    auto adopted = co_await client_.patch(replicasets_resource(), ns, rs_name,
                                          client::PatchType::kStrategicMergePatch, patch.dump(), "");
    if (!adopted) {
      if (client::is_not_found(adopted.error())) continue;
      co_return adopted.error();
    }
    state->replicasets.push_back(std::move(*adopted));
  }
  co_return api::ApiResult<void>();
}

asio::awaitable<api::ApiResult<void>> DeploymentController::write_status(SyncState* state) {
  auto written = co_await client_.update_status(
      deployments_resource(), meta_string(state->deployment, "namespace"), state->deployment);
  if (!written) co_return written.error();
  state->deployment = std::move(*written);
  co_return api::ApiResult<void>();
}

// SetDeploymentRevision. Upstream sends it with the status; our /status
// keeps only the status, so the annotation goes in a merge patch.
asio::awaitable<api::ApiResult<void>> DeploymentController::set_deployment_revision(SyncState* state,
                                                                                    std::string revision) {
  json& d = state->deployment;
  const json annotations = d["metadata"].value("annotations", json::object());
  if (annotations.value(kRevisionAnnotation, "") == revision) co_return api::ApiResult<void>();
  json patch = json::object();
  patch["metadata"]["annotations"][kRevisionAnnotation] = revision;
  auto patched =
      co_await client_.patch(deployments_resource(), meta_string(d, "namespace"), meta_string(d, "name"),
                             client::PatchType::kMergePatch, patch.dump(), "");
  if (!patched) co_return patched.error();
  // Keep our edited status; take the new metadata (resourceVersion).
  (*patched)["status"] = d.value("status", json::object());
  d = std::move(*patched);
  co_return api::ApiResult<void>();
}

asio::awaitable<api::ApiResult<std::optional<json>>> DeploymentController::new_replicaset(SyncState* state,
                                                                                          bool create) {
  json& d = state->deployment;
  const auto index = find_new_replicaset(d, state->replicasets);
  const std::optional<std::string> existing_name =
      index ? std::optional<std::string>(meta_string(state->replicasets[*index], "name")) : std::nullopt;
  const int64_t new_revision = max_revision(others(state->replicasets, existing_name)) + 1;
  const int64_t min_ready = spec_of(d).value("minReadySeconds", int64_t{0});
  const std::string ns = meta_string(d, "namespace");

  if (index) {
    json rs = state->replicasets[*index];
    const bool annotations_changed = set_new_replicaset_annotations(d, rs, new_revision, true);
    if (annotations_changed || spec_of(rs).value("minReadySeconds", int64_t{0}) != min_ready) {
      rs["spec"]["minReadySeconds"] = min_ready;
      auto updated = co_await client_.update(replicasets_resource(), ns, rs);
      if (!updated) co_return updated.error();
      state->replicasets[*index] = *updated;
      co_return std::optional<json>(std::move(*updated));
    }
    const std::string revision = rs["metadata"]["annotations"].value(kRevisionAnnotation, "");
    if (auto revised = co_await set_deployment_revision(state, revision); !revised) co_return revised.error();
    // Progress is estimated from the first time the new RS was noticed.
    if (has_progress_deadline(d) && get_condition(status_of(d), "Progressing") == nullptr) {
      set_condition(d["status"],
                    new_condition("Progressing", "True", kFoundNewRSReason,
                                  fmt::format("Found new replica set \"{}\"", meta_string(rs, "name")),
                                  clock_.wall_now()));
      if (auto written = co_await write_status(state); !written) co_return written.error();
    }
    co_return std::optional<json>(std::move(rs));
  }
  if (!create) co_return std::optional<json>();

  const auto& status = status_of(d);
  const std::optional<int64_t> collisions =
      status.contains("collisionCount") ? std::optional<int64_t>(status["collisionCount"].get<int64_t>())
                                        : std::nullopt;
  const std::string hash = compute_hash(spec_of(d).value("template", json::object()), collisions);
  json rs = new_replicaset_for(d, hash);
  std::vector<json> all = state->replicasets;
  all.push_back(rs);
  rs["spec"]["replicas"] = new_rs_replicas(d, all, rs);
  set_new_replicaset_annotations(d, rs, new_revision, false);
  const std::string rs_name = meta_string(rs, "name");
  bool already_exists = false;
  auto created = co_await client_.create(replicasets_resource(), ns, rs);
  if (!created && client::is_already_exists(created.error())) {
    // A slow cache, or a hash collision.
    const json* found = replicasets_.store().get(ns, rs_name);
    if (found == nullptr) co_return created.error();
    const json* ref = controller_ref(*found);
    if (ref != nullptr && ref->value("uid", "") == meta_string(d, "uid") &&
        equal_ignore_hash(spec_of(d).value("template", json::object()),
                          spec_of(*found).value("template", json::object()))) {
      already_exists = true;
      created = *found;
    } else {
      d["status"]["collisionCount"] = collisions.value_or(0) + 1;
      log::info(kLog, "hash collision for {}/{}: collisionCount {}", ns, meta_string(d, "name"),
                collisions.value_or(0) + 1);
      if (auto written = co_await write_status(state); !written) co_return written.error();
      co_return created.error();
    }
  } else if (!created) {
    if (has_progress_deadline(d)) {
      set_condition(d["status"], new_condition("Progressing", "False", kFailedRSCreateReason,
                                               fmt::format("Failed to create new replica set \"{}\": {}",
                                                           rs_name, created.error().message()),
                                               clock_.wall_now()));
      auto ignored = co_await write_status(state);  // the create error is the one to report
      (void)ignored;
    }
    co_return created.error();
  }
  if (!already_exists)
    log::info(kLog, "created replicaset {}/{} ({} replicas)", ns, rs_name,
              rs["spec"]["replicas"].get<int64_t>());
  state->replicasets.push_back(*created);
  if (auto revised = co_await set_deployment_revision(state, std::to_string(new_revision)); !revised)
    co_return revised.error();
  if (!already_exists && has_progress_deadline(d)) {
    set_condition(d["status"],
                  new_condition("Progressing", "True", kNewRSReason,
                                fmt::format("Created new replica set \"{}\"", rs_name), clock_.wall_now()));
    if (auto written = co_await write_status(state); !written) co_return written.error();
  }
  co_return std::optional<json>(std::move(*created));
}

asio::awaitable<api::ApiResult<bool>> DeploymentController::scale_replicaset(SyncState* state,
                                                                             std::string name,
                                                                             int64_t replicas,
                                                                             bool only_on_resize) {
  json* cached = find_named(state->replicasets, name);
  if (cached == nullptr)
    co_return api::internal_error(fmt::format("replicaset {} is not the deployment's", name));
  const json& d = state->deployment;
  const int64_t desired = spec_replicas(d);
  const int64_t max = desired + max_surge(d);
  const bool resize = spec_replicas(*cached) != replicas;
  if (!resize && (only_on_resize || !replicas_annotations_need_update(*cached, desired, max)))
    co_return false;
  json rs = *cached;
  rs["spec"]["replicas"] = replicas;
  set_replicas_annotations(rs, desired, max);
  auto updated = co_await client_.update(replicasets_resource(), meta_string(rs, "namespace"), rs);
  if (!updated) co_return updated.error();
  if (resize)
    log::info(kLog, "scaled replicaset {}/{} from {} to {}", meta_string(rs, "namespace"), name,
              spec_replicas(*cached), replicas);
  *cached = std::move(*updated);
  co_return resize;
}

// checkPausedConditions: Progressing Unknown while paused and once resumed,
// so the time spent paused never counts against the progress deadline.
asio::awaitable<api::ApiResult<void>> DeploymentController::check_paused_conditions(SyncState* state) {
  json& d = state->deployment;
  if (!has_progress_deadline(d)) co_return api::ApiResult<void>();
  const json* condition = get_condition(status_of(d), "Progressing");
  if (condition != nullptr && condition->value("reason", "") == kTimedOutReason)
    co_return api::ApiResult<void>();
  const bool paused_condition = condition != nullptr && condition->value("reason", "") == kPausedDeployReason;
  const bool paused = spec_of(d).value("paused", false);
  if (paused && !paused_condition) {
    set_condition(d["status"], new_condition("Progressing", "Unknown", kPausedDeployReason,
                                             "Deployment is paused", clock_.wall_now()));
  } else if (!paused && paused_condition) {
    set_condition(d["status"], new_condition("Progressing", "Unknown", kResumedDeployReason,
                                             "Deployment is resumed", clock_.wall_now()));
  } else {
    co_return api::ApiResult<void>();
  }
  co_return co_await write_status(state);
}

// isScalingEvent: an active RS was sized for another spec.replicas.
asio::awaitable<api::ApiResult<bool>> DeploymentController::is_scaling_event(SyncState* state) {
  auto new_rs = co_await new_replicaset(state, false);
  if (!new_rs) co_return new_rs.error();
  const int64_t replicas = spec_replicas(state->deployment);
  for (const auto& rs : active_replicasets(state->replicasets)) {
    const auto desired = desired_replicas_annotation(rs);
    if (desired && *desired != replicas) co_return true;
  }
  co_return false;
}

// sync (sync.go): scaling, and the paused deployment's cleanup.
asio::awaitable<api::ApiResult<void>> DeploymentController::sync_scale(SyncState* state) {
  auto new_rs = co_await new_replicaset(state, false);
  if (!new_rs) co_return new_rs.error();
  const std::optional<std::string> new_name =
      *new_rs ? std::optional<std::string>(meta_string(**new_rs, "name")) : std::nullopt;
  const json* new_ptr = new_name ? find_named(state->replicasets, *new_name) : nullptr;
  const auto plan = plan_scale(state->deployment, new_ptr, others(state->replicasets, new_name));
  for (const auto& [name, replicas] : plan) {
    auto scaled = co_await scale_replicaset(state, name, replicas, false);
    if (!scaled) co_return scaled.error();
  }
  if (spec_of(state->deployment).value("paused", false))
    if (auto cleaned = co_await cleanup(state, new_name); !cleaned) co_return cleaned.error();
  co_return co_await sync_status_only(state);
}

// syncStatusOnly / syncDeploymentStatus: counts and Available only.
asio::awaitable<api::ApiResult<void>> DeploymentController::sync_status_only(SyncState* state) {
  auto new_rs = co_await new_replicaset(state, false);
  if (!new_rs) co_return new_rs.error();
  const json* new_ptr = *new_rs ? find_named(state->replicasets, meta_string(**new_rs, "name")) : nullptr;
  json& d = state->deployment;
  json status = calculate_status(d, state->replicasets, new_ptr, clock_.wall_now());
  if (status == status_of(d)) co_return api::ApiResult<void>();
  d["status"] = std::move(status);
  co_return co_await write_status(state);
}

// rolloutRolling (rolling.go): one step per sync -- scale the new RS up as
// far as maxSurge allows, or else the old ones down as far as
// maxUnavailable allows; the RS status updates that follow bring the next.
asio::awaitable<api::ApiResult<void>> DeploymentController::rollout_rolling(SyncState* state) {
  auto new_rs = co_await new_replicaset(state, true);
  if (!new_rs) co_return new_rs.error();
  const std::string new_name = meta_string(**new_rs, "name");
  const json& d = state->deployment;
  const int64_t replicas = spec_replicas(d);

  // reconcileNewReplicaSet
  const json new_copy = *find_named(state->replicasets, new_name);
  if (spec_replicas(new_copy) != replicas) {
    const int64_t target =
        spec_replicas(new_copy) > replicas ? replicas : new_rs_replicas(d, state->replicasets, new_copy);
    auto scaled = co_await scale_replicaset(state, new_name, target, true);
    if (!scaled) co_return scaled.error();
    if (*scaled) co_return co_await sync_rollout_status(state, new_name);
  }

  // reconcileOldReplicaSets
  const auto plan =
      plan_old_scale_down(d, others(state->replicasets, new_name), *find_named(state->replicasets, new_name));
  bool scaled_down = false;
  for (const auto& [name, target] : plan) {
    auto scaled = co_await scale_replicaset(state, name, target, true);
    if (!scaled) co_return scaled.error();
    scaled_down = scaled_down || *scaled;
  }
  if (scaled_down) co_return co_await sync_rollout_status(state, new_name);

  if (deployment_complete(d, status_of(d)))
    if (auto cleaned = co_await cleanup(state, new_name); !cleaned) co_return cleaned.error();
  co_return co_await sync_rollout_status(state, new_name);
}

// rolloutRecreate (recreate.go): the new RS is created only once every old
// pod is gone, so old and new never run side by side.
asio::awaitable<api::ApiResult<void>> DeploymentController::rollout_recreate(SyncState* state) {
  auto new_rs = co_await new_replicaset(state, false);
  if (!new_rs) co_return new_rs.error();
  std::optional<std::string> new_name =
      *new_rs ? std::optional<std::string>(meta_string(**new_rs, "name")) : std::nullopt;

  bool scaled_down = false;
  for (const auto& rs : active_replicasets(others(state->replicasets, new_name))) {
    auto scaled = co_await scale_replicaset(state, meta_string(rs, "name"), 0, true);
    if (!scaled) co_return scaled.error();
    scaled_down = scaled_down || *scaled;
  }
  if (scaled_down) co_return co_await sync_rollout_status(state, new_name);

  const std::string new_uid = *new_rs ? meta_string(**new_rs, "uid") : "";
  if (old_pods_running(others(state->replicasets, new_name), state->pods, new_uid))
    co_return co_await sync_rollout_status(state, new_name);

  if (!new_name) {
    auto created = co_await new_replicaset(state, true);
    if (!created) co_return created.error();
    new_name = meta_string(**created, "name");
  }
  auto scaled = co_await scale_replicaset(state, *new_name, spec_replicas(state->deployment), true);
  if (!scaled) co_return scaled.error();
  if (deployment_complete(state->deployment, status_of(state->deployment)))
    if (auto cleaned = co_await cleanup(state, new_name); !cleaned) co_return cleaned.error();
  co_return co_await sync_rollout_status(state, new_name);
}

// syncRolloutStatus (progress.go).
asio::awaitable<api::ApiResult<void>> DeploymentController::sync_rollout_status(
    SyncState* state, std::optional<std::string> new_rs) {
  json& d = state->deployment;
  const json* new_ptr = new_rs ? find_named(state->replicasets, *new_rs) : nullptr;
  const WallTime now = clock_.wall_now();
  json status = calculate_status(d, state->replicasets, new_ptr, now);
  update_progressing(d, new_ptr, status, now);
  remove_condition(status, "ReplicaFailure");  // not computed (see the header)
  if (status == status_of(d)) {
    if (const auto after = stuck_requeue_after(d, status, now)) {
      if (after->count() == 0) {
        queue_.add_rate_limited(key_of(d));
      } else {
        queue_.add_after(key_of(d), *after);
      }
    }
    co_return api::ApiResult<void>();
  }
  d["status"] = std::move(status);
  co_return co_await write_status(state);
}

// cleanupDeployment: old RSs beyond revisionHistoryLimit.
asio::awaitable<api::ApiResult<void>> DeploymentController::cleanup(SyncState* state,
                                                                    std::optional<std::string> new_rs) {
  for (const auto& rs : replicasets_to_clean_up(state->deployment, others(state->replicasets, new_rs))) {
    log::info(kLog, "deleting old replicaset {}", key_of(rs));
    auto deleted = co_await client_.remove(replicasets_resource(), meta_string(rs, "namespace"),
                                           meta_string(rs, "name"), client::DeleteOptions());
    if (!deleted && !client::is_not_found(deleted.error())) co_return deleted.error();
  }
  co_return api::ApiResult<void>();
}

}  // namespace shakeout::controller
