#include "controller/garbage_collector.h"

#include <fmt/format.h>

#include <boost/asio/this_coro.hpp>

#include <algorithm>

#include "common/log.h"
#include "controller/pod_util.h"
#include "controller/wait_group.h"

namespace shakeout::controller {
namespace {

constexpr const char* kLog = "garbagecollector";
constexpr const char* kOrphan = "orphan";
constexpr const char* kForeground = "foregroundDeletion";
constexpr std::size_t kAbsentOwnersLimit = 10000;

bool has_finalizer(const json& object, const char* name) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return false;
  auto list = meta->find("finalizers");
  return list != meta->end() && list->is_array() &&
         std::find(list->begin(), list->end(), json(name)) != list->end();
}

// Upstream's DefaultIgnoredResources: events are never owners worth a watch.
bool collectable(const api::ResourceInfo& resource) {
  return resource.plural != "events";
}

std::string describe(const ObjectIdentity& id) {
  std::string kind = id.resource != nullptr ? id.resource->kind : "?";
  return id.ns.empty() ? fmt::format("{} {}", kind, id.name) : fmt::format("{} {}/{}", kind, id.ns, id.name);
}

void append(std::vector<std::string>& to, const std::string& uid) {
  if (std::find(to.begin(), to.end(), uid) == to.end()) to.push_back(uid);
}

}  // namespace

std::vector<OwnerReference> owner_references(const json& object) {
  std::vector<OwnerReference> refs;
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return refs;
  auto list = meta->find("ownerReferences");
  if (list == meta->end() || !list->is_array()) return refs;
  for (const auto& entry : *list) {
    if (!entry.is_object() || !entry.contains("uid") || !entry["uid"].is_string()) continue;
    OwnerReference ref;
    ref.api_version = entry.value("apiVersion", "");
    ref.kind = entry.value("kind", "");
    ref.name = entry.value("name", "");
    ref.uid = entry["uid"].get<std::string>();
    auto block = entry.find("blockOwnerDeletion");
    ref.block_owner_deletion = block != entry.end() && block->is_boolean() && block->get<bool>();
    refs.push_back(std::move(ref));
  }
  return refs;
}

ObjectIdentity owner_identity(const OwnerReference& ref, const std::string& ns) {
  ObjectIdentity id;
  const auto slash = ref.api_version.find('/');
  const std::string group = slash == std::string::npos ? "" : ref.api_version.substr(0, slash);
  id.resource = api::ResourceRegistry::builtin().by_kind(group, ref.kind);
  id.ns = id.resource != nullptr && id.resource->namespaced ? ns : "";
  id.name = ref.name;
  id.uid = ref.uid;
  return id;
}

// ---- DependencyGraph ----

void DependencyGraph::add_dependent(const OwnerReference& owner, const std::string& dependent_ns,
                                    const std::string& dependent_uid, GraphWork& work) {
  auto it = nodes_.find(owner.uid);
  if (it == nodes_.end()) {
    // graph_builder.go addDependentToOwners: an owner not observed yet
    // becomes a virtual node, verified by attempt_to_delete.
    Node owner_node;
    owner_node.identity = owner_identity(owner, dependent_ns);
    it = nodes_.emplace(owner.uid, std::move(owner_node)).first;
    append(work.attempt_to_delete, owner.uid);
  }
  it->second.dependents.insert(dependent_uid);
}

