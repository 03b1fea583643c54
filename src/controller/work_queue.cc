#include "controller/work_queue.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace shakeout::controller {

Millis ItemExponentialRateLimiter::when(const std::string& key) {
  const int failures = failures_[key]++;
  // base * 2^failures without overflowing: past 2^40 any base is over max.
  if (failures >= 40) return max_;
  const double delay = static_cast<double>(base_.count()) * static_cast<double>(uint64_t{1} << failures);
  if (delay >= static_cast<double>(max_.count())) return max_;
  return Millis(static_cast<Millis::rep>(delay));
}

int ItemExponentialRateLimiter::num_requeues(const std::string& key) const {
  const auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

WorkQueue::WorkQueue(asio::any_io_executor executor, client::Timers& timers, WorkQueueMetrics* metrics)
    : executor_(std::move(executor)), timers_(timers), metrics_(metrics) {}

WorkQueue::~WorkQueue() {
  shut_down();
}

void WorkQueue::add(const std::string& key) {
  if (shutting_down_ || dirty_.contains(key)) return;
  if (metrics_ != nullptr) metrics_->on_add();
  dirty_.insert(key);
  if (processing_.contains(key)) return;  // done() queues it
  push(key);
}

void WorkQueue::push(const std::string& key) {
  queue_.push_back(key);
  report_depth();
  wake_one();
}

void WorkQueue::wake_one() {
  if (waiters_.empty()) return;
  waiters_.front()->cancel();
  waiters_.pop_front();
}

void WorkQueue::report_depth() {
  if (metrics_ != nullptr) metrics_->on_depth(queue_.size());
}

void WorkQueue::add_after(const std::string& key, Millis delay) {
  if (shutting_down_) return;
  if (delay <= Millis(0)) {
    add(key);
    return;
  }
  const SteadyTime due = timers_.clock().now() + delay;
  auto existing = delayed_.find(key);
  if (existing != delayed_.end() && existing->second.due <= due) return;  // an earlier one is pending
  if (existing != delayed_.end()) timers_.disarm(*existing->second.timer);
  Delayed& entry = delayed_[key];
  entry.due = due;
  entry.id = ++next_delayed_id_;
  entry.timer = std::make_unique<asio::steady_timer>(executor_);
  timers_.arm(*entry.timer, delay);
  // FakeTimers fire by cancelling, so the error code says nothing: fire()
  // checks that this timer is still the key's current one instead.
  entry.timer->async_wait(
      [this, alive = std::weak_ptr<int>(alive_), key, id = entry.id](const boost::system::error_code&) {
        if (!alive.expired()) fire(key, id);
      });
}

void WorkQueue::fire(const std::string& key, uint64_t id) {
  auto it = delayed_.find(key);
  if (it == delayed_.end() || it->second.id != id) return;  // superseded by an earlier due time
  timers_.disarm(*it->second.timer);
  delayed_.erase(it);  // safe: Asio dequeued this handler before running it
  add(key);
}

void WorkQueue::add_rate_limited(const std::string& key) {
  if (shutting_down_) return;
  if (metrics_ != nullptr) metrics_->on_retry();
  add_after(key, limiter_.when(key));
}

asio::awaitable<std::optional<std::string>> WorkQueue::get() {
  while (queue_.empty() && !shutting_down_) {
    asio::steady_timer wake(executor_, asio::steady_timer::time_point::max());
    waiters_.push_back(&wake);
    boost::system::error_code ec;
    co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    std::erase(waiters_, &wake);  // woken by a cancel that did not come from wake_one()
  }
  if (shutting_down_) co_return std::nullopt;
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  report_depth();
  processing_.insert(key);
  dirty_.erase(key);
  co_return key;
}

void WorkQueue::done(const std::string& key) {
  processing_.erase(key);
  if (dirty_.contains(key) && !shutting_down_) push(key);
}

void WorkQueue::shut_down() {
  if (shutting_down_) return;
  shutting_down_ = true;
  queue_.clear();
  dirty_.clear();
  report_depth();
  for (auto& [key, entry] : delayed_) {
    timers_.disarm(*entry.timer);
    entry.timer->cancel();
  }
  delayed_.clear();  // the cancelled handlers find their key gone
  for (auto* waiter : waiters_) waiter->cancel();
  waiters_.clear();
}

}  // namespace shakeout::controller
