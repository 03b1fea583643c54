#include "metrics/control_loop.h"

#include <algorithm>
#include <initializer_list>

namespace shakeout::metrics {
namespace {

// The first event of one of `kinds` at or after `from`.
std::optional<SteadyTime> first_of(const PodTimeline& pod, std::initializer_list<PodEvent> kinds,
                                   SteadyTime from) {
  for (const auto& [at, event] : pod.events)
    if (at >= from && std::find(kinds.begin(), kinds.end(), event) != kinds.end()) return at;
  return std::nullopt;
}

std::optional<SteadyTime> first_loss(const PodTimeline& pod, SteadyTime from) {
  return first_of(pod,
                  {PodEvent::kNotRunning, PodEvent::kNotReady, PodEvent::kTerminating, PodEvent::kDeleted,
                   PodEvent::kOutOfEndpoints},
                  from);
}

}  // namespace

std::optional<SteadyTime> losses_seen(const std::map<std::string, PodTimeline>& pods,
                                      const std::vector<std::string>& hit, SteadyTime from) {
  SteadyTime latest = from;
  for (const auto& key : hit) {
    const auto pod = pods.find(key);
    if (pod == pods.end()) return std::nullopt;
    const auto loss = first_loss(pod->second, from);
    if (!loss) return std::nullopt;
    latest = std::max(latest, *loss);
  }
  return latest;
}

ControlLoop control_loop(const std::map<std::string, PodTimeline>& pods,
                         const std::map<std::string, std::vector<SteadyTime>>& answers,
                         SteadyTime fault_start) {
  ControlLoop loop;
  const auto since = [fault_start](SteadyTime at) {
    return std::chrono::duration_cast<Millis>(at - fault_start);
  };
  std::optional<SteadyTime> detected;
  for (const auto& [key, pod] : pods)
    if (auto loss = first_loss(pod, fault_start); loss && (!detected || *loss < *detected)) detected = loss;
  if (detected) loop.detected = since(*detected);

  // The recovering pod: the first created after the fault, else the first
  // to be Ready again after a loss of its own.
  const PodTimeline* recovering = nullptr;
  std::optional<SteadyTime> created;
  for (const auto& [key, pod] : pods)
    if (auto added = first_of(pod, {PodEvent::kAdded}, fault_start);
        added && (!created || *added < *created)) {
      created = added;
      recovering = &pod;
      loop.pod = key;
    }
  if (recovering == nullptr) {
    if (!detected) return loop;  // nothing lost, nothing added
    // Back: Ready again; or, for a pod the API never showed unready (its
    // restart seen only as a higher restartCount in one update), running.
    std::optional<SteadyTime> back_first;
    for (const auto& [key, pod] : pods) {
      const auto loss = first_loss(pod, fault_start);
      if (!loss) continue;
      auto back = first_of(pod, {PodEvent::kReady}, *loss);
      if (!back && !first_of(pod, {PodEvent::kNotReady, PodEvent::kTerminating, PodEvent::kDeleted}, *loss))
        back = first_of(pod, {PodEvent::kRunning}, *loss);
      if (back && (!back_first || *back < *back_first)) {
        back_first = back;
        recovering = &pod;
        loop.pod = key;
      }
    }
    if (recovering == nullptr) return loop;
  }

  // The pod's own steps each from the one before (one watch stream, in
  // order). Its endpoints come on another stream, so they are searched from
  // its start, not its Ready; answers from its Ready on (a pod that only
  // failed readiness may answer until the dataplane drops it).
  SteadyTime from = created ? *created : *first_loss(*recovering, fault_start);
  const auto step = [&](std::optional<Millis>& field, std::optional<SteadyTime> at) {
    if (!at) return;
    field = since(*at);
    from = *at;
  };
  if (created) {
    loop.created = since(*created);
    step(loop.scheduled, first_of(*recovering, {PodEvent::kBound}, from));
  }
  step(loop.started, first_of(*recovering, {PodEvent::kRunning}, from));
  const SteadyTime started_from = from;
  step(loop.ready, first_of(*recovering, {PodEvent::kReady}, from));
  const SteadyTime ready_from = from;
  if (auto in = first_of(*recovering, {PodEvent::kInEndpoints}, started_from)) loop.endpoints = since(*in);
  if (auto it = answers.find(loop.pod); it != answers.end()) {
    auto answer = std::lower_bound(it->second.begin(), it->second.end(), ready_from);
    if (answer != it->second.end()) loop.serving = since(*answer);
  }
  return loop;
}

}  // namespace shakeout::metrics
