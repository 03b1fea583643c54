#pragma once
// Name and label validation with upstream's rules and messages
// (k8s.io/apimachinery/pkg/util/validation/validation.go,
// pkg/api/validation/objectmeta.go).
//
// Each function returns the list of problems (empty = valid), worded as
// upstream words them, so field causes read the same as a real cluster's.

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "api/resource_registry.h"
#include "api/status.h"

namespace shakeout::api {

std::vector<std::string> validate_dns1123_subdomain(std::string_view value);
std::vector<std::string> validate_dns1123_label(std::string_view value);
std::vector<std::string> validate_dns1035_label(std::string_view value);
// A label key / annotation key: [prefix/]name.
std::vector<std::string> validate_qualified_name(std::string_view value);
std::vector<std::string> validate_label_value(std::string_view value);

// Field causes for metadata.name under `rule` (FieldValueRequired when empty,
// FieldValueInvalid per problem otherwise).
std::vector<Cause> validate_object_name(NameRule rule, std::string_view name);

// Field causes for the object's metadata that storage checks: name, label
// keys and values. `resource` decides the name rule.
std::vector<Cause> validate_object_meta(const ResourceInfo& resource, const nlohmann::json& object);

}  // namespace shakeout::api
