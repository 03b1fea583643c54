#include "scheduler/taints.h"

#include <fmt/format.h>

#include "scheduler/fields.h"

namespace shakeout::scheduler {

std::optional<json> find_untolerated_taint(const json& taints, const json& tolerations) {
  if (!taints.is_array()) return std::nullopt;
  for (const auto& taint : taints) {
    const std::string effect = string_field(taint, "effect");
    if (effect != "NoSchedule" && effect != "NoExecute") continue;
    if (!tolerations_tolerate(tolerations, taint)) return taint;
  }
  return std::nullopt;
}

std::string describe_taint(const json& taint) {
  return fmt::format("{{{}: {}}}", string_field(taint, "key"), string_field(taint, "value"));
}

}  // namespace shakeout::scheduler
