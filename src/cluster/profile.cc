#include "cluster/profile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <charconv>
#include <cmath>

namespace shakeout::cluster {
namespace {

constexpr int64_t kSecond = 1000;

// Upstream defaults. Sources: kubelet (nodeLeaseDurationSeconds,
// nodeStatusUpdateFrequency), kube-controller-manager (node-monitor-period,
// node-monitor-grace-period: 50s since v1.32), DefaultTolerationSeconds
// admission, component-base leader election, kubelet CrashLoopBackOff
// (pkg/kubelet/kubelet.go: backOffPeriod 10s, MaxContainerBackOff 300s,
// reset after 10 minutes of running), probe defaults, pod spec defaults, and
// etcd's --heartbeat-interval / --election-timeout.
const std::vector<ParameterInfo> kParameters = {
    {"node-lease-duration", ParameterKind::kDuration, 40 * kSecond, 0, "node Lease duration (kubelet)"},
    {"node-lease-renew-interval", ParameterKind::kDuration, 10 * kSecond, 0,
     "how often a kubelet renews its Lease"},
    {"node-status-update-frequency", ParameterKind::kDuration, 10 * kSecond, 0,
     "kubelet node status updates"},
    {"node-monitor-period", ParameterKind::kDuration, 5 * kSecond, 0,
     "node lifecycle controller sync period"},
    {"node-monitor-grace-period", ParameterKind::kDuration, 50 * kSecond, 0,
     "a node without Lease renewal for this long is NotReady/Unknown"},
    {"default-not-ready-toleration-seconds", ParameterKind::kDuration, 300 * kSecond, 0,
     "tolerationSeconds added for node.kubernetes.io/not-ready"},
    {"default-unreachable-toleration-seconds", ParameterKind::kDuration, 300 * kSecond, 0,
     "tolerationSeconds added for node.kubernetes.io/unreachable"},
    {"leader-elect-lease-duration", ParameterKind::kDuration, 15 * kSecond, 0,
     "leader election Lease duration"},
    {"leader-elect-renew-deadline", ParameterKind::kDuration, 10 * kSecond, 0,
     "leader gives up if not renewed by"},
    {"leader-elect-retry-period", ParameterKind::kDuration, 2 * kSecond, 0, "candidates retry this often"},
    {"crashloop-backoff-initial", ParameterKind::kDuration, 10 * kSecond, 0, "first container restart delay"},
    {"crashloop-backoff-max", ParameterKind::kDuration, 300 * kSecond, 0, "maximum container restart delay"},
    {"crashloop-backoff-reset", ParameterKind::kDuration, 600 * kSecond, 0,
     "running this long resets the backoff"},
    {"pod-initial-backoff", ParameterKind::kDuration, 1 * kSecond, 0,
     "scheduler: first retry delay of a pod that failed scheduling or binding"},
    {"pod-max-backoff", ParameterKind::kDuration, 10 * kSecond, 0, "scheduler: maximum retry delay of a pod"},
    {"readiness-period", ParameterKind::kDuration, 10 * kSecond, 0, "readiness probe periodSeconds default"},
    {"readiness-failure-threshold", ParameterKind::kCount, 3, 0, "readiness probe failureThreshold default"},
    {"termination-grace-period", ParameterKind::kDuration, 30 * kSecond, 0,
     "terminationGracePeriodSeconds default"},
    {"iptables-sync-period", ParameterKind::kDuration, 30 * kSecond, 0,
     "kube-proxy full resync of the node's dataplane"},
    {"iptables-min-sync-period", ParameterKind::kDuration, 1 * kSecond, 0,
     "kube-proxy applies Service/endpoint changes at most this often"},
    {"etcd-heartbeat-interval", ParameterKind::kDuration, 100, 10, "etcd --heartbeat-interval"},
    {"etcd-election-timeout", ParameterKind::kDuration, 1000, 100, "etcd --election-timeout"},
};

const ParameterInfo* find_parameter(std::string_view name) {
  auto it =
      std::find_if(kParameters.begin(), kParameters.end(), [&](const auto& p) { return p.name == name; });
  return it == kParameters.end() ? nullptr : &*it;
}

int64_t scaled(const ParameterInfo& p, double scale) {
  if (p.kind == ParameterKind::kCount) return p.upstream;
  const auto floor = p.fast_floor != 0 ? p.fast_floor : Profile::kFastPeriodFloor.count();
  return std::max<int64_t>(floor, std::llround(static_cast<double>(p.upstream) * scale));
}

Result<double> parse_number(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("'{}' is not a number", text));
  }
  return value;
}

}  // namespace

