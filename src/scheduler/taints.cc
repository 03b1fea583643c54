#include "scheduler/taints.h"

#include <fmt/format.h>

#include "scheduler/fields.h"

namespace shakeout::scheduler {

bool tolerates(const json& toleration, const json& taint) {
  const std::string effect = string_field(toleration, "effect");
  if (!effect.empty() && effect != string_field(taint, "effect")) return false;
  const std::string key = string_field(toleration, "key");
  if (!key.empty() && key != string_field(taint, "key")) return false;
  const std::string op = string_field(toleration, "operator");
  if (op == "Exists") return true;
  if (op.empty() || op == "Equal") return string_field(toleration, "value") == string_field(taint, "value");
  return false;
}

bool tolerations_tolerate(const json& tolerations, const json& taint) {
  if (!tolerations.is_array()) return false;
  for (const auto& toleration : tolerations) {
    if (tolerates(toleration, taint)) return true;
  }
  return false;
}

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
