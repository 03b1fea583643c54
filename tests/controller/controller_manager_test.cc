// `shakeout controller-manager` processes against a real cluster (etcd +
// apiserver). There is no scheduler or kubelet yet: the test plays them,
// binding pods and writing their status (Running, Ready, podIP) through the
// API. Every wait has a generous timeout and nothing is asserted on timing.

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "api/store.h"
#include "api_cluster.h"
#include "client/client.h"
#include "cluster/cluster.h"
#include "common/async.h"
#include "net/http_client.h"
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
const api::ResourceInfo& replicasets() {
  return res("apps", "replicasets");
}

json make_replicaset(const std::string& name, int replicas) {
  json rs = json::parse(R"({"apiVersion": "apps/v1", "kind": "ReplicaSet",
    "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "shakeout/app",
                                                   "ports": [{"name": "http", "containerPort": 8080}]}]}}}})");
  rs["metadata"]["name"] = name;
  rs["spec"]["replicas"] = replicas;
  rs["spec"]["selector"]["matchLabels"]["app"] = name;
  rs["spec"]["template"]["metadata"]["labels"]["app"] = name;
  return rs;
}

class ControllerManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = shakeout::testing::api_cluster_options("cm");
    options.nodes = 1;  // recorded only: no node processes exist in this step
    cluster_ = shakeout::testing::boot_cluster(io_, options);
    ASSERT_TRUE(cluster_);
    client::Config config;
    for (const auto& url : cluster_->apiserver_urls()) config.servers.push_back(*net::parse_endpoint(url));
    config.bearer_token = cluster_->token("shakeout");
    config.request_timeout = 5000ms;
    client_ = std::make_unique<client::Client>(io_.get_executor(), config);
  }

  void TearDown() override {
    if (watch_) watch_->cancel();
    if (cluster_) pump([&] { return watch_done_ || !watch_; }, 5s);
    watch_.reset();
    client_.reset();
    if (cluster_) run_blocking(io_, cluster_->stop());
    cluster_.reset();
  }

  // Starts controller-manager-<index> (1-based) with fast leader election.
  void start_controller_manager(int index, const std::vector<std::string>& extra = {}) {
    // Lenient enough that a leader starved under ASan on 2 cores still
    // renews in time (750ms/500ms lost it in CI).
    std::vector<std::string> flags = {"--leader-elect-lease-duration", "1500ms",
                                      "--leader-elect-renew-deadline", "1s",
                                      "--leader-elect-retry-period",   "200ms"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    auto spec = shakeout::testing::controller_manager_spec(*cluster_, index, flags);
    ASSERT_TRUE(cluster_->supervisor().start(spec).ok());
  }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  bool pump(const std::function<bool()>& done, Millis timeout) {
    return shakeout::testing::pump(io_, done, timeout);
  }

  json create(const api::ResourceInfo& resource, const json& object) {
    auto created = run(client_->create(resource, "default", object));
    EXPECT_TRUE(created.ok()) << created.error().message();
    return created.ok() ? *created : json();
  }

  // Active (not terminating) pods labelled app=<app>.
  std::vector<json> active_pods(const std::string& app) {
    client::ListOptions options;
    options.label_selector = "app=" + app;
    auto list = run(client_->list(pods(), "default", options));
    std::vector<json> out;
    if (!list.ok()) return out;
    for (const auto& item : (*list)["items"])
      if (!item["metadata"].contains("deletionTimestamp")) out.push_back(item);
    return out;
  }

  bool wait_for_pods(const std::string& app, std::size_t count) {
    return pump([&] { return active_pods(app).size() == count; }, 60s);
  }

  // PUT .../scale, again after a 409 (the controller writes the status).
  void scale(const std::string& name, int64_t replicas) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto scaled = run(client_->scale(replicasets(), "default", name, replicas));
      if (scaled.ok()) return;
      ASSERT_TRUE(client::is_conflict(scaled.error())) << scaled.error().message();
    }
    FAIL() << "scale kept conflicting";
  }

  json get_replicaset(const std::string& name) {
    auto rs = run(client_->get(replicasets(), "default", name));
    return rs.ok() ? *rs : json::object();
  }

  bool wait_for_status(const std::string& name, const std::function<bool(const json& status)>& check) {
    return pump(
        [&] {
          const json rs = get_replicaset(name);
          const json status = rs.value("status", json::object());
          return rs.contains("metadata") &&
                 status.value("observedGeneration", int64_t{0}) ==
                     rs["metadata"].value("generation", int64_t{0}) &&
                 check(status);
        },
        60s);
  }

  // The kubelet's part: bind the pod, then write phase, podIP and Ready.
  void set_pod_state(const std::string& name, const std::string& ip, bool ready) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto pod = run(client_->get(pods(), "default", name));
      ASSERT_TRUE(pod.ok()) << pod.error().message();
      if (!(*pod)["spec"].contains("nodeName")) {
        json binding = {{"apiVersion", "v1"}, {"kind", "Binding"}};
        binding["metadata"]["name"] = name;
        binding["target"] = {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "node-1"}};
        auto bound = run(client_->create_subresource(pods(), "default", name, "binding", binding));
        ASSERT_TRUE(bound.ok()) << bound.error().message();
        continue;  // read the bound pod again
      }
      (*pod)["status"]["phase"] = "Running";
      (*pod)["status"]["podIP"] = ip;
      (*pod)["status"]["podIPs"] = json::array({{{"ip", ip}}});
      json condition = {{"type", "Ready"}, {"status", ready ? "True" : "False"}};
      condition["lastTransitionTime"] = "2024-01-01T00:00:00Z";
      (*pod)["status"]["conditions"] = json::array({condition});
      auto written = run(client_->update_status(pods(), "default", *pod));
      if (written.ok()) return;
      ASSERT_TRUE(client::is_conflict(written.error())) << written.error().message();
    }
    FAIL() << "pod status kept conflicting";
  }

  // Counts ADDED pod events in "default" from now on (a watch from the
  // current resourceVersion).
  void watch_pod_creations() {
    client::ListOptions list_options;
    auto list = run(client_->list(pods(), "default", list_options));
    ASSERT_TRUE(list.ok());
    client::WatchOptions options;
    options.resource_version = (*list)["metadata"]["resourceVersion"];
    auto stream = run(client_->watch(pods(), "default", options));
    ASSERT_TRUE(stream.ok()) << stream.error().message();
    watch_ = std::move(*stream);
    asio::co_spawn(
        io_,
        [](client::WatchStream* stream, std::map<std::string, int>* added) -> asio::awaitable<void> {
          for (;;) {
            auto event = co_await stream->next();
            if (!event.ok() || !*event) break;
            if ((*event)->type == client::WatchEvent::Type::kAdded)
              ++(*added)[(*event)->object["metadata"]["name"].get<std::string>()];
          }
        }(watch_.get(), &added_),
        [this](const std::exception_ptr&) { watch_done_ = true; });
  }

  int creations() const {
    int total = 0;
    for (const auto& [name, count] : added_) total += count;
    return total;
  }

  // A MicroTime field of the controller manager's Lease ("...:05.123456Z").
  std::chrono::system_clock::time_point lease_time(const char* field) {
    auto lease =
        run(client_->get(res("coordination.k8s.io", "leases"), "kube-system", "kube-controller-manager"));
    if (!lease.ok()) return {};
    std::string text = (*lease)["spec"].value(field, "");
    const auto dot = text.find('.');
    if (dot == std::string::npos)
      return api::parse_timestamp(text).value_or(std::chrono::system_clock::time_point{});
    const auto whole = api::parse_timestamp(text.substr(0, dot) + "Z");
    const double fraction = std::stod("0" + text.substr(dot, text.size() - dot - 1));
    if (!whole) return {};
    return *whole + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::duration<double>(fraction));
  }

  std::string lease_holder() {
    auto lease =
        run(client_->get(res("coordination.k8s.io", "leases"), "kube-system", "kube-controller-manager"));
    if (!lease.ok()) return "";
    return (*lease)["spec"].value("holderIdentity", "");
  }

  asio::io_context io_;
  std::unique_ptr<cluster::Cluster> cluster_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::WatchStream> watch_;
  bool watch_done_ = false;
  std::map<std::string, int> added_;  // pod name -> ADDED events
};

