#include "controller/worker.h"

#include <boost/asio/this_coro.hpp>

#include "client/client.h"
#include "common/log.h"
#include "controller/wait_group.h"

namespace shakeout::controller {
namespace {

asio::awaitable<void> worker(WorkQueue* queue, SyncFunction sync, WorkerOptions options) {
  for (;;) {
    auto key = co_await queue->get();
    if (!key) break;
    const auto started = std::chrono::steady_clock::now();
    auto result = co_await sync(*key);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    SyncResult outcome = SyncResult::kSuccess;
    if (result.ok()) {
      queue->forget(*key);
    } else {
      const bool conflict = client::is_conflict(result.error());
      outcome = conflict ? SyncResult::kConflict : SyncResult::kError;
      if (options.max_retries > 0 && queue->num_requeues(*key) >= options.max_retries) {
        log::warn(options.controller, "dropping {} out of the queue: {}", *key, result.error().message());
        queue->forget(*key);
      } else {
        // Conflicts are the normal price of optimistic concurrency: quiet.
        if (conflict) {
          log::debug(options.controller, "sync {}: {} (requeued)", *key, result.error().message());
        } else {
          log::warn(options.controller, "sync {}: {} (requeued)", *key, result.error().message());
        }
        queue->add_rate_limited(*key);
      }
    }
    if (options.metrics != nullptr) options.metrics->on_sync(outcome, seconds);
    queue->done(*key);
  }
}

}  // namespace

asio::awaitable<void> run_workers(WorkQueue& queue, SyncFunction sync, WorkerOptions options) {
  WaitGroup group(co_await asio::this_coro::executor);
  for (int i = 0; i < options.workers; ++i) group.spawn(worker(&queue, sync, options));
  co_await group.wait();
}

}  // namespace shakeout::controller
