// The informer against a scripted fake API server over real HTTP, with fake
// timers: list+watch, resume, relist on 410, backoff, resync.

#include "client/informer.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/async.h"
#include "fake_apiserver.h"

namespace shakeout::client {
namespace {

using namespace std::chrono_literals;
using testing::FakeApiServer;

const api::ResourceInfo& pods() {
  return *api::ResourceRegistry::builtin().by_plural("", "pods");
}

std::string name_of(const json& object) {
  return object["metadata"]["name"].get<std::string>();
}

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.start().ok()); }

  void TearDown() override {
    if (informer_) {
      informer_->stop();
      EXPECT_TRUE(pump([&] { return run_done_; })) << "run() did not return after stop()";
    }
    run_blocking(io_, server_.stop());
  }

  void start_informer(InformerOptions options, std::vector<net::Endpoint> servers) {
    Config config;
    config.servers = std::move(servers);
    config.bearer_token = "informer-token";
    config.request_timeout = 5000ms;
    client_ = std::make_unique<Client>(io_.get_executor(), config);
    options.ns = "default";
    informer_ = std::make_unique<Informer>(*client_, pods(), options, timers_, random_);
    EventHandlers handlers;
    handlers.on_add = [this](const json& o) {
      log_.push_back("add " + name_of(o) + "@" + resource_version_of(o));
      EXPECT_NE(informer_->store().get(object_key(o)), nullptr) << "cache updated before the handler runs";
    };
    handlers.on_update = [this](const json& old_object, const json& new_object) {
      log_.push_back("update " + name_of(new_object) + "@" + resource_version_of(old_object) + "->" +
                     resource_version_of(new_object));
    };
    handlers.on_delete = [this](const json& o, bool unknown) {
      log_.push_back("delete " + name_of(o) + (unknown ? " (final state unknown)" : ""));
      EXPECT_EQ(informer_->store().get(object_key(o)), nullptr);
    };
    informer_->add_handlers(handlers);
    asio::co_spawn(io_, informer_->run(), [this](const std::exception_ptr& e) {
      run_done_ = true;
      if (e) std::rethrow_exception(e);
    });
  }
  void start_informer(InformerOptions options) { start_informer(std::move(options), {server_.endpoint()}); }

  // Runs the io_context until `done` holds; false after 10s of real time
  // (only a broken informer gets near it).
  bool pump(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_one_for(5ms);
    }
    return true;
  }

  // As pump(), ending every sleep the informer takes on the way.
  bool pump_advancing(const std::function<bool()>& done) {
    return pump([&] {
      if (timers_.pending() > 0) timers_.advance(60s);
      return done();
    });
  }

  // Waits for the informer to go to sleep (a backoff), then lets that sleep
  // end. Returns the duration it asked for.
  Millis finish_backoff() {
    EXPECT_TRUE(pump([&] { return timers_.pending() > 0; }));
    const Millis asked = timers_.armed_durations().back();
    timers_.advance(asked);
    return asked;
  }

  std::size_t count(const std::string& entry) const { return std::count(log_.begin(), log_.end(), entry); }

  asio::io_context io_;
  FakeApiServer server_{io_};
  FakeTimers timers_;
  SeededRandom random_{42};
  std::unique_ptr<Client> client_;
  std::unique_ptr<Informer> informer_;
  std::vector<std::string> log_;
  bool run_done_ = false;
};

TEST_F(InformerTest, ListsInPagesThenWatchesFromTheListResourceVersion) {
  server_.add("a");  // rv 2
  server_.add("b");  // rv 3
  server_.add("c");  // rv 4
  InformerOptions options;
  options.page_size = 2;
  start_informer(options);
  ASSERT_TRUE(pump([&] { return informer_->has_synced(); }));
  EXPECT_EQ(log_, (std::vector<std::string>{"add a@2", "add b@3", "add c@4"}));
  EXPECT_EQ(server_.list_requests(), 2) << "three pods in pages of two";
  // Items of a list get their kind back, as the dynamic client does.
  ASSERT_NE(informer_->store().get("default", "a"), nullptr);
  EXPECT_EQ((*informer_->store().get("default", "a"))["kind"], "Pod");
  EXPECT_EQ((*informer_->store().get("default", "a"))["apiVersion"], "v1");

  ASSERT_TRUE(pump([&] { return server_.open_watches() == 1; }));
  ASSERT_EQ(server_.watch_from(), std::vector<std::string>{"4"});
  const std::string& target = server_.targets().back();
  EXPECT_NE(target.find("watch=true"), std::string::npos) << target;
  EXPECT_NE(target.find("allowWatchBookmarks=true"), std::string::npos) << target;
  EXPECT_NE(target.find("timeoutSeconds="), std::string::npos) << target;
  EXPECT_EQ(server_.authorizations().back(), "Bearer informer-token");

  server_.modify("a");  // rv 5
  server_.remove("b");  // rv 6
  server_.add("d");     // rv 7
  ASSERT_TRUE(pump([&] { return log_.size() == 6; }));
  EXPECT_EQ(std::vector<std::string>(log_.begin() + 3, log_.end()),
            (std::vector<std::string>{"update a@2->5", "delete b", "add d@7"}));
  EXPECT_EQ(informer_->store().keys(), (std::vector<std::string>{"default/a", "default/c", "default/d"}));
  EXPECT_EQ(informer_->last_sync_resource_version(), "7");
}