TEST_F(ControllerManagerTest, ReplicaSetReachesScalesAndReplacesPods) {
  start_controller_manager(1);
  const json rs = create(replicasets(), make_replicaset("web", 3));
  ASSERT_TRUE(wait_for_pods("web", 3));
  for (const auto& pod : active_pods("web")) {
    const json& ref = pod["metadata"]["ownerReferences"][0];
    EXPECT_EQ(ref["uid"], rs["metadata"]["uid"]);
    EXPECT_EQ(ref["controller"], true);
    EXPECT_EQ(ref["blockOwnerDeletion"], true);
    EXPECT_EQ(pod["metadata"]["name"].get<std::string>().rfind("web-", 0), 0u);
  }
  ASSERT_TRUE(wait_for_status("web", [](const json& s) { return s.value("replicas", -1) == 3; }));

  scale("web", 5);
  ASSERT_TRUE(wait_for_pods("web", 5));
  ASSERT_TRUE(wait_for_status("web", [](const json& s) { return s.value("replicas", -1) == 5; }));

  scale("web", 2);
  ASSERT_TRUE(wait_for_pods("web", 2));
  ASSERT_TRUE(wait_for_status("web", [](const json& s) { return s.value("replicas", -1) == 2; }));

  const std::string victim = active_pods("web")[0]["metadata"]["name"];
  ASSERT_TRUE(run(client_->remove(pods(), "default", victim, client::DeleteOptions())).ok());
  ASSERT_TRUE(pump(
      [&] {
        const auto now = active_pods("web");
        if (now.size() != 2) return false;
        for (const auto& pod : now)
          if (pod["metadata"]["name"] == victim) return false;
        return true;
      },
      60s))
      << "the deleted pod is replaced";
}

