#include "controller/deployment_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <set>

#include "api/store.h"

namespace shakeout::controller {
namespace {

const json& field_or_empty(const json& object, const char* field) {
  static const json kEmpty = json::object();
  const auto found = object.find(field);
  return found != object.end() && found->is_object() ? *found : kEmpty;
}

int64_t int_at(const json& object, const char* field, int64_t fallback) {
  const auto found = object.find(field);
  return found != object.end() && found->is_number_integer() ? found->get<int64_t>() : fallback;
}

std::optional<int64_t> parse_int(const std::string& text) {
  int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

std::string annotation(const json& object, const char* key) {
  const json& annotations = field_or_empty(field_or_empty(object, "metadata"), "annotations");
  const auto found = annotations.find(key);
  return found != annotations.end() && found->is_string() ? found->get<std::string>() : "";
}

json& annotations_of(json& object) {
  json& meta = object["metadata"];
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) meta["annotations"] = json::object();
  return meta["annotations"];
}

std::string created(const json& object) {
  const json& meta = field_or_empty(object, "metadata");
  return meta.value("creationTimestamp", "");
}

// controller.ReplicaSetsByCreationTimestamp: older first, then by name.
bool older(const json& a, const json& b) {
  const std::string ta = created(a);
  const std::string tb = created(b);
  if (ta != tb) return ta < tb;
  return meta_string(a, "name") < meta_string(b, "name");
}

const json& strategy_of(const json& deployment) {
  return field_or_empty(spec_of(deployment), "strategy");
}

constexpr int64_t kMaxInt32 = INT32_MAX;
// Upstream MaxRevHistoryLengthInChars.
constexpr std::size_t kMaxRevisionHistoryChars = 2000;

bool skip_copy_annotation(const std::string& key) {
  static const std::set<std::string> kSkipped = {"kubectl.kubernetes.io/last-applied-configuration",
                                                 kRevisionAnnotation,
                                                 kRevisionHistoryAnnotation,
                                                 kDesiredReplicasAnnotation,
                                                 kMaxReplicasAnnotation,
                                                 "deprecated.deployment.rollback.to"};
  return kSkipped.contains(key);
}

json template_without_hash(json pod_template) {
  if (pod_template.contains("metadata") && pod_template["metadata"].contains("labels")) {
    json& labels = pod_template["metadata"]["labels"];
    if (labels.is_object()) labels.erase(kPodTemplateHashLabel);
    if (labels.empty()) pod_template["metadata"].erase("labels");
  }
  return pod_template;
}

}  // namespace

std::string safe_encode_string(const std::string& text) {
  static constexpr std::string_view kAlphanums = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) out.push_back(kAlphanums[c % kAlphanums.size()]);
  return out;
}

std::string compute_hash(const json& pod_template, std::optional<int64_t> collision_count) {
  uint32_t hash = 2166136261u;  // FNV-1a 32 offset basis
  auto mix = [&hash](unsigned char byte) {
    hash ^= byte;
    hash *= 16777619u;
  };
  for (unsigned char c : pod_template.dump()) mix(c);
  if (collision_count) {
    const auto count = static_cast<uint32_t>(*collision_count);
    for (int i = 0; i < 8; ++i) mix(i < 4 ? static_cast<unsigned char>((count >> (8 * i)) & 0xffu) : 0);
  }
  return safe_encode_string(std::to_string(hash));
}

bool equal_ignore_hash(const json& a, const json& b) {
  return template_without_hash(a) == template_without_hash(b);
}

int64_t spec_replicas(const json& object) {
  return int_at(spec_of(object), "replicas", 1);
}

int64_t status_int(const json& object, const char* field) {
  return int_at(field_or_empty(object, "status"), field, 0);
}

bool is_rolling_update(const json& deployment) {
  return strategy_of(deployment).value("type", "RollingUpdate") == "RollingUpdate";
}

bool is_recreate(const json& deployment) {
  return strategy_of(deployment).value("type", "RollingUpdate") == "Recreate";
}

bool has_progress_deadline(const json& deployment) {
  const json& spec = spec_of(deployment);
  const auto found = spec.find("progressDeadlineSeconds");
  return found != spec.end() && found->is_number_integer() && found->get<int64_t>() != kMaxInt32;
}

