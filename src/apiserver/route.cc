#include "apiserver/route.h"

#include <vector>

namespace shakeout::apiserver {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const auto slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return segments;
}

}  // namespace

std::optional<Route> parse_route(std::string_view path, const api::ResourceRegistry& registry) {
  // Empty segments ("//") are not a path upstream serves.
  if (path.find("//") != std::string_view::npos) return std::nullopt;
  auto segments = split_path(path);
  std::string_view group;
  std::string_view version;
  size_t at = 0;
  if (segments.size() >= 2 && segments[0] == "api") {
    version = segments[1];
    at = 2;
  } else if (segments.size() >= 3 && segments[0] == "apis") {
    group = segments[1];
    version = segments[2];
    at = 3;
  } else {
    return std::nullopt;
  }
  const size_t left = segments.size() - at;
  if (left == 0) return std::nullopt;

  auto resource_in_version = [&](std::string_view plural) -> const api::ResourceInfo* {
    const auto* resource = registry.by_plural(group, plural);
    return resource != nullptr && resource->version == version ? resource : nullptr;
  };

  Route route;
  // /namespaces/<ns>/<plural>...: a namespaced resource inside a namespace.
  // (/namespaces/<name>/status and /finalize are the namespace's own.)
  const bool in_namespace = left >= 3 && segments[at] == "namespaces" &&
                            !(left == 3 && segments[at + 2] == "status") &&
                            !(left == 3 && segments[at + 2] == "finalize");
  if (in_namespace) {
    const auto* resource = resource_in_version(segments[at + 2]);
    if (resource == nullptr || !resource->namespaced || left > 5) return std::nullopt;
    route.resource = resource;
    route.ns = std::string(segments[at + 1]);
    if (left >= 4) route.name = std::string(segments[at + 3]);
    if (left == 5) route.subresource = std::string(segments[at + 4]);
  } else {
    if (left > 3) return std::nullopt;
    const auto* resource = resource_in_version(segments[at]);
    if (resource == nullptr) return std::nullopt;
    route.resource = resource;
    if (left >= 2) {
      // A namespaced object needs its namespace in the path.
      if (resource->namespaced) return std::nullopt;
      route.name = std::string(segments[at + 1]);
    }
    if (left == 3) route.subresource = std::string(segments[at + 2]);
  }
  if (!route.subresource.empty() && !route.resource->has_subresource(route.subresource)) return std::nullopt;
  return route;
}

}  // namespace shakeout::apiserver
