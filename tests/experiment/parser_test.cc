// Experiment files into plans: a full file in YAML and in JSON, and a table
// of bad files, each with the exact place and field its error names.

#include <utility>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "experiment/parser.h"
#include "test_support.h"

namespace shakeout::experiment {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const fs::path kTestdata = SHAKEOUT_EXPERIMENT_TESTDATA;

std::string where_text(const SourceLocation& where) {
  return fmt::format("{}:{}:{}", where.file, where.line, where.column);
}

std::string all_errors(const ParseResult& result) {
  std::string out;
  for (const auto& e : result.errors) out += e.describe() + "\n";
  return out;
}

// Everything in a plan but where it came from, so a YAML file and its JSON
// twin compare equal.
std::string dump(const Experiment& e) {
  nlohmann::json out;
  out["name"] = e.name;
  out["description"] = e.description;
  const auto& c = e.cluster;
  out["cluster"] = {c.nodes,
                    c.etcd_members,
                    c.apiservers,
                    c.controller_managers,
                    c.schedulers,
                    c.profile,
                    c.time_scale.value_or(-1),
                    c.overrides};
  for (const auto& m : e.workload) out["workload"].push_back(m.object);
  for (const auto& p : e.probes) {
    out["probes"].push_back({p.name, to_string(p.kind), p.ns, p.service, p.deployment, p.path, p.url,
                             p.command, p.rate, p.timeout.count()});
  }
  out["steady_window"] = e.steady_window.count();
  for (const auto& s : e.steady_state) {
    out["steady"].push_back(
        {s.probe, s.success_ratio.value_or(-1), s.ready_equals_desired, s.ready.value_or(-1)});
  }
  for (const auto& f : e.faults) {
    out["faults"].push_back({f.at.count(),
                             to_string(f.action),
                             to_string(f.target.component),
                             f.target.selector,
                             f.target.text,
                             f.duration.value_or(-1ms).count(),
                             f.restart_after.value_or(-1ms).count(),
                             f.count.value_or(-1),
                             f.percent.value_or(-1),
                             static_cast<int>(f.direction),
                             f.toxicity,
                             f.latency.count(),
                             f.jitter.count(),
                             f.rate_kbps,
                             f.delay.count(),
                             f.timeout.count(),
                             f.bytes,
                             f.average_size,
                             f.size_variation,
                             f.links,
                             f.status,
                             f.error_percent,
                             f.verbs,
                             f.resources});
  }
  out["recovery"] = {e.recovery.timeout.count(), e.recovery.stable_for.count()};
  for (const auto& x : e.expect) {
    out["expect"].push_back({x.probe, x.recovered_within.value_or(-1ms).count(),
                             x.max_downtime.value_or(-1ms).count(), x.min_availability.value_or(-1),
                             x.max_time_to_impact.value_or(-1ms).count()});
  }
  out["repeat"] = e.repeat;
  out["seed"] = e.seed;
  return out.dump(1);
}

ParseResult parse_good(const std::string& name) {
  auto result = parse_experiment_file(kTestdata / name);
  EXPECT_TRUE(result.errors.empty()) << all_errors(result);
  EXPECT_TRUE(result.experiment.has_value());
  return result;
}

TEST(ExperimentParser, FullYamlFileBecomesThePlanItDescribes) {
  auto result = parse_good("good.yaml");
  ASSERT_TRUE(result.experiment);
  const Experiment& e = *result.experiment;
  const std::string yaml_file = (kTestdata / "good.yaml").string();
  const std::string web_file = (kTestdata / "manifests/web.yaml").string();
  EXPECT_EQ(e.file, kTestdata / "good.yaml");
  EXPECT_EQ(e.name, "etcd-leader-kill");
  EXPECT_EQ(e.description, "Kill the etcd leader under load");

  EXPECT_EQ(e.cluster.nodes, 3);
  EXPECT_EQ(e.cluster.etcd_members, 3);
  EXPECT_EQ(e.cluster.apiservers, 2);
  EXPECT_EQ(e.cluster.controller_managers, 2);
  EXPECT_EQ(e.cluster.schedulers, 1);
  EXPECT_EQ(e.cluster.profile, "fast");
  EXPECT_EQ(e.cluster.time_scale, 0.1);
  EXPECT_EQ(e.cluster.overrides, (std::map<std::string, std::string>{{"node-monitor-grace-period", "2s"},
                                                                     {"node-monitor-period", "500ms"}}));

  // The file's two documents (the trailing empty one skipped), then the inline object.
  ASSERT_EQ(e.workload.size(), 3U);
  EXPECT_EQ(e.workload[0].object["kind"], "Deployment");
  EXPECT_EQ(where_text(e.workload[0].where), web_file + ":2:1");
  const auto& deployment = e.workload[0].object;
  EXPECT_TRUE(deployment["spec"]["replicas"].is_number_integer());
  EXPECT_EQ(deployment["spec"]["replicas"], 3);
  EXPECT_EQ(deployment["spec"]["paused"], false);
  EXPECT_TRUE(deployment["spec"]["revisionHistoryLimit"].is_null());
  EXPECT_EQ(deployment["spec"]["template"]["spec"]["containers"][0]["args"],
            nlohmann::json::array({"--port", "8080"}));
  EXPECT_EQ(e.workload[1].object["kind"], "Service");
  EXPECT_EQ(where_text(e.workload[1].where), web_file + ":22:1");
  EXPECT_EQ(e.workload[1].object["spec"]["ports"][0]["port"], 80);
  EXPECT_EQ(e.workload[2].object["kind"], "ConfigMap");
  EXPECT_EQ(where_text(e.workload[2].where), yaml_file + ":21:7");
  // Quoted scalars stay strings.
  EXPECT_EQ(e.workload[2].object["data"], (nlohmann::json{{"replicas", "3"}, {"debug", "true"}}));

  ASSERT_EQ(e.probes.size(), 7U);
  EXPECT_EQ(e.probes[0].kind, ProbeKind::kService);  // inferred from service:
  EXPECT_EQ(e.probes[0].service, "web");
  EXPECT_EQ(e.probes[0].path, "/healthz");
  EXPECT_EQ(e.probes[0].rate, 200);
  EXPECT_EQ(e.probes[0].ns, "default");
  EXPECT_EQ(e.probes[0].timeout, 1000ms);
  EXPECT_EQ(where_text(e.probes[0].where), yaml_file + ":26:7");
  EXPECT_EQ(e.probes[1].kind, ProbeKind::kReplicas);  // deployment:
  EXPECT_EQ(e.probes[1].deployment, "web");
  EXPECT_EQ(e.probes[1].rate, 0);
  EXPECT_EQ(e.probes[2].kind, ProbeKind::kApi);   // by name
  EXPECT_EQ(e.probes[3].kind, ProbeKind::kEtcd);  // by name
  EXPECT_EQ(e.probes[3].timeout, 250ms);
  EXPECT_EQ(e.probes[4].kind, ProbeKind::kHttp);  // url:
  EXPECT_EQ(e.probes[4].url, "http://127.0.0.1:8080/ping");
  EXPECT_EQ(e.probes[4].path, "/ping");
  EXPECT_EQ(e.probes[5].kind, ProbeKind::kExec);  // command:
  EXPECT_EQ(e.probes[5].command, (std::vector<std::string>{"/bin/true", "--flag"}));
  EXPECT_EQ(e.probes[6].kind, ProbeKind::kService);  // type:
  EXPECT_EQ(e.probes[6].ns, "prod");

  EXPECT_EQ(e.steady_window, 2000ms);
  ASSERT_EQ(e.steady_state.size(), 3U);
  EXPECT_EQ(e.steady_state[0].probe, "web");
  EXPECT_EQ(e.steady_state[0].success_ratio, 0.999);
  EXPECT_FALSE(e.steady_state[0].ready_equals_desired);
  EXPECT_TRUE(e.steady_state[1].ready_equals_desired);
  EXPECT_FALSE(e.steady_state[1].ready);
  EXPECT_EQ(e.steady_state[2].ready, 3);

  // Sorted by `at`, stable: the two 5s faults keep their file order.
  ASSERT_EQ(e.faults.size(), 5U);
  EXPECT_EQ(e.faults[0].action, FaultAction::kKill);
  EXPECT_EQ(e.faults[0].at, 1000ms);
  EXPECT_EQ(e.faults[0].target.component, Component::kEtcd);
  EXPECT_EQ(e.faults[0].target.selector, "leader");
  EXPECT_EQ(e.faults[0].target.text, "etcd:leader");
  EXPECT_EQ(e.faults[0].restart_after, 5000ms);
  EXPECT_FALSE(e.faults[0].duration);
  EXPECT_EQ(where_text(e.faults[0].where), yaml_file + ":41:7");
  const auto& http = e.faults[1];
  EXPECT_EQ(http.action, FaultAction::kHttpError);
  EXPECT_EQ(http.target.component, Component::kApi);
  EXPECT_EQ(http.target.selector, "pods");
  EXPECT_EQ(http.duration, 1000ms);
  EXPECT_EQ(http.status, 500);
  EXPECT_EQ(http.error_percent, 25);
  EXPECT_FALSE(http.percent);
  EXPECT_EQ(http.verbs, (std::vector<std::string>{"get", "list"}));
  const auto& partition = e.faults[2];
  EXPECT_EQ(partition.action, FaultAction::kPartition);
  EXPECT_EQ(partition.at, 3000ms);
  EXPECT_EQ(partition.links, (std::vector<std::string>{"client->service/web", "apiserver-1->etcd-2"}));
  const auto& latency = e.faults[3];
  EXPECT_EQ(latency.action, FaultAction::kLatency);
  EXPECT_EQ(latency.target.component, Component::kLink);
  EXPECT_EQ(latency.target.selector, "kubelet/node-2->apiserver");
  EXPECT_EQ(latency.duration, 3000ms);
  EXPECT_EQ(latency.latency, 200ms);
  EXPECT_EQ(latency.jitter, 50ms);
  EXPECT_EQ(latency.direction, Direction::kDownstream);
  EXPECT_EQ(latency.toxicity, 0.5);
  EXPECT_EQ(where_text(latency.where), yaml_file + ":39:7");
  const auto& pods = e.faults[4];
  EXPECT_EQ(pods.action, FaultAction::kDelete);
  EXPECT_EQ(pods.target.component, Component::kPod);
  EXPECT_EQ(pods.target.selector, "app=web");
  EXPECT_EQ(pods.count, 2);

  EXPECT_EQ(e.recovery.timeout, 30000ms);
  EXPECT_EQ(e.recovery.stable_for, 2000ms);
  ASSERT_EQ(e.expect.size(), 2U);
  EXPECT_EQ(e.expect[0].probe, "replicas");
  EXPECT_EQ(e.expect[0].recovered_within, 10000ms);
  EXPECT_FALSE(e.expect[0].max_downtime);
  EXPECT_EQ(e.expect[1].max_downtime, 500ms);
  EXPECT_EQ(e.expect[1].min_availability, 0.95);
  EXPECT_EQ(e.expect[1].max_time_to_impact, 2000ms);
  EXPECT_EQ(e.repeat, 3);
  EXPECT_EQ(e.seed, 18446744073709551615ULL);
}

TEST(ExperimentParser, JsonTwinOfTheYamlFileGivesTheSamePlan) {
  auto yaml = parse_good("good.yaml");
  auto json = parse_good("good.json");
  ASSERT_TRUE(yaml.experiment && json.experiment);
  EXPECT_EQ(dump(*json.experiment), dump(*yaml.experiment));
  // Locations are the JSON file's own.
  const std::string json_file = (kTestdata / "good.json").string();
  EXPECT_EQ(where_text(json.experiment->workload[2].where), json_file + ":13:7");
  EXPECT_EQ(where_text(json.experiment->probes[1].where), json_file + ":18:7");
}

TEST(ExperimentParser, DefaultsFillWhatAMinimalFileLeavesOut) {
  auto result = parse_experiment_text(
      "apiVersion: shakeout/v1\nkind: Experiment\nmetadata: {name: m}\nspec: {}\n", "m.yaml", "");
  ASSERT_TRUE(result.experiment) << all_errors(result);
  const auto& e = *result.experiment;
  EXPECT_EQ(e.file, "m.yaml");
  EXPECT_EQ(e.cluster.nodes, 3);
  EXPECT_EQ(e.cluster.etcd_members, 1);
  EXPECT_EQ(e.cluster.profile, "fast");
  EXPECT_FALSE(e.cluster.time_scale);
  EXPECT_EQ(e.steady_window, 1000ms);
  EXPECT_EQ(e.recovery.timeout, 60000ms);
  EXPECT_EQ(e.recovery.stable_for, 1000ms);
  EXPECT_EQ(e.repeat, 1);
  EXPECT_EQ(e.seed, 0U);
  EXPECT_TRUE(e.workload.empty() && e.probes.empty() && e.faults.empty() && e.expect.empty());
}

TEST(ExperimentParser, AReplicasProbesRuntimeViewMayBeNamedInChecksAndExpectations) {
  auto result = parse_experiment_text(
      "apiVersion: shakeout/v1\nkind: Experiment\nmetadata: {name: m}\nspec:\n"
      "  probes: [{name: replicas, deployment: web}]\n"
      "  steadyState: [{probe: replicas/runtime, ready: desired}]\n"
      "  expect: [{probe: replicas/runtime, recoveredWithin: 5s}]\n",
      "m.yaml", "");
  ASSERT_TRUE(result.experiment) << all_errors(result);
  EXPECT_EQ(result.experiment->probes.size(), 1u);  // the view is the probe's, not a second spec
  EXPECT_EQ(result.experiment->expect.at(0).probe, "replicas/runtime");
  EXPECT_EQ(result.experiment->steady_state.at(0).probe, "replicas/runtime");
}

TEST(ExperimentParser, AScaleNamesAWorkloadDeploymentAndItsNewReplicas) {
  auto result = parse_experiment_text(
      "apiVersion: shakeout/v1\nkind: Experiment\nmetadata: {name: m}\nspec:\n"
      "  workload:\n"
      "    - {apiVersion: apps/v1, kind: Deployment, metadata: {name: web}}\n"
      "    - {apiVersion: apps/v1, kind: Deployment, metadata: {name: api, namespace: prod}}\n"
      "  faults:\n"
      "    - {at: 1s, action: scale, target: deployment:web, replicas: 5}\n"
      "    - {at: 2s, action: scale, target: deployment:prod/api, replicas: 0, duration: 3s}\n",
      "m.yaml", "");
  ASSERT_TRUE(result.experiment) << all_errors(result);
  const auto& faults = result.experiment->faults;
  ASSERT_EQ(faults.size(), 2u);
  EXPECT_EQ(faults[0].action, FaultAction::kScale);
  EXPECT_EQ(faults[0].target.component, Component::kDeployment);
  EXPECT_EQ(faults[0].target.selector, "web");
  EXPECT_EQ(faults[0].replicas, 5);
  EXPECT_FALSE(faults[0].duration);  // the new count stays
  EXPECT_EQ(faults[1].target.selector, "prod/api");
  EXPECT_EQ(faults[1].replicas, 0);
  EXPECT_EQ(faults[1].duration, 3000ms);
}

TEST(ExperimentParser, ListManifestExpandsToItsItemsAtTheirOwnLines) {
  const std::string text =
      "apiVersion: shakeout/v1\n"
      "kind: Experiment\n"
      "metadata: {name: l}\n"
      "spec:\n"
      "  workload:\n"
      "    - apiVersion: v1\n"
      "      kind: List\n"
      "      items:\n"
      "        - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
      "        - {apiVersion: v1, kind: Secret, metadata: {name: b}}\n";
  auto result = parse_experiment_text(text, "l.yaml", "");
  ASSERT_TRUE(result.experiment) << all_errors(result);
  const auto& workload = result.experiment->workload;
  ASSERT_EQ(workload.size(), 2U);
  EXPECT_EQ(workload[0].object["kind"], "ConfigMap");
  EXPECT_EQ(where_text(workload[0].where), "l.yaml:9:11");
  EXPECT_EQ(workload[1].object["metadata"]["name"], "b");
  EXPECT_EQ(where_text(workload[1].where), "l.yaml:10:11");
}

// ---------------------------------------------------------------------------
// Bad files. A row's `spec` is the body of `spec:` (it starts on line 5);
// a row with `full` set is the whole file. {dir} stands for the testdata
// directory, the base of workload paths.

struct BadFile {
  BadFile(const char* name, std::string spec, std::string expected, size_t errors = 1, bool full = false,
          const char* file_name = "bad.yaml")
      : name(name),
        spec(std::move(spec)),
        expected(std::move(expected)),
        errors(errors),
        full(full),
        file_name(file_name) {}

