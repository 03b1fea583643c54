#pragma once
// The Deployment controller's pure rules, each the counterpart of an
// upstream helper (pkg/controller/deployment/util/deployment_util.go unless
// a comment names another file). They take and return JSON objects and
// plain numbers so unit tests can drive them without a cluster; the
// controller (deployment.h) turns their answers into API writes.
//
//   template ──► compute_hash ──► "<deploy>-<hash>" RS, label pod-template-hash
//   strategy ──► resolve_fenceposts / max_surge / max_unavailable
//   RSs ──► new_rs_replicas (scale up) / plan_old_scale_down (scale down)
//        ──► plan_proportional_scale (spec.replicas changed mid-rollout)
//        ──► calculate_status ──► progressing / timed_out / complete
//
// Replica counts are int64_t; JSON fields absent from an object count as
// the API defaults (replicas 1, strategy RollingUpdate 25%/25%).

#include <utility>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "controller/pod_util.h"

namespace shakeout::controller {

inline constexpr const char* kPodTemplateHashLabel = "pod-template-hash";
inline constexpr const char* kRevisionAnnotation = "deployment.kubernetes.io/revision";
inline constexpr const char* kRevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";
inline constexpr const char* kDesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas";
inline constexpr const char* kMaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas";

// Condition reasons (deployment_util.go).
inline constexpr const char* kNewRSReason = "NewReplicaSetCreated";
inline constexpr const char* kFoundNewRSReason = "FoundNewReplicaSet";
inline constexpr const char* kReplicaSetUpdatedReason = "ReplicaSetUpdated";
inline constexpr const char* kNewRSAvailableReason = "NewReplicaSetAvailable";
inline constexpr const char* kTimedOutReason = "ProgressDeadlineExceeded";
inline constexpr const char* kPausedDeployReason = "DeploymentPaused";
inline constexpr const char* kResumedDeployReason = "DeploymentResumed";
inline constexpr const char* kFailedRSCreateReason = "ReplicaSetCreateError";
inline constexpr const char* kMinimumReplicasAvailable = "MinimumReplicasAvailable";
inline constexpr const char* kMinimumReplicasUnavailable = "MinimumReplicasUnavailable";

// rand.SafeEncodeString: each byte mapped onto "bcdfghjklmnpqrstvwxz2456789".
std::string safe_encode_string(const std::string& text);
// controller.ComputeHash: FNV-1a 32 over the template (its canonical JSON,
// keys sorted; upstream hashes the Go struct dump) followed, when set, by
// the collision count as 8 little-endian bytes (the upper 4 zero), printed
// in decimal and safe-encoded.
std::string compute_hash(const json& pod_template, std::optional<int64_t> collision_count);
// EqualIgnoreHash: templates equal once the pod-template-hash label (and an
// emptied labels map) is removed from both.
bool equal_ignore_hash(const json& a, const json& b);

int64_t spec_replicas(const json& object);                  // spec.replicas, default 1
int64_t status_int(const json& object, const char* field);  // status.<field>, default 0
bool is_rolling_update(const json& deployment);
bool is_recreate(const json& deployment);
// progressDeadlineSeconds set and not MaxInt32 (HasProgressDeadline).
bool has_progress_deadline(const json& deployment);

// (scaled_value, intstr.GetScaledValueFromIntOrPercent, is in pod_util.h.)
// ResolveFenceposts: {surge (rounded up), unavailable (rounded down)}; both
// 0 makes unavailable 1. Absent values count as 0.
std::pair<int64_t, int64_t> resolve_fenceposts(const json& max_surge, const json& max_unavailable,
                                               int64_t desired);
// MaxSurge: 0 unless RollingUpdate.
int64_t max_surge(const json& deployment);
// MaxUnavailable: 0 unless RollingUpdate with replicas > 0; at most replicas.
int64_t max_unavailable(const json& deployment);

// The revision annotation as a number, 0 when absent or malformed.
int64_t revision_of(const json& replicaset);
int64_t max_revision(const std::vector<json>& replicasets);

// SetNewReplicaSetAnnotations: copies the deployment's annotations (except
// the revision/replicas/last-applied ones), raises the RS's revision to
// `new_revision` when lower (recording the old one in revision-history, a
// rollback), and for an RS about to be created sets desired/max replicas.
// True when an annotation changed.
bool set_new_replicaset_annotations(const json& deployment, json& replicaset, int64_t new_revision,
                                    bool exists);
// SetReplicasAnnotations / ReplicasAnnotationsNeedUpdate.
bool set_replicas_annotations(json& replicaset, int64_t desired, int64_t max);
bool replicas_annotations_need_update(const json& replicaset, int64_t desired, int64_t max);
std::optional<int64_t> desired_replicas_annotation(const json& replicaset);

// The RS a deployment creates for its template (getNewReplicaSet): name
// "<deploy>-<hash>", template and selector with the hash label, controller
// ownerReference, spec.replicas 0 (the caller sets it), minReadySeconds.
json new_replicaset_for(const json& deployment, const std::string& hash);

// FindNewReplicaSet: the oldest RS whose template equals the deployment's
// ignoring the hash (index into `replicasets`), or nullopt.
std::optional<std::size_t> find_new_replicaset(const json& deployment, const std::vector<json>& replicasets);

// Sums over spec.replicas / status.replicas / readyReplicas / availableReplicas.
int64_t replica_count(const std::vector<json>& replicasets);
int64_t actual_replica_count(const std::vector<json>& replicasets);
int64_t ready_replica_count(const std::vector<json>& replicasets);
int64_t available_replica_count(const std::vector<json>& replicasets);
// Those with spec.replicas > 0 (FilterActiveReplicaSets).
std::vector<json> active_replicasets(const std::vector<json>& replicasets);

// NewRSNewReplicas: the new RS's size after one scale-up step.
int64_t new_rs_replicas(const json& deployment, const std::vector<json>& all_rss, const json& new_rs);

// reconcileOldReplicaSets (rolling.go) as a plan: the new spec.replicas of
// each old RS (by name) to write, in order; empty when nothing can be
// scaled down. Unhealthy replicas of old RSs go first
// (cleanupUnhealthyReplicas), then available ones while more than
// replicas - maxUnavailable stay available (scaleDownOldReplicaSetsForRollingUpdate).
std::vector<std::pair<std::string, int64_t>> plan_old_scale_down(const json& deployment,
                                                                 const std::vector<json>& old_rss,
                                                                 const json& new_rs);

// scale() (sync.go) as a plan: the new spec.replicas of each RS to write,
// for a spec.replicas change. One active (or, with none, the newest) RS
// takes the whole count; a saturated new RS leaves the old ones at 0;
// otherwise, for RollingUpdate, replicas + maxSurge - current is spread in
// proportion to each active RS's size against its max-replicas annotation,
// the rounding leftover going to the largest. `new_rs` may be null.
std::vector<std::pair<std::string, int64_t>> plan_scale(const json& deployment, const json* new_rs,
                                                        const std::vector<json>& old_rss);

// Conditions (NewDeploymentCondition / SetDeploymentCondition /
// RemoveDeploymentCondition / GetDeploymentCondition).
json new_condition(const std::string& type, const std::string& status, const std::string& reason,
                   const std::string& message, WallTime now);
// Keeps lastTransitionTime when the status does not change; no-op when
// status and reason are both unchanged; otherwise the condition moves to
// the end of the list.
void set_condition(json& status, json condition);
void remove_condition(json& status, const std::string& type);
const json* get_condition(const json& status, const std::string& type);

// calculateStatus (sync.go): counts over the RSs, observedGeneration,
// collisionCount, the conditions carried over, and Available set from
// available >= replicas - maxUnavailable. `new_rs` may be null.
json calculate_status(const json& deployment, const std::vector<json>& all_rss, const json* new_rs,
                      WallTime now);
// DeploymentComplete / DeploymentProgressing / DeploymentTimedOut.
bool deployment_complete(const json& deployment, const json& new_status);
bool deployment_progressing(const json& deployment, const json& new_status);
bool deployment_timed_out(const json& deployment, const json& new_status, WallTime now);
// syncRolloutStatus's condition rules (progress.go) applied to `new_status`
// (from calculate_status): NewReplicaSetAvailable, ReplicaSetUpdated or
// ProgressDeadlineExceeded; Progressing dropped without a deadline.
void update_progressing(const json& deployment, const json* new_rs, json& new_status, WallTime now);
// requeueStuckDeployment: how long until the deadline should be checked
// again; nullopt when no check is needed, 0 for "now" (rate-limited).
std::optional<Millis> stuck_requeue_after(const json& deployment, const json& new_status, WallTime now);

// Old RSs to delete beyond revisionHistoryLimit (cleanupDeployment): the
// lowest revisions first, only those fully scaled down and observed.
std::vector<json> replicasets_to_clean_up(const json& deployment, const std::vector<json>& old_rss);

}  // namespace shakeout::controller