std::pair<int64_t, int64_t> resolve_fenceposts(const json& max_surge, const json& max_unavailable,
                                               int64_t desired) {
  const int64_t surge = max_surge.is_null() ? 0 : scaled_value(max_surge, desired, true).value_or(0);
  int64_t unavailable =
      max_unavailable.is_null() ? 0 : scaled_value(max_unavailable, desired, false).value_or(0);
  // Rounding down may make both 0, which validation forbids the user to
  // write: surge might be impossible (quota), so allow one unavailable.
  if (surge == 0 && unavailable == 0) unavailable = 1;
  return {surge, unavailable};
}

namespace {
std::pair<int64_t, int64_t> fenceposts(const json& deployment) {
  const json& rolling = field_or_empty(strategy_of(deployment), "rollingUpdate");
  return resolve_fenceposts(rolling.value("maxSurge", json()), rolling.value("maxUnavailable", json()),
                            spec_replicas(deployment));
}
}  // namespace

int64_t max_surge(const json& deployment) {
  if (!is_rolling_update(deployment)) return 0;
  return fenceposts(deployment).first;
}

int64_t max_unavailable(const json& deployment) {
  const int64_t replicas = spec_replicas(deployment);
  if (!is_rolling_update(deployment) || replicas == 0) return 0;
  return std::min(fenceposts(deployment).second, replicas);
}

int64_t revision_of(const json& replicaset) {
  return parse_int(annotation(replicaset, kRevisionAnnotation)).value_or(0);
}

int64_t max_revision(const std::vector<json>& replicasets) {
  int64_t max = 0;
  for (const auto& rs : replicasets) max = std::max(max, revision_of(rs));
  return max;
}

bool set_replicas_annotations(json& replicaset, int64_t desired, int64_t max) {
  json& annotations = annotations_of(replicaset);
  bool changed = false;
  for (const auto& [key, value] :
       {std::pair{kDesiredReplicasAnnotation, desired}, std::pair{kMaxReplicasAnnotation, max}}) {
    const std::string text = std::to_string(value);
    if (annotations.value(key, "") != text) {
      annotations[key] = text;
      changed = true;
    }
  }
  return changed;
}

bool replicas_annotations_need_update(const json& replicaset, int64_t desired, int64_t max) {
  return annotation(replicaset, kDesiredReplicasAnnotation) != std::to_string(desired) ||
         annotation(replicaset, kMaxReplicasAnnotation) != std::to_string(max);
}

std::optional<int64_t> desired_replicas_annotation(const json& replicaset) {
  return parse_int(annotation(replicaset, kDesiredReplicasAnnotation));
}