GraphWork DependencyGraph::observe(const api::ResourceInfo& resource, const json& object) {
  GraphWork work;
  const std::string uid = meta_string(object, "uid");
  if (uid.empty()) return work;
  const std::string ns = meta_string(object, "namespace");
  const auto owners = owner_references(object);
  const bool being_deleted = is_terminating(object);
  const bool orphaning = being_deleted && has_finalizer(object, kOrphan);
  const bool deleting_dependents = being_deleted && has_finalizer(object, kForeground);

  auto it = nodes_.find(uid);
  const bool seen = it != nodes_.end() && !it->second.is_virtual;
  bool was_orphaning = false;
  if (it == nodes_.end()) {
    it = nodes_.emplace(uid, Node()).first;
    for (const auto& owner : owners) add_dependent(owner, ns, uid, work);
  } else {
    Node& node = it->second;
    was_orphaning = seen && node.being_deleted && !node.deleting_dependents && node.orphaning;
    // referencesDiffs: removed and changed owners may unblock a foreground
    // deletion waiting on this object.
    for (const auto& old_ref : node.owners) {
      auto now = std::find_if(owners.begin(), owners.end(),
                              [&](const OwnerReference& r) { return r.uid == old_ref.uid; });
      auto owner_it = nodes_.find(old_ref.uid);
      if (now == owners.end()) {
        if (owner_it == nodes_.end()) continue;
        owner_it->second.dependents.erase(uid);
        if (owner_it->second.deleting_dependents) append(work.attempt_to_delete, old_ref.uid);
      } else if (old_ref.block_owner_deletion && !now->block_owner_deletion && owner_it != nodes_.end() &&
                 owner_it->second.deleting_dependents) {
        append(work.attempt_to_delete, old_ref.uid);
      }
    }
    for (const auto& ref : owners) {
      bool known = std::any_of(node.owners.begin(), node.owners.end(),
                               [&](const OwnerReference& r) { return r.uid == ref.uid; });
      if (!known) add_dependent(ref, ns, uid, work);
    }
  }
  Node& node = nodes_.at(uid);
  const bool was_deleting_dependents = seen && node.deleting_dependents;
  node.identity.resource = &resource;
  node.identity.ns = ns;
  node.identity.name = meta_string(object, "name");
  node.identity.uid = uid;
  node.is_virtual = false;
  node.owners = owners;
  node.being_deleted = being_deleted;
  node.orphaning = orphaning;
  node.deleting_dependents = deleting_dependents;

  // processTransitions.
  if (orphaning && !was_orphaning) {
    append(work.attempt_to_orphan, uid);
  } else if (deleting_dependents && !was_deleting_dependents) {
    for (const auto& dependent : node.dependents) append(work.attempt_to_delete, dependent);
    append(work.attempt_to_delete, uid);
  }
  return work;
}

GraphWork DependencyGraph::remove(const std::string& uid) {
  GraphWork work;
  auto it = nodes_.find(uid);
  if (it == nodes_.end()) return work;
  Node node = std::move(it->second);
  nodes_.erase(it);
  for (const auto& owner : node.owners) {
    auto owner_it = nodes_.find(owner.uid);
    if (owner_it == nodes_.end()) continue;
    owner_it->second.dependents.erase(uid);
    // Let a foreground deletion see its dependents are gone.
    if (owner_it->second.deleting_dependents) append(work.attempt_to_delete, owner.uid);
    // A virtual owner nobody names any more is forgotten.
    if (owner_it->second.is_virtual && owner_it->second.dependents.empty()) nodes_.erase(owner_it);
  }
  for (const auto& dependent : node.dependents) append(work.attempt_to_delete, dependent);
  return work;
}

