// Server-side Table output: columns and cells as upstream's printers.go
// builds them, includeObject, list metadata and Accept negotiation.

#include "api/table.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "api/store.h"

namespace shakeout::api {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// Every test reads ages against this fixed clock.
const std::chrono::system_clock::time_point kNow = *parse_timestamp("2024-06-21T12:00:00Z");

std::string ago(std::chrono::seconds d) {
  return format_timestamp(kNow - d);
}

const ResourceInfo& resource(const char* group, const char* plural) {
  const ResourceInfo* r = ResourceRegistry::builtin().by_plural(group, plural);
  EXPECT_NE(r, nullptr) << plural;
  return *r;
}

json cells(const char* group, const char* plural, const json& object) {
  return table_row(resource(group, plural), object, kNow, IncludeObject::kNone)["cells"];
}

std::vector<std::string> column_names(const json& columns) {
  std::vector<std::string> names;
  for (const auto& c : columns)
    names.push_back(c["name"].get<std::string>() + (c["priority"] == 1 ? "*" : ""));
  return names;
}

json meta(const std::string& name, std::chrono::seconds age) {
  json m = json::object();
  m["name"] = name;
  m["namespace"] = "default";
  m["creationTimestamp"] = ago(age);
  return m;
}

// --- human_duration ---------------------------------------------------------

TEST(TableHumanDuration, MatchesUpstreamBoundaries) {
  struct Case {
    std::chrono::seconds d;
    const char* want;
  };
  const Case cases[] = {
      {seconds(-2), "<invalid>"},
      {seconds(-1), "0s"},
      {seconds(0), "0s"},
      {seconds(5), "5s"},
      {seconds(119), "119s"},
      {seconds(120), "2m"},
      {seconds(150), "2m30s"},
      {minutes(9) + seconds(59), "9m59s"},
      {minutes(10) + seconds(30), "10m"},
      {minutes(179), "179m"},
      {hours(3), "3h"},
      {hours(3) + minutes(20), "3h20m"},
      {hours(8) + minutes(20), "8h"},
      {hours(47), "47h"},
      {hours(48), "2d"},
      {hours(24 * 3 + 4), "3d4h"},
      {hours(24 * 8), "8d"},
      {hours(24 * 45), "45d"},
      {hours(24 * 729), "729d"},
      {hours(24 * (365 * 2 + 10)), "2y10d"},
      {hours(24 * 365 * 3), "3y"},
      {hours(24 * (365 * 9 + 100)), "9y"},
  };
  for (const auto& c : cases) EXPECT_EQ(human_duration(c.d), c.want) << c.d.count() << "s";
}

// --- column definitions -----------------------------------------------------

TEST(TableColumns, PodsHaveUpstreamColumnsAndWidePriorities) {
  json columns = table_column_definitions(resource("", "pods"));
  EXPECT_EQ(column_names(columns),
            (std::vector<std::string>{"Name", "Ready", "Status", "Restarts", "Age", "IP*", "Node*",
                                      "Nominated Node*", "Readiness Gates*"}));
  EXPECT_EQ(columns[0]["format"], "name");
  EXPECT_EQ(columns[0]["type"], "string");
  EXPECT_EQ(columns[3]["type"], "string");  // "2 (5m ago)" since 1.24
  EXPECT_EQ(columns[1]["format"], "");      // format is always present
  EXPECT_EQ(columns[1]["description"], "The aggregate readiness state of this pod for accepting traffic.");
  EXPECT_TRUE(columns[4]["description"].get<std::string>().rfind("CreationTimestamp is a timestamp", 0) == 0);
}

TEST(TableColumns, EveryServedResourceHasItsPrinterColumns) {
  using V = std::vector<std::string>;
  EXPECT_EQ(column_names(table_column_definitions(resource("", "namespaces"))), (V{"Name", "Status", "Age"}));
  EXPECT_EQ(column_names(table_column_definitions(resource("", "nodes"))),
            (V{"Name", "Status", "Roles", "Age", "Version", "Internal-IP*", "External-IP*", "OS-Image*",
               "Kernel-Version*", "Container-Runtime*"}));
  EXPECT_EQ(column_names(table_column_definitions(resource("", "services"))),
            (V{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector*"}));
  EXPECT_EQ(column_names(table_column_definitions(resource("", "endpoints"))),
            (V{"Name", "Endpoints", "Age"}));
  EXPECT_EQ(column_names(table_column_definitions(resource("", "events"))),
            (V{"Last Seen", "Type", "Reason", "Object", "Subobject*", "Source*", "Message", "First Seen*",
               "Count*", "Name*"}));
  EXPECT_EQ(column_names(table_column_definitions(resource("apps", "deployments"))),
            (V{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers*", "Images*", "Selector*"}));
  EXPECT_EQ(column_names(table_column_definitions(resource("apps", "replicasets"))),
            (V{"Name", "Desired", "Current", "Ready", "Age", "Containers*", "Images*", "Selector*"}));
  EXPECT_EQ(column_names(table_column_definitions(resource("coordination.k8s.io", "leases"))),
            (V{"Name", "Holder", "Age"}));
  EXPECT_EQ(column_names(table_column_definitions(resource("discovery.k8s.io", "endpointslices"))),
            (V{"Name", "AddressType", "Ports", "Endpoints", "Age"}));
  EXPECT_EQ(table_column_definitions(resource("apps", "replicasets"))[1]["type"], "integer");
  EXPECT_EQ(table_column_definitions(resource("", "events"))[9]["format"], "name");
}

TEST(TableColumns, EveryRegisteredResourceRowMatchesItsColumns) {
  for (const auto& r : ResourceRegistry::builtin().all()) {
    json object = json::object();
    object["metadata"] = meta("x", seconds(30));
    EXPECT_EQ(table_row(r, object, kNow, IncludeObject::kNone)["cells"].size(),
              table_column_definitions(r).size())
        << r.plural;
  }
}

TEST(TableColumns, ResourceWithoutPrinterGetsDefaultTable) {
  ResourceInfo config_maps;
  config_maps.version = "v1";
  config_maps.kind = "ConfigMap";
  config_maps.plural = "configmaps";
  json columns = table_column_definitions(config_maps);
  ASSERT_EQ(columns.size(), 2u);
  EXPECT_EQ(columns[0]["name"], "Name");
  EXPECT_EQ(columns[1]["name"], "Created At");
  EXPECT_EQ(columns[1]["type"], "date");
  json object = json::object();
  object["metadata"] = meta("settings", hours(2));
  EXPECT_EQ(table_row(config_maps, object, kNow, IncludeObject::kNone)["cells"],
            json::array({"settings", "2024-06-21T10:00:00Z"}));
}

// --- pods -------------------------------------------------------------------

json running_container(const std::string& name, int restarts, bool ready) {
  json c = json::object();
  c["name"] = name;
  c["ready"] = ready;
  c["restartCount"] = restarts;
  c["state"] = {{"running", {{"startedAt", ago(minutes(5))}}}};
  return c;
}

json pod(const std::string& name, std::chrono::seconds age) {
  json p = json::object();
  p["metadata"] = meta(name, age);
  p["spec"] = {{"nodeName", "node-1"},
               {"containers", json::array({{{"name", "app"}, {"image", "shakeout"}},
                                           {{"name", "sidecar"}, {"image", "busybox"}}})}};
  p["status"] = {{"phase", "Running"}, {"podIP", "127.1.1.5"}, {"containerStatuses", json::array()}};
  return p;
}

TEST(TablePods, RunningPodWithRestartsShowsWhenTheLastOneWas) {
  json p = pod("web-1", hours(3));
  json app = running_container("app", 2, true);
  app["lastState"] = {{"terminated", {{"exitCode", 1}, {"finishedAt", ago(minutes(5))}}}};
  json sidecar = running_container("sidecar", 1, true);
  sidecar["lastState"] = {{"terminated", {{"exitCode", 137}, {"finishedAt", ago(hours(1))}}}};
  p["status"]["containerStatuses"] = json::array({app, sidecar});
  EXPECT_EQ(cells("", "pods", p), json::array({"web-1", "2/2", "Running", "3 (5m ago)", "3h", "127.1.1.5",
                                               "node-1", "<none>", "<none>"}));
}

TEST(TablePods, RestartsWithoutTerminationTimeArePlainCounts) {
  json p = pod("web-1", hours(3));
  p["status"]["containerStatuses"] =
      json::array({running_container("app", 4, true), running_container("sidecar", 0, false)});
  json c = cells("", "pods", p);
  EXPECT_EQ(c[1], "1/2");
  EXPECT_EQ(c[3], "4");
}

TEST(TablePods, CrashLoopingContainerReasonWins) {
  json p = pod("web-2", minutes(30));
  json app = json::object();
  app["name"] = "app";
  app["ready"] = false;
  app["restartCount"] = 5;
  app["state"] = {{"waiting", {{"reason", "CrashLoopBackOff"}, {"message", "back-off 40s"}}}};
  app["lastState"] = {
      {"terminated", {{"exitCode", 2}, {"reason", "Error"}, {"finishedAt", ago(seconds(40))}}}};
  p["status"]["containerStatuses"] = json::array({app, running_container("sidecar", 0, true)});
  json c = cells("", "pods", p);
  EXPECT_EQ(c[1], "1/2");
  EXPECT_EQ(c[2], "CrashLoopBackOff");
  EXPECT_EQ(c[3], "5 (40s ago)");
}

TEST(TablePods, TerminatingPodSaysTerminatingUntilItsPhaseIsTerminal) {
  json p = pod("web-3", hours(26));
  p["metadata"]["deletionTimestamp"] = format_timestamp(kNow + seconds(30));
  p["status"]["containerStatuses"] =
      json::array({running_container("app", 0, true), running_container("sidecar", 0, true)});
  EXPECT_EQ(cells("", "pods", p)[2], "Terminating");
  EXPECT_EQ(cells("", "pods", p)[4], "26h");
  p["status"]["phase"] = "Succeeded";
  p["status"]["containerStatuses"] = json::array();
  EXPECT_EQ(cells("", "pods", p)[2], "Succeeded");
}

TEST(TablePods, NodeLostPodIsUnknownOnceDeleted) {
  json p = pod("web-4", hours(1));
  p["status"]["reason"] = "NodeLost";
  EXPECT_EQ(cells("", "pods", p)[2], "NodeLost");
  p["metadata"]["deletionTimestamp"] = format_timestamp(kNow);
  EXPECT_EQ(cells("", "pods", p)[2], "Unknown");
}

TEST(TablePods, PendingAndContainerCreatingAndCompletedAndError) {
  json pending = pod("p", seconds(3));
  pending["status"] = {{"phase", "Pending"}};
  pending["spec"].erase("nodeName");
  json c = cells("", "pods", pending);
  EXPECT_EQ(c[1], "0/2");
  EXPECT_EQ(c[2], "Pending");
  EXPECT_EQ(c[3], "0");
  EXPECT_EQ(c[5], "<none>");
  EXPECT_EQ(c[6], "<none>");

  json creating = pod("c", seconds(3));
  creating["status"]["phase"] = "Pending";
  json waiting = {{"name", "app"},
                  {"ready", false},
                  {"restartCount", 0},
                  {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}};
  creating["status"]["containerStatuses"] = json::array({waiting});
  EXPECT_EQ(cells("", "pods", creating)[2], "ContainerCreating");

  json done = pod("d", minutes(3));
  done["status"]["phase"] = "Succeeded";
  done["status"]["containerStatuses"] = json::array(
      {{{"name", "app"}, {"state", {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}}}}});
  EXPECT_EQ(cells("", "pods", done)[2], "Completed");

  json failed = pod("f", minutes(3));
  failed["status"]["phase"] = "Failed";
  failed["status"]["containerStatuses"] =
      json::array({{{"name", "app"}, {"state", {{"terminated", {{"exitCode", 1}, {"reason", "Error"}}}}}}});
  EXPECT_EQ(cells("", "pods", failed)[2], "Error");
  failed["status"]["containerStatuses"][0]["state"]["terminated"].erase("reason");
  EXPECT_EQ(cells("", "pods", failed)[2], "ExitCode:1");
  failed["status"]["containerStatuses"][0]["state"]["terminated"]["signal"] = 9;
  EXPECT_EQ(cells("", "pods", failed)[2], "Signal:9");
}

TEST(TablePods, CompletedContainerBesideRunningOneKeepsPodRunning) {
  json p = pod("mixed", minutes(3));
  json done = {{"name", "app"}, {"state", {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}}}};
  // Statuses are walked from the last: the first one's Completed wins the reason.
  p["status"]["containerStatuses"] = json::array({done, running_container("sidecar", 0, true)});
  EXPECT_EQ(cells("", "pods", p)[2], "NotReady");
  p["status"]["conditions"] = json::array({{{"type", "Ready"}, {"status", "True"}}});
  EXPECT_EQ(cells("", "pods", p)[2], "Running");
}

TEST(TablePods, InitContainersShowProgressAndFailures) {
  json p = pod("init", minutes(1));
  p["status"]["phase"] = "Pending";
  p["spec"]["initContainers"] = json::array({{{"name", "one"}}, {{"name", "two"}}});
  json one_done = {{"name", "one"}, {"restartCount", 0}, {"state", {{"terminated", {{"exitCode", 0}}}}}};
  json two_running = {{"name", "two"}, {"restartCount", 0}, {"state", {{"running", json::object()}}}};
  p["status"]["initContainerStatuses"] = json::array({one_done, two_running});
  EXPECT_EQ(cells("", "pods", p)[2], "Init:1/2");

  json two_crashing = {{"name", "two"},
                       {"restartCount", 3},
                       {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
                       {"lastState", {{"terminated", {{"exitCode", 1}, {"finishedAt", ago(seconds(20))}}}}}};
  p["status"]["initContainerStatuses"] = json::array({one_done, two_crashing});
  json c = cells("", "pods", p);
  EXPECT_EQ(c[2], "Init:CrashLoopBackOff");
  EXPECT_EQ(c[3], "3 (20s ago)");

  json two_failed = {{"name", "two"}, {"restartCount", 0}, {"state", {{"terminated", {{"exitCode", 3}}}}}};
  p["status"]["initContainerStatuses"] = json::array({one_done, two_failed});
  EXPECT_EQ(cells("", "pods", p)[2], "Init:ExitCode:3");
}

TEST(TablePods, SidecarInitContainersCountAsContainers) {
  json p = pod("sidecar", minutes(1));
  p["spec"]["initContainers"] = json::array({{{"name", "proxy"}, {"restartPolicy", "Always"}}});
  p["status"]["initContainerStatuses"] = json::array({{{"name", "proxy"},
                                                       {"restartCount", 1},
                                                       {"started", true},
                                                       {"ready", true},
                                                       {"state", {{"running", json::object()}}}}});
  p["status"]["conditions"] = json::array({{{"type", "Initialized"}, {"status", "True"}}});
  p["status"]["containerStatuses"] =
      json::array({running_container("app", 0, true), running_container("sidecar", 0, true)});
  json c = cells("", "pods", p);
  EXPECT_EQ(c[1], "3/3");
  EXPECT_EQ(c[2], "Running");
  EXPECT_EQ(c[3], "1");  // the sidecar's restarts stay counted
}

TEST(TablePods, ReadinessGatesNominatedNodeAndPodIPs) {
  json p = pod("gated", minutes(1));
  p["status"].erase("podIP");
  p["status"]["podIPs"] = json::array({{{"ip", "127.1.2.9"}}});
  p["status"]["nominatedNodeName"] = "node-2";
  p["spec"]["readinessGates"] =
      json::array({{{"conditionType", "example.com/lb"}}, {{"conditionType", "x/y"}}});
  p["status"]["conditions"] = json::array({{{"type", "example.com/lb"}, {"status", "True"}}});
  json c = cells("", "pods", p);
  EXPECT_EQ(c[5], "127.1.2.9");
  EXPECT_EQ(c[7], "node-2");
  EXPECT_EQ(c[8], "1/2");
}

TEST(TablePods, SchedulingGatedPodSaysSo) {
  json p = pod("gated", minutes(1));
  p["status"] = {
      {"phase", "Pending"},
      {"conditions",
       json::array({{{"type", "PodScheduled"}, {"status", "False"}, {"reason", "SchedulingGated"}}})}};
  EXPECT_EQ(cells("", "pods", p)[2], "SchedulingGated");
}

TEST(TablePods, FinishedPodsCarryRowConditions) {
  json p = pod("done", minutes(1));
  p["status"]["phase"] = "Succeeded";
  json row = table_row(resource("", "pods"), p, kNow, IncludeObject::kNone);
  EXPECT_EQ(row["conditions"], json::parse(R"([{"type":"Completed","status":"True","reason":"Succeeded",
                                               "message":"The pod has completed successfully."}])"));
  p["status"]["phase"] = "Running";
  EXPECT_FALSE(table_row(resource("", "pods"), p, kNow, IncludeObject::kNone).contains("conditions"));
}

// --- nodes ------------------------------------------------------------------

json node(const std::string& name) {
  json n = json::object();
  n["metadata"] = {{"name", name}, {"creationTimestamp", ago(hours(24 * 3 + 5))}, {"labels", json::object()}};
  n["status"] = {{"conditions", json::array({{{"type", "MemoryPressure"}, {"status", "False"}},
                                             {{"type", "Ready"}, {"status", "True"}}})},
                 {"addresses", json::array({{{"type", "Hostname"}, {"address", name}},
                                            {{"type", "InternalIP"}, {"address", "127.1.1.1"}}})},
                 {"nodeInfo",
                  {{"kubeletVersion", "v1.32.0-shakeout"},
                   {"osImage", "Debian GNU/Linux 12 (bookworm)"},
                   {"kernelVersion", "6.1.0"}}}};
  return n;
}

TEST(TableNodes, CordonedNodeIsReadyAndSchedulingDisabled) {
  json n = node("node-1");
  n["spec"] = {{"unschedulable", true}};
  n["metadata"]["labels"] = {{"node-role.kubernetes.io/worker", ""},
                             {"node-role.kubernetes.io/control-plane", ""},
                             {"kubernetes.io/role", "edge"},
                             {"kubernetes.io/hostname", "node-1"}};
  EXPECT_EQ(cells("", "nodes", n),
            json::array({"node-1", "Ready,SchedulingDisabled", "control-plane,edge,worker", "3d5h",
                         "v1.32.0-shakeout", "127.1.1.1", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0",
                         "<unknown>"}));
}

TEST(TableNodes, StatusComesFromTheReadyConditionOnly) {
  json n = node("node-2");
  n["status"]["conditions"][1]["status"] = "Unknown";
  EXPECT_EQ(cells("", "nodes", n)[1], "NotReady");
  n["status"]["conditions"] = json::array({{{"type", "MemoryPressure"}, {"status", "False"}}});
  EXPECT_EQ(cells("", "nodes", n)[1], "Unknown");
  EXPECT_EQ(cells("", "nodes", n)[2], "<none>");
}

// --- services and endpoints -------------------------------------------------

json service(const std::string& type) {
  json s = json::object();
  s["metadata"] = meta("web", minutes(45));
  s["spec"] = {{"type", type},
               {"clusterIP", "127.1.255.10"},
               {"clusterIPs", json::array({"127.1.255.10"})},
               {"selector", {{"tier", "front"}, {"app", "web"}}},
               {"ports", json::array({{{"port", 80}, {"targetPort", 8080}, {"protocol", "TCP"}}})}};
  return s;
}

TEST(TableServices, NodePortServiceShowsBothPorts) {
  json s = service("NodePort");
  s["spec"]["ports"][0]["nodePort"] = 30080;
  s["spec"]["ports"].push_back({{"port", 53}, {"nodePort", 30053}, {"protocol", "UDP"}});
  EXPECT_EQ(cells("", "services", s),
            json::array({"web", "NodePort", "127.1.255.10", "<none>", "80:30080/TCP,53:30053/UDP", "45m",
                         "app=web,tier=front"}));
}

TEST(TableServices, ClusterIPHeadlessLoadBalancerAndExternalName) {
  json s = service("ClusterIP");
  s["spec"]["ports"][0].erase("protocol");  // defaulted to TCP upstream
  s["spec"]["externalIPs"] = json::array({"10.9.9.9"});
  json c = cells("", "services", s);
  EXPECT_EQ(c[3], "10.9.9.9");
  EXPECT_EQ(c[4], "80/TCP");

  json headless = service("ClusterIP");
  headless["spec"]["clusterIP"] = "None";
  headless["spec"]["clusterIPs"] = json::array({"None"});
  headless["spec"].erase("ports");
  headless["spec"].erase("selector");
  c = cells("", "services", headless);
  EXPECT_EQ(c[2], "None");
  EXPECT_EQ(c[4], "<none>");
  EXPECT_EQ(c[6], "<none>");

  json lb = service("LoadBalancer");
  EXPECT_EQ(cells("", "services", lb)[3], "<pending>");
  lb["status"] = {
      {"loadBalancer", {{"ingress", json::array({{{"ip", "127.0.0.9"}}, {{"hostname", "a.example"}}})}}}};
  EXPECT_EQ(cells("", "services", lb)[3], "127.0.0.9,a.example");

  json external = service("ExternalName");
  external["spec"] = {{"type", "ExternalName"}, {"externalName", "db.example.com"}};
  c = cells("", "services", external);
  EXPECT_EQ(c[2], "<none>");
  EXPECT_EQ(c[3], "db.example.com");
}

TEST(TableEndpoints, MoreThanThreeAddressesAreSummarised) {
  json e = json::object();
  e["metadata"] = meta("web", seconds(90));
  e["subsets"] = json::array({{{"addresses", json::array({{{"ip", "127.1.1.5"}}, {{"ip", "127.1.2.5"}}})},
                               {"ports", json::array({{{"port", 8080}, {"protocol", "TCP"}}})}},
                              {{"addresses", json::array({{{"ip", "127.1.3.5"}}, {{"ip", "127.1.4.5"}}})},
                               {"ports", json::array({{{"port", 8080}, {"protocol", "TCP"}}})}}});
  EXPECT_EQ(cells("", "endpoints", e),
            json::array({"web", "127.1.1.5:8080,127.1.2.5:8080,127.1.3.5:8080 + 1 more...", "90s"}));
}

TEST(TableEndpoints, EmptyHeadlessAndIPv6) {
  json e = json::object();
  e["metadata"] = meta("none", seconds(1));
  EXPECT_EQ(cells("", "endpoints", e)[1], "<none>");
  e["subsets"] = json::array(
      {{{"addresses", json::array({{{"ip", "127.1.1.5"}}})}},
       {{"addresses", json::array({{{"ip", "fd00::1"}}})}, {"ports", json::array({{{"port", 80}}})}}});
  EXPECT_EQ(cells("", "endpoints", e)[1], "127.1.1.5,[fd00::1]:80");
}

TEST(TableEndpointSlices, PortsAndAddressesAreListedWithUnsetFallback) {
  json s = json::object();
  s["metadata"] = meta("web-abcde", minutes(2));
  s["addressType"] = "IPv4";
  s["ports"] = json::array({{{"port", 8080}}, {{"name", "metrics"}}});
  s["endpoints"] = json::array({{{"addresses", json::array({"127.1.1.5"})}},
                                {{"addresses", json::array({"127.1.2.5", "127.1.3.5", "127.1.4.5"})}}});
  EXPECT_EQ(
      cells("discovery.k8s.io", "endpointslices", s),
      json::array({"web-abcde", "IPv4", "8080,metrics", "127.1.1.5,127.1.2.5,127.1.3.5 + 1 more...", "2m"}));
  s.erase("ports");
  s.erase("endpoints");
  EXPECT_EQ(cells("discovery.k8s.io", "endpointslices", s)[2], "<unset>");
  EXPECT_EQ(cells("discovery.k8s.io", "endpointslices", s)[3], "<unset>");
}

// --- events -----------------------------------------------------------------

TEST(TableEvents, CellsFollowTheWideColumnOrder) {
  json e = json::object();
  e["metadata"] = meta("web-1.17c1", minutes(10));
  e["involvedObject"] = {{"kind", "Pod"}, {"name", "web-1"}, {"fieldPath", "spec.containers{app}"}};
  e["reason"] = "BackOff";
  e["message"] = "  Back-off restarting failed container\n";
  e["type"] = "Warning";
  e["source"] = {{"component", "kubelet"}, {"host", "node-1"}};
  e["firstTimestamp"] = ago(minutes(10));
  e["lastTimestamp"] = ago(seconds(30));
  e["count"] = 7;
  EXPECT_EQ(cells("", "events", e),
            json::array({"30s", "Warning", "BackOff", "pod/web-1", "spec.containers{app}", "kubelet, node-1",
                         "Back-off restarting failed container", "10m", 7, "web-1.17c1"}));
}

TEST(TableEvents, NewStyleEventsUseEventTimeSeriesAndReportingController) {
  json e = json::object();
  e["metadata"] = meta("x.1", minutes(3));
  e["involvedObject"] = {{"kind", "Node"}};
  e["eventTime"] = format_timestamp(kNow - minutes(3)).insert(19, ".123456");
  e["reportingComponent"] = "shakeout-scheduler";
  json c = cells("", "events", e);
  EXPECT_EQ(c[0], "3m");  // lastTimestamp absent: firstTimestamp's cell, from eventTime
  EXPECT_EQ(c[3], "node");
  EXPECT_EQ(c[5], "shakeout-scheduler");
  EXPECT_EQ(c[7], "3m");
  EXPECT_EQ(c[8], 1);  // singleton events carry no count
  e["series"] = {{"count", 4},
                 {"lastObservedTime", format_timestamp(kNow - seconds(5)).insert(19, ".000001")}};
  c = cells("", "events", e);
  EXPECT_EQ(c[0], "5s");
  EXPECT_EQ(c[8], 4);
}

// --- workloads, leases, namespaces -----------------------------------------

TEST(TableDeployments, MidRolloutDeploymentShowsReadyOverDesired) {
  json d = json::object();
  d["metadata"] = meta("web", minutes(7));
  d["spec"] = {
      {"replicas", 3},
      {"selector",
       {{"matchLabels", {{"app", "web"}}},
        {"matchExpressions", json::array({{{"key", "tier"}, {"operator", "In"}, {"values", {"b", "a"}}}})}}},
      {"template",
       {{"spec",
         {{"containers", json::array({{{"name", "app"}, {"image", "shakeout:v2"}},
                                      {{"name", "log"}, {"image", "busybox"}}})}}}}}};
  d["status"] = {{"replicas", 4}, {"updatedReplicas", 1}, {"readyReplicas", 2}, {"availableReplicas", 2}};
  EXPECT_EQ(cells("apps", "deployments", d), json::array({"web", "2/3", 1, 2, "7m", "app,log",
                                                          "shakeout:v2,busybox", "app=web,tier in (a,b)"}));
  d["status"] = json::object();
  d["spec"].erase("replicas");  // defaulted to 1
  d["spec"].erase("selector");
  json c = cells("apps", "deployments", d);
  EXPECT_EQ(c[1], "0/1");
  EXPECT_EQ(c[2], 0);
  EXPECT_EQ(c[7], "");
}

TEST(TableReplicaSets, CountsAreIntegersAndEmptySelectorIsNone) {
  json rs = json::object();
  rs["metadata"] = meta("web-5d8f7", minutes(7));
  rs["spec"] = {
      {"replicas", 3},
      {"selector", {{"matchLabels", {{"pod-template-hash", "5d8f7"}, {"app", "web"}}}}},
      {"template", {{"spec", {{"containers", json::array({{{"name", "app"}, {"image", "shakeout"}}})}}}}}};
  rs["status"] = {{"replicas", 3}, {"readyReplicas", 1}};
  EXPECT_EQ(cells("apps", "replicasets", rs),
            json::array({"web-5d8f7", 3, 3, 1, "7m", "app", "shakeout", "app=web,pod-template-hash=5d8f7"}));
  rs["spec"]["selector"] = json::object();
  EXPECT_EQ(cells("apps", "replicasets", rs)[7], "<none>");
  rs["spec"]["selector"] = {
      {"matchExpressions",
       json::array({{{"key", "a"}, {"operator", "Exists"}}, {{"key", "b"}, {"operator", "DoesNotExist"}}})}};
  EXPECT_EQ(cells("apps", "replicasets", rs)[7], "a,!b");
}

TEST(TableLeasesAndNamespaces, HolderAndPhase) {
  json lease = json::object();
  lease["metadata"] = meta("node-1", hours(5));
  lease["spec"] = {{"holderIdentity", "node-1"}, {"leaseDurationSeconds", 40}};
  EXPECT_EQ(cells("coordination.k8s.io", "leases", lease), json::array({"node-1", "node-1", "5h"}));
  lease["spec"].erase("holderIdentity");
  EXPECT_EQ(cells("coordination.k8s.io", "leases", lease)[1], "");

  json ns = json::object();
  ns["metadata"] = {{"name", "kube-system"}, {"creationTimestamp", ago(hours(24 * 45))}};
  ns["status"] = {{"phase", "Terminating"}};
  EXPECT_EQ(cells("", "namespaces", ns), json::array({"kube-system", "Terminating", "45d"}));
  ns["metadata"].erase("creationTimestamp");
  EXPECT_EQ(cells("", "namespaces", ns)[2], "<unknown>");
}

// --- includeObject and whole tables ----------------------------------------

TEST(TableIncludeObject, ParsesTheThreePoliciesAndRejectsOthers) {
  EXPECT_EQ(parse_include_object(""), IncludeObject::kMetadata);
  EXPECT_EQ(parse_include_object("Metadata"), IncludeObject::kMetadata);
  EXPECT_EQ(parse_include_object("None"), IncludeObject::kNone);
  EXPECT_EQ(parse_include_object("Object"), IncludeObject::kObject);
  EXPECT_FALSE(parse_include_object("object").has_value());
  EXPECT_FALSE(parse_include_object("All").has_value());
}

TEST(TableIncludeObject, RowObjectIsPartialMetadataFullObjectOrNull) {
  json p = pod("web-1", minutes(1));
  p["metadata"]["labels"] = {{"app", "web"}};
  const ResourceInfo& pods = resource("", "pods");

  json partial = table_row(pods, p, kNow, IncludeObject::kMetadata)["object"];
  EXPECT_EQ(partial["kind"], "PartialObjectMetadata");
  EXPECT_EQ(partial["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(partial["metadata"], p["metadata"]);  // --show-labels reads metadata.labels
  EXPECT_FALSE(partial.contains("spec"));

  json full = table_row(pods, p, kNow, IncludeObject::kObject)["object"];
  EXPECT_EQ(full["kind"], "Pod");
  EXPECT_EQ(full["apiVersion"], "v1");
  EXPECT_EQ(full["spec"], p["spec"]);

  json none = table_row(pods, p, kNow, IncludeObject::kNone);
  ASSERT_TRUE(none.contains("object"));  // RawExtension without an object marshals as null
  EXPECT_TRUE(none["object"].is_null());

  json deployment = json::object();
  deployment["metadata"] = meta("web", minutes(1));
  EXPECT_EQ(table_row(resource("apps", "deployments"), deployment, kNow,
                      IncludeObject::kObject)["object"]["apiVersion"],
            "apps/v1");
}

TEST(TableWhole, ListMetadataIsCarriedOverAndRowsFollowItems) {
  json list = json::object();
  list["kind"] = "PodList";
  list["apiVersion"] = "v1";
  list["metadata"] = {{"resourceVersion", "1234"}, {"continue", "eyJ2IjoxfQ"}, {"remainingItemCount", 7}};
  list["items"] = json::array({pod("a", minutes(1)), pod("b", minutes(2))});
  json table = to_table(resource("", "pods"), list, true, kNow, IncludeObject::kMetadata);
  EXPECT_EQ(table["kind"], "Table");
  EXPECT_EQ(table["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(table["metadata"],
            json::parse(R"({"resourceVersion":"1234","continue":"eyJ2IjoxfQ","remainingItemCount":7})"));
  EXPECT_EQ(table["columnDefinitions"], table_column_definitions(resource("", "pods")));
  ASSERT_EQ(table["rows"].size(), 2u);
  EXPECT_EQ(table["rows"][0]["cells"][0], "a");
  EXPECT_EQ(table["rows"][1]["cells"][0], "b");
  EXPECT_EQ(table["rows"][1]["object"]["metadata"]["name"], "b");
}

TEST(TableWhole, SingleObjectTableHasItsResourceVersionOnly) {
  json p = pod("a", minutes(1));
  p["metadata"]["resourceVersion"] = "99";
  json table = to_table(resource("", "pods"), p, false, kNow, IncludeObject::kNone);
  EXPECT_EQ(table["metadata"], json::parse(R"({"resourceVersion":"99"})"));
  ASSERT_EQ(table["rows"].size(), 1u);
  EXPECT_EQ(table["rows"][0]["cells"][0], "a");
}

TEST(TableWhole, EmptyListsAndWatchEventsWithoutHeaders) {
  json empty = json::object();
  empty["metadata"] = {{"resourceVersion", "5"}};
  empty["items"] = json::array();
  json table = to_table(resource("", "pods"), empty, true, kNow, IncludeObject::kMetadata);
  EXPECT_EQ(table["rows"], json::array());
  EXPECT_EQ(table["metadata"], json::parse(R"({"resourceVersion":"5"})"));

  ResourceInfo config_maps;
  config_maps.version = "v1";
  config_maps.kind = "ConfigMap";
  EXPECT_TRUE(to_table(config_maps, empty, true, kNow, IncludeObject::kMetadata)["rows"].is_null());

  json headless =
      to_table(resource("", "pods"), pod("a", minutes(1)), false, kNow, IncludeObject::kMetadata, true);
  EXPECT_TRUE(headless.contains("columnDefinitions"));
  EXPECT_TRUE(headless["columnDefinitions"].is_null());
  EXPECT_EQ(headless["rows"].size(), 1u);
}

// --- Accept negotiation -----------------------------------------------------

TEST(TableAccept, KubectlGetHeaderAsksForV1Table) {
  constexpr const char* kKubectl =
      "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
      "application/json";
  EXPECT_TRUE(accepts_table(kKubectl));
  EXPECT_EQ(accepted_table_version(kKubectl), "v1");
}

TEST(TableAccept, PlainJsonAndOtherTargetsDoNot) {
  EXPECT_FALSE(accepts_table("application/json"));
  EXPECT_FALSE(accepts_table(""));
  EXPECT_FALSE(accepts_table("*/*"));
  EXPECT_FALSE(accepts_table("application/json, application/json;as=Table;v=v1;g=meta.k8s.io"));
  EXPECT_FALSE(accepts_table("application/json;as=Table;v=v2;g=meta.k8s.io"));
  EXPECT_FALSE(accepts_table("application/json;as=Table;v=v1;g=example.com"));
  EXPECT_FALSE(
      accepts_table("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"));
}

TEST(TableAccept, PreferenceOrderParametersAndEncodings) {
  EXPECT_EQ(accepted_table_version("application/json;as=Table;v=v1beta1;g=meta.k8s.io"), "v1beta1");
  EXPECT_EQ(accepted_table_version("application/json; as=Table; g=meta.k8s.io; v=v1"), "v1");
  EXPECT_EQ(accepted_table_version("application/json;q=0.5,application/json;as=Table;v=v1;g=meta.k8s.io"),
            "v1");
  EXPECT_FALSE(accepts_table("application/json;as=Table;v=v1;g=meta.k8s.io;q=0,application/json"));
  // Protobuf and YAML tables are skipped; a JSON one later in the list is served.
  EXPECT_TRUE(
      accepts_table("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/"
                    "json;as=Table;v=v1;g=meta.k8s.io"));
  EXPECT_TRUE(accepts_table("Application/JSON;as=Table;v=v1;g=meta.k8s.io"));
}

}  // namespace
}  // namespace shakeout::api
