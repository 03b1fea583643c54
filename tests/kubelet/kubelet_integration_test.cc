// The kubelet against a real cluster (etcd + apiserver from the shakeout
// binary) with a FakeRuntime in the test: registration, Lease, pod start
// and status, restarts with CrashLoopBackOff, restartPolicy Never, bad
// images, graceful deletion, adoption, probes and the kubelet API. Waits
// are generous and nothing is asserted on timing.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "api_cluster.h"
#include "client/client.h"
#include "client/timers.h"
#include "cluster/cluster.h"
#include "common/async.h"
#include "fake_runtime.h"
#include "kubelet/kubelet.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "pump.h"
#include "test_support.h"

namespace shakeout::kubelet {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

const api::ResourceInfo& res(const char* group, const char* plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}

constexpr const char* kApiToken = "kubelet-api-test-token";

class KubeletIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = shakeout::testing::api_cluster_options("kubelet");
    options.nodes = 1;
    cluster_ = shakeout::testing::boot_cluster(io_, options);
    ASSERT_TRUE(cluster_);
    client::Config config;
    for (const auto& url : cluster_->apiserver_urls()) config.servers.push_back(*net::parse_endpoint(url));
    config.bearer_token = cluster_->token("shakeout");
    config.request_timeout = 5000ms;
    client_ = std::make_unique<client::Client>(io_.get_executor(), config);
    dir_ = cluster_->run_dir().path() / "kubelet-test";
    fs::create_directories(dir_);
    std::ofstream(dir_ / "kubelet-tokens.csv") << kApiToken << ",tester,1,\"system:masters\"\n";
    runtime_ = std::make_unique<testing::FakeRuntime>(dir_);
  }

  void TearDown() override {
    stop_kubelet();
    client_.reset();
    if (cluster_) run_blocking(io_, cluster_->stop());
    cluster_.reset();
  }

  Options kubelet_options() {
    Options o;
    o.master = cluster_->apiserver_urls();
    o.token = cluster_->token("system:node:node-1");
    o.node_name = "node-1";
    o.node_ip = cluster_->addresses().node_ip(1);
    o.pod_cidr = cluster_->addresses().pod_cidr(1);
    o.runtime_endpoint = fmt::format("http://{}:10010", o.node_ip);
    o.port = 0;
    o.authentication_token_file = (dir_ / "kubelet-tokens.csv").string();
    o.node_status_update_frequency = 300ms;
    o.node_lease_renew_interval = 200ms;
    o.node_lease_duration = 2s;
    o.crashloop_backoff_initial = 3s;
    o.crashloop_backoff_max = 12s;
    o.pod_time_scale = 0.1;
    o.request_timeout = 5s;
    return o;
  }

  void start_kubelet(const Options& options) {
    kubelet_ =
        std::make_unique<Kubelet>(io_.get_executor(), options, *runtime_, client::real_timers(), random_);
    auto started = kubelet_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    kubelet_done_ = false;
    asio::co_spawn(io_, kubelet_->run(), [this](const std::exception_ptr&, int) { kubelet_done_ = true; });
  }
  void start_kubelet() { start_kubelet(kubelet_options()); }

  void stop_kubelet() {
    if (!kubelet_) return;
    kubelet_->stop();
    EXPECT_TRUE(shakeout::testing::pump(
        io_, [this] { return kubelet_done_; }, 20s));
    kubelet_.reset();
  }

  api::ApiResult<json> get(const api::ResourceInfo& resource, const std::string& ns,
                           const std::string& name) {
    return run_blocking(io_, client_->get(resource, ns, name));
  }

  // Polls `done` every 100ms (running the kubelet meanwhile) until it holds.
  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      shakeout::testing::pump(
          io_, [] { return false; }, 100ms);
    }
    return true;
  }

  // Waits until the pod's status satisfies `predicate`; the last pod seen.
  json wait_for_pod(const std::string& name, const std::function<bool(const json&)>& predicate,
                    std::chrono::milliseconds timeout = 60s) {
    json last;
    const bool ok = wait_for(
        [&] {
          auto pod = get(res("", "pods"), "default", name);
          if (!pod) return false;
          last = *pod;
          return predicate(last);
        },
        timeout);
    EXPECT_TRUE(ok) << "pod " << name << " never matched; last: " << last.dump();
    return last;
  }

  json create_pod(const std::string& name, const json& spec_overrides) {
    json pod = json::object();
    pod["apiVersion"] = "v1";
    pod["kind"] = "Pod";
    pod["metadata"]["name"] = name;
    pod["metadata"]["namespace"] = "default";
    pod["metadata"]["labels"]["app"] = name;
    pod["spec"]["nodeName"] = "node-1";
    json container = json::object();
    container["name"] = "app";
    container["image"] = "shakeout/app:1";
    pod["spec"]["containers"] = json::array({container});
    pod["spec"].update(spec_overrides);
    auto created = run_blocking(io_, client_->create(res("", "pods"), "default", pod));
    EXPECT_TRUE(created.ok()) << (created ? "" : created.error().message());
    return created ? *created : json();
  }

  static const json* condition(const json& object, const std::string& type) {
    if (!object.contains("status") || !object["status"].contains("conditions")) return nullptr;
    for (const auto& c : object["status"]["conditions"])
      if (c.value("type", "") == type) return &c;
    return nullptr;
  }
  static bool condition_is(const json& object, const std::string& type, const std::string& status) {
    const json* c = condition(object, type);
    return c != nullptr && c->value("status", "") == status;
  }
  static json container_status(const json& pod) {
    if (!pod.contains("status") || !pod["status"].contains("containerStatuses") ||
        pod["status"]["containerStatuses"].empty())
      return json::object();
    return pod["status"]["containerStatuses"][0];
  }
  static std::string waiting_reason(const json& pod) {
    const json cs = container_status(pod);
    if (!cs.contains("state") || !cs["state"].contains("waiting")) return "";
    return cs["state"]["waiting"].value("reason", "");
  }
  static std::string uid_of(const json& object) { return object["metadata"].value("uid", ""); }

  bool has_event(const std::string& pod, const std::string& reason) {
    auto events = run_blocking(io_, client_->list(res("", "events"), "default", client::ListOptions{}));
    if (!events) return false;
    for (const auto& e : (*events)["items"])
      if (e["involvedObject"].value("name", "") == pod && e.value("reason", "") == reason) return true;
    return false;
  }

  bool running_ready(const json& pod) {
    return pod.contains("status") && pod["status"].value("phase", "") == "Running" &&
           condition_is(pod, "Ready", "True");
  }

  asio::io_context io_;
  std::unique_ptr<cluster::Cluster> cluster_;
  std::unique_ptr<client::Client> client_;
  fs::path dir_;
  std::unique_ptr<testing::FakeRuntime> runtime_;
  client::SeededRandom random_{7};
  std::unique_ptr<Kubelet> kubelet_;
  bool kubelet_done_ = true;
};