TEST_F(ControllerManagerTest, ScaleDownDeletesUnscheduledPodsFirst) {
  start_controller_manager(1);
  create(replicasets(), make_replicaset("pick", 3));
  ASSERT_TRUE(wait_for_pods("pick", 3));
  auto all = active_pods("pick");
  std::set<std::string> bound;
  for (int i = 0; i < 2; ++i) {
    const std::string name = all[i]["metadata"]["name"];
    set_pod_state(name, fmt::format("10.0.0.{}", i + 1), true);
    bound.insert(name);
  }
  scale("pick", 2);
  ASSERT_TRUE(wait_for_pods("pick", 2));
  std::set<std::string> left;
  for (const auto& pod : active_pods("pick")) left.insert(pod["metadata"]["name"]);
  EXPECT_EQ(left, bound) << "the unscheduled pod goes first";
}

TEST_F(ControllerManagerTest, ReplicaSetStatusFollowsPodReadiness) {
  start_controller_manager(1);
  json spec = make_replicaset("ready", 2);
  spec["spec"]["minReadySeconds"] = 1;
  create(replicasets(), spec);
  ASSERT_TRUE(wait_for_pods("ready", 2));
  ASSERT_TRUE(wait_for_status("ready", [](const json& s) {
    return s.value("replicas", -1) == 2 && s.value("readyReplicas", 0) == 0 &&
           s.value("availableReplicas", 0) == 0;
  }));
  auto all = active_pods("ready");
  // Ready since long ago: available at once despite minReadySeconds.
  set_pod_state(all[0]["metadata"]["name"], "10.0.0.1", true);
  set_pod_state(all[1]["metadata"]["name"], "10.0.0.2", true);
  ASSERT_TRUE(wait_for_status("ready", [](const json& s) {
    return s.value("readyReplicas", 0) == 2 && s.value("availableReplicas", 0) == 2 &&
           s.value("fullyLabeledReplicas", 0) == 2;
  }));
  set_pod_state(all[1]["metadata"]["name"], "10.0.0.2", false);
  ASSERT_TRUE(wait_for_status("ready", [](const json& s) {
    return s.value("readyReplicas", -1) == 1 && s.value("availableReplicas", -1) == 1;
  }));
}

TEST_F(ControllerManagerTest, AdoptsMatchingOrphansAndReleasesPodsThatStopMatching) {
  start_controller_manager(1);
  json orphan = json::parse(R"({"apiVersion": "v1", "kind": "Pod",
      "spec": {"containers": [{"name": "app", "image": "shakeout/app"}]}})");
  orphan["metadata"]["name"] = "orphan";
  orphan["metadata"]["labels"]["app"] = "adopt";
  create(pods(), orphan);
  const json rs = create(replicasets(), make_replicaset("adopt", 1));
  auto owned_by_rs = [&](const std::string& name) {
    auto pod = run(client_->get(pods(), "default", name));
    if (!pod.ok()) return false;
    for (const auto& ref : (*pod)["metadata"].value("ownerReferences", json::array()))
      if (ref["uid"] == rs["metadata"]["uid"] && ref.value("controller", false)) return true;
    return false;
  };
  ASSERT_TRUE(pump([&] { return owned_by_rs("orphan"); }, 60s)) << "the orphan is adopted";
  ASSERT_TRUE(wait_for_status("adopt", [](const json& s) { return s.value("replicas", -1) == 1; }));
  EXPECT_EQ(active_pods("adopt").size(), 1u) << "adopted instead of creating";

  ASSERT_TRUE(run(client_->patch(pods(), "default", "orphan", client::PatchType::kMergePatch,
                                 R"({"metadata":{"labels":{"app":"gone"}}})", ""))
                  .ok());
  ASSERT_TRUE(pump([&] { return !owned_by_rs("orphan"); }, 60s)) << "released once it stops matching";
  ASSERT_TRUE(wait_for_pods("adopt", 1)) << "and replaced";
}

