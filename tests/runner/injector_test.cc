// The Injector against one real cluster (3 etcd members, 2 controller
// managers, 2 nodes running web): each fault kind injects with an effect the
// test observes itself (process state, pids, API objects, requests through
// a link), and reverts.

#include "runner/injector.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/co_spawn.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>

#include "api/resource_registry.h"
#include "api_cluster.h"
#include "common/async.h"
#include "etcd/client.h"
#include "net/http_client.h"
#include "probes/probe.h"
#include "pump.h"

namespace shakeout::runner {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using experiment::Component;
using experiment::FaultAction;

const api::ResourceInfo& res(const char* group, const char* plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The process state letter of /proc/<pid>/stat ('S', 'R', 'T', ...).
char state_of(pid_t pid) {
  const std::string stat = slurp(fmt::format("/proc/{}/stat", pid));
  const auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

class InjectorTest : public ::testing::Test {
 protected:
  // The cluster boots in the first SetUp, not in SetUpTestSuite: a boot
  // failure there would only mark the tests skipped (ctest: not failed).
  // (ctest runs each test in its own process, so each boots one.)
  static void boot() {
    io_ = new asio::io_context;
    auto options = shakeout::testing::api_cluster_options("injector");
    options.etcd_members = 3;
    options.controller_managers = 2;
    options.schedulers = 1;
    options.nodes = 2;
    options.node_components = true;
    options.etcd_links = true;  // as `shakeout run` has them; the test pumps the io_context throughout
    // Gentler than fast's 0.05 (leases of 750 ms): this cluster has 3 etcd
    // members and 2 controller managers, and under ASan beside another test
    // the fast leases flapped. The crash loop keeps fast's 500 ms backoff.
    cluster::ProfileOptions profile;
    profile.time_scale = 0.2;
    profile.overrides["crashloop-backoff-initial"] = "500ms";
    options.profile = *cluster::Profile::make(profile);
    cluster_ = shakeout::testing::boot_cluster(*io_, options).release();
    if (cluster_ == nullptr) return;
    client::Config config;
    config.servers.push_back(*net::parse_endpoint(cluster_->apiserver_urls()[0]));
    config.bearer_token = cluster_->token("shakeout");
    api_ = new client::Client(io_->get_executor(), config);
    apply_web();
  }
  static void TearDownTestSuite() {
    delete api_;
    if (cluster_ != nullptr) run_blocking(*io_, cluster_->stop());
    delete cluster_;
    delete io_;
    api_ = nullptr;
    cluster_ = nullptr;
    io_ = nullptr;
  }
  void SetUp() override {
    if (io_ == nullptr) boot();
    ASSERT_NE(cluster_, nullptr) << "the cluster did not boot";
    client::Config config;
    config.servers.push_back(*net::parse_endpoint(cluster_->apiserver_urls()[0]));
    config.bearer_token = cluster_->token("shakeout");
    injector_ = std::make_unique<Injector>(io_->get_executor(), *cluster_, config, 7);
  }
  void TearDown() override {
    if (injector_) run_blocking(*io_, injector_->revert_all());
  }

  static void apply_web() {
    json deployment = json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {"name": "web", "namespace": "default"},
      "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
          "spec": {"containers": [{"name": "app", "image": "shakeout/app", "ports": [{"containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 1,
                               "failureThreshold": 1}}]}}}})");
    auto created = run_blocking(*io_, api_->create(res("apps", "deployments"), "default", deployment));
    ASSERT_TRUE(created.ok());
  }

