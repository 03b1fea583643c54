#pragma once
// Helpers for running Asio coroutines from synchronous code (CLI, tests).

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>
#include <utility>

namespace shakeout {

namespace asio = boost::asio;

// Runs `task` on `io` until it completes and returns its value; rethrows what
// it threw. Other work queued on `io` runs too. Must not be called from
// inside `io.run()`.
template <typename T>
T run_blocking(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> value;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    if (e) error = e; else value.emplace(std::move(v));
  });
  io.restart();
  while (!value && !error) {
    if (io.run_one() == 0) break;
  }
  if (error) std::rethrow_exception(error);
  return std::move(*value);
}

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
}

}  // namespace shakeout
