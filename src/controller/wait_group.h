#pragma once
// WaitGroup: wait for a set of coroutines spawned on one executor (Go's
// sync.WaitGroup, seastar's gate without the closing).
// Threading: one executor; not thread-safe. The group must outlive wait().

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <memory>

#include "common/log.h"

namespace shakeout::controller {

namespace asio = boost::asio;

class WaitGroup {
 public:
  explicit WaitGroup(asio::any_io_executor executor)
      : executor_(executor), state_(std::make_shared<State>(executor)) {}

  // Runs `task` on the executor; wait() waits for it. An exception it throws
  // is logged (a controller's bug must not take the process down silently).
  void spawn(asio::awaitable<void> task) {
    ++state_->running;
    asio::co_spawn(executor_, std::move(task), [state = state_](const std::exception_ptr& error) {
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          log::error("controller", "task failed: {}", e.what());
        }
      }
      if (--state->running == 0) state->idle.cancel();
    });
  }

  // Completes once every spawned task has returned (at once if none runs).
  asio::awaitable<void> wait() {
    auto state = state_;
    while (state->running > 0) {
      state->idle.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ec;
      co_await state->idle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  int running() const { return state_->running; }

 private:
  struct State {
    explicit State(const asio::any_io_executor& executor) : idle(executor) {}
    int running = 0;
    asio::steady_timer idle;
  };
  asio::any_io_executor executor_;
  std::shared_ptr<State> state_;
};

}  // namespace shakeout::controller
