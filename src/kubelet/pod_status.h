#pragma once
// The status a pod worker posts (upstream pkg/kubelet/kubelet_pods.go
// generateAPIPodStatus / getPhase, pkg/kubelet/status/generate.go for the
// conditions, status/status_manager.go for keeping lastTransitionTime).
// Pure: what the worker knows goes in, a v1 PodStatus comes out.

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "runtime/runtime_service.h"

namespace shakeout::kubelet {

// What the worker knows about one container of the spec.
struct ContainerView {
  std::string name;
  std::string image;
  // The newest attempt the runtime knows (running or exited), if any.
  std::optional<runtime::ContainerStatus> current;
  // The attempt before `current`, for lastState.
  std::optional<runtime::ContainerStatus> previous;
  int restart_count = 0;
  // Set while the container is not running and will (try to) run again:
  // ContainerCreating, CrashLoopBackOff, ErrImagePull, CreateContainerError...
  std::string waiting_reason;
  std::string waiting_message;
  bool ready = false;    // running and readiness passed (or no readiness probe)
  bool started = false;  // running and startup passed (or no startup probe)
};

struct PodView {
  std::string pod_ip;   // "" until the sandbox exists
  std::string host_ip;  // the node IP
  std::string restart_policy = "Always";
  std::vector<ContainerView> containers;
};

// "Pending" | "Running" | "Succeeded" | "Failed" (upstream getPhase).
std::string pod_phase(const PodView& view);

// The v1 PodStatus. Conditions keep their lastTransitionTime from `pod`'s
// current status when their status did not change; startTime is kept too
// (else `now`).
nlohmann::json compute_pod_status(const nlohmann::json& pod, const PodView& view,
                                  std::chrono::system_clock::time_point now);

// "shakeout://<id>", the containerID of a status.
std::string container_id_url(const std::string& id);
// RFC 3339 seconds of a runtime's unix milliseconds.
std::string format_unix_ms(int64_t unix_ms);

}  // namespace shakeout::kubelet
