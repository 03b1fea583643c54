#pragma once
// html_report: one experiment's journal (runner/runner.h; report.json) as a
// single self-contained HTML page, DESIGN §8's "HTML report with a timeline
// chart". No script, no external style sheet, font or image: it opens from
// a CI artifact without a network.
//
// Per repeat:
//   an inline SVG timeline from the fault phase's start (0 ms) to the end
//   of the measured range ("untilMs"): one lane per probe, green where it
//   held and red over its failing intervals ("timeline"), under it a strip
//   of the failed share per bucket ("buckets"); each fault a shaded band
//   from atMs to endMs labelled with its action and target; each probe's
//   recovery a tick on its lane and the phase's recovery a dashed line
//   ┌──────────┬──────────────────────────────────────────────┐
//   │          │   ░kill pod:app=web░                          │
//   │ web      │███░░█red██░░███████████████:█████████████████│
//   │ replicas │███░░██████red████████████████:████████████████│
//   │          0 s         1 s          2 s  recovered 2.3 s   │
//   └──────────┴──────────────────────────────────────────────┘
//   the probes' table (samples, availability, impact, recovery, downtime,
//   p99), the faults with their control-loop steps, the expectations met
//   and unmet, and failed steady-state checks.
// Then the summary over repeats when there are several.
//
// Every string from the journal is escaped. Pure function of its input.

#include <nlohmann/json.hpp>

#include <string>

namespace shakeout::metrics {

// The chart's x axis: a time t ms maps to kChartLeft + t / span * kChartWidth
// (span: the repeat's untilMs), clamped to [0, span].
inline constexpr double kChartLeft = 150;
inline constexpr double kChartWidth = 760;

std::string html_report(const nlohmann::json& journal);

}  // namespace shakeout::metrics
