#include "metrics/timeline.h"

#include <algorithm>
#include <cmath>

namespace shakeout::metrics {
namespace {

// Milliseconds from `origin`, to 0.1 ms: the journal stays compact and a
// chart needs no finer.
double ms_from(SteadyTime origin, SteadyTime t) {
  return std::round(std::chrono::duration<double, std::milli>(t - origin).count() * 10) / 10;
}

}  // namespace

double step_125(double at_least) {
  if (!(at_least > 1)) return 1;  // NaN too
  for (double decade = 1;; decade *= 10)
    for (double step : {1.0, 2.0, 5.0})
      if (step * decade >= at_least) return step * decade;
}

Timeline timeline(const std::vector<Sample>& samples, SteadyTime from, SteadyTime to, int max_buckets) {
  Timeline out;
  const double span = ms_from(from, to);
  if (span <= 0) return out;
  out.bucket_ms = step_125(span / std::max(max_buckets, 1));
  const auto count = static_cast<size_t>(std::ceil(span / out.bucket_ms));
  out.ok.assign(count, 0);
  out.failed.assign(count, 0);

  bool failing = false;
  double failing_since = 0;
  auto close = [&](double at) {
    if (failing && at > failing_since) out.failing.emplace_back(failing_since, at);
    failing = false;
  };
  for (const auto& sample : samples) {
    if (sample.pending || sample.at >= to) continue;
    if (sample.at < from) {  // only says what held at `from`
      failing = !sample.ok;
      failing_since = 0;
      continue;
    }
    const double at = ms_from(from, sample.at);
    const auto bucket = std::min(static_cast<size_t>(at / out.bucket_ms), count - 1);
    ++(sample.ok ? out.ok : out.failed)[bucket];
    if (sample.ok) {
      close(at);
    } else if (!failing) {
      failing = true;
      failing_since = at;
    }
  }
  close(span);
  return out;
}

}  // namespace shakeout::metrics
