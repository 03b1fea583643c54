// `shakeout scheduler` against a real cluster (etcd + `shakeout apiserver`).
// The test plays the nodes by writing Node objects; no kubelet runs, so pods
// stay bound but never start. Every wait is generous and no assertion is on
// time.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api_fixture.h"
#include "client/client.h"
#include "cluster/cluster.h"
#include "common/async.h"
#include "net/http_client.h"

namespace shakeout::scheduler {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const api::ResourceInfo& resource(std::string_view group, std::string_view plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}

constexpr uint16_t kMetricsPort = 10259;

// The cluster (etcd + one API server with token auth) is ApiFixture's.
class SchedulerTest : public apiserver::testing::ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    if (HasFatalFailure()) return;
    client::Config config;
    for (const auto& url : cluster_->apiserver_urls()) config.servers.push_back(*net::parse_endpoint(url));
    config.bearer_token = token();
    config.request_timeout = 5000ms;
    client_ = std::make_unique<client::Client>(io_.get_executor(), config);
  }

  void TearDown() override {
    client_.reset();
    if (HasFailure()) {
      for (const auto& process : cluster_->supervisor().list()) {
        if (process.name.rfind("scheduler-", 0) != 0) continue;
        std::ifstream log(process.log_file);
        std::printf("---- %s\n%s\n", process.name.c_str(),
                    std::string(std::istreambuf_iterator<char>(log), {}).c_str());
      }
    }
    ApiFixture::TearDown();
  }

  // Starts `shakeout scheduler` number `index` with fast timings: twice the
  // fast profile's leader election (0.75s/0.5s/0.1s), whose 250ms lock
  // requests a 2-core machine busy with parallel builds sometimes stalls
  // past, so that the leader loses its Lease on its own (as upstream's would).
  void start_scheduler(int index) {
    cluster::ProcessSpec spec;
    spec.name = fmt::format("scheduler-{}", index);
    spec.argv = {shakeout::testing::shakeout_binary(),
                 "scheduler",
                 "--master",
                 fmt::format("{}", fmt::join(cluster_->apiserver_urls(), ",")),
                 "--token",
                 cluster_->token("system:kube-scheduler"),
                 "--bind-address",
                 cluster_->addresses().scheduler_ip(index),
                 "--port",
                 std::to_string(kMetricsPort),
                 "--leader-elect-lease-duration=1500ms",
                 "--leader-elect-renew-deadline=1s",
                 "--leader-elect-retry-period=200ms",
                 "--pod-initial-backoff=100ms",
                 "--pod-max-backoff=1s"};
    spec.log_file = cluster_->run_dir().path() / (spec.name + ".log");
    ASSERT_TRUE(cluster_->supervisor().start(spec).ok());
  }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  void sleep(Millis d) {
    asio::steady_timer timer(io_, d);
    run(timer.async_wait(asio::use_awaitable));
  }

  bool eventually(const std::function<bool()>& done, Millis timeout = 30000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      sleep(50ms);
    }
    return true;
  }

  // A Ready node with this allocatable; `edit` may change it before it is written.
  void add_node(const std::string& name, const std::string& cpu, const std::string& memory,
                const std::function<void(json&)>& edit = {}) {
    json node = json::object();
    node["apiVersion"] = "v1";
    node["kind"] = "Node";
    node["metadata"]["name"] = name;
    node["metadata"]["labels"]["kubernetes.io/hostname"] = name;
    node["spec"] = json::object();
    node["status"]["capacity"] = {{"cpu", cpu}, {"memory", memory}, {"pods", "110"}};
    node["status"]["allocatable"] = node["status"]["capacity"];
    node["status"]["conditions"] =
        json::array({{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}});
    if (edit) edit(node);
    auto created = run(client_->create(resource("", "nodes"), "", node));
    ASSERT_TRUE(created.ok()) << created.error().message();
    // The status as given, whatever create kept of it.
    json with_status = *created;
    with_status["status"] = node["status"];
    auto updated = run(client_->update_status(resource("", "nodes"), "", with_status));
    ASSERT_TRUE(updated.ok()) << updated.error().message();
  }

  void add_pod(const std::string& name, const std::function<void(json&)>& edit = {}) {
    json pod = json::object();
    pod["apiVersion"] = "v1";
    pod["kind"] = "Pod";
    pod["metadata"]["name"] = name;
    pod["spec"]["containers"] = json::array({{{"name", "app"}, {"image", "shakeout/app"}}});
    if (edit) edit(pod);
    auto created = run(client_->create(resource("", "pods"), "default", pod));
    ASSERT_TRUE(created.ok()) << created.error().message();
  }

  json get_pod(const std::string& name) {
    auto pod = run(client_->get(resource("", "pods"), "default", name));
    EXPECT_TRUE(pod.ok()) << pod.error().message();
    return pod.ok() ? *pod : json::object();
  }

  std::string node_of(const std::string& name) {
    json pod = get_pod(name);
    return pod["spec"].value("nodeName", "");
  }

  // Waits until every pod named is bound; their nodes.
  std::map<std::string, std::string> wait_bound(const std::vector<std::string>& names) {
    std::map<std::string, std::string> nodes;
    const bool all = eventually([&] {
      for (const auto& name : names) nodes[name] = node_of(name);
      return std::all_of(nodes.begin(), nodes.end(), [](const auto& item) { return !item.second.empty(); });
    });
    EXPECT_TRUE(all) << "not every pod was bound";
    return nodes;
  }

  std::string metrics(int index) {
    net::HttpClientConfig config;
    net::HttpClient http(io_.get_executor(), config);
    net::Endpoint endpoint;
    endpoint.host = cluster_->addresses().scheduler_ip(index);
    endpoint.port = kMetricsPort;
    net::HttpRequest request;
    request.target = "/metrics";
    auto response = run(http.request(endpoint, std::move(request), 2000ms));
    return response && response->status == 200 ? response->body : "";
  }

  bool is_leader(int index) {
    // A sample line, not the HELP text.
    return metrics(index).find("\nshakeout_scheduler_leader_election_master_status 1") != std::string::npos;
  }

  json lease() {
    auto got = run(client_->get(resource("coordination.k8s.io", "leases"), "kube-system", "kube-scheduler"));
    return got.ok() ? *got : json::object();
  }

  std::unique_ptr<client::Client> client_;
};

