#pragma once
// The measurements of DESIGN §7, computed from a probe's samples and the
// faults' start times, all on the one steady clock.
//
// A probe's samples form a step function: each sample's outcome holds from
// its time until the next sample (the last one until `end`). So a failed
// request at 200/s stands for 5 ms of failure, and a replicas probe that
// reports "2 of 3 ready" stands for the time until its next report.
//
//   fault start ──► first failed sample  = time-to-impact
//               ──► start of the run of good samples that lasts to `end`,
//                   if it has lasted `stable_for` by then = time-to-recover
//                   (0 when the probe never failed)
//   downtime    = the failing time between fault start and `end`
//
// The runner ends a repeat once every probe has held for stable_for, so
// `end` is that moment (or the recovery timeout).
//
// Pure functions; no clock is read here.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"

namespace shakeout::metrics {

struct Sample {
  SteadyTime at{};
  bool ok = false;
  double latency_ms = 0;  // request probes; 0 for state probes
  std::string error;      // the kind of failure ("refused", "timeout", "http 503", "not all ready")
  bool pending = false;   // issued but not answered yet: every measurement skips it
};

struct FaultImpact {
  std::optional<Millis> time_to_impact;   // none: the probe never failed
  std::optional<Millis> time_to_recover;  // none: not recovered by `end`
  Millis downtime{0};
  int failed = 0;  // failed samples from the fault start to `end`
};

// The impact of a fault starting at `fault_start` on a probe, looking at the
// samples up to `end`. `samples` are in time order.
FaultImpact measure_impact(const std::vector<Sample>& samples, SteadyTime fault_start, SteadyTime end,
                           Millis stable_for);

struct Availability {
  int total = 0;
  int ok = 0;
  double ratio = 1.0;                 // ok / total; 1 with no samples
  Millis downtime{0};                 // failing time within the range
  std::map<std::string, int> errors;  // failures by kind
  double latency_p50_ms = 0;          // of successful samples with a latency
  double latency_p99_ms = 0;
};

// Samples with from <= at < to.
Availability measure_availability(const std::vector<Sample>& samples, SteadyTime from, SteadyTime to);

// True when every sample in [to - window, to) is ok and at least one falls
// in it, or when the last sample before `to` is ok and none falls inside
// (a slow state probe that has not changed).
bool holds_over(const std::vector<Sample>& samples, SteadyTime to, Millis window);

// The time up to which every sample is answered: the earliest pending
// sample's time, or `now` when none is. `pending` is how many are pending
// (the probe counts them), so the walk back from the newest stops there.
// A request that hangs holds this back until it is answered or times out,
// so a recovery judged up to here is not undone by a late failure.
SteadyTime answered_until(const std::vector<Sample>& samples, int pending, SteadyTime now);

// Order statistics over repeats.
struct Summary {
  int count = 0;
  double min = 0, median = 0, p95 = 0, max = 0;
};
Summary summarize(std::vector<double> values);

}  // namespace shakeout::metrics