TEST_F(ControllerManagerTest, NoPodIsCreatedTwiceWhenTheLeaderIsKilled) {
  start_controller_manager(1);
  ASSERT_TRUE(pump([&] { return !lease_holder().empty(); }, 30s));
  const std::string first = lease_holder();
  start_controller_manager(2);  // the standby

  watch_pod_creations();
  create(replicasets(), make_replicaset("ha", 5));
  ASSERT_TRUE(wait_for_pods("ha", 5));
  // Kill the leader right after asking for more: the standby must finish
  // the job, creating only what is missing.
  scale("ha", 12);
  const auto last_renew = lease_time("renewTime");
  ASSERT_TRUE(cluster_->supervisor().kill("controller-manager-1", SIGKILL).ok());
  ASSERT_TRUE(pump([&] { return !lease_holder().empty() && lease_holder() != first; }, 30s))
      << "the standby takes the Lease";
  // Within one lease duration (1.5s) of the leader's last renewal, plus
  // the standby's retry period (200ms) and a generous allowance for a
  // loaded machine; a standby waiting on anything else would take far longer.
  const auto takeover = lease_time("acquireTime") - last_renew;
  std::printf("standby acquired the Lease %.3fs after the last renewal (lease 1.5s)\n",
              std::chrono::duration<double>(takeover).count());
  EXPECT_LT(takeover, 1500ms + 200ms + 2s);
  ASSERT_TRUE(wait_for_pods("ha", 12));
  ASSERT_TRUE(wait_for_status("ha", [](const json& s) { return s.value("replicas", -1) == 12; }));
  // One more step under the new leader, so creations racing the takeover
  // have had every chance to show.
  scale("ha", 14);
  ASSERT_TRUE(wait_for_pods("ha", 14));
  ASSERT_TRUE(wait_for_status("ha", [](const json& s) { return s.value("replicas", -1) == 14; }));
  ASSERT_TRUE(pump([&] { return creations() >= 14; }, 30s));
  EXPECT_EQ(creations(), 14) << "every creation is a missing replica";
  EXPECT_EQ(active_pods("ha").size(), 14u);
}

TEST_F(ControllerManagerTest, SigtermReleasesTheLease) {
  start_controller_manager(1);
  ASSERT_TRUE(pump([&] { return !lease_holder().empty(); }, 30s));
  const auto metrics = shakeout::testing::run_command(
      {"curl", "-sf", fmt::format("http://{}:10257/metrics", cluster_->addresses().controller_manager_ip(1))},
      {}, 10s);
  EXPECT_NE(metrics.out.find("shakeout_leader_election_master_status{name=\"kube-controller-manager\"} 1"),
            std::string::npos)
      << metrics.out;
  EXPECT_NE(metrics.out.find("shakeout_workqueue_adds_total"), std::string::npos);
  const auto health = shakeout::testing::run_command(
      {"curl", "-sf", fmt::format("http://{}:10257/healthz", cluster_->addresses().controller_manager_ip(1))},
      {}, 10s);
  EXPECT_EQ(health.out, "ok");
  ASSERT_TRUE(run(cluster_->supervisor().stop("controller-manager-1")).ok());
  auto info = cluster_->supervisor().info("controller-manager-1");
  ASSERT_TRUE(info && info->last_exit);
  EXPECT_FALSE(info->last_exit->signaled) << "exited on SIGTERM by itself";
  EXPECT_EQ(info->last_exit->code, 0);
  EXPECT_EQ(lease_holder(), "") << "released on the way out";
}

TEST_F(ControllerManagerTest, EndpointsFollowPodReadiness) {
  start_controller_manager(1);
  json service = json::parse(R"({"apiVersion": "v1", "kind": "Service",
      "spec": {"selector": {"app": "ep"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}})");
  service["metadata"]["name"] = "ep";
  create(res("", "services"), service);
  json manual = json::parse(R"({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 81}]}})");
  manual["metadata"]["name"] = "manual";
  create(res("", "services"), manual);
  json manual_endpoints = json::parse(R"({"apiVersion": "v1", "kind": "Endpoints",
      "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 81}]}]})");
  manual_endpoints["metadata"]["name"] = "manual";
  create(res("", "endpoints"), manual_endpoints);

  json pod = json::parse(R"({"apiVersion": "v1", "kind": "Pod",
      "spec": {"containers": [{"name": "app", "image": "shakeout/app",
                               "ports": [{"name": "http", "containerPort": 8080}]}]}})");
  pod["metadata"]["labels"]["app"] = "ep";
  for (const char* name : {"ep-a", "ep-b"}) {
    pod["metadata"]["name"] = name;
    create(pods(), pod);
  }
  set_pod_state("ep-a", "10.0.0.1", true);
  set_pod_state("ep-b", "10.0.0.2", false);

  auto endpoints = [&] {
    auto ep = run(client_->get(res("", "endpoints"), "default", "ep"));
    return ep.ok() ? *ep : json::object();
  };
  // ip -> "ready" | "notReady", and every subset's ports.
  auto addresses = [&](json* ports) {
    std::map<std::string, std::string> out;
    for (const auto& subset : endpoints().value("subsets", json::array())) {
      for (const auto& a : subset.value("addresses", json::array())) out[a["ip"]] = "ready";
      for (const auto& a : subset.value("notReadyAddresses", json::array())) out[a["ip"]] = "notReady";
      if (ports != nullptr) *ports = subset.value("ports", json::array());
    }
    return out;
  };
  using Addresses = std::map<std::string, std::string>;
  ASSERT_TRUE(pump(
      [&] {
        return addresses(nullptr) == Addresses{{"10.0.0.1", "ready"}, {"10.0.0.2", "notReady"}};
      },
      60s))
      << endpoints().dump();
  json ports;
  addresses(&ports);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0]["port"], 8080) << "the named targetPort resolves to the container port";
  EXPECT_EQ(ports[0]["name"], "web");
  const json subset = endpoints()["subsets"][0];
  EXPECT_EQ(subset["addresses"][0]["nodeName"], "node-1");
  EXPECT_EQ(subset["addresses"][0]["targetRef"]["name"], "ep-a");

  set_pod_state("ep-a", "10.0.0.1", false);
  set_pod_state("ep-b", "10.0.0.2", true);
  ASSERT_TRUE(pump(
      [&] {
        return addresses(nullptr) == Addresses{{"10.0.0.1", "notReady"}, {"10.0.0.2", "ready"}};
      },
      60s))
      << endpoints().dump();

  client::DeleteOptions now;
  now.grace_period_seconds = 0;
  ASSERT_TRUE(run(client_->remove(pods(), "default", "ep-b", now)).ok());
  ASSERT_TRUE(pump(
      [&] {
        return addresses(nullptr) == Addresses{{"10.0.0.1", "notReady"}};
      },
      60s))
      << endpoints().dump();

  auto kept = run(client_->get(res("", "endpoints"), "default", "manual"));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ((*kept)["subsets"][0]["addresses"][0]["ip"], "192.0.2.1")
      << "a Service without selector is left alone";

  ASSERT_TRUE(run(client_->remove(res("", "services"), "default", "ep", client::DeleteOptions())).ok());
  ASSERT_TRUE(pump([&] { return !endpoints().contains("metadata"); }, 60s))
      << "its Endpoints go with the Service";
}

