#pragma once
// Reading fields of API objects that may be missing or of the wrong type
// without throwing: components run on whatever the API server stored.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace shakeout::api {

// object[key], or a null json when `object` is no object or lacks `key`.
inline const nlohmann::json& field(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// object[key] as a string, or "" when absent or not a string.
inline std::string string_field(const nlohmann::json& object, std::string_view key) {
  const auto& value = field(object, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

// object[key] as an integer, or `fallback` when absent or not a number.
inline int64_t int_field(const nlohmann::json& object, std::string_view key, int64_t fallback) {
  const auto& value = field(object, key);
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number()) return static_cast<int64_t>(value.get<double>());
  return fallback;
}

}  // namespace shakeout::api
