#pragma once
// Helpers for running Asio coroutines from synchronous code (CLI, tests).

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>
#include <stdexcept>

namespace shakeout {

namespace asio = boost::asio;

// Runs `task` on `io` until it completes; rethrows what it threw. Other work
// queued on `io` runs too. Must not be called from inside `io.run()`.
inline void run_blocking(asio::io_context& io, asio::awaitable<void> task) {
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  io.restart();
  while (!done) {
    if (io.run_one() == 0) break;
  }
  if (error) std::rethrow_exception(error);
  // run_one() returned 0: the io_context ran out of work (or was stopped)
  // with the task still suspended. Its result will never come.
  if (!done) throw std::logic_error("run_blocking: the io_context stopped before the task completed");
}

namespace detail {
// A named coroutine (not a lambda) so nothing it uses can dangle.
template <typename T>
asio::awaitable<void> store_result(asio::awaitable<T> task, std::optional<T>& out) {
  out.emplace(co_await std::move(task));
}
}  // namespace detail

// As above, returning the task's value. T need not be default-constructible
// (Result<T> is not), which co_spawn's own completion handler would require.
template <typename T>
T run_blocking(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> value;
  run_blocking(io, detail::store_result(std::move(task), value));
  return std::move(*value);
}

}  // namespace shakeout