namespace {

json owner_ref(const json& owner) {
  return {{"apiVersion", owner["apiVersion"]}, {"kind", owner["kind"]}, {"name", owner["metadata"]["name"]},
          {"uid", owner["metadata"]["uid"]},   {"controller", true},    {"blockOwnerDeletion", true}};
}

}  // namespace

// Deployment ──► ReplicaSet ──► pods along ownerReferences, with the
// deployment controller off so the chain is exactly what the test built.
TEST_F(ControllerManagerTest, GarbageCollectorCascadesAlongOwnerReferences) {
  start_controller_manager(1, {"--controllers", "replicaset,garbagecollector"});
  const auto& deployments = res("apps", "deployments");
  auto chain = [&](const std::string& name) {
    json deployment = make_replicaset(name, 2);
    deployment["kind"] = "Deployment";
    deployment = create(deployments, deployment);
    json rs = make_replicaset(name, 2);
    rs["metadata"]["ownerReferences"] = json::array({owner_ref(deployment)});
    create(replicasets(), rs);
    EXPECT_TRUE(wait_for_pods(name, 2));
  };
  auto gone = [&](const api::ResourceInfo& resource, const std::string& name) {
    auto got = run(client_->get(resource, "default", name));
    return !got.ok() && client::is_not_found(got.error());
  };
  auto remove = [&](const std::string& name, const std::string& policy) {
    client::DeleteOptions options;
    options.propagation_policy = policy;
    auto deleted = run(client_->remove(deployments, "default", name, options));
    ASSERT_TRUE(deleted.ok()) << deleted.error().message();
  };

  // Background: the owner goes at once, then the ReplicaSet, then its pods.
  chain("bg");
  remove("bg", "Background");
  EXPECT_TRUE(gone(deployments, "bg"));
  EXPECT_TRUE(pump([&] { return gone(replicasets(), "bg") && active_pods("bg").empty(); }, 60s));

  // Foreground: the owner stays (deletionTimestamp, foregroundDeletion)
  // until its blocking dependents are gone, and goes last.
  chain("fg");
  remove("fg", "Foreground");
  auto held = run(client_->get(deployments, "default", "fg"));
  ASSERT_TRUE(held.ok());
  EXPECT_EQ((*held)["metadata"]["finalizers"], json::array({"foregroundDeletion"}));
  ASSERT_TRUE(pump([&] { return gone(deployments, "fg"); }, 60s));
  EXPECT_TRUE(gone(replicasets(), "fg"));
  EXPECT_TRUE(active_pods("fg").empty());

  // Orphan: the owner goes, the ReplicaSet stays without the reference and
  // keeps its pods.
  chain("or");
  remove("or", "Orphan");
  ASSERT_TRUE(pump([&] { return gone(deployments, "or"); }, 60s));
  json rs = get_replicaset("or");
  EXPECT_FALSE(rs["metadata"].contains("ownerReferences") && !rs["metadata"]["ownerReferences"].empty())
      << rs.dump();
  EXPECT_EQ(active_pods("or").size(), 2u);

  // A ReplicaSet whose owner never existed is collected with its pods.
  json dangling = make_replicaset("dangling", 1);
  dangling["metadata"]["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"},
                                                          {"kind", "Deployment"},
                                                          {"name", "nobody"},
                                                          {"uid", "no-such-uid"},
                                                          {"controller", true},
                                                          {"blockOwnerDeletion", true}}});
  create(replicasets(), dangling);
  EXPECT_TRUE(pump([&] { return gone(replicasets(), "dangling") && active_pods("dangling").empty(); }, 60s));
}

