#include "api/event.h"

#include <fmt/format.h>

#include "api/store.h"

namespace shakeout::api {
namespace {

std::string meta(const nlohmann::json& object, const char* field) {
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return "";
  auto it = m->find(field);
  return it != m->end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

nlohmann::json make_event(const nlohmann::json& object, const std::string& api_version,
                          const std::string& kind, const EventText& text, const EventSource& source,
                          std::chrono::system_clock::time_point now) {
  const std::string name = meta(object, "name");
  const std::string ns = meta(object, "namespace");
  const std::string stamp = format_timestamp(now);
  nlohmann::json event = nlohmann::json::object();
  event["apiVersion"] = "v1";
  event["kind"] = "Event";
  // client-go's recorder names Events <object>.<unix nanoseconds in hex>.
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  event["metadata"]["name"] = fmt::format("{}.{:x}", name, nanos);
  event["metadata"]["namespace"] = ns;
  nlohmann::json& involved = event["involvedObject"];
  involved["apiVersion"] = api_version;
  involved["kind"] = kind;
  if (!ns.empty()) involved["namespace"] = ns;
  involved["name"] = name;
  involved["uid"] = meta(object, "uid");
  const std::string rv = meta(object, "resourceVersion");
  if (!rv.empty()) involved["resourceVersion"] = rv;
  event["reason"] = text.reason;
  event["message"] = text.message;
  event["type"] = text.type;
  if (!text.action.empty()) event["action"] = text.action;
  event["source"]["component"] = source.component;
  event["reportingComponent"] = source.component;
  if (!source.instance.empty()) event["reportingInstance"] = source.instance;
  event["firstTimestamp"] = stamp;
  event["lastTimestamp"] = stamp;
  event["count"] = 1;
  return event;
}

}  // namespace shakeout::api
