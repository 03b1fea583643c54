#pragma once
// What every component process (scheduler, kubelet, proxy) builds its API
// client from: its --master URLs in failover order and its token, and the
// built-in resources it names by group and plural.

#include <string>
#include <string_view>
#include <vector>

#include "api/resource_registry.h"
#include "client/client.h"
#include "net/http_client.h"

namespace shakeout::client {

// `master` must hold validated http://host:port URLs (each component's
// validate() checks them before this runs).
inline Config component_config(const std::vector<std::string>& master, const std::string& token,
                               Millis request_timeout, std::string user_agent) {
  Config config;
  for (const auto& url : master) config.servers.push_back(*net::parse_endpoint(url));
  config.bearer_token = token;
  config.request_timeout = request_timeout;
  config.user_agent = std::move(user_agent);
  return config;
}

// A built-in resource; asserts (by dereferencing) that it exists.
inline const api::ResourceInfo& builtin_resource(std::string_view group, std::string_view plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}

}  // namespace shakeout::client
