#pragma once
// Probes (upstream pkg/kubelet/prober): a probe spec parsed from a
// container, scaled by --pod-time-scale, and the result state machine of
// one probe worker (prober/worker.go doProbe): a result flips only after
// successThreshold consecutive successes or failureThreshold consecutive
// failures.

#include <utility>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace shakeout::kubelet {

enum class ProbeKind { kReadiness, kLiveness, kStartup };
const char* to_string(ProbeKind kind);  // "Readiness", "Liveness", "Startup"

struct ProbeSpec {
  enum class Action { kHttpGet, kTcpSocket, kExec, kUnsupported };
  Action action = Action::kUnsupported;
  std::string host;  // "" = the pod IP
  int port = 0;      // resolved (named ports through the container's ports)
  std::string path = "/";
  std::string scheme = "HTTP";
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> command;
  Millis initial_delay{0};
  Millis period{10000};
  Millis timeout{1000};
  int success_threshold = 1;
  int failure_threshold = 3;
};

// containers[].<kind>Probe parsed and scaled; nullopt if the container has
// none. Upstream defaults: period 10s, timeout 1s, thresholds 1 and 3
// (liveness and startup successThreshold is always 1).
std::optional<ProbeSpec> parse_probe(const nlohmann::json& container, ProbeKind kind, double time_scale);

// When a probe worker probes next after probing at `now`: the first tick of
// its period after `now`, ticks counted from `anchor`, when the worker began
// (upstream's ticker starts with the pod's probe workers, before the
// container runs, so a failed first probe is retried at the next tick rather
// than a whole period after the failure).
SteadyTime next_probe_tick(SteadyTime now, SteadyTime anchor, Millis period);

class ProbeState {
 public:
  // Readiness starts failed, liveness succeeded, startup unknown (upstream
  // worker.go initialValue): its first failure verdict is a change too.
  ProbeState(ProbeKind kind, int success_threshold, int failure_threshold);

  // Records one probe outcome; true when the result changed.
  bool record(bool success);
  bool result() const { return result_.value_or(false); }
  // Seeds the result (an adopted container keeps the readiness its status had).
  void set(bool result) { result_ = result; }

 private:
  int success_threshold_;
  int failure_threshold_;
  std::optional<bool> result_;
  std::optional<bool> last_;
  int run_ = 0;
};

}  // namespace shakeout::kubelet
