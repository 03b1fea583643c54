#include "kubelet/pod_status.h"

#include <fmt/format.h>

#include "api/store.h"
#include "kubelet/json_fields.h"

namespace shakeout::kubelet {
namespace {

using json = nlohmann::json;

json terminated_state(const runtime::ContainerStatus& status) {
  json terminated = json::object();
  terminated["exitCode"] = status.exit_code;
  terminated["reason"] =
      status.reason.empty() ? (status.exit_code == 0 ? "Completed" : "Error") : status.reason;
  terminated["startedAt"] = format_unix_ms(status.started_unix_ms);
  terminated["finishedAt"] = format_unix_ms(status.finished_unix_ms);
  terminated["containerID"] = container_id_url(status.id);
  return terminated;
}

bool exited(const ContainerView& c) {
  return c.current && c.current->state == runtime::ContainerState::kExited;
}
bool running(const ContainerView& c) {
  return c.current && c.current->state == runtime::ContainerState::kRunning;
}

json container_status(const ContainerView& c) {
  json status = json::object();
  status["name"] = c.name;
  status["image"] = c.image;
  status["imageID"] = "";
  status["restartCount"] = c.restart_count;
  status["ready"] = c.ready;
  status["started"] = c.started;
  status["lastState"] = json::object();
  json state = json::object();
  if (running(c)) {
    state["running"]["startedAt"] = format_unix_ms(c.current->started_unix_ms);
    if (c.previous) status["lastState"]["terminated"] = terminated_state(*c.previous);
  } else if (!c.waiting_reason.empty()) {
    state["waiting"]["reason"] = c.waiting_reason;
    if (!c.waiting_message.empty()) state["waiting"]["message"] = c.waiting_message;
    if (exited(c)) {
      status["lastState"]["terminated"] = terminated_state(*c.current);
    } else if (c.previous) {
      status["lastState"]["terminated"] = terminated_state(*c.previous);
    }
  } else if (exited(c)) {
    state["terminated"] = terminated_state(*c.current);
    if (c.previous) status["lastState"]["terminated"] = terminated_state(*c.previous);
  } else {
    state["waiting"]["reason"] = "ContainerCreating";
  }
  status["state"] = state;
  if (c.current) {
    status["containerID"] = container_id_url(c.current->id);
    status["imageID"] = "shakeout://" + c.image;
  }
  return status;
}

json condition(const json& pod, const std::string& type, bool value, const std::string& reason,
               const std::string& message, const std::string& now) {
  json c = json::object();
  c["type"] = type;
  c["status"] = value ? "True" : "False";
  c["lastTransitionTime"] = now;
  if (!reason.empty()) c["reason"] = reason;
  if (!message.empty()) c["message"] = message;
  const json& old = field(field(pod, "status"), "conditions");
  if (old.is_array())
    for (const auto& o : old)
      if (string_field(o, "type") == type && string_field(o, "status") == c["status"].get<std::string>() &&
          !string_field(o, "lastTransitionTime").empty())
        c["lastTransitionTime"] = o["lastTransitionTime"];
  return c;
}

}  // namespace

std::string container_id_url(const std::string& id) {
  return "shakeout://" + id;
}

std::string format_unix_ms(int64_t unix_ms) {
  return api::format_timestamp(std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms)));
}

std::string pod_phase(const PodView& view) {
  int pending = 0, run = 0, waiting = 0, succeeded = 0, failed = 0;
  for (const auto& c : view.containers) {
    if (running(c)) {
      ++run;
    } else if (!c.waiting_reason.empty() || !c.current) {
      // Waiting: never ran (pending) or restarting after an exit.
      if (exited(c) || c.previous || c.restart_count > 0) {
        ++waiting;
      } else {
        ++pending;
      }
    } else if (c.current->exit_code == 0) {
      ++succeeded;
    } else {
      ++failed;
    }
  }
  if (view.containers.empty()) return "Pending";
  if (pending > 0) return "Pending";
  if (run > 0 || waiting > 0) return "Running";
  // Every container terminated and none will restart.
  if (view.restart_policy == "Always") return "Running";
  if (failed > 0) return view.restart_policy == "Never" ? "Failed" : "Running";
  return "Succeeded";
}

json compute_pod_status(const json& pod, const PodView& view, std::chrono::system_clock::time_point now) {
  const std::string stamp = api::format_timestamp(now);
  json status = json::object();
  const std::string phase = pod_phase(view);
  status["phase"] = phase;
  status["hostIP"] = view.host_ip;
  status["hostIPs"] = json::array({json{{"ip", view.host_ip}}});
  if (!view.pod_ip.empty()) {
    status["podIP"] = view.pod_ip;
    status["podIPs"] = json::array({json{{"ip", view.pod_ip}}});
  }
  const std::string start = string_field(field(pod, "status"), "startTime");
  status["startTime"] = start.empty() ? stamp : start;
  status["qosClass"] = "BestEffort";

  json statuses = json::array();
  std::vector<std::string> unready;
  for (const auto& c : view.containers) {
    statuses.push_back(container_status(c));
    if (!c.ready) unready.push_back(c.name);
  }
  status["containerStatuses"] = statuses;

  const bool terminal = phase == "Succeeded" || phase == "Failed";
  std::string reason;
  std::string message;
  if (terminal) {
    reason = "PodCompleted";
  } else if (!unready.empty()) {
    reason = "ContainersNotReady";
    message = fmt::format("containers with unready status: [{}]", fmt::join(unready, " "));
  }
  const bool ready = !terminal && unready.empty();
  json conditions = json::array();
  conditions.push_back(condition(pod, "PodReadyToStartContainers", !view.pod_ip.empty(), "", "", stamp));
  conditions.push_back(condition(pod, "Initialized", true, "", "", stamp));
  conditions.push_back(condition(pod, "Ready", ready, reason, message, stamp));
  conditions.push_back(condition(pod, "ContainersReady", ready, reason, message, stamp));
  conditions.push_back(condition(pod, "PodScheduled", true, "", "", stamp));
  status["conditions"] = conditions;
  return status;
}

}  // namespace shakeout::kubelet
