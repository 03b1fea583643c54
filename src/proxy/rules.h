#pragma once
// The dataplane rules kube-proxy programs on its node, computed from the
// Services and EndpointSlices it watches (upstream pkg/proxy: servicechangetracker,
// endpointschangetracker, and the iptables proxier's per-service chains).
//
// One ServiceRule per TCP port of every Service with a ClusterIP (headless
// and ExternalName Services get none; a Service of type NodePort or
// LoadBalancer also carries the port's nodePort). A rule's endpoints are
// the ready endpoints of the Service's EndpointSlices (label
// kubernetes.io/service-name) whose slice port matches the Service port by
// name (upstream: the slice port name equals the service port name), with
// duplicates removed and sorted so equal inputs give equal rules. Ready means
// conditions.ready unset or true, and not terminating, as the iptables
// proxier's default (no ProxyTerminatingEndpoints fallback when none is ready).

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "runtime/runtime_service.h"

namespace shakeout::proxy {

// "random" (--proxy-mode iptables: statistic match, random per connection)
// or "round-robin" (--proxy-mode ipvs with the default rr scheduler).
std::string dataplane_mode(const std::string& proxy_mode);

std::vector<runtime::ServiceRule> compute_rules(const std::vector<nlohmann::json>& services,
                                                const std::vector<nlohmann::json>& endpoint_slices,
                                                const std::string& mode);

// Whether two rule sets program the same dataplane (generation ignored).
bool same_rules(const std::vector<runtime::ServiceRule>& a, const std::vector<runtime::ServiceRule>& b);

}  // namespace shakeout::proxy
