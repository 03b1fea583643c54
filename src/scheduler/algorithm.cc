#include "scheduler/algorithm.h"

#include <fmt/format.h>

#include <algorithm>

#include "scheduler/fields.h"
#include "scheduler/taints.h"

namespace shakeout::scheduler {
namespace {

bool matches_node_selector(const json& pod, const json& node) {
  const json& selector = field(field(pod, "spec"), "nodeSelector");
  if (!selector.is_object()) return true;
  const json& labels = field(field(node, "metadata"), "labels");
  for (const auto& [key, value] : selector.items()) {
    const json& label = field(labels, key);
    if (!label.is_string() || label != value) return false;
  }
  return true;
}

// Upstream noderesources/fit.go fitsRequest: the pod count always; cpu and
// memory only when the pod requests them.
std::vector<std::string> insufficient_resources(const PodInfo& pod, const NodeInfo& node) {
  std::vector<std::string> reasons;
  if (node.requested.pods + 1 > node.allocatable.pods) reasons.emplace_back(kReasonTooManyPods);
  if (pod.requests.milli_cpu == 0 && pod.requests.memory == 0) return reasons;
  if (pod.requests.milli_cpu > 0 &&
      pod.requests.milli_cpu > node.allocatable.milli_cpu - node.requested.milli_cpu)
    reasons.emplace_back(kReasonInsufficientCpu);
  if (pod.requests.memory > 0 && pod.requests.memory > node.allocatable.memory - node.requested.memory)
    reasons.emplace_back(kReasonInsufficientMemory);
  return reasons;
}

int64_t least_requested(int64_t requested, int64_t capacity) {
  if (capacity <= 0 || requested > capacity) return 0;
  return (capacity - requested) * kMaxNodeScore / capacity;
}

}  // namespace

bool node_ready(const json& node) {
  const json& conditions = field(field(node, "status"), "conditions");
  if (!conditions.is_array()) return false;
  for (const auto& condition : conditions) {
    if (string_field(condition, "type") == "Ready") return string_field(condition, "status") == "True";
  }
  return false;
}

std::vector<std::string> filter_node(const json& pod, const PodInfo& pod_info, const NodeInfo& node) {
  const json& node_object = *node.node;
  const json& tolerations = field(field(pod, "spec"), "tolerations");
  if (!node_ready(node_object)) return {kReasonNotReady};
  // A pod that tolerates the unschedulable taint may go to a cordoned node
  // (upstream nodeunschedulable/node_unschedulable.go).
  if (field(field(node_object, "spec"), "unschedulable") == true) {
    json taint = {{"key", kTaintUnschedulable}, {"effect", "NoSchedule"}};
    if (!tolerations_tolerate(tolerations, taint)) return {kReasonUnschedulable};
  }
  if (auto taint = find_untolerated_taint(field(field(node_object, "spec"), "taints"), tolerations))
    return {fmt::format("node(s) had untolerated taint {}", describe_taint(*taint))};
  if (!matches_node_selector(pod, node_object)) return {kReasonNodeSelector};
  return insufficient_resources(pod_info, node);
}

int64_t least_allocated_score(const PodInfo& pod, const NodeInfo& node) {
  const int64_t cpu =
      least_requested(node.nonzero_requested.milli_cpu + pod.nonzero.milli_cpu, node.allocatable.milli_cpu);
  const int64_t memory =
      least_requested(node.nonzero_requested.memory + pod.nonzero.memory, node.allocatable.memory);
  return (cpu + memory) / 2;
}

std::vector<int64_t> spread_scores(const PodInfo& pod, const std::vector<const NodeInfo*>& nodes) {
  std::vector<int64_t> scores(nodes.size(), 0);
  if (pod.owner_uid.empty()) return scores;
  std::vector<int64_t> counts(nodes.size(), 0);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (const PodInfo* other : nodes[i]->pods) {
      if (other->key != pod.key && !other->terminating && other->ns == pod.ns &&
          other->owner_uid == pod.owner_uid)
        ++counts[i];
    }
  }
  const int64_t max_count = counts.empty() ? 0 : *std::max_element(counts.begin(), counts.end());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    scores[i] = max_count == 0 ? kMaxNodeScore : kMaxNodeScore * (max_count - counts[i]) / max_count;
  }
  return scores;
}

Decision schedule_pod(const json& pod, const std::vector<NodeInfo>& nodes, client::Random& random) {
  Decision decision;
  decision.nodes_total = nodes.size();
  const PodInfo pod_info = make_pod_info(pod);
  std::vector<const NodeInfo*> feasible;
  for (const auto& node : nodes) {
    auto reasons = filter_node(pod, pod_info, node);
    if (reasons.empty()) {
      feasible.push_back(&node);
      continue;
    }
    for (auto& reason : reasons) ++decision.reasons[reason];
  }
  decision.feasible = feasible.size();
  if (feasible.empty()) return decision;
  const auto spread = spread_scores(pod_info, feasible);
  // Reservoir sampling over the best totals: each tied node is picked with
  // equal probability (upstream schedule_one.go selectHost).
  int64_t best = -1;
  int ties = 0;
  for (std::size_t i = 0; i < feasible.size(); ++i) {
    const int64_t total =
        kLeastAllocatedWeight * least_allocated_score(pod_info, *feasible[i]) + kSpreadWeight * spread[i];
    if (total > best) {
      best = total;
      ties = 1;
      decision.node = feasible[i]->name;
    } else if (total == best) {
      ++ties;
      if (random.uniform() * ties < 1.0) decision.node = feasible[i]->name;
    }
  }
  return decision;
}

std::string Decision::message() const {
  return fit_error_message(nodes_total, reasons);
}

std::string fit_error_message(std::size_t nodes_total, const std::map<std::string, int>& reasons) {
  if (nodes_total == 0) return "no nodes available to schedule pods";
  std::vector<std::string> parts;
  parts.reserve(reasons.size());
  for (const auto& [reason, count] : reasons) parts.push_back(fmt::format("{} {}", count, reason));
  std::sort(parts.begin(), parts.end());
  std::string message = fmt::format("0/{} nodes are available", nodes_total);
  message += parts.empty() ? "." : fmt::format(": {}.", fmt::join(parts, ", "));
  return message;
}

}  // namespace shakeout::scheduler
