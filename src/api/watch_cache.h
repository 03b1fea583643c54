#pragma once
// The watch cache: one etcd watch per resource, fanned out to every API
// watcher of that resource, as upstream's cacher does
// (staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go,
// watch_cache.go, cache_watcher.go).
//
//   etcd --(one watch: prefix, prev_kv, progress_notify)--> WatchCache
//        state: key -> object        window: last `capacity` events
//          |  per event: filter (namespace, label and field selectors on the
//          |  old and new state) -> ADDED / MODIFIED / DELETED
//          v
//   Watcher, Watcher, ... (bounded queue each) --> REST layer, one JSON line per event
//
// Contract:
// - start() lists the resource once, then watches etcd from the list
//   revision + 1 with prev_kv and progress notifications (so revision()
//   advances while other resources change). A broken stream is reopened from
//   the last revision + 1 with backoff; so is a stream that stays silent for
//   stream_idle_timeout (a paused or cut-off member). A compacted revision
//   makes the cache relist and end every watcher, as upstream's
//   Cacher.startCaching does (terminateAllWatchers, then ListAndWatch); the
//   clients then watch again, usually getting 410 and relisting. A watch
//   opened while the cache relists is served once the list is in (upstream
//   waits for the cacher to be ready again).
// - watch(request) registers a Watcher (upstream Cacher.Watch):
//   * resource_version nullopt or 0: a synthetic ADDED event for every
//     current object that matches, then live events (getIntervalFromStore).
//     Upstream serves an unset RV straight from etcd to start at the latest
//     revision; here it starts at the cache's revision, which trails etcd by
//     the watch latency.
//   * resource_version N: the window's events with revision > N, then live
//     ones. N older than the window (N < oldest - 1, where oldest is the list
//     revision + 1 until an event has been evicted, else the oldest kept
//     event's revision) gives one ERROR event carrying a 410 Expired Status
//     "too old resource version: N (oldest - 1)" and the watcher ends; the
//     HTTP response is 200, as upstream's errWatcher. N newer than the cache
//     does not wait (upstream 1.32 waits only for sendInitialEvents): events
//     up to N are skipped.
//   * label/field selectors are evaluated on the old and new state (upstream
//     cacheWatcher.convertToWatchEvent): starts matching -> ADDED, matches
//     both -> MODIFIED, stops matching -> DELETED with the old state at the
//     event's resourceVersion. A deletion is DELETED with the last state at
//     the deletion revision. Bad selectors: 400 with Store::list's wording.
//   * allow_bookmarks: every bookmark_interval a BOOKMARK event
//     {kind, apiVersion, metadata:{resourceVersion}} at the cache's revision,
//     skipped when the watcher's queue is full or the revision is not past
//     what the watcher asked for.
// - Each watcher buffers at most watcher_queue_limit live events (the replay
//   from the window or the state does not count); one more ends it with no
//   further event (upstream terminates a blocked cacheWatcher after its
//   dispatch budget; here without waiting), and the client watches again
//   from the last resourceVersion it saw. Other watchers are unaffected.
// - The cache yields to its executor after each etcd batch, so watchers
//   that keep up drain their queues between batches.
// - Events are immutable and shared: every watcher receiving an event gets
//   the same object and the same serialized line, built once per event and
//   type.
//
// Threading and lifetime: a WatchCache lives on the executor of its
// etcd::Client (one io_context thread), as do its Watchers; nothing is
// thread-safe. The client must outlive the cache. stop() must be awaited
// before the cache is destroyed: it ends every watcher and returns once no
// coroutine of the cache runs. Watchers may outlive the cache (they are
// ended and detached). A Watcher must not be destroyed while its next() is
// suspended: stop() it and let that next() return.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/resource_registry.h"
#include "api/selector.h"
#include "api/status.h"
#include "api/watch_event.h"
#include "common/clock.h"
#include "common/result.h"
#include "etcd/client.h"

namespace shakeout::api {

namespace asio = boost::asio;

struct WatchEvent {
  using Type = WatchEventType;
  Type type = Type::kAdded;
  // With kind, apiVersion and metadata.resourceVersion; for kError a
  // metav1.Status. Immutable and shared by every watcher given this event.
  std::shared_ptr<const nlohmann::json> object;
  // The event as upstream's JSON watch encoder writes it, newline included:
  // {"type":"ADDED","object":{...}}\n. Serialized once, shared.
  std::shared_ptr<const std::string> line;
};

struct WatchRequest {
  std::string ns;  // "" = all namespaces (ignored for cluster-scoped resources)
  std::string label_selector;
  std::string field_selector;
  std::optional<int64_t> resource_version;  // nullopt or 0: current state first as ADDED events
  bool allow_bookmarks = false;
};

struct WatchCacheConfig {
  // Events kept for watches resuming at a resourceVersion.
  std::size_t capacity = 1000;
  // Upstream sends a bookmark to each watcher about once a minute.
  Millis bookmark_interval{60000};
  // Live events buffered per watcher before it is ended as too slow.
  std::size_t watcher_queue_limit = 1000;
  // Reopening a broken etcd stream: first delay, doubled up to the maximum.
  Millis reconnect_backoff{100};
  Millis reconnect_backoff_max{3000};
  // A stream with neither events nor progress notifications for this long
  // is reopened; must exceed etcd's progress notify interval. 0 = never.
  Millis stream_idle_timeout{30000};
};

// What the cache did, for tests and metrics.
struct WatchCacheStats {
  std::size_t etcd_watches_opened = 0;  // etcd watch streams opened, ever
  std::size_t lists = 0;                // full lists from etcd (the first included)
  std::size_t stream_breaks = 0;        // streams that ended other than by stop()
  std::size_t watchers_too_slow = 0;    // watchers ended by a full queue
  std::size_t events = 0;               // etcd events applied
};

class WatchCache;

class Watcher {
 public:
  enum class End {
    kNotEnded,
    kStopped,       // stop() was called
    kCacheStopped,  // the cache stopped
    kTooSlow,       // its queue overflowed
    kRelisted,      // the cache relisted after a compaction
    kError,         // it delivered an ERROR event
  };

  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;
  ~Watcher();