TEST_F(KubeletIntegrationTest, RegistersTheNodeReadyAndRenewsItsLease) {
  start_kubelet();
  json node;
  ASSERT_TRUE(wait_for(
      [&] {
        auto got = get(res("", "nodes"), "", "node-1");
        if (got) node = *got;
        return got && condition_is(node, "Ready", "True");
      },
      30s));
  const json* ready = condition(node, "Ready");
  EXPECT_EQ(ready->value("reason", ""), "KubeletReady");
  EXPECT_EQ(node["spec"]["podCIDR"], cluster_->addresses().pod_cidr(1));
  EXPECT_EQ(node["status"]["addresses"][0]["address"], cluster_->addresses().node_ip(1));
  EXPECT_EQ(node["status"]["allocatable"]["pods"], "110");
  EXPECT_TRUE(condition_is(node, "MemoryPressure", "False"));

  std::string first_renew;
  ASSERT_TRUE(wait_for(
      [&] {
        auto lease = get(res("coordination.k8s.io", "leases"), "kube-node-lease", "node-1");
        if (!lease) return false;
        first_renew = (*lease)["spec"].value("renewTime", "");
        EXPECT_EQ((*lease)["spec"].value("holderIdentity", ""), "node-1");
        EXPECT_EQ((*lease)["spec"].value("leaseDurationSeconds", 0), 2);
        return !first_renew.empty();
      },
      30s));
  EXPECT_TRUE(wait_for(
      [&] {
        auto lease = get(res("coordination.k8s.io", "leases"), "kube-node-lease", "node-1");
        return lease && (*lease)["spec"].value("renewTime", "") != first_renew;
      },
      30s))
      << "the Lease was not renewed";
}

