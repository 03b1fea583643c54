#include "experiment/experiment.h"

namespace shakeout::experiment {

// The names are the ones experiment files use (parser.cc reads them back
// through these functions), so a rename here is a file-format change.

std::string_view to_string(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kService:
      return "service";
    case ProbeKind::kReplicas:
      return "replicas";
    case ProbeKind::kApi:
      return "api";
    case ProbeKind::kEtcd:
      return "etcd";
    case ProbeKind::kHttp:
      return "http";
    case ProbeKind::kExec:
      return "exec";
  }
  return "?";
}

std::pair<std::string, std::string> namespace_and_name(const std::string& selector) {
  const auto slash = selector.find('/');
  if (slash == std::string::npos) return {"default", selector};
  return {selector.substr(0, slash), selector.substr(slash + 1)};
}

std::string_view to_string(Component component) {
  switch (component) {
    case Component::kEtcd:
      return "etcd";
    case Component::kApiserver:
      return "apiserver";
    case Component::kControllerManager:
      return "controller-manager";
    case Component::kScheduler:
      return "scheduler";
    case Component::kKubelet:
      return "kubelet";
    case Component::kRuntime:
      return "runtime";
    case Component::kProxy:
      return "proxy";
    case Component::kNode:
      return "node";
    case Component::kPod:
      return "pod";
    case Component::kDeployment:
      return "deployment";
    case Component::kLink:
      return "link";
    case Component::kApi:
      return "api";
  }
  return "?";
}

std::string_view to_string(FaultAction action) {
  switch (action) {
    case FaultAction::kKill:
      return "kill";
    case FaultAction::kStop:
      return "stop";
    case FaultAction::kPause:
      return "pause";
    case FaultAction::kRestart:
      return "restart";
    case FaultAction::kCrashLoop:
      return "crash-loop";
    case FaultAction::kCrash:
      return "crash";
    case FaultAction::kReboot:
      return "reboot";
    case FaultAction::kDelete:
      return "delete";
    case FaultAction::kFailReadiness:
      return "fail-readiness";
    case FaultAction::kScale:
      return "scale";
    case FaultAction::kLatency:
      return "latency";
    case FaultAction::kBandwidth:
      return "bandwidth";
    case FaultAction::kSlowClose:
      return "slow_close";
    case FaultAction::kTimeout:
      return "timeout";
    case FaultAction::kResetPeer:
      return "reset_peer";
    case FaultAction::kSlicer:
      return "slicer";
    case FaultAction::kLimitData:
      return "limit_data";
    case FaultAction::kDown:
      return "down";
    case FaultAction::kPartition:
      return "partition";
    case FaultAction::kHttpError:
      return "http-error";
    case FaultAction::kApiLatency:
      return "api-latency";
    case FaultAction::kDropWatch:
      return "drop-watch";
  }
  return "?";
}

}  // namespace shakeout::experiment
