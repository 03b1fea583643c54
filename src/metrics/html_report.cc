#include "metrics/html_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "metrics/control_loop.h"
#include "metrics/report.h"
#include "metrics/timeline.h"

namespace shakeout::metrics {
namespace {

using json = nlohmann::json;

constexpr double kLabelRow = 14;    // one row of fault labels above the lanes
constexpr int kLabelRows = 3;       // fault labels staggered over this many rows
constexpr double kLaneHeight = 18;  // a probe's ok/failing bar
constexpr double kStripHeight = 8;  // under it, the failed share per bucket
constexpr double kLaneGap = 10;
constexpr double kAxisHeight = 34;
constexpr double kSvgWidth = kChartLeft + kChartWidth + 20;

constexpr const char* kStyle = R"(
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 .passed, td.passed { color: #2e7d32; } h1 .failed, td.failed { color: #c62828; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
ul.problems { color: #c62828; }
svg text { font: 11px sans-serif; fill: #333; }
svg .ok { fill: #66bb6a; } svg .failing { fill: #e53935; }
svg .fault { fill: #ffa000; fill-opacity: .22; stroke: #ff8f00; stroke-opacity: .6; }
svg .tick { stroke: #ddd; } svg .recover { stroke: #1565c0; stroke-width: 2; }
svg .recovered { stroke: #1565c0; stroke-dasharray: 4 3; } svg text.recovered { fill: #1565c0; stroke: none; }
)";

std::string escaped(const json& object, const char* key) {
  return xml_escape(object.value(key, ""));
}

double number(const json& value, double fallback = 0) {
  return value.is_number() ? value.get<double>() : fallback;
}

std::string ms_or_dash(const json& value) {
  return value.is_number() ? fmt::format("{:.0f}", value.get<double>()) : "-";
}

// A duration for an axis or a label: ms below a second, else seconds.
std::string duration_text(double ms) {
  return ms < 1000 ? fmt::format("{:g} ms", ms) : fmt::format("{:g} s", ms / 1000);
}

// The end of a repeat's chart: untilMs, or (journals written before it was
// recorded) the latest moment the repeat mentions.
double span_of(const json& repeat) {
  if (repeat.contains("untilMs") && repeat["untilMs"].is_number())
    return std::max(repeat["untilMs"].get<double>(), 1.0);
  double span = 1;
  for (const auto& fault : repeat.value("faults", json::array()))
    span = std::max({span, number(fault.value("atMs", json())), number(fault.value("endMs", json()))});
  const json probes = repeat.value("probes", json::object());  // items() of a temporary would dangle
  for (const auto& [name, probe] : probes.items()) {
    span = std::max(span, number(probe.value("timeToRecoverMs", json())));
    for (const auto& interval : probe.value("timeline", json::array()))
      span = std::max(span, number(interval[1]));
  }
  return span;
}

struct Axis {
  double span;
  double x(double ms) const { return kChartLeft + std::clamp(ms, 0.0, span) / span * kChartWidth; }
};

std::string rect(const char* css_class, double x, double y, double width, double height,
                 const std::string& title = "") {
  std::string out = fmt::format(R"(<rect class="{}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}")",
                                css_class, x, y, std::max(width, 0.0), height);
  if (title.empty()) return out + "/>\n";
  return out + "><title>" + title + "</title></rect>\n";
}

std::string line(const char* css_class, double x1, double y1, double x2, double y2) {
  return fmt::format(R"(<line class="{}" x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>)"
                     "\n",
                     css_class, x1, y1, x2, y2);
}

// `content` is already escaped; `attributes` go into the tag as they are.
std::string text(double x, double y, const std::string& content, const char* attributes = "") {
  return fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\"{}>{}</text>\n", x, y, attributes, content);
}

// A probe's lane at height y: ok, its failing intervals, under it the
// failed share per bucket, and its recovery tick.
std::string lane_svg(const std::string& name, const json& probe, const Axis& axis, double y) {
  std::string svg = text(kChartLeft - 8, y + kLaneHeight - 5, xml_escape(name), " text-anchor=\"end\"");
  svg += rect("ok", axis.x(0), y, kChartWidth, kLaneHeight);
  for (const auto& interval : probe.value("timeline", json::array())) {
    const double from = number(interval[0]), to = number(interval[1]);
    svg += rect("failing", axis.x(from), y, std::max(axis.x(to) - axis.x(from), 1.0), kLaneHeight,
                fmt::format("{} failing {:.0f}-{:.0f} ms", xml_escape(name), from, to));
  }
  const json buckets = probe.value("buckets", json::object());
  const double width = number(buckets.value("widthMs", json()));
  const json ok = buckets.value("ok", json::array()), failed = buckets.value("failed", json::array());
  for (size_t i = 0; width > 0 && i < ok.size() && i < failed.size(); ++i) {
    const double bad = number(failed[i]), all = bad + number(ok[i]);
    if (bad == 0) continue;
    const double share = bad / all, from = width * static_cast<double>(i);
    svg += rect("failing", axis.x(from), y + kLaneHeight + 1 + kStripHeight * (1 - share),
                std::max(axis.x(from + width) - axis.x(from), 1.0), kStripHeight * share,
                fmt::format("{:.0f}-{:.0f} ms: {} of {} failed", from, from + width, bad, all));
  }
  if (const json recover = probe.value("timeToRecoverMs", json());
      recover.is_number() && probe.value("timeToImpactMs", json()).is_number())
    svg += line("recover", axis.x(recover.get<double>()), y - 2, axis.x(recover.get<double>()),
                y + kLaneHeight + 2);
  return svg;
}

// The phase's recovery: the latest recovery of a probe that failed, or
// that one did not recover, or that none failed.
std::string recovery_svg(const json& repeat, const Axis& axis, double top, double bottom) {
  bool any_impact = false, all_recovered = repeat.value("recovered", true);
  double recovered_at = 0;
  for (const auto& [name, probe] : repeat["probes"].items()) {
    if (!probe.value("timeToImpactMs", json()).is_number()) continue;
    any_impact = true;
    const json recover = probe.value("timeToRecoverMs", json());
    all_recovered = all_recovered && recover.is_number();
    recovered_at = std::max(recovered_at, number(recover));
  }
  if (!any_impact) return text(axis.x(0), bottom + 28, "no probe failed", " class=\"recovered\"");
  if (!all_recovered)
    return text(axis.x(axis.span), bottom + 28, "not recovered by " + duration_text(axis.span),
                " class=\"recovered\" text-anchor=\"end\"");
  return line("recovered", axis.x(recovered_at), top - 4, axis.x(recovered_at), bottom + 18) +
         text(axis.x(recovered_at) + 3, bottom + 28, "recovered " + duration_text(recovered_at),
              " class=\"recovered\"");
}

std::string timeline_svg(const json& repeat) {
  const json faults = repeat.value("faults", json::array());
  const json probes = repeat.value("probes", json::object());
  const Axis axis{span_of(repeat)};
  const double lanes_top = kLabelRow * std::min<double>(static_cast<double>(faults.size()), kLabelRows) + 6;
  const double lane_step = kLaneHeight + kStripHeight + kLaneGap;
  const double lanes_bottom = lanes_top + lane_step * static_cast<double>(probes.size());
  const double height = lanes_bottom + kAxisHeight;
  std::string svg = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{:.0f}" height="{:.0f}" )"
      R"(viewBox="0 0 {:.0f} {:.0f}" role="img" aria-label="timeline of repeat {}">)"
      "\n",
      kSvgWidth, height, kSvgWidth, height, repeat.value("repeat", 0));

  // The time axis: a 1-2-5 step giving at most about eight ticks.
  const double step = step_125(axis.span / 8);
  for (double t = 0; t <= axis.span + step / 1000; t += step) {
    svg += line("tick", axis.x(t), lanes_top - 4, axis.x(t), lanes_bottom);
    svg += text(axis.x(t), lanes_bottom + 14,
                step >= 1000 ? fmt::format("{:g} s", t / 1000) : fmt::format("{:g} ms", t),
                " text-anchor=\"middle\"");
  }
  double y = lanes_top;
  for (const auto& [name, probe] : probes.items()) {
    svg += lane_svg(name, probe, axis, y);
    y += lane_step;
  }
  if (!probes.empty()) svg += recovery_svg(repeat, axis, lanes_top, lanes_bottom);

  // Fault bands over the lanes, labels staggered above them.
  for (size_t i = 0; i < faults.size(); ++i) {
    const json& fault = faults[i];
    const double at = number(fault.value("atMs", json())), end = number(fault.value("endMs", json()), at);
    const std::string label = escaped(fault, "action") + " " + escaped(fault, "target");
    svg +=
        rect("fault", axis.x(at), lanes_top - 4, std::max(axis.x(end) - axis.x(at), 2.0),
             lanes_bottom - lanes_top + 4,
             fmt::format("{} at {:.0f} ms, until {:.0f} ms: {}", label, at, end, escaped(fault, "resolved")));
    svg += text(axis.x(at), kLabelRow * static_cast<double>(i % kLabelRows + 1) - 3, label);
  }
  return svg + "</svg>\n";
}

std::string probes_table(const json& probes) {
  std::string out =
      "<table class=\"probes\"><tr><th>probe</th><th>kind</th><th>samples</th><th>availability</th>"
      "<th>impact ms</th><th>recover ms</th><th>downtime ms</th><th>p50 ms</th><th>p99 ms</th>"
      "<th>errors</th></tr>\n";
  for (const auto& [name, probe] : probes.items()) {
    std::string errors;
    const json kinds = probe.value("errors", json::object());
    for (const auto& [kind, count] : kinds.items())
      errors += fmt::format("{}{} {}", errors.empty() ? "" : ", ", xml_escape(kind), count.dump());
    out += fmt::format(
        "<tr><td>{}</td><td class=\"text\">{}</td><td>{}</td><td>{:.4f}</td><td>{}</td><td>{}</td>"
        "<td>{:.0f}</td><td>{:.1f}</td><td>{:.1f}</td><td class=\"text\">{}</td></tr>\n",
        xml_escape(name), escaped(probe, "kind"), probe.value("samples", 0), probe.value("availability", 1.0),
        ms_or_dash(probe.value("timeToImpactMs", json())), ms_or_dash(probe.value("timeToRecoverMs", json())),
        probe.value("downtimeMs", 0.0), probe.value("latencyP50Ms", 0.0), probe.value("latencyP99Ms", 0.0),
        errors);
  }
  return out + "</table>\n";
}

std::string faults_table(const json& faults) {
  std::string out =
      "<table class=\"faults\"><tr><th>fault</th><th>target</th><th>resolved</th><th>at ms</th>"
      "<th>end ms</th><th>control loop, ms from the fault</th></tr>\n";
  for (const auto& fault : faults) {
    std::string steps;
    const json loop = fault.value("controlLoop", json::object());
    if (!loop.empty()) {
      steps = escaped(loop, "pod") + ":";
      for (const char* step : kControlLoopSteps)
        if (const std::string key = std::string(step) + "Ms"; loop.contains(key))
          steps += fmt::format(" {} {:.0f}", step, number(loop[key]));
    }
    out += fmt::format(
        "<tr><td>{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{:.0f}</td><td>{:.0f}</td>"
        "<td class=\"text\">{}</td></tr>\n",
        escaped(fault, "action"), escaped(fault, "target"), escaped(fault, "resolved"),
        number(fault.value("atMs", json())), number(fault.value("endMs", json())), steps);
  }
  return out + "</table>\n";
}

std::string expectations_table(const json& expectations) {
  std::string out =
      "<table class=\"expectations\"><tr><th>expectation</th><th>probe</th><th>result</th></tr>\n";
  for (const auto& expectation : expectations) {
    std::string result;
    for (const auto& unmet : expectation.value("unmet", json::array()))
      result += (result.empty() ? "UNMET: " : "; ") + xml_escape(unmet.get<std::string>());
    const bool met = result.empty();
    out += fmt::format("<tr><td>{}</td><td class=\"text\">{}</td><td class=\"text {}\">{}</td></tr>\n",
                       escaped(expectation, "where"), escaped(expectation, "probe"),
                       met ? "passed" : "failed", met ? std::string("met") : result);
  }
  return out + "</table>\n";
}

// What else made the repeat fail: setup, steady state, fault errors.
std::string problems(const json& repeat) {
  std::vector<std::string> lines;
  if (repeat.contains("setupError")) lines.push_back("setup: " + escaped(repeat, "setupError"));
  for (const char* phase : {"steadyBefore", "steadyAfter"})
    for (const auto& failure : repeat.value(phase, json::object()).value("failures", json::array()))
      lines.push_back(fmt::format("{}: {}", phase, xml_escape(failure.get<std::string>())));
  for (const auto& failure : repeat.value("faultErrors", json::array()))
    lines.push_back("fault: " + xml_escape(failure.get<std::string>()));
  if (repeat.value("aborted", false)) lines.push_back("aborted");
  if (lines.empty()) return "";
  std::string out = "<ul class=\"problems\">\n";
  for (const auto& one : lines) out += "<li>" + one + "</li>\n";
  return out + "</ul>\n";
}

std::string summary_section(const json& journal) {
  const json summaries = journal.value("summary", json::object());
  std::string rows;
  for (const auto& [probe, summary] : summaries.items())
    for (const char* key : {"timeToImpactMs", "timeToRecoverMs", "downtimeMs", "availability"}) {
      const json stats = summary.value(key, json::object());
      if (stats.value("count", 0) == 0) continue;
      rows += fmt::format(
          "<tr><td>{}</td><td class=\"text\">{}</td><td>{}</td><td>{:g}</td><td>{:g}</td><td>{:g}</td>"
          "<td>{:g}</td></tr>\n",
          xml_escape(probe), key, stats.value("count", 0), stats.value("median", 0.0),
          stats.value("p95", 0.0), stats.value("min", 0.0), stats.value("max", 0.0));
    }
  if (rows.empty()) return "";
  return "<h2>Over the repeats</h2>\n<table "
         "class=\"summary\"><tr><th>probe</th><th>measure</th><th>repeats</th>"
         "<th>median</th><th>p95</th><th>min</th><th>max</th></tr>\n" +
         rows + "</table>\n";
}

}  // namespace

std::string html_report(const json& journal) {
  const std::string name = escaped(journal, "experiment");
  const bool passed = journal.value("passed", false);
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>shakeout: {}</title>\n<style>{}</style>\n</head>\n<body>\n"
      "<h1>{} <span class=\"{}\">{}</span></h1>\n",
      name, kStyle, name, passed ? "passed" : "failed", passed ? "PASSED" : "FAILED");
  if (journal.contains("file")) out += "<p>" + escaped(journal, "file") + "</p>\n";
  if (journal.contains("setupError"))
    out += "<ul class=\"problems\"><li>" + escaped(journal, "setupError") + "</li></ul>\n";
  for (const auto& repeat : journal.value("repeats", json::array())) {
    const bool repeat_passed = repeat.value("passed", false);
    out += fmt::format("<h2>Repeat {} <span class=\"{}\">{}</span></h2>\n", repeat.value("repeat", 0),
                       repeat_passed ? "passed" : "failed", repeat_passed ? "passed" : "failed");
    if (repeat.contains("bootMs"))
      out += fmt::format("<p>cluster boot {:.0f} ms; times are from the first fault.</p>\n",
                         number(repeat["bootMs"]));
    out += problems(repeat);
    if (repeat.contains("probes")) {
      out += timeline_svg(repeat);
      out += probes_table(repeat["probes"]);
    }
    if (!repeat.value("faults", json::array()).empty()) out += faults_table(repeat["faults"]);
    if (!repeat.value("expectations", json::array()).empty())
      out += expectations_table(repeat["expectations"]);
  }
  if (journal.value("repeats", json::array()).size() > 1) out += summary_section(journal);
  return out + "</body>\n</html>\n";
}

}  // namespace shakeout::metrics
