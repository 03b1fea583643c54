#include "api/watch_cache.h"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <exception>
#include <stdexcept>

#include "common/log.h"

namespace shakeout::api {

namespace {

using nlohmann::json;

constexpr const char* kLog = "watch-cache";

std::shared_ptr<const std::string> make_line(WatchEvent::Type type, const json& object) {
  std::string line = R"({"type":")";
  line += to_string(type);
  line += R"(","object":)";
  line += object.dump();
  line += "}\n";
  return std::make_shared<const std::string>(std::move(line));
}

WatchEvent make_event(WatchEvent::Type type, std::shared_ptr<const json> object,
                      std::shared_ptr<const std::string> line) {
  WatchEvent event;
  event.type = type;
  event.object = std::move(object);
  event.line = line ? std::move(line) : make_line(type, *event.object);
  return event;
}

json with_resource_version(json object, int64_t revision) {
  object["metadata"]["resourceVersion"] = std::to_string(revision);
  return object;
}

}  // namespace

// One object as the cache holds it. The ADDED line for initial events is
// serialized on first use and kept with the state it describes.
struct WatchCache::Entry {
  std::shared_ptr<const json> object;
  std::string ns;
  mutable std::shared_ptr<const std::string> added_line;
};

// One change, as upstream's watchCacheEvent: the new state (for a deletion,
// the last state at the deletion revision) and the state before it, so each
// watcher can decide what the change means under its selectors. Lines and
// the "stopped matching" object are built on first use and shared.
struct WatchCache::CacheEvent {
  int64_t revision = 0;
  std::string ns;
  std::shared_ptr<const json> object;
  std::shared_ptr<const json> prev;  // nullptr: the object was created
  bool deleted = false;
  mutable std::shared_ptr<const std::string> added_line;
  mutable std::shared_ptr<const std::string> modified_line;
  mutable std::shared_ptr<const std::string> deleted_line;
  mutable std::shared_ptr<const json> prev_at_revision;  // DELETED for a watcher the object left
};

// ---------------------------------------------------------------------------
// Watcher

Watcher::Watcher(asio::any_io_executor executor, WatchCache* cache, Filter filter, int64_t requested,
                 bool allow_bookmarks)
    : cache_(cache),
      filter_(std::move(filter)),
      requested_(requested),
      after_revision_(requested),
      allow_bookmarks_(allow_bookmarks),
      wake_(executor) {}

Watcher::~Watcher() {
  if (cache_ != nullptr) cache_->forget(this);
}

