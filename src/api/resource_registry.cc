#include "api/resource_registry.h"
#include <utility>

#include <algorithm>
#include <cctype>

namespace shakeout::api {

std::string ResourceInfo::api_version() const {
  return group.empty() ? version : group + "/" + version;
}

std::string ResourceInfo::group_resource() const {
  return group.empty() ? plural : plural + "." + group;
}

std::string ResourceInfo::group_kind() const {
  return group.empty() ? kind : kind + "." + group;
}

bool ResourceInfo::has_subresource(std::string_view name) const {
  return std::find(subresources.begin(), subresources.end(), name) != subresources.end();
}

std::string ResourceInfo::key(std::string_view ns, std::string_view name) const {
  std::string out = etcd_prefix;
  out += '/';
  if (namespaced) {
    out += ns;
    out += '/';
  }
  out += name;
  return out;
}

std::string ResourceInfo::list_prefix(std::string_view ns) const {
  std::string out = etcd_prefix;
  out += '/';
  if (namespaced && !ns.empty()) {
    out += ns;
    out += '/';
  }
  return out;
}

namespace {

struct Spec {
  const char* group;
  const char* version;
  const char* kind;
  const char* plural;
  const char* singular;
  bool namespaced;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> subresources;
  // Upstream's storage prefix under /registry: the resource name, except the
  // historic ones in SpecialDefaultResourcePrefixes
  // (pkg/kubeapiserver/default_storage_factory_builder.go): nodes ->
  // "minions", services -> "services/specs", endpoints -> "services/endpoints".
  const char* storage;
  NameRule name_rule;
  bool tracks_generation;
  std::vector<std::string> fields;
};

ResourceInfo make(Spec s) {
  ResourceInfo r;
  r.group = s.group;
  r.version = s.version;
  r.kind = s.kind;
  r.plural = s.plural;
  r.singular = s.singular;
  r.namespaced = s.namespaced;
  r.short_names = std::move(s.short_names);
  r.categories = std::move(s.categories);
  r.subresources = std::move(s.subresources);
  r.etcd_prefix = std::string("/registry/") + s.storage;
  r.name_rule = s.name_rule;
  r.tracks_generation = s.tracks_generation;
  r.selectable_fields = std::move(s.fields);
  return r;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

const ResourceRegistry& ResourceRegistry::builtin() {
  // Field selectors as upstream's *ToSelectableFields (pkg/registry/core/*/strategy.go),
  // restricted to the ones shakeout documents.
  static const ResourceRegistry kRegistry({
      make({"",
            "v1",
            "Namespace",
            "namespaces",
            "namespace",
            false,
            {"ns"},
            {},
            {"status", "finalize"},
            "namespaces",
            NameRule::kDns1123Label,
            false,
            {"status.phase"}}),
      make({"",
            "v1",
            "Pod",
            "pods",
            "pod",
            true,
            {"po"},
            {"all"},
            {"binding", "eviction", "log", "status"},
            "pods",
            NameRule::kDns1123Subdomain,
            true,
            {"spec.nodeName", "status.phase"}}),
      make({"",
            "v1",
            "Node",
            "nodes",
            "node",
            false,
            {"no"},
            {},
            {"status"},
            "minions",
            NameRule::kDns1123Subdomain,
            false,
            {"spec.unschedulable"}}),
      make({"",
            "v1",
            "Service",
            "services",
            "service",
            true,
            {"svc"},
            {"all"},
            {"status"},
            "services/specs",
            NameRule::kDns1035Label,
            false,
            {}}),
      make({"",
            "v1",
            "Endpoints",
            "endpoints",
            "endpoints",
            true,
            {"ep"},
            {},
            {},
            "services/endpoints",
            NameRule::kDns1123Subdomain,
            false,
            {}}),
      make({"",
            "v1",
            "Event",
            "events",
            "event",
            true,
            {"ev"},
            {},
            {},
            "events",
            NameRule::kDns1123Subdomain,
            false,
            {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
             "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
             "reason", "reportingComponent", "source", "type"}}),
      make({"apps",
            "v1",
            "Deployment",
            "deployments",
            "deployment",
            true,
            {"deploy"},
            {"all"},
            {"scale", "status"},
            "deployments",
            NameRule::kDns1123Subdomain,
            true,
            {}}),
      make({"apps",
            "v1",
            "ReplicaSet",
            "replicasets",
            "replicaset",
            true,
            {"rs"},
            {"all"},
            {"scale", "status"},
            "replicasets",
            NameRule::kDns1123Subdomain,
            true,
            {}}),
      make({"coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            "lease",
            true,
            {},
            {},
            {},
            "leases",
            NameRule::kDns1123Subdomain,
            false,
            {}}),
      make({"policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            "poddisruptionbudget",
            true,
            {"pdb"},
            {},
            {"status"},
            "poddisruptionbudgets",
            NameRule::kDns1123Subdomain,
            true,
            {}}),
      make({"discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            "endpointslice",
            true,
            {},
            {},
            {},
            "endpointslices",
            NameRule::kDns1123Subdomain,
            false,
            {}}),
  });
  return kRegistry;
}

ResourceRegistry::ResourceRegistry(std::vector<ResourceInfo> resources) : resources_(std::move(resources)) {}

const ResourceInfo* ResourceRegistry::by_plural(std::string_view group, std::string_view plural) const {
  for (const auto& r : resources_)
    if (r.group == group && r.plural == plural) return &r;
  return nullptr;
}

const ResourceInfo* ResourceRegistry::by_kind(std::string_view group, std::string_view kind) const {
  for (const auto& r : resources_)
    if (r.group == group && r.kind == kind) return &r;
  return nullptr;
}

const ResourceInfo* ResourceRegistry::by_short_name(std::string_view short_name) const {
  for (const auto& r : resources_)
    if (std::find(r.short_names.begin(), r.short_names.end(), short_name) != r.short_names.end()) return &r;
  return nullptr;
}

const ResourceInfo* ResourceRegistry::find(std::string_view name) const {
  std::string wanted = lower(name);
  std::string group;
  bool qualified = false;
  if (auto dot = wanted.find('.'); dot != std::string::npos) {
    group = wanted.substr(dot + 1);
    wanted.resize(dot);
    qualified = true;
  }
  for (const auto& r : resources_) {
    if (qualified && r.group != group) continue;
    if (r.plural == wanted || r.singular == wanted || lower(r.kind) == wanted) return &r;
    if (std::find(r.short_names.begin(), r.short_names.end(), wanted) != r.short_names.end()) return &r;
  }
  return nullptr;
}

}  // namespace shakeout::api
