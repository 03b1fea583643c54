#pragma once
// Taints and tolerations as the scheduler reads them.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace shakeout::scheduler {

using json = nlohmann::json;

// The taint a cordoned node behaves as if it had (spec.unschedulable).
inline constexpr const char* kTaintUnschedulable = "node.kubernetes.io/unschedulable";

// Whether one toleration tolerates one taint, by upstream's rules
// (k8s.io/api/core/v1/toleration.go ToleratesTaint): an empty effect matches
// every effect, an empty key matches every key, operator Exists matches any
// value and Equal (or "") the same value; any other operator matches nothing.
bool tolerates(const json& toleration, const json& taint);
// Some toleration in `tolerations` (an array, or null) tolerates `taint`.
bool tolerations_tolerate(const json& tolerations, const json& taint);
// The first taint with effect NoSchedule or NoExecute that no toleration
// tolerates (upstream taint_toleration.go Filter; PreferNoSchedule is only a
// preference and never filters).
std::optional<json> find_untolerated_taint(const json& taints, const json& tolerations);
// "{key: value}" as the scheduler's messages print a taint.
std::string describe_taint(const json& taint);

}  // namespace shakeout::scheduler