TEST_F(KubeletIntegrationTest, NodeIsReadyUnderTheNodeLifecycleControllerAndUnknownOnceTheKubeletStops) {
  auto spec = shakeout::testing::controller_manager_spec(
      *cluster_, 1,
      {"--leader-elect", "false", "--controllers", "node-lifecycle", "--node-monitor-period", "100ms",
       "--node-monitor-grace-period", "1500ms"});
  ASSERT_TRUE(cluster_->supervisor().start(spec).ok());
  start_kubelet();
  const auto ready_is = [this](const std::string& status) {
    auto node = get(res("", "nodes"), "", "node-1");
    return node && condition_is(*node, "Ready", status);
  };
  ASSERT_TRUE(wait_for([&] { return ready_is("True"); }, 30s));
  // Well past the grace period the controller still sees a live node.
  wait_for([] { return false; }, 3s);
  EXPECT_TRUE(ready_is("True"));
  stop_kubelet();
  EXPECT_TRUE(wait_for([&] { return ready_is("Unknown"); }, 30s)) << "the node never turned Unknown";
}

TEST_F(KubeletIntegrationTest, BoundPodRunsReadyWithStatusAndEnvironment) {
  json service = json::object();
  service["apiVersion"] = "v1";
  service["kind"] = "Service";
  service["metadata"]["name"] = "web";
  service["metadata"]["namespace"] = "default";
  service["spec"]["ports"] = json::array({json{{"name", "http"}, {"port", 80}}});
  ASSERT_TRUE(run_blocking(io_, client_->create(res("", "services"), "default", service)).ok());
  start_kubelet();
  // Let the services informer sync before the pod arrives.
  wait_for([] { return false; }, 1s);
  json overrides = json::object();
  json container = json::object();
  container["name"] = "app";
  container["image"] = "shakeout/app:1";
  container["env"] = json::array({json{{"name", "GREETING"}, {"value", "hello"}}});
  overrides["containers"] = json::array({container});
  const json created = create_pod("web-1", overrides);
  const json pod = wait_for_pod("web-1", [this](const json& p) { return running_ready(p); });
  const json cs = container_status(pod);
  ASSERT_TRUE(runtime_->running(uid_of(created), "app"));
  const auto* running = runtime_->running(uid_of(created), "app");
  EXPECT_EQ(cs.value("containerID", ""), "shakeout://" + running->id);
  EXPECT_EQ(cs.value("restartCount", -1), 0);
  EXPECT_TRUE(cs.value("ready", false));
  EXPECT_TRUE(cs.value("started", false));
  EXPECT_TRUE(cs["state"].contains("running"));
  EXPECT_EQ(pod["status"].value("podIP", ""), runtime_->sandboxes.at(uid_of(created)).ip);
  // The sandbox carries the pod's labels (CRI's PodSandboxConfig.labels).
  EXPECT_EQ(runtime_->sandboxes.at(uid_of(created)).labels,
            (std::map<std::string, std::string>{{"app", "web-1"}}));
  EXPECT_EQ(pod["status"].value("hostIP", ""), cluster_->addresses().node_ip(1));
  EXPECT_FALSE(pod["status"].value("startTime", "").empty());
  EXPECT_TRUE(condition_is(pod, "ContainersReady", "True"));
  EXPECT_TRUE(condition_is(pod, "Initialized", "True"));
  const auto& env = runtime_->configs.at(running->id).env;
  EXPECT_EQ(env.at("POD_NAME"), "web-1");
  EXPECT_EQ(env.at("GREETING"), "hello");
  EXPECT_EQ(env.at("HOST_IP"), cluster_->addresses().node_ip(1));
  EXPECT_EQ(env.at("WEB_SERVICE_HOST"), cluster_->addresses().node_ip(1));
  EXPECT_EQ(env.at("WEB_SERVICE_PORT"), "80");
  EXPECT_TRUE(wait_for([&] { return has_event("web-1", "Started"); }, 10s));
  // Nothing changes: the status is not written again (relists every 100ms).
  wait_for([] { return false; }, 500ms);
  const uint64_t writes = kubelet_->counters().pod_status_updates_total;
  wait_for([] { return false; }, 1500ms);
  EXPECT_EQ(kubelet_->counters().pod_status_updates_total, writes);
}

