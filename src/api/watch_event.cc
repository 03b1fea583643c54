#include "api/watch_event.h"
#include <utility>

#include <array>

namespace shakeout::api {
namespace {

constexpr std::array<std::pair<WatchEventType, const char*>, 5> kNames = {{
    {WatchEventType::kAdded, "ADDED"},
    {WatchEventType::kModified, "MODIFIED"},
    {WatchEventType::kDeleted, "DELETED"},
    {WatchEventType::kBookmark, "BOOKMARK"},
    {WatchEventType::kError, "ERROR"},
}};

}  // namespace

const char* to_string(WatchEventType type) {
  for (const auto& [value, name] : kNames) {
    if (value == type) return name;
  }
  return "ERROR";
}

std::optional<WatchEventType> parse_watch_event_type(std::string_view name) {
  for (const auto& [value, text] : kNames) {
    if (name == text) return value;
  }
  return std::nullopt;
}

}  // namespace shakeout::api
