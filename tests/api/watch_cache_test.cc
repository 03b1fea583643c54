// WatchCache against real etcd booted by the product's cluster code: one
// member for the semantics, three members where a member is killed or paused
// under the cache's stream.

#include "api/watch_cache.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "api/store.h"
#include "etcd_fixture.h"
#include "net/http_client.h"

namespace shakeout::api {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Type = WatchEvent::Type;

const ResourceInfo& info(const char* plural) {
  return *ResourceRegistry::builtin().by_plural("", plural);
}

std::string rv_of(const json& object) {
  return object["metadata"]["resourceVersion"].get<std::string>();
}
int64_t rv_number(const json& object) {
  return std::stoll(rv_of(object));
}
std::string name_of(const WatchEvent& event) {
  return (*event.object)["metadata"]["name"].get<std::string>();
}

// Collects every event of a watcher until it ends (a named coroutine: it
// keeps the watcher alive through its own shared_ptr).
struct Collected {
  std::vector<WatchEvent> events;
  std::vector<std::chrono::steady_clock::time_point> at;
  bool ended = false;
};
asio::awaitable<void> collect(std::shared_ptr<Watcher> watcher, std::shared_ptr<Collected> out) {
  for (;;) {
    auto event = co_await watcher->next();
    if (!event) break;
    out->events.push_back(std::move(*event));
    out->at.push_back(std::chrono::steady_clock::now());
  }
  out->ended = true;
}

// One etcd cluster of `kMembers` per suite (booting takes seconds).
template <int kMembers>
class WatchCacheFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = etcd::testing::EtcdCluster::start(kMembers);
    ASSERT_TRUE(cluster.ok()) << cluster.error().describe();
    cluster_ = std::move(*cluster).release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void connect(const std::vector<std::string>& cache_endpoints,
               const std::vector<std::string>& write_endpoints) {
    cache_client_ =
        std::make_unique<etcd::Client>(io_.get_executor(), etcd::Config{cache_endpoints, 1000ms, 500ms});
    write_client_ =
        std::make_unique<etcd::Client>(io_.get_executor(), etcd::Config{write_endpoints, 2000ms, 500ms});
    store_ = std::make_unique<Store>(*write_client_, clock_, 42);
    ns_ = make_namespace("t-" + test_name());
  }

  void TearDown() override {
    if (cache_) run(cache_->stop());
    cache_.reset();
  }

  static std::string test_name() {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string out;
    for (char c : name) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out.substr(0, 50);
  }

  std::string make_namespace(const std::string& name) {
    json object = json::object();
    object["metadata"]["name"] = name;
    auto created = run(store_->create(info("namespaces"), "", object));
    EXPECT_TRUE(created.ok()) << created.error().message();
    return name;
  }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  void start_cache(WatchCacheConfig config) {
    cache_ = std::make_unique<WatchCache>(io_.get_executor(), *cache_client_, info("pods"), config);
    auto started = run(cache_->start());
    ASSERT_TRUE(started.ok()) << started.error().describe();
  }

  std::shared_ptr<Watcher> watch(WatchRequest request) {
    auto watcher = cache_->watch(std::move(request));
    EXPECT_TRUE(watcher.ok()) << (watcher.ok() ? "" : watcher.error().message());
    return watcher.ok() ? *watcher : nullptr;
  }
  std::shared_ptr<Watcher> watch_ns(std::optional<int64_t> rv, std::string labels = "") {
    WatchRequest request;
    request.ns = ns_;
    request.resource_version = rv;
    request.label_selector = std::move(labels);
    return watch(request);
  }

  // `count` watchers of the test namespace from the current state.
  std::vector<std::shared_ptr<Watcher>> watch_many(int count) {
    std::vector<std::shared_ptr<Watcher>> watchers;
    watchers.reserve(count);
    for (int i = 0; i < count; ++i) watchers.push_back(watch_ns(0));
    return watchers;
  }

