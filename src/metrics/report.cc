#include "metrics/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <sstream>

#include "metrics/control_loop.h"

namespace shakeout::metrics {
namespace {

using json = nlohmann::json;

// An OpenMetrics label value: backslash, double quote and newline escaped.
std::string label_value(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string labels(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out = "{";
  for (size_t i = 0; i < pairs.size(); ++i)
    out += fmt::format("{}{}=\"{}\"", i == 0 ? "" : ",", pairs[i].first, label_value(pairs[i].second));
  return out + "}";
}

// One metric family: its HELP/TYPE lines and samples, kept in order.
struct Family {
  std::string type;
  std::string help;
  std::vector<std::string> samples;
};

std::string seconds(double ms) {
  return fmt::format("{}", ms / 1000.0);
}

double number_or(const json& value, double fallback) {
  return value.is_number() ? value.get<double>() : fallback;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 forbids most control characters even escaped.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\n' || c == '\t') out.push_back(c);
    }
  }
  return out;
}

std::string junit_xml(const std::vector<json>& journals) {
  int tests = 0, failures = 0, errors = 0;
  std::ostringstream suites;
  for (const auto& journal : journals) {
    const std::string name = journal.value("experiment", "");
    int suite_failures = 0, suite_errors = 0;
    double suite_time = 0;
    std::ostringstream cases;
    for (const auto& repeat : journal.value("repeats", json::array())) {
      const double time = number_or(repeat.value("bootMs", json()), 0) / 1000.0;
      suite_time += time;
      cases << fmt::format("    <testcase classname=\"{}\" name=\"{} #{}\" file=\"{}\">\n", xml_escape(name),
                           xml_escape(name), repeat.value("repeat", 0),
                           xml_escape(journal.value("file", "")));
      if (repeat.contains("setupError")) {
        ++suite_errors;
        cases << fmt::format("      <error message=\"{}\" type=\"setup\"/>\n",
                             xml_escape(repeat.value("setupError", "")));
      } else if (!repeat.value("passed", false)) {
        ++suite_failures;
        std::vector<std::string> reasons;
        for (const auto& failure :
             repeat.value("steadyBefore", json::object()).value("failures", json::array()))
          reasons.push_back(failure.get<std::string>());
        for (const auto& failure : repeat.value("faultErrors", json::array()))
          reasons.push_back(failure.get<std::string>());
        for (const auto& expectation : repeat.value("expectations", json::array()))
          for (const auto& unmet : expectation.value("unmet", json::array()))
            reasons.push_back(fmt::format("{}: probe {}: {}", expectation.value("where", ""),
                                          expectation.value("probe", ""), unmet.get<std::string>()));
        for (const auto& failure :
             repeat.value("steadyAfter", json::object()).value("failures", json::array()))
          reasons.push_back(failure.get<std::string>() + " (after recovery)");
        if (repeat.value("aborted", false)) reasons.push_back("aborted");
        if (reasons.empty()) reasons.push_back("failed");
        std::string body;
        for (const auto& reason : reasons) body += reason + "\n";
        cases << fmt::format("      <failure message=\"{}\" type=\"expectation\">{}</failure>\n",
                             xml_escape(reasons.front()), xml_escape(body));
      }
      cases << "    </testcase>\n";
      ++tests;
    }
    failures += suite_failures;
    errors += suite_errors;
    const auto count = journal.value("repeats", json::array()).size();
    suites << fmt::format(
                  "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
                  xml_escape(name), count, suite_failures, suite_errors, suite_time)
           << cases.str() << "  </testsuite>\n";
  }
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<testsuites name=\"shakeout\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n{}</testsuites>\n",
      tests, failures, errors, suites.str());
}

