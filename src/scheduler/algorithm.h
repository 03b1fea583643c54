#pragma once
// One scheduling decision (upstream pkg/scheduler/schedule_one.go with the
// default profile's filter and score plugins, reduced to what shakeout needs):
//
//   nodes ──► filters (first failure per node, in order) ──► feasible nodes
//               ready, NodeUnschedulable, TaintToleration, NodeAffinity
//               (nodeSelector), NodeResourcesFit (cpu, memory, pods)
//   feasible ──► scores: least allocated (x1) + owner spreading (x2)
//            ──► the highest total; ties broken uniformly at random
//   none feasible ──► "0/N nodes are available: <count> <reason>, ...."
//
// Pure functions over json objects and NodeInfos; no I/O.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "client/timers.h"
#include "scheduler/cache.h"

namespace shakeout::scheduler {

inline constexpr int64_t kMaxNodeScore = 100;
// Plugin weights. The least-allocated score has upstream's NodeResourcesFit
// weight 1; spreading takes the weight 2 of PodTopologySpread, which
// replaced SelectorSpread in upstream's default profile
// (pkg/scheduler/apis/config/v1/default_plugins.go).
inline constexpr int64_t kLeastAllocatedWeight = 1;
inline constexpr int64_t kSpreadWeight = 2;

// Reasons, worded as upstream's plugins word them.
inline constexpr const char* kReasonNotReady = "node(s) were not ready";
inline constexpr const char* kReasonUnschedulable = "node(s) were unschedulable";
inline constexpr const char* kReasonNodeSelector = "node(s) didn't match Pod's node affinity/selector";
inline constexpr const char* kReasonTooManyPods = "Too many pods";
inline constexpr const char* kReasonInsufficientCpu = "Insufficient cpu";
inline constexpr const char* kReasonInsufficientMemory = "Insufficient memory";

// The node's Ready condition is True.
bool node_ready(const json& node);

// Why `node` cannot take `pod`; empty when it can. Filters run in order and
// stop at the first that fails (the resource filter may give several
// reasons: cpu and memory).
std::vector<std::string> filter_node(const json& pod, const PodInfo& pod_info, const NodeInfo& node);

// Upstream noderesources/least_allocated.go: per resource
// (capacity - requested) * 100 / capacity with the node's non-zero requests
// plus the pod's, 0 when that exceeds capacity or capacity is 0; the mean
// over cpu and memory (integer arithmetic throughout).
int64_t least_allocated_score(const PodInfo& pod, const NodeInfo& node);

// Pods of the same controller owner (same namespace, not terminating) on
// each node, normalized as upstream selectorspread/selector_spread.go:
// 100 * (max - count) / max, 100 everywhere when max is 0. A pod without a
// controller owner scores 0 on every node.
std::vector<int64_t> spread_scores(const PodInfo& pod, const std::vector<const NodeInfo*>& nodes);

struct Decision {
  std::string node;  // "" when no node fits
  // Per reason, how many nodes failed with it (a node may add to several).
  std::map<std::string, int> reasons;
  std::size_t nodes_total = 0;
  std::size_t feasible = 0;
  // Unschedulable: the FailedScheduling message.
  std::string message() const;
};

Decision schedule_pod(const json& pod, const std::vector<NodeInfo>& nodes, client::Random& random);

// Upstream framework/types.go FitError.Error(): "0/N nodes are available:"
// then every "<count> <reason>" sorted as strings and joined with ", ", then
// "."; "no nodes available to schedule pods" when there are no nodes.
std::string fit_error_message(std::size_t nodes_total, const std::map<std::string, int>& reasons);

}  // namespace shakeout::scheduler
