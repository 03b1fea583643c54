#pragma once
// core/v1 Events as client-go's event recorder writes them, for the
// controllers and the scheduler.

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

namespace shakeout::api {

struct EventSource {
  std::string component;  // source.component and reportingComponent
  std::string instance;   // reportingInstance ("" to leave out)
};

struct EventText {
  std::string type = "Normal";  // Normal | Warning
  std::string reason;
  std::string message;
  std::string action;  // "" to leave out
};

// A new Event about `object` (of `api_version`/`kind`) in its namespace:
// named <object name>.<unix nanoseconds in hex>, count 1, first and last
// timestamps `now`, involvedObject with the object's uid and
// resourceVersion.
nlohmann::json make_event(const nlohmann::json& object, const std::string& api_version,
                          const std::string& kind, const EventText& text, const EventSource& source,
                          std::chrono::system_clock::time_point now);

}  // namespace shakeout::api
