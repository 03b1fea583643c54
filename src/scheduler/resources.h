#pragma once
// What a pod asks for and what a node offers, in the units the scheduler
// compares: milli-CPU, bytes of memory, and a pod count.

#include <nlohmann/json.hpp>

#include <cstdint>

namespace shakeout::scheduler {

using json = nlohmann::json;

struct Resources {
  int64_t milli_cpu = 0;
  int64_t memory = 0;  // bytes
  int64_t pods = 0;

  Resources& operator+=(const Resources& other);
  Resources& operator-=(const Resources& other);
  bool operator==(const Resources&) const = default;
};

// Scoring stand-ins for a container that requests no CPU or memory, so
// best-effort pods still spread (upstream pkg/scheduler/util/pod_resources.go
// DefaultMilliCPURequest / DefaultMemoryRequest).
inline constexpr int64_t kDefaultMilliCpuRequest = 100;
inline constexpr int64_t kDefaultMemoryRequest = 200LL * 1024 * 1024;

// The pod's effective requests (pods = 1): the larger of the sum over
// containers and the largest init container, plus spec.overhead (upstream
// k8s.io/component-helpers/resource/helpers.go PodRequests). Quantities that
// do not parse count as 0.
Resources pod_requests(const json& pod);
// As pod_requests, but a container without a cpu (memory) request counts
// kDefaultMilliCpuRequest (kDefaultMemoryRequest); an explicit 0 stays 0
// (upstream GetNonzeroRequestForResource). Used only for scores.
Resources pod_nonzero_requests(const json& pod);
// status.allocatable (status.capacity where allocatable lacks a resource).
Resources node_allocatable(const json& node);

}  // namespace shakeout::scheduler
