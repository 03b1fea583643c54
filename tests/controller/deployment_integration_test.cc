// The Deployment controller in a `shakeout controller-manager` process
// against a real cluster (etcd + apiserver). There is no scheduler or
// kubelet: the test plays them (play_kubelet), binding every pod, marking it
// Running and Ready with an IP, and finishing pods that are being deleted.
// Real kubectl checks `rollout status` and `wait --for=condition=Available`.
// Every wait has a generous timeout and nothing is asserted on timing.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api_cluster.h"
#include "client/client.h"
#include "cluster/cluster.h"
#include "common/async.h"
#include "controller/deployment_util.h"
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
const api::ResourceInfo& deployments() {
  return res("apps", "deployments");
}

json make_deployment(const std::string& name, int replicas) {
  json d = json::parse(R"({"apiVersion": "apps/v1", "kind": "Deployment",
    "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "shakeout/app:1"}]}}}})");
  d["metadata"]["name"] = name;
  d["spec"]["replicas"] = replicas;
  d["spec"]["selector"]["matchLabels"]["app"] = name;
  d["spec"]["template"]["metadata"]["labels"]["app"] = name;
  return d;
}

// The status condition of `type`, if there is one.
std::optional<json> condition(const json& object, const std::string& type) {
  const json status = object.value("status", json::object());
  const json conditions = status.value("conditions", json::array());
  for (const auto& c : conditions)
    if (c.value("type", "") == type) return c;
  return std::nullopt;
}

class DeploymentIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = shakeout::testing::api_cluster_options("deploy");
    options.nodes = 1;  // recorded only: the test plays the node
    cluster_ = shakeout::testing::boot_cluster(io_, options);
    ASSERT_TRUE(cluster_);
    client::Config config;
    for (const auto& url : cluster_->apiserver_urls()) config.servers.push_back(*net::parse_endpoint(url));
    config.bearer_token = cluster_->token("shakeout");
    config.request_timeout = 5000ms;
    client_ = std::make_unique<client::Client>(io_.get_executor(), config);
    start_controller_manager();
  }

  void TearDown() override {
    client_.reset();
    if (cluster_) run_blocking(io_, cluster_->stop());
    cluster_.reset();
  }

  void start_controller_manager() {
    // One replica: nothing to elect (a starved renewal would make it exit).
    auto spec = shakeout::testing::controller_manager_spec(*cluster_, 1, {"--leader-elect", "false"});
    ASSERT_TRUE(cluster_->supervisor().start(spec).ok());
  }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  json create(const api::ResourceInfo& resource, const json& object) {
    auto created = run(client_->create(resource, "default", object));
    EXPECT_TRUE(created.ok()) << created.error().message();
    return created.ok() ? *created : json();
  }

  std::vector<json> list(const api::ResourceInfo& resource, const std::string& selector) {
    client::ListOptions options;
    options.label_selector = selector;
    auto listed = run(client_->list(resource, "default", options));
    std::vector<json> out;
    if (!listed.ok()) return out;
    for (const auto& item : (*listed)["items"]) out.push_back(item);
    return out;
  }

  std::vector<json> active_pods(const std::string& app) {
    std::vector<json> out;
    for (auto& pod : list(pods(), "app=" + app))
      if (!pod["metadata"].contains("deletionTimestamp")) out.push_back(std::move(pod));
    return out;
  }

  json get_deployment(const std::string& name) {
    auto d = run(client_->get(deployments(), "default", name));
    return d.ok() ? *d : json::object();
  }

  // The scheduler's and kubelet's part for every pod: bind it and report it
  // Running and Ready with an IP; a pod being deleted is finished once it
  // has been seen terminating for termination_delay_ (its containers
  // stopping).
  void play_kubelet() {
    for (const auto& pod : list(pods(), "")) {
      const std::string name = pod["metadata"]["name"];
      if (pod["metadata"].contains("deletionTimestamp")) {
        const auto seen =
            terminating_since_.try_emplace(name, std::chrono::steady_clock::now()).first->second;
        if (std::chrono::steady_clock::now() - seen < termination_delay_) continue;
        client::DeleteOptions options;
        options.grace_period_seconds = 0;
        (void)run(client_->remove(pods(), "default", name, options));  // gone already: fine
        continue;
      }
      const json status = pod.value("status", json::object());
      bool ready = false;
      for (const auto& c : status.value("conditions", json::array()))
        if (c.value("type", "") == "Ready" && c.value("status", "") == "True") ready = true;
      if (ready) continue;
      if (!pod["spec"].contains("nodeName")) {
        json binding = {{"apiVersion", "v1"}, {"kind", "Binding"}};
        binding["metadata"]["name"] = name;
        binding["target"] = {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "node-1"}};
        (void)run(client_->create_subresource(pods(), "default", name, "binding", binding));
        continue;  // marked Ready on a later round, from the bound pod
      }
      json updated = pod;
      const std::string ip = fmt::format("10.1.{}.{}", next_ip_ / 250, next_ip_ % 250 + 1);
      ++next_ip_;
      updated["status"]["phase"] = "Running";
      updated["status"]["podIP"] = ip;
      updated["status"]["podIPs"] = json::array({{{"ip", ip}}});
      json ready_condition = {{"type", "Ready"}, {"status", "True"}};
      ready_condition["lastTransitionTime"] = "2024-01-01T00:00:00Z";
      updated["status"]["conditions"] = json::array({ready_condition});
      (void)run(client_->update_status(pods(), "default", updated));  // a 409 is retried next round
    }
  }

  // Plays the kubelet until `done`, calling `sample` on every round.
  bool settle(const std::function<bool()>& done, const std::function<void()>& sample = {}) {
    return shakeout::testing::pump(
        io_,
        [&] {
          play_kubelet();
          if (sample) sample();
          return done();
        },
        120s);
  }

  // The deployment's status is current and `check` holds.
  bool wait_for_deployment(const std::string& name, const std::function<bool(const json&)>& check,
                           const std::function<void()>& sample = {}) {
    return settle(
        [&] {
          const json d = get_deployment(name);
          const json status = d.value("status", json::object());
          return d.contains("metadata") &&
                 status.value("observedGeneration", int64_t{0}) ==
                     d["metadata"].value("generation", int64_t{0}) &&
                 check(d);
        },
        sample);
  }

  static bool rolled_out(const json& d, int64_t replicas) {
    const json status = d.value("status", json::object());
    return status.value("replicas", -1) == replicas && status.value("updatedReplicas", -1) == replicas &&
           status.value("readyReplicas", -1) == replicas && status.value("availableReplicas", -1) == replicas;
  }

  void scale(const std::string& name, int64_t replicas) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      auto scaled = run(client_->scale(deployments(), "default", name, replicas));
      if (scaled.ok()) return;
      ASSERT_TRUE(client::is_conflict(scaled.error())) << scaled.error().message();
    }
    FAIL() << "scale kept conflicting";
  }

  void set_image(const std::string& name, const std::string& image) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      json d = get_deployment(name);
      d["spec"]["template"]["spec"]["containers"][0]["image"] = image;
      auto updated = run(client_->update(deployments(), "default", d));
      if (updated.ok()) return;
      ASSERT_TRUE(client::is_conflict(updated.error())) << updated.error().message();
    }
    FAIL() << "update kept conflicting";
  }

  shakeout::testing::CommandResult kubectl(const std::vector<std::string>& args) {
    const auto home = cluster_->run_dir().path() / "kubectl-home";
    std::filesystem::create_directories(home);
    std::vector<std::string> argv = {"kubectl", "--kubeconfig", cluster_->kubeconfig_path().string(),
                                     "--request-timeout=20s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return shakeout::testing::run_command(
        argv, {{"HOME", home.string()}, {"KUBECACHEDIR", (home / "cache").string()}}, 120s);
  }

  asio::io_context io_;
  std::unique_ptr<cluster::Cluster> cluster_;
  std::unique_ptr<client::Client> client_;
  int next_ip_ = 0;
  Millis termination_delay_{0};
  std::map<std::string, std::chrono::steady_clock::time_point> terminating_since_;
};