json owner_reference(const std::string& uid) {
  return json::array({{{"apiVersion", "apps/v1"},
                       {"kind", "ReplicaSet"},
                       {"name", "web"},
                       {"uid", uid},
                       {"controller", true}}});
}

TEST_F(SchedulerTest, PodsOfOneOwnerSpreadAcrossNodes) {
  // Least allocated alone would send every pod to the big node.
  add_node("big", "64", "256Gi");
  add_node("small-1", "4", "8Gi");
  add_node("small-2", "4", "8Gi");
  start_scheduler(1);
  std::vector<std::string> names;
  for (int i = 0; i < 6; ++i) {
    names.push_back(fmt::format("web-{}", i));
    add_pod(names.back(), [](json& pod) { pod["metadata"]["ownerReferences"] = owner_reference("rs-web"); });
  }
  std::map<std::string, int> per_node;
  for (const auto& [pod, node] : wait_bound(names)) ++per_node[node];
  EXPECT_EQ(per_node, (std::map<std::string, int>{{"big", 2}, {"small-1", 2}, {"small-2", 2}}));
}

TEST_F(SchedulerTest, CordonedNodeGetsNothing) {
  add_node("cordoned", "64", "256Gi", [](json& node) { node["spec"]["unschedulable"] = true; });
  add_node("open", "4", "8Gi");
  start_scheduler(1);
  std::vector<std::string> names = {"a", "b", "c", "d"};
  for (const auto& name : names) add_pod(name);
  for (const auto& [pod, node] : wait_bound(names)) EXPECT_EQ(node, "open") << pod;
}