bool set_new_replicaset_annotations(const json& deployment, json& replicaset, int64_t new_revision,
                                    bool exists) {
  bool changed = false;
  json& annotations = annotations_of(replicaset);
  const json& deploy_annotations = field_or_empty(field_or_empty(deployment, "metadata"), "annotations");
  for (const auto& [key, value] : deploy_annotations.items()) {
    if (skip_copy_annotation(key) || (annotations.contains(key) && annotations[key] == value)) continue;
    annotations[key] = value;
    changed = true;
  }
  const bool had_revision = annotations.contains(kRevisionAnnotation);
  const std::string old_text = annotations.value(kRevisionAnnotation, "");
  const auto old_parsed = parse_int(old_text);
  if (!old_parsed && !old_text.empty()) return false;  // upstream gives up on a malformed revision
  const int64_t old_revision = old_parsed.value_or(0);
  if (old_revision < new_revision) {
    annotations[kRevisionAnnotation] = std::to_string(new_revision);
    changed = true;
    // An RS that had a revision and gets a newer one is being rolled back
    // to: keep its earlier revisions, within MaxRevHistoryLengthInChars.
    if (had_revision) {
      std::string history = annotations.value(kRevisionHistoryAnnotation, "");
      std::vector<std::string> revisions;
      for (std::size_t start = 0; !history.empty() && start <= history.size();) {
        const std::size_t comma = history.find(',', start);
        revisions.push_back(
            history.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      std::size_t total = history.size() + old_text.size() + 1;
      std::size_t first = 0;
      while (total > kMaxRevisionHistoryChars && first < revisions.size())
        total -= revisions[first++].size() + 1;
      if (total <= kMaxRevisionHistoryChars) {
        std::string joined;
        for (std::size_t i = first; i < revisions.size(); ++i) joined += revisions[i] + ",";
        annotations[kRevisionHistoryAnnotation] = joined + old_text;
      }
    }
  }
  if (!exists) {
    const int64_t replicas = spec_replicas(deployment);
    if (set_replicas_annotations(replicaset, replicas, replicas + max_surge(deployment))) changed = true;
  }
  return changed;
}

json new_replicaset_for(const json& deployment, const std::string& hash) {
  const json& spec = spec_of(deployment);
  json pod_template = spec.value("template", json::object());
  pod_template["metadata"]["labels"][kPodTemplateHashLabel] = hash;
  json selector = spec.value("selector", json::object());
  selector["matchLabels"][kPodTemplateHashLabel] = hash;
  json rs = json::object();
  rs["apiVersion"] = "apps/v1";
  rs["kind"] = "ReplicaSet";
  rs["metadata"]["name"] = meta_string(deployment, "name") + "-" + hash;
  rs["metadata"]["namespace"] = meta_string(deployment, "namespace");
  rs["metadata"]["labels"] = pod_template["metadata"]["labels"];
  rs["metadata"]["ownerReferences"] = json::array({make_controller_ref(deployment, "apps/v1", "Deployment")});
  rs["spec"]["replicas"] = 0;
  rs["spec"]["minReadySeconds"] = int_at(spec, "minReadySeconds", 0);
  rs["spec"]["selector"] = std::move(selector);
  rs["spec"]["template"] = std::move(pod_template);
  return rs;
}

std::optional<std::size_t> find_new_replicaset(const json& deployment, const std::vector<json>& replicasets) {
  const json pod_template = spec_of(deployment).value("template", json::object());
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < replicasets.size(); ++i) {
    if (!equal_ignore_hash(spec_of(replicasets[i]).value("template", json::object()), pod_template)) continue;
    // The oldest one, should there be several with the same template.
    if (!found || older(replicasets[i], replicasets[*found])) found = i;
  }
  return found;
}

int64_t replica_count(const std::vector<json>& replicasets) {
  int64_t total = 0;
  for (const auto& rs : replicasets) total += spec_replicas(rs);
  return total;
}

int64_t actual_replica_count(const std::vector<json>& replicasets) {
  int64_t total = 0;
  for (const auto& rs : replicasets) total += status_int(rs, "replicas");
  return total;
}

int64_t ready_replica_count(const std::vector<json>& replicasets) {
  int64_t total = 0;
  for (const auto& rs : replicasets) total += status_int(rs, "readyReplicas");
  return total;
}

int64_t available_replica_count(const std::vector<json>& replicasets) {
  int64_t total = 0;
  for (const auto& rs : replicasets) total += status_int(rs, "availableReplicas");
  return total;
}

std::vector<json> active_replicasets(const std::vector<json>& replicasets) {
  std::vector<json> out;
  for (const auto& rs : replicasets)
    if (spec_replicas(rs) > 0) out.push_back(rs);
  return out;
}

int64_t new_rs_replicas(const json& deployment, const std::vector<json>& all_rss, const json& new_rs) {
  const int64_t replicas = spec_replicas(deployment);
  if (!is_rolling_update(deployment)) return replicas;  // Recreate
  const int64_t max_total = replicas + max_surge(deployment);
  const int64_t current = replica_count(all_rss);
  const int64_t new_size = spec_replicas(new_rs);
  if (current >= max_total) return new_size;
  return new_size + std::min(max_total - current, replicas - new_size);
}

std::vector<std::pair<std::string, int64_t>> plan_old_scale_down(const json& deployment,
                                                                 const std::vector<json>& old_rss,
                                                                 const json& new_rs) {
  std::vector<std::pair<std::string, int64_t>> plan;
  std::vector<json> olds = active_replicasets(old_rss);
  if (replica_count(olds) == 0) return plan;
  std::vector<json> all = olds;
  all.push_back(new_rs);
  const int64_t min_available = spec_replicas(deployment) - max_unavailable(deployment);
  const int64_t new_unavailable = spec_replicas(new_rs) - status_int(new_rs, "availableReplicas");
  const int64_t max_scaled_down = replica_count(all) - min_available - new_unavailable;
  if (max_scaled_down <= 0) return plan;

  // cleanupUnhealthyReplicas: replicas that are not available cost no
  // availability, and left alone they could block the rollout (#16737).
  std::sort(olds.begin(), olds.end(), older);
  int64_t cleaned = 0;
  for (auto& rs : olds) {
    if (cleaned >= max_scaled_down) break;
    const int64_t size = spec_replicas(rs);
    const int64_t available = status_int(rs, "availableReplicas");
    if (size == 0 || size == available) continue;
    const int64_t count = std::min(max_scaled_down - cleaned, size - available);
    rs["spec"]["replicas"] = size - count;
    plan.emplace_back(meta_string(rs, "name"), size - count);
    cleaned += count;
  }

  // scaleDownOldReplicaSetsForRollingUpdate: keep min_available available.
  all = olds;
  all.push_back(new_rs);
  const int64_t available = available_replica_count(all);
  if (available <= min_available) return plan;
  const int64_t to_scale_down = available - min_available;
  int64_t scaled = 0;
  for (auto& rs : olds) {
    if (scaled >= to_scale_down) break;
    const int64_t size = spec_replicas(rs);
    if (size == 0) continue;
    const int64_t count = std::min(size, to_scale_down - scaled);
    const std::string name = meta_string(rs, "name");
    auto existing =
        std::find_if(plan.begin(), plan.end(), [&](const auto& step) { return step.first == name; });
    if (existing != plan.end()) {
      existing->second = size - count;
    } else {
      plan.emplace_back(name, size - count);
    }
    scaled += count;
  }
  return plan;
}

std::vector<std::pair<std::string, int64_t>> plan_scale(const json& deployment, const json* new_rs,
                                                        const std::vector<json>& old_rss) {
  std::vector<std::pair<std::string, int64_t>> plan;
  const int64_t replicas = spec_replicas(deployment);
  std::vector<json> all = old_rss;
  if (new_rs != nullptr) all.push_back(*new_rs);
  std::vector<json> active = active_replicasets(all);

  // FindActiveOrLatest: one active RS (or none: the newest) takes it all.
  if (active.size() <= 1 && !all.empty()) {
    const json* target = nullptr;
    if (active.size() == 1) {
      target = &active[0];
    } else if (new_rs != nullptr) {
      target = new_rs;
    } else {
      target = &*std::max_element(old_rss.begin(), old_rss.end(), older);
    }
    if (spec_replicas(*target) != replicas) plan.emplace_back(meta_string(*target, "name"), replicas);
    return plan;
  }
  if (all.empty()) return plan;

  // IsSaturated: the new RS has every replica available; the old ones go.
  if (new_rs != nullptr && spec_replicas(*new_rs) == replicas &&
      desired_replicas_annotation(*new_rs) == replicas &&
      status_int(*new_rs, "availableReplicas") == replicas) {
    for (const auto& rs : active_replicasets(old_rss)) plan.emplace_back(meta_string(rs, "name"), 0);
    return plan;
  }
  if (!is_rolling_update(deployment)) return plan;

  const int64_t surge = max_surge(deployment);
  const int64_t allowed = replicas > 0 ? replicas + surge : 0;
  const int64_t to_add = allowed - replica_count(active);
  // Largest first; among equals newer first when growing, older first
  // when shrinking (ReplicaSetsBySizeNewer / BySizeOlder).
  std::sort(active.begin(), active.end(), [to_add](const json& a, const json& b) {
    if (spec_replicas(a) != spec_replicas(b)) return spec_replicas(a) > spec_replicas(b);
    return to_add > 0 ? older(b, a) : older(a, b);
  });
  std::vector<int64_t> sizes;
  int64_t added = 0;
  for (const auto& rs : active) {
    const int64_t size = spec_replicas(rs);
    int64_t proportion = 0;
    // GetProportion / getReplicaSetFraction.
    if (to_add != 0 && size != 0 && to_add != added) {
      int64_t fraction = -size;
      if (replicas != 0) {
        int64_t before = parse_int(annotation(rs, kMaxReplicasAnnotation)).value_or(0);
        if (before == 0) before = status_int(deployment, "replicas");
        fraction = before == 0
                       ? 0
                       : static_cast<int64_t>(std::round(static_cast<double>(size * (replicas + surge)) /
                                                         static_cast<double>(before))) -
                             size;
      }
      const int64_t remaining = to_add - added;
      proportion = to_add > 0 ? std::min(fraction, remaining) : std::max(fraction, remaining);
    }
    sizes.push_back(size + proportion);
    added += proportion;
  }
  for (std::size_t i = 0; i < active.size(); ++i) {
    if (i == 0 && to_add != 0) sizes[0] = std::max<int64_t>(sizes[0] + to_add - added, 0);
    // Written even when the size stays: the replicas annotations move on.
    plan.emplace_back(meta_string(active[i], "name"), sizes[i]);
  }
  return plan;
}

json new_condition(const std::string& type, const std::string& status, const std::string& reason,
                   const std::string& message, WallTime now) {
  const std::string time = api::format_timestamp(now);
  return json{{"type", type},     {"status", status},  {"lastUpdateTime", time}, {"lastTransitionTime", time},
              {"reason", reason}, {"message", message}};
}

const json* get_condition(const json& status, const std::string& type) {
  const auto conditions = status.find("conditions");
  if (conditions == status.end() || !conditions->is_array()) return nullptr;
  for (const auto& condition : *conditions)
    if (condition.value("type", "") == type) return &condition;
  return nullptr;
}

void remove_condition(json& status, const std::string& type) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) return;
  json kept = json::array();
  for (const auto& condition : status["conditions"])
    if (condition.value("type", "") != type) kept.push_back(condition);
  status["conditions"] = std::move(kept);
}