TEST_F(DeploymentIntegrationTest, CreatesOneReplicaSetScalesItAndReportsAvailable) {
  const json d = create(deployments(), make_deployment("web", 3));
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) { return rolled_out(x, 3); }));

  const auto rss = list(replicasets(), "app=web");
  ASSERT_EQ(rss.size(), 1u);
  const json& rs = rss[0];
  const std::string hash = rs["metadata"]["labels"].value("pod-template-hash", "");
  ASSERT_FALSE(hash.empty());
  EXPECT_EQ(rs["metadata"]["name"], "web-" + hash);
  EXPECT_EQ(rs["spec"]["selector"]["matchLabels"]["pod-template-hash"], hash);
  EXPECT_EQ(rs["metadata"]["ownerReferences"][0]["uid"], d["metadata"]["uid"]);
  EXPECT_EQ(rs["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
  EXPECT_EQ(rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"], "3");
  EXPECT_EQ(rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"], "4");
  EXPECT_EQ(active_pods("web").size(), 3u);

  const json current = get_deployment("web");
  const auto available = condition(current, "Available");
  ASSERT_TRUE(available.has_value());
  EXPECT_EQ((*available)["status"], "True");
  EXPECT_EQ((*available)["reason"], "MinimumReplicasAvailable");
  const auto progressing = condition(current, "Progressing");
  ASSERT_TRUE(progressing.has_value());
  EXPECT_EQ((*progressing)["reason"], "NewReplicaSetAvailable");
  EXPECT_EQ(current["status"].value("unavailableReplicas", -1), 0);

  scale("web", 5);
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) { return rolled_out(x, 5); }));
  EXPECT_EQ(active_pods("web").size(), 5u);
  scale("web", 2);
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) { return rolled_out(x, 2); }));
  ASSERT_TRUE(settle([&] { return active_pods("web").size() == 2; }));
  EXPECT_EQ(list(replicasets(), "app=web").size(), 1u);
}

TEST_F(DeploymentIntegrationTest, RollingUpdateStaysWithinMaxSurgeAndMaxUnavailable) {
  json spec = make_deployment("web", 4);
  spec["spec"]["strategy"] = json::parse(R"({"type": "RollingUpdate",
                                             "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}})");
  create(deployments(), spec);
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) { return rolled_out(x, 4); }));
  const std::string old_rs = list(replicasets(), "app=web")[0]["metadata"]["name"];

  set_image("web", "shakeout/app:2");
  std::size_t most_pods = 0;
  int64_t most_rs_replicas = 0;
  std::size_t fewest_ready = 99;
  std::set<std::string> seen_rs;
  auto sample = [&] {
    std::size_t ready = 0;
    const auto active = active_pods("web");
    for (const auto& pod : active)
      for (const auto& c : pod.value("status", json::object()).value("conditions", json::array()))
        if (c.value("type", "") == "Ready" && c.value("status", "") == "True") ++ready;
    most_pods = std::max(most_pods, active.size());
    fewest_ready = std::min(fewest_ready, ready);
    int64_t total = 0;
    for (const auto& rs : list(replicasets(), "app=web")) {
      total += rs["spec"].value("replicas", int64_t{0});
      seen_rs.insert(rs["metadata"]["name"].get<std::string>());
    }
    most_rs_replicas = std::max(most_rs_replicas, total);
  };
  ASSERT_TRUE(wait_for_deployment(
      "web",
      [](const json& x) {
        const auto p = condition(x, "Progressing");
        return rolled_out(x, 4) && p && p->value("reason", "") == "NewReplicaSetAvailable";
      },
      sample));
  EXPECT_LE(most_pods, 5u) << "replicas + maxSurge";
  EXPECT_LE(most_rs_replicas, 5) << "replicas + maxSurge";
  EXPECT_GE(fewest_ready, 3u) << "replicas - maxUnavailable";
  EXPECT_EQ(seen_rs.size(), 2u);

  const auto rss = list(replicasets(), "app=web");
  ASSERT_EQ(rss.size(), 2u);
  for (const auto& rs : rss) {
    const std::string name = rs["metadata"]["name"];
    const auto& annotations = rs["metadata"]["annotations"];
    if (name == old_rs) {
      EXPECT_EQ(rs["spec"]["replicas"], 0);
      EXPECT_EQ(annotations["deployment.kubernetes.io/revision"], "1");
    } else {
      EXPECT_EQ(rs["spec"]["replicas"], 4);
      EXPECT_EQ(rs["spec"]["template"]["spec"]["containers"][0]["image"], "shakeout/app:2");
      EXPECT_EQ(annotations["deployment.kubernetes.io/revision"], "2");
    }
  }
  for (const auto& pod : active_pods("web"))
    EXPECT_EQ(pod["spec"]["containers"][0]["image"], "shakeout/app:2");
  EXPECT_EQ(get_deployment("web")["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
}

TEST_F(DeploymentIntegrationTest, RecreateRemovesEveryOldPodBeforeCreatingNewOnes) {
  json spec = make_deployment("web", 3);
  spec["spec"]["strategy"] = json::parse(R"({"type": "Recreate"})");
  termination_delay_ = 1500ms;  // old pods keep running a while after their deletion
  create(deployments(), spec);
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) { return rolled_out(x, 3); }));

  set_image("web", "shakeout/app:2");
  bool mixed = false;
  std::size_t most_pods = 0;
  auto sample = [&] {
    std::set<std::string> images;
    const auto all = list(pods(), "app=web");  // terminating pods included: they still run
    for (const auto& pod : all) images.insert(pod["spec"]["containers"][0]["image"].get<std::string>());
    if (images.size() > 1) mixed = true;
    most_pods = std::max(most_pods, all.size());
  };
  ASSERT_TRUE(wait_for_deployment(
      "web",
      [](const json& x) {
        const auto p = condition(x, "Progressing");
        return rolled_out(x, 3) && p && p->value("reason", "") == "NewReplicaSetAvailable";
      },
      sample));
  EXPECT_FALSE(mixed) << "old and new pods ran at the same time";
  EXPECT_LE(most_pods, 3u);
  for (const auto& pod : active_pods("web"))
    EXPECT_EQ(pod["spec"]["containers"][0]["image"], "shakeout/app:2");
}