TEST_F(SchedulerTest, TaintsAreRespectedAndTolerationsHonoured) {
  add_node("dedicated", "64", "256Gi", [](json& node) {
    node["spec"]["taints"] = json::array({{{"key", "dedicated"}, {"value", "db"}, {"effect", "NoSchedule"}}});
  });
  add_node("evicting", "64", "256Gi", [](json& node) {
    node["spec"]["taints"] = json::array({{{"key", "broken"}, {"effect", "NoExecute"}}});
  });
  add_node("plain", "4", "8Gi");
  start_scheduler(1);
  std::vector<std::string> plain = {"p1", "p2", "p3"};
  for (const auto& name : plain) add_pod(name);
  add_pod("db", [](json& pod) {
    pod["spec"]["tolerations"] =
        json::array({{{"key", "dedicated"}, {"operator", "Equal"}, {"value", "db"}}});
    pod["spec"]["nodeSelector"] = {{"kubernetes.io/hostname", "dedicated"}};
  });
  add_pod("anything", [](json& pod) {
    pod["spec"]["tolerations"] = json::array({{{"operator", "Exists"}}});
    pod["spec"]["nodeSelector"] = {{"kubernetes.io/hostname", "evicting"}};
  });
  for (const auto& [pod, node] : wait_bound(plain)) EXPECT_EQ(node, "plain") << pod;
  auto tolerant = wait_bound({"db", "anything"});
  EXPECT_EQ(tolerant["db"], "dedicated");
  EXPECT_EQ(tolerant["anything"], "evicting");
}

TEST_F(SchedulerTest, PodThatFitsNowhereWaitsWithAnEventThenBindsWhenANodeFits) {
  add_node("small", "1", "1Gi");
  start_scheduler(1);
  add_pod("huge", [](json& pod) { pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "2"; });
  const std::string expected = "0/1 nodes are available: 1 Insufficient cpu.";
  json event;
  const bool recorded = eventually([&] {
    auto events = run(client_->list(resource("", "events"), "default", client::ListOptions()));
    if (!events.ok()) return false;
    for (const auto& e : (*events)["items"]) {
      if (e["involvedObject"].value("name", "") == "huge" && e.value("reason", "") == "FailedScheduling")
        event = e;
    }
    return !event.is_null();
  });
  ASSERT_TRUE(recorded) << "no FailedScheduling event";
  EXPECT_EQ(event.value("type", ""), "Warning");
  EXPECT_EQ(event.value("message", ""), expected);
  EXPECT_EQ(event["involvedObject"].value("kind", ""), "Pod");
  json condition;
  EXPECT_TRUE(eventually([&] {
    for (const auto& c : get_pod("huge")["status"].value("conditions", json::array())) {
      if (c.value("type", "") == "PodScheduled") condition = c;
    }
    return !condition.is_null();
  }));
  EXPECT_EQ(condition.value("status", ""), "False");
  EXPECT_EQ(condition.value("reason", ""), "Unschedulable");
  EXPECT_EQ(condition.value("message", ""), expected);
  EXPECT_EQ(node_of("huge"), "");

  add_node("large", "8", "16Gi");
  EXPECT_EQ(wait_bound({"huge"})["huge"], "large");
}

TEST_F(SchedulerTest, StandbyBindsAfterTheLeaderIsKilledAndAStopReleasesTheLease) {
  add_node("node-1", "4", "8Gi");
  start_scheduler(1);
  start_scheduler(2);
  int leader = 0;
  ASSERT_TRUE(eventually([&] {
    leader = is_leader(1) ? 1 : (is_leader(2) ? 2 : 0);
    return leader != 0;
  }));
  const int standby = 3 - leader;
  EXPECT_FALSE(is_leader(standby));
  add_pod("before");
  EXPECT_EQ(wait_bound({"before"})["before"], "node-1");

  ASSERT_TRUE(cluster_->supervisor().kill(fmt::format("scheduler-{}", leader), SIGKILL).ok());
  const auto killed = std::chrono::steady_clock::now();
  add_pod("after");
  EXPECT_EQ(wait_bound({"after"})["after"], "node-1");
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - killed;
  std::printf("standby bound a pod %.3fs after the leader was killed (lease 1.5s)\n", took.count());
  EXPECT_TRUE(is_leader(standby));

  // SIGTERM: the new leader releases the Lease on its way out.
  const std::string holder = lease()["spec"].value("holderIdentity", "");
  EXPECT_FALSE(holder.empty());
  auto stopped = run(cluster_->supervisor().stop(fmt::format("scheduler-{}", standby)));
  ASSERT_TRUE(stopped.ok());
  auto info = cluster_->supervisor().info(fmt::format("scheduler-{}", standby));
  ASSERT_TRUE(info && info->last_exit);
  EXPECT_FALSE(info->last_exit->signaled) << info->last_exit->describe();
  EXPECT_EQ(info->last_exit->code, 0);
  EXPECT_EQ(lease()["spec"].value("holderIdentity", ""), "");
}

}  // namespace
}  // namespace shakeout::scheduler