TEST_F(InformerTest, ResumesFromTheLastResourceVersionWhenTheStreamEnds) {
  server_.add("a");
  start_informer(InformerOptions());
  ASSERT_TRUE(pump([&] { return server_.open_watches() == 1; }));
  server_.add("b");  // rv 3, seen by the first watch
  ASSERT_TRUE(pump([&] { return log_.size() == 2; }));
  server_.end_watches();
  ASSERT_TRUE(pump([&] { return server_.watch_from().size() == 2 && server_.open_watches() == 1; }));
  EXPECT_EQ(server_.watch_from()[1], "3") << "resumed after the last event, not from the list";
  EXPECT_EQ(server_.list_requests(), 1) << "no relist for a stream that simply ended";
  server_.add("c");
  ASSERT_TRUE(pump([&] { return log_.size() == 3; }));
  EXPECT_EQ(log_, (std::vector<std::string>{"add a@2", "add b@3", "add c@4"})) << "nothing delivered twice";
}

TEST_F(InformerTest, BookmarksMoveTheResumePointWithoutEvents) {
  server_.add("a");
  start_informer(InformerOptions());
  ASSERT_TRUE(pump([&] { return server_.open_watches() == 1; }));
  server_.advance_rv();
  server_.advance_rv();  // rv 4, nothing visible
  server_.bookmark();
  ASSERT_TRUE(pump([&] { return informer_->last_sync_resource_version() == "4"; }));
  EXPECT_EQ(log_, std::vector<std::string>{"add a@2"}) << "a bookmark is not an event";
}

TEST_F(InformerTest, RelistAfterExpiredDeliversWhatChangedWhileDisconnected) {
  server_.add("a");     // rv 2
  server_.add("b");     // rv 3
  server_.add("keep");  // rv 4
  start_informer(InformerOptions());
  ASSERT_TRUE(pump([&] { return server_.open_watches() == 1; }));
  const uint16_t port = server_.port();
  run_blocking(io_, server_.stop());
  // While the informer is cut off, b goes, a changes, d comes, and the
  // server forgets the history the informer would resume from.
  server_.remove("b");  // rv 5
  server_.modify("a");  // rv 6
  server_.add("d");     // rv 7
  server_.compact();
  finish_backoff();  // the stream ended: back off, then watch again (refused)
  finish_backoff();  // refused: back off again
  ASSERT_TRUE(server_.start(port).ok());
  ASSERT_TRUE(pump_advancing([&] { return server_.list_requests() == 2 && server_.open_watches() == 1; }))
      << "410 on resume leads to a relist";
  EXPECT_EQ(server_.watch_from().back(), "7");
  EXPECT_GE(informer_->counters().expired_total, 1u);
  EXPECT_EQ(std::vector<std::string>(log_.begin() + 3, log_.end()),
            (std::vector<std::string>{"update a@2->6", "add d@7", "delete b (final state unknown)"}));
  EXPECT_EQ(count("update keep@4->4"), 0u) << "an unchanged object is not re-delivered";
  EXPECT_EQ(informer_->store().keys(), (std::vector<std::string>{"default/a", "default/d", "default/keep"}));
}

TEST_F(InformerTest, BacksOffExponentiallyWithJitterWhileConnectionsAreRefused) {
  const net::Endpoint dead = server_.endpoint();
  run_blocking(io_, server_.stop());
  start_informer(InformerOptions(), {dead});
  std::vector<Millis> delays;
  for (int i = 0; i < 7; ++i) delays.push_back(finish_backoff());
  // client-go: 800ms doubling, capped at 30s, each stretched by up to 100%.
  Millis base{800};
  for (const Millis delay : delays) {
    EXPECT_GE(delay, base);
    EXPECT_LT(delay, 2 * base);
    base = std::min(2 * base, Millis(30000));
  }
  EXPECT_FALSE(informer_->has_synced());
  EXPECT_EQ(informer_->counters().list_failures_total, 7u);
  // Once the server is back, the next attempt lists and syncs.
  ASSERT_TRUE(server_.start(dead.port).ok());
  ASSERT_TRUE(pump_advancing([&] { return informer_->has_synced(); }));
}

TEST_F(InformerTest, FailedListIsRetriedAndNotReportedSynced) {
  server_.add("a");
  server_.fail_lists(1, api::internal_error("etcd is sad"));
  start_informer(InformerOptions());
  finish_backoff();
  EXPECT_EQ(informer_->counters().list_failures_total, 1u);
  ASSERT_TRUE(pump([&] { return informer_->has_synced(); }));
  EXPECT_EQ(log_, std::vector<std::string>{"add a@2"});
}

TEST_F(InformerTest, ResyncRedeliversEveryCachedObjectAsAnUpdate) {
  server_.add("a");
  server_.add("b");
  InformerOptions options;
  options.resync_period = 1000ms;
  start_informer(options);
  ASSERT_TRUE(pump([&] { return server_.open_watches() == 1; }));
  EXPECT_EQ(log_.size(), 2u);
  timers_.advance(999ms);
  io_.poll();
  EXPECT_EQ(log_.size(), 2u) << "no resync before the period";
  timers_.advance(1ms);
  ASSERT_TRUE(pump([&] { return log_.size() == 4; }));
  EXPECT_EQ(count("update a@2->2"), 1u);
  EXPECT_EQ(count("update b@3->3"), 1u);
  EXPECT_EQ(informer_->counters().resyncs_total, 1u);
}

}  // namespace
}  // namespace shakeout::client
