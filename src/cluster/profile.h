#pragma once
// Timing profiles (DESIGN §2): one knob for every timing parameter.
//
// `kubernetes` holds upstream's defaults (v1.32+). `fast` multiplies every
// duration by time_scale (default 0.05) with floors that keep a loaded
// 2-core machine from flapping. Counts (failure thresholds) are not scaled.
// Any parameter can then be overridden by its name, which mirrors the
// upstream flag where there is one (`node-monitor-grace-period`, ...).
// A Profile is an immutable, validated value.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace shakeout::cluster {

// Parses a Go/Kubernetes duration: "100ms", "1.5s", "2m30s", "1h". A bare
// number is rejected (units are required) except "0".
Result<Millis> parse_duration(std::string_view text);

enum class ParameterKind { kDuration, kCount };

struct ParameterInfo {
  std::string_view name;
  ParameterKind kind;
  int64_t upstream;    // milliseconds for durations, the count otherwise
  int64_t fast_floor;  // milliseconds; 0 when the floor is the general one
  std::string_view help;
};

// Every parameter a profile carries, in report order.
const std::vector<ParameterInfo>& profile_parameters();

struct ProfileOptions {
  std::string name = "fast";                     // "fast" | "kubernetes"
  std::optional<double> time_scale;              // fast only; default 0.05
  std::map<std::string, std::string> overrides;  // parameter name -> "250ms" or "3"
};

class Profile {
 public:
  static constexpr double kFastTimeScale = 0.05;
  static constexpr Millis kFastPeriodFloor{50};

  // Validates names and values; errors name the offending parameter.
  static Result<Profile> make(const ProfileOptions& options);
  static Profile kubernetes();
  static Profile fast();

  const std::string& name() const { return name_; }
  double time_scale() const { return time_scale_; }
  // Effective duration of a kDuration parameter (asserts the name exists).
  Millis duration(std::string_view parameter) const;
  // Effective value of a kCount parameter.
  int64_t count(std::string_view parameter) const;
  // Name -> effective value as text ("2s", "3"), for reports, in order.
  std::vector<std::pair<std::string, std::string>> effective_values() const;
  bool overridden(std::string_view parameter) const;

  Millis etcd_heartbeat() const { return duration("etcd-heartbeat-interval"); }
  Millis etcd_election_timeout() const { return duration("etcd-election-timeout"); }

 private:
  std::string name_;
  double time_scale_ = 1.0;
  std::map<std::string, int64_t, std::less<>> values_;
  std::vector<std::string> overridden_;
};

}  // namespace shakeout::cluster
