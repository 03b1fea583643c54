#pragma once
// WorkQueue: client-go's rate-limited work queue
// (k8s.io/client-go/util/workqueue/queue.go, delaying_queue.go,
// rate_limiting_queue.go, default_rate_limiters.go) for coroutine workers
// on one executor.
//
//   add(key) ──► dirty ──► queue ──► get() ──► processing ──► done(key)
//                  │                                │            │
//                  └── already dirty: dropped       │            └─ dirty again? back to queue
//   add_after(key, d) ── timer ──► add(key)         └─ add(key) meanwhile: only marked dirty
//   add_rate_limited(key) = add_after(key, rate_limiter.when(key))
//
// Contract (upstream's):
// - A key is queued at most once however often it is added (dirty set).
// - A key handed out by get() is not handed out again before done(key); an
//   add() in between marks it dirty, and done() queues it again.
// - add_after() keeps, per key, the earliest pending due time.
// - The rate limiter is upstream's ItemExponentialFailureRateLimiter
//   (DefaultControllerRateLimiter's per-item part): the n-th add_rate_limited
//   of a key waits base * 2^(n-1), capped at max (5ms .. 1000s); forget(key)
//   starts the key over. The overall token bucket (10 qps, burst 100) is not
//   reproduced.
// - shut_down(): get() returns nullopt from then on (waiters wake at once)
//   and later adds are ignored. Unlike upstream's ShutDown, keys still queued
//   are dropped rather than handed out, so a stopping controller starts no
//   new work.
// Threading: one executor; not thread-safe. The queue must outlive every
// get() in flight; pending add_after timers may outlive it harmlessly.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "client/timers.h"
#include "common/clock.h"

namespace shakeout::controller {

namespace asio = boost::asio;

// What a queue reports as it works (upstream's workqueue metrics provider).
class WorkQueueMetrics {
 public:
  virtual ~WorkQueueMetrics() = default;
  virtual void on_add() = 0;                     // an add() that was not dropped as a duplicate
  virtual void on_depth(std::size_t depth) = 0;  // keys queued, after every change
  virtual void on_retry() = 0;                   // an add_rate_limited()
};

// Upstream ItemExponentialFailureRateLimiter.
class ItemExponentialRateLimiter {
 public:
  ItemExponentialRateLimiter(Millis base, Millis max) : base_(base), max_(max) {}
  // The delay before the key's next try; counts a failure.
  Millis when(const std::string& key);
  void forget(const std::string& key) { failures_.erase(key); }
  int num_requeues(const std::string& key) const;

 private:
  Millis base_;
  Millis max_;
  std::map<std::string, int> failures_;
};

class WorkQueue {
 public:
  static constexpr Millis kBaseDelay{5};
  static constexpr Millis kMaxDelay{1000 * 1000};

  // `timers` and `metrics` (may be null) must outlive the queue.
  WorkQueue(asio::any_io_executor executor, client::Timers& timers, WorkQueueMetrics* metrics);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key);
  void add_after(const std::string& key, Millis delay);
  void add_rate_limited(const std::string& key);
  void forget(const std::string& key) { limiter_.forget(key); }
  int num_requeues(const std::string& key) const { return limiter_.num_requeues(key); }

  // The next key; waits while there is none. nullopt once shut down.
  asio::awaitable<std::optional<std::string>> get();
  void done(const std::string& key);
  void shut_down();

  bool shutting_down() const { return shutting_down_; }
  std::size_t len() const { return queue_.size(); }
  std::size_t processing() const { return processing_.size(); }
  std::size_t waiting_delayed() const { return delayed_.size(); }

 private:
  struct Delayed {
    SteadyTime due;
    uint64_t id = 0;
    std::unique_ptr<asio::steady_timer> timer;
  };
  void push(const std::string& key);
  void wake_one();
  void fire(const std::string& key, uint64_t id);
  void report_depth();

  asio::any_io_executor executor_;
  client::Timers& timers_;
  WorkQueueMetrics* metrics_;
  ItemExponentialRateLimiter limiter_{kBaseDelay, kMaxDelay};
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;
  std::set<std::string> processing_;
  std::map<std::string, Delayed> delayed_;
  uint64_t next_delayed_id_ = 0;
  std::deque<asio::steady_timer*> waiters_;
  bool shutting_down_ = false;
  // Expires with the queue: timer callbacks that run later see it gone.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace shakeout::controller
