// The reports against real consumers: junit.xml through python3-junitparser
// (Debian's /usr/bin/python3, where the package lives),
// metrics.prom through `promtool check metrics` (Debian's prometheus),
// report.html's charts through Python's XML parser.

#include "metrics/report.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "metrics/html_report.h"

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

// The passing journal with what the chart draws: 10 s measured, the fault
// from 2.5 to 5 s, web failing from 3 to 4 s, and a control loop.
json charted_journal() {
  json journal = passing_journal();
  json& repeat = journal["repeats"][0];
  repeat["untilMs"] = 10000;
  repeat["recovered"] = true;
  json& fault = repeat["faults"][0];
  fault["atMs"] = 2500;
  fault["endMs"] = 5000;
  fault["controlLoop"] = {{"pod", "default/web-2"}, {"detectedMs", 3}, {"createdMs", 5}, {"readyMs", 900}};
  json& web = repeat["probes"]["web"];
  web["timeline"] = json::array({json::array({3000, 4000})});
  web["buckets"] = {{"widthMs", 500}, {"ok", json::array()}, {"failed", json::array()}};
  for (int i = 0; i < 20; ++i) {
    web["buckets"]["ok"].push_back(i == 6 ? 20 : 100);
    web["buckets"]["failed"].push_back(i == 6 ? 80 : 0);
  }
  return journal;
}

// The x attribute of the first <rect> of `css_class` whose title contains `title`.
double rect_x(const std::string& html, const std::string& css_class, const std::string& title = "") {
  const std::regex rect("<rect class=\"" + css_class + "\" x=\"([0-9.]+)\"[^>]*>(<title>([^<]*)</title>)?");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), rect); it != std::sregex_iterator(); ++it)
    if ((*it)[3].str().find(title) != std::string::npos) return std::stod((*it)[1].str());
  return -1;
}

TEST(ReportTest, HtmlTimelineDrawsTheFaultBandAndTheFailingIntervalWhereTheyHappened) {
  const std::string html = html_report(charted_journal());
  // x = kChartLeft + ms / 10000 * kChartWidth
  EXPECT_DOUBLE_EQ(rect_x(html, "fault"), kChartLeft + 0.25 * kChartWidth) << html;
  EXPECT_NE(html.find(">kill pod:app=web</text>"), std::string::npos) << html;
  EXPECT_DOUBLE_EQ(rect_x(html, "failing", "web failing 3000-4000 ms"), kChartLeft + 0.3 * kChartWidth)
      << html;
  // The bucket 3000-3500 ms with 80 of 100 failed under the lane.
  EXPECT_DOUBLE_EQ(rect_x(html, "failing", "3000-3500 ms: 80 of 100 failed"), kChartLeft + 0.3 * kChartWidth)
      << html;
  // Both probes recovered: the later one (replicas, 90 ms) marks the phase.
  EXPECT_NE(html.find(">recovered 90 ms</text>"), std::string::npos) << html;
  EXPECT_NE(html.find("default/web-2: detected 3 created 5 ready 900"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>web</td><td class=\"text\">service</td><td>400</td><td>0.9925</td><td>4</td>"
                      "<td>20</td><td>12</td>"),
            std::string::npos)
      << html;
}

TEST(ReportTest, HtmlShowsUnmetExpectationsSetupErrorsAndAProbeThatDidNotRecover) {
  json journal = failing_journal();
  journal["repeats"][0]["probes"]["replicas"]["timeToRecoverMs"] = nullptr;
  const std::string html = html_report(journal);
  EXPECT_NE(html.find("FAILED"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"text failed\">UNMET: not recovered (wanted within 10s)</td>"),
            std::string::npos)
      << html;
  EXPECT_NE(html.find("<li>setup: cluster start: etcd-1 exited</li>"), std::string::npos) << html;
  EXPECT_NE(html.find(">not recovered by "), std::string::npos) << html;
  EXPECT_EQ(html.find(">recovered "), std::string::npos) << html;
}

TEST(ReportTest, HtmlEscapesEveryStringFromTheJournal) {
  json journal = charted_journal();
  journal["experiment"] = "</title><script>alert(1)</script>";
  json& repeat = journal["repeats"][0];
  repeat["faults"][0]["target"] = "pod:\"><img src=x onerror=alert(2)>";
  repeat["probes"]["<b>web</b>"] = repeat["probes"]["web"];
  repeat["expectations"][0]["unmet"] = json::array({"<i>late</i>"});
  const std::string html = html_report(journal);
  for (const char* raw : {"<script", "<img", "<b>", "<i>"})
    EXPECT_EQ(html.find(raw), std::string::npos) << raw;
  EXPECT_NE(html.find("&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;web&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(html.find("&lt;i&gt;late&lt;/i&gt;"), std::string::npos);
}

TEST(ReportTest, HtmlIsSelfContainedAndItsChartsAreWellFormedSvg) {
  json journal = charted_journal();
  journal["repeats"].push_back(journal["repeats"][0]);
  journal["repeats"][1]["repeat"] = 2;
  const std::string html = html_report(journal);
  for (const char* external : {"<script", "<link", "src=", "href=", "@import", "url("})
    EXPECT_EQ(html.find(external), std::string::npos) << external;
  const auto path = temp_file("report.html", html);
  const std::string script = R"(
import re, sys, xml.etree.ElementTree as ET
svgs = re.findall(r'<svg .*?</svg>', open(sys.argv[1]).read(), re.S)
for svg in svgs:
    root = ET.fromstring(svg)
    print(root.tag, len(root.findall('{http://www.w3.org/2000/svg}rect')))
)";
  const auto script_path = temp_file("svg.py", script);
  const auto [code, output] = shell("/usr/bin/python3 " + script_path.string() + " " + path.string());
  ASSERT_EQ(code, 0) << output;
  // Two repeats, two charts: per chart 2 lane bases, 1 failing interval,
  // 1 failing bucket and the fault band.
  EXPECT_EQ(output, "{http://www.w3.org/2000/svg}svg 5\n{http://www.w3.org/2000/svg}svg 5\n");
  EXPECT_NE(html.find("<h2>Over the repeats</h2>"), std::string::npos);
}

}  // namespace
}  // namespace shakeout::metrics
