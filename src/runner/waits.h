#pragma once
// Waits: timed waits that one call cuts short, for a run that is aborted
// (Ctrl-C) while it sleeps until the next fault or the end of a pause.
// Threading: the io_context's thread.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <set>

#include "common/clock.h"

namespace shakeout::runner {

class Waits {
 public:
  // Completes after `duration`, or at once after cancel_all() (before or during).
  boost::asio::awaitable<void> wait(Millis duration) {
    if (cancelled_) co_return;
    auto timer = std::make_shared<boost::asio::steady_timer>(co_await boost::asio::this_coro::executor);
    timers_.insert(timer);
    timer->expires_after(duration);
    boost::system::error_code ignored;
    co_await timer->async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    timers_.erase(timer);
  }
  void cancel_all() {
    cancelled_ = true;
    for (const auto& timer : timers_) timer->cancel();
  }
  bool cancelled() const { return cancelled_; }

 private:
  bool cancelled_ = false;
  std::set<std::shared_ptr<boost::asio::steady_timer>> timers_;
};

}  // namespace shakeout::runner
