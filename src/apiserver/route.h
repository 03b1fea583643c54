#pragma once
// Where a request path points in the Kubernetes REST API (upstream's
// apiserver/pkg/endpoints/installer.go registers these shapes):
//
//   /api/v1/<plural>[/<name>[/<subresource>]]                 cluster-scoped, or
//                                                              every namespace (list/watch)
//   /api/v1/namespaces/<ns>/<plural>[/<name>[/<subresource>]] namespaced
//   /apis/<group>/<version>/...                                the same for named groups
//
// /api/v1/namespaces/<name>[/status] is the namespaces resource itself.
// Pure; unit-tested.

#include <optional>
#include <string>
#include <string_view>

#include "api/resource_registry.h"

namespace shakeout::apiserver {

struct Route {
  const api::ResourceInfo* resource = nullptr;
  std::string ns;           // "" when cluster-scoped or across namespaces
  std::string name;         // "" for the collection
  std::string subresource;  // "" for the main resource

  bool collection() const { return name.empty(); }
};

// The route for `path` (percent-decoded, without the query), or nullopt when
// the path names no served resource or subresource (upstream: 404 with the
// generic "the server could not find the requested resource").
std::optional<Route> parse_route(std::string_view path, const api::ResourceRegistry& registry);

}  // namespace shakeout::apiserver