TEST_F(ControllerManagerTest, NamespaceControllerEmptiesATerminatingNamespaceThenDeletesIt) {
  start_controller_manager(1, {"--controllers", "replicaset,namespace"});
  const auto& namespaces = res("", "namespaces");
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "doomed"}}}};
  ASSERT_TRUE(run(client_->create(namespaces, "", ns)).ok());
  ASSERT_TRUE(run(client_->create(replicasets(), "doomed", make_replicaset("web", 2))).ok());
  json service = json::parse(R"({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}]}})");
  service["metadata"]["name"] = "web";
  ASSERT_TRUE(run(client_->create(res("", "services"), "doomed", service)).ok());
  auto count = [&](const api::ResourceInfo& resource) {
    auto list = run(client_->list(resource, "doomed", client::ListOptions()));
    return list.ok() ? static_cast<int>((*list)["items"].size()) : -1;
  };
  ASSERT_TRUE(pump([&] { return count(pods()) == 2; }, 60s));

  auto deleted = run(client_->remove(namespaces, "", "doomed", client::DeleteOptions()));
  ASSERT_TRUE(deleted.ok()) << deleted.error().message();
  EXPECT_EQ((*deleted)["status"]["phase"], "Terminating");
  ASSERT_TRUE(pump(
      [&] {
        auto got = run(client_->get(namespaces, "", "doomed"));
        return !got.ok() && client::is_not_found(got.error());
      },
      60s));
  // Nothing of it is left behind in storage.
  EXPECT_EQ(count(pods()), 0);
  EXPECT_EQ(count(replicasets()), 0);
  EXPECT_EQ(count(res("", "services")), 0);
}

TEST_F(ControllerManagerTest, NamespaceControllerWaitsForFinalizersAndSaysSo) {
  start_controller_manager(1, {"--controllers", "namespace", "--namespace-finalizer-estimate", "200ms"});
  const auto& namespaces = res("", "namespaces");
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "held"}}}};
  ASSERT_TRUE(run(client_->create(namespaces, "", ns)).ok());
  json cm = make_replicaset("kept", 0);
  cm["metadata"]["finalizers"] = json::array({"example.com/keep"});
  ASSERT_TRUE(run(client_->create(replicasets(), "held", cm)).ok());
  ASSERT_TRUE(run(client_->remove(namespaces, "", "held", client::DeleteOptions())).ok());

  auto condition = [&](const std::string& type) {
    auto got = run(client_->get(namespaces, "", "held"));
    if (!got.ok()) return json::object();
    for (const auto& c : (*got)["status"].value("conditions", json::array()))
      if (c["type"] == type) return c;
    return json::object();
  };
  ASSERT_TRUE(
      pump([&] { return condition("NamespaceFinalizersRemaining").value("status", "") == "True"; }, 60s));
  EXPECT_EQ(
      condition("NamespaceFinalizersRemaining")["message"],
      "Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances");
  EXPECT_EQ(condition("NamespaceContentRemaining")["reason"], "SomeResourcesRemain");
  EXPECT_EQ(condition("NamespaceContentRemaining")["message"],
            "Some resources are remaining: replicasets.apps has 1 resource instances");

  // The finalizer goes: at the next look the namespace goes too.
  auto rs = run(client_->get(replicasets(), "held", "kept"));
  ASSERT_TRUE(rs.ok());
  (*rs)["metadata"]["finalizers"] = json::array();
  ASSERT_TRUE(run(client_->update(replicasets(), "held", *rs)).ok());
  EXPECT_TRUE(pump(
      [&] {
        auto got = run(client_->get(namespaces, "", "held"));
        return !got.ok() && client::is_not_found(got.error());
      },
      60s));
}

TEST_F(ControllerManagerTest, PodGcDeletesPodsOfGoneNodesAndTerminatedPodsOverTheThreshold) {
  start_controller_manager(1, {"--controllers", "podgc", "--pod-gc-period", "100ms", "--pod-gc-quarantine",
                               "300ms", "--terminated-pod-gc-threshold", "2"});
  json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "node-1"}}}};
  ASSERT_TRUE(run(client_->create(res("", "nodes"), "", node)).ok());
  json pod = json::parse(R"({"apiVersion": "v1", "kind": "Pod",
      "spec": {"containers": [{"name": "app", "image": "shakeout/app"}]}})");
  auto make = [&](const std::string& name, const std::string& node_name, const std::string& phase) {
    pod["metadata"]["name"] = name;
    pod["metadata"]["labels"]["app"] = "gc";
    pod["spec"]["nodeName"] = node_name;
    auto created = run(client_->create(pods(), "default", pod));
    ASSERT_TRUE(created.ok()) << created.error().message();
    if (phase.empty()) return;
    (*created)["status"]["phase"] = phase;
    ASSERT_TRUE(run(client_->update_status(pods(), "default", *created)).ok());
  };
  make("on-node-1", "node-1", "Running");
  make("on-gone-node", "node-gone", "Running");
  for (const char* name : {"done-1", "done-2", "done-3", "done-4"}) make(name, "node-1", "Succeeded");

  auto names = [&] {
    std::set<std::string> out;
    for (const auto& p : active_pods("gc")) out.insert(p["metadata"]["name"].get<std::string>());
    return out;
  };
  const std::set<std::string> expected = {"on-node-1", "done-3", "done-4"};
  ASSERT_TRUE(pump([&] { return names() == expected; }, 60s)) << fmt::format("{}", fmt::join(names(), ","));
}

