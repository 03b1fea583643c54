#pragma once
// Discovery documents as kube-apiserver serves them (the legacy, unaggregated
// form that every kubectl understands): /api (APIVersions), /apis
// (APIGroupList), /api/v1 and /apis/<group>/<version> (APIResourceList with
// verbs, shortNames, categories and subresources; pods/eviction as
// policy/v1 Eviction, */scale as autoscaling/v1 Scale).

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "api/resource_registry.h"

namespace shakeout::api {

// GET /api. `server_address` is "host:port" as clients reach this server.
nlohmann::json api_versions(const std::string& server_address);
// GET /apis: every named group the registry serves.
nlohmann::json api_group_list(const ResourceRegistry& registry);
// GET /api/v1 (group "") or /apis/<group>/<version>; nullopt if not served.
std::optional<nlohmann::json> api_resource_list(const ResourceRegistry& registry, std::string_view group,
                                                std::string_view version);

}  // namespace shakeout::api