  static std::vector<json> ready_pods() {
    client::ListOptions options;
    options.label_selector = "app=web";
    auto listed = run_blocking(*io_, api_->list(res("", "pods"), "default", options));
    std::vector<json> out;
    if (!listed.ok()) return out;
    for (const auto& pod : (*listed)["items"]) {
      if (pod["metadata"].contains("deletionTimestamp")) continue;
      const json conditions = pod.value("status", json::object()).value("conditions", json::array());
      for (const auto& condition : conditions)
        if (condition.value("type", "") == "Ready" && condition.value("status", "") == "True")
          out.push_back(pod);
    }
    return out;
  }

  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      shakeout::testing::pump(
          *io_, [] { return false; }, 20ms);
    }
    return true;
  }

  static experiment::FaultSpec fault(FaultAction action, Component component, const std::string& selector) {
    experiment::FaultSpec spec;
    spec.action = action;
    spec.target.component = component;
    spec.target.selector = selector;
    spec.target.text = std::string(experiment::to_string(component)) + ":" + selector;
    return spec;
  }

  std::shared_ptr<Injection> inject(const experiment::FaultSpec& spec) {
    auto injected = run_blocking(*io_, injector_->inject(spec));
    EXPECT_TRUE(injected.ok()) << injected.error().message;
    return injected.ok() ? *injected : nullptr;
  }

  // GET /version through a link's listening address, within `timeout`.
  Result<net::HttpResponse> through_link(const std::string& name, Millis timeout) {
    faults::Link* link = cluster_->link(name);
    EXPECT_NE(link, nullptr) << name;
    net::HttpClientConfig config;
    config.max_idle_per_endpoint = 0;
    net::HttpClient http(io_->get_executor(), config);
    net::HttpRequest request;
    request.target = "/version";
    return run_blocking(*io_, http.request(link->listen_endpoint(), request, timeout));
  }

  pid_t pid_of(const std::string& name) {
    auto info = cluster_->supervisor().info(name);
    return info && info->state != cluster::ProcessState::kExited ? info->pid : 0;
  }

  static asio::io_context* io_;
  static cluster::Cluster* cluster_;
  static client::Client* api_;
  std::unique_ptr<Injector> injector_;
};

asio::io_context* InjectorTest::io_ = nullptr;
cluster::Cluster* InjectorTest::cluster_ = nullptr;
client::Client* InjectorTest::api_ = nullptr;

TEST_F(InjectorTest, EtcdLeaderResolvesToTheMemberEtcdReportsAndKillWithRestartAfterBringsItBack) {
  etcd::Config config;
  config.endpoints = cluster_->etcd().client_urls();
  etcd::Client client(io_->get_executor(), config);
  auto leader = run_blocking(*io_, etcd::find_leader(client));
  ASSERT_TRUE(leader.ok());
  auto spec = fault(FaultAction::kKill, Component::kEtcd, "leader");
  spec.restart_after = 300ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  ASSERT_EQ(injection->processes.size(), 1u);
  const auto urls = cluster_->etcd().client_urls();
  const auto index = std::find(urls.begin(), urls.end(), leader->endpoint) - urls.begin();
  EXPECT_EQ(injection->processes[0], fmt::format("etcd-{}", index + 1));
  EXPECT_TRUE(wait_for([&] { return pid_of(injection->processes[0]) == 0; }, 5s))
      << "still running after kill";
  run_blocking(*io_, injector_->follow_schedule(injection));
  EXPECT_NE(pid_of(injection->processes[0]), 0) << "not restarted after restartAfter";
}

TEST_F(InjectorTest, TheEtcdProbeSeesANewLeaderAtAHigherTermAfterTheLeaderIsKilled) {
  experiment::ProbeSpec spec;
  spec.name = "etcd";
  spec.kind = experiment::ProbeKind::kEtcd;
  probes::ProbeContext context;
  context.executor = io_->get_executor();
  context.etcd_urls = cluster_->etcd().client_urls();
  auto probe = probes::make_probe(spec, context);
  bool done = false;
  const SteadyTime origin = system_clock().now();
  asio::co_spawn(*io_, probe->run(), [&](const std::exception_ptr&) { done = true; });
  ASSERT_TRUE(wait_for([&] { return probe->details(origin)["leaderChanges"].size() == 1; }, 10s));
  auto kill = fault(FaultAction::kKill, Component::kEtcd, "leader");
  // Back after 1 s, when the two others have long elected one of them. (After
  // 200 ms the old leader, its log as long as theirs, once won the election
  // it came back to: a new term, the same leader.)
  kill.restart_after = 1s;
  auto injection = inject(kill);
  ASSERT_TRUE(injection);
  run_blocking(*io_, injector_->follow_schedule(injection));
  EXPECT_TRUE(wait_for(
      [&] {
        const json changes = probe->details(origin)["leaderChanges"];
        const json& last = changes.back();
        return !last["leader"].get<std::string>().empty() && last["leader"] != changes[0]["leader"];
      },
      10s))
      << probe->details(origin).dump();
  probe->stop();
  ASSERT_TRUE(wait_for([&] { return done; }, 10s));
  const json changes = probe->details(origin)["leaderChanges"];
  EXPECT_GT(changes.back()["term"].get<uint64_t>(), changes[0]["term"].get<uint64_t>()) << changes.dump();
}

