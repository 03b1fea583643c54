#pragma once
// Helpers over Pod and owner JSON shared by the controllers, each the
// counterpart of an upstream helper named in its comment.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace shakeout::controller {

using json = nlohmann::json;
using WallTime = std::chrono::system_clock::time_point;

// .spec, or an empty object if absent.
const json& spec_of(const json& object);
// metadata.<field> as a string, "" if absent.
std::string meta_string(const json& object, const char* field);
// metadata.labels, or null if absent.
const json* labels_of(const json& object);
// The ownerReference with controller=true, or null (metav1.GetControllerOf).
const json* controller_ref(const json& object);
// An ownerReference to `owner` (metav1.NewControllerRef): controller and
// blockOwnerDeletion true.
json make_controller_ref(const json& owner, const std::string& api_version, const std::string& kind);

bool is_terminating(const json& object);  // deletionTimestamp set
// Not terminating and not in phase Succeeded/Failed (controller.IsPodActive).
bool is_pod_active(const json& pod);
// Phase Succeeded or Failed (podutil.IsPodTerminal).
bool is_pod_terminal(const json& pod);
// The Ready condition is True (podutil.IsPodReady).
bool is_pod_ready(const json& pod);
// Ready for at least min_ready_seconds at `now` (podutil.IsPodAvailable):
// with 0, ready is available; otherwise the Ready condition's
// lastTransitionTime must be that far in the past.
bool is_pod_available(const json& pod, int64_t min_ready_seconds, WallTime now);
// intstr.GetScaledValueFromIntOrPercent: a number as is, "N%" of total
// rounded up or down; nullopt for anything else (maxSurge, maxUnavailable,
// a PodDisruptionBudget's minAvailable / maxUnavailable).
std::optional<int64_t> scaled_value(const json& int_or_percent, int64_t total, bool round_up);
// status.podIP, else the first status.podIPs[].ip, else "".
std::string pod_ip(const json& pod);

// The order in which surplus pods are deleted (controller.ActivePods' Less,
// pkg/controller/controller_utils.go, without the co-location ranks):
// unscheduled < scheduled; Pending < Unknown < Running; not ready < ready;
// ready for less time < longer; more container restarts < fewer; newer <
// older. True if `a` should go before `b`.
bool delete_first(const json& a, const json& b);

}  // namespace shakeout::controller