void set_condition(json& status, json condition) {
  const std::string type = condition.value("type", "");
  if (const json* current = get_condition(status, type)) {
    if ((*current)["status"] == condition["status"] &&
        current->value("reason", "") == condition.value("reason", ""))
      return;
    if ((*current)["status"] == condition["status"])
      condition["lastTransitionTime"] = current->value("lastTransitionTime", json());
  }
  remove_condition(status, type);
  if (!status.contains("conditions") || !status["conditions"].is_array())
    status["conditions"] = json::array();
  status["conditions"].push_back(std::move(condition));
}

json calculate_status(const json& deployment, const std::vector<json>& all_rss, const json* new_rs,
                      WallTime now) {
  const int64_t available = available_replica_count(all_rss);
  const int64_t unavailable = std::max<int64_t>(replica_count(all_rss) - available, 0);
  const json& old_status = field_or_empty(deployment, "status");
  json status = json::object();
  status["observedGeneration"] = int_at(field_or_empty(deployment, "metadata"), "generation", 0);
  status["replicas"] = actual_replica_count(all_rss);
  status["updatedReplicas"] = new_rs != nullptr ? status_int(*new_rs, "replicas") : 0;
  status["readyReplicas"] = ready_replica_count(all_rss);
  status["availableReplicas"] = available;
  status["unavailableReplicas"] = unavailable;
  if (old_status.contains("collisionCount")) status["collisionCount"] = old_status["collisionCount"];
  if (old_status.contains("conditions")) status["conditions"] = old_status["conditions"];
  if (available >= spec_replicas(deployment) - max_unavailable(deployment)) {
    set_condition(status, new_condition("Available", "True", kMinimumReplicasAvailable,
                                        "Deployment has minimum availability.", now));
  } else {
    set_condition(status, new_condition("Available", "False", kMinimumReplicasUnavailable,
                                        "Deployment does not have minimum availability.", now));
  }
  return status;
}