  // The next event, waiting for one; nullopt once the watcher has ended and
  // every event queued before has been returned (nothing is returned after
  // a kTooSlow end). One next() at a time.
  asio::awaitable<std::optional<WatchEvent>> next();
  // Ends the watcher; a suspended next() returns nullopt. Idempotent.
  void stop();
  End end_reason() const { return end_; }
  bool ended() const { return end_ != End::kNotEnded; }
  std::size_t queued() const { return initial_.size() - initial_next_ + queue_.size(); }

 private:
  friend class WatchCache;
  struct Filter {
    std::string ns;
    LabelSelector labels;
    FieldSelector fields;
  };

  Watcher(asio::any_io_executor executor, WatchCache* cache, Filter filter, int64_t requested,
          bool allow_bookmarks);
  void end(End reason);
  void wake();

  WatchCache* cache_;  // nullptr once detached
  Filter filter_;
  int64_t requested_;       // the request's resourceVersion (0 = current state)
  int64_t after_revision_;  // events at or below this revision are not for us
  bool allow_bookmarks_;
  std::vector<WatchEvent> initial_;  // replayed first, not bounded
  std::size_t initial_next_ = 0;
  std::deque<WatchEvent> queue_;  // live events, bounded by the cache
  End end_ = End::kNotEnded;
  asio::steady_timer wake_;
};

class WatchCache {
 public:
  WatchCache(asio::any_io_executor executor, etcd::Client& etcd, ResourceInfo resource,
             WatchCacheConfig config);
  ~WatchCache();
  WatchCache(const WatchCache&) = delete;
  WatchCache& operator=(const WatchCache&) = delete;

  // Lists the resource and starts the etcd watch. Fails when the list does
  // (the cache is then not started). Call once.
  asio::awaitable<Status> start();
  // Ends every watcher and the etcd watch; returns once no coroutine of the
  // cache runs (within the etcd request timeout when a list or watch open is
  // in flight). Idempotent.
  asio::awaitable<void> stop();

  // See the contract above. 400 for bad selectors or a negative
  // resourceVersion; 503 when the cache is not started or stopped.
  ApiResult<std::shared_ptr<Watcher>> watch(WatchRequest request);

  // The etcd revision the cache has caught up to.
  int64_t revision() const { return revision_; }
  std::size_t watcher_count() const { return watchers_.size() + pending_.size(); }
  std::size_t object_count() const { return objects_.size(); }
  const WatchCacheStats& stats() const { return stats_; }
  const ResourceInfo& resource() const { return resource_; }

 private:
  friend class Watcher;
  struct Entry;
  struct CacheEvent;

  asio::awaitable<Status> list();
  asio::awaitable<void> run_watch();
  asio::awaitable<void> run_bookmarks();
  asio::awaitable<void> run_idle_watchdog();
  asio::awaitable<void> sleep(asio::steady_timer& timer, Millis delay);
  void spawn(asio::awaitable<void> task);

  static bool selected(const Watcher::Filter& filter, const nlohmann::json& object, const std::string& ns);
  static std::optional<WatchEvent> convert(const CacheEvent& event, const Watcher::Filter& filter);
  void apply(const etcd::Event& event);
  void remember(std::shared_ptr<const CacheEvent> event);
  void dispatch(const std::shared_ptr<const CacheEvent>& event);
  void send_bookmarks();
  void prime(const std::shared_ptr<Watcher>& watcher);
  void end_all(Watcher::End reason);
  void forget(Watcher* watcher);
  int64_t oldest_resumable() const;
  std::string namespace_of(const std::string& key) const;

  asio::any_io_executor executor_;
  etcd::Client& etcd_;
  ResourceInfo resource_;
  WatchCacheConfig config_;
  std::string prefix_;

  std::map<std::string, std::shared_ptr<const Entry>> objects_;  // by etcd key
  std::deque<std::shared_ptr<const CacheEvent>> window_;
  int64_t list_revision_ = 0;
  bool evicted_since_list_ = false;
  int64_t revision_ = 0;
  std::vector<Watcher*> watchers_;
  // Watchers created while the cache relists; primed once the list is in.
  std::vector<std::shared_ptr<Watcher>> pending_;
  bool relisting_ = false;

  bool started_ = false;
  bool stopping_ = false;
  etcd::Watch* stream_ = nullptr;  // the open etcd watch, while run_watch reads it
  SteadyTime last_message_{};
  int running_ = 0;  // coroutines spawned and not finished
  asio::steady_timer backoff_timer_;
  asio::steady_timer bookmark_timer_;
  asio::steady_timer idle_timer_;
  asio::steady_timer stopped_;  // cancelled when running_ drops to 0
  WatchCacheStats stats_;
};

}  // namespace shakeout::api
