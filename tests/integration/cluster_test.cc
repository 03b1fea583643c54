// Boots real clusters (real etcd) with the fast profile.

#include "cluster/cluster.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/detached.hpp>

#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include "api/resource_registry.h"
#include "client/client.h"
#include "common/async.h"
#include "etcd/client.h"
#include "test_support.h"

namespace shakeout::cluster {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using shakeout::testing::processes_matching;
using shakeout::testing::wait_no_processes_matching;

ClusterOptions test_options(const std::string& suffix, int members) {
  ClusterOptions options;
  options.name = fmt::format("it-{}-{}", ::getpid(), suffix);
  options.etcd_members = members;
  options.apiservers = 0;  // etcd-focused tests; ApiServerBootsAfterEtcd... adds one
  options.nodes = 2;
  options.node_components = false;  // these tests play the nodes (node_e2e_test runs them)
  return options;
}

etcd::Client client_for(asio::io_context& io, const Cluster& cluster) {
  etcd::Config config;
  config.endpoints = cluster.etcd().client_urls();
  config.request_timeout = 3000ms;
  return etcd::Client(io.get_executor(), config);
}

class ClusterTest : public ::testing::Test {
 protected:
  // Whatever a test does, nothing of its cluster may outlive it.
  void TearDown() override {
    cluster_.reset();
    if (!run_dir_.empty()) {
      EXPECT_TRUE(wait_no_processes_matching(run_dir_, 5000ms).empty()) << "processes left in " << run_dir_;
      EXPECT_FALSE(fs::exists(run_dir_)) << run_dir_;
    }
  }

  Cluster& boot(ClusterOptions options) {
    auto created = Cluster::create(io_, std::move(options));
    if (!created) throw std::runtime_error(created.error().message);
    cluster_ = std::move(*created);
    run_dir_ = cluster_->run_dir().path().string();
    auto started = run_blocking(io_, cluster_->start());
    if (!started) throw std::runtime_error(started.error().describe());
    return *cluster_;
  }

  asio::io_context io_;
  std::unique_ptr<Cluster> cluster_;
  std::string run_dir_;
};

TEST_F(ClusterTest, OneMemberBootsServesAndRecordsItself) {
  Cluster& cluster = boot(test_options("one", 1));
  const auto& record = cluster.record();
  EXPECT_EQ(record.state, "ready");
  ASSERT_EQ(record.processes.size(), 1u);
  EXPECT_EQ(record.processes[0].name, "etcd-1");
  EXPECT_EQ(record.processes[0].state, "running");
  EXPECT_EQ(record.processes[0].addresses.at("client"), cluster.addresses().etcd_client_url(1));
  ASSERT_EQ(record.nodes.size(), 2u);
  EXPECT_EQ(record.nodes[1].ip, cluster.addresses().node_ip(2));

  auto on_disk = read_record(cluster.run_dir().path());
  ASSERT_TRUE(on_disk.ok());
  EXPECT_EQ(on_disk->state, "ready");
  EXPECT_EQ(on_disk->processes.at(0).pid, record.processes[0].pid);
  EXPECT_EQ(on_disk->supervisor_pid, ::getpid());

  // The member's command line carries the profile's timings.
  const auto pids = processes_matching(cluster.run_dir().path().string());
  ASSERT_EQ(pids.size(), 1u);
  EXPECT_EQ(pids[0], record.processes[0].pid);

  auto client = client_for(io_, cluster);
  auto put = run_blocking(io_, client.put("/k", "v"));
  ASSERT_TRUE(put.ok()) << put.error().describe();
  auto got = run_blocking(io_, client.range("/k"));
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "v");

  run_blocking(io_, cluster.stop());
  EXPECT_TRUE(processes_matching(cluster.run_dir().path().string()).empty());
}

TEST_F(ClusterTest, ThreeMembersElectExactlyOneLeaderAndSurviveItsDeath) {
  Cluster& cluster = boot(test_options("three", 3));
  auto client = client_for(io_, cluster);
  auto leader = run_blocking(io_, etcd::find_leader(client));
  ASSERT_TRUE(leader.ok()) << leader.error().describe();

  // Exactly one member is leader, and it is the one find_leader named.
  int leaders = 0;
  std::string leader_name;
  for (const auto& m : cluster.etcd().members) {
    auto s = run_blocking(io_, client.status(m.client_url));
    ASSERT_TRUE(s.ok()) << s.error().describe();
    if (s->leader == s->header.member_id) {
      ++leaders;
      leader_name = m.name;
      EXPECT_EQ(m.client_url, leader->endpoint);
      EXPECT_EQ(s->header.member_id, leader->member_id);
    }
  }
  ASSERT_EQ(leaders, 1);

  // A client that prefers the member about to die must fail over.
  etcd::Config failover_config;
  failover_config.endpoints = {leader->endpoint};
  for (const auto& url : cluster.etcd().client_urls()) {
    if (url != leader->endpoint) failover_config.endpoints.push_back(url);
  }
  failover_config.request_timeout = 3000ms;
  etcd::Client failover_client(io_.get_executor(), failover_config);

  ASSERT_TRUE(cluster.supervisor().kill(leader_name, SIGKILL).ok());
  auto exit = run_blocking(io_, cluster.supervisor().wait_exit(leader_name));
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->signaled);

  // A new leader appears among the survivors and the client keeps working.
  Result<etcd::LeaderInfo> next = make_error(ErrorCode::kUnavailable, "not yet");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    next = run_blocking(io_, etcd::find_leader(client));
    if (next && next->member_id != leader->member_id) break;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(next.ok()) << next.error().describe();
  EXPECT_NE(next->member_id, leader->member_id);
  EXPECT_GT(next->raft_term, leader->raft_term);
  auto put = run_blocking(io_, failover_client.put("/after-failover", "yes"));
  ASSERT_TRUE(put.ok()) << put.error().describe();
  auto got = run_blocking(io_, failover_client.range("/after-failover"));
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->kvs.at(0).value, "yes");

  // cluster.json shows the member as exited.
  auto on_disk = read_record(cluster.run_dir().path());
  ASSERT_TRUE(on_disk.ok());
  for (const auto& p : on_disk->processes) {
    EXPECT_EQ(p.state, p.name == leader_name ? "exited" : "running") << p.name;
  }
}

