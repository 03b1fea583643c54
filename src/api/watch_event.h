#pragma once
// The event types of a Kubernetes watch stream (metav1.WatchEvent.type), as
// the server writes them and clients read them.

#include <optional>
#include <string_view>

namespace shakeout::api {

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

// "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR".
const char* to_string(WatchEventType type);
// The type named `name` exactly as upstream spells it; nullopt otherwise.
std::optional<WatchEventType> parse_watch_event_type(std::string_view name);

}  // namespace shakeout::api