const DependencyGraph::Node* DependencyGraph::find(const std::string& uid) const {
  auto it = nodes_.find(uid);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<std::string> DependencyGraph::blocking_dependents(const std::string& uid) const {
  std::vector<std::string> out;
  const Node* node = find(uid);
  if (node == nullptr) return out;
  for (const auto& dependent : node->dependents) {
    const Node* dep = find(dependent);
    if (dep == nullptr) continue;
    for (const auto& ref : dep->owners)
      if (ref.uid == uid && ref.block_owner_deletion) {
        out.push_back(dependent);
        break;
      }
  }
  return out;
}

// ---- GarbageCollector ----

GarbageCollector::GarbageCollector(client::Client& client, client::Timers& timers, client::Random& random,
                                   GarbageCollectorOptions options, WorkQueueMetrics* queue_metrics,
                                   SyncMetrics* sync_metrics)
    : client_(client),
      options_(options),
      sync_metrics_(sync_metrics),
      delete_queue_(client.executor(), timers, queue_metrics),
      orphan_queue_(client.executor(), timers, nullptr) {
  for (const auto& resource : api::ResourceRegistry::builtin().all()) {
    if (!collectable(resource)) continue;
    auto informer =
        std::make_unique<client::Informer>(client, resource, client::InformerOptions(), timers, random);
    const api::ResourceInfo* info = &resource;
    client::EventHandlers handlers;
    handlers.on_add = [this, info](const json& object) { enqueue(graph_.observe(*info, object)); };
    handlers.on_update = [this, info](const json&, const json& object) {
      enqueue(graph_.observe(*info, object));
    };
    handlers.on_delete = [this](const json& object, bool) {
      const std::string uid = meta_string(object, "uid");
      if (graph_.find(uid) != nullptr && !graph_.find(uid)->dependents.empty()) {
        if (absent_owners_.size() >= kAbsentOwnersLimit) absent_owners_.clear();
        absent_owners_.insert(uid);
      }
      enqueue(graph_.remove(uid));
    };
    informer->add_handlers(std::move(handlers));
    informers_.push_back(std::move(informer));
  }
}

GarbageCollector::~GarbageCollector() = default;

std::vector<client::Informer*> GarbageCollector::informers() const {
  std::vector<client::Informer*> out;
  for (const auto& informer : informers_) out.push_back(informer.get());
  return out;
}

void GarbageCollector::enqueue(const GraphWork& work) {
  for (const auto& uid : work.attempt_to_delete) delete_queue_.add(uid);
  for (const auto& uid : work.attempt_to_orphan) orphan_queue_.add(uid);
}

asio::awaitable<void> GarbageCollector::run() {
  WaitGroup group(co_await asio::this_coro::executor);
  WorkerOptions delete_options;
  delete_options.controller = "garbagecollector";
  delete_options.workers = options_.workers;
  delete_options.metrics = sync_metrics_;
  group.spawn(run_workers(
      delete_queue_, [this](std::string uid) { return attempt_to_delete(std::move(uid)); }, delete_options));
  WorkerOptions orphan_options = delete_options;
  orphan_options.controller = "garbagecollector-orphan";
  group.spawn(run_workers(
      orphan_queue_, [this](std::string uid) { return attempt_to_orphan(std::move(uid)); }, orphan_options));
  co_await group.wait();
}

void GarbageCollector::stop() {
  delete_queue_.shut_down();
  orphan_queue_.shut_down();
}

asio::awaitable<api::ApiResult<std::optional<json>>> GarbageCollector::live_owner(OwnerReference ref,
                                                                                  std::string ns) {
  if (absent_owners_.contains(ref.uid)) co_return std::optional<json>();
  ObjectIdentity id = owner_identity(ref, ns);
  // A kind this server does not serve cannot be looked up: count it as
  // present rather than collect its dependents on a guess.
  if (id.resource == nullptr) co_return std::optional<json>(json::object());
  auto owner = co_await client_.get(*id.resource, id.ns, id.name);
  if (!owner) {
    if (!client::is_not_found(owner.error())) co_return owner.error();
    absent_owners_.insert(ref.uid);
    co_return std::optional<json>();
  }
  if (meta_string(*owner, "uid") != ref.uid) {
    absent_owners_.insert(ref.uid);
    co_return std::optional<json>();
  }
  co_return std::optional<json>(std::move(*owner));
}

// garbagecollector.go attemptToDeleteItem.
asio::awaitable<api::ApiResult<void>> GarbageCollector::attempt_to_delete(std::string uid) {
  const DependencyGraph::Node* node = graph_.find(uid);
  if (node == nullptr) co_return api::ApiResult<void>();
  // Being deleted is a one-way trip: wait for the final delete, then look
  // at the dependents.
  if (!node->is_virtual && node->being_deleted && !node->deleting_dependents)
    co_return api::ApiResult<void>();
  const ObjectIdentity identity = node->identity;
  if (identity.resource == nullptr) co_return api::ApiResult<void>();  // a kind we cannot look up

  auto latest = co_await client_.get(*identity.resource, identity.ns, identity.name);
  if (!latest && !client::is_not_found(latest.error())) co_return latest.error();
  if (!latest || meta_string(*latest, "uid") != uid) {
    // Gone (or replaced under the same name): its dependents have a
    // dangling owner now (a virtual delete event upstream).
    absent_owners_.insert(uid);
    enqueue(graph_.remove(uid));
    co_return api::ApiResult<void>();
  }
  if (is_terminating(*latest) && has_finalizer(*latest, kForeground))
    co_return co_await process_deleting_dependents(identity);

  const auto owners = owner_references(*latest);
  if (owners.empty()) co_return api::ApiResult<void>();
  std::vector<OwnerReference> solid;
  std::vector<OwnerReference> dangling;
  std::vector<OwnerReference> waiting;
  for (const auto& ref : owners) {
    auto owner = co_await live_owner(ref, identity.ns);
    if (!owner) co_return owner.error();
    if (!owner->has_value()) {
      dangling.push_back(ref);
    } else if (is_terminating(**owner) && has_finalizer(**owner, kForeground)) {
      waiting.push_back(ref);
    } else {
      solid.push_back(ref);
    }
  }

  if (!solid.empty()) {
    if (dangling.empty() && waiting.empty()) co_return api::ApiResult<void>();
    // Keep the object; drop its references to owners that are gone or
    // waiting for it (deleteOwnerRefStrategicMergePatch).
    json drops = json::array();
    for (const auto* list : {&dangling, &waiting})
      for (const auto& ref : *list) drops.push_back({{"$patch", "delete"}, {"uid", ref.uid}});
    json patch = json::object();
    patch["metadata"]["ownerReferences"] = std::move(drops);
    patch["metadata"]["uid"] = uid;
    log::info(kLog, "{}: removing references to gone or foreground-deleting owners", describe(identity));
    co_return co_await patch_owner_references(identity, std::move(patch));
  }
  const DependencyGraph::Node* current = graph_.find(uid);
  if (!waiting.empty() && current != nullptr && !current->dependents.empty()) {
    // Its own dependents must go first: delete it in the foreground. A
    // dependent already deleting in the foreground could wait on it in a
    // cycle: unblock the references to the waiting owners first.
    bool cycle =
        std::any_of(current->dependents.begin(), current->dependents.end(), [&](const std::string& dep) {
          const auto* dep_node = graph_.find(dep);
          return dep_node != nullptr && dep_node->deleting_dependents;
        });
    if (cycle) {
      json refs = json::array();
      for (const auto& ref : waiting) refs.push_back({{"uid", ref.uid}, {"blockOwnerDeletion", false}});
      json patch = json::object();
      patch["metadata"]["ownerReferences"] = std::move(refs);
      patch["metadata"]["uid"] = uid;
      if (auto unblocked = co_await patch_owner_references(identity, std::move(patch)); !unblocked)
        co_return unblocked.error();
    }
    co_return co_await delete_object(identity, "Foreground");
  }
  // No solid owner: collect it, honouring its own GC finalizer.
  std::string policy = "Background";
  if (has_finalizer(*latest, kOrphan)) {
    policy = "Orphan";
  } else if (has_finalizer(*latest, kForeground)) {
    policy = "Foreground";
  }
  co_return co_await delete_object(identity, policy);
}

// processDeletingDependentsItem: the foregroundDeletion finalizer goes once
// no dependent blocks it; until then the blocking dependents are deleted.
asio::awaitable<api::ApiResult<void>> GarbageCollector::process_deleting_dependents(ObjectIdentity identity) {
  const auto blocking = graph_.blocking_dependents(identity.uid);
  if (blocking.empty()) co_return co_await remove_finalizer(identity, kForeground);
  for (const auto& dep : blocking) {
    const auto* dep_node = graph_.find(dep);
    if (dep_node != nullptr && !dep_node->deleting_dependents) delete_queue_.add(dep);
  }
  co_return api::ApiResult<void>();
}

// attemptToOrphanWorker: each dependent loses its reference to the owner,
// then the owner its orphan finalizer.
asio::awaitable<api::ApiResult<void>> GarbageCollector::attempt_to_orphan(std::string uid) {
  const DependencyGraph::Node* node = graph_.find(uid);
  if (node == nullptr || node->identity.resource == nullptr) co_return api::ApiResult<void>();
  const ObjectIdentity identity = node->identity;
  const std::set<std::string> dependents = node->dependents;
  for (const auto& dep : dependents) {
    const auto* dep_node = graph_.find(dep);
    if (dep_node == nullptr || dep_node->identity.resource == nullptr) continue;
    json drops = json::array();
    drops.push_back({{"$patch", "delete"}, {"uid", uid}});
    json patch = json::object();
    patch["metadata"]["ownerReferences"] = std::move(drops);
    patch["metadata"]["uid"] = dep;
    if (auto orphaned = co_await patch_owner_references(dep_node->identity, std::move(patch)); !orphaned)
      co_return orphaned.error();
  }
  log::info(kLog, "{}: orphaned {} dependents", describe(identity), dependents.size());
  co_return co_await remove_finalizer(identity, kOrphan);
}

asio::awaitable<api::ApiResult<void>> GarbageCollector::remove_finalizer(ObjectIdentity identity,
                                                                         std::string finalizer) {
  auto latest = co_await client_.get(*identity.resource, identity.ns, identity.name);
  if (!latest) {
    if (client::is_not_found(latest.error())) co_return api::ApiResult<void>();
    co_return latest.error();
  }
  if (meta_string(*latest, "uid") != identity.uid || !has_finalizer(*latest, finalizer.c_str()))
    co_return api::ApiResult<void>();
  json kept = json::array();
  for (const auto& name : (*latest)["metadata"]["finalizers"])
    if (name != finalizer) kept.push_back(name);
  json patch = json::object();
  patch["metadata"]["finalizers"] = std::move(kept);
  patch["metadata"]["resourceVersion"] = meta_string(*latest, "resourceVersion");
  auto patched = co_await client_.patch(*identity.resource, identity.ns, identity.name,
                                        client::PatchType::kMergePatch, patch.dump(), "");
  if (!patched && !client::is_not_found(patched.error())) co_return patched.error();
  log::info(kLog, "{}: removed the {} finalizer", describe(identity), finalizer);
  co_return api::ApiResult<void>();
}

asio::awaitable<api::ApiResult<void>> GarbageCollector::delete_object(ObjectIdentity identity,
                                                                      std::string policy) {
  client::DeleteOptions options;
  options.propagation_policy = policy;
  options.precondition_uid = identity.uid;
  log::info(kLog, "deleting {} (propagationPolicy {})", describe(identity), policy);
  auto deleted = co_await client_.remove(*identity.resource, identity.ns, identity.name, options);
  if (!deleted && !client::is_not_found(deleted.error()) && deleted.error().code != 409)
    co_return deleted.error();
  co_return api::ApiResult<void>();
}

asio::awaitable<api::ApiResult<void>> GarbageCollector::patch_owner_references(ObjectIdentity identity,
                                                                               json patch) {
  auto patched = co_await client_.patch(*identity.resource, identity.ns, identity.name,
                                        client::PatchType::kStrategicMergePatch, patch.dump(), "");
  if (!patched && !client::is_not_found(patched.error())) co_return patched.error();
  co_return api::ApiResult<void>();
}

}  // namespace shakeout::controller