  // The watcher's next event; a watcher silent for `timeout` is stopped and
  // the test fails.
  std::optional<WatchEvent> next(const std::shared_ptr<Watcher>& watcher, Millis timeout = 10s) {
    auto timed_out = std::make_shared<bool>(false);
    asio::steady_timer timer(io_, timeout);
    timer.async_wait([watcher, timed_out](boost::system::error_code ec) {
      if (ec) return;
      *timed_out = true;
      watcher->stop();
    });
    auto event = run(watcher->next());
    timer.cancel();
    EXPECT_FALSE(*timed_out) << "no event within " << timeout.count() << "ms";
    return event;
  }

  // Expects the next event to be `type` for `name`; returns its object.
  json expect_event(const std::shared_ptr<Watcher>& watcher, Type type, const std::string& name) {
    auto event = next(watcher);
    EXPECT_TRUE(event.has_value()) << "watcher ended; expected " << to_string(type) << " " << name;
    if (!event) return json();
    EXPECT_EQ(to_string(event->type), std::string(to_string(type))) << event->object->dump();
    if (type != Type::kBookmark && type != Type::kError) {
      EXPECT_EQ(name_of(*event), name);
    }
    // The line is the event as the REST layer writes it.
    json line = json::parse(*event->line);
    EXPECT_EQ(line["type"], to_string(type));
    EXPECT_EQ(line["object"], *event->object);
    EXPECT_EQ(event->line->back(), '\n');
    return *event->object;
  }

  json pod(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    json p =
        json::parse(R"({"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"c","image":"i"}]}})");
    p["metadata"]["name"] = name;
    for (const auto& [k, v] : labels) p["metadata"]["labels"][k] = v;
    return p;
  }
  json create(json object, const std::string& ns = "") {
    auto created = run(store_->create(info("pods"), ns.empty() ? ns_ : ns, std::move(object)));
    EXPECT_TRUE(created.ok()) << created.error().message();
    return created.ok() ? *created : json();
  }
  json relabel(const std::string& name, const std::map<std::string, std::string>& labels) {
    auto current = run(store_->get(info("pods"), ns_, name));
    EXPECT_TRUE(current.ok());
    if (!current.ok()) return json();
    json object = *current;
    object["metadata"]["labels"] = json::object();
    for (const auto& [k, v] : labels) object["metadata"]["labels"][k] = v;
    auto updated = run(store_->update(info("pods"), ns_, name, object));
    EXPECT_TRUE(updated.ok()) << updated.error().message();
    return updated.ok() ? *updated : json();
  }
  json remove(const std::string& name) {
    DeleteOptions options;
    auto removed = run(store_->remove(info("pods"), ns_, name, options));
    EXPECT_TRUE(removed.ok()) << removed.error().message();
    EXPECT_TRUE(removed.ok() && removed->removed);
    return removed.ok() ? removed->object : json();
  }

  // Spawns a collector per watcher.
  std::vector<std::shared_ptr<Collected>> collect_all(const std::vector<std::shared_ptr<Watcher>>& watchers) {
    std::vector<std::shared_ptr<Collected>> out;
    for (const auto& watcher : watchers) {
      out.push_back(std::make_shared<Collected>());
      asio::co_spawn(io_, collect(watcher, out.back()), asio::detached);
    }
    return out;
  }
  // Runs the io_context until `done` holds; false if `timeout` passes first.
  template <typename Done>
  [[nodiscard]] bool run_until(Done done, Millis timeout = 20s) {
    auto expired = std::make_shared<bool>(false);
    asio::steady_timer deadline(io_, timeout);
    deadline.async_wait([expired](boost::system::error_code ec) { *expired = !ec; });
    io_.restart();
    while (!done() && !*expired) io_.run_one();
    return !*expired;
  }

  // Runs the io_context until the cache has seen revision `revision`.
  [[nodiscard]] bool catch_up(int64_t revision) {
    return run_until([&] { return cache_->revision() >= revision; });
  }

  asio::io_context io_;
  FakeClock clock_;
  std::unique_ptr<etcd::Client> cache_client_;
  std::unique_ptr<etcd::Client> write_client_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<WatchCache> cache_;
  std::string ns_;
  static etcd::testing::EtcdCluster* cluster_;  // NOLINT(readability-identifier-naming)
};

