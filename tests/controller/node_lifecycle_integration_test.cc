// `shakeout controller-manager`'s node-lifecycle and taint-eviction
// controllers against a real cluster (etcd + apiserver). The test plays
// the kubelets: it registers two nodes, renews their Leases, and runs pods
// on them; then node-1 falls silent. Every wait has a generous timeout and
// nothing is asserted on exact timing.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "api/store.h"
#include "api_cluster.h"
#include "client/client.h"
#include "client/leader_election.h"
#include "cluster/cluster.h"
#include "cluster/profile.h"
#include "common/async.h"
#include "pump.h"
#include "test_support.h"

namespace shakeout::controller {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const api::ResourceInfo& res(const char* group, const char* plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}
const api::ResourceInfo& pods() {
  return res("", "pods");
}
const api::ResourceInfo& nodes() {
  return res("", "nodes");
}
const api::ResourceInfo& leases() {
  return res("coordination.k8s.io", "leases");
}

std::string now_stamp() {
  return api::format_timestamp(std::chrono::system_clock::now());
}

const json* condition(const json& object, const std::string& type) {
  const json status = object.value("status", json::object());
  if (!status.contains("conditions")) return nullptr;
  for (const auto& c : object["status"]["conditions"])
    if (c.value("type", "") == type) return &c;
  return nullptr;
}

bool has_taint(const json& node, const std::string& key, const std::string& effect) {
  const json spec = node.value("spec", json::object());
  for (const auto& taint : spec.value("taints", json::array()))
    if (taint.value("key", "") == key && taint.value("effect", "") == effect) return true;
  return false;
}

std::optional<std::chrono::system_clock::time_point> taint_added(const json& node, const std::string& key,
                                                                 const std::string& effect) {
  const json spec = node.value("spec", json::object());
  for (const auto& taint : spec.value("taints", json::array()))
    if (taint.value("key", "") == key && taint.value("effect", "") == effect)
      return api::parse_timestamp(taint.value("timeAdded", ""));
  return std::nullopt;
}

// The unit tests use these numbers for profile `kubernetes`.
TEST(NodeLifecycleProfile, KubernetesProfileHasTheUnitTestsNumbers) {
  const auto profile = cluster::Profile::kubernetes();
  EXPECT_EQ(profile.duration("node-monitor-period"), Millis(5s));
  EXPECT_EQ(profile.duration("node-monitor-grace-period"), Millis(50s));
  EXPECT_EQ(profile.duration("default-unreachable-toleration-seconds"), Millis(300s));
  EXPECT_EQ(profile.duration("default-not-ready-toleration-seconds"), Millis(300s));
}

class NodeLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = shakeout::testing::api_cluster_options("nl");
    options.nodes = 2;  // recorded only: the test plays the kubelets
    cluster_ = shakeout::testing::boot_cluster(io_, options);
    ASSERT_TRUE(cluster_);
    client::Config config;
    for (const auto& url : cluster_->apiserver_urls()) config.servers.push_back(*net::parse_endpoint(url));
    config.bearer_token = cluster_->token("shakeout");
    config.request_timeout = 5000ms;
    client_ = std::make_unique<client::Client>(io_.get_executor(), config);
  }

  void TearDown() override {
    client_.reset();
    if (cluster_) run_blocking(io_, cluster_->stop());
    cluster_.reset();
  }

  void start_controller_manager() {
    auto spec = shakeout::testing::controller_manager_spec(
        *cluster_, 1,
        {"--leader-elect", "false", "--controllers", "node-lifecycle,taint-eviction-controller",
         "--node-monitor-period", "100ms", "--node-monitor-grace-period", "1s"});
    ASSERT_TRUE(cluster_->supervisor().start(spec).ok());
  }

  // Renews Leases for `d` (the kubelets keep running).
  void keep_running_for(Millis d) {
    wait_for([] { return false; }, d);
  }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  // Waits for `done`, renewing the Leases of the nodes in `renewing_`
  // (every 200ms) meanwhile: the kubelets' heartbeat.
  bool wait_for(const std::function<bool()>& done, Millis timeout = 60s) {
    return shakeout::testing::pump(
        io_,
        [&] {
          if (std::chrono::steady_clock::now() >= next_renewal_) {
            for (const auto& name : renewing_) renew_lease(name);
            next_renewal_ = std::chrono::steady_clock::now() + 200ms;
          }
          return done();
        },
        timeout);
  }

  void renew_lease(const std::string& name) {
    auto lease = run(client_->get(leases(), "kube-node-lease", name));
    if (!lease.ok()) return;
    (*lease)["spec"]["renewTime"] = client::format_micro_time(std::chrono::system_clock::now());
    auto written = run(client_->update(leases(), "kube-node-lease", *lease));
    if (!written.ok() && !client::is_conflict(written.error())) ADD_FAILURE() << written.error().message();
  }

  // The kubelet's registration: the Node, Ready=True, and its Lease.
  void register_node(const std::string& name) {
    json node = {{"apiVersion", "v1"}, {"kind", "Node"}};
    node["metadata"]["name"] = name;
    auto created = run(client_->create(nodes(), "", node));
    ASSERT_TRUE(created.ok()) << created.error().message();
    post_ready(name, "True");
    json lease = {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}};
    lease["metadata"]["name"] = name;
    lease["metadata"]["namespace"] = "kube-node-lease";
    lease["spec"]["holderIdentity"] = name;
    lease["spec"]["leaseDurationSeconds"] = 40;
    lease["spec"]["renewTime"] = client::format_micro_time(std::chrono::system_clock::now());
    auto made = run(client_->create(leases(), "kube-node-lease", lease));
    ASSERT_TRUE(made.ok()) << made.error().message();
    renewing_.insert(name);
  }

  // The kubelet's status update: Ready with a new heartbeat.
  void post_ready(const std::string& name, const std::string& status) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto node = run(client_->get(nodes(), "", name));
      ASSERT_TRUE(node.ok()) << node.error().message();
      json ready = {{"type", "Ready"},
                    {"status", status},
                    {"reason", "KubeletReady"},
                    {"message", "kubelet is posting ready status"},
                    {"lastHeartbeatTime", now_stamp()},
                    {"lastTransitionTime", now_stamp()}};
      (*node)["status"]["conditions"] = json::array({ready});
      auto written = run(client_->update_status(nodes(), "", *node));
      if (written.ok()) return;
      ASSERT_TRUE(client::is_conflict(written.error())) << written.error().message();
    }
    FAIL() << "node status kept conflicting";
  }

  // A pod bound to `node`, Running and Ready; `toleration_seconds` >= 0
  // adds an unreachable:NoExecute toleration for that long.
  void run_pod(const std::string& name, const std::string& node, int64_t toleration_seconds) {
    json pod = json::parse(R"({"apiVersion": "v1", "kind": "Pod",
      "spec": {"containers": [{"name": "app", "image": "shakeout/app"}]}})");
    pod["metadata"]["name"] = name;
    pod["spec"]["nodeName"] = node;
    if (toleration_seconds >= 0)
      pod["spec"]["tolerations"] = json::array({{{"key", "node.kubernetes.io/unreachable"},
                                                 {"operator", "Exists"},
                                                 {"effect", "NoExecute"},
                                                 {"tolerationSeconds", toleration_seconds}}});
    auto created = run(client_->create(pods(), "default", pod));
    ASSERT_TRUE(created.ok()) << created.error().message();
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto current = run(client_->get(pods(), "default", name));
      ASSERT_TRUE(current.ok()) << current.error().message();
      (*current)["status"]["phase"] = "Running";
      (*current)["status"]["conditions"] =
          json::array({{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", now_stamp()}}});
      auto written = run(client_->update_status(pods(), "default", *current));
      if (written.ok()) return;
      ASSERT_TRUE(client::is_conflict(written.error())) << written.error().message();
    }
    FAIL() << "pod status kept conflicting";
  }

  json get_node(const std::string& name) {
    auto node = run(client_->get(nodes(), "", name));
    return node.ok() ? *node : json::object();
  }
  // The pod, or null once it is gone.
  json get_pod(const std::string& name) {
    auto pod = run(client_->get(pods(), "default", name));
    return pod.ok() ? *pod : json();
  }
  bool pod_ready(const std::string& name) {
    const json pod = get_pod(name);
    const json* ready = pod.is_null() ? nullptr : condition(pod, "Ready");
    return ready != nullptr && ready->value("status", "") == "True";
  }
  // Deleted, or being deleted (no kubelet finishes a graceful deletion).
  bool pod_deleted(const std::string& name) {
    const json pod = get_pod(name);
    return pod.is_null() || pod["metadata"].contains("deletionTimestamp");
  }
  // An Event TaintManagerEviction about the pod.
  bool has_eviction_event(const std::string& pod) {
    auto list = run(client_->list(res("", "events"), "default", client::ListOptions()));
    if (!list.ok()) return false;
    const json items = (*list).value("items", json::array());
    for (const auto& event : items)
      if (event.value("reason", "") == "TaintManagerEviction" &&
          event.value("involvedObject", json::object()).value("name", "") == pod)
        return true;
    return false;
  }
  std::string ready_status(const std::string& node) {
    const json n = get_node(node);
    const json* ready = condition(n, "Ready");
    return ready != nullptr ? ready->value("status", "") : "";
  }

  asio::io_context io_;
  std::unique_ptr<cluster::Cluster> cluster_;
  std::unique_ptr<client::Client> client_;
  std::set<std::string> renewing_;
  std::chrono::steady_clock::time_point next_renewal_{};
};

