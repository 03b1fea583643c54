#pragma once
// Clock: the one monotonic clock every measurement is taken on, behind an
// interface so unit tests can drive time by hand.

#include <chrono>
#include <memory>

namespace shakeout {

using SteadyTime = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() const = 0;
  // Wall-clock time, for timestamps shown to people (never for durations).
  virtual std::chrono::system_clock::time_point wall_now() const = 0;
};

// The process's steady_clock. Thread-safe.
const Clock& system_clock();

// A clock that moves only when told to. Not thread-safe.
class FakeClock final : public Clock {
 public:
  SteadyTime now() const override { return now_; }
  std::chrono::system_clock::time_point wall_now() const override { return wall_; }
  void advance(std::chrono::nanoseconds d) {
    now_ += d;
    wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  }

 private:
  SteadyTime now_{std::chrono::hours(1)};
  std::chrono::system_clock::time_point wall_{std::chrono::hours(24 * 365 * 50)};
};

// Formats a duration as Kubernetes/Go does ("1.5s", "250ms", "2m0s").
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace shakeout
