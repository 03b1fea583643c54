// `shakeout apiserver` as a real process over a real etcd, as the
// supervisor runs it, probed over HTTP and with real kubectl.

#include "apiserver/server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <sstream>

#include "cluster/cluster.h"
#include "common/async.h"
#include "net/http_client.h"
#include "test_support.h"

namespace shakeout::apiserver {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using shakeout::testing::run_command;
using shakeout::testing::shakeout_binary;

class ApiServerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster::ClusterOptions options;
    options.apiservers = 0;  // the test starts apiserver-1 itself
    options.name = fmt::format("apiserver-{}", ::getpid());
    auto created = cluster::Cluster::create(io_, options);
    ASSERT_TRUE(created.ok()) << created.error().message;
    cluster_ = std::move(*created);
    auto started = run_blocking(io_, cluster_->start());
    ASSERT_TRUE(started.ok()) << started.error().describe();

    address_ = cluster_->addresses().apiserver_ip(1);
    cluster::ProcessSpec spec;
    spec.name = "apiserver-1";
    spec.argv = {shakeout_binary(), "apiserver",
                 "--etcd-servers",  fmt::format("{}", fmt::join(cluster_->etcd().client_urls(), ",")),
                 "--bind-address",  address_,
                 "--port",          "6443"};
    spec.log_file = cluster_->run_dir().log_file("apiserver-1");
    ASSERT_TRUE(cluster_->supervisor().start(spec).ok());
    auto ready = wait_until_ready();
    ASSERT_TRUE(ready.ok()) << ready.error().describe();
  }

  // Until /readyz answers 200 (or apiserver-1 exits, or 30s pass).
  Status wait_until_ready() {
    return run_blocking(io_, cluster_->supervisor().wait_ready(
                                 "apiserver-1",
                                 [this]() -> asio::awaitable<bool> {
                                   auto r = co_await get_async("/readyz");
                                   co_return r.ok() && r->status == 200;
                                 },
                                 30000ms));
  }

  void TearDown() override { cluster_.reset(); }

  asio::awaitable<Result<net::HttpResponse>> get_async(std::string path) {
    net::HttpRequest request;
    request.target = std::move(path);
    // Built step by step: g++ 12 mis-handles braced temporaries in coroutines.
    net::Endpoint endpoint;
    endpoint.host = address_;
    endpoint.port = 6443;
    co_return co_await http_.request(endpoint, std::move(request), 5000ms);
  }
  Result<net::HttpResponse> get(const std::string& path) { return run_blocking(io_, get_async(path)); }
  std::string server() const { return fmt::format("http://{}:6443", address_); }

  asio::io_context io_;
  net::HttpClient http_{io_.get_executor()};
  std::unique_ptr<cluster::Cluster> cluster_;
  std::string address_;
};

TEST_F(ApiServerProcessTest, HealthAndVersionAnswerAsKubeApiserverDoes) {
  auto healthz = get("/healthz");
  ASSERT_TRUE(healthz.ok()) << healthz.error().describe();
  EXPECT_EQ(healthz->status, 200u);
  EXPECT_EQ(healthz->body, "ok");
  auto livez = get("/livez");
  ASSERT_TRUE(livez.ok());
  EXPECT_EQ(livez->status, 200u);

  auto version = get("/version");
  ASSERT_TRUE(version.ok());
  ASSERT_EQ(version->status, 200u);
  const auto info = json::parse(version->body);
  EXPECT_EQ(info["major"], "1");
  EXPECT_EQ(info["minor"], "32");
  EXPECT_EQ(info["gitVersion"], kKubernetesVersion);
}

TEST_F(ApiServerProcessTest, RealKubectlReadsTheServerVersion) {
  auto result =
      run_command({"kubectl", "--server", server(), "version", "-o", "json", "--request-timeout=10s"},
                  {{"KUBECONFIG", "/dev/null"}}, 60s);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto out = json::parse(result.out);
  EXPECT_EQ(out["serverVersion"]["gitVersion"], kKubernetesVersion);
  EXPECT_EQ(out["serverVersion"]["minor"], "32");
}