template <int kMembers>
etcd::testing::EtcdCluster* WatchCacheFixture<kMembers>::cluster_ = nullptr;

// ---------------------------------------------------------------------------
// One member: the semantics.

class WatchCacheTest : public WatchCacheFixture<1> {
 protected:
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    connect(cluster_->endpoints(), cluster_->endpoints());
  }
};

TEST_F(WatchCacheTest, DeliversAddedModifiedDeletedInOrderWithTheirResourceVersions) {
  start_cache({});
  auto watcher = watch_ns(0);
  json created = create(pod("web", {{"v", "1"}}));
  json updated = relabel("web", {{"v", "2"}});
  json removed = remove("web");

  json added = expect_event(watcher, Type::kAdded, "web");
  EXPECT_EQ(added, created);
  EXPECT_EQ(added["kind"], "Pod");
  EXPECT_EQ(added["apiVersion"], "v1");
  json modified = expect_event(watcher, Type::kModified, "web");
  EXPECT_EQ(modified, updated);
  json deleted = expect_event(watcher, Type::kDeleted, "web");
  // The last state, at the deletion revision.
  EXPECT_EQ(rv_of(deleted), rv_of(removed));
  EXPECT_GT(rv_number(deleted), rv_number(updated));
  EXPECT_EQ(deleted["metadata"]["labels"]["v"], "2");
  EXPECT_EQ(cache_->revision(), rv_number(removed));
}

TEST_F(WatchCacheTest, ResourceVersionZeroStartsWithTheCurrentStateAsAdded) {
  json a = create(pod("a"));
  json b = create(pod("b"));
  start_cache({});
  create(pod("other"), make_namespace(ns_ + "-x"));
  for (std::optional<int64_t> rv : {std::optional<int64_t>(), std::optional<int64_t>(0)}) {
    auto watcher = watch_ns(rv);
    EXPECT_EQ(expect_event(watcher, Type::kAdded, "a"), a);  // each with its own resourceVersion
    EXPECT_EQ(expect_event(watcher, Type::kAdded, "b"), b);
    EXPECT_EQ(watcher->queued(), 0U);
  }
  auto watcher = watch_ns(0);
  expect_event(watcher, Type::kAdded, "a");
  expect_event(watcher, Type::kAdded, "b");
  json c = create(pod("c"));
  EXPECT_EQ(expect_event(watcher, Type::kAdded, "c"), c);
}

TEST_F(WatchCacheTest, ResumesAtAResourceVersionWithOnlyLaterEvents) {
  start_cache({});
  json a = create(pod("a"));
  json b = create(pod("b"));
  json a2 = relabel("a", {{"x", "y"}});
  ASSERT_TRUE(catch_up(rv_number(a2)));

  auto watcher = watch_ns(rv_number(a));
  EXPECT_EQ(expect_event(watcher, Type::kAdded, "b"), b);
  EXPECT_EQ(expect_event(watcher, Type::kModified, "a"), a2);
  EXPECT_EQ(watcher->queued(), 0U);
  remove("b");
  expect_event(watcher, Type::kDeleted, "b");

  auto latest = watch_ns(rv_number(a2));
  expect_event(latest, Type::kDeleted, "b");
}

TEST_F(WatchCacheTest, ResourceVersionNewerThanTheCacheSkipsEventsUpToIt) {
  start_cache({});
  const int64_t future = cache_->revision() + 2;
  auto watcher = watch_ns(future);
  create(pod("a"));  // revision() + 1: skipped
  create(pod("b"));  // + 2: skipped
  json c = create(pod("c"));
  ASSERT_EQ(rv_number(c), future + 1);
  EXPECT_EQ(expect_event(watcher, Type::kAdded, "c"), c);
}

