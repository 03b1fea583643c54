#include "controller/namespace.h"

#include <fmt/format.h>

#include <algorithm>

#include "api/resource_registry.h"
#include "api/store.h"
#include "common/log.h"
#include "controller/pod_util.h"

namespace shakeout::controller {
namespace {

constexpr const char* kLog = "namespace";
constexpr const char* kKubernetesFinalizer = "kubernetes";

const api::ResourceInfo& namespaces_resource() {
  return *api::ResourceRegistry::builtin().by_plural("", "namespaces");
}

bool finalized(const json& ns) {
  const json& spec = spec_of(ns);
  auto it = spec.find("finalizers");
  if (it == spec.end() || !it->is_array()) return true;
  return std::find(it->begin(), it->end(), json(kKubernetesFinalizer)) == it->end();
}

}  // namespace

json namespace_conditions(const NamespaceContent& content, const json& old_conditions,
                          const std::string& now) {
  struct Condition {
    const char* type;
    bool failing;
    const char* ok_reason;
    const char* ok_message;
    const char* bad_reason;
    std::string bad_message;
  };
  std::vector<std::string> remaining;
  for (const auto& [resource, count] : content.remaining)
    remaining.push_back(fmt::format("{} has {} resource instances", resource, count));
  std::vector<std::string> finalizers;
  for (const auto& [finalizer, count] : content.finalizers)
    finalizers.push_back(fmt::format("{} in {} resource instances", finalizer, count));
  const std::vector<Condition> conditions = {
      {"NamespaceDeletionDiscoveryFailure", false, "ResourcesDiscovered",
       "All resources successfully discovered", "", ""},
      {"NamespaceDeletionGroupVersionParsingFailure", false, "ParsedGroupVersions",
       "All legacy kube types successfully parsed", "", ""},
      {"NamespaceDeletionContentFailure", !content.failures.empty(), "ContentDeleted",
       "All content successfully deleted, may be waiting on finalization", "ContentDeletionFailed",
       fmt::format("Failed to delete all resource types, {} remaining: {}", content.failures.size(),
                   fmt::join(content.failures, ", "))},
      {"NamespaceContentRemaining", !content.remaining.empty(), "ContentRemoved",
       "All content successfully removed", "SomeResourcesRemain",
       fmt::format("Some resources are remaining: {}", fmt::join(remaining, ", "))},
      {"NamespaceFinalizersRemaining", !content.finalizers.empty(), "ContentHasNoFinalizers",
       "All content-preserving finalizers finished", "SomeFinalizersRemain",
       fmt::format("Some content in the namespace has finalizers remaining: {}",
                   fmt::join(finalizers, ", "))},
  };
  json out = json::array();
  for (const auto& c : conditions) {
    json condition = {{"type", c.type},
                      {"status", c.failing ? "True" : "False"},
                      {"reason", c.failing ? c.bad_reason : c.ok_reason},
                      {"message", c.failing ? c.bad_message : std::string(c.ok_message)},
                      {"lastTransitionTime", now}};
    if (old_conditions.is_array())
      for (const auto& old : old_conditions)
        if (old.value("type", "") == c.type && old.value("status", "") == condition["status"] &&
            old.contains("lastTransitionTime"))
          condition["lastTransitionTime"] = old["lastTransitionTime"];
    out.push_back(std::move(condition));
  }
  return out;
}

NamespaceController::NamespaceController(client::Client& client, client::Informer& namespaces,
                                         client::Timers& timers, NamespaceOptions options,
                                         WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics)
    : client_(client),
      clock_(timers.clock()),
      options_(options),
      sync_metrics_(sync_metrics),
      queue_(client.executor(), timers, queue_metrics) {
  auto enqueue = [this](const json& ns) {
    if (is_terminating(ns)) queue_.add(meta_string(ns, "name"));
  };
  client::EventHandlers handlers;
  handlers.on_add = enqueue;
  handlers.on_update = [enqueue](const json&, const json& ns) { enqueue(ns); };
  namespaces.add_handlers(std::move(handlers));
}

asio::awaitable<void> NamespaceController::run() {
  WorkerOptions options;
  options.controller = "namespace";
  options.workers = options_.workers;
  options.metrics = sync_metrics_;
  co_await run_workers(
      queue_, [this](std::string name) { return sync(std::move(name)); }, options);
}

// namespaced_resources_deleter.go Delete.
asio::awaitable<api::ApiResult<void>> NamespaceController::sync(std::string name) {
  const auto& namespaces = namespaces_resource();
  auto ns = co_await client_.get(namespaces, "", name);
  if (!ns) {
    if (client::is_not_found(ns.error())) co_return api::ApiResult<void>();
    co_return ns.error();
  }
  if (!is_terminating(*ns)) co_return api::ApiResult<void>();
  const std::string uid = meta_string(*ns, "uid");
  client::DeleteOptions precondition;
  precondition.precondition_uid = uid;
  if (finalized(*ns)) {
    auto deleted = co_await client_.remove(namespaces, "", name, precondition);
    if (!deleted && !client::is_not_found(deleted.error())) co_return deleted.error();
    co_return api::ApiResult<void>();
  }

  auto content = co_await delete_all_content(name);
  if (!content) co_return content.error();
  if (auto updated = co_await update_conditions(*ns, *content); !updated) co_return updated.error();
  if (!content->failures.empty())
    co_return api::internal_error(fmt::format("namespace {}: {}", name, fmt::join(content->failures, "; ")));
  if (!content->remaining.empty()) {
    // ResourcesRemainingError: look again once the estimate has passed;
    // content that should be gone and is not is an error (backoff).
    if (content->estimate.count() == 0)
      co_return api::internal_error(fmt::format("namespace {}: unexpected items still remain", name));
    log::info(kLog, "namespace {}: content remains, again in {} ms", name, content->estimate.count());
    queue_.add_after(name, content->estimate);
    co_return api::ApiResult<void>();
  }

  // Empty: drop our finalizer, then delete it for good.
  auto latest = co_await client_.get(namespaces, "", name);
  if (!latest) co_return latest.error();
  json kept = json::array();
  for (const auto& finalizer : spec_of(*latest).value("finalizers", json::array()))
    if (finalizer != kKubernetesFinalizer) kept.push_back(finalizer);
  (*latest)["spec"]["finalizers"] = std::move(kept);
  auto finalized_ns = co_await client_.update_subresource(namespaces, "", name, "finalize", *latest);
  if (!finalized_ns) {
    if (client::is_not_found(finalized_ns.error())) co_return api::ApiResult<void>();
    co_return finalized_ns.error();
  }
  if (finalized(*finalized_ns)) {
    auto deleted = co_await client_.remove(namespaces, "", name, precondition);
    if (!deleted && !client::is_not_found(deleted.error())) co_return deleted.error();
    log::info(kLog, "namespace {}: content removed, namespace deleted", name);
  }
  co_return api::ApiResult<void>();
}

asio::awaitable<api::ApiResult<NamespaceContent>> NamespaceController::delete_all_content(std::string ns) {
  NamespaceContent content;
  for (const auto& resource : api::ResourceRegistry::builtin().all()) {
    if (!resource.namespaced) continue;
    const std::string path = client::path_for(resource, ns, "", "");
    auto deleted = co_await client_.request("DELETE", path, "", "");
    if (!deleted && !client::is_not_found(deleted.error())) {
      content.failures.push_back(fmt::format("{}: {}", resource.group_resource(), deleted.error().message()));
      continue;
    }
    auto left = co_await client_.list(resource, ns, client::ListOptions());
    if (!left) {
      content.failures.push_back(fmt::format("{}: {}", resource.group_resource(), left.error().message()));
      continue;
    }
    const json& items = (*left)["items"];
    if (items.empty()) continue;
    content.remaining[resource.group_resource()] = static_cast<int>(items.size());
    bool any_finalizer = false;
    for (const auto& item : items) {
      for (const auto& finalizer : item["metadata"].value("finalizers", json::array())) {
        if (finalizer.is_string()) ++content.finalizers[finalizer.get<std::string>()];
        any_finalizer = true;
      }
      // estimateGracefulTermination: a running pod may take its grace.
      if (resource.group.empty() && resource.plural == "pods" && !is_pod_terminal(item)) {
        int64_t grace = spec_of(item).value("terminationGracePeriodSeconds", int64_t{30});
        if (auto it = item["metadata"].find("deletionGracePeriodSeconds");
            it != item["metadata"].end() && it->is_number_integer())
          grace = it->get<int64_t>();
        content.estimate = std::max(content.estimate, Millis(grace * 1000));
      }
    }
    if (any_finalizer) content.estimate = std::max(content.estimate, options_.finalizer_estimate);
  }
  co_return content;
}

asio::awaitable<api::ApiResult<void>> NamespaceController::update_conditions(json ns,
                                                                             NamespaceContent content) {
  json status = ns.value("status", json::object());
  json conditions = namespace_conditions(content, status.value("conditions", json::array()),
                                         api::format_timestamp(clock_.wall_now()));
  if (status.value("conditions", json::array()) == conditions) co_return api::ApiResult<void>();
  ns["status"]["conditions"] = std::move(conditions);
  auto updated = co_await client_.update_status(namespaces_resource(), "", ns);
  if (!updated && !client::is_not_found(updated.error())) co_return updated.error();
  co_return api::ApiResult<void>();
}

}  // namespace shakeout::controller
