#pragma once
// NamespaceController: empties a terminating namespace, then lets it go,
// as upstream's pkg/controller/namespace (namespace_controller.go,
// deletion/namespaced_resources_deleter.go).
//
//   informer: namespaces ──► with deletionTimestamp ──► queue of names
//   sync(name): GET (gone, or not terminating ──► done)
//     already finalized (no "kubernetes" in spec.finalizers) ──► DELETE it
//     every namespaced resource: DELETE the collection, then list what is left
//       left ──► status conditions (NamespaceContentRemaining, ...), requeue
//                after the estimate (the longest pod grace period, 15 s while
//                finalizers hold objects)
//       empty ──► conditions, PUT /finalize without "kubernetes", DELETE
//
// Contract: the namespace is deleted only after every object in it is gone
// (the apiserver refuses new ones while it terminates); the final DELETE
// carries the namespace's uid, so a namespace recreated under the same name
// is left alone.
// Threading: one executor; not thread-safe.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "controller/work_queue.h"
#include "controller/worker.h"

namespace shakeout::controller {

using json = nlohmann::json;

// What a namespace still holds after a deletion pass (upstream
// allGVRDeletionMetadata): remaining objects and finalizers by name.
struct NamespaceContent {
  std::map<std::string, int> remaining;   // "pods" -> 2
  std::map<std::string, int> finalizers;  // "example.com/keep" -> 1
  std::vector<std::string> failures;      // "pods: <error>"
  Millis estimate{0};                     // when to look again (0: retry with backoff)
};

// The five NamespaceDeletion* status conditions upstream writes for
// `content`, with lastTransitionTime `now` where a condition changes
// against `old_conditions` (namespace_condition_utils.go).
json namespace_conditions(const NamespaceContent& content, const json& old_conditions,
                          const std::string& now);

struct NamespaceOptions {
  int workers = 10;                  // --concurrent-namespace-syncs
  Millis finalizer_estimate{15000};  // upstream finalizerEstimateSeconds
};

class NamespaceController {
 public:
  NamespaceController(client::Client& client, client::Informer& namespaces, client::Timers& timers,
                      NamespaceOptions options, WorkQueueMetrics* queue_metrics, SyncMetrics* sync_metrics);
  NamespaceController(const NamespaceController&) = delete;
  NamespaceController& operator=(const NamespaceController&) = delete;

  asio::awaitable<void> run();
  void stop() { queue_.shut_down(); }
  asio::awaitable<api::ApiResult<void>> sync(std::string name);

 private:
  asio::awaitable<api::ApiResult<NamespaceContent>> delete_all_content(std::string ns);
  asio::awaitable<api::ApiResult<void>> update_conditions(json ns, NamespaceContent content);

  client::Client& client_;
  const Clock& clock_;
  NamespaceOptions options_;
  SyncMetrics* sync_metrics_;
  WorkQueue queue_;
};

}  // namespace shakeout::controller