TEST_F(KubeletIntegrationTest, ExitedContainerRestartsThenBacksOffWithCrashLoopBackOff) {
  start_kubelet();
  const json created = create_pod("crash", json::object());
  const std::string uid = uid_of(created);
  wait_for_pod("crash", [this](const json& p) { return running_ready(p); });
  runtime_->exit(runtime_->running(uid, "app")->id, 1);
  // First exit: restarted at once.
  json pod = wait_for_pod("crash", [this](const json& p) {
    return container_status(p).value("restartCount", 0) == 1 && running_ready(p);
  });
  EXPECT_EQ(container_status(pod)["lastState"]["terminated"].value("exitCode", 0), 1);
  // Second exit: back-off before the next restart.
  ASSERT_TRUE(runtime_->running(uid, "app"));
  runtime_->exit(runtime_->running(uid, "app")->id, 1);
  pod = wait_for_pod("crash", [](const json& p) { return waiting_reason(p) == "CrashLoopBackOff"; });
  const std::string message = container_status(pod)["state"]["waiting"].value("message", "");
  EXPECT_EQ(message, fmt::format("back-off 3s restarting failed container=app pod=crash_default({})", uid));
  EXPECT_TRUE(condition_is(pod, "Ready", "False"));
  pod = wait_for_pod("crash", [this](const json& p) {
    return container_status(p).value("restartCount", 0) == 2 && running_ready(p);
  });
  EXPECT_TRUE(has_event("crash", "BackOff"));
}

TEST_F(KubeletIntegrationTest, RestartPolicyNeverEndsFailed) {
  start_kubelet();
  json overrides = json::object();
  overrides["restartPolicy"] = "Never";
  const json created = create_pod("once", overrides);
  wait_for_pod("once", [this](const json& p) { return running_ready(p); });
  runtime_->exit(runtime_->running(uid_of(created), "app")->id, 3);
  const json pod =
      wait_for_pod("once", [](const json& p) { return p["status"].value("phase", "") == "Failed"; });
  const json cs = container_status(pod);
  EXPECT_EQ(cs["state"]["terminated"].value("exitCode", 0), 3);
  EXPECT_EQ(cs.value("restartCount", -1), 0);
  EXPECT_EQ(runtime_->starts, 1);
}

TEST_F(KubeletIntegrationTest, UnrunnableImageWaitsWithErrImagePullAndAnEvent) {
  start_kubelet();
  json overrides = json::object();
  json container = json::object();
  container["name"] = "app";
  container["image"] = "registry.example/nope:1";
  overrides["containers"] = json::array({container});
  create_pod("bad", overrides);
  const json pod = wait_for_pod("bad", [](const json& p) { return waiting_reason(p) == "ErrImagePull"; });
  EXPECT_EQ(pod["status"].value("phase", ""), "Pending");
  EXPECT_TRUE(wait_for([&] { return has_event("bad", "Failed"); }, 10s));
  EXPECT_EQ(runtime_->starts, 0);
}

TEST_F(KubeletIntegrationTest, DeletionStopsWithTheGracePeriodThenDeletesThePod) {
  start_kubelet();
  json overrides = json::object();
  overrides["terminationGracePeriodSeconds"] = 30;
  const json created = create_pod("bye", overrides);
  const std::string uid = uid_of(created);
  wait_for_pod("bye", [this](const json& p) { return running_ready(p); });
  const std::string id = runtime_->running(uid, "app")->id;
  client::DeleteOptions options;
  options.grace_period_seconds = 20;
  ASSERT_TRUE(run_blocking(io_, client_->remove(res("", "pods"), "default", "bye", options)).ok());
  EXPECT_TRUE(wait_for(
      [&] {
        auto pod = get(res("", "pods"), "default", "bye");
        return !pod && client::is_not_found(pod.error());
      },
      60s))
      << "the pod was not deleted";
  ASSERT_EQ(runtime_->stops.size(), 1u);
  EXPECT_EQ(runtime_->stops[0].id, id);
  EXPECT_EQ(runtime_->stops[0].timeout_ms, 2000);  // 20s x --pod-time-scale 0.1
  ASSERT_EQ(runtime_->removed_sandboxes.size(), 1u);
  EXPECT_EQ(runtime_->removed_sandboxes[0], uid);
  EXPECT_TRUE(has_event("bye", "Killing"));
}