bool deployment_complete(const json& deployment, const json& new_status) {
  const int64_t replicas = spec_replicas(deployment);
  return new_status.value("updatedReplicas", int64_t{0}) == replicas &&
         new_status.value("replicas", int64_t{0}) == replicas &&
         new_status.value("availableReplicas", int64_t{0}) == replicas &&
         new_status.value("observedGeneration", int64_t{0}) >=
             int_at(field_or_empty(deployment, "metadata"), "generation", 0);
}

bool deployment_progressing(const json& deployment, const json& new_status) {
  const json& old = field_or_empty(deployment, "status");
  auto get = [](const json& status, const char* field) { return status.value(field, int64_t{0}); };
  const int64_t old_old_replicas = get(old, "replicas") - get(old, "updatedReplicas");
  const int64_t new_old_replicas = get(new_status, "replicas") - get(new_status, "updatedReplicas");
  return get(new_status, "updatedReplicas") > get(old, "updatedReplicas") ||
         new_old_replicas < old_old_replicas ||
         get(new_status, "readyReplicas") > get(old, "readyReplicas") ||
         get(new_status, "availableReplicas") > get(old, "availableReplicas");
}

namespace {
std::optional<WallTime> last_update(const json& condition) {
  return api::parse_timestamp(condition.value("lastUpdateTime", ""));
}
}  // namespace

