#pragma once
// pump(): run an io_context (watches, informers, timers of a test) until a
// condition holds or a timeout passes, from a test's own thread.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>

namespace shakeout::testing {

// True once `done()` returned true, false if `timeout` passed first.
// `done` runs between handlers, never inside io.run().
inline bool pump(boost::asio::io_context& io, const std::function<bool()>& done,
                 std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace shakeout::testing
