// Unit tests of the kubelet's pure pieces: environment, status, probes,
// back-off, time scaling, log tails, flag validation.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kubelet/crash_backoff.h"
#include "kubelet/envvars.h"
#include "kubelet/logs.h"
#include "kubelet/node_status.h"
#include "kubelet/options.h"
#include "kubelet/pod_status.h"
#include "kubelet/probe.h"

namespace shakeout::kubelet {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

json service(const std::string& name, const std::string& cluster_ip, const json& ports) {
  json s = json::object();
  s["metadata"]["name"] = name;
  s["metadata"]["namespace"] = "default";
  s["spec"]["clusterIP"] = cluster_ip;
  s["spec"]["ports"] = ports;
  return s;
}

TEST(KubeletEnv, ServiceVariablesPointAtTheNodeIpAsUpstreamNamesThem) {
  const auto env =
      service_env({service("web-front", "127.5.255.10",
                           json::array({json{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}},
                                        json{{"name", "metrics-port"}, {"port", 9090}}})),
                   service("headless", "None", json::array({json{{"port", 1}}}))},
                  "127.5.1.1");
  EXPECT_EQ(env.at("WEB_FRONT_SERVICE_HOST"), "127.5.1.1");
  EXPECT_EQ(env.at("WEB_FRONT_SERVICE_PORT"), "80");
  EXPECT_EQ(env.at("WEB_FRONT_SERVICE_PORT_HTTP"), "80");
  EXPECT_EQ(env.at("WEB_FRONT_SERVICE_PORT_METRICS_PORT"), "9090");
  EXPECT_EQ(env.at("WEB_FRONT_PORT"), "tcp://127.5.1.1:80");
  EXPECT_EQ(env.at("WEB_FRONT_PORT_80_TCP"), "tcp://127.5.1.1:80");
  EXPECT_EQ(env.at("WEB_FRONT_PORT_80_TCP_PROTO"), "tcp");
  EXPECT_EQ(env.at("WEB_FRONT_PORT_80_TCP_PORT"), "80");
  EXPECT_EQ(env.at("WEB_FRONT_PORT_80_TCP_ADDR"), "127.5.1.1");
  EXPECT_EQ(env.at("WEB_FRONT_PORT_9090_TCP"), "tcp://127.5.1.1:9090");
  EXPECT_EQ(env.count("HEADLESS_SERVICE_HOST"), 0u);
}

