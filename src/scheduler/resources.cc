#include "scheduler/resources.h"

#include <algorithm>
#include <optional>

#include "api/quantity.h"
#include "scheduler/fields.h"

namespace shakeout::scheduler {
namespace {

// A quantity from a ResourceList; nullopt when absent or malformed.
std::optional<api::Quantity> quantity_at(const json& list, const char* name) {
  if (!list.is_object()) return std::nullopt;
  auto it = list.find(name);
  if (it == list.end()) return std::nullopt;
  return api::quantity_of(*it);
}

Resources container_requests(const json& container, bool nonzero) {
  const json& requests = field(field(container, "resources"), "requests");
  Resources r;
  auto cpu = quantity_at(requests, "cpu");
  auto memory = quantity_at(requests, "memory");
  r.milli_cpu = cpu ? cpu->milli_value() : (nonzero ? kDefaultMilliCpuRequest : 0);
  r.memory = memory ? memory->value() : (nonzero ? kDefaultMemoryRequest : 0);
  return r;
}

Resources requests(const json& pod, bool nonzero) {
  Resources sum;
  Resources init_max;
  const json& spec = field(pod, "spec");
  if (const json& containers = field(spec, "containers"); containers.is_array()) {
    for (const auto& c : containers) sum += container_requests(c, nonzero);
  }
  if (const json& init = field(spec, "initContainers"); init.is_array()) {
    for (const auto& c : init) {
      Resources r = container_requests(c, nonzero);
      init_max.milli_cpu = std::max(init_max.milli_cpu, r.milli_cpu);
      init_max.memory = std::max(init_max.memory, r.memory);
    }
  }
  Resources total;
  total.milli_cpu = std::max(sum.milli_cpu, init_max.milli_cpu);
  total.memory = std::max(sum.memory, init_max.memory);
  const json& overhead = field(spec, "overhead");
  if (auto cpu = quantity_at(overhead, "cpu")) total.milli_cpu += cpu->milli_value();
  if (auto memory = quantity_at(overhead, "memory")) total.memory += memory->value();
  total.pods = 1;
  return total;
}

}  // namespace

Resources& Resources::operator+=(const Resources& other) {
  milli_cpu += other.milli_cpu;
  memory += other.memory;
  pods += other.pods;
  return *this;
}

Resources& Resources::operator-=(const Resources& other) {
  milli_cpu -= other.milli_cpu;
  memory -= other.memory;
  pods -= other.pods;
  return *this;
}

Resources pod_requests(const json& pod) {
  return requests(pod, false);
}

Resources pod_nonzero_requests(const json& pod) {
  return requests(pod, true);
}

Resources node_allocatable(const json& node) {
  const json& allocatable = field(field(node, "status"), "allocatable");
  const json& capacity = field(field(node, "status"), "capacity");
  auto pick = [&](const char* name) {
    if (auto q = quantity_at(allocatable, name)) return q;
    return quantity_at(capacity, name);
  };
  Resources r;
  if (auto cpu = pick("cpu")) r.milli_cpu = cpu->milli_value();
  if (auto memory = pick("memory")) r.memory = memory->value();
  if (auto pods = pick("pods")) r.pods = pods->value();
  return r;
}

}  // namespace shakeout::scheduler
