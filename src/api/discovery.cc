#include "api/discovery.h"

#include <algorithm>
#include <map>
#include <set>

namespace shakeout::api {
namespace {

using json = nlohmann::json;

json main_verbs(const ResourceInfo& resource) {
  // Namespaces have no deletecollection upstream (pkg/registry/core/namespace).
  if (resource.group.empty() && resource.plural == "namespaces") {
    return {"create", "delete", "get", "list", "patch", "update", "watch"};
  }
  return {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
}

// One subresource entry, as upstream lists it under its parent's group.
json subresource_entry(const ResourceInfo& parent, const std::string& sub) {
  json entry = {{"name", parent.plural + "/" + sub},
                {"singularName", parent.singular},
                {"namespaced", parent.namespaced},
                {"kind", parent.kind},
                {"verbs", {"get", "patch", "update"}}};
  if (sub == "scale") {
    entry["group"] = "autoscaling";
    entry["version"] = "v1";
    entry["kind"] = "Scale";
  } else if (sub == "eviction") {
    entry["group"] = "policy";
    entry["version"] = "v1";
    entry["kind"] = "Eviction";
    entry["verbs"] = {"create"};
  } else if (sub == "binding") {
    entry["kind"] = "Binding";
    entry["verbs"] = {"create"};
  } else if (sub == "log") {
    entry["verbs"] = {"get"};
  }
  return entry;
}

json group_version(const std::string& group, const std::string& version) {
  return {{"groupVersion", group + "/" + version}, {"version", version}};
}

}  // namespace

json api_versions(const std::string& server_address) {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs", {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

json api_group_list(const ResourceRegistry& registry) {
  // Groups in the order the registry first names them; versions likewise.
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> versions;
  for (const auto& r : registry.all()) {
    if (r.group.empty()) continue;
    if (!versions.contains(r.group)) order.push_back(r.group);
    auto& list = versions[r.group];
    if (std::find(list.begin(), list.end(), r.version) == list.end()) list.push_back(r.version);
  }
  json groups = json::array();
  for (const auto& name : order) {
    json group_versions = json::array();
    for (const auto& v : versions[name]) group_versions.push_back(group_version(name, v));
    groups.push_back({{"name", name},
                      {"versions", group_versions},
                      {"preferredVersion", group_version(name, versions[name].front())}});
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

std::optional<json> api_resource_list(const ResourceRegistry& registry, std::string_view group,
                                      std::string_view version) {
  json resources = json::array();
  for (const auto& r : registry.all()) {
    if (r.group != group || r.version != version) continue;
    json entry = {{"name", r.plural},
                  {"singularName", r.singular},
                  {"namespaced", r.namespaced},
                  {"kind", r.kind},
                  {"verbs", main_verbs(r)}};
    if (!r.short_names.empty()) entry["shortNames"] = r.short_names;
    if (!r.categories.empty()) entry["categories"] = r.categories;
    resources.push_back(std::move(entry));
    for (const auto& sub : r.subresources) resources.push_back(subresource_entry(r, sub));
  }
  if (resources.empty()) return std::nullopt;
  const std::string group_version_text =
      group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
  return json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", group_version_text},
              {"resources", resources}};
}

}  // namespace shakeout::api