std::string open_metrics(const std::vector<json>& journals) {
  std::map<std::string, Family> families;
  std::vector<std::string> order;
  auto add = [&](const std::string& name, const char* type, const char* help, const std::string& sample) {
    auto [it, inserted] = families.try_emplace(name);
    if (inserted) {
      it->second.type = type;
      it->second.help = help;
      order.push_back(name);
    }
    it->second.samples.push_back(sample);
  };
  for (const auto& journal : journals) {
    const std::string experiment = journal.value("experiment", "");
    const auto base = labels({{"experiment", experiment}});
    add("shakeout_experiment_passed", "gauge", "1 if every repeat of the experiment passed, else 0.",
        fmt::format("shakeout_experiment_passed{} {}", base, journal.value("passed", false) ? 1 : 0));
    const json repeats = journal.value("repeats", json::array());
    add("shakeout_experiment_repeats_total", "counter", "Repeats run.",
        fmt::format("shakeout_experiment_repeats_total{} {}", base, repeats.size()));
    // Per probe: the median over repeats (the summary), and sample counts.
    const json summaries = journal.value("summary", json::object());
    for (const auto& [probe, summary] : summaries.items()) {
      const auto probe_labels = labels({{"experiment", experiment}, {"probe", probe}});
      const json& stats = summary;
      auto median = [&stats](const char* key) -> std::optional<double> {
        const json one = stats.value(key, json::object());
        if (one.value("count", 0) == 0) return std::nullopt;
        return one.value("median", 0.0);
      };
      if (auto value = median("availability"))
        add("shakeout_probe_availability_ratio", "gauge",
            "Share of successful samples from the first fault on (median of repeats).",
            fmt::format("shakeout_probe_availability_ratio{} {}", probe_labels, *value));
      if (auto value = median("downtimeMs"))
        add("shakeout_probe_downtime_seconds", "gauge",
            "Failing time from the first fault to recovery (median of repeats).",
            fmt::format("shakeout_probe_downtime_seconds{} {}", probe_labels, seconds(*value)));
      if (auto value = median("timeToRecoverMs"))
        add("shakeout_probe_time_to_recover_seconds", "gauge",
            "First fault to the start of the first stable window (median of repeats).",
            fmt::format("shakeout_probe_time_to_recover_seconds{} {}", probe_labels, seconds(*value)));
      if (auto value = median("timeToImpactMs"))
        add("shakeout_probe_time_to_impact_seconds", "gauge",
            "First fault to the first failed sample (median of repeats).",
            fmt::format("shakeout_probe_time_to_impact_seconds{} {}", probe_labels, seconds(*value)));
      int64_t samples = 0, ok = 0;
      for (const auto& repeat : repeats) {
        const json& measured = repeat.value("probes", json::object()).value(probe, json::object());
        samples += measured.value("samples", int64_t{0});
        ok += measured.value("ok", int64_t{0});
      }
      add("shakeout_probe_samples_total", "counter", "Probe samples from the first fault on.",
          fmt::format("shakeout_probe_samples_total{} {}", probe_labels, samples));
      add("shakeout_probe_failed_samples_total", "counter", "Failed probe samples from the first fault on.",
          fmt::format("shakeout_probe_failed_samples_total{} {}", probe_labels, samples - ok));
    }
    // Per fault and probe, of the last repeat.
    if (!repeats.empty()) {
      for (const auto& fault : repeats.back().value("faults", json::array())) {
        const json measured_probes = fault.value("probes", json::object());
        for (const auto& [probe, measured] : measured_probes.items()) {
          const auto fault_labels = labels({{"experiment", experiment},
                                            {"fault", fault.value("action", "")},
                                            {"target", fault.value("target", "")},
                                            {"probe", probe}});
          if (measured["timeToRecoverMs"].is_number())
            add("shakeout_fault_time_to_recover_seconds", "gauge",
                "Fault start to the probe's recovery (last repeat).",
                fmt::format("shakeout_fault_time_to_recover_seconds{} {}", fault_labels,
                            seconds(measured["timeToRecoverMs"].get<double>())));
          add("shakeout_fault_downtime_seconds", "gauge",
              "The probe's failing time after the fault (last repeat).",
              fmt::format("shakeout_fault_downtime_seconds{} {}", fault_labels,
                          seconds(measured.value("downtimeMs", 0.0))));
        }
        const json loop = fault.value("controlLoop", json::object());
        for (const char* step : kControlLoopSteps) {
          const std::string key = std::string(step) + "Ms";
          if (!loop.contains(key)) continue;
          const auto step_labels = labels({{"experiment", experiment},
                                           {"fault", fault.value("action", "")},
                                           {"target", fault.value("target", "")},
                                           {"step", step}});
          add("shakeout_fault_control_loop_seconds", "gauge",
              "Fault start to each step of the replica recovery along the control loop (last repeat).",
              fmt::format("shakeout_fault_control_loop_seconds{} {}", step_labels,
                          seconds(loop[key].get<double>())));
        }
      }
    }
  }
  std::string out;
  for (const auto& name : order) {
    const Family& family = families[name];
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, family.help, name, family.type);
    for (const auto& sample : family.samples) out += sample + "\n";
  }
  return out;
}

