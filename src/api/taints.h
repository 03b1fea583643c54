#pragma once
// Taints and tolerations by upstream's rules, shared by the scheduler and
// the taint eviction controller.

#include <nlohmann/json.hpp>

namespace shakeout::api {

// Whether one toleration tolerates one taint
// (k8s.io/api/core/v1/toleration.go ToleratesTaint): an empty effect matches
// every effect, an empty key matches every key, operator Exists matches any
// value and Equal (or "") the same value; any other operator matches nothing.
bool tolerates(const nlohmann::json& toleration, const nlohmann::json& taint);
// Some toleration in `tolerations` (an array, or null) tolerates `taint`.
bool tolerations_tolerate(const nlohmann::json& tolerations, const nlohmann::json& taint);

}  // namespace shakeout::api