asio::awaitable<std::optional<WatchEvent>> Watcher::next() {
  for (;;) {
    if (initial_next_ < initial_.size()) {
      WatchEvent event = std::move(initial_[initial_next_++]);
      if (initial_next_ == initial_.size()) {
        initial_.clear();
        initial_.shrink_to_fit();
        initial_next_ = 0;
      }
      co_return event;
    }
    if (!queue_.empty()) {
      WatchEvent event = std::move(queue_.front());
      queue_.pop_front();
      co_return event;
    }
    if (ended()) co_return std::nullopt;
    wake_.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ignored;
    co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

void Watcher::stop() {
  if (cache_ != nullptr) {
    cache_->forget(this);
    cache_ = nullptr;
  }
  end(End::kStopped);
}

void Watcher::end(End reason) {
  if (ended()) return;
  end_ = reason;
  // As upstream's cacheWatcher, a stopped watcher drops what it buffered.
  initial_.clear();
  initial_next_ = 0;
  queue_.clear();
  wake();
}

void Watcher::wake() {
  wake_.cancel();
}

// ---------------------------------------------------------------------------
// WatchCache

WatchCache::WatchCache(asio::any_io_executor executor, etcd::Client& etcd, ResourceInfo resource,
                       WatchCacheConfig config)
    : executor_(executor),
      etcd_(etcd),
      resource_(std::move(resource)),
      config_(config),
      prefix_(resource_.list_prefix("")),
      backoff_timer_(executor),
      bookmark_timer_(executor),
      idle_timer_(executor),
      stopped_(executor) {}

WatchCache::~WatchCache() {
  assert(running_ == 0 && "WatchCache destroyed before stop() completed");
  end_all(Watcher::End::kCacheStopped);
}

asio::awaitable<Status> WatchCache::start() {
  assert(!started_);
  auto listed = co_await list();
  if (!listed) co_return listed;
  started_ = true;
  if (stopping_) co_return Status();
  spawn(run_watch());
  if (config_.bookmark_interval.count() > 0) spawn(run_bookmarks());
  if (config_.stream_idle_timeout.count() > 0) spawn(run_idle_watchdog());
  co_return Status();
}

asio::awaitable<void> WatchCache::stop() {
  if (!stopping_) {
    stopping_ = true;
    if (stream_ != nullptr) stream_->cancel();
    backoff_timer_.cancel();
    bookmark_timer_.cancel();
    idle_timer_.cancel();
    end_all(Watcher::End::kCacheStopped);
  }
  while (running_ > 0) {
    stopped_.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ignored;
    co_await stopped_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

void WatchCache::spawn(asio::awaitable<void> task) {
  ++running_;
  asio::co_spawn(executor_, std::move(task), [this](std::exception_ptr error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        log::error(kLog, "{}: {}", resource_.group_resource(), e.what());
      }
    }
    if (--running_ == 0) stopped_.cancel();
  });
}

asio::awaitable<void> WatchCache::sleep(asio::steady_timer& timer, Millis delay) {
  if (stopping_) co_return;
  timer.expires_after(delay);
  boost::system::error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

namespace {

// The stored value with what the API shows: kind/apiVersion (upstream
// objects always carry them on the wire) and resourceVersion = mod_revision.
std::shared_ptr<const json> decode(const etcd::KeyValue& kv, const ResourceInfo& resource) {
  json object = json::parse(kv.value, nullptr, false);
  if (object.is_discarded() || !object.is_object()) {
    log::warn(kLog, "stored object at {} is not a JSON object; skipped", kv.key);
    return nullptr;
  }
  if (!object.contains("kind")) object["kind"] = resource.kind;
  if (!object.contains("apiVersion")) object["apiVersion"] = resource.api_version();
  object["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
  return std::make_shared<const json>(std::move(object));
}

}  // namespace

std::string WatchCache::namespace_of(const std::string& key) const {
  if (!resource_.namespaced || key.size() <= prefix_.size()) return "";
  std::string rest = key.substr(prefix_.size());
  return rest.substr(0, rest.find('/'));
}

asio::awaitable<Status> WatchCache::list() {
  etcd::RangeOptions options;
  options.prefix = true;
  auto response = co_await etcd_.range(prefix_, options);
  if (!response) co_return response.error();
  ++stats_.lists;
  std::map<std::string, std::shared_ptr<const Entry>> objects;
  for (const auto& kv : response->kvs) {
    auto object = decode(kv, resource_);
    if (!object) continue;
    auto entry = std::make_shared<Entry>();
    entry->object = std::move(object);
    entry->ns = namespace_of(kv.key);
    objects.emplace(kv.key, std::move(entry));
  }
  objects_ = std::move(objects);
  revision_ = response->header.revision;
  list_revision_ = revision_;
  window_.clear();
  evicted_since_list_ = false;
  co_return Status();
}

asio::awaitable<void> WatchCache::run_watch() {
  Millis backoff = config_.reconnect_backoff;
  bool relist = false;
  while (!stopping_) {
    if (relist) {
      // Upstream Cacher.startCaching: terminate every watcher, then list
      // and watch again. Clients resume from their last resourceVersion,
      // which the new window answers with 410 when it is too old.
      end_all(Watcher::End::kRelisted);
      relisting_ = true;
      auto listed = co_await list();
      if (stopping_) break;
      if (!listed) {
        log::warn(kLog, "{}: relist failed: {}", resource_.group_resource(), listed.error().describe());
        co_await sleep(backoff_timer_, backoff);
        backoff = std::min(backoff * 2, config_.reconnect_backoff_max);
        continue;
      }
      relist = false;
      relisting_ = false;
      auto pending = std::move(pending_);
      pending_.clear();
      for (const auto& watcher : pending) prime(watcher);
    }
    etcd::WatchOptions options;
    options.prefix = true;
    options.start_revision = revision_ + 1;
    options.prev_kv = true;
    options.progress_notify = true;
    auto opened = co_await etcd_.watch(prefix_, options);
    if (stopping_) break;
    if (!opened) {
      if (opened.error().code == ErrorCode::kCompacted) {
        log::info(kLog, "{}: revision {} is compacted; relisting", resource_.group_resource(), revision_ + 1);
        relist = true;
        continue;
      }
      log::warn(kLog, "{}: opening the etcd watch failed: {}", resource_.group_resource(),
                opened.error().describe());
      co_await sleep(backoff_timer_, backoff);
      backoff = std::min(backoff * 2, config_.reconnect_backoff_max);
      continue;
    }
    std::unique_ptr<etcd::Watch> stream = std::move(*opened);
    ++stats_.etcd_watches_opened;
    stream_ = stream.get();
    last_message_ = std::chrono::steady_clock::now();
    std::optional<Error> failure;
    while (!failure) {
      auto batch = co_await stream->next();
      if (!batch) {
        failure = batch.error();
        break;
      }
      last_message_ = std::chrono::steady_clock::now();
      backoff = config_.reconnect_backoff;
      if (batch->progress_notify()) {
        // etcd has sent every event of the prefix up to this revision.
        revision_ = std::max(revision_, batch->header.revision);
      } else {
        for (const auto& event : batch->events) apply(event);
        // Let the watchers just woken drain before the next batch: a
        // buffered stream would otherwise be read without yielding, and
        // fill the queues of watchers that keep up.
        co_await asio::post(executor_, asio::use_awaitable);
      }
    }
    stream_ = nullptr;
    stream.reset();  // no next() is suspended on it any more
    if (stopping_) break;
    ++stats_.stream_breaks;
    if (failure->code == ErrorCode::kCompacted) {
      log::info(kLog, "{}: watch compacted at {}; relisting", resource_.group_resource(), revision_ + 1);
      relist = true;
      continue;
    }
    log::warn(kLog, "{}: etcd watch ended at revision {}: {}; reopening", resource_.group_resource(),
              revision_, failure->describe());
    co_await sleep(backoff_timer_, backoff);
    backoff = std::min(backoff * 2, config_.reconnect_backoff_max);
  }
}

asio::awaitable<void> WatchCache::run_bookmarks() {
  while (!stopping_) {
    co_await sleep(bookmark_timer_, config_.bookmark_interval);
    if (stopping_) break;
    send_bookmarks();
  }
}

asio::awaitable<void> WatchCache::run_idle_watchdog() {
  const Millis period = std::max(config_.stream_idle_timeout / 4, Millis(10));
  while (!stopping_) {
    co_await sleep(idle_timer_, period);
    if (stopping_) break;
    if (stream_ != nullptr &&
        std::chrono::steady_clock::now() - last_message_ > config_.stream_idle_timeout) {
      log::warn(kLog, "{}: etcd watch silent for {}; reopening", resource_.group_resource(),
                format_duration(config_.stream_idle_timeout));
      stream_->cancel();
      last_message_ = std::chrono::steady_clock::now();  // once per stall
    }
  }
}

void WatchCache::apply(const etcd::Event& event) {
  ++stats_.events;
  const std::string& key = event.kv.key;
  auto found = objects_.find(key);
  auto change = std::make_shared<CacheEvent>();
  change->revision = event.kv.mod_revision;
  change->ns = namespace_of(key);
  if (found != objects_.end())
    change->prev = found->second->object;
  else if (event.prev_kv)
    change->prev = decode(*event.prev_kv, resource_);
  revision_ = std::max(revision_, change->revision);

  if (event.type == etcd::Event::Type::kPut) {
    change->object = decode(event.kv, resource_);
    if (!change->object) return;
    auto entry = std::make_shared<Entry>();
    entry->object = change->object;
    entry->ns = change->ns;
    objects_[key] = std::move(entry);
  } else {
    if (found != objects_.end()) objects_.erase(found);
    if (!change->prev) return;  // an object we never knew: nothing to tell
    change->deleted = true;
    change->object = std::make_shared<const json>(with_resource_version(*change->prev, change->revision));
  }
  std::shared_ptr<const CacheEvent> shared = std::move(change);
  remember(shared);
  dispatch(shared);
}

void WatchCache::remember(std::shared_ptr<const CacheEvent> event) {
  if (config_.capacity == 0) {
    evicted_since_list_ = true;
    return;
  }
  window_.push_back(std::move(event));
  // Evict whole revisions: a resume at R-1 must see every event of R.
  while (window_.size() > config_.capacity) {
    const int64_t revision = window_.front()->revision;
    while (!window_.empty() && window_.front()->revision == revision) window_.pop_front();
    evicted_since_list_ = true;
  }
}

bool WatchCache::selected(const Watcher::Filter& filter, const json& object, const std::string& ns) {
  if (!filter.ns.empty() && ns != filter.ns) return false;
  return filter.labels.matches_object(object) && filter.fields.matches_object(object);
}

// Upstream cacheWatcher.convertToWatchEvent.
std::optional<WatchEvent> WatchCache::convert(const CacheEvent& event, const Watcher::Filter& filter) {
  const bool now_selected = !event.deleted && selected(filter, *event.object, event.ns);
  const bool was_selected = event.prev && selected(filter, *event.prev, event.ns);
  if (now_selected && !was_selected) {
    if (!event.added_line) event.added_line = make_line(WatchEvent::Type::kAdded, *event.object);
    return make_event(WatchEvent::Type::kAdded, event.object, event.added_line);
  }
  if (now_selected) {
    if (!event.modified_line) event.modified_line = make_line(WatchEvent::Type::kModified, *event.object);
    return make_event(WatchEvent::Type::kModified, event.object, event.modified_line);
  }
  if (!was_selected) return std::nullopt;
  // The object left this watcher's view: DELETED with its old state at the
  // event's resourceVersion.
  if (!event.prev_at_revision) {
    event.prev_at_revision =
        event.deleted ? event.object
                      : std::make_shared<const json>(with_resource_version(*event.prev, event.revision));
  }
  if (!event.deleted_line)
    event.deleted_line = make_line(WatchEvent::Type::kDeleted, *event.prev_at_revision);
  return make_event(WatchEvent::Type::kDeleted, event.prev_at_revision, event.deleted_line);
}

void WatchCache::dispatch(const std::shared_ptr<const CacheEvent>& event) {
  bool dropped = false;
  for (Watcher* watcher : watchers_) {
    if (event->revision <= watcher->after_revision_) continue;
    auto converted = convert(*event, watcher->filter_);
    if (!converted) continue;
    if (watcher->queue_.size() >= config_.watcher_queue_limit) {
      log::info(kLog, "{}: ending a watcher that fell {} events behind", resource_.group_resource(),
                watcher->queue_.size());
      ++stats_.watchers_too_slow;
      watcher->cache_ = nullptr;
      watcher->end(Watcher::End::kTooSlow);
      dropped = true;
      continue;
    }
    watcher->queue_.push_back(std::move(*converted));
    watcher->wake();
  }
  if (dropped) std::erase_if(watchers_, [](const Watcher* w) { return w->cache_ == nullptr; });
}

void WatchCache::send_bookmarks() {
  if (revision_ == 0) return;
  std::shared_ptr<const json> object;
  std::shared_ptr<const std::string> line;
  for (Watcher* watcher : watchers_) {
    if (!watcher->allow_bookmarks_ || revision_ < watcher->after_revision_) continue;
    // Bookmarks are best effort (upstream nonblockingAdd): never a reason to
    // end a watcher.
    if (watcher->queue_.size() >= config_.watcher_queue_limit) continue;
    if (!object) {
      json bookmark = json::object();
      bookmark["kind"] = resource_.kind;
      bookmark["apiVersion"] = resource_.api_version();
      bookmark["metadata"] = json::object();
      bookmark["metadata"]["resourceVersion"] = std::to_string(revision_);
      object = std::make_shared<const json>(std::move(bookmark));
      line = make_line(WatchEvent::Type::kBookmark, *object);
    }
    watcher->queue_.push_back(make_event(WatchEvent::Type::kBookmark, object, line));
    watcher->wake();
  }
}

void WatchCache::end_all(Watcher::End reason) {
  for (Watcher* watcher : watchers_) {
    watcher->cache_ = nullptr;
    watcher->end(reason);
  }
  watchers_.clear();
  for (const auto& watcher : pending_) {
    watcher->cache_ = nullptr;
    watcher->end(reason);
  }
  pending_.clear();
}

void WatchCache::forget(Watcher* watcher) {
  std::erase(watchers_, watcher);
  std::erase_if(pending_, [watcher](const auto& w) { return w.get() == watcher; });
}

int64_t WatchCache::oldest_resumable() const {
  // Upstream watchCache.getAllEventsSinceLocked: while nothing has been
  // evicted since the list, everything after the list revision is known.
  if (!evicted_since_list_) return list_revision_ + 1;
  if (!window_.empty()) return window_.front()->revision;
  return revision_ + 1;
}

ApiResult<std::shared_ptr<Watcher>> WatchCache::watch(WatchRequest request) {
  if (!started_ || stopping_)
    return service_unavailable(
        fmt::format("the watch cache for {} is not ready", resource_.group_resource()));
  auto labels = LabelSelector::parse(request.label_selector);
  if (!labels) return bad_request(labels.error().message);
  auto fields = FieldSelector::parse(request.field_selector, resource_);
  if (!fields) return bad_request(fields.error().message);
  const int64_t requested = request.resource_version.value_or(0);
  if (requested < 0) return bad_request(fmt::format("invalid resource version: {}", requested));

  Watcher::Filter filter;
  filter.ns = resource_.namespaced ? request.ns : "";
  filter.labels = std::move(*labels);
  filter.fields = std::move(*fields);
  std::shared_ptr<Watcher> watcher(
      new Watcher(executor_, this, std::move(filter), requested, request.allow_bookmarks));
  if (relisting_)
    pending_.push_back(watcher);
  else
    prime(watcher);
  return watcher;
}

// Gives a new watcher its first events and registers it for live ones.
void WatchCache::prime(const std::shared_ptr<Watcher>& watcher) {
  const int64_t requested = watcher->requested_;
  if (requested == 0) {
    watcher->after_revision_ = revision_;
    // The current state as ADDED events (upstream getIntervalFromStore).
    const std::string prefix = resource_.list_prefix(watcher->filter_.ns);
    for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.starts_with(prefix);
         ++it) {
      const Entry& entry = *it->second;
      if (!selected(watcher->filter_, *entry.object, entry.ns)) continue;
      if (!entry.added_line) entry.added_line = make_line(WatchEvent::Type::kAdded, *entry.object);
      watcher->initial_.push_back(make_event(WatchEvent::Type::kAdded, entry.object, entry.added_line));
    }
  } else {
    const int64_t oldest = oldest_resumable();
    if (requested < oldest - 1) {
      // Upstream answers with an errWatcher: one ERROR event, then the end.
      ApiError error = expired(fmt::format("too old resource version: {} ({})", requested, oldest - 1));
      auto object = std::make_shared<const json>(std::move(error.status));
      watcher->cache_ = nullptr;
      watcher->end_ = Watcher::End::kError;
      watcher->initial_.push_back(make_event(WatchEvent::Type::kError, object, nullptr));
      watcher->wake();
      return;
    }
    auto first = std::upper_bound(window_.begin(), window_.end(), requested,
                                  [](int64_t rv, const auto& event) { return rv < event->revision; });
    for (auto it = first; it != window_.end(); ++it) {
      if (auto converted = convert(**it, watcher->filter_))
        watcher->initial_.push_back(std::move(*converted));
    }
  }
  watchers_.push_back(watcher.get());
  watcher->wake();
}

}  // namespace shakeout::api