TEST_F(WatchCacheTest, TooOldResourceVersionIsOneExpiredErrorEvent) {
  WatchCacheConfig config;
  config.capacity = 3;
  start_cache(config);
  std::vector<json> pods;
  pods.reserve(5);
  for (int i = 0; i < 5; ++i) pods.push_back(create(pod(fmt::format("p{}", i))));
  auto probe = watch_ns(rv_number(pods[3]));
  expect_event(probe, Type::kAdded, "p4");

  // The window holds p2..p4: the oldest resumable version is p2's - 1.
  const int64_t oldest = rv_number(pods[2]) - 1;
  auto expired = watch_ns(rv_number(pods[0]));
  json status = expect_event(expired, Type::kError, "");
  EXPECT_EQ(status["kind"], "Status");
  EXPECT_EQ(status["code"], 410);
  EXPECT_EQ(status["reason"], "Expired");
  EXPECT_EQ(status["message"], fmt::format("too old resource version: {} ({})", rv_number(pods[0]), oldest));
  EXPECT_FALSE(next(expired).has_value());
  EXPECT_EQ(expired->end_reason(), Watcher::End::kError);

  auto resumed = watch_ns(oldest);
  expect_event(resumed, Type::kAdded, "p2");
  expect_event(resumed, Type::kAdded, "p3");
  expect_event(resumed, Type::kAdded, "p4");
  EXPECT_EQ(cache_->watcher_count(), 2U);  // probe and resumed; not the expired one
}

