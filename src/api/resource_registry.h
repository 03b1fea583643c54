#pragma once
// The resources the API server serves, as upstream kube-apiserver describes
// them in discovery, and where upstream stores each one in etcd.
//
// Contract: the registry is immutable and lives for the whole program;
// lookups return pointers into it (never dangling) or nullptr.

#include <string>
#include <string_view>
#include <vector>

namespace shakeout::api {

// Which name rule metadata.name must follow (upstream ValidateObjectMeta
// with the resource's NameIsDNS* function).
enum class NameRule {
  kDns1123Subdomain,  // most resources
  kDns1123Label,      // namespaces
  kDns1035Label,      // services
};

struct ResourceInfo {
  std::string group;  // "" for the core group
  std::string version;
  std::string kind;
  std::string plural;
  std::string singular;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> subresources;  // "status", "scale", ...
  // Key prefix without trailing slash, e.g. "/registry/minions".
  std::string etcd_prefix;
  NameRule name_rule = NameRule::kDns1123Subdomain;
  // Whether the strategy sets metadata.generation = 1 on create and bumps it
  // when spec changes (apps/v1 workloads; pods since 1.33's observed
  // generation tracking).
  bool tracks_generation = false;
  // Field selector labels beyond metadata.name / metadata.namespace.
  std::vector<std::string> selectable_fields;

  // "v1" or "apps/v1".
  std::string api_version() const;
  // "pods" or "deployments.apps" (upstream GroupResource.String()).
  std::string group_resource() const;
  // "Pod" or "Deployment.apps" (upstream GroupKind.String()).
  std::string group_kind() const;
  bool has_subresource(std::string_view name) const;
  // Key of one object: <prefix>/<ns>/<name>, or <prefix>/<name> when
  // cluster-scoped (ns is ignored then).
  std::string key(std::string_view ns, std::string_view name) const;
  // Prefix (with trailing '/') holding every object of `ns`, or every object
  // of the resource when `ns` is empty or the resource is cluster-scoped.
  std::string list_prefix(std::string_view ns) const;
};

class ResourceRegistry {
 public:
  // The resources shakeout serves (DESIGN §5).
  static const ResourceRegistry& builtin();

  explicit ResourceRegistry(std::vector<ResourceInfo> resources);

  const std::vector<ResourceInfo>& all() const { return resources_; }
  // Exact plural within a group ("pods" in "", "deployments" in "apps").
  const ResourceInfo* by_plural(std::string_view group, std::string_view plural) const;
  const ResourceInfo* by_kind(std::string_view group, std::string_view kind) const;
  // kubectl-style lookup across groups: plural, singular, short name or
  // kind (case-insensitive), optionally qualified "deployments.apps".
  const ResourceInfo* find(std::string_view name) const;
  const ResourceInfo* by_short_name(std::string_view short_name) const;

 private:
  std::vector<ResourceInfo> resources_;
};

}  // namespace shakeout::api
