#pragma once
// Informer: client-go's Reflector + shared informer for one resource
// (k8s.io/client-go/tools/cache/reflector.go, shared_informer.go,
// delta_fifo.go), keeping a local cache in step with the API server and
// telling handlers about every change.
//
//   list (paged) ──► replace cache, deliver differences ──► has_synced()
//     └──► watch ?resourceVersion=<last>&allowWatchBookmarks=true&timeoutSeconds=<5..10min>
//            ADDED/MODIFIED/DELETED ──► cache + handlers, last RV = object's
//            BOOKMARK ──► last RV only
//            stream ended / link broke ──► watch again from the last RV
//            watch refused (transport) ──► backoff, watch again from the last RV
//            410 Expired (response or ERROR event), other errors ──► backoff, relist
//
// Contract:
// - Handlers run on the informer's executor, synchronously, in event order,
//   and must not block. Each object change is delivered once: on_add for a
//   new key, on_update(old, new) for a known key, on_delete(last state) when
//   it goes. A relist compares the list with the cache: new keys give
//   on_add, keys whose resourceVersion changed give on_update, keys missing
//   from the list give on_delete with final_state_unknown = true (upstream's
//   DeletedFinalStateUnknown), so no change is lost across a reconnect;
//   unchanged keys give nothing.
// - With resync_period > 0, every resync_period on_update(obj, obj) is
//   delivered for every cached object (upstream's Sync deltas).
// - The cache (store()) is what handlers have seen: it is updated just
//   before each handler call and may be read from handlers.
// - has_synced() turns true once the first list has been delivered.
// - Backoff between failed attempts is client-go's (800ms doubling to 30s,
//   jitter 1.0, reset after 2m quiet), on Timers and Random given.
// - run() returns after stop(); stop() interrupts sleeps and an open watch at
//   once (a list request in flight finishes within the request timeout first).
//   The informer must outlive run().
// Threading: one executor (the Client's); not thread-safe.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api/resource_registry.h"
#include "client/client.h"
#include "client/timers.h"

namespace shakeout::client {

// "ns/name", or "name" for a cluster-scoped object (upstream
// MetaNamespaceKeyFunc).
std::string object_key(const json& object);
// metadata.resourceVersion, or "" if absent.
std::string resource_version_of(const json& object);

// A cache of objects keyed by object_key().
class Store {
 public:
  const json* get(const std::string& key) const;
  const json* get(const std::string& ns, const std::string& name) const;
  std::vector<json> list() const;
  std::vector<std::string> keys() const;
  std::size_t size() const { return objects_.size(); }

 private:
  friend class Informer;
  std::map<std::string, json> objects_;
};

struct EventHandlers {
  std::function<void(const json& object)> on_add;
  std::function<void(const json& old_object, const json& new_object)> on_update;
  std::function<void(const json& last_state, bool final_state_unknown)> on_delete;
};

struct InformerOptions {
  std::string ns;  // "" = all namespaces (or a cluster-scoped resource)
  std::string label_selector;
  std::string field_selector;
  Millis resync_period{0};  // 0 = no resync
  int64_t page_size = 500;  // list limit per page (client-go's pager default)
  // Watch timeoutSeconds is drawn from [min, 2*min) as the reflector does.
  Millis min_watch_timeout{300000};
  BackoffPolicy backoff;
};

struct InformerCounters {
  uint64_t lists_total = 0;           // completed relists
  uint64_t list_failures_total = 0;   // lists that failed
  uint64_t watches_total = 0;         // watches opened
  uint64_t watch_failures_total = 0;  // watch opens refused or erroring
  uint64_t expired_total = 0;         // 410s seen (list, watch or ERROR event)
  uint64_t events_total = 0;          // ADDED/MODIFIED/DELETED received
  uint64_t resyncs_total = 0;
};

class Informer {
 public:
  // `resource` must outlive the informer (registry entries do).
  Informer(Client& client, const api::ResourceInfo& resource, InformerOptions options, Timers& timers,
           Random& random);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Add before run(); handlers added later see only later events.
  void add_handlers(EventHandlers handlers);

  // Lists and watches until stop(). Call once.
  asio::awaitable<void> run();
  void stop();

  bool has_synced() const { return synced_; }
  const Store& store() const { return store_; }
  // The resourceVersion the next watch would start from.
  const std::string& last_sync_resource_version() const { return last_rv_; }
  const InformerCounters& counters() const { return counters_; }

 private:
  enum class WatchOutcome { kResume, kBackoffResume, kRelist, kStopped };
  asio::awaitable<bool> list_and_replace();  // false on failure
  asio::awaitable<WatchOutcome> watch_once();
  asio::awaitable<void> resync_loop();
  void replace(std::vector<json> items);
  void apply(const WatchEvent& event);
  void deliver_add(const json& object);
  void deliver_update(const json& old_object, const json& new_object);
  void deliver_delete(const json& object, bool final_state_unknown);

  Client& client_;
  const api::ResourceInfo& resource_;
  InformerOptions options_;
  Timers& timers_;
  Random& random_;
  Sleeper sleeper_;
  Backoff backoff_;
  std::vector<EventHandlers> handlers_;
  Store store_;
  std::string last_rv_;
  bool synced_ = false;
  bool stopped_ = false;
  WatchStream* open_watch_ = nullptr;
  // Completes (cancelled) when the resync loop has returned.
  std::unique_ptr<asio::steady_timer> resync_done_;
  bool resync_running_ = false;
  InformerCounters counters_;
};

}  // namespace shakeout::client