TEST_F(KubeletIntegrationTest, PodRemovedFromTheApiIsTornDown) {
  start_kubelet();
  const json created = create_pod("gone", json::object());
  const std::string uid = uid_of(created);
  wait_for_pod("gone", [this](const json& p) { return running_ready(p); });
  // Force-deleted by someone else: the kubelet only sees it vanish.
  client::DeleteOptions options;
  options.grace_period_seconds = 0;
  ASSERT_TRUE(run_blocking(io_, client_->remove(res("", "pods"), "default", "gone", options)).ok());
  EXPECT_TRUE(wait_for([&] { return runtime_->sandboxes.count(uid) == 0; }, 30s));
  ASSERT_EQ(runtime_->stops.size(), 1u);
  EXPECT_EQ(runtime_->removed_sandboxes, std::vector<std::string>{uid});
}

TEST_F(KubeletIntegrationTest, ContainersLostByARestartedRuntimeRunAgainInANewSandbox) {
  start_kubelet();
  const json created = create_pod("reboot", json::object());
  const std::string uid = uid_of(created);
  const json before = wait_for_pod("reboot", [this](const json& p) { return running_ready(p); });
  // The runtime restarted (a rebooted node): it knows nothing any more.
  runtime_->sandboxes.clear();
  runtime_->containers.clear();
  const json after = wait_for_pod("reboot", [this](const json& p) {
    return container_status(p).value("restartCount", 0) == 1 && running_ready(p);
  });
  EXPECT_EQ(container_status(after)["lastState"]["terminated"].value("reason", ""), "ContainerStatusUnknown");
  ASSERT_EQ(runtime_->sandboxes.count(uid), 1u);
  EXPECT_EQ(after["status"].value("podIP", ""), runtime_->sandboxes.at(uid).ip);
  EXPECT_NE(after["status"].value("podIP", ""), before["status"].value("podIP", ""));
}

TEST_F(KubeletIntegrationTest, RestartedKubeletAdoptsRunningContainersAndRemovesOrphans) {
  start_kubelet();
  const json created = create_pod("keep", json::object());
  const std::string uid = uid_of(created);
  wait_for_pod("keep", [this](const json& p) { return running_ready(p); });
  const std::string id = runtime_->running(uid, "app")->id;
  stop_kubelet();
  // A sandbox of a pod the API does not know.
  runtime_->sandboxes["orphan-uid"] =
      runtime::PodSandbox{"orphan-uid", "default", "ghost", "127.0.1.200", 0, {}};
  const int starts = runtime_->starts;
  start_kubelet();
  ASSERT_TRUE(wait_for([&] { return kubelet_->counters().containers_adopted_total == 1; }, 30s));
  EXPECT_TRUE(wait_for([&] { return runtime_->sandboxes.count("orphan-uid") == 0; }, 30s));
  // Several relists later: the same container, no new start, still ready.
  wait_for([] { return false; }, 1500ms);
  EXPECT_EQ(runtime_->starts, starts);
  ASSERT_TRUE(runtime_->running(uid, "app"));
  EXPECT_EQ(runtime_->running(uid, "app")->id, id);
  const json pod = wait_for_pod("keep", [this](const json& p) { return running_ready(p); });
  EXPECT_EQ(container_status(pod).value("containerID", ""), "shakeout://" + id);
  EXPECT_EQ(container_status(pod).value("restartCount", -1), 0);
}