TEST(KubeletEnv, ContainerEnvHasPodFieldsAndItsOwnVariablesWin) {
  json pod = json::object();
  pod["metadata"] = {{"name", "web-1"}, {"namespace", "prod"}, {"uid", "u-1"}};
  json container = json::object();
  container["env"] =
      json::array({json{{"name", "GREETING"}, {"value", "hi"}},
                   json{{"name", "MY_UID"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.uid"}}}}}},
                   json{{"name", "MY_IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}},
                   json{{"name", "MY_HOST"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.hostIP"}}}}}},
                   json{{"name", "MY_NODE"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "spec.nodeName"}}}}}},
                   json{{"name", "WEB_SERVICE_PORT"}, {"value", "override"}}});
  PodEnvContext context{"node-2", "127.5.2.1", "127.5.2.7"};
  const auto env = container_env(pod, container, context,
                                 {service("web", "127.5.255.1", json::array({json{{"port", 8080}}}))});
  EXPECT_EQ(env.at("POD_NAME"), "web-1");
  EXPECT_EQ(env.at("POD_NAMESPACE"), "prod");
  EXPECT_EQ(env.at("POD_IP"), "127.5.2.7");
  EXPECT_EQ(env.at("NODE_NAME"), "node-2");
  EXPECT_EQ(env.at("HOST_IP"), "127.5.2.1");
  EXPECT_EQ(env.at("GREETING"), "hi");
  EXPECT_EQ(env.at("MY_UID"), "u-1");
  EXPECT_EQ(env.at("MY_IP"), "127.5.2.7");
  EXPECT_EQ(env.at("MY_HOST"), "127.5.2.1");
  EXPECT_EQ(env.at("MY_NODE"), "node-2");
  EXPECT_EQ(env.at("WEB_SERVICE_HOST"), "127.5.2.1");
  EXPECT_EQ(env.at("WEB_SERVICE_PORT"), "override");
}

runtime::ContainerStatus running_container(const std::string& id) {
  runtime::ContainerStatus s;
  s.id = id;
  s.state = runtime::ContainerState::kRunning;
  s.started_unix_ms = 1700000000000;
  return s;
}

runtime::ContainerStatus exited_container(const std::string& id, int code) {
  runtime::ContainerStatus s = running_container(id);
  s.state = runtime::ContainerState::kExited;
  s.exit_code = code;
  s.finished_unix_ms = 1700000005000;
  s.reason = code == 0 ? "Completed" : "Error";
  return s;
}

ContainerView view_of(std::optional<runtime::ContainerStatus> current) {
  ContainerView c;
  c.name = "app";
  c.image = "shakeout/app";
  c.current = std::move(current);
  return c;
}

TEST(KubeletPodStatus, PhaseFollowsContainersAndRestartPolicy) {
  PodView view;
  view.containers.push_back(view_of(std::nullopt));
  EXPECT_EQ(pod_phase(view), "Pending");
  view.containers[0].current = running_container("a");
  EXPECT_EQ(pod_phase(view), "Running");
  view.containers[0].current = exited_container("a", 0);
  view.restart_policy = "Never";
  EXPECT_EQ(pod_phase(view), "Succeeded");
  view.containers[0].current = exited_container("a", 2);
  EXPECT_EQ(pod_phase(view), "Failed");
  view.restart_policy = "OnFailure";
  view.containers[0].waiting_reason = "CrashLoopBackOff";
  EXPECT_EQ(pod_phase(view), "Running");
  view.restart_policy = "Always";
  view.containers[0].waiting_reason.clear();
  view.containers[0].current = exited_container("a", 0);
  EXPECT_EQ(pod_phase(view), "Running");
  // A container that cannot be created keeps the pod Pending.
  view.containers[0] = view_of(std::nullopt);
  view.containers[0].waiting_reason = "ErrImagePull";
  EXPECT_EQ(pod_phase(view), "Pending");
}

TEST(KubeletPodStatus, StatusHasStatesConditionsAndKeepsTransitionTimes) {
  PodView view;
  view.pod_ip = "127.5.1.5";
  view.host_ip = "127.5.1.1";
  ContainerView c = view_of(exited_container("c2", 1));
  c.previous = exited_container("c1", 1);
  c.restart_count = 2;
  c.waiting_reason = "CrashLoopBackOff";
  c.waiting_message = "back-off 20s restarting failed container=app pod=p_default(u)";
  view.containers.push_back(c);
  json pod = json::object();
  pod["status"]["startTime"] = "2020-01-01T00:00:00Z";
  pod["status"]["conditions"] = json::array(
      {json{{"type", "Ready"}, {"status", "False"}, {"lastTransitionTime", "2020-01-01T00:00:01Z"}},
       json{{"type", "PodScheduled"}, {"status", "True"}, {"lastTransitionTime", "2020-01-01T00:00:02Z"}}});
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));
  const json status = compute_pod_status(pod, view, now);
  EXPECT_EQ(status["phase"], "Running");
  EXPECT_EQ(status["podIP"], "127.5.1.5");
  EXPECT_EQ(status["podIPs"][0]["ip"], "127.5.1.5");
  EXPECT_EQ(status["hostIP"], "127.5.1.1");
  EXPECT_EQ(status["startTime"], "2020-01-01T00:00:00Z");
  const json& cs = status["containerStatuses"][0];
  EXPECT_EQ(cs["restartCount"], 2);
  EXPECT_EQ(cs["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_EQ(cs["lastState"]["terminated"]["exitCode"], 1);
  EXPECT_EQ(cs["lastState"]["terminated"]["containerID"], "shakeout://c2");
  EXPECT_EQ(cs["containerID"], "shakeout://c2");
  EXPECT_EQ(cs["ready"], false);
  for (const auto& condition : status["conditions"]) {
    if (condition["type"] == "Ready") {
      EXPECT_EQ(condition["status"], "False");
      EXPECT_EQ(condition["reason"], "ContainersNotReady");
      EXPECT_EQ(condition["message"], "containers with unready status: [app]");
      EXPECT_EQ(condition["lastTransitionTime"], "2020-01-01T00:00:01Z");
    }
    if (condition["type"] == "PodScheduled") {
      EXPECT_EQ(condition["lastTransitionTime"], "2020-01-01T00:00:02Z");
    }
    if (condition["type"] == "Initialized") {
      EXPECT_NE(condition["lastTransitionTime"], "2020-01-01T00:00:01Z");
    }
  }
}

TEST(KubeletPodStatus, RunningReadyContainerMakesThePodReady) {
  PodView view;
  view.pod_ip = "127.5.1.5";
  ContainerView c = view_of(running_container("c1"));
  c.ready = true;
  c.started = true;
  view.containers.push_back(c);
  const json status = compute_pod_status(json::object(), view, std::chrono::system_clock::now());
  EXPECT_EQ(status["containerStatuses"][0]["state"]["running"]["startedAt"], format_unix_ms(1700000000000));
  bool ready = false;
  for (const auto& condition : status["conditions"])
    if (condition["type"] == "Ready") ready = condition["status"] == "True";
  EXPECT_TRUE(ready);
}

TEST(KubeletProbe, ResultFlipsOnlyAfterThresholdConsecutiveResults) {
  ProbeState readiness(ProbeKind::kReadiness, 2, 3);
  EXPECT_FALSE(readiness.result());
  EXPECT_FALSE(readiness.record(true));
  EXPECT_TRUE(readiness.record(true));  // 2 successes
  EXPECT_TRUE(readiness.result());
  EXPECT_FALSE(readiness.record(false));
  EXPECT_FALSE(readiness.record(false));
  EXPECT_FALSE(readiness.record(true));  // the run of failures is broken
  EXPECT_FALSE(readiness.record(false));
  EXPECT_FALSE(readiness.record(false));
  EXPECT_TRUE(readiness.record(false));  // 3 in a row
  EXPECT_FALSE(readiness.result());

  ProbeState startup(ProbeKind::kStartup, 1, 2);
  EXPECT_FALSE(startup.result());
  EXPECT_FALSE(startup.record(false));
  EXPECT_TRUE(startup.record(false));  // unknown -> failed is a verdict: kill
  EXPECT_FALSE(startup.result());

  ProbeState liveness(ProbeKind::kLiveness, 1, 1);
  EXPECT_TRUE(liveness.result());
  EXPECT_TRUE(liveness.record(false));
  EXPECT_FALSE(liveness.result());
}

TEST(KubeletProbe, NextProbeIsTheNextTickCountedFromTheWorkersStart) {
  const SteadyTime anchor{std::chrono::milliseconds(1000)};
  const Millis period(50);
  // The container started 30 ms after the worker; its first probe failed at
  // once: the retry is at the tick 20 ms later, not a whole period later.
  EXPECT_EQ(next_probe_tick(anchor + Millis(30), anchor, period), anchor + Millis(50));
  EXPECT_EQ(next_probe_tick(anchor + Millis(50), anchor, period),
            anchor + Millis(100));  // on a tick: the next
  EXPECT_EQ(next_probe_tick(anchor + Millis(149), anchor, period), anchor + Millis(150));
  EXPECT_EQ(next_probe_tick(anchor - Millis(5), anchor, period), anchor);
}

TEST(KubeletProbe, SpecIsParsedWithDefaultsNamedPortsAndScaledWithFloors) {
  json container = json::object();
  container["ports"] = json::array({json{{"name", "http"}, {"containerPort", 8080}}});
  container["readinessProbe"] = {{"httpGet", {{"path", "healthz"}, {"port", "http"}}},
                                 {"periodSeconds", 10},
                                 {"initialDelaySeconds", 4},
                                 {"successThreshold", 2}};
  container["livenessProbe"] = {
      {"tcpSocket", {{"port", 9000}}}, {"periodSeconds", 1}, {"successThreshold", 5}};
  container["startupProbe"] = {{"exec", {{"command", json::array({"cat", "/ready"})}}}};
  auto readiness = parse_probe(container, ProbeKind::kReadiness, 0.05);
  ASSERT_TRUE(readiness);
  EXPECT_EQ(readiness->action, ProbeSpec::Action::kHttpGet);
  EXPECT_EQ(readiness->port, 8080);
  EXPECT_EQ(readiness->path, "/healthz");
  EXPECT_EQ(readiness->period, 500ms);
  EXPECT_EQ(readiness->initial_delay, 200ms);
  EXPECT_EQ(readiness->timeout, 250ms);  // 1s x 0.05 = 50ms, floored
  EXPECT_EQ(readiness->success_threshold, 2);
  EXPECT_EQ(readiness->failure_threshold, 3);
  auto liveness = parse_probe(container, ProbeKind::kLiveness, 0.01);
  ASSERT_TRUE(liveness);
  EXPECT_EQ(liveness->action, ProbeSpec::Action::kTcpSocket);
  EXPECT_EQ(liveness->port, 9000);
  EXPECT_EQ(liveness->period, 50ms);  // 10ms floored
  EXPECT_EQ(liveness->success_threshold, 1);
  auto startup = parse_probe(container, ProbeKind::kStartup, 1.0);
  ASSERT_TRUE(startup);
  EXPECT_EQ(startup->command, (std::vector<std::string>{"cat", "/ready"}));
  EXPECT_EQ(startup->period, 10s);
  EXPECT_EQ(startup->timeout, 1s);
  EXPECT_FALSE(parse_probe(json::object(), ProbeKind::kReadiness, 1.0));
}

TEST(KubeletBackoff, FirstRestartIsImmediateThenDoublesToMaxAndResetsAfterALongRun) {
  CrashBackoff backoff(CrashBackoffPolicy{10s, 40s, 600s});
  EXPECT_EQ(backoff.delay(1s), 0ms);
  backoff.restarted();
  EXPECT_EQ(backoff.delay(1s), 10s);
  backoff.restarted();
  EXPECT_EQ(backoff.delay(1s), 20s);
  backoff.restarted();
  EXPECT_EQ(backoff.delay(1s), 40s);
  backoff.restarted();
  EXPECT_EQ(backoff.delay(1s), 40s);
  EXPECT_EQ(backoff.delay(600s), 0ms);  // ran for the reset time
}

TEST(KubeletOptions, TimeScaleMultipliesWithFloors) {
  EXPECT_EQ(scale_seconds(10, 0.05, kMinProbePeriod), 500ms);
  EXPECT_EQ(scale_seconds(30, 0.05, 0ms), 1500ms);
  EXPECT_EQ(scale_seconds(0, 0.05, 0ms), 0ms);
  EXPECT_EQ(scale_seconds(1, 0.01, kMinProbeTimeout), 250ms);
  EXPECT_EQ(relist_period(1.0), 1000ms);
  EXPECT_EQ(relist_period(0.01), 50ms);
}

Options valid_options() {
  Options o;
  o.master = {"http://127.5.0.21:6443"};
  o.node_name = "node-1";
  o.node_ip = "127.5.1.1";
  o.pod_cidr = "127.5.1.0/24";
  o.runtime_endpoint = "http://127.5.1.1:10010";
  return o;
}

TEST(KubeletOptions, ValidateNamesTheBadFlag) {
  EXPECT_TRUE(validate(valid_options()).ok());
  Options o = valid_options();
  o.node_ip = "node";
  auto bad = validate(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("--node-ip"), std::string::npos);
  o = valid_options();
  o.pod_time_scale = 0;
  EXPECT_FALSE(validate(o).ok());
  o = valid_options();
  o.crashloop_backoff_max = 1s;
  EXPECT_FALSE(validate(o).ok());
  o = valid_options();
  o.master.clear();
  EXPECT_FALSE(validate(o).ok());
}

TEST(KubeletLogs, TailKeepsTheLastLines) {
  EXPECT_EQ(tail("a\nb\nc\n", 2), "b\nc\n");
  EXPECT_EQ(tail("a\nb\nc", 1), "c");
  EXPECT_EQ(tail("a\nb\n", 5), "a\nb\n");
  EXPECT_EQ(tail("a\nb\n", 0), "");
}

TEST(KubeletNodeStatus, ReadyAndPressureConditionsWithUpstreamReasons) {
  NodeIdentity identity{"node-1", "127.5.1.1", "127.5.1.0/24", 10250};
  MachineInfo machine;
  machine.cpus = 2;
  machine.memory_kib = 1024;
  json current = json::object();
  current["status"]["conditions"] = json::array(
      {json{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", "2020-01-01T00:00:00Z"}},
       json{{"type", "MemoryPressure"},
            {"status", "Unknown"},
            {"lastTransitionTime", "2020-01-01T00:00:00Z"}}});
  const json status = make_node_status(identity, machine, current, std::chrono::system_clock::now());
  EXPECT_EQ(status["capacity"]["cpu"], "2");
  EXPECT_EQ(status["capacity"]["memory"], "1024Ki");
  EXPECT_EQ(status["allocatable"]["pods"], "110");
  EXPECT_EQ(status["addresses"][0]["type"], "InternalIP");
  EXPECT_EQ(status["addresses"][0]["address"], "127.5.1.1");
  EXPECT_EQ(status["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
  for (const auto& c : status["conditions"]) {
    if (c["type"] == "Ready") {
      EXPECT_EQ(c["status"], "True");
      EXPECT_EQ(c["reason"], "KubeletReady");
      EXPECT_EQ(c["message"], "kubelet is posting ready status");
      EXPECT_EQ(c["lastTransitionTime"], "2020-01-01T00:00:00Z");
    } else {
      EXPECT_EQ(c["status"], "False");
      if (c["type"] == "MemoryPressure") {
        EXPECT_EQ(c["reason"], "KubeletHasSufficientMemory");
        EXPECT_NE(c["lastTransitionTime"], "2020-01-01T00:00:00Z");
      }
    }
  }
  const json node = make_node(identity);
  EXPECT_EQ(node["spec"]["podCIDR"], "127.5.1.0/24");
  const json lease = make_node_lease("node-1", "uid-1", 40, std::chrono::system_clock::now());
  EXPECT_EQ(lease["spec"]["holderIdentity"], "node-1");
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 40);
  EXPECT_EQ(lease["metadata"]["ownerReferences"][0]["uid"], "uid-1");
}

}  // namespace
}  // namespace shakeout::kubelet