bool deployment_timed_out(const json& deployment, const json& new_status, WallTime now) {
  if (!has_progress_deadline(deployment)) return false;
  const json* condition = get_condition(new_status, "Progressing");
  if (condition == nullptr) return false;
  // A finished rollout cannot time out; a timed-out one stays so.
  const std::string reason = condition->value("reason", "");
  if (reason == kNewRSAvailableReason) return false;
  if (reason == kTimedOutReason) return true;
  const auto from = last_update(*condition);
  if (!from) return false;
  const auto deadline = std::chrono::seconds(int_at(spec_of(deployment), "progressDeadlineSeconds", 600));
  return *from + deadline < now;
}

void update_progressing(const json& deployment, const json* new_rs, json& new_status, WallTime now) {
  if (!has_progress_deadline(deployment)) remove_condition(new_status, "Progressing");
  const json* current = get_condition(field_or_empty(deployment, "status"), "Progressing");
  // One active RS and nothing to roll out: a resync, no progress to judge.
  const bool complete =
      new_status.value("replicas", int64_t{0}) == new_status.value("updatedReplicas", int64_t{0}) &&
      current != nullptr && current->value("reason", "") == kNewRSAvailableReason;
  if (!has_progress_deadline(deployment) || complete) return;
  const std::string name = meta_string(deployment, "name");
  const std::string subject = new_rs != nullptr
                                  ? fmt::format("ReplicaSet \"{}\"", meta_string(*new_rs, "name"))
                                  : fmt::format("Deployment \"{}\"", name);
  if (deployment_complete(deployment, new_status)) {
    set_condition(new_status, new_condition("Progressing", "True", kNewRSAvailableReason,
                                            subject + " has successfully progressed.", now));
  } else if (deployment_progressing(deployment, new_status)) {
    // Unlike set_condition, a new sign of progress with the same reason
    // must move lastUpdateTime (progress.go).
    json condition =
        new_condition("Progressing", "True", kReplicaSetUpdatedReason, subject + " is progressing.", now);
    if (current != nullptr) {
      if (current->value("status", "") == "True")
        condition["lastTransitionTime"] = current->value("lastTransitionTime", json());
      remove_condition(new_status, "Progressing");
    }
    set_condition(new_status, std::move(condition));
  } else if (deployment_timed_out(deployment, new_status, now)) {
    set_condition(new_status, new_condition("Progressing", "False", kTimedOutReason,
                                            subject + " has timed out progressing.", now));
  }
}

std::optional<Millis> stuck_requeue_after(const json& deployment, const json& new_status, WallTime now) {
  const json* current = get_condition(field_or_empty(deployment, "status"), "Progressing");
  if (!has_progress_deadline(deployment) || current == nullptr) return std::nullopt;
  if (deployment_complete(deployment, new_status) || current->value("reason", "") == kTimedOutReason)
    return std::nullopt;
  const auto from = last_update(*current);
  if (!from) return std::nullopt;
  const auto deadline = std::chrono::seconds(int_at(spec_of(deployment), "progressDeadlineSeconds", 600));
  const auto after = std::chrono::duration_cast<Millis>(*from + deadline - now);
  if (after < Millis(1000)) return Millis(0);
  return after + Millis(1000);
}

std::vector<json> replicasets_to_clean_up(const json& deployment, const std::vector<json>& old_rss) {
  std::vector<json> out;
  const json& spec = spec_of(deployment);
  if (!spec.contains("revisionHistoryLimit") || !spec["revisionHistoryLimit"].is_number_integer()) return out;
  std::vector<json> cleanable;
  for (const auto& rs : old_rss)
    if (!is_terminating(rs)) cleanable.push_back(rs);
  const int64_t diff = static_cast<int64_t>(cleanable.size()) - spec["revisionHistoryLimit"].get<int64_t>();
  if (diff <= 0) return out;
  // ReplicaSetsByRevision: lowest revision first, then older.
  std::sort(cleanable.begin(), cleanable.end(), [](const json& a, const json& b) {
    if (revision_of(a) != revision_of(b)) return revision_of(a) < revision_of(b);
    return older(a, b);
  });
  for (int64_t i = 0; i < diff; ++i) {
    const json& rs = cleanable[static_cast<std::size_t>(i)];
    // Only RSs whose scale-down is done and observed.
    if (status_int(rs, "replicas") != 0 || spec_replicas(rs) != 0 ||
        int_at(field_or_empty(rs, "metadata"), "generation", 0) > status_int(rs, "observedGeneration"))
      continue;
    out.push_back(rs);
  }
  return out;
}

}  // namespace shakeout::controller