TEST_F(ControllerManagerTest, EndpointSlicesFollowPodsAndAreCollectedWithTheService) {
  start_controller_manager(1, {"--controllers", "endpointslice,garbagecollector"});
  const auto& slices = res("discovery.k8s.io", "endpointslices");
  json service = json::parse(R"({"apiVersion": "v1", "kind": "Service",
      "spec": {"selector": {"app": "sl"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}})");
  service["metadata"]["name"] = "sl";
  create(res("", "services"), service);
  json pod = json::parse(R"({"apiVersion": "v1", "kind": "Pod",
      "spec": {"containers": [{"name": "app", "image": "shakeout/app",
                               "ports": [{"name": "http", "containerPort": 8080}]}]}})");
  pod["metadata"]["labels"]["app"] = "sl";
  for (const char* name : {"sl-a", "sl-b"}) {
    pod["metadata"]["name"] = name;
    create(pods(), pod);
  }
  set_pod_state("sl-a", "10.0.1.1", true);
  set_pod_state("sl-b", "10.0.1.2", false);

  auto managed = [&] {
    client::ListOptions options;
    options.label_selector = "kubernetes.io/service-name=sl";
    auto list = run(client_->list(slices, "default", options));
    return list.ok() ? (*list)["items"] : json::array();
  };
  // ip -> "ready/serving/terminating" of the one slice.
  auto states = [&] {
    std::map<std::string, std::string> out;
    auto items = managed();
    if (items.size() != 1) return out;
    for (const auto& e : items[0].value("endpoints", json::array())) {
      const json& c = e["conditions"];
      out[e["addresses"][0]] = fmt::format("{}/{}/{}", c["ready"].get<bool>(), c["serving"].get<bool>(),
                                           c["terminating"].get<bool>());
    }
    return out;
  };
  using States = std::map<std::string, std::string>;
  ASSERT_TRUE(pump(
      [&] {
        return states() == States{{"10.0.1.1", "true/true/false"}, {"10.0.1.2", "false/false/false"}};
      },
      60s))
      << managed().dump();
  const json slice = managed()[0];
  EXPECT_EQ(slice["addressType"], "IPv4");
  EXPECT_EQ(slice["ports"], json::parse(R"([{"name": "web", "port": 8080, "protocol": "TCP"}])"));
  EXPECT_EQ(slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            "endpointslice-controller.k8s.io");
  EXPECT_EQ(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
  EXPECT_EQ(slice["metadata"]["name"].get<std::string>().rfind("sl-", 0), 0u);

  // A bound pod being deleted stays, serving but terminating.
  auto deleting = run(client_->remove(pods(), "default", "sl-a", client::DeleteOptions()));
  ASSERT_TRUE(deleting.ok());
  EXPECT_TRUE(pump([&] { return states()["10.0.1.1"] == "false/true/true"; }, 60s)) << managed().dump();

  // Deleting the Service lets the garbage collector take its slice.
  ASSERT_TRUE(run(client_->remove(res("", "services"), "default", "sl", client::DeleteOptions())).ok());
  EXPECT_TRUE(pump([&] { return managed().empty(); }, 60s));
}

TEST_F(ControllerManagerTest, DisruptionControllerLetsEvictionsThroughUpToTheBudget) {
  start_controller_manager(1, {"--controllers", "replicaset,disruption"});
  create(replicasets(), make_replicaset("db", 3));
  ASSERT_TRUE(wait_for_pods("db", 3));
  int ip = 1;
  for (const auto& pod : active_pods("db"))
    set_pod_state(pod["metadata"]["name"], fmt::format("10.0.2.{}", ip++), true);
  const auto& budgets = res("policy", "poddisruptionbudgets");
  json pdb = {{"apiVersion", "policy/v1"},
              {"kind", "PodDisruptionBudget"},
              {"metadata", {{"name", "db"}}},
              {"spec", {{"maxUnavailable", 1}, {"selector", {{"matchLabels", {{"app", "db"}}}}}}}};
  create(budgets, pdb);
  auto status = [&] {
    auto got = run(client_->get(budgets, "default", "db"));
    return got.ok() ? (*got).value("status", json::object()) : json::object();
  };
  ASSERT_TRUE(pump([&] { return status().value("disruptionsAllowed", 0) == 1; }, 60s)) << status().dump();
  EXPECT_EQ(status()["expectedPods"], 3) << "maxUnavailable counts the ReplicaSet's scale";
  EXPECT_EQ(status()["desiredHealthy"], 2);
  EXPECT_EQ(status()["observedGeneration"], 1);

  auto evict = [&](const std::string& name) {
    json eviction = {{"apiVersion", "policy/v1"}, {"kind", "Eviction"}, {"metadata", {{"name", name}}}};
    return run(client_->create_subresource(pods(), "default", name, "eviction", eviction));
  };
  auto pods_now = active_pods("db");
  ASSERT_EQ(pods_now.size(), 3u);
  auto first = evict(pods_now[0]["metadata"]["name"]);
  ASSERT_TRUE(first.ok()) << first.error().message();
  // The budget is spent until the controller counts again: the second
  // eviction is refused with 429.
  auto second = evict(pods_now[1]["metadata"]["name"]);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, 429);
}