TEST_F(DeploymentIntegrationTest, KubectlRolloutStatusAndWaitAvailableFinish) {
  create(deployments(), make_deployment("web", 2));
  auto status = std::async(std::launch::async, [this] {
    return kubectl({"rollout", "status", "deployment/web", "--timeout=100s"});
  });
  ASSERT_TRUE(settle([&] { return status.wait_for(0s) == std::future_status::ready; }));
  const auto rollout = status.get();
  EXPECT_EQ(rollout.exit_code, 0) << rollout.out << rollout.err;
  EXPECT_NE(rollout.out.find("successfully rolled out"), std::string::npos) << rollout.out;

  auto waited = kubectl({"wait", "--for=condition=Available", "deployment/web", "--timeout=60s"});
  EXPECT_EQ(waited.exit_code, 0) << waited.out << waited.err;

  // A second rollout, watched from its start.
  set_image("web", "shakeout/app:2");
  status = std::async(std::launch::async, [this] {
    return kubectl({"rollout", "status", "deployment/web", "--timeout=100s"});
  });
  ASSERT_TRUE(settle([&] { return status.wait_for(0s) == std::future_status::ready; }));
  const auto second = status.get();
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_NE(second.out.find("successfully rolled out"), std::string::npos) << second.out;
  const json d = get_deployment("web");
  EXPECT_EQ(d["status"].value("updatedReplicas", -1), 2);
  EXPECT_EQ(d["status"].value("availableReplicas", -1), 2);
}