TEST_F(ApiServerProcessTest, DiscoveryServesGroupsAndResources) {
  auto apis = get("/apis");
  ASSERT_TRUE(apis.ok());
  ASSERT_EQ(apis->status, 200u);
  std::set<std::string> groups;
  const auto group_list =
      json::parse(apis->body);  // named: a range-for over ["groups"] of a temporary dangles
  for (const auto& g : group_list["groups"]) groups.insert(g["name"].get<std::string>());
  EXPECT_EQ(groups, (std::set<std::string>{"apps", "coordination.k8s.io", "discovery.k8s.io", "policy"}));

  auto core = get("/api/v1");
  ASSERT_TRUE(core.ok());
  ASSERT_EQ(core->status, 200u);
  std::map<std::string, json> by_name;
  const auto core_list = json::parse(core->body);
  for (const auto& r : core_list["resources"]) by_name[r["name"].get<std::string>()] = r;
  ASSERT_TRUE(by_name.contains("pods"));
  EXPECT_EQ(by_name["pods"]["shortNames"], json::array({"po"}));
  EXPECT_EQ(by_name["pods"]["kind"], "Pod");
  EXPECT_TRUE(by_name["pods"]["namespaced"].get<bool>());
  EXPECT_EQ(by_name["pods/eviction"]["group"], "policy");
  EXPECT_EQ(by_name["pods/eviction"]["kind"], "Eviction");
  EXPECT_EQ(by_name["pods/binding"]["verbs"], json::array({"create"}));
  EXPECT_FALSE(by_name["nodes"]["namespaced"].get<bool>());

  auto apps = get("/apis/apps/v1");
  ASSERT_TRUE(apps.ok());
  ASSERT_EQ(apps->status, 200u);
  bool scale_found = false;
  const auto apps_list = json::parse(apps->body);
  for (const auto& r : apps_list["resources"]) {
    if (r["name"] == "deployments/scale") {
      scale_found = true;
      EXPECT_EQ(r["group"], "autoscaling");
      EXPECT_EQ(r["kind"], "Scale");
    }
  }
  EXPECT_TRUE(scale_found);
  auto missing = get("/apis/apps/v2");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404u);
}

// Collapses runs of spaces so a kubectl table row compares field by field.
std::string squeeze(const std::string& line) {
  std::string out;
  for (char c : line) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

TEST_F(ApiServerProcessTest, RealKubectlListsApiResources) {
  auto result = run_command({"kubectl", "--server", server(), "api-resources", "--request-timeout=10s"},
                            {{"KUBECONFIG", "/dev/null"}, {"HOME", "/nonexistent"}}, 60s);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::set<std::string> rows;
  std::istringstream in(result.out);
  for (std::string line; std::getline(in, line);) rows.insert(squeeze(line));
  // The rows a kind cluster prints for the same resources.
  for (const char* row :
       {"NAME SHORTNAMES APIVERSION NAMESPACED KIND", "pods po v1 true Pod", "nodes no v1 false Node",
        "services svc v1 true Service", "namespaces ns v1 false Namespace", "endpoints ep v1 true Endpoints",
        "events ev v1 true Event", "deployments deploy apps/v1 true Deployment",
        "replicasets rs apps/v1 true ReplicaSet", "leases coordination.k8s.io/v1 true Lease"}) {
    EXPECT_TRUE(rows.contains(row)) << "missing row: " << row << "\n" << result.out;
  }
}

TEST_F(ApiServerProcessTest, UnknownPathIsAStatusNotFound) {
  auto response = get("/api/v1/frobnicators");
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 404u);
  const auto status = json::parse(response->body);
  EXPECT_EQ(status["kind"], "Status");
  EXPECT_EQ(status["apiVersion"], "v1");
  EXPECT_EQ(status["status"], "Failure");
  EXPECT_EQ(status["reason"], "NotFound");
  EXPECT_EQ(status["code"], 404);
  EXPECT_EQ(status["message"], "the server could not find the requested resource");
}

TEST_F(ApiServerProcessTest, ReadyzFailsWhileEtcdIsUnreachableAndRecovers) {
  ASSERT_TRUE(cluster_->supervisor().pause("etcd-1").ok());
  auto paused = get("/readyz");  // the server's etcd deadline (2s) ends the check, within ours (5s)
  ASSERT_TRUE(cluster_->supervisor().resume("etcd-1").ok());
  ASSERT_TRUE(paused.ok()) << paused.error().describe();
  EXPECT_EQ(paused->status, 500u);
  EXPECT_NE(paused->body.find("[-]etcd failed"), std::string::npos) << paused->body;
  auto ready = wait_until_ready();
  EXPECT_TRUE(ready.ok()) << ready.error().describe();
}

TEST_F(ApiServerProcessTest, SigtermStopsItCleanly) {
  auto stopped = run_blocking(io_, cluster_->supervisor().stop("apiserver-1"));
  ASSERT_TRUE(stopped.ok());
  const auto info = cluster_->supervisor().info("apiserver-1");
  ASSERT_TRUE(info && info->last_exit);
  EXPECT_EQ(info->last_exit->describe(), "exit code 0");
}

TEST(ApiServerFlags, BadFlagsExit2WithoutServing) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"apiserver"},
           {"apiserver", "--etcd-servers", "http://127.0.0.1:2379", "--bind-address", "10.1.2.3"},
           {"apiserver", "--etcd-servers", "127.0.0.1:2379"},
           {"apiserver", "--etcd-servers", "http://127.0.0.1:2379", "--port", "notaport"}}) {
    std::vector<std::string> argv = args;
    argv.insert(argv.begin(), shakeout_binary());
    auto result = run_command(argv, {}, 30s);
    EXPECT_EQ(result.exit_code, 2) << fmt::format("{}", fmt::join(args, " ")) << result.err;
    EXPECT_NE(result.err.find("error"), std::string::npos) << result.err;
  }
}

}  // namespace
}  // namespace shakeout::apiserver