TEST_F(WatchCacheTest, SelectorsTurnTransitionsIntoAddedAndDeleted) {
  start_cache({});
  auto watcher = watch_ns(0, "app=web");
  create(pod("p", {{"app", "db"}}));         // not selected: nothing
  json in = relabel("p", {{"app", "web"}});  // starts matching
  json still = relabel("p", {{"app", "web"}, {"tier", "1"}});
  json out = relabel("p", {{"app", "db"}});  // stops matching
  create(pod("q", {{"app", "web"}}));
  json gone = remove("q");

  EXPECT_EQ(expect_event(watcher, Type::kAdded, "p"), in);
  EXPECT_EQ(expect_event(watcher, Type::kModified, "p"), still);
  json left = expect_event(watcher, Type::kDeleted, "p");
  // The old state (still app=web) at the resourceVersion of the change.
  EXPECT_EQ(left["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(left["metadata"]["labels"]["tier"], "1");
  EXPECT_EQ(rv_of(left), rv_of(out));
  expect_event(watcher, Type::kAdded, "q");
  EXPECT_EQ(rv_of(expect_event(watcher, Type::kDeleted, "q")), rv_of(gone));

  // Field selectors too, replayed from the window the same way.
  WatchRequest by_name;
  by_name.ns = ns_;
  by_name.field_selector = "metadata.name=q";
  by_name.resource_version = rv_number(in) - 1;
  auto named = watch(by_name);
  expect_event(named, Type::kAdded, "q");
  expect_event(named, Type::kDeleted, "q");
  EXPECT_EQ(named->queued(), 0U);
}

TEST_F(WatchCacheTest, BadSelectorsAreBadRequestsWordedAsList) {
  start_cache({});
  WatchRequest request;
  request.label_selector = "a in (";
  auto watched = cache_->watch(request);
  ASSERT_FALSE(watched.ok());
  EXPECT_EQ(watched.error().code, 400);
  ListOptions options;
  options.label_selector = request.label_selector;
  auto listed = run(store_->list(info("pods"), ns_, options));
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(watched.error().message(), listed.error().message());

  request.label_selector = "";
  request.field_selector = "spec.foo=bar";
  watched = cache_->watch(request);
  ASSERT_FALSE(watched.ok());
  EXPECT_EQ(watched.error().message(), "field label not supported: spec.foo");
}

TEST_F(WatchCacheTest, NamespaceFilterDeliversOnlyTheWatchedNamespace) {
  start_cache({});
  const std::string other = make_namespace(ns_ + "-b");
  auto mine = watch_ns(0);
  WatchRequest everywhere;
  auto all = watch(everywhere);
  create(pod("there"), other);
  create(pod("here"));
  expect_event(mine, Type::kAdded, "here");
  EXPECT_EQ(mine->queued(), 0U);
  EXPECT_EQ(expect_event(all, Type::kAdded, "there")["metadata"]["namespace"], other);
  EXPECT_EQ(expect_event(all, Type::kAdded, "here")["metadata"]["namespace"], ns_);
}

TEST_F(WatchCacheTest, BookmarksCarryTheRevisionAdvancedByOtherResources) {
  WatchCacheConfig config;
  config.bookmark_interval = 100ms;
  start_cache(config);
  create(pod("a"));
  WatchRequest with;
  with.ns = ns_;
  with.resource_version = 0;
  with.allow_bookmarks = true;
  auto bookmarked = watch(with);
  auto plain = watch_ns(0);
  expect_event(bookmarked, Type::kAdded, "a");
  expect_event(plain, Type::kAdded, "a");
  // A change elsewhere in etcd: only progress notifications tell the cache.
  auto put = run(write_client_->put("/registry/configmaps/elsewhere/x", "{}"));
  ASSERT_TRUE(put.ok());
  const int64_t target = put->header.revision;
  int64_t seen = 0;
  for (int i = 0; i < 100 && seen < target; ++i) {
    json bookmark = expect_event(bookmarked, Type::kBookmark, "");
    seen = rv_number(bookmark);
    json expected = json::parse(R"({"kind":"Pod","apiVersion":"v1","metadata":{}})");
    expected["metadata"]["resourceVersion"] = rv_of(bookmark);
    EXPECT_EQ(bookmark, expected);
  }
  EXPECT_EQ(seen, target);
  EXPECT_EQ(plain->queued(), 0U);  // no bookmarks unless asked for
}

// etcd's own count of watch streams (a gauge on its /metrics).
std::optional<double> etcd_watch_streams(asio::io_context& io, const std::string& endpoint) {
  auto parsed = net::parse_endpoint(endpoint);
  if (!parsed) return std::nullopt;
  net::HttpClient http(io.get_executor(), net::HttpClientConfig{});
  net::HttpRequest request;
  request.method = "GET";
  request.target = "/metrics";
  auto response = run_blocking(io, http.request(*parsed, request, Millis(5000)));
  if (!response || response->status != 200) return std::nullopt;
  std::smatch match;
  static const std::regex kGauge(R"(\netcd_debugging_mvcc_watch_stream_total ([0-9.e+]+))");
  if (!std::regex_search(response->body, match, kGauge)) return std::nullopt;
  return std::stod(match[1]);
}

TEST_F(WatchCacheTest, HundredsOfWatchersShareOneEtcdWatchAndOneSerialization) {
  auto streams_before = etcd_watch_streams(io_, cluster_->endpoint(0));
  start_cache({});
  auto watchers = watch_many(150);
  auto collected = collect_all(watchers);
  create(pod("shared"));
  ASSERT_TRUE(run_until([&] {
    for (const auto& c : collected)
      if (c->events.empty()) return false;
    return true;
  }));
  const std::string* line = collected.front()->events.front().line.get();
  for (const auto& c : collected) {
    ASSERT_EQ(c->events.size(), 1U);
    EXPECT_EQ(name_of(c->events.front()), "shared");
    EXPECT_EQ(c->events.front().line.get(), line);  // serialized once
  }
  EXPECT_EQ(cache_->stats().etcd_watches_opened, 1U);
  auto streams_after = etcd_watch_streams(io_, cluster_->endpoint(0));
  ASSERT_TRUE(streams_before && streams_after)
      << "etcd /metrics has no etcd_debugging_mvcc_watch_stream_total";
  std::printf("etcd watch streams: %.0f before the cache, %.0f with 150 watchers\n", *streams_before,
              *streams_after);
  EXPECT_LE(*streams_after - *streams_before, 1.0);
  for (const auto& w : watchers) w->stop();
  ASSERT_TRUE(run_until([&] {
    for (const auto& c : collected)
      if (!c->ended) return false;
    return true;
  }));
  EXPECT_EQ(cache_->watcher_count(), 0U);
}

TEST_F(WatchCacheTest, SlowWatcherIsEndedWithoutAffectingOthers) {
  WatchCacheConfig config;
  config.watcher_queue_limit = 5;
  start_cache(config);
  auto slow = watch_ns(0);
  auto fast = watch_ns(0);
  auto collected = collect_all({fast});
  std::vector<json> written;
  // One change at a time, each seen by the fast watcher before the next: etcd
  // may batch events into one watch response, and a batch larger than the
  // queue limit would (rightly) drop a watcher that keeps up too.
  written.push_back(create(pod("p")));
  ASSERT_TRUE(run_until([&] { return collected[0]->events.size() >= written.size(); }));
  for (int i = 0; i < 11; ++i) {
    written.push_back(relabel("p", {{"n", std::to_string(i)}}));
    ASSERT_TRUE(run_until([&] { return collected[0]->events.size() >= written.size(); })) << "change " << i;
  }
  ASSERT_EQ(collected[0]->events.size(), written.size());
  for (std::size_t i = 0; i < written.size(); ++i) EXPECT_EQ(*collected[0]->events[i].object, written[i]);
  EXPECT_EQ(slow->end_reason(), Watcher::End::kTooSlow);
  EXPECT_FALSE(next(slow).has_value());  // its backlog is gone with it
  EXPECT_EQ(cache_->stats().watchers_too_slow, 1U);
  EXPECT_EQ(cache_->watcher_count(), 1U);
  EXPECT_FALSE(fast->ended());
}

TEST_F(WatchCacheTest, StopEndsEveryWatcherAndRefusesNewOnes) {
  start_cache({});
  auto watchers = watch_many(10);
  auto collected = collect_all(watchers);
  io_.poll();  // every collector is suspended in next()
  run(cache_->stop());
  ASSERT_TRUE(run_until([&] {
    for (const auto& c : collected)
      if (!c->ended) return false;
    return true;
  }));
  for (const auto& w : watchers) EXPECT_EQ(w->end_reason(), Watcher::End::kCacheStopped);
  EXPECT_EQ(cache_->watcher_count(), 0U);
  WatchRequest request;
  auto refused = cache_->watch(request);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, 503);
}

TEST_F(WatchCacheTest, OneChangeReachesAThousandWatchers) {
  start_cache({});
  auto watchers = watch_many(1000);
  auto collected = collect_all(watchers);
  io_.poll();
  const auto written = std::chrono::steady_clock::now();
  create(pod("fan-out"));
  ASSERT_TRUE(run_until([&] {
    for (const auto& c : collected)
      if (c->events.empty()) return false;
    return true;
  }));
  auto first = collected.front()->at.front();
  auto last = first;
  for (const auto& c : collected) {
    ASSERT_EQ(c->events.size(), 1U);
    first = std::min(first, c->at.front());
    last = std::max(last, c->at.front());
  }
  auto us = [](auto d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
  std::printf("one change to 1000 watchers: write->first %lld us, write->last %lld us, fan-out %lld us\n",
              static_cast<long long>(us(first - written)), static_cast<long long>(us(last - written)),
              static_cast<long long>(us(last - first)));
  EXPECT_EQ(cache_->stats().etcd_watches_opened, 1U);
}

// ---------------------------------------------------------------------------
// Three members: the cache's stream is on member 0 (its client's first
// endpoint); writes go through members 1 and 2.

class WatchCacheStreamTest : public WatchCacheFixture<3> {
 protected:
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    connect(cluster_->endpoints(), {cluster_->endpoint(1), cluster_->endpoint(2)});
  }
};

TEST_F(WatchCacheStreamTest, KilledMemberUnderTheStreamLosesNoEvents) {
  start_cache({});
  auto watcher = watch_ns(0);
  std::vector<json> written;
  written.reserve(5);
  for (int i = 0; i < 3; ++i) written.push_back(create(pod(fmt::format("before-{}", i))));
  for (const auto& object : written)
    EXPECT_EQ(expect_event(watcher, Type::kAdded, object["metadata"]["name"]), object);
  cluster_->kill_member(0);
  std::vector<json> after;
  after.reserve(5);
  for (int i = 0; i < 3; ++i) after.push_back(create(pod(fmt::format("after-{}", i))));
  after.push_back(relabel("before-0", {{"x", "1"}}));
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(expect_event(watcher, Type::kAdded, after[i]["metadata"]["name"]), after[i]);
  EXPECT_EQ(expect_event(watcher, Type::kModified, "before-0"), after[3]);
  EXPECT_GE(cache_->stats().stream_breaks, 1U);
  EXPECT_GE(cache_->stats().etcd_watches_opened, 2U);
  EXPECT_EQ(cache_->stats().lists, 1U);  // resumed, not relisted
  EXPECT_FALSE(watcher->ended());
}

TEST_F(WatchCacheStreamTest, SilentStreamOfAPausedMemberIsReopened) {
  WatchCacheConfig config;
  config.stream_idle_timeout = 1000ms;  // progress notifications come every 100ms
  start_cache(config);
  auto watcher = watch_ns(0);
  json a = create(pod("a"));
  expect_event(watcher, Type::kAdded, "a");
  cluster_->pause_member(0);
  json b = create(pod("b"));
  json a2 = relabel("a", {{"x", "1"}});
  EXPECT_EQ(expect_event(watcher, Type::kAdded, "b"), b);
  EXPECT_EQ(expect_event(watcher, Type::kModified, "a"), a2);
  cluster_->resume_member(0);
  EXPECT_GE(cache_->stats().stream_breaks, 1U);
  EXPECT_EQ(cache_->stats().lists, 1U);
}

TEST_F(WatchCacheStreamTest, CompactionPastTheStreamRelistsAndEndsWatchers) {
  WatchCacheConfig config;
  config.stream_idle_timeout = 1000ms;
  start_cache(config);
  create(pod("a"));
  auto watcher = watch_ns(0);
  expect_event(watcher, Type::kAdded, "a");
  const int64_t seen = cache_->revision();
  cluster_->pause_member(0);
  json b = create(pod("b"));
  create(pod("c"));
  auto compacted = run(write_client_->compact(rv_number(b) + 1));
  ASSERT_TRUE(compacted.ok()) << compacted.error().describe();
  // The stream reopens from seen + 1, which is compacted: relist, and every
  // watcher ends, as upstream's cacher does.
  EXPECT_FALSE(next(watcher, 20s).has_value());
  EXPECT_EQ(watcher->end_reason(), Watcher::End::kRelisted);
  // A client resuming from what it saw gets 410 once the relist is in; a
  // new watch sees everything.
  auto resumed = watch_ns(seen);
  EXPECT_EQ(expect_event(resumed, Type::kError, "")["code"], 410);
  cluster_->resume_member(0);
  EXPECT_EQ(cache_->stats().lists, 2U);
  EXPECT_EQ(cache_->object_count(), 3U);
  auto fresh = watch_ns(0);
  expect_event(fresh, Type::kAdded, "a");
  expect_event(fresh, Type::kAdded, "b");
  expect_event(fresh, Type::kAdded, "c");
}

}  // namespace
}  // namespace shakeout::api
