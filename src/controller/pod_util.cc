#include "controller/pod_util.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "api/store.h"

namespace shakeout::controller {

const json& spec_of(const json& object) {
  static const json kEmpty = json::object();
  const auto spec = object.find("spec");
  return spec != object.end() && spec->is_object() ? *spec : kEmpty;
}

std::string meta_string(const json& object, const char* field) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  const auto value = meta->find(field);
  return value != meta->end() && value->is_string() ? value->get<std::string>() : "";
}

const json* labels_of(const json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return nullptr;
  const auto labels = meta->find("labels");
  return labels != meta->end() && labels->is_object() ? &*labels : nullptr;
}

const json* controller_ref(const json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return nullptr;
  const auto refs = meta->find("ownerReferences");
  if (refs == meta->end() || !refs->is_array()) return nullptr;
  for (const auto& ref : *refs)
    if (ref.is_object() && ref.value("controller", false)) return &ref;
  return nullptr;
}

json make_controller_ref(const json& owner, const std::string& api_version, const std::string& kind) {
  json ref = json::object();
  ref["apiVersion"] = api_version;
  ref["kind"] = kind;
  ref["name"] = meta_string(owner, "name");
  ref["uid"] = meta_string(owner, "uid");
  ref["controller"] = true;
  ref["blockOwnerDeletion"] = true;
  return ref;
}

bool is_terminating(const json& object) {
  return !meta_string(object, "deletionTimestamp").empty();
}

namespace {

std::string phase_of(const json& pod) {
  const auto status = pod.find("status");
  if (status == pod.end() || !status->is_object()) return "";
  return status->value("phase", "");
}

const json* ready_condition(const json& pod) {
  const auto status = pod.find("status");
  if (status == pod.end() || !status->is_object()) return nullptr;
  const auto conditions = status->find("conditions");
  if (conditions == status->end() || !conditions->is_array()) return nullptr;
  for (const auto& condition : *conditions)
    if (condition.is_object() && condition.value("type", "") == "Ready") return &condition;
  return nullptr;
}

std::optional<WallTime> ready_since(const json& pod) {
  const json* condition = ready_condition(pod);
  if (condition == nullptr || condition->value("status", "") != "True") return std::nullopt;
  return api::parse_timestamp(condition->value("lastTransitionTime", ""));
}

std::string node_name(const json& pod) {
  const auto spec = pod.find("spec");
  if (spec == pod.end() || !spec->is_object()) return "";
  return spec->value("nodeName", "");
}

int phase_rank(const std::string& phase) {
  if (phase == "Pending") return 0;
  if (phase == "Unknown") return 1;
  if (phase == "Running") return 2;
  return 3;
}

int64_t max_restarts(const json& pod) {
  int64_t most = 0;
  const auto status = pod.find("status");
  if (status == pod.end() || !status->is_object()) return 0;
  const auto containers = status->find("containerStatuses");
  if (containers == status->end() || !containers->is_array()) return 0;
  for (const auto& c : *containers)
    if (c.is_object()) most = std::max(most, c.value("restartCount", int64_t{0}));
  return most;
}

}  // namespace

bool is_pod_terminal(const json& pod) {
  const std::string phase = phase_of(pod);
  return phase == "Succeeded" || phase == "Failed";
}

bool is_pod_active(const json& pod) {
  return !is_terminating(pod) && !is_pod_terminal(pod);
}

bool is_pod_ready(const json& pod) {
  const json* condition = ready_condition(pod);
  return condition != nullptr && condition->value("status", "") == "True";
}

bool is_pod_available(const json& pod, int64_t min_ready_seconds, WallTime now) {
  if (!is_pod_ready(pod)) return false;
  if (min_ready_seconds <= 0) return true;
  const auto since = ready_since(pod);
  return since && *since + std::chrono::seconds(min_ready_seconds) <= now;
}

std::string pod_ip(const json& pod) {
  const auto status = pod.find("status");
  if (status == pod.end() || !status->is_object()) return "";
  std::string ip = status->value("podIP", "");
  if (!ip.empty()) return ip;
  const auto ips = status->find("podIPs");
  if (ips != status->end() && ips->is_array() && !ips->empty() && (*ips)[0].is_object())
    return (*ips)[0].value("ip", "");
  return "";
}

bool delete_first(const json& a, const json& b) {
  const bool a_scheduled = !node_name(a).empty();
  const bool b_scheduled = !node_name(b).empty();
  if (a_scheduled != b_scheduled) return !a_scheduled;
  const int a_phase = phase_rank(phase_of(a));
  const int b_phase = phase_rank(phase_of(b));
  if (a_phase != b_phase) return a_phase < b_phase;
  const bool a_ready = is_pod_ready(a);
  const bool b_ready = is_pod_ready(b);
  if (a_ready != b_ready) return !a_ready;
  if (a_ready) {
    // Ready for less time first (a missing time counts as the shortest).
    const auto a_since = ready_since(a);
    const auto b_since = ready_since(b);
    if (a_since != b_since) {
      if (!a_since) return true;
      if (!b_since) return false;
      return *a_since > *b_since;
    }
  }
  const int64_t a_restarts = max_restarts(a);
  const int64_t b_restarts = max_restarts(b);
  if (a_restarts != b_restarts) return a_restarts > b_restarts;
  // Newer first; a missing creation time counts as the newest.
  const auto a_created = api::parse_timestamp(meta_string(a, "creationTimestamp"));
  const auto b_created = api::parse_timestamp(meta_string(b, "creationTimestamp"));
  if (a_created != b_created) {
    if (!a_created) return true;
    if (!b_created) return false;
    return *a_created > *b_created;
  }
  return false;
}

std::optional<int64_t> scaled_value(const json& int_or_percent, int64_t total, bool round_up) {
  if (int_or_percent.is_number_integer()) return int_or_percent.get<int64_t>();
  if (!int_or_percent.is_string()) return std::nullopt;
  const std::string text = int_or_percent.get<std::string>();
  if (text.size() < 2 || text.back() != '%') return std::nullopt;
  int64_t percent = 0;
  try {
    std::size_t used = 0;
    percent = std::stoll(text.substr(0, text.size() - 1), &used);
    if (used != text.size() - 1) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const double value = static_cast<double>(percent) * static_cast<double>(total) / 100.0;
  return static_cast<int64_t>(round_up ? std::ceil(value) : std::floor(value));
}

}  // namespace shakeout::controller