TEST_F(InjectorTest, PauseStopsTheProcessAndItsScheduleResumesIt) {
  auto spec = fault(FaultAction::kPause, Component::kKubelet, "node-1");
  spec.duration = 300ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  const pid_t pid = pid_of("kubelet-node-1");
  EXPECT_EQ(state_of(pid), 'T');
  run_blocking(*io_, injector_->follow_schedule(injection));
  EXPECT_NE(state_of(pid), 'T');
  EXPECT_EQ(pid_of("kubelet-node-1"), pid);
}

TEST_F(InjectorTest, StopEndsTheProcessGracefullyAndRestartAfterStartsItAgain) {
  const pid_t before = pid_of("kubelet-node-2");
  ASSERT_NE(before, 0);
  auto spec = fault(FaultAction::kStop, Component::kKubelet, "node-2");
  spec.restart_after = 300ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  ASSERT_TRUE(wait_for([&] { return pid_of("kubelet-node-2") == 0; }, 10s)) << "SIGTERM did not end it";
  const auto exit = cluster_->supervisor().info("kubelet-node-2")->last_exit;
  ASSERT_TRUE(exit);
  EXPECT_FALSE(exit->signaled && exit->code == SIGKILL) << exit->describe();
  run_blocking(*io_, injector_->follow_schedule(injection));
  const pid_t after = pid_of("kubelet-node-2");
  EXPECT_NE(after, 0);
  EXPECT_NE(after, before);
}

TEST_F(InjectorTest, CrashLoopKillsTheProcessEachTimeItIsBackAndLeavesItRunning) {
  const int restarts_before = cluster_->supervisor().info("proxy-node-2")->restarts;
  // Nothing restarts a proxy on its own: the loop starts it again every
  // crashloop-backoff-initial (500 ms fast) and kills it the tick after.
  auto spec = fault(FaultAction::kCrashLoop, Component::kProxy, "node-2");
  spec.duration = 1600ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  run_blocking(*io_, injector_->follow_schedule(injection));
  EXPECT_GE(cluster_->supervisor().info("proxy-node-2")->restarts - restarts_before, 2);
  EXPECT_NE(pid_of("proxy-node-2"), 0) << "the crash loop's end must leave it running";
}

TEST_F(InjectorTest, StandbyControllerManagerIsTheOneThatDoesNotLead) {
  auto leader = inject(fault(FaultAction::kRestart, Component::kControllerManager, "leader"));
  ASSERT_TRUE(leader);
  ASSERT_TRUE(wait_for(
      [&] { return pid_of("controller-manager-1") != 0 && pid_of("controller-manager-2") != 0; }, 10s));
  // After a restart of the leader, whichever holds the lease now, the
  // standby is the other one.
  ASSERT_TRUE(wait_for(
      [&] {
        auto standby = run_blocking(
            *io_, injector_->inject(fault(FaultAction::kPause, Component::kControllerManager, "standby")));
        if (!standby.ok()) return false;
        run_blocking(*io_, injector_->revert_all());
        auto now_leader = run_blocking(
            *io_, injector_->inject(fault(FaultAction::kPause, Component::kControllerManager, "leader")));
        run_blocking(*io_, injector_->revert_all());
        return now_leader.ok() && (*now_leader)->processes != (*standby)->processes;
      },
      20s));
}

TEST_F(InjectorTest, PodKillEndsTheContainerProcessAndTheKubeletRestartsIt) {
  ASSERT_TRUE(wait_for([&] { return ready_pods().size() == 2; }, 60s));
  auto injection = inject(fault(FaultAction::kKill, Component::kPod, "app=web"));
  ASSERT_TRUE(injection);
  ASSERT_EQ(injection->pods.size(), 1u);
  const pid_t killed = injection->pods[0].pid;
  EXPECT_TRUE(wait_for([&] { return !shakeout::testing::process_running(killed); }, 5s));
  EXPECT_TRUE(wait_for(
      [&] {
        auto pod = run_blocking(*io_, api_->get(res("", "pods"), "default", injection->pods[0].name));
        if (!pod.ok()) return false;
        const json statuses = (*pod)["status"].value("containerStatuses", json::array());
        return !statuses.empty() && statuses[0].value("restartCount", 0) >= 1;
      },
      30s));
}