TEST_F(ClusterTest, TwoClustersRunSideBySideOnDifferentSubnets) {
  Cluster& first = boot(test_options("a", 1));
  auto second = Cluster::create(io_, test_options("b", 1));
  ASSERT_TRUE(second.ok()) << second.error().message;
  const auto second_dir = (*second)->run_dir().path().string();
  auto started = run_blocking(io_, (*second)->start());
  ASSERT_TRUE(started.ok()) << started.error().describe();
  EXPECT_NE(first.addresses().subnet(), (*second)->addresses().subnet());
  second->reset();
  EXPECT_TRUE(wait_no_processes_matching(second_dir, 5000ms).empty());
  EXPECT_FALSE(fs::exists(second_dir));
}

TEST_F(ClusterTest, ApiServerBootsAfterEtcdAndServesThroughItsKubeconfig) {
  auto options = test_options("api", 1);
  options.apiservers = 1;
  options.controller_managers = 0;
  options.schedulers = 0;
  options.shakeout_binary = shakeout::testing::shakeout_binary();
  Cluster& cluster = boot(options);
  const auto& record = cluster.record();
  ASSERT_EQ(record.processes.size(), 2u);
  EXPECT_EQ(record.processes[1].name, "apiserver-1");
  EXPECT_EQ(record.processes[1].role, "apiserver");
  EXPECT_EQ(record.processes[1].addresses.at("url"), cluster.apiserver_urls().at(0));
  EXPECT_EQ(cluster.apiserver_urls().at(0),
            fmt::format("http://{}:6443", cluster.addresses().apiserver_ip(1)));

  auto version = shakeout::testing::run_command(
      {"kubectl", "--kubeconfig", cluster.kubeconfig_path().string(), "version", "-o", "json"}, {}, 60s);
  ASSERT_EQ(version.exit_code, 0) << version.err;
  EXPECT_NE(version.out.find("\"gitVersion\": \"v1.32.0\""), std::string::npos) << version.out;

  // Stopping tears down the API server before etcd, and both go.
  const pid_t apiserver_pid = record.processes[1].pid;
  run_blocking(io_, cluster.stop());
  EXPECT_FALSE(shakeout::testing::process_running(apiserver_pid));
}

