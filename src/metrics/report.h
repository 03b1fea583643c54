#pragma once
// Reports rendered from experiment journals (runner/runner.h; report.json
// is the journal itself), DESIGN §8:
//
//   junit_xml     one <testsuite> per experiment, one <testcase> per repeat;
//                 a failed repeat carries each unmet expectation
//   open_metrics  the Prometheus text format (0.0.4: what promtool and the
//                 Pushgateway parse; counters' families end in _total):
//                 shakeout_* with base units, labelled by experiment,
//                 probe, fault and target only
//   summary_table the console table of one experiment
//
// Pure functions of their input.

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace shakeout::metrics {

std::string junit_xml(const std::vector<nlohmann::json>& journals);
std::string open_metrics(const std::vector<nlohmann::json>& journals);
std::string summary_table(const nlohmann::json& journal);

// XML text and attribute escaping (&, <, >, ", ').
std::string xml_escape(const std::string& text);

}  // namespace shakeout::metrics