TEST_F(InjectorTest, FailReadinessTakesThePodOutOfReadyUntilReverted) {
  ASSERT_TRUE(wait_for([&] { return ready_pods().size() == 2; }, 60s));
  auto spec = fault(FaultAction::kFailReadiness, Component::kPod, "app=web");
  spec.duration = 1500ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  EXPECT_TRUE(wait_for([&] { return ready_pods().size() == 1; }, 10s));
  run_blocking(*io_, injector_->follow_schedule(injection));
  EXPECT_TRUE(wait_for([&] { return ready_pods().size() == 2; }, 10s));
}

TEST_F(InjectorTest, PodDeleteRemovesItThroughTheApi) {
  ASSERT_TRUE(wait_for([&] { return ready_pods().size() == 2; }, 60s));
  auto injection = inject(fault(FaultAction::kDelete, Component::kPod, "app=web"));
  ASSERT_TRUE(injection);
  auto pod = run_blocking(*io_, api_->get(res("", "pods"), "default", injection->pods[0].name));
  EXPECT_TRUE(!pod.ok() || (*pod)["metadata"].contains("deletionTimestamp"));
  EXPECT_TRUE(wait_for([&] { return ready_pods().size() == 2; }, 60s)) << "no replacement";

  // A pod the selector finds in another namespace is deleted there.
  json ns = json::parse(R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})");
  ASSERT_TRUE(run_blocking(*io_, api_->create(res("", "namespaces"), "", ns)).ok());
  json solo = json::parse(R"({"apiVersion": "v1", "kind": "Pod",
      "metadata": {"name": "solo", "namespace": "other", "labels": {"app": "solo"}},
      "spec": {"containers": [{"name": "app", "image": "shakeout/app"}]}})");
  ASSERT_TRUE(run_blocking(*io_, api_->create(res("", "pods"), "other", solo)).ok());
  auto solo_phase = [&] {
    auto got = run_blocking(*io_, api_->get(res("", "pods"), "other", "solo"));
    if (!got.ok()) return std::string("gone");
    if ((*got)["metadata"].contains("deletionTimestamp")) return std::string("terminating");
    return (*got)["status"].value("phase", std::string());
  };
  ASSERT_TRUE(wait_for([&] { return solo_phase() == "Running"; }, 60s));
  auto other = inject(fault(FaultAction::kDelete, Component::kPod, "app=solo"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->pods.at(0).ns, "other");
  EXPECT_TRUE(wait_for([&] { return solo_phase() == "terminating" || solo_phase() == "gone"; }, 10s))
      << solo_phase();
}

TEST_F(InjectorTest, ScaleSetsTheDeploymentsReplicasAndItsDurationScalesItBack) {
  ASSERT_TRUE(wait_for([&] { return ready_pods().size() == 2; }, 60s));
  auto replicas = [&] {
    auto deployment = run_blocking(*io_, api_->get(res("apps", "deployments"), "default", "web"));
    return deployment.ok() ? (*deployment)["spec"].value("replicas", -1) : -1;
  };
  auto spec = fault(FaultAction::kScale, Component::kDeployment, "web");
  spec.replicas = 3;
  spec.duration = 500ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  EXPECT_EQ(injection->previous_replicas, 2);
  EXPECT_EQ(injection->resolved, "deployment default/web 2 -> 3");
  EXPECT_EQ(replicas(), 3);
  EXPECT_TRUE(wait_for([&] { return ready_pods().size() == 3; }, 60s)) << "no third pod";
  run_blocking(*io_, injector_->follow_schedule(injection));
  EXPECT_EQ(replicas(), 2) << "the duration's end scales back";
  EXPECT_TRUE(wait_for([&] { return ready_pods().size() == 2; }, 60s));

  // Without a duration the new count is the new desired state: reverting
  // every fault (as an aborted run does) leaves it.
  spec.duration.reset();
  spec.replicas = 1;
  ASSERT_TRUE(inject(spec));
  run_blocking(*io_, injector_->revert_all());
  EXPECT_EQ(replicas(), 1);

  auto missing = fault(FaultAction::kScale, Component::kDeployment, "nope");
  missing.replicas = 1;
  auto refused = run_blocking(*io_, injector_->inject(missing));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("deployment default/nope"), std::string::npos)
      << refused.error().message;
}