// The whole control plane as `shakeout up` boots it: the controller manager
// creates a ReplicaSet's pods and the scheduler binds them to the (played)
// node; both hold their Leases.
TEST_F(ClusterTest, ControlPlaneCreatesAndSchedulesAReplicaSetsPods) {
  auto options = test_options("cp", 1);
  options.apiservers = 1;
  options.shakeout_binary = shakeout::testing::shakeout_binary();
  Cluster& cluster = boot(options);
  std::map<std::string, std::string> roles;
  for (const auto& p : cluster.record().processes) roles[p.name] = p.role;
  EXPECT_EQ(roles["controller-manager-1"], "controller-manager");
  EXPECT_EQ(roles["scheduler-1"], "scheduler");
  {
    // The scheduler's retry backoff follows the profile (1 s upstream, 50 ms fast).
    std::ifstream file("/proc/" + std::to_string(cluster.supervisor().info("scheduler-1")->pid) + "/cmdline");
    std::string args((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    EXPECT_NE(args.find(std::string("--pod-initial-backoff\0"
                                    "50ms",
                                    26)),
              std::string::npos)
        << args;
    EXPECT_NE(args.find(std::string("--pod-max-backoff\0"
                                    "500ms",
                                    23)),
              std::string::npos)
        << args;
  }

  client::Config config;
  auto servers = client::parse_servers(cluster.apiserver_urls().front());
  ASSERT_TRUE(servers.ok());
  config.servers = *servers;
  config.bearer_token = cluster.token("shakeout");
  client::Client api(io_.get_executor(), config);
  const auto& registry = api::ResourceRegistry::builtin();
  const auto& nodes = *registry.by_plural("", "nodes");
  const auto& pods = *registry.by_plural("", "pods");

  json node = {
      {"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "node-1"}}}, {"spec", json::object()}};
  auto created = run_blocking(io_, api.create(nodes, "", node));
  ASSERT_TRUE(created.ok()) << created.error().message();
  json ready = *created;
  ready["status"] = {{"capacity", {{"cpu", "4"}, {"memory", "8Gi"}, {"pods", "110"}}},
                     {"allocatable", {{"cpu", "4"}, {"memory", "8Gi"}, {"pods", "110"}}},
                     {"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}}}}};
  ASSERT_TRUE(run_blocking(io_, api.update_status(nodes, "", ready)).ok());

  json labels = {{"app", "web"}};
  json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata", {{"name", "web"}}},
             {"spec",
              {{"replicas", 3},
               {"selector", {{"matchLabels", labels}}},
               {"template",
                {{"metadata", {{"labels", labels}}},
                 {"spec", {{"containers", {{{"name", "app"}, {"image", "shakeout/app"}}}}}}}}}}};
  ASSERT_TRUE(run_blocking(io_, api.create(*registry.by_plural("apps", "replicasets"), "default", rs)).ok());

  client::ListOptions by_label;
  by_label.label_selector = "app=web";
  std::size_t bound = 0;
  std::size_t total = 0;
  for (int attempt = 0; attempt < 300 && !(total == 3 && bound == 3); ++attempt) {
    std::this_thread::sleep_for(100ms);
    auto listed = run_blocking(io_, api.list(pods, "default", by_label));
    ASSERT_TRUE(listed.ok()) << listed.error().message();
    total = (*listed)["items"].size();
    bound = 0;
    for (const auto& pod : (*listed)["items"]) bound += pod["spec"].value("nodeName", "") == "node-1" ? 1 : 0;
  }
  EXPECT_EQ(total, 3u) << "the controller manager did not create the ReplicaSet's pods";
  EXPECT_EQ(bound, 3u) << "the scheduler did not bind them";
  auto leases = run_blocking(io_, api.list(*registry.by_plural("coordination.k8s.io", "leases"),
                                           "kube-system", client::ListOptions()));
  ASSERT_TRUE(leases.ok());
  std::set<std::string> held;
  for (const auto& lease : (*leases)["items"]) {
    if (!lease["spec"].value("holderIdentity", "").empty()) held.insert(lease["metadata"].value("name", ""));
  }
  EXPECT_EQ(held, (std::set<std::string>{"kube-controller-manager", "kube-scheduler"}));

  // Static pods: a killed controller manager is started again (the fast
  // profile's first CrashLoopBackOff restart is immediate), and
  // cluster.json follows the new pid.
  const pid_t before = cluster.supervisor().info("controller-manager-1")->pid;
  ASSERT_TRUE(cluster.supervisor().kill("controller-manager-1", SIGKILL).ok());
  bool restarted = false;
  for (int attempt = 0; attempt < 300 && !restarted; ++attempt) {
    io_.restart();
    io_.run_for(100ms);
    auto info = cluster.supervisor().info("controller-manager-1");
    restarted = info && info->state == ProcessState::kRunning && info->pid != before;
  }
  ASSERT_TRUE(restarted);
  const auto info = cluster.supervisor().info("controller-manager-1");
  EXPECT_EQ(info->restarts, 1);
  pid_t recorded = 0;
  for (const auto& p : cluster.record().processes)
    if (p.name == "controller-manager-1") recorded = p.pid;
  EXPECT_EQ(recorded, info->pid);
}

TEST_F(ClusterTest, SameNameTwiceIsRefused) {
  boot(test_options("dup", 1));
  auto again = Cluster::create(io_, test_options("dup", 1));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(ClusterTest, AbortMakesAPendingStartFailFast) {
  auto options = test_options("abort", 3);
  options.start_timeout = 120s;
  auto created = Cluster::create(io_, options);
  ASSERT_TRUE(created.ok());
  cluster_ = std::move(*created);
  run_dir_ = cluster_->run_dir().path().string();
  Status result;
  bool done = false;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        result = co_await cluster_->start();
        done = true;
      },
      asio::detached);
  // Abort as soon as the members have been launched.
  while (!done && cluster_->supervisor().list().size() < 3) io_.run_one();
  cluster_->abort();
  const auto begin = std::chrono::steady_clock::now();
  while (!done) io_.run_one();
  EXPECT_FALSE(result.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 60s);  // fails fast, not at the 120s deadline
}

TEST_F(ClusterTest, AMissingEtcdBinaryFailsStartWithAClearError) {
  auto options = test_options("noetcd", 1);
  options.etcd_binary = "/nonexistent/etcd";
  auto created = Cluster::create(io_, options);
  ASSERT_TRUE(created.ok());
  cluster_ = std::move(*created);
  run_dir_ = cluster_->run_dir().path().string();
  auto started = run_blocking(io_, cluster_->start());
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("/nonexistent/etcd"), std::string::npos) << started.error().message;
}

}  // namespace
}  // namespace shakeout::cluster
