#include "controller/podgc.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "api/resource_registry.h"
#include "api/store.h"
#include "common/log.h"
#include "controller/pod_util.h"

namespace shakeout::controller {
namespace {

constexpr const char* kLog = "podgc";

const api::ResourceInfo& pods_resource() {
  return *api::ResourceRegistry::builtin().by_plural("", "pods");
}
const api::ResourceInfo& nodes_resource() {
  return *api::ResourceRegistry::builtin().by_plural("", "nodes");
}

std::string node_name(const json& pod) {
  return spec_of(pod).value("nodeName", "");
}

}  // namespace

std::vector<json> terminated_pods_to_delete(std::vector<json> pods, int64_t threshold) {
  std::vector<json> terminated;
  for (auto& pod : pods)
    if (is_pod_terminal(pod)) terminated.push_back(std::move(pod));
  if (threshold <= 0 || static_cast<int64_t>(terminated.size()) <= threshold) return {};
  // byEvictionAndCreationTimestamp without the eviction rank: oldest first.
  std::stable_sort(terminated.begin(), terminated.end(), [](const json& a, const json& b) {
    return meta_string(a, "creationTimestamp") < meta_string(b, "creationTimestamp");
  });
  terminated.resize(terminated.size() - static_cast<std::size_t>(threshold));
  return terminated;
}

PodGcController::PodGcController(client::Client& client, client::Informer& pods, client::Informer& nodes,
                                 client::Timers& timers, PodGcOptions options, SyncMetrics* sync_metrics)
    : client_(client),
      pods_(pods),
      nodes_(nodes),
      clock_(timers.clock()),
      options_(options),
      sync_metrics_(sync_metrics),
      sleeper_(client.executor(), timers) {}

asio::awaitable<void> PodGcController::run() {
  // (A while loop: g++12 miscompiled a for(;;) leaving by co_return/break
  // in a coroutine into ud2, see node_lifecycle.cc.)
  bool running = true;
  while (running) {
    const auto started = clock_.now();
    auto result = co_await gc();
    const double seconds = std::chrono::duration<double>(clock_.now() - started).count();
    if (sync_metrics_ != nullptr)
      sync_metrics_->on_sync(result ? SyncResult::kSuccess : SyncResult::kError, seconds);
    if (!result) log::warn(kLog, "pass failed: {}", result.error().message());
    running = co_await sleeper_.sleep(options_.gc_period);
  }
}

asio::awaitable<api::ApiResult<void>> PodGcController::gc() {
  const std::vector<json> pods = pods_.store().list();

  // gcTerminated.
  for (auto& pod : terminated_pods_to_delete(pods, options_.terminated_pod_gc_threshold)) {
    log::info(kLog, "deleting terminated pod {}/{} (over the threshold of {})", meta_string(pod, "namespace"),
              meta_string(pod, "name"), options_.terminated_pod_gc_threshold);
    if (auto deleted = co_await delete_pod(std::move(pod), false); !deleted) co_return deleted.error();
  }

  // gcOrphaned: a node missing from the informer is quarantined first,
  // then confirmed gone by a GET.
  std::set<std::string> missing;
  for (const auto& pod : pods) {
    const std::string node = node_name(pod);
    if (!node.empty() && nodes_.store().get(node) == nullptr) missing.insert(node);
  }
  const auto now = clock_.now();
  for (auto it = quarantine_.begin(); it != quarantine_.end();)
    it = missing.contains(it->first) ? std::next(it) : quarantine_.erase(it);
  std::set<std::string> gone;
  for (const auto& node : missing) {
    auto [entry, added] = quarantine_.emplace(node, now);
    if (added || now - entry->second < options_.quarantine) continue;
    auto found = co_await client_.get(nodes_resource(), "", node);
    if (found) {
      quarantine_.erase(node);
      continue;
    }
    if (!client::is_not_found(found.error())) co_return found.error();
    gone.insert(node);
  }
  for (const auto& pod : pods) {
    if (!gone.contains(node_name(pod))) continue;
    log::info(kLog, "deleting pod {}/{}: its node {} no longer exists", meta_string(pod, "namespace"),
              meta_string(pod, "name"), node_name(pod));
    if (auto deleted = co_await delete_pod(pod, true); !deleted) co_return deleted.error();
  }

  // gcUnscheduledTerminating.
  for (const auto& pod : pods) {
    if (!is_terminating(pod) || !node_name(pod).empty()) continue;
    log::info(kLog, "deleting unscheduled terminating pod {}/{}", meta_string(pod, "namespace"),
              meta_string(pod, "name"));
    if (auto deleted = co_await delete_pod(pod, false); !deleted) co_return deleted.error();
  }
  co_return api::ApiResult<void>();
}

// markFailedAndDeletePodWithCondition, then a delete with grace 0.
asio::awaitable<api::ApiResult<void>> PodGcController::delete_pod(json pod, bool mark_failed) {
  const std::string ns = meta_string(pod, "namespace");
  const std::string name = meta_string(pod, "name");
  if (mark_failed && !is_pod_terminal(pod)) {
    json condition = {{"type", "DisruptionTarget"},
                      {"status", "True"},
                      {"reason", "DeletionByPodGC"},
                      {"message", "PodGC: node no longer exists"},
                      {"lastTransitionTime", api::format_timestamp(clock_.wall_now())}};
    json status = json::object();
    status["phase"] = "Failed";
    status["conditions"] = json::array({condition});
    json patch = json::object();
    patch["status"] = std::move(status);
    patch["metadata"]["uid"] = meta_string(pod, "uid");
    auto marked = co_await client_.patch(pods_resource(), ns, name, client::PatchType::kStrategicMergePatch,
                                         patch.dump(), "status");
    if (!marked) {
      if (client::is_not_found(marked.error())) co_return api::ApiResult<void>();
      co_return marked.error();
    }
  }
  client::DeleteOptions options;
  options.grace_period_seconds = 0;
  options.precondition_uid = meta_string(pod, "uid");
  auto deleted = co_await client_.remove(pods_resource(), ns, name, options);
  if (!deleted && !client::is_not_found(deleted.error()) && !client::is_conflict(deleted.error()))
    co_return deleted.error();
  co_return api::ApiResult<void>();
}

}  // namespace shakeout::controller
