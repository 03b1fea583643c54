#include "metrics/measure.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace shakeout::metrics {
namespace {

Millis ms_between(SteadyTime from, SteadyTime to) {
  return std::chrono::duration_cast<Millis>(to - from);
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// A moment that may not have happened yet (std::optional<time_point> trips
// g++ 12's -Wmaybe-uninitialized).
struct Since {
  bool set = false;
  SteadyTime at{};
  explicit operator bool() const { return set; }
  void start(SteadyTime t) {
    set = true;
    at = t;
  }
  void reset() { set = false; }
};

std::vector<Sample> answered(const std::vector<Sample>& samples) {
  std::vector<Sample> out;
  out.reserve(samples.size());
  for (const auto& sample : samples)
    if (!sample.pending) out.push_back(sample);
  return out;
}

}  // namespace

FaultImpact measure_impact(const std::vector<Sample>& all, SteadyTime fault_start, SteadyTime end,
                           Millis stable_for) {
  const std::vector<Sample> samples = answered(all);
  FaultImpact impact;
  // The state at the fault start is the last sample before it.
  auto it = std::lower_bound(samples.begin(), samples.end(), fault_start,
                             [](const Sample& s, SteadyTime t) { return s.at < t; });
  Since good_since;     // start of the current run of good samples
  Since failing_since;  // start of the current failing interval
  if (it != samples.begin()) {
    if (std::prev(it)->ok) {
      good_since.start(fault_start);
    } else {
      impact.time_to_impact = Millis{0};
      failing_since.start(fault_start);
    }
  }
  for (; it != samples.end() && it->at < end; ++it) {
    if (it->ok) {
      if (failing_since) {
        impact.downtime += ms_between(failing_since.at, it->at);
        failing_since.reset();
      }
      if (!good_since) good_since.start(it->at);
    } else {
      if (!impact.time_to_impact) impact.time_to_impact = ms_between(fault_start, it->at);
      ++impact.failed;
      good_since.reset();
      if (!failing_since) failing_since.start(it->at);
    }
  }
  if (failing_since) impact.downtime += ms_between(failing_since.at, end);
  // Recovered: the good run still going at `end` has lasted stable_for. (An
  // impact that comes late, e.g. pods marked NotReady only after the node
  // grace period, is not hidden by a good stretch before it.)
  if (good_since && end - good_since.at >= stable_for)
    impact.time_to_recover = ms_between(fault_start, good_since.at);
  return impact;
}

Availability measure_availability(const std::vector<Sample>& samples, SteadyTime from, SteadyTime to) {
  Availability result;
  std::vector<double> latencies;
  Since failing_since;
  for (const auto& sample : samples) {
    if (sample.at < from || sample.pending) continue;
    if (sample.at >= to) break;
    ++result.total;
    if (sample.ok) {
      ++result.ok;
      if (sample.latency_ms > 0) latencies.push_back(sample.latency_ms);
      if (failing_since) result.downtime += ms_between(failing_since.at, sample.at);
      failing_since.reset();
    } else {
      ++result.errors[sample.error.empty() ? "failed" : sample.error];
      if (!failing_since) failing_since.start(sample.at);
    }
  }
  if (failing_since) result.downtime += ms_between(failing_since.at, to);
  if (result.total > 0) result.ratio = static_cast<double>(result.ok) / result.total;
  std::sort(latencies.begin(), latencies.end());
  result.latency_p50_ms = percentile(latencies, 50);
  result.latency_p99_ms = percentile(latencies, 99);
  return result;
}

bool holds_over(const std::vector<Sample>& samples, SteadyTime to, Millis window) {
  const SteadyTime from = to - window;
  bool any_inside = false;
  const Sample* before = nullptr;
  // The runner asks this every 20 ms while it waits for recovery: start a
  // few samples before the window instead of at the run's first sample
  // (pending samples can sit out of answer order, so step back generously).
  auto first = std::lower_bound(samples.begin(), samples.end(), from,
                                [](const Sample& s, SteadyTime t) { return s.at < t; });
  first -= std::min<std::ptrdiff_t>(first - samples.begin(), 64);
  for (const auto& sample : std::span(first, samples.end())) {
    if (sample.at >= to) break;
    if (sample.pending) continue;
    if (sample.at < from) {
      before = &sample;
      continue;
    }
    any_inside = true;
    if (!sample.ok) return false;
  }
  // The sample before the window says what held at its start.
  if (before != nullptr) return before->ok;
  return any_inside;
}

SteadyTime answered_until(const std::vector<Sample>& samples, int pending, SteadyTime now) {
  SteadyTime until = now;
  for (auto it = samples.rbegin(); pending > 0 && it != samples.rend(); ++it) {
    if (!it->pending) continue;
    until = std::min(until, it->at);
    --pending;
  }
  return until;
}

Summary summarize(std::vector<double> values) {
  Summary summary;
  summary.count = static_cast<int>(values.size());
  if (values.empty()) return summary;
  std::sort(values.begin(), values.end());
  summary.min = values.front();
  summary.max = values.back();
  summary.p95 = percentile(values, 95);
  const size_t n = values.size();
  summary.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return summary;
}

}  // namespace shakeout::metrics