TEST_F(KubeletIntegrationTest, ProbesDriveReadinessAndLivenessRestarts) {
  start_kubelet();
  json overrides = json::object();
  json container = json::object();
  container["name"] = "app";
  container["image"] = "shakeout/app:1";
  container["readinessProbe"] = {{"exec", {{"command", json::array({"true"})}}}, {"periodSeconds", 1}};
  container["livenessProbe"] = {
      {"exec", {{"command", json::array({"true"})}}}, {"periodSeconds", 1}, {"failureThreshold", 3}};
  overrides["containers"] = json::array({container});
  const json created = create_pod("probed", overrides);
  wait_for_pod("probed", [this](const json& p) { return running_ready(p); });
  runtime_->exec_fails = true;
  // Readiness fails first (threshold 3 as well): not ready; liveness then
  // kills and restarts the container.
  const json pod =
      wait_for_pod("probed", [](const json& p) { return container_status(p).value("restartCount", 0) >= 1; });
  EXPECT_TRUE(has_event("probed", "Unhealthy"));
  EXPECT_TRUE(has_event("probed", "Killing"));
  runtime_->exec_fails = false;
  wait_for_pod("probed", [this](const json& p) { return running_ready(p); });
}

TEST_F(KubeletIntegrationTest, StartupProbeHoldsReadinessAndRestartsAContainerThatNeverStarts) {
  runtime_->exec_fails = true;
  start_kubelet();
  json overrides = json::object();
  json container = json::object();
  container["name"] = "app";
  container["image"] = "shakeout/app:1";
  container["startupProbe"] = {
      {"exec", {{"command", json::array({"true"})}}}, {"periodSeconds", 1}, {"failureThreshold", 3}};
  overrides["containers"] = json::array({container});
  create_pod("slow-start", overrides);
  json pod = wait_for_pod("slow-start", [](const json& p) {
    return p.contains("status") && p["status"].value("phase", "") == "Running";
  });
  EXPECT_FALSE(container_status(pod).value("started", true));
  EXPECT_FALSE(condition_is(pod, "Ready", "True"));
  pod = wait_for_pod("slow-start",
                     [](const json& p) { return container_status(p).value("restartCount", 0) >= 1; });
  EXPECT_TRUE(has_event("slow-start", "Unhealthy"));
  runtime_->exec_fails = false;
  pod = wait_for_pod("slow-start", [this](const json& p) { return running_ready(p); });
  EXPECT_TRUE(container_status(pod).value("started", false));
}

TEST_F(KubeletIntegrationTest, HttpGetReadinessAndTcpSocketLivenessProbesReachTheirTarget) {
  // The pod's "server": answers the readiness path 200 or 503 as the test says.
  bool healthy = false;
  std::string seen_header;
  net::HttpServerConfig config;
  config.address = "127.0.0.1";
  net::HttpServer server(
      io_.get_executor(), config,
      [&](net::ServerRequest& request, net::ResponseWriter& writer) -> asio::awaitable<void> {
        net::ServerResponse response;
        if (request.path == "/ready") seen_header = std::string(request.header("X-Probe"));
        response.status = request.path == "/ready" && healthy ? 200 : 503;
        co_await writer.send(std::move(response));
      });
  ASSERT_TRUE(server.start().ok());
  start_kubelet();
  json overrides = json::object();
  json container = json::object();
  container["name"] = "app";
  container["image"] = "shakeout/app:1";
  container["ports"] = json::array({json{{"name", "web"}, {"containerPort", server.port()}}});
  container["readinessProbe"] = {
      {"httpGet",
       {{"host", "127.0.0.1"},
        {"path", "/ready"},
        {"port", "web"},
        {"httpHeaders", json::array({json{{"name", "X-Probe"}, {"value", "yes"}}})}}},
      {"periodSeconds", 1},
      {"failureThreshold", 1}};
  container["livenessProbe"] = {{"tcpSocket", {{"host", "127.0.0.1"}, {"port", server.port()}}},
                                {"periodSeconds", 1},
                                {"failureThreshold", 2}};
  overrides["containers"] = json::array({container});
  create_pod("web-probed", overrides);
  json pod = wait_for_pod("web-probed", [](const json& p) {
    return p.contains("status") && p["status"].value("phase", "") == "Running";
  });
  wait_for([] { return false; }, 1s);
  pod = wait_for_pod("web-probed", [](const json& p) { return condition_is(p, "Ready", "False"); });
  healthy = true;
  wait_for_pod("web-probed", [this](const json& p) { return running_ready(p); });
  EXPECT_EQ(seen_header, "yes");
  healthy = false;
  wait_for_pod("web-probed", [](const json& p) { return condition_is(p, "Ready", "False"); });
  // The TCP port stays open: liveness never kills it.
  pod = wait_for_pod("web-probed",
                     [](const json& p) { return container_status(p).value("restartCount", -1) == 0; });
  EXPECT_EQ(runtime_->starts, 1);
  run_blocking(io_, server.stop());
  // Port closed: liveness fails twice and the container is restarted.
  wait_for_pod("web-probed", [](const json& p) { return container_status(p).value("restartCount", 0) >= 1; });
  EXPECT_TRUE(has_event("web-probed", "Killing"));
}

