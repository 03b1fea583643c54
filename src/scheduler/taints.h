#pragma once
// Taints and tolerations as the scheduler reads them.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "api/taints.h"

namespace shakeout::scheduler {

using json = nlohmann::json;

// The taint a cordoned node behaves as if it had (spec.unschedulable).
inline constexpr const char* kTaintUnschedulable = "node.kubernetes.io/unschedulable";

// tolerates / tolerations_tolerate: api/taints.h.
using api::tolerates;
using api::tolerations_tolerate;
// The first taint with effect NoSchedule or NoExecute that no toleration
// tolerates (upstream taint_toleration.go Filter; PreferNoSchedule is only a
// preference and never filters).
std::optional<json> find_untolerated_taint(const json& taints, const json& tolerations);
// "{key: value}" as the scheduler's messages print a taint.
std::string describe_taint(const json& taint);

}  // namespace shakeout::scheduler
