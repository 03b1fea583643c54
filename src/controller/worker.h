#pragma once
// Workers: the processNextWorkItem loop every upstream controller runs
// (e.g. pkg/controller/replicaset/replica_set.go worker/handleErr).
//
//   loop: key = queue.get() ──► sync(key) ──► ok:    queue.forget(key)
//                                   │        └─ error: queue.add_rate_limited(key)
//                                   └─► queue.done(key)
//
// A sync that fails -- a 409 Conflict from an optimistic-concurrency write
// included -- is retried with the queue's per-key exponential backoff;
// with max_retries > 0 a key that failed that often is dropped (and
// forgotten) as the endpoints controller does. A key is never synced by two
// workers at once (the queue's contract), so a sync may hold per-key state
// across co_awaits.
// Threading: one executor; the queue and everything `sync` touches must
// outlive run_workers().

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <string>

#include "api/status.h"
#include "controller/work_queue.h"

namespace shakeout::controller {

enum class SyncResult { kSuccess, kConflict, kError };

// What the workers report (the controller manager's metrics).
class SyncMetrics {
 public:
  virtual ~SyncMetrics() = default;
  virtual void on_sync(SyncResult result, double seconds) = 0;
};

using SyncFunction = std::function<asio::awaitable<api::ApiResult<void>>(std::string key)>;

struct WorkerOptions {
  std::string controller;  // for logs: "replicaset"
  int workers = 1;
  int max_retries = 0;  // 0: retry forever
  SyncMetrics* metrics = nullptr;
};

// Runs options.workers worker coroutines until the queue shuts down; returns
// when all have finished their current sync.
asio::awaitable<void> run_workers(WorkQueue& queue, SyncFunction sync, WorkerOptions options);

}  // namespace shakeout::controller
