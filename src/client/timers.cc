#include "client/timers.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace shakeout::client {

namespace {

class RealTimers final : public Timers {
 public:
  const Clock& clock() const override { return system_clock(); }
  void arm(asio::steady_timer& timer, Millis d) override { timer.expires_after(d); }
  void disarm(asio::steady_timer& /*timer*/) override {}
};

}  // namespace

Timers& real_timers() {
  static RealTimers timers;
  return timers;
}

void FakeTimers::arm(asio::steady_timer& timer, Millis d) {
  armed_durations_.push_back(d);
  timer.expires_at(asio::steady_timer::time_point::max());
  if (d <= Millis(0)) {
    timer.cancel();
    return;
  }
  Armed armed;
  armed.due = clock_.now() + d;
  armed.timer = &timer;
  armed_.push_back(armed);
}

void FakeTimers::disarm(asio::steady_timer& timer) {
  std::erase_if(armed_, [&](const Armed& a) { return a.timer == &timer; });
}

void FakeTimers::advance(Millis d) {
  clock_.advance(d);
  const SteadyTime now = clock_.now();
  std::vector<asio::steady_timer*> due;
  std::erase_if(armed_, [&](const Armed& a) {
    if (a.due > now) return false;
    due.push_back(a.timer);
    return true;
  });
  for (auto* timer : due) timer->cancel();
}

asio::awaitable<bool> Sleeper::sleep(Millis d) {
  if (stopped_) co_return false;
  asio::steady_timer timer(executor_);
  timers_.arm(timer, d);
  sleeping_.insert(&timer);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  sleeping_.erase(&timer);
  timers_.disarm(timer);
  co_return !stopped_;
}

void Sleeper::stop() {
  stopped_ = true;
  for (auto* timer : sleeping_) timer->cancel();
}

Millis jitter(Millis d, double max_factor, Random& random) {
  if (max_factor <= 0) return d;
  const double extra = random.uniform() * max_factor * static_cast<double>(d.count());
  return d + Millis(static_cast<Millis::rep>(extra));
}

Millis Backoff::next() {
  const SteadyTime now = clock_.now();
  if (base_ == Millis(0) || now - last_ > policy_.reset_after) {
    base_ = policy_.initial;
  } else {
    base_ = std::min(policy_.cap,
                     Millis(static_cast<Millis::rep>(static_cast<double>(base_.count()) * policy_.factor)));
  }
  last_ = now;
  return jitter(base_, policy_.jitter_factor, random_);
}

}  // namespace shakeout::client
