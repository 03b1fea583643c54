#include "kubelet/options.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "net/http_client.h"

namespace shakeout::kubelet {
namespace {

bool is_ipv4(const std::string& text) {
  in_addr addr{};
  return ::inet_pton(AF_INET, text.c_str(), &addr) == 1;
}

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

}  // namespace

Status validate(const Options& options) {
  if (options.master.empty()) return invalid("--master: at least one API server URL is required");
  for (const auto& url : options.master)
    if (!net::parse_endpoint(url)) return invalid(fmt::format("--master: '{}' is not an http:// URL", url));
  if (options.node_name.empty()) return invalid("--hostname-override: the node name is required");
  if (!is_ipv4(options.node_ip))
    return invalid(fmt::format("--node-ip: '{}' is not an IPv4 address", options.node_ip));
  const auto slash = options.pod_cidr.find('/');
  if (slash == std::string::npos || !is_ipv4(options.pod_cidr.substr(0, slash)))
    return invalid(fmt::format("--pod-cidr: '{}' is not an IPv4 CIDR", options.pod_cidr));
  if (!net::parse_endpoint(options.runtime_endpoint))
    return invalid(fmt::format("--runtime-endpoint: '{}' is not an http:// URL", options.runtime_endpoint));
  if (options.node_status_update_frequency.count() <= 0 || options.node_lease_renew_interval.count() <= 0)
    return invalid("--node-status-update-frequency and --node-lease-renew-interval must be positive");
  if (options.node_lease_duration < Millis(1000))
    return invalid("--node-lease-duration must be at least 1s (leaseDurationSeconds is whole seconds)");
  if (options.crashloop_backoff_initial.count() <= 0 ||
      options.crashloop_backoff_max < options.crashloop_backoff_initial)
    return invalid("--crashloop-backoff-initial must be positive and not above --crashloop-backoff-max");
  if (options.crashloop_backoff_reset.count() <= 0)
    return invalid("--crashloop-backoff-reset must be positive");
  if (!(options.pod_time_scale > 0) || !std::isfinite(options.pod_time_scale))
    return invalid("--pod-time-scale must be a positive number");
  return {};
}

Millis scale_seconds(double seconds, double scale, Millis floor) {
  const auto ms = static_cast<int64_t>(std::llround(seconds * 1000.0 * scale));
  return std::max(floor, Millis(ms));
}

Millis relist_period(double scale) {
  return scale_seconds(1.0, scale, kMinProbePeriod);
}

}  // namespace shakeout::kubelet