// Real kubectl: `delete --cascade=foreground` and `delete namespace` wait
// until the object is gone, which takes the garbage collector and the
// namespace controller.
TEST_F(ControllerManagerTest, KubectlDeleteWaitsForTheForegroundCascadeAndTheNamespace) {
  start_controller_manager(1, {"--controllers", "replicaset,garbagecollector,namespace"});
  const auto home = cluster_->run_dir().path() / "kubectl-home";
  auto kubectl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"kubectl", "--kubeconfig", cluster_->kubeconfig_path().string(),
                                     "--request-timeout=20s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return shakeout::testing::run_command(
        argv, {{"HOME", home.string()}, {"KUBECACHEDIR", (home / "cache").string()}}, 90s);
  };
  // (`kubectl create namespace` would send protobuf, which is not served.)
  std::filesystem::create_directories(home);
  const auto manifest = home / "ns.yaml";
  std::ofstream(manifest) << "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kc\n";
  auto created = kubectl({"create", "-f", manifest.string()});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_TRUE(run(client_->create(replicasets(), "kc", make_replicaset("web", 2))).ok());
  auto count_pods = [&] {
    auto list = run(client_->list(pods(), "kc", client::ListOptions()));
    return list.ok() ? static_cast<int>((*list)["items"].size()) : -1;
  };
  ASSERT_TRUE(pump([&] { return count_pods() == 2; }, 60s));

  auto cascade = kubectl({"delete", "replicaset", "web", "-n", "kc", "--cascade=foreground"});
  EXPECT_EQ(cascade.exit_code, 0) << cascade.err;
  EXPECT_EQ(cascade.out, "replicaset.apps \"web\" deleted\n");
  EXPECT_EQ(count_pods(), 0) << "foreground: the pods went before the ReplicaSet";

  ASSERT_TRUE(run(client_->create(replicasets(), "kc", make_replicaset("db", 1))).ok());
  ASSERT_TRUE(pump([&] { return count_pods() == 1; }, 60s));
  auto ns = kubectl({"delete", "namespace", "kc"});
  EXPECT_EQ(ns.exit_code, 0) << ns.err;
  EXPECT_EQ(ns.out, "namespace \"kc\" deleted\n");
  auto gone = kubectl({"get", "namespace", "kc"});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.err.find("NotFound"), std::string::npos) << gone.err;
}

// A ReplicaSet whose pod creations the apiserver refuses (its namespace is
// terminating and nothing finishes it) is retried with backoff: a handful
// of attempts in two seconds, not a hot loop, and the process lives on.
TEST_F(ControllerManagerTest, RefusedWritesAreRetriedWithBackoffNotHotLooped) {
  start_controller_manager(1, {"--controllers", "replicaset"});
  const auto& namespaces = res("", "namespaces");
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "stuck"}}}};
  ASSERT_TRUE(run(client_->create(namespaces, "", ns)).ok());
  ASSERT_TRUE(run(client_->create(replicasets(), "stuck", make_replicaset("web", 0))).ok());
  ASSERT_TRUE(run(client_->remove(namespaces, "", "stuck", client::DeleteOptions())).ok());
  ASSERT_TRUE(run(client_->scale(replicasets(), "stuck", "web", 2)).ok());

  net::HttpClient http(io_.get_executor());
  const net::Endpoint metrics_endpoint{cluster_->addresses().controller_manager_ip(1), 10257};
  auto failed_syncs = [&]() -> int {
    net::HttpRequest request;
    request.target = "/metrics";
    auto response = run(http.request(metrics_endpoint, request, Millis(5000)));
    if (!response.ok()) return -1;
    std::istringstream lines(response->body);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("shakeout_controller_reconciles_total{", 0) == 0 &&
          line.find("controller=\"replicaset\"") != std::string::npos &&
          line.find("result=\"error\"") != std::string::npos)
        return static_cast<int>(std::stod(line.substr(line.rfind(' ') + 1)));
    return 0;
  };
  ASSERT_TRUE(pump([&] { return failed_syncs() >= 2; }, 60s));
  const int before = failed_syncs();
  pump([] { return false; }, 2s);
  const int after = failed_syncs();
  EXPECT_LT(after - before, 25) << "failed syncs in 2 s: per-key backoff (5 ms doubling) allows about 9";
  EXPECT_GE(after, before);
  auto info = cluster_->supervisor().info("controller-manager-1");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->state, cluster::ProcessState::kRunning);
}

}  // namespace
}  // namespace shakeout::controller