TEST_F(KubeletIntegrationTest, KubeletApiNeedsATokenAndServesPodsAndLogs) {
  start_kubelet();
  const json created = create_pod("logged", json::object());
  wait_for_pod("logged", [this](const json& p) { return running_ready(p); });
  net::HttpClient http(io_.get_executor());
  net::Endpoint endpoint{cluster_->addresses().node_ip(1), kubelet_->port()};
  auto send = [&](const std::string& target, const std::string& token) {
    net::HttpRequest request;
    request.target = target;
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    return run_blocking(io_, http.request(endpoint, request, 5000ms));
  };
  auto health = send("/healthz", "");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200u);
  auto anonymous = send("/pods", "");
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ(anonymous->status, 401u);
  EXPECT_EQ(anonymous->body, "Unauthorized");
  auto wrong = send("/containerLogs/default/logged/app", "not-a-token");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 401u);
  auto pods = send("/pods", kApiToken);
  ASSERT_TRUE(pods.ok());
  EXPECT_EQ(pods->status, 200u);
  const json list = json::parse(pods->body);
  EXPECT_EQ(list["kind"], "PodList");
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["metadata"]["name"], "logged");
  auto logs = send("/containerLogs/default/logged/app", kApiToken);
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->status, 200u);
  EXPECT_EQ(logs->body, "line 1 of app attempt 0\nline 2\n");
  auto tail = send("/containerLogs/default/logged/app?tailLines=1", kApiToken);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->body, "line 2\n");
  auto missing = send("/containerLogs/default/logged/nope", kApiToken);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404u);
  // follow=true streams what is appended until the container exits.
  net::HttpRequest follow;
  follow.target = "/containerLogs/default/logged/app?follow=true";
  follow.headers.emplace_back("Authorization", std::string("Bearer ") + kApiToken);
  auto stream = run_blocking(io_, http.open_stream(endpoint, follow, 5000ms));
  ASSERT_TRUE(stream.ok()) << stream.error().message;
  EXPECT_EQ((*stream)->status(), 200u);
  const auto line = [&]() -> std::string {
    auto read = run_blocking(io_, (*stream)->read_line(10000ms));
    if (!read.ok() || !*read) return "<end>";
    return **read;
  };
  EXPECT_EQ(line(), "line 1 of app attempt 0");
  EXPECT_EQ(line(), "line 2");
  const auto* running = runtime_->running(uid_of(created), "app");
  ASSERT_TRUE(running);
  std::ofstream(running->log_path, std::ios::app) << "line 3\n";
  EXPECT_EQ(line(), "line 3");
  // After a restart: the current attempt's log, and the previous one's.
  runtime_->exit(runtime_->running(uid_of(created), "app")->id, 1);
  EXPECT_EQ(line(), "<end>");  // the followed container exited
  stream->reset();
  wait_for_pod("logged", [this](const json& p) {
    return container_status(p).value("restartCount", 0) == 1 && running_ready(p);
  });
  auto current = send("/containerLogs/default/logged/app", kApiToken);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->body, "line 1 of app attempt 1\nline 2\n");
  auto previous = send("/containerLogs/default/logged/app?previous=true", kApiToken);
  ASSERT_TRUE(previous.ok());
  EXPECT_EQ(previous->body, "line 1 of app attempt 0\nline 2\nline 3\n");
}

}  // namespace
}  // namespace shakeout::kubelet
