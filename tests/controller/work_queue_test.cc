// WorkQueue and its rate limiter against client-go's workqueue semantics,
// on fake timers: dedup, no double hand-out, re-queue after done(), delayed
// and rate-limited adds, forget, shutdown.

#include "controller/work_queue.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <optional>
#include <string>
#include <vector>

namespace shakeout::controller {
namespace {

using namespace std::chrono_literals;

class CountingMetrics final : public WorkQueueMetrics {
 public:
  void on_add() override { ++adds; }
  void on_depth(std::size_t d) override { depth = d; }
  void on_retry() override { ++retries; }
  int adds = 0;
  std::size_t depth = 0;
  int retries = 0;
};

class WorkQueueTest : public ::testing::Test {
 protected:
  // Starts a get() and returns where its key will land.
  std::optional<std::string>* start_get() {
    results_.push_back(std::make_unique<std::optional<std::string>>());
    auto* slot = results_.back().get();
    asio::co_spawn(
        io_,
        [](WorkQueue* q, std::optional<std::string>* out) -> asio::awaitable<void> {
          auto key = co_await q->get();
          *out = key ? *key : std::string("<shutdown>");
        }(&queue_, slot),
        [](const std::exception_ptr& e) {
          if (e) std::rethrow_exception(e);
        });
    poll();
    return slot;
  }
  std::string take() {
    auto* slot = start_get();
    poll();
    EXPECT_TRUE(slot->has_value()) << "get() should have returned at once";
    return slot->value_or("");
  }
  // Runs what is ready; restart() first, as a poll() that ran out of work
  // leaves the io_context stopped.
  void poll() {
    io_.restart();
    io_.poll();
  }
  void advance(Millis d) {
    timers_.advance(d);
    poll();
  }

  asio::io_context io_;
  client::FakeTimers timers_;
  CountingMetrics metrics_;
  WorkQueue queue_{io_.get_executor(), timers_, &metrics_};
  std::vector<std::unique_ptr<std::optional<std::string>>> results_;
};

TEST(ItemExponentialRateLimiter, DoublesFrom5msUpTo1000sAndForgets) {
  ItemExponentialRateLimiter limiter(WorkQueue::kBaseDelay, WorkQueue::kMaxDelay);
  EXPECT_EQ(limiter.when("a"), 5ms);
  EXPECT_EQ(limiter.when("a"), 10ms);
  EXPECT_EQ(limiter.when("a"), 20ms);
  EXPECT_EQ(limiter.when("b"), 5ms) << "per item";
  EXPECT_EQ(limiter.num_requeues("a"), 3);
  for (int i = 0; i < 30; ++i) (void)limiter.when("a");
  EXPECT_EQ(limiter.when("a"), 1000s);
  for (int i = 0; i < 100; ++i) (void)limiter.when("a");
  EXPECT_EQ(limiter.when("a"), 1000s) << "no overflow";
  limiter.forget("a");
  EXPECT_EQ(limiter.num_requeues("a"), 0);
  EXPECT_EQ(limiter.when("a"), 5ms);
}

TEST_F(WorkQueueTest, QueuedKeyIsDeduplicated) {
  queue_.add("ns/a");
  queue_.add("ns/a");
  queue_.add("ns/b");
  EXPECT_EQ(queue_.len(), 2u);
  EXPECT_EQ(metrics_.adds, 2);
  EXPECT_EQ(metrics_.depth, 2u);
  EXPECT_EQ(take(), "ns/a");
  EXPECT_EQ(take(), "ns/b");
  EXPECT_EQ(metrics_.depth, 0u);
}

TEST_F(WorkQueueTest, KeyInProcessingIsNotHandedOutTwiceAndIsRequeuedAfterDone) {
  queue_.add("ns/a");
  EXPECT_EQ(take(), "ns/a");
  queue_.add("ns/a");  // while being processed
  EXPECT_EQ(queue_.len(), 0u);
  auto* second = start_get();
  EXPECT_FALSE(second->has_value()) << "a key in processing must not be handed out again";
  queue_.done("ns/a");
  poll();
  ASSERT_TRUE(second->has_value()) << "done() re-queues a key added meanwhile";
  EXPECT_EQ(**second, "ns/a");
  queue_.done("ns/a");
  EXPECT_EQ(queue_.len(), 0u) << "not dirty again: not re-queued";
}

TEST_F(WorkQueueTest, GetWaitsForAnAdd) {
  auto* slot = start_get();
  EXPECT_FALSE(slot->has_value());
  queue_.add("x");
  poll();
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ(**slot, "x");
}

TEST_F(WorkQueueTest, AddAfterWaitsAndKeepsTheEarliestDueTime) {
  queue_.add_after("k", 100ms);
  queue_.add_after("k", 50ms);
  queue_.add_after("k", 200ms);
  EXPECT_EQ(queue_.waiting_delayed(), 1u);
  advance(49ms);
  EXPECT_EQ(queue_.len(), 0u);
  advance(1ms);
  EXPECT_EQ(queue_.len(), 1u);
  EXPECT_EQ(queue_.waiting_delayed(), 0u);
  advance(200ms);
  EXPECT_EQ(queue_.len(), 1u) << "the superseded timers add nothing";
}

TEST_F(WorkQueueTest, RateLimitedAddsBackOffExponentiallyUntilForgotten) {
  queue_.add_rate_limited("k");
  advance(4ms);
  EXPECT_EQ(queue_.len(), 0u);
  advance(1ms);
  ASSERT_EQ(take(), "k");
  queue_.done("k");
  queue_.add_rate_limited("k");
  advance(9ms);
  EXPECT_EQ(queue_.len(), 0u) << "second failure waits 10ms";
  advance(1ms);
  ASSERT_EQ(take(), "k");
  queue_.done("k");
  EXPECT_EQ(queue_.num_requeues("k"), 2);
  EXPECT_EQ(metrics_.retries, 2);
  queue_.forget("k");
  queue_.add_rate_limited("k");
  advance(5ms);
  EXPECT_EQ(queue_.len(), 1u) << "forget() starts the backoff over";
}

TEST_F(WorkQueueTest, ShutDownWakesWaitersDropsQueuedKeysAndIgnoresAdds) {
  auto* waiting = start_get();
  queue_.add_after("later", 10ms);
  queue_.shut_down();
  poll();
  ASSERT_TRUE(waiting->has_value());
  EXPECT_EQ(**waiting, "<shutdown>");
  queue_.add("x");
  advance(20ms);
  EXPECT_EQ(queue_.len(), 0u);
  auto* after = start_get();
  poll();
  ASSERT_TRUE(after->has_value());
  EXPECT_EQ(**after, "<shutdown>");
}

}  // namespace
}  // namespace shakeout::controller