TEST_F(NodeLifecycleTest, SilentNodeIsTaintedItsPodsEvictedAndTaintRemovedWhenBack) {
  register_node("node-1");
  register_node("node-2");
  run_pod("tolerates-2s", "node-1", 2);
  run_pod("tolerates-20s", "node-1", 20);
  run_pod("healthy", "node-2", 2);
  start_controller_manager();

  // Healthy nodes stay Ready and untainted for a few grace periods.
  keep_running_for(3s);
  EXPECT_EQ(ready_status("node-1"), "True");
  EXPECT_FALSE(has_taint(get_node("node-1"), "node.kubernetes.io/unreachable", "NoExecute"));

  // node-1's kubelet falls silent.
  renewing_.erase("node-1");
  ASSERT_TRUE(wait_for([&] { return ready_status("node-1") == "Unknown"; }));
  const json unknown = get_node("node-1");
  const json* ready = condition(unknown, "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ((*ready)["reason"], "NodeStatusUnknown");
  EXPECT_EQ((*ready)["message"], "Kubelet stopped posting node status.");
  ASSERT_TRUE(wait_for([&] { return !pod_ready("tolerates-2s") && !pod_ready("tolerates-20s"); }));
  ASSERT_TRUE(
      wait_for([&] { return has_taint(get_node("node-1"), "node.kubernetes.io/unreachable", "NoExecute"); }));
  ASSERT_TRUE(wait_for(
      [&] { return has_taint(get_node("node-1"), "node.kubernetes.io/unreachable", "NoSchedule"); }));
  const auto time_added = taint_added(get_node("node-1"), "node.kubernetes.io/unreachable", "NoExecute");
  ASSERT_TRUE(time_added);
  const auto tainted = std::chrono::steady_clock::now();

  ASSERT_TRUE(wait_for([&] { return pod_deleted("tolerates-2s"); }));
  // Not at once: it tolerated the taint for 2s. Both times are the
  // controller manager's own, in whole seconds, so the gap is at least 2s.
  const json evicted = get_pod("tolerates-2s");
  if (!evicted.is_null()) {
    const json* disruption = condition(evicted, "DisruptionTarget");
    ASSERT_NE(disruption, nullptr);
    EXPECT_EQ((*disruption)["reason"], "DeletionByTaintManager");
    const auto marked = api::parse_timestamp((*disruption).value("lastTransitionTime", ""));
    ASSERT_TRUE(marked);
    EXPECT_GE(*marked - *time_added, 2s);
  }
  EXPECT_FALSE(pod_deleted("tolerates-20s"));  // 18s to go
  EXPECT_TRUE(has_eviction_event("tolerates-2s"));
  EXPECT_FALSE(pod_deleted("healthy"));
  EXPECT_TRUE(pod_ready("healthy"));
  EXPECT_EQ(ready_status("node-2"), "True");
  EXPECT_FALSE(has_taint(get_node("node-2"), "node.kubernetes.io/unreachable", "NoExecute"));

  // The kubelet is back.
  renewing_.insert("node-1");
  post_ready("node-1", "True");
  ASSERT_TRUE(wait_for([&] {
    const json node = get_node("node-1");
    return !has_taint(node, "node.kubernetes.io/unreachable", "NoExecute") &&
           !has_taint(node, "node.kubernetes.io/unreachable", "NoSchedule");
  }));
  EXPECT_EQ(ready_status("node-1"), "True");
  // Its eviction was cancelled: it outlives its 20s.
  keep_running_for(std::chrono::duration_cast<Millis>(tainted + 22s - std::chrono::steady_clock::now()));
  EXPECT_FALSE(pod_deleted("tolerates-20s"));
}

}  // namespace
}  // namespace shakeout::controller