std::string summary_table(const json& journal) {
  std::string out = fmt::format("experiment {}: {}\n", journal.value("experiment", ""),
                                journal.value("passed", false) ? "PASSED" : "FAILED");
  const json repeats = journal.value("repeats", json::array());
  for (const auto& repeat : repeats) {
    out += fmt::format("  repeat {}: {}", repeat.value("repeat", 0),
                       repeat.value("passed", false) ? "passed" : "failed");
    if (repeat.contains("bootMs")) out += fmt::format(" (boot {:.0f} ms)", repeat.value("bootMs", 0.0));
    out += "\n";
    if (repeat.contains("setupError")) out += "    setup: " + repeat.value("setupError", "") + "\n";
    for (const auto& fault : repeat.value("faults", json::array())) {
      out += fmt::format("    fault at {:.0f} ms: {} {} -> {}\n", fault.value("atMs", 0.0),
                         fault.value("action", ""), fault.value("target", ""), fault.value("resolved", ""));
      const json loop = fault.value("controlLoop", json::object());
      if (loop.empty()) continue;
      std::string steps;
      for (const char* step : kControlLoopSteps)
        if (const std::string key = std::string(step) + "Ms"; loop.contains(key))
          steps += fmt::format("{}{} {:.0f}", steps.empty() ? "" : " > ", step, loop[key].get<double>());
      out += fmt::format("      control loop ({}), ms: {}\n", loop.value("pod", "-"), steps);
    }
    if (repeat.contains("probes")) {
      size_t width = 14;  // the names' column fits the longest ("replicas/runtime")
      for (const auto& [name, unused] : repeat["probes"].items()) width = std::max(width, name.size());
      out += fmt::format("    {:<{}} {:>9} {:>10} {:>11} {:>12} {:>9} {:>9}\n", "probe", width, "samples",
                         "avail", "impact ms", "recover ms", "down ms", "p99 ms");
      for (const auto& [name, measured] : repeat["probes"].items()) {
        auto or_dash = [](const json& value) {
          return value.is_number() ? fmt::format("{:.0f}", value.get<double>()) : std::string("-");
        };
        out += fmt::format("    {:<{}} {:>9} {:>9.4f} {:>11} {:>12} {:>9.0f} {:>9.1f}\n", name, width,
                           measured.value("samples", 0), measured.value("availability", 1.0),
                           or_dash(measured["timeToImpactMs"]), or_dash(measured["timeToRecoverMs"]),
                           measured.value("downtimeMs", 0.0), measured.value("latencyP99Ms", 0.0));
      }
    }
    for (const auto& expectation : repeat.value("expectations", json::array()))
      for (const auto& unmet : expectation.value("unmet", json::array()))
        out += fmt::format("    UNMET {} probe {}: {}\n", expectation.value("where", ""),
                           expectation.value("probe", ""), unmet.get<std::string>());
    for (const char* phase : {"steadyBefore", "steadyAfter"})
      for (const auto& failure : repeat.value(phase, json::object()).value("failures", json::array()))
        out += "    " + failure.get<std::string>() + "\n";
    for (const auto& failure : repeat.value("faultErrors", json::array()))
      out += "    " + failure.get<std::string>() + "\n";
  }
  if (repeats.size() > 1) {
    const json summaries = journal.value("summary", json::object());
    for (const auto& [probe, summary] : summaries.items()) {
      const json& recover = summary["timeToRecoverMs"];
      if (recover.value("count", 0) == 0) continue;
      out += fmt::format(
          "  {} time-to-recover over {} repeats: median {:.0f} ms, p95 {:.0f}, min {:.0f}, max {:.0f}\n",
          probe, recover.value("count", 0), recover.value("median", 0.0), recover.value("p95", 0.0),
          recover.value("min", 0.0), recover.value("max", 0.0));
    }
  }
  return out;
}

}  // namespace shakeout::metrics
