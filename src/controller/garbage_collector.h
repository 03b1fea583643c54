#pragma once
// GarbageCollector: cascading deletion along ownerReferences, as upstream's
// pkg/controller/garbagecollector (garbagecollector.go, graph_builder.go).
//
//   informers: every resource but events ──► DependencyGraph (uid ──► node:
//     owners from ownerReferences, dependents, being deleted, foreground)
//       │ an owner gone ──────────────────► attempt_to_delete(each dependent)
//       │ an owner never seen ────────────► virtual node ──► attempt_to_delete
//       │ starts deleting, foregroundDeletion ► attempt_to_delete(it, dependents)
//       └ starts deleting, orphan ─────────► attempt_to_orphan(it)
//
//   attempt_to_delete(uid):  GET the object (gone ──► dependents re-examined)
//     foreground-deleting ──► no blocking dependent left: drop its
//                             foregroundDeletion finalizer; else delete them
//     owners classified by live GETs: solid / dangling (gone, other uid) /
//     waiting (deleting in foreground)
//       some solid ──► patch away the dangling and waiting references
//       none solid, one waiting, it has dependents ──► delete it Foreground
//       none solid ──► delete it (its own orphan/foreground finalizer decides
//                      the policy, else Background)
//   attempt_to_orphan(uid): remove the owner's reference from each dependent,
//     then its orphan finalizer.
//
// Deleting a Deployment in the background so removes its ReplicaSets, then
// their pods; Foreground keeps the Deployment until the dependents with
// blockOwnerDeletion are gone; Orphan leaves them without the owner.
// Contract: every delete carries the uid precondition, so an object
// recreated under the same name is never collected for its predecessor.
// Not reproduced: the absent-owner LRU (a set, cleared when it grows past
// 10,000), the coordinate checks of virtual delete events, namespace
// mismatch warnings, dynamic discovery of new resources.
// Threading: one executor; not thread-safe.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/resource_registry.h"
#include "api/status.h"
#include "client/client.h"
#include "client/informer.h"
#include "controller/work_queue.h"
#include "controller/worker.h"

namespace shakeout::controller {

using json = nlohmann::json;

// One metadata.ownerReferences entry.
struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool block_owner_deletion = false;
  bool operator==(const OwnerReference&) const = default;
};

std::vector<OwnerReference> owner_references(const json& object);

// Where an object lives: enough to GET or DELETE it.
struct ObjectIdentity {
  const api::ResourceInfo* resource = nullptr;  // null: a kind this server does not serve
  std::string ns;
  std::string name;
  std::string uid;
};

// The identity an owner reference names, seen from a dependent in `ns`
// (an owner of a namespaced kind lives in the dependent's namespace).
ObjectIdentity owner_identity(const OwnerReference& ref, const std::string& ns);

// What graph changes ask the workers to do (uids).
struct GraphWork {
  std::vector<std::string> attempt_to_delete;
  std::vector<std::string> attempt_to_orphan;
};

// The owner/dependent graph built from informer events (graph_builder.go
// processGraphChanges). Pure: unit-tested without an API server.
class DependencyGraph {
 public:
  struct Node {
    ObjectIdentity identity;
    bool is_virtual = true;  // only named by a dependent, not observed yet
    bool being_deleted = false;
    bool deleting_dependents = false;  // being deleted with foregroundDeletion
    bool orphaning = false;            // being deleted with the orphan finalizer
    std::vector<OwnerReference> owners;
    std::set<std::string> dependents;  // uids
  };

  // An object was added or updated (informer on_add / on_update).
  GraphWork observe(const api::ResourceInfo& resource, const json& object);
  // An object is gone (informer on_delete, or a GET found it absent).
  GraphWork remove(const std::string& uid);

  const Node* find(const std::string& uid) const;
  // Dependents whose reference to `uid` has blockOwnerDeletion.
  std::vector<std::string> blocking_dependents(const std::string& uid) const;
  std::size_t size() const { return nodes_.size(); }

 private:
  void add_dependent(const OwnerReference& owner, const std::string& dependent_ns,
                     const std::string& dependent_uid, GraphWork& work);
  std::map<std::string, Node> nodes_;
};

struct GarbageCollectorOptions {
  int workers = 20;  // --concurrent-gc-syncs
};

class GarbageCollector {
 public:
  // Makes one informer per collectable resource on `client`.
  GarbageCollector(client::Client& client, client::Timers& timers, client::Random& random,
                   GarbageCollectorOptions options, WorkQueueMetrics* queue_metrics,
                   SyncMetrics* sync_metrics);
  ~GarbageCollector();
  GarbageCollector(const GarbageCollector&) = delete;
  GarbageCollector& operator=(const GarbageCollector&) = delete;

  std::vector<client::Informer*> informers() const;
  // Runs the workers until stop(). Start the informers first.
  asio::awaitable<void> run();
  void stop();

  const DependencyGraph& graph() const { return graph_; }

 private:
  void enqueue(const GraphWork& work);
  asio::awaitable<api::ApiResult<void>> attempt_to_delete(std::string uid);
  asio::awaitable<api::ApiResult<void>> attempt_to_orphan(std::string uid);
  asio::awaitable<api::ApiResult<void>> process_deleting_dependents(ObjectIdentity identity);
  asio::awaitable<api::ApiResult<void>> remove_finalizer(ObjectIdentity identity, std::string finalizer);
  asio::awaitable<api::ApiResult<void>> delete_object(ObjectIdentity identity, std::string policy);
  asio::awaitable<api::ApiResult<void>> patch_owner_references(ObjectIdentity identity, json patch);
  // The live owner, nullopt when it is gone (404 or another uid).
  asio::awaitable<api::ApiResult<std::optional<json>>> live_owner(OwnerReference ref, std::string ns);

  client::Client& client_;
  GarbageCollectorOptions options_;
  SyncMetrics* sync_metrics_;
  std::vector<std::unique_ptr<client::Informer>> informers_;
  DependencyGraph graph_;
  std::set<std::string> absent_owners_;  // uids known gone
  WorkQueue delete_queue_;
  WorkQueue orphan_queue_;
};

}  // namespace shakeout::controller