  const char* name;
  std::string spec;
  std::string expected;  // prefix of the first error's describe()
  size_t errors;         // how many errors the file has
  bool full;
  const char* file_name;
};

void PrintTo(const BadFile& row, std::ostream* out) {
  *out << row.name;
}

std::string substitute(std::string text) {
  const std::string token = "{dir}";
  for (auto at = text.find(token); at != std::string::npos; at = text.find(token))
    text.replace(at, token.size(), kTestdata.string());
  return text;
}

const std::vector<BadFile>& bad_files() {
  static const std::vector<BadFile> rows = {
      {"UnknownTopLevelKey", "apiVersion: shakeout/v1\nkind: Experiment\nmetadata: {name: t}\nspek: {}\n",
       "bad.yaml:1:1: spec: required", 2, true},
      {"MissingSpec", "apiVersion: shakeout/v1\nkind: Experiment\nmetadata: {name: t}\n",
       "bad.yaml:1:1: spec: required", 1, true},
      {"WrongApiVersion", "apiVersion: shakeout/v2\nkind: Experiment\nmetadata: {name: t}\nspec: {}\n",
       "bad.yaml:1:13: apiVersion: must be shakeout/v1, got 'shakeout/v2'", 1, true},
      {"MissingName", "apiVersion: shakeout/v1\nkind: Experiment\nmetadata: {description: x}\nspec: {}\n",
       "bad.yaml:3:11: metadata.name: required", 1, true},
      {"NameNotADnsLabel",
       "apiVersion: shakeout/v1\nkind: Experiment\nmetadata: {name: Bad_Name}\nspec: {}\n",
       "bad.yaml:3:18: metadata.name: 'Bad_Name' is not a valid name: a lowercase RFC 1123 label", 1, true},
      {"YamlSyntaxError", "apiVersion: shakeout/v1\nkind: Experiment\nmetadata: {name: t\nspec: {}\n",
       "bad.yaml:4:5: end of map flow not found", 1, true},
      {"JsonWithAStringForANumber",
       "{\n  \"apiVersion\": \"shakeout/v1\",\n  \"kind\": \"Experiment\",\n  \"metadata\": {\"name\": "
       "\"t\"},\n"
       "  \"spec\": {\"repeat\": \"3\"}\n}\n",
       "bad.json:5:22: spec.repeat: expected a whole number, got the string '3'", 1, true, "bad.json"},
      {"JsonSyntaxError",
       "{\n  \"apiVersion\": \"shakeout/v1\",\n  \"kind\": \"Experiment\"\n  \"metadata\": {\"name\": "
       "\"t\"}\n}\n",
       "bad.json:4:3: end of map flow not found", 1, true, "bad.json"},
      {"UnknownSpecKey", "  bogus: 1\n",
       "bad.yaml:5:3: spec.bogus: unknown key 'bogus' (expected one of cluster,"},
      {"DuplicateKey", "  repeat: 1\n  repeat: 2\n", "bad.yaml:6:3: spec.repeat: duplicate key 'repeat'"},
      {"UnknownProbeKey", "  probes: [{name: web, service: web, bogus: 1}]\n",
       "bad.yaml:5:38: spec.probes[0].bogus: unknown key 'bogus' (expected one of name, type,"},
      {"UnknownFaultKey", "  faults: [{at: 1s, action: kill, target: etcd:leader, bogus: 1}]\n",
       "bad.yaml:5:56: spec.faults[0].bogus: unknown key 'bogus' (expected one of at, action,"},
      {"BareNumberDuration", "  steadyFor: 5\n",
       "bad.yaml:5:14: spec.steadyFor: invalid duration '5' (use a number with a unit"},
      {"NegativeAt", "  faults: [{at: -1s, action: kill, target: etcd:leader}]\n",
       "bad.yaml:5:17: spec.faults[0].at: invalid duration '-1s'"},
      {"UnknownComponent", "  faults: [{at: 1s, action: kill, target: etcdd:leader}]\n",
       "bad.yaml:5:43: spec.faults[0].target: unknown component 'etcdd' (expected one of etcd, apiserver, "
       "controller-manager, scheduler, kubelet, runtime, proxy, node, pod, deployment, link, api)"},
      {"TargetWithoutSelector", "  faults: [{at: 1s, action: kill, target: etcd}]\n",
       "bad.yaml:5:43: spec.faults[0].target: expected component:selector"},
      {"UnknownAction", "  faults: [{at: 1s, action: nuke, target: etcd:leader}]\n",
       "bad.yaml:5:29: spec.faults[0].action: unknown action 'nuke' (expected one of kill, stop,"},
      {"ActionDoesNotFitComponent", "  faults: [{at: 1s, action: delete, target: etcd:leader}]\n",
       "bad.yaml:5:45: spec.faults[0].target: action 'delete' does not apply to etcd; it applies to pod"},
      {"EtcdFollowerWithOneMember",
       "  cluster: {etcdMembers: 1}\n  faults: [{at: 1s, action: kill, target: etcd:follower}]\n",
       "bad.yaml:6:43: spec.faults[0].target: etcd:follower needs at least 2 etcd members; the cluster has "
       "1"},
      {"EtcdMemberBeyondTheCluster",
       "  cluster: {etcdMembers: 3}\n  faults: [{at: 1s, action: stop, target: etcd:etcd-4}]\n",
       "bad.yaml:6:43: spec.faults[0].target: etcd-4 does not exist; the cluster has 3 etcd members"},
      {"NodeBeyondTheCluster",
       "  cluster: {nodes: 3}\n  faults: [{at: 1s, action: kill, target: kubelet:node-4}]\n",
       "bad.yaml:6:43: spec.faults[0].target: node-4 does not exist; the cluster has 3 nodes "
       "(node-1..node-3)"},
      {"StandbySchedulerWithOne", "  faults: [{at: 1s, action: kill, target: scheduler:standby}]\n",
       "bad.yaml:5:43: spec.faults[0].target: scheduler:standby needs at least 2 schedulers; the cluster has "
       "1"},
      {"EtcdMembersZero", "  cluster: {etcdMembers: 0}\n",
       "bad.yaml:5:26: spec.cluster.etcdMembers: must be between 1 and 7, got 0 (a cluster needs at least "
       "one "
       "etcd member)"},
      {"EtcdMembersTwo", "  cluster: {etcdMembers: 2}\n",
       "bad.yaml:5:26: spec.cluster.etcdMembers: must be 1 or 3, got 2"},
      {"TooManyNodes", "  cluster: {nodes: 51}\n",
       "bad.yaml:5:20: spec.cluster.nodes: must be between 1 and 50, got 51"},
      {"TimeScaleWithKubernetesProfile", "  cluster: {profile: kubernetes, timeScale: 0.5}\n",
       "bad.yaml:5:34: spec.cluster.timeScale: applies only to the fast profile (profile is kubernetes)"},
      {"UnknownProfileParameter", "  cluster:\n    parameters: {no-such-param: 2s}\n",
       "bad.yaml:6:18: spec.cluster.parameters.no-such-param: unknown timing parameter 'no-such-param'"},
      {"BadProfileParameterValue", "  cluster:\n    parameters: {node-monitor-grace-period: fast}\n",
       "bad.yaml:6:45: spec.cluster.parameters.node-monitor-grace-period: invalid duration 'fast'"},
      {"ElectionTimeoutBelowFiveHeartbeats",
       "  cluster:\n    parameters: {etcd-heartbeat-interval: 1s, etcd-election-timeout: 2s}\n",
       "bad.yaml:6:17: spec.cluster.parameters: etcd-election-timeout (2s) must be at least 5x "
       "etcd-heartbeat-interval (1s)"},
      {"SteadyStateNamesAMissingProbe",
       "  probes: [{name: web, service: web}]\n  steadyState: [{probe: nope, successRatio: 1}]\n",
       "bad.yaml:6:25: spec.steadyState[0].probe: no probe named 'nope' (defined: web)"},
      {"RuntimeViewOfAServiceProbe",
       "  probes: [{name: r, deployment: web}, {name: web, service: web}]\n"
       "  expect: [{probe: web/runtime, minAvailability: 1}]\n",
       "bad.yaml:6:20: spec.expect[0].probe: no probe named 'web/runtime' (defined: r, r/runtime, web)"},
      {"SuccessRatioAboveOne",
       "  probes: [{name: web, service: web}]\n  steadyState: [{probe: web, successRatio: 1.5}]\n",
       "bad.yaml:6:44: spec.steadyState[0].successRatio: must be between 0 and 1, got 1.5"},
      {"ReadyOnAServiceProbe",
       "  probes: [{name: web, service: web}]\n  steadyState: [{probe: web, ready: desired}]\n",
       "bad.yaml:6:30: spec.steadyState[0].ready: applies only to replicas probes; 'web' is a service probe"},
      {"PauseWithoutDuration", "  faults: [{at: 1s, action: pause, target: etcd:leader}]\n",
       "bad.yaml:5:12: spec.faults[0].duration: required for action 'pause'"},
      {"RebootWithoutRestartAfter", "  faults: [{at: 1s, action: reboot, target: node:node-1}]\n",
       "bad.yaml:5:12: spec.faults[0].restartAfter: required for action 'reboot'"},
      {"LatencyWithoutLatency",
       "  faults: [{at: 1s, action: latency, target: 'link:client->apiserver', duration: 1s}]\n",
       "bad.yaml:5:12: spec.faults[0].latency: required for action 'latency'"},
      {"RestartAfterOnDelete",
       "  faults: [{at: 1s, action: delete, target: pod:app=web, restartAfter: 5s}]\n",
       "bad.yaml:5:58: spec.faults[0].restartAfter: does not apply to action 'delete' (it applies to kill, "
       "stop, "
       "crash, reboot)"},
      {"CountOnAProcessKill", "  faults: [{at: 1s, action: kill, target: etcd:leader, count: 2}]\n",
       "bad.yaml:5:56: spec.faults[0].count: applies only to pod faults"},
      {"StatusOutOfRange",
       "  faults: [{at: 1s, action: http-error, target: api:all, duration: 1s, status: 600}]\n",
       "bad.yaml:5:80: spec.faults[0].status: must be between 400 and 599, got 600"},
      {"LinkFromKubeletToEtcd",
       "  faults: [{at: 1s, action: down, target: 'link:kubelet/node-1->etcd-1', duration: 1s}]\n",
       "bad.yaml:5:43: spec.faults[0].target: bad link 'kubelet/node-1->etcd-1': only apiservers talk to "
       "etcd"},
      {"LinkWithUnknownClient",
       "  faults: [{at: 1s, action: down, target: 'link:kubelet/node-9->apiserver', duration: 1s}]\n",
       "bad.yaml:5:43: spec.faults[0].target: bad link 'kubelet/node-9->apiserver': unknown client "
       "'kubelet/node-9'"},
      {"LinkToAServiceThroughAMissingNode",
       "  faults: [{at: 1s, action: down, target: 'link:client->service/web/node-9', duration: 1s}]\n",
       "bad.yaml:5:43: spec.faults[0].target: bad link 'client->service/web/node-9': unknown server "
       "'service/web/node-9'"},
      {"PodSelectorWithoutValue", "  faults: [{at: 1s, action: delete, target: pod:app}]\n",
       "bad.yaml:5:45: spec.faults[0].target: bad label selector 'app': 'app' has no '='"},
      {"ScaleWithoutReplicas",
       "  workload: [{apiVersion: apps/v1, kind: Deployment, metadata: {name: web}}]\n"
       "  faults: [{at: 1s, action: scale, target: deployment:web}]\n",
       "bad.yaml:6:12: spec.faults[0].replicas: required for action 'scale'"},
      {"ScaleOfADeploymentNotInTheWorkload",
       "  workload: [{apiVersion: apps/v1, kind: Deployment, metadata: {name: web}}]\n"
       "  faults: [{at: 1s, action: scale, target: deployment:api, replicas: 5}]\n",
       "bad.yaml:6:44: spec.faults[0].target: no Deployment 'api' in spec.workload (it has web)"},
      {"ScaleOfADeploymentInAnotherNamespace",
       "  workload: [{apiVersion: apps/v1, kind: Deployment, metadata: {name: web, namespace: prod}}]\n"
       "  faults: [{at: 1s, action: scale, target: deployment:web, replicas: 5}]\n",
       "bad.yaml:6:44: spec.faults[0].target: no Deployment 'web' in spec.workload (it has prod/web)"},
      {"ScaleToTooManyReplicas",
       "  workload: [{apiVersion: apps/v1, kind: Deployment, metadata: {name: web}}]\n"
       "  faults: [{at: 1s, action: scale, target: deployment:web, replicas: 1001}]\n",
       "bad.yaml:6:70: spec.faults[0].replicas: must be between 0 and 1000, got 1001"},
      {"ScaleOnAPod", "  faults: [{at: 1s, action: scale, target: pod:app=web, replicas: 5}]\n",
       "bad.yaml:5:44: spec.faults[0].target: action 'scale' does not apply to pod; it applies to "
       "deployment"},
      {"DeploymentTargetWithABadName",
       "  faults: [{at: 1s, action: scale, target: deployment:Web_1, replicas: 5}]\n",
       "bad.yaml:5:44: spec.faults[0].target: bad Deployment name 'Web_1'"},
      {"PartitionWithoutTargetOrLinks", "  faults: [{at: 1s, action: partition, duration: 1s}]\n",
       "bad.yaml:5:12: spec.faults[0].target: required (node:<node>), or set links"},
      {"MissingManifestFile", "  workload: [manifests/missing.yaml]\n",
       "bad.yaml:5:14: spec.workload[0]: cannot read manifest file '{dir}/manifests/missing.yaml': No such "
       "file or "
       "directory"},
      {"ManifestWithoutKind", "  workload: [manifests/no-kind.yaml]\n",
       "{dir}/manifests/no-kind.yaml:2:1: spec.workload[0]: document 1: the object has no kind"},
      {"InlineManifestWithoutName", "  workload: [{apiVersion: v1, kind: ConfigMap, metadata: {}}]\n",
       "bad.yaml:5:14: spec.workload[0]: the object has no metadata.name"},
      {"DuplicateProbeName", "  probes: [{name: web, service: web}, {name: web, deployment: web}]\n",
       "bad.yaml:5:46: spec.probes[1].name: duplicate probe name 'web' (also spec.probes[0])"},
      {"ProbeOfUnknowableType", "  probes: [{name: web}]\n",
       "bad.yaml:5:12: spec.probes[0].type: cannot tell the probe's type; set type"},
      {"DeploymentOnAServiceProbe", "  probes: [{name: web, service: web, deployment: web}]\n",
       "bad.yaml:5:38: spec.probes[0].deployment: does not apply to a service probe"},
      {"ZeroProbeRate", "  probes: [{name: web, service: web, rate: 0}]\n",
       "bad.yaml:5:44: spec.probes[0].rate: must be above 0 and at most 10000 per second, got 0"},
      {"HttpsProbeUrl", "  probes: [{name: ext, url: 'https://x:1/'}]\n",
       "bad.yaml:5:29: spec.probes[0].url: expected http://host:port/path, got 'https://x:1/'"},
      {"ExpectationWithoutCriterion", "  probes: [{name: web, service: web}]\n  expect: [{probe: web}]\n",
       "bad.yaml:6:12: spec.expect[0]: set at least one of recoveredWithin, maxDowntime, minAvailability, "
       "maxTimeToImpact"},
      {"RepeatZero", "  repeat: 0\n", "bad.yaml:5:11: spec.repeat: must be between 1 and 1000, got 0"},
  };
  return rows;
}

class BadExperimentFile : public ::testing::TestWithParam<BadFile> {};

TEST_P(BadExperimentFile, ReportsFileLineColumnAndField) {
  const auto& row = GetParam();
  const std::string text =
      row.full ? row.spec
               : "apiVersion: shakeout/v1\nkind: Experiment\nmetadata: {name: t}\nspec:\n" + row.spec;
  auto result = parse_experiment_text(text, row.file_name, kTestdata);
  EXPECT_FALSE(result.experiment);
  ASSERT_FALSE(result.errors.empty()) << text;
  const auto expected = substitute(row.expected);
  EXPECT_EQ(result.errors[0].describe().substr(0, expected.size()), expected) << all_errors(result);
  EXPECT_EQ(result.errors.size(), row.errors) << all_errors(result);
}

INSTANTIATE_TEST_SUITE_P(Table, BadExperimentFile, ::testing::ValuesIn(bad_files()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ExperimentParser, ReportsEveryErrorInFileOrder) {
  const std::string text =
      "apiVersion: shakeout/v1\n"
      "kind: Experiment\n"
      "metadata: {name: many, colour: blue}\n"
      "spec:\n"
      "  cluster: {nodes: 0}\n"
      "  faults:\n"
      "    - {at: 1s, action: pause, target: etcd:leader}\n"
      "    - {at: 2s, action: kill, target: 'pod:app=web', restartAfter: 1s}\n"
      "  probes: [{name: web, service: web, rate: fast}]\n"
      "  repeat: -1\n";
  auto result = parse_experiment_text(text, "many.yaml", "");
  EXPECT_FALSE(result.experiment);
  std::vector<std::string> described;
  for (const auto& e : result.errors) described.push_back(e.describe());
  EXPECT_EQ(described,
            (std::vector<std::string>{
                "many.yaml:3:24: metadata.colour: unknown key 'colour' (expected one of name, description)",
                "many.yaml:5:20: spec.cluster.nodes: must be between 1 and 50, got 0",
                "many.yaml:7:7: spec.faults[0].duration: required for action 'pause'",
                "many.yaml:8:53: spec.faults[1].restartAfter: does not apply to killing a pod (its kubelet "
                "restarts it)",
                "many.yaml:9:44: spec.probes[0].rate: expected a number, got 'fast'",
                "many.yaml:10:11: spec.repeat: must be between 1 and 1000, got -1",
            }));
  ASSERT_FALSE(result.errors.empty());
  EXPECT_EQ(result.errors[0].where.line, 3);
  EXPECT_EQ(result.errors[0].where.column, 24);
  EXPECT_EQ(result.errors[0].field, "metadata.colour");
}

TEST(ExperimentParser, UnreadableFileIsOneErrorNamingIt) {
  testing::TempDir dir;
  const auto missing = dir.path() / "nope.yaml";
  auto result = parse_experiment_file(missing);
  EXPECT_FALSE(result.experiment);
  ASSERT_EQ(result.errors.size(), 1U);
  EXPECT_EQ(result.errors[0].describe(), missing.string() + ": cannot read file: No such file or directory");
  auto directory = parse_experiment_file(dir.path());
  ASSERT_EQ(directory.errors.size(), 1U);
  EXPECT_EQ(directory.errors[0].describe(), dir.path().string() + ": cannot read file: it is a directory");
}

TEST(ExperimentParser, WorkloadPathsResolveAgainstTheFilesDirectory) {
  testing::TempDir dir;
  fs::create_directories(dir.path() / "sub" / "manifests");
  std::ofstream(dir.path() / "sub" / "manifests" / "cm.yaml")
      << "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
  std::ofstream(dir.path() / "sub" / "exp.yaml") << "apiVersion: shakeout/v1\nkind: Experiment\nmetadata: "
                                                    "{name: r}\nspec: {workload: [manifests/cm.yaml]}\n";
  auto result = parse_experiment_file(dir.path() / "sub" / "exp.yaml");
  ASSERT_TRUE(result.experiment) << all_errors(result);
  ASSERT_EQ(result.experiment->workload.size(), 1U);
  EXPECT_EQ(result.experiment->workload[0].object["metadata"]["name"], "c");
  EXPECT_EQ(where_text(result.experiment->workload[0].where),
            (dir.path() / "sub" / "manifests" / "cm.yaml").string() + ":1:1");
}

TEST(ExperimentParser, NamesRoundTripThroughToString) {
  EXPECT_EQ(to_string(ProbeKind::kReplicas), "replicas");
  EXPECT_EQ(to_string(Component::kControllerManager), "controller-manager");
  EXPECT_EQ(to_string(FaultAction::kCrashLoop), "crash-loop");
  EXPECT_EQ(to_string(FaultAction::kSlowClose), "slow_close");
  EXPECT_EQ(to_string(FaultAction::kDropWatch), "drop-watch");
  EXPECT_EQ(to_string(FaultAction::kScale), "scale");
  EXPECT_EQ(to_string(Component::kDeployment), "deployment");
}

}  // namespace
}  // namespace shakeout::experiment
