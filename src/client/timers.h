#pragma once
// Time and randomness for the client's loops (informer backoff and resync,
// leader election retries), behind interfaces so unit tests drive them by
// hand: FakeTimers moves a FakeClock and wakes the sleeps that fall due;
// SeededRandom makes jitter reproducible.
//
// Contract:
// - Timers::clock() is the clock every decision is taken on; a sleep of d
//   ends once clock() has moved d past the sleep's start.
// - A Sleeper belongs to one loop. sleep() returns true when the time has
//   passed and false when stop() interrupted it; after stop() every sleep
//   returns false at once.
// Threading: one executor; not thread-safe. Timers must outlive every
// Sleeper made on them, and a Sleeper every sleep() in flight.

#include <utility>  // before Asio: Boost 1.74 awaitable.hpp needs std::exchange

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "common/clock.h"

namespace shakeout::client {

namespace asio = boost::asio;

class Timers {
 public:
  virtual ~Timers() = default;
  virtual const Clock& clock() const = 0;
  // Makes `timer` complete (as cancelled) once `d` has passed on clock().
  virtual void arm(asio::steady_timer& timer, Millis d) = 0;
  // Forgets `timer` (it completed or is about to be destroyed).
  virtual void disarm(asio::steady_timer& timer) = 0;
};

// Real time: asio timers on the steady clock.
Timers& real_timers();

// A FakeClock plus the timers armed against it. advance() moves the clock
// and completes every timer whose time has come; the woken coroutines run
// when the io_context next runs (e.g. io.poll()).
class FakeTimers final : public Timers {
 public:
  const Clock& clock() const override { return clock_; }
  FakeClock& fake_clock() { return clock_; }
  void arm(asio::steady_timer& timer, Millis d) override;
  void disarm(asio::steady_timer& timer) override;
  void advance(Millis d);
  // Durations of every arm() so far, in order (what loops asked to sleep).
  const std::vector<Millis>& armed_durations() const { return armed_durations_; }
  std::size_t pending() const { return armed_.size(); }

 private:
  struct Armed {
    SteadyTime due;
    asio::steady_timer* timer;
  };
  FakeClock clock_;
  std::vector<Armed> armed_;
  std::vector<Millis> armed_durations_;
};

class Sleeper {
 public:
  Sleeper(asio::any_io_executor executor, Timers& timers) : executor_(std::move(executor)), timers_(timers) {}
  Sleeper(const Sleeper&) = delete;
  Sleeper& operator=(const Sleeper&) = delete;

  asio::awaitable<bool> sleep(Millis d);
  // Interrupts every sleep in flight and every later one. Idempotent.
  void stop();
  bool stopped() const { return stopped_; }

 private:
  asio::any_io_executor executor_;
  Timers& timers_;
  std::set<asio::steady_timer*> sleeping_;
  bool stopped_ = false;
};

// Uniform doubles in [0, 1).
class Random {
 public:
  virtual ~Random() = default;
  virtual double uniform() = 0;
};

class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : engine_(seed) {}
  double uniform() override { return std::uniform_real_distribution<double>(0.0, 1.0)(engine_); }

 private:
  std::mt19937_64 engine_;
};

// d + uniform() * max_factor * d, as upstream wait.Jitter
// (k8s.io/apimachinery/pkg/util/wait/backoff.go).
Millis jitter(Millis d, double max_factor, Random& random);

// Exponential backoff as client-go's reflector uses it
// (wait.NewExponentialBackoffManager(800ms, 30s, 2m, 2.0, 1.0)): each step
// doubles the base up to `cap`, and the delay is jitter(base, jitter_factor);
// after `reset_after` without a step the base starts over.
struct BackoffPolicy {
  Millis initial{800};
  Millis cap{30000};
  Millis reset_after{120000};
  double factor = 2.0;
  double jitter_factor = 1.0;
};

class Backoff {
 public:
  Backoff(BackoffPolicy policy, const Clock& clock, Random& random)
      : policy_(policy), clock_(clock), random_(random) {}
  // The delay to wait now.
  Millis next();
  void reset() { base_ = Millis(0); }

 private:
  BackoffPolicy policy_;
  const Clock& clock_;
  Random& random_;
  Millis base_{0};
  SteadyTime last_{};
};

}  // namespace shakeout::client
