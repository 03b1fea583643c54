// The reports against real consumers: junit.xml through python3-junitparser
// (Debian's /usr/bin/python3, where the package lives),
// metrics.prom through `promtool check metrics` (Debian's prometheus).

#include "metrics/report.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace shakeout::metrics {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

json passing_journal() {
  return json::parse(R"({
    "experiment": "pod-kill", "file": "experiments/pod-kill.yaml", "passed": true,
    "repeats": [{"repeat": 1, "passed": true, "bootMs": 450.5,
      "faults": [{"action": "kill", "target": "pod:app=web", "resolved": "pods web-1", "atMs": 0, "endMs": 0,
                  "probes": {"web": {"downtimeMs": 12, "failed": 3, "timeToImpactMs": 4, "timeToRecoverMs": 20},
                             "replicas": {"downtimeMs": 80, "failed": 2, "timeToImpactMs": 10, "timeToRecoverMs": 90}}}],
      "probes": {"web": {"kind": "service", "samples": 400, "ok": 397, "availability": 0.9925, "downtimeMs": 12,
                         "timeToImpactMs": 4, "timeToRecoverMs": 20, "latencyP50Ms": 0.4, "latencyP99Ms": 2.5,
                         "errors": {"refused": 3}},
                 "replicas": {"kind": "replicas", "samples": 40, "ok": 38, "availability": 0.95, "downtimeMs": 80,
                              "timeToImpactMs": 10, "timeToRecoverMs": 90, "latencyP50Ms": 0, "latencyP99Ms": 0,
                              "errors": {}}},
      "expectations": [{"probe": "replicas", "where": "pod-kill.yaml:20:7", "passed": true, "unmet": []}]}],
    "summary": {"web": {"timeToRecoverMs": {"count": 1, "min": 20, "median": 20, "p95": 20, "max": 20},
                        "timeToImpactMs": {"count": 1, "min": 4, "median": 4, "p95": 4, "max": 4},
                        "downtimeMs": {"count": 1, "min": 12, "median": 12, "p95": 12, "max": 12},
                        "availability": {"count": 1, "min": 0.9925, "median": 0.9925, "p95": 0.9925, "max": 0.9925}}}
  })");
}

json failing_journal() {
  json journal = passing_journal();
  journal["experiment"] = "etcd-<quorum> & \"loss\"";
  journal["passed"] = false;
  json& repeat = journal["repeats"][0];
  repeat["passed"] = false;
  repeat["expectations"][0]["passed"] = false;
  repeat["expectations"][0]["unmet"] = json::array({"not recovered (wanted within 10s)"});
  json second = {{"repeat", 2}, {"passed", false}, {"setupError", "cluster start: etcd-1 exited"}};
  journal["repeats"].push_back(second);
  return journal;
}

fs::path temp_file(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / ("shakeout-report-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / name;
  std::ofstream(path) << text;
  return path;
}

// Runs a shell command; its exit code and combined output.
std::pair<int, std::string> shell(const std::string& command) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(ReportTest, JunitXmlReadsBackThroughAJunitParserWithOneCasePerRepeatAndTheUnmetExpectation) {
  const auto path = temp_file("junit.xml", junit_xml({passing_journal(), failing_journal()}));
  const std::string script = R"(
import sys
from junitparser import JUnitXml, Failure, Error
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    for case in suite:
        kinds = [type(r).__name__ + ':' + (r.message or '') for r in case.result]
        print(suite.name, '|', case.name, '|', ';'.join(kinds))
print('totals', xml.tests, xml.failures, xml.errors)
)";
  const auto script_path = temp_file("check.py", script);
  const auto [code, output] = shell("/usr/bin/python3 " + script_path.string() + " " + path.string());
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("pod-kill | pod-kill #1 | \n"), std::string::npos) << output;
  EXPECT_NE(
      output.find("etcd-<quorum> & \"loss\" | etcd-<quorum> & \"loss\" #1 | Failure:pod-kill.yaml:20:7: "
                  "probe replicas: not recovered (wanted within 10s)"),
      std::string::npos)
      << output;
  EXPECT_NE(output.find("#2 | Error:cluster start: etcd-1 exited"), std::string::npos) << output;
  EXPECT_NE(output.find("totals 3 1 1"), std::string::npos) << output;
}

TEST(ReportTest, MetricsPassPromtoolAndCarryTheMeasurementsInBaseUnits) {
  const std::string text = open_metrics({passing_journal(), failing_journal()});
  const auto path = temp_file("metrics.prom", text);
  const auto [code, output] = shell("promtool check metrics < " + path.string());
  EXPECT_EQ(code, 0) << output << "\n" << text;
  EXPECT_NE(text.find("shakeout_probe_time_to_recover_seconds{experiment=\"pod-kill\",probe=\"web\"} 0.02\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("shakeout_experiment_passed{experiment=\"pod-kill\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("shakeout_experiment_passed{experiment=\"etcd-<quorum> & \\\"loss\\\"\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "shakeout_fault_downtime_seconds{experiment=\"pod-kill\",fault=\"kill\",target=\"pod:app=web\","
          "probe=\"replicas\"} 0.08\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("shakeout_probe_failed_samples_total{experiment=\"pod-kill\",probe=\"web\"} 3\n"),
            std::string::npos)
      << text;
  // One HELP and TYPE per family, even with two experiments.
  size_t helps = 0;
  for (size_t at = 0; (at = text.find("# TYPE shakeout_experiment_passed ", at)) != std::string::npos; ++at)
    ++helps;
  EXPECT_EQ(helps, 1u);
}

TEST(ReportTest, SummaryTableShowsEachProbeAndEveryUnmetExpectation) {
  const std::string table = summary_table(failing_journal());
  EXPECT_NE(table.find("FAILED"), std::string::npos) << table;
  EXPECT_NE(table.find("UNMET pod-kill.yaml:20:7 probe replicas: not recovered (wanted within 10s)"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("setup: cluster start: etcd-1 exited"), std::string::npos) << table;
  EXPECT_NE(table.find("web"), std::string::npos) << table;
}

TEST(ReportTest, XmlEscapeCoversMarkupAndDropsControlCharacters) {
  EXPECT_EQ(xml_escape("a<b>&\"c'\x01"), "a&lt;b&gt;&amp;&quot;c&apos;");
}

}  // namespace
}  // namespace shakeout::metrics
