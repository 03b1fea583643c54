#include "client/informer.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <set>

#include "common/log.h"

namespace shakeout::client {

namespace {

constexpr const char* kLog = "informer";
// A watch that ends this soon without an event is treated as an error
// (upstream's "very short watch").
constexpr Millis kVeryShortWatch{1000};

}  // namespace

std::string object_key(const json& object) {
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  const std::string ns = metadata->value("namespace", "");
  const std::string name = metadata->value("name", "");
  return ns.empty() ? name : ns + "/" + name;
}

std::string resource_version_of(const json& object) {
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  return metadata->value("resourceVersion", "");
}

const json* Store::get(const std::string& key) const {
  const auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : &it->second;
}

const json* Store::get(const std::string& ns, const std::string& name) const {
  return get(ns.empty() ? name : ns + "/" + name);
}

std::vector<json> Store::list() const {
  std::vector<json> out;
  out.reserve(objects_.size());
  for (const auto& [key, object] : objects_) out.push_back(object);
  return out;
}

std::vector<std::string> Store::keys() const {
  std::vector<std::string> out;
  out.reserve(objects_.size());
  for (const auto& [key, object] : objects_) out.push_back(key);
  return out;
}

Informer::Informer(Client& client, const api::ResourceInfo& resource, InformerOptions options, Timers& timers,
                   Random& random)
    : client_(client),
      resource_(resource),
      options_(std::move(options)),
      timers_(timers),
      random_(random),
      sleeper_(client.executor(), timers),
      backoff_(options_.backoff, timers.clock(), random) {}

Informer::~Informer() = default;

void Informer::add_handlers(EventHandlers handlers) {
  handlers_.push_back(std::move(handlers));
}

void Informer::stop() {
  stopped_ = true;
  sleeper_.stop();
  if (open_watch_ != nullptr) open_watch_->cancel();
}

asio::awaitable<void> Informer::run() {
  auto executor = co_await asio::this_coro::executor;
  if (options_.resync_period > Millis(0)) {
    resync_done_ = std::make_unique<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
    resync_running_ = true;
    asio::co_spawn(executor, resync_loop(), asio::detached);
  }
  bool need_list = true;
  while (!stopped_) {
    if (need_list) {
      if (!co_await list_and_replace()) {
        if (!co_await sleeper_.sleep(backoff_.next())) break;
        continue;
      }
      need_list = false;
    }
    const WatchOutcome outcome = co_await watch_once();
    if (outcome == WatchOutcome::kStopped) break;
    if (outcome == WatchOutcome::kResume) continue;
    need_list = outcome == WatchOutcome::kRelist;
    if (!co_await sleeper_.sleep(backoff_.next())) break;
  }
  sleeper_.stop();
  if (resync_running_) {
    boost::system::error_code ec;
    co_await resync_done_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> Informer::resync_loop() {
  while (co_await sleeper_.sleep(options_.resync_period)) {
    ++counters_.resyncs_total;
    // Copied: a handler may not touch the store, but the copy keeps the
    // iteration safe whatever it does.
    const auto snapshot = store_.objects_;
    for (const auto& [key, object] : snapshot) deliver_update(object, object);
  }
  resync_running_ = false;
  resync_done_->cancel();
}

asio::awaitable<bool> Informer::list_and_replace() {
  ListOptions list;
  list.label_selector = options_.label_selector;
  list.field_selector = options_.field_selector;
  list.limit = options_.page_size;
  std::vector<json> items;
  std::string rv;
  for (;;) {
    auto page = co_await client_.list(resource_, options_.ns, list);
    if (stopped_) co_return false;
    if (!page) {
      if (is_expired(page.error()) && !list.continue_token.empty()) {
        // The continue token expired mid-list: start over with one full
        // list, as client-go's pager does (FullListIfExpired).
        ++counters_.expired_total;
        items.clear();
        list.continue_token.clear();
        list.limit = 0;
        continue;
      }
      ++counters_.list_failures_total;
      log::warn(kLog, "list {}: {}", resource_.group_resource(), page.error().message());
      co_return false;
    }
    json& body = *page;
    if (body.contains("items") && body["items"].is_array()) {
      for (auto& item : body["items"]) items.push_back(std::move(item));
    }
    const json& metadata = body.contains("metadata") ? body["metadata"] : json::object();
    rv = metadata.value("resourceVersion", "");
    list.continue_token = metadata.value("continue", "");
    if (list.continue_token.empty()) break;
  }
  replace(std::move(items));
  last_rv_ = rv;
  synced_ = true;
  ++counters_.lists_total;
  co_return true;
}

void Informer::replace(std::vector<json> items) {
  std::set<std::string> listed;
  for (auto& item : items) {
    // List items carry no kind/apiVersion; the dynamic client fills them in.
    if (!item.contains("kind")) item["kind"] = resource_.kind;
    if (!item.contains("apiVersion")) item["apiVersion"] = resource_.api_version();
    std::string key = object_key(item);
    listed.insert(key);
    auto it = store_.objects_.find(key);
    if (it == store_.objects_.end()) {
      store_.objects_.emplace(key, item);
      deliver_add(item);
    } else if (resource_version_of(it->second) != resource_version_of(item)) {
      json old = std::exchange(it->second, item);
      deliver_update(old, item);
    }
  }
  std::vector<std::string> gone;
  for (const auto& [key, object] : store_.objects_) {
    if (!listed.contains(key)) gone.push_back(key);
  }
  for (const auto& key : gone) {
    auto node = store_.objects_.extract(key);
    deliver_delete(node.mapped(), /*final_state_unknown=*/true);
  }
}

asio::awaitable<Informer::WatchOutcome> Informer::watch_once() {
  WatchOptions watch;
  watch.resource_version = last_rv_;
  watch.allow_watch_bookmarks = true;
  watch.label_selector = options_.label_selector;
  watch.field_selector = options_.field_selector;
  const double seconds =
      std::chrono::duration<double>(options_.min_watch_timeout).count() * (1.0 + random_.uniform());
  watch.timeout_seconds = std::max<int64_t>(1, static_cast<int64_t>(seconds));
  auto opened = co_await client_.watch(resource_, options_.ns, watch);
  if (stopped_) co_return WatchOutcome::kStopped;
  if (!opened) {
    ++counters_.watch_failures_total;
    const api::ApiError& error = opened.error();
    log::info(kLog, "watch {} from {}: {}", resource_.group_resource(), last_rv_, error.message());
    if (is_expired(error)) {
      ++counters_.expired_total;
      co_return WatchOutcome::kRelist;
    }
    // Upstream retries refused connections (and 429s) with a backoff without
    // relisting; we do so for every transport failure.
    if (is_transport_error(error) || error.code == 429) co_return WatchOutcome::kBackoffResume;
    co_return WatchOutcome::kRelist;
  }
  ++counters_.watches_total;
  std::unique_ptr<WatchStream> stream = std::move(*opened);
  open_watch_ = stream.get();
  const SteadyTime started = timers_.clock().now();
  bool got_events = false;
  WatchOutcome outcome = WatchOutcome::kResume;
  for (;;) {
    auto next = co_await stream->next();
    if (stopped_) {
      outcome = WatchOutcome::kStopped;
      break;
    }
    if (!next || !*next) {
      // The stream ended or broke: resume from the last RV, unless it ended
      // at once without a single event (then relist after a backoff).
      if (!next) log::info(kLog, "watch {}: {}", resource_.group_resource(), next.error().message());
      // Upstream relists after a very short watch; resuming from the last RV
      // is as safe (a too-old RV gets 410) and cheaper, so we only back off.
      const bool very_short = !got_events && timers_.clock().now() - started < kVeryShortWatch;
      if (very_short) outcome = WatchOutcome::kBackoffResume;
      break;
    }
    const WatchEvent& event = **next;
    if (event.type == WatchEvent::Type::kError) {
      const int code = event.object.value("code", 0);
      const std::string reason = event.object.value("reason", "");
      if (code == 410 || reason == "Expired" || reason == "Gone") ++counters_.expired_total;
      log::info(kLog, "watch {}: ERROR {} {}", resource_.group_resource(), code,
                event.object.value("message", ""));
      outcome = WatchOutcome::kRelist;
      break;
    }
    const std::string rv = resource_version_of(event.object);
    if (event.type != WatchEvent::Type::kBookmark) {
      ++counters_.events_total;
      got_events = true;
      apply(event);
    }
    if (!rv.empty()) last_rv_ = rv;
  }
  open_watch_ = nullptr;
  co_return outcome;
}

void Informer::apply(const WatchEvent& event) {
  const std::string key = object_key(event.object);
  auto it = store_.objects_.find(key);
  if (event.type == WatchEvent::Type::kDeleted) {
    if (it != store_.objects_.end()) store_.objects_.erase(it);
    deliver_delete(event.object, /*final_state_unknown=*/false);
    return;
  }
  if (it == store_.objects_.end()) {
    store_.objects_.emplace(key, event.object);
    deliver_add(event.object);
    return;
  }
  json old = std::exchange(it->second, event.object);
  deliver_update(old, event.object);
}

void Informer::deliver_add(const json& object) {
  for (const auto& h : handlers_) {
    if (h.on_add) h.on_add(object);
  }
}

void Informer::deliver_update(const json& old_object, const json& new_object) {
  for (const auto& h : handlers_) {
    if (h.on_update) h.on_update(old_object, new_object);
  }
}

void Informer::deliver_delete(const json& object, bool final_state_unknown) {
  for (const auto& h : handlers_) {
    if (h.on_delete) h.on_delete(object, final_state_unknown);
  }
}

}  // namespace shakeout::client
