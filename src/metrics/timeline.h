#pragma once
// A probe's samples reduced to what a chart of the fault phase needs
// (DESIGN §8's HTML report; the journal keeps it per repeat and probe):
//
//   failing   the failing intervals, in ms from `from`: consecutive failed
//             samples merge into one; with measure.h's step model a failed
//             sample spans from its time to the next good one (the last to
//             `to`), so the intervals add up to the downtime measure.h reports
//   buckets   answered samples counted per fixed-width bucket, ok and failed,
//             at most `max_buckets` of them, the width a 1-2-5 step in ms
//
// Pending samples are skipped. Pure function; no clock is read here.

#include <utility>

#include <vector>

#include "common/clock.h"
#include "metrics/measure.h"

namespace shakeout::metrics {

struct Timeline {
  std::vector<std::pair<double, double>> failing;  // [start, end) ms from `from`
  double bucket_ms = 0;                            // 0 when the range is empty
  std::vector<int> ok;                             // per bucket, from `from` on
  std::vector<int> failed;
};

// The samples in [from, to); the state at `from` is the last answered
// sample before it. `samples` are in time order.
Timeline timeline(const std::vector<Sample>& samples, SteadyTime from, SteadyTime to, int max_buckets = 300);

// The smallest {1, 2, 5}·10^k (k >= 0) that is at least `at_least`: a
// bucket width, or a chart's tick step.
double step_125(double at_least);

}  // namespace shakeout::metrics
