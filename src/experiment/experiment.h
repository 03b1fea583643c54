#pragma once
// Experiment: the immutable, validated plan of one experiment file
// (DESIGN §6). parse_experiment() (parser.h) is the only way to make one:
//
//   file ──► YAML/JSON nodes (with line:column) ──► validate ──► Experiment
//
// Everything here has been checked: durations are positive where they must
// be, targets name a component the cluster has, probes referenced by
// steadyState/expect exist, selectors such as etcd:leader are possible for
// the cluster's size. A runner acts on it without re-checking input.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace shakeout::experiment {

// Where a value came from, for messages: "exp.yaml:12:9".
struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0 unknown
  int column = 0;  // 1-based
};

struct ClusterSpec {
  int nodes = 3;
  int etcd_members = 1;
  int apiservers = 1;
  int controller_managers = 1;
  int schedulers = 1;
  std::string profile = "fast";                  // "fast" | "kubernetes"
  std::optional<double> time_scale;              // fast only
  std::map<std::string, std::string> overrides;  // profile parameter -> value text
};

// One Kubernetes object of the workload, in apply order (files in list
// order, documents in file order).
struct Manifest {
  nlohmann::json object;
  SourceLocation where;
};

enum class ProbeKind { kService, kReplicas, kApi, kEtcd, kHttp, kExec };

struct ProbeSpec {
  std::string name;
  ProbeKind kind = ProbeKind::kService;
  std::string ns = "default";
  std::string service;       // kService: the Service's name
  std::string deployment;    // kReplicas: the Deployment's name
  std::string path = "/";    // kService, kHttp: the request path
  std::string url;           // kHttp: http://host:port/path
  std::vector<std::string> command;  // kExec: argv, success = exit 0
  double rate = 0;           // samples per second; 0 = the kind's default
                             // (service 200, http 50, api 20, etcd 20,
                             // exec 5, replicas: watch-driven)
  Millis timeout{1000};      // per sample
  SourceLocation where;
};

// A replicas probe named N also reports its ground truth, the Deployment's
// pods running in the runtimes' process tables, as probe "N/runtime"
// (probes/probe.h); steady-state checks and expectations may name it.
inline constexpr std::string_view kRuntimeViewSuffix = "/runtime";

// A steady-state check, judged over the steady window before the first
// fault and over `recovery.stableFor` after recovery.
struct SteadyStateCheck {
  std::string probe;
  std::optional<double> success_ratio;  // {probe: web, successRatio: 0.999}
  bool ready_equals_desired = false;    // {probe: replicas, ready: desired}
  std::optional<int> ready;             // {probe: replicas, ready: 3}
  SourceLocation where;
};

// component:selector, as DESIGN §6 lists them.
enum class Component {
  kEtcd,               // leader | follower | majority | all | etcd-<i>
  kApiserver,          // any | apiserver-<i>
  kControllerManager,  // leader | standby | controller-manager-<i>
  kScheduler,          // leader | standby | scheduler-<i>
  kKubelet,            // node-<k> | random
  kRuntime,            // node-<k> | random
  kProxy,              // node-<k> | random
  kNode,               // node-<k> | random
  kPod,                // a label selector, e.g. app=web
  kDeployment,         // [namespace/]name of a workload Deployment
  kLink,               // a link name, e.g. kubelet/node-2->apiserver
  kApi,                // the API front: all | a resource (pods, ...)
};

struct Target {
  Component component = Component::kPod;
  std::string selector;  // the text after the first ':'
  std::string text;      // as written, for reports: "etcd:leader"
};

enum class FaultAction {
  // process faults (etcd, apiserver, controller-manager, scheduler,
  // kubelet, runtime, proxy)
  kKill,        // SIGKILL
  kStop,        // SIGTERM
  kPause,       // SIGSTOP, SIGCONT after `duration`
  kRestart,     // SIGTERM, then start again at once
  kCrashLoop,   // SIGKILL each time it comes back, for `duration`
  // node faults
  kCrash,       // runtime, kubelet, proxy and pods SIGKILLed
  kReboot,      // crash, then start again after `restartAfter`
  // pod faults (also kKill: SIGKILL the container process)
  kDelete,         // DELETE through the API
  kFailReadiness,  // the app's readiness fails for `duration`
  // workload changes: a Deployment's spec.replicas set to `replicas`
  // (through its scale subresource), back after `duration` if given
  kScale,
  // link faults (toxiproxy's toxics), for `duration`
  kLatency, kBandwidth, kSlowClose, kTimeout, kResetPeer, kSlicer, kLimitData, kDown,
  kPartition,  // `links`: down on each, for `duration`
  // API faults, in front of the apiservers, for `duration`
  kHttpError, kApiLatency, kDropWatch,
};

enum class Direction { kUpstream, kDownstream, kBoth };

struct FaultSpec {
  Millis at{0};                        // from the end of the steady window
  FaultAction action = FaultAction::kKill;
  Target target;
  std::optional<Millis> duration;      // pause, crash-loop, link, API, readiness
  std::optional<Millis> restart_after; // process kill/stop, node crash/reboot
  // pod faults: how many pods the selector picks (count wins; default 1)
  std::optional<int> count;
  std::optional<double> percent;       // 0..100
  int replicas = 0;                    // scale: the Deployment's new spec.replicas
  // link faults (toxiproxy attribute names)
  Direction direction = Direction::kBoth;
  double toxicity = 1.0;               // 0..1, rolled once per connection
  Millis latency{0};
  Millis jitter{0};
  int64_t rate_kbps = 0;               // bandwidth, KB/s
  Millis delay{0};                     // slow_close delay; slicer delay
  Millis timeout{0};                   // timeout toxic (0 = forever)
  int64_t bytes = 0;                   // limit_data
  int64_t average_size = 0;            // slicer
  int64_t size_variation = 0;          // slicer
  std::vector<std::string> links;      // partition: link names
  // API faults
  int status = 503;                    // http-error status code
  double error_percent = 100;          // http-error: share of matching requests
  std::vector<std::string> verbs;      // empty = every verb
  std::vector<std::string> resources;  // empty = every resource
  SourceLocation where;
};

struct RecoverySpec {
  Millis timeout{60000};   // after the last fault ends; then "not recovered"
  Millis stable_for{1000}; // the probe must hold this long to count as recovered
};

// One judged expectation; every set field must hold.
struct Expectation {
  std::string probe;
  std::optional<Millis> recovered_within;   // time-to-recover <= this
  std::optional<Millis> max_downtime;       // downtime <= this
  std::optional<double> min_availability;   // success ratio over the run >= this
  std::optional<Millis> max_time_to_impact; // impact (if any) no later than
  SourceLocation where;
};

struct Experiment {
  std::filesystem::path file;
  std::string name;
  std::string description;
  ClusterSpec cluster;
  std::vector<Manifest> workload;
  std::vector<ProbeSpec> probes;
  Millis steady_window{1000};  // spec.steadyState is checked over this
  std::vector<SteadyStateCheck> steady_state;
  std::vector<FaultSpec> faults;  // sorted by `at`
  RecoverySpec recovery;
  std::vector<Expectation> expect;
  int repeat = 1;
  uint64_t seed = 0;
};

// A deployment target's selector, [namespace/]name, as {namespace, name}
// (namespace "default" when omitted).
std::pair<std::string, std::string> namespace_and_name(const std::string& selector);

std::string_view to_string(ProbeKind kind);
std::string_view to_string(Component component);
std::string_view to_string(FaultAction action);

}  // namespace shakeout::experiment