Result<Millis> parse_duration(std::string_view text) {
  if (text == "0") return Millis{0};
  if (text.empty()) return make_error(ErrorCode::kInvalidArgument, "empty duration");
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}};
  double total_ms = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() &&
           (std::isdigit(static_cast<unsigned char>(rest[digits])) || rest[digits] == '.')) {
      ++digits;
    }
    size_t unit_len = 0;
    while (digits + unit_len < rest.size() &&
           std::isalpha(static_cast<unsigned char>(rest[digits + unit_len]))) {
      ++unit_len;
    }
    const auto unit = rest.substr(digits, unit_len);
    auto number = parse_number(rest.substr(0, digits));
    const auto* match =
        std::find_if(std::begin(kUnits), std::end(kUnits), [&](auto& u) { return u.first == unit; });
    if (digits == 0 || !number || match == std::end(kUnits)) {
      return make_error(
          ErrorCode::kInvalidArgument,
          fmt::format("invalid duration '{}' (use a number with a unit: 250ms, 1.5s, 2m, 1h)", text));
    }
    total_ms += *number * match->second;
    rest.remove_prefix(digits + unit_len);
  }
  return Millis{std::llround(total_ms)};
}

const std::vector<ParameterInfo>& profile_parameters() {
  return kParameters;
}

Result<Profile> Profile::make(const ProfileOptions& options) {
  Profile profile;
  profile.name_ = options.name;
  if (options.name == "kubernetes") {
    if (options.time_scale) {
      return make_error(ErrorCode::kInvalidArgument, "timeScale applies only to the fast profile");
    }
    profile.time_scale_ = 1.0;
  } else if (options.name == "fast") {
    profile.time_scale_ = options.time_scale.value_or(kFastTimeScale);
    if (!(profile.time_scale_ > 0 && profile.time_scale_ <= 1)) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("timeScale must be in (0, 1], got {}", profile.time_scale_));
    }
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("unknown profile '{}' (expected fast or kubernetes)", options.name));
  }
  for (const auto& p : kParameters) {
    profile.values_[std::string(p.name)] =
        options.name == "kubernetes" ? p.upstream : scaled(p, profile.time_scale_);
  }
  for (const auto& [name, text] : options.overrides) {
    const auto* p = find_parameter(name);
    if (p == nullptr) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("unknown timing parameter '{}'", name));
    }
    if (p->kind == ParameterKind::kCount) {
      auto n = parse_number(text);
      if (!n || *n < 1 || *n != std::floor(*n)) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{}: expected a whole number >= 1, got '{}'", name, text));
      }
      profile.values_[name] = static_cast<int64_t>(*n);
    } else {
      auto d = parse_duration(text);
      if (!d) return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: {}", name, d.error().message));
      if (d->count() <= 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{}: must be positive, got '{}'", name, text));
      }
      profile.values_[name] = d->count();
    }
    profile.overridden_.push_back(name);
  }
  if (profile.etcd_election_timeout() < 5 * profile.etcd_heartbeat()) {
    // etcd itself refuses an election timeout below 5 heartbeats.
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("etcd-election-timeout ({}) must be at least 5x etcd-heartbeat-interval ({})",
                    format_duration(profile.etcd_election_timeout()),
                    format_duration(profile.etcd_heartbeat())));
  }
  return profile;
}

Profile Profile::kubernetes() {
  ProfileOptions options;
  options.name = "kubernetes";
  return Profile::make(options).value();
}

Profile Profile::fast() {
  return Profile::make(ProfileOptions{}).value();
}

Millis Profile::duration(std::string_view parameter) const {
  const auto* p = find_parameter(parameter);
  assert(p != nullptr && p->kind == ParameterKind::kDuration);
  (void)p;
  return Millis{values_.find(parameter)->second};
}

int64_t Profile::count(std::string_view parameter) const {
  const auto* p = find_parameter(parameter);
  assert(p != nullptr && p->kind == ParameterKind::kCount);
  (void)p;
  return values_.find(parameter)->second;
}

std::vector<std::pair<std::string, std::string>> Profile::effective_values() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : kParameters) {
    const auto value = values_.find(p.name)->second;
    out.emplace_back(std::string(p.name), p.kind == ParameterKind::kCount ? std::to_string(value)
                                                                          : format_duration(Millis{value}));
  }
  return out;
}

bool Profile::overridden(std::string_view parameter) const {
  return std::find(overridden_.begin(), overridden_.end(), parameter) != overridden_.end();
}

}  // namespace shakeout::cluster
