#include "controller/replicaset.h"

#include <boost/asio/this_coro.hpp>

#include <algorithm>

#include "api/resource_registry.h"
#include "api/selector.h"
#include "common/log.h"
#include "controller/wait_group.h"

namespace shakeout::controller {
namespace {

constexpr const char* kLog = "replicaset";
constexpr const char* kKind = "ReplicaSet";
constexpr const char* kApiVersion = "apps/v1";

const api::ResourceInfo& pods_resource() {
  return *api::ResourceRegistry::builtin().by_plural("", "pods");
}
const api::ResourceInfo& replicasets_resource() {
  return *api::ResourceRegistry::builtin().by_plural("apps", "replicasets");
}

int64_t spec_int(const json& object, const char* field, int64_t fallback) {
  const json& spec = spec_of(object);
  const auto value = spec.find(field);
  return value != spec.end() && value->is_number_integer() ? value->get<int64_t>() : fallback;
}

// A selector that selects nothing when absent (upstream: a nil selector
// converts to labels.Nothing()).
bool selects(const json& rs, const json& pod) {
  const json& spec = spec_of(rs);
  const auto selector = spec.find("selector");
  if (selector == spec.end() || !selector->is_object()) return false;
  return api::label_selector_matches(*selector, labels_of(pod));
}

std::string key_of(const json& object) {
  return client::object_key(object);
}

bool same_ref(const json* a, const json* b) {
  if (a == nullptr || b == nullptr) return a == b;
  return a->value("uid", "") == b->value("uid", "");
}

}  // namespace

json pod_from_template(const json& replicaset) {
  const json& spec = spec_of(replicaset);
  const json tmpl = spec.value("template", json::object());
  const json tmpl_meta = tmpl.value("metadata", json::object());
  json pod = json::object();
  pod["apiVersion"] = "v1";
  pod["kind"] = "Pod";
  json meta = json::object();
  for (const char* field : {"labels", "annotations", "finalizers"})
    if (tmpl_meta.contains(field)) meta[field] = tmpl_meta[field];
  meta["generateName"] = meta_string(replicaset, "name") + "-";
  meta["namespace"] = meta_string(replicaset, "namespace");
  meta["ownerReferences"] = json::array({make_controller_ref(replicaset, kApiVersion, kKind)});
  pod["metadata"] = std::move(meta);
  pod["spec"] = tmpl.value("spec", json::object());
  return pod;
}

std::vector<int> slow_start_batches(int count, int initial) {
  std::vector<int> batches;
  int remaining = count;
  for (int size = std::min(remaining, initial); size > 0; size = std::min(2 * size, remaining)) {
    batches.push_back(size);
    remaining -= size;
  }
  return batches;
}

json calculate_status(const json& replicaset, const std::vector<json>& pods, WallTime now) {
  const json tmpl_labels = spec_of(replicaset)
                               .value("template", json::object())
                               .value("metadata", json::object())
                               .value("labels", json::object());
  const int64_t min_ready = spec_int(replicaset, "minReadySeconds", 0);
  int64_t fully_labeled = 0;
  int64_t ready = 0;
  int64_t available = 0;
  for (const auto& pod : pods) {
    const json* labels = labels_of(pod);
    bool all = true;
    for (const auto& [key, value] : tmpl_labels.items()) {
      if (labels == nullptr || !labels->contains(key) || (*labels)[key] != value) {
        all = false;
        break;
      }
    }
    if (all) ++fully_labeled;
    if (is_pod_ready(pod)) {
      ++ready;
      if (is_pod_available(pod, min_ready, now)) ++available;
    }
  }
  json status = json::object();
  status["replicas"] = static_cast<int64_t>(pods.size());
  status["fullyLabeledReplicas"] = fully_labeled;
  status["readyReplicas"] = ready;
  status["availableReplicas"] = available;
  const auto meta = replicaset.find("metadata");
  status["observedGeneration"] =
      meta != replicaset.end() && meta->is_object() ? meta->value("generation", int64_t{0}) : int64_t{0};
  return status;
}

std::vector<json> pods_to_delete(std::vector<json> pods, int count) {
  std::stable_sort(pods.begin(), pods.end(), delete_first);
  if (static_cast<int>(pods.size()) > count) pods.resize(std::max(count, 0));
  return pods;
}

ReplicaSetController::ReplicaSetController(client::Client& client, client::Informer& replicasets,
                                           client::Informer& pods, client::Timers& timers,
                                           ReplicaSetOptions options, WorkQueueMetrics* queue_metrics,
                                           SyncMetrics* sync_metrics)
    : client_(client),
      replicasets_(replicasets),
      pods_(pods),
      clock_(timers.clock()),
      options_(options),
      sync_metrics_(sync_metrics),
      queue_(client.executor(), timers, queue_metrics),
      expectations_(timers.clock()) {
  client::EventHandlers rs_handlers;
  rs_handlers.on_add = [this](const json& rs) { add_replicaset(rs); };
  rs_handlers.on_update = [this](const json&, const json& rs) { add_replicaset(rs); };
  rs_handlers.on_delete = [this](const json& rs, bool) {
    expectations_.erase(key_of(rs));
    queue_.add(key_of(rs));
  };
  replicasets_.add_handlers(std::move(rs_handlers));
  client::EventHandlers pod_handlers;
  pod_handlers.on_add = [this](const json& pod) { add_pod(pod); };
  pod_handlers.on_update = [this](const json& old_pod, const json& pod) { update_pod(old_pod, pod); };
  pod_handlers.on_delete = [this](const json& pod, bool) { delete_pod(pod); };
  pods_.add_handlers(std::move(pod_handlers));
}

asio::awaitable<void> ReplicaSetController::run() {
  WorkerOptions options;
  options.controller = kLog;
  options.workers = options_.workers;
  options.metrics = sync_metrics_;
  co_await run_workers(
      queue_, [this](std::string key) { return sync(std::move(key)); }, options);
}

void ReplicaSetController::add_replicaset(const json& rs) {
  queue_.add(key_of(rs));
}

const json* ReplicaSetController::resolve(const std::string& ns, const json& ref) const {
  if (ref.value("kind", "") != kKind) return nullptr;
  const json* rs = replicasets_.store().get(ns, ref.value("name", ""));
  if (rs == nullptr || meta_string(*rs, "uid") != ref.value("uid", "")) return nullptr;
  return rs;
}

std::vector<std::string> ReplicaSetController::matching_replicasets(const json& pod) const {
  std::vector<std::string> keys;
  const std::string ns = meta_string(pod, "namespace");
  if (labels_of(pod) == nullptr) return keys;  // upstream: a pod without labels matches nothing
  for (const auto& rs : replicasets_.store().list())
    if (meta_string(rs, "namespace") == ns && selects(rs, pod)) keys.push_back(key_of(rs));
  return keys;
}

// Upstream addPod: a pod that is already terminating counts as deleted; one
// with a controller tells that controller its creation was observed.
void ReplicaSetController::add_pod(const json& pod) {
  if (is_terminating(pod)) {
    delete_pod(pod);
    return;
  }
  if (const json* ref = controller_ref(pod)) {
    const json* rs = resolve(meta_string(pod, "namespace"), *ref);
    if (rs == nullptr) return;
    expectations_.creation_observed(key_of(*rs));
    queue_.add(key_of(*rs));
    return;
  }
  for (const auto& key : matching_replicasets(pod)) queue_.add(key);  // an orphan: someone may adopt it
}

// Upstream updatePod.
void ReplicaSetController::update_pod(const json& old_pod, const json& pod) {
  if (client::resource_version_of(old_pod) == client::resource_version_of(pod)) return;  // resync
  const bool labels_changed =
      (labels_of(old_pod) ? *labels_of(old_pod) : json()) != (labels_of(pod) ? *labels_of(pod) : json());
  if (is_terminating(pod)) {
    // The kubelet may take a while to finish: count the deletion as soon as
    // the pod is marked, so the RS replaces it without waiting.
    delete_pod(pod);
    if (labels_changed) delete_pod(old_pod);
    return;
  }
  const json* old_ref = controller_ref(old_pod);
  const json* ref = controller_ref(pod);
  const bool ref_changed = !same_ref(old_ref, ref);
  const std::string ns = meta_string(pod, "namespace");
  if (ref_changed && old_ref != nullptr) {
    if (const json* rs = resolve(ns, *old_ref)) queue_.add(key_of(*rs));
  }
  if (ref != nullptr) {
    const json* rs = resolve(ns, *ref);
    if (rs == nullptr) return;
    queue_.add(key_of(*rs));
    // Becoming available takes minReadySeconds more: look again then.
    const int64_t min_ready = spec_int(*rs, "minReadySeconds", 0);
    if (min_ready > 0 && !is_pod_ready(old_pod) && is_pod_ready(pod))
      queue_.add_after(key_of(*rs), Millis(min_ready * 1000 + 1000));
    return;
  }
  if (labels_changed || ref_changed)
    for (const auto& key : matching_replicasets(pod)) queue_.add(key);
}

// Upstream deletePod.
void ReplicaSetController::delete_pod(const json& pod) {
  const json* ref = controller_ref(pod);
  if (ref == nullptr) return;
  const json* rs = resolve(meta_string(pod, "namespace"), *ref);
  if (rs == nullptr) return;
  expectations_.deletion_observed(key_of(*rs), key_of(pod));
  queue_.add(key_of(*rs));
}

asio::awaitable<api::ApiResult<void>> ReplicaSetController::sync(std::string key) {
  const json* cached = replicasets_.store().get(key);
  if (cached == nullptr) {
    expectations_.erase(key);
    co_return api::ApiResult<void>();
  }
  const json rs = *cached;  // the cache moves on while we wait on the API
  const bool needs_sync = expectations_.satisfied(key) && !is_terminating(rs);
  const std::string ns = meta_string(rs, "namespace");
  std::vector<json> active;
  for (auto& pod : pods_.store().list())
    if (meta_string(pod, "namespace") == ns && is_pod_active(pod)) active.push_back(std::move(pod));

  auto claimed = co_await claim_pods(rs, std::move(active));
  if (!claimed) co_return claimed.error();

  api::ApiResult<void> managed;
  if (needs_sync) managed = co_await manage_replicas(rs, *claimed);

  json status = calculate_status(rs, *claimed, clock_.wall_now());
  auto updated = co_await update_status(rs, status);
  if (!updated) co_return updated.error();

  // Upstream: pods that are ready but not yet available become available
  // minReadySeconds later without any event; look again then.
  const int64_t replicas = spec_int(rs, "replicas", 1);
  const int64_t min_ready = spec_int(rs, "minReadySeconds", 0);
  if (managed.ok() && min_ready > 0 && status["readyReplicas"] == replicas &&
      status["availableReplicas"] != replicas)
    queue_.add_after(key, Millis(min_ready * 1000));
  co_return managed;
}

// Upstream ClaimPods with the ReplicaSet's controller ref manager
// (pkg/controller/controller_ref_manager.go): keep owned pods that match,
// release owned ones that do not, adopt matching orphans -- the latter only
// after a fresh read shows the RS is still there and not being deleted
// (canAdopt), so a pod is never adopted by an RS that is going away.
asio::awaitable<api::ApiResult<std::vector<json>>> ReplicaSetController::claim_pods(json rs,
                                                                                    std::vector<json> pods) {
  std::vector<json> claimed;
  const std::string uid = meta_string(rs, "uid");
  const std::string ns = meta_string(rs, "namespace");
  const std::string name = meta_string(rs, "name");
  bool adoption_checked = false;
  for (auto& pod : pods) {
    const json* ref = controller_ref(pod);
    const bool match = selects(rs, pod);
    if (ref != nullptr) {
      if (ref->value("uid", "") != uid) continue;  // someone else's
      if (match) {
        claimed.push_back(std::move(pod));
        continue;
      }
      if (is_terminating(rs)) continue;
      json patch = json::object();
      json drop = json::object();
      drop["$patch"] = "delete";
      drop["uid"] = uid;
      json drops = json::array();
      drops.push_back(std::move(drop));
      patch["metadata"]["ownerReferences"] = std::move(drops);
      patch["metadata"]["uid"] = meta_string(pod, "uid");
      log::info(kLog, "releasing pod {}/{} from {}/{}", ns, meta_string(pod, "name"), ns, name);
      auto released = co_await client_.patch(pods_resource(), ns, meta_string(pod, "name"),
                                             client::PatchType::kStrategicMergePatch, patch.dump(), "");
      if (!released && !client::is_not_found(released.error())) co_return released.error();
      continue;
    }
    if (!match || is_terminating(rs) || is_terminating(pod)) continue;
    if (!adoption_checked) {
      auto fresh = co_await client_.get(replicasets_resource(), ns, name);
      if (!fresh) co_return fresh.error();
      if (meta_string(*fresh, "uid") != uid || is_terminating(*fresh))
        co_return api::internal_error(
            fmt::format("{}/{} cannot adopt: it is gone or being deleted", ns, name));
      adoption_checked = true;
    }
    json patch = json::object();
    json refs = json::array();
    refs.push_back(make_controller_ref(rs, kApiVersion, kKind));
    patch["metadata"]["ownerReferences"] = std::move(refs);
    patch["metadata"]["uid"] = meta_string(pod, "uid");
    // The version we judged it by: if the pod changed since, judge again.
    patch["metadata"]["resourceVersion"] = client::resource_version_of(pod);
    log::info(kLog, "adopting pod {}/{} into {}/{}", ns, meta_string(pod, "name"), ns, name);
    auto adopted = co_await client_.patch(pods_resource(), ns, meta_string(pod, "name"),
                                          client::PatchType::kStrategicMergePatch, patch.dump(), "");
    if (!adopted) {
      if (client::is_not_found(adopted.error())) continue;
      co_return adopted.error();
    }
    claimed.push_back(std::move(*adopted));
  }
  co_return claimed;
}

asio::awaitable<api::ApiResult<void>> ReplicaSetController::manage_replicas(json rs, std::vector<json> pods) {
  const int64_t replicas = spec_int(rs, "replicas", 1);
  const int64_t diff = static_cast<int64_t>(pods.size()) - replicas;
  if (diff < 0) {
    const int count = static_cast<int>(std::min<int64_t>(-diff, options_.burst_replicas));
    log::info(kLog, "too few replicas for {}: need {}, creating {}", key_of(rs), replicas, count);
    co_return co_await create_pods(rs, count);
  }
  if (diff > 0) {
    const int count = static_cast<int>(std::min<int64_t>(diff, options_.burst_replicas));
    log::info(kLog, "too many replicas for {}: need {}, deleting {}", key_of(rs), replicas, count);
    co_return co_await delete_pods(rs, pods_to_delete(std::move(pods), count));
  }
  co_return api::ApiResult<void>();
}

namespace {

struct BatchOutcome {
  int succeeded = 0;
  std::optional<api::ApiError> error;
};

asio::awaitable<void> create_one(client::Client* client, json pod, BatchOutcome* outcome) {
  const std::string ns = meta_string(pod, "namespace");
  auto created = co_await client->create(pods_resource(), ns, std::move(pod));
  if (created) {
    ++outcome->succeeded;
  } else if (!outcome->error) {
    outcome->error = created.error();
  }
}

asio::awaitable<void> delete_one(client::Client* client, Expectations* expectations, std::string rs_key,
                                 json pod, BatchOutcome* outcome) {
  const std::string ns = meta_string(pod, "namespace");
  const std::string name = meta_string(pod, "name");
  auto deleted = co_await client->remove(pods_resource(), ns, name, client::DeleteOptions());
  if (deleted) {
    ++outcome->succeeded;
    co_return;
  }
  // The informer will not see a delete that did not happen.
  expectations->deletion_observed(rs_key, key_of(pod));
  if (!client::is_not_found(deleted.error()) && !outcome->error) outcome->error = deleted.error();
}

}  // namespace

// Upstream slowStartBatch: create in batches of 1, 2, 4, ... concurrently
// within a batch, and stop after the first batch with a failure, so a
// quota or admission error costs one request rather than `count`.
asio::awaitable<api::ApiResult<void>> ReplicaSetController::create_pods(json rs, int count) {
  const std::string key = key_of(rs);
  expectations_.expect_creations(key, count);
  BatchOutcome outcome;
  const json pod = pod_from_template(rs);
  for (int size : slow_start_batches(count, options_.slow_start_initial)) {
    WaitGroup group(client_.executor());
    for (int i = 0; i < size; ++i) group.spawn(create_one(&client_, pod, &outcome));
    co_await group.wait();
    if (outcome.error) break;
  }
  // Creations that were skipped or failed will never be observed.
  for (int skipped = count - outcome.succeeded; skipped > 0; --skipped) expectations_.creation_observed(key);
  if (outcome.error) co_return *outcome.error;
  co_return api::ApiResult<void>();
}

asio::awaitable<api::ApiResult<void>> ReplicaSetController::delete_pods(json rs, std::vector<json> victims) {
  const std::string key = key_of(rs);
  std::vector<std::string> pod_keys;
  pod_keys.reserve(victims.size());
  for (const auto& pod : victims) pod_keys.push_back(key_of(pod));
  expectations_.expect_deletions(key, pod_keys);
  BatchOutcome outcome;
  WaitGroup group(client_.executor());
  for (auto& pod : victims) group.spawn(delete_one(&client_, &expectations_, key, std::move(pod), &outcome));
  co_await group.wait();
  if (outcome.error) co_return *outcome.error;
  co_return api::ApiResult<void>();
}

// Upstream updateReplicaSetStatus: write only when a counted field changed.
// The write carries the cached resourceVersion; a 409 fails the sync, which
// is retried with backoff once the cache has caught up.
asio::awaitable<api::ApiResult<void>> ReplicaSetController::update_status(json rs, json status) {
  json current = rs.value("status", json::object());
  bool changed = false;
  for (const auto& [field, value] : status.items()) {
    if (!current.contains(field) || current[field] != value) changed = true;
    current[field] = value;
  }
  if (!changed) co_return api::ApiResult<void>();
  rs["status"] = std::move(current);
  auto written = co_await client_.update_status(replicasets_resource(), meta_string(rs, "namespace"), rs);
  if (!written) co_return written.error();
  co_return api::ApiResult<void>();
}

}  // namespace shakeout::controller