TEST_F(InjectorTest, LinkLatencyDelaysRequestsThroughTheLinkUntilReverted) {
  const std::string link = "kubelet/node-1->apiserver-1";
  auto spec = fault(FaultAction::kLatency, Component::kLink, "kubelet/node-1->apiserver");
  spec.latency = 300ms;
  spec.duration = 100ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  EXPECT_EQ(injection->links, std::vector<std::string>{link});
  auto start = std::chrono::steady_clock::now();
  auto slow = through_link(link, 5000ms);
  ASSERT_TRUE(slow.ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 600ms) << "latency both ways: 2 x 300 ms";
  run_blocking(*io_, injector_->follow_schedule(injection));
  // Reverted: the toxics are gone from the link, and a request no longer
  // pays the 2 x 300 ms.
  auto removed = cluster_->link(link)->remove_toxic(injection->toxics.at(0));
  ASSERT_FALSE(removed.ok()) << "the toxic was still on the link";
  EXPECT_EQ(removed.error().code, ErrorCode::kNotFound);
  start = std::chrono::steady_clock::now();
  ASSERT_TRUE(through_link(link, 5000ms).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 600ms) << "latency left after revert";
}

TEST_F(InjectorTest, PartitionBlackholesTheNodesLinksAndHealingLetsHeldRequestsThrough) {
  auto spec = fault(FaultAction::kPartition, Component::kNode, "node-2");
  spec.duration = 100ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  EXPECT_EQ(injection->links,
            (std::vector<std::string>{"kubelet/node-2->apiserver-1", "proxy/node-2->apiserver-1"}));
  auto held = through_link("proxy/node-2->apiserver-1", 500ms);
  EXPECT_FALSE(held.ok()) << "answered through a partition";
  EXPECT_TRUE(through_link("proxy/node-1->apiserver-1", 2000ms).ok()) << "another node was cut too";
  run_blocking(*io_, injector_->follow_schedule(injection));
  EXPECT_TRUE(through_link("proxy/node-2->apiserver-1", 2000ms).ok());
}

TEST_F(InjectorTest, LinkDownRefusesConnectionsUntilReverted) {
  auto spec = fault(FaultAction::kDown, Component::kLink, "scheduler-1->apiserver-1");
  spec.duration = 100ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  auto refused = through_link("scheduler-1->apiserver-1", 1000ms);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  run_blocking(*io_, injector_->follow_schedule(injection));
  EXPECT_TRUE(through_link("scheduler-1->apiserver-1", 2000ms).ok());
}

TEST_F(InjectorTest, LatencyOnAnApiserversEtcdLinksSlowsItsWritesUntilReverted) {
  auto spec = fault(FaultAction::kLatency, Component::kLink, "apiserver-1->etcd");
  spec.latency = 300ms;
  spec.duration = 100ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  EXPECT_EQ(injection->links,
            (std::vector<std::string>{"apiserver-1->etcd-1", "apiserver-1->etcd-2", "apiserver-1->etcd-3"}));
  // A write goes to etcd through one of them (the apiserver's etcd client
  // is given the links, not the members).
  auto write = [](const std::string& name) {
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", name}, {"namespace", "default"}}},
                  {"spec", {{"holderIdentity", "injector-test"}}}};
    const auto start = std::chrono::steady_clock::now();
    auto created = run_blocking(*io_, api_->create(res("coordination.k8s.io", "leases"), "default", lease));
    EXPECT_TRUE(created.ok()) << name;
    return std::chrono::steady_clock::now() - start;
  };
  EXPECT_GE(write("slow"), 300ms) << "the write did not pay the link's latency";
  run_blocking(*io_, injector_->follow_schedule(injection));
  EXPECT_LT(write("fast"), 300ms) << "latency left after revert";
}

// Last: the rebooted node restarts its pods for a while afterwards.
TEST_F(InjectorTest, NodeCrashKillsItsProcessesAndRebootStartsThemAgain) {
  auto spec = fault(FaultAction::kReboot, Component::kNode, "node-2");
  spec.restart_after = 200ms;
  auto injection = inject(spec);
  ASSERT_TRUE(injection);
  EXPECT_TRUE(wait_for([&] { return pid_of("runtime-node-2") == 0 && pid_of("kubelet-node-2") == 0; }, 5s));
  run_blocking(*io_, injector_->follow_schedule(injection));
  EXPECT_NE(pid_of("runtime-node-2"), 0);
  EXPECT_NE(pid_of("kubelet-node-2"), 0);
  EXPECT_NE(pid_of("proxy-node-2"), 0);
  EXPECT_TRUE(wait_for([&] { return ready_pods().size() == 2; }, 60s)) << "web did not come back";
}

}  // namespace
}  // namespace shakeout::runner