TEST_F(DeploymentIntegrationTest, PausedDeploymentScalesButDoesNotRollOutAndOldReplicaSetsAreCleanedUp) {
  json spec = make_deployment("web", 2);
  spec["spec"]["revisionHistoryLimit"] = 0;
  create(deployments(), spec);
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) { return rolled_out(x, 2); }));
  const std::string first_rs = list(replicasets(), "app=web")[0]["metadata"]["name"];

  for (int attempt = 0; attempt < 20; ++attempt) {
    json d = get_deployment("web");
    d["spec"]["paused"] = true;
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "shakeout/app:2";
    if (run(client_->update(deployments(), "default", d)).ok()) break;
  }
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) {
    const auto p = condition(x, "Progressing");
    return p && p->value("reason", "") == "DeploymentPaused" && p->value("status", "") == "Unknown";
  }));
  scale("web", 3);
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) {
    const json status = x.value("status", json::object());
    return status.value("replicas", -1) == 3 && status.value("availableReplicas", -1) == 3;
  }));
  auto rss = list(replicasets(), "app=web");
  ASSERT_EQ(rss.size(), 1u) << "no new ReplicaSet while paused";
  EXPECT_EQ(rss[0]["metadata"]["name"], first_rs);
  EXPECT_EQ(rss[0]["spec"]["replicas"], 3);
  EXPECT_EQ(get_deployment("web")["status"].value("updatedReplicas", -1), 0);

  for (int attempt = 0; attempt < 20; ++attempt) {
    json d = get_deployment("web");
    d["spec"]["paused"] = false;
    if (run(client_->update(deployments(), "default", d)).ok()) break;
  }
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) {
    const auto p = condition(x, "Progressing");
    return rolled_out(x, 3) && p && p->value("reason", "") == "NewReplicaSetAvailable";
  }));
  // revisionHistoryLimit 0: the scaled-down first RS is deleted.
  ASSERT_TRUE(settle([&] { return list(replicasets(), "app=web").size() == 1; }));
  rss = list(replicasets(), "app=web");
  EXPECT_NE(rss[0]["metadata"]["name"], first_rs);
  EXPECT_EQ(rss[0]["spec"]["template"]["spec"]["containers"][0]["image"], "shakeout/app:2");
}

TEST_F(DeploymentIntegrationTest, HashCollisionBumpsCollisionCountAndTakesAnotherName) {
  json spec = make_deployment("web", 2);
  spec["spec"]["paused"] = true;  // no ReplicaSet yet
  const json created = create(deployments(), spec);
  ASSERT_TRUE(created.contains("metadata"));
  // An unrelated RS (not selected) already holds the name of the new one.
  const std::string hash = compute_hash(created["spec"]["template"], std::nullopt);
  json squatter = json::parse(R"({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {"replicas": 0,
    "selector": {"matchLabels": {"app": "other"}},
    "template": {"metadata": {"labels": {"app": "other"}},
                 "spec": {"containers": [{"name": "app", "image": "other"}]}}}})");
  squatter["metadata"]["name"] = "web-" + hash;
  create(replicasets(), squatter);

  for (int attempt = 0; attempt < 20; ++attempt) {
    json d = get_deployment("web");
    d["spec"]["paused"] = false;
    if (run(client_->update(deployments(), "default", d)).ok()) break;
  }
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) { return rolled_out(x, 2); }));
  EXPECT_EQ(get_deployment("web")["status"].value("collisionCount", -1), 1);
  const auto rss = list(replicasets(), "app=web");
  ASSERT_EQ(rss.size(), 1u);
  EXPECT_EQ(rss[0]["metadata"]["name"], "web-" + compute_hash(created["spec"]["template"], 1));
  EXPECT_EQ(run(client_->get(replicasets(), "default", "web-" + hash))
                .value()["spec"]["template"]["spec"]["containers"][0]["image"],
            "other");
}

// Garbage collection with every controller running: deleting a Deployment
// in the background (kubectl's default) takes its ReplicaSets, old and new,
// then their pods.
TEST_F(DeploymentIntegrationTest, DeletingADeploymentRemovesItsReplicaSetsAndPods) {
  create(deployments(), make_deployment("web", 3));
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) { return rolled_out(x, 3); }));
  set_image("web", "shakeout/app:2");
  ASSERT_TRUE(wait_for_deployment("web", [](const json& x) { return rolled_out(x, 3); }));
  ASSERT_EQ(list(replicasets(), "app=web").size(), 2u) << "the old ReplicaSet is kept (revision history)";

  client::DeleteOptions options;
  options.propagation_policy = "Background";
  auto deleted = run(client_->remove(deployments(), "default", "web", options));
  ASSERT_TRUE(deleted.ok()) << deleted.error().message();
  EXPECT_TRUE(settle([&] {
    return list(replicasets(), "app=web").empty() && list(pods(), "app=web").empty();
  })) << list(replicasets(), "app=web").size()
      << " ReplicaSets and " << list(pods(), "app=web").size() << " pods left";
}

}  // namespace
}  // namespace shakeout::controller
