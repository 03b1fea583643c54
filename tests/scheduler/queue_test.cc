#include "scheduler/queue.h"

#include <gtest/gtest.h>

namespace shakeout::scheduler {
namespace {

using namespace std::chrono_literals;

class QueueTest : public ::testing::Test {
 protected:
  QueueTest() : queue_(options(), clock_) {}
  static QueueOptions options() {
    QueueOptions o;
    o.initial_backoff = 1000ms;
    o.max_backoff = 10000ms;
    o.max_in_unschedulable = 60000ms;
    return o;
  }
  FakeClock clock_;
  SchedulingQueue queue_;
};

TEST_F(QueueTest, HigherPriorityFirstThenOldest) {
  queue_.add("default/a", 0);
  clock_.advance(1ms);
  queue_.add("default/b", 0);
  queue_.add("default/urgent", 1000);
  queue_.add("default/a", 5);  // known: ignored
  EXPECT_EQ(queue_.pop(), "default/urgent");
  EXPECT_EQ(queue_.pop(), "default/a");
  EXPECT_EQ(queue_.pop(), "default/b");
  EXPECT_EQ(queue_.pop(), std::nullopt);
}

TEST_F(QueueTest, BackoffDoublesFromInitialToMax) {
  EXPECT_EQ(queue_.backoff_duration(1), 1000ms);
  EXPECT_EQ(queue_.backoff_duration(2), 2000ms);
  EXPECT_EQ(queue_.backoff_duration(4), 8000ms);
  EXPECT_EQ(queue_.backoff_duration(5), 10000ms);
  EXPECT_EQ(queue_.backoff_duration(40), 10000ms);
}

TEST_F(QueueTest, UnschedulablePodsWaitForAnEvent) {
  queue_.add("default/p", 0);
  ASSERT_EQ(queue_.pop(), "default/p");
  queue_.add_unschedulable("default/p");
  EXPECT_EQ(queue_.unschedulable_size(), 1U);
  clock_.advance(30s);
  EXPECT_EQ(queue_.pop(), std::nullopt);  // backoff long over, but no event yet
  queue_.move_all();                      // e.g. a node was added
  EXPECT_EQ(queue_.pop(), "default/p");
  EXPECT_EQ(queue_.attempts("default/p"), 2);
}

TEST_F(QueueTest, AnEventDuringBackoffWaitsOutTheBackoff) {
  queue_.add("default/p", 0);
  ASSERT_EQ(queue_.pop(), "default/p");
  queue_.add_unschedulable("default/p");
  clock_.advance(200ms);
  queue_.move_all();
  EXPECT_EQ(queue_.backoff_size(), 1U);
  EXPECT_EQ(queue_.pop(), std::nullopt);
  ASSERT_TRUE(queue_.next_due().has_value());
  EXPECT_EQ(*queue_.next_due() - clock_.now(), 800ms);
  clock_.advance(800ms);
  EXPECT_EQ(queue_.pop(), "default/p");
  // Second failure: 2s of backoff.
  queue_.add_unschedulable("default/p");
  queue_.move_all();
  clock_.advance(1999ms);
  EXPECT_EQ(queue_.pop(), std::nullopt);
  clock_.advance(1ms);
  EXPECT_EQ(queue_.pop(), "default/p");
}

TEST_F(QueueTest, AnEventDuringTheAttemptIsNotMissed) {
  queue_.add("default/p", 0);
  ASSERT_EQ(queue_.pop(), "default/p");
  queue_.move_all();  // a node appeared while the pod was being scheduled
  queue_.add_unschedulable("default/p");
  EXPECT_EQ(queue_.unschedulable_size(), 0U);
  EXPECT_EQ(queue_.backoff_size(), 1U);
  clock_.advance(1s);
  EXPECT_EQ(queue_.pop(), "default/p");
}

TEST_F(QueueTest, LeftoverUnschedulablePodsAreRetriedEventually) {
  queue_.add("default/p", 0);
  ASSERT_EQ(queue_.pop(), "default/p");
  queue_.add_unschedulable("default/p");
  ASSERT_TRUE(queue_.next_due().has_value());
  EXPECT_EQ(*queue_.next_due() - clock_.now(), 60000ms);
  clock_.advance(59s);
  EXPECT_EQ(queue_.pop(), std::nullopt);
  clock_.advance(1s);
  EXPECT_EQ(queue_.pop(), "default/p");
}

TEST_F(QueueTest, UpdateMovesAnUnschedulablePodAndRemoveForgets) {
  queue_.add("default/p", 0);
  ASSERT_EQ(queue_.pop(), "default/p");
  queue_.add_unschedulable("default/p");
  clock_.advance(5s);
  queue_.update("default/p", 0);
  EXPECT_EQ(queue_.pop(), "default/p");
  queue_.add_backoff("default/p");  // an error: straight to backoff
  EXPECT_EQ(queue_.backoff_size(), 1U);
  queue_.remove("default/p");
  EXPECT_FALSE(queue_.contains("default/p"));
  EXPECT_EQ(queue_.backoff_size(), 0U);
  clock_.advance(1h);
  EXPECT_EQ(queue_.pop(), std::nullopt);
}

TEST_F(QueueTest, DoneForgetsAndFailuresOfUnknownKeysAreIgnored) {
  queue_.add("default/p", 0);
  ASSERT_EQ(queue_.pop(), "default/p");
  queue_.done("default/p");
  queue_.add_unschedulable("default/p");  // deleted meanwhile
  EXPECT_FALSE(queue_.contains("default/p"));
  queue_.add("default/p", 0);
  EXPECT_EQ(queue_.attempts("default/p"), 0);
}

}  // namespace
}  // namespace shakeout::scheduler
