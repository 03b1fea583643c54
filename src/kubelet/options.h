#pragma once
// Options: the flags of `shakeout kubelet` as one validated struct, and the
// time scaling every duration a pod spec gives goes through.

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace shakeout::kubelet {

struct Options {
  std::vector<std::string> master;        // --master: API server URLs, tried in order
  std::string token;                      // --token-file: bearer token (user system:node:<name>)
  std::string node_name;                  // --hostname-override
  std::string node_ip;                    // --node-ip
  std::string pod_cidr;                   // --pod-cidr
  std::string runtime_endpoint;           // --runtime-endpoint
  uint16_t port = 10250;                  // --port: the kubelet API on node_ip (0 = any)
  std::string authentication_token_file;  // --authentication-token-file
  Millis node_status_update_frequency{10000};
  Millis node_lease_duration{40000};
  Millis node_lease_renew_interval{10000};
  Millis crashloop_backoff_initial{10000};
  Millis crashloop_backoff_max{300000};
  Millis crashloop_backoff_reset{600000};
  double pod_time_scale = 1.0;  // --pod-time-scale
  Millis request_timeout{10000};
};

// kInvalidArgument naming the flag.
Status validate(const Options& options);

// Floors of scaled pod durations (docs/kubelet.md).
inline constexpr Millis kMinProbePeriod{50};
inline constexpr Millis kMinProbeTimeout{250};

// `seconds` from a pod spec times `scale`, never below `floor`.
Millis scale_seconds(double seconds, double scale, Millis floor);

// How often a pod worker looks at its containers (upstream's PLEG relist,
// 1s), scaled, at least kMinProbePeriod.
Millis relist_period(double scale);

}  // namespace shakeout::kubelet
