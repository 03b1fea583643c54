// dashboards/*.json against the metrics shakeout emits: the end-of-run
// families of metrics::open_metrics and the live ones LiveMetrics
// registers. A panel (or a variable) that queries a shakeout_* name neither
// emits fails here, as does a histogram's series used on a family that is
// not a histogram.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "metrics/report.h"
#include "runner/live_metrics.h"
#include "runner/runner.h"

namespace shakeout {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// A journal that makes open_metrics write every family it has: two
// probes, a fault with per-probe impact and a control loop.
json every_family_journal() {
  return json::parse(R"({
    "experiment": "pod-kill", "passed": true,
    "repeats": [{"repeat": 1, "passed": true,
      "faults": [{"action": "kill", "target": "pod:app=web", "atMs": 0, "endMs": 0,
                  "probes": {"web": {"downtimeMs": 12, "timeToImpactMs": 4, "timeToRecoverMs": 20}},
                  "controlLoop": {"pod": "default/web-2", "detectedMs": 3, "createdMs": 5, "scheduledMs": 9,
                                  "startedMs": 300, "readyMs": 900, "endpointsMs": 901, "servingMs": 950}}],
      "probes": {"web": {"samples": 400, "ok": 397}}}],
    "summary": {"web": {"timeToRecoverMs": {"count": 1, "median": 20},
                        "timeToImpactMs": {"count": 1, "median": 4},
                        "downtimeMs": {"count": 1, "median": 12},
                        "availability": {"count": 1, "median": 0.99}}}
  })");
}

// name -> type of every family shakeout emits.
std::map<std::string, std::string> emitted_families() {
  std::map<std::string, std::string> families;
  std::istringstream text(metrics::open_metrics({every_family_journal()}));
  const std::regex type_line("# TYPE (\\S+) (\\S+)");
  std::smatch match;
  for (std::string line; std::getline(text, line);)
    if (std::regex_match(line, match, type_line)) families[match[1]] = match[2];
  boost::asio::io_context io;
  runner::Runner runner(io, {});
  runner::LiveMetrics live(io.get_executor(), runner);
  for (const auto& [name, type] : live.families()) {
    auto [it, inserted] = families.emplace(name, type);
    EXPECT_EQ(it->second, type) << name << " is a " << it->second << " at the end and a " << type << " live";
  }
  return families;
}

// Empty when `series` is emitted; else why not.
std::string unknown(const std::string& series, const std::map<std::string, std::string>& families) {
  if (auto it = families.find(series); it != families.end())
    return it->second == "histogram" ? series + " is a histogram: query its _bucket, _sum or _count" : "";
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string end = suffix;
    if (series.size() <= end.size() || series.compare(series.size() - end.size(), end.size(), end) != 0)
      continue;
    const auto it = families.find(series.substr(0, series.size() - end.size()));
    if (it != families.end() && it->second == "histogram") return "";
    if (it != families.end()) return series + ": " + it->first + " is a " + it->second + ", not a histogram";
  }
  return series + " is not a metric shakeout emits";
}

// Every string under a key that holds PromQL, anywhere in `node`.
void queries(const json& node, std::vector<std::string>& out) {
  if (node.is_array()) {
    for (const auto& item : node) queries(item, out);
  } else if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if ((key == "expr" || key == "query" || key == "definition") && value.is_string())
        out.push_back(value.get<std::string>());
      else
        queries(value, out);
    }
  }
}

std::vector<fs::path> dashboards() {
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(SHAKEOUT_DASHBOARDS_DIR))
    if (entry.path().extension() == ".json") paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());
  return paths;
}

TEST(DashboardsTest, TheCheckKnowsEmittedSeriesFromMadeUpOnes) {
  const auto families = emitted_families();
  EXPECT_EQ(unknown("shakeout_probe_time_to_recover_seconds", families), "");  // end of run
  EXPECT_EQ(unknown("shakeout_fault_control_loop_seconds", families), "");
  EXPECT_EQ(unknown("shakeout_fault_active", families), "");  // live
  EXPECT_EQ(unknown("shakeout_probe_latency_seconds_bucket", families), "");
  EXPECT_NE(unknown("shakeout_probe_latency_seconds", families), "");
  EXPECT_NE(unknown("shakeout_probe_time_to_recover_seconds_bucket", families), "");
  EXPECT_NE(unknown("shakeout_probe_recovery_seconds", families), "");
}

TEST(DashboardsTest, EveryPanelQueriesOnlyMetricsShakeoutEmits) {
  const auto families = emitted_families();
  const auto paths = dashboards();
  ASSERT_GE(paths.size(), 2u);
  const std::regex metric("\\bshakeout_[a-zA-Z0-9_:]*");
  std::set<std::string> used;
  for (const auto& path : paths) {
    SCOPED_TRACE(path.filename().string());
    json dashboard;
    ASSERT_NO_THROW(dashboard = json::parse(std::ifstream(path))) << path;
    EXPECT_GE(dashboard.value("schemaVersion", 0), 36);
    const json variables = dashboard["templating"]["list"];
    EXPECT_TRUE(std::any_of(variables.begin(), variables.end(),
                            [](const json& v) { return v.value("type", "") == "datasource"; }));
    EXPECT_TRUE(std::any_of(variables.begin(), variables.end(),
                            [](const json& v) { return v.value("name", "") == "experiment"; }));
    for (const auto& panel : dashboard["panels"]) {
      if (panel.value("type", "") == "row") continue;
      std::vector<std::string> panel_queries;
      queries(panel, panel_queries);
      EXPECT_FALSE(panel_queries.empty()) << "panel " << panel.value("title", "") << " has no query";
      for (const auto& query : panel_queries) {
        bool any = false;
        for (auto it = std::sregex_iterator(query.begin(), query.end(), metric); it != std::sregex_iterator();
             ++it) {
          any = true;
          used.insert(it->str());
          EXPECT_EQ(unknown(it->str(), families), "")
              << "panel " << panel.value("title", "") << ": " << query;
        }
        EXPECT_TRUE(any) << "panel " << panel.value("title", "") << " queries no shakeout metric: " << query;
      }
    }
    std::vector<std::string> variable_queries;
    queries(variables, variable_queries);
    for (const auto& query : variable_queries)
      for (auto it = std::sregex_iterator(query.begin(), query.end(), metric); it != std::sregex_iterator();
           ++it)
        EXPECT_EQ(unknown(it->str(), families), "") << "variable: " << query;
  }
  // Between them the dashboards show every family shakeout emits.
  for (const auto& [name, type] : families) {
    const bool shown = type == "histogram" ? used.count(name + "_bucket") > 0 : used.count(name) > 0;
    EXPECT_TRUE(shown) << name << " is on no dashboard";
  }
}

}  // namespace
}  // namespace shakeout
