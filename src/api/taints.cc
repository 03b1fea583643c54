#include "api/taints.h"

#include <string>

namespace shakeout::api {
namespace {

std::string text(const nlohmann::json& object, const char* field) {
  if (!object.is_object()) return "";
  auto it = object.find(field);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

bool tolerates(const nlohmann::json& toleration, const nlohmann::json& taint) {
  const std::string effect = text(toleration, "effect");
  if (!effect.empty() && effect != text(taint, "effect")) return false;
  const std::string key = text(toleration, "key");
  if (!key.empty() && key != text(taint, "key")) return false;
  const std::string op = text(toleration, "operator");
  if (op == "Exists") return true;
  if (op.empty() || op == "Equal") return text(toleration, "value") == text(taint, "value");
  return false;
}

bool tolerations_tolerate(const nlohmann::json& tolerations, const nlohmann::json& taint) {
  if (!tolerations.is_array()) return false;
  for (const auto& toleration : tolerations)
    if (tolerates(toleration, taint)) return true;
  return false;
}

}  // namespace shakeout::api
