// The proxy against a real API server (etcd + apiserver from the shakeout
// binary), programming a FakeRuntime's dataplane in the test. Waits are
// generous and nothing is asserted on timing: PUTs are counted.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "../kubelet/fake_runtime.h"
#include "api/resource_registry.h"
#include "api_cluster.h"
#include "client/client.h"
#include "client/timers.h"
#include "common/async.h"
#include "proxy/proxy.h"
#include "pump.h"

namespace shakeout::proxy {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

const api::ResourceInfo& res(const char* group, const char* plural) {
  return *api::ResourceRegistry::builtin().by_plural(group, plural);
}

json endpoint(const std::string& ip, bool ready) {
  return {{"addresses", json::array({ip})}, {"conditions", {{"ready", ready}}}};
}

class ProxyIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = shakeout::testing::boot_cluster(io_, shakeout::testing::api_cluster_options("proxy"));
    ASSERT_TRUE(cluster_);
    client::Config config;
    for (const auto& url : cluster_->apiserver_urls()) config.servers.push_back(*net::parse_endpoint(url));
    config.bearer_token = cluster_->token("shakeout");
    client_ = std::make_unique<client::Client>(io_.get_executor(), config);
  }

  void TearDown() override {
    if (proxy_) {
      proxy_->stop();
      EXPECT_TRUE(shakeout::testing::pump(
          io_, [this] { return proxy_done_; }, 20s));
      proxy_.reset();
    }
    client_.reset();
    if (cluster_) run_blocking(io_, cluster_->stop());
  }

  void start_proxy(Millis min_sync_period) {
    Options options;
    options.master = cluster_->apiserver_urls();
    options.token = cluster_->token("shakeout");
    options.hostname_override = "node-1";
    options.runtime_endpoint = "http://127.0.0.1:1";  // unused: the fake is passed in
    options.sync_period = 1h;                         // no full resync during the test
    options.min_sync_period = min_sync_period;
    options.healthz_bind_address = fmt::format("{}:10256", cluster_->addresses().node_ip(1));  // no node runs
    auto runtime = std::make_unique<kubelet::testing::FakeRuntime>(cluster_->run_dir().path());
    runtime_ = runtime.get();
    proxy_ = std::make_unique<Proxy>(io_.get_executor(), options, std::move(runtime), client::real_timers(),
                                     random_);
    ASSERT_TRUE(proxy_->start().ok());
    asio::co_spawn(io_, proxy_->run(), [this](const std::exception_ptr&, int) { proxy_done_ = true; });
  }

  // The ready endpoints programmed for default/web, in order.
  std::vector<std::string> programmed() const {
    std::vector<std::string> ips;
    for (const auto& rule : runtime_->rules.services)
      if (rule.name.rfind("default/web:", 0) == 0)
        for (const auto& e : rule.endpoints) ips.push_back(e.ip);
    return ips;
  }

  void put_slice(json endpoints) {
    slice_["endpoints"] = std::move(endpoints);
    auto written =
        slice_.contains("metadata") && slice_["metadata"].contains("resourceVersion")
            ? run_blocking(io_, client_->update(res("discovery.k8s.io", "endpointslices"), "default", slice_))
            : run_blocking(io_,
                           client_->create(res("discovery.k8s.io", "endpointslices"), "default", slice_));
    ASSERT_TRUE(written.ok()) << written.error().message();
    slice_ = *written;
  }

  asio::io_context io_;
  std::unique_ptr<cluster::Cluster> cluster_;
  std::unique_ptr<client::Client> client_;
  client::SeededRandom random_{11};
  kubelet::testing::FakeRuntime* runtime_ = nullptr;
  std::unique_ptr<Proxy> proxy_;
  bool proxy_done_ = false;
  json slice_ = {{"apiVersion", "discovery.k8s.io/v1"},
                 {"kind", "EndpointSlice"},
                 {"metadata", {{"name", "web-1"}, {"labels", {{"kubernetes.io/service-name", "web"}}}}},
                 {"addressType", "IPv4"},
                 {"ports", json::array({{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}})}};
};

// A not-ready endpoint coming writes nothing and does not use up the
// min-sync-period: the endpoint turning ready right after is the next PUT.
TEST_F(ProxyIntegrationTest, ChangeThatLeavesTheRulesAsProgrammedWritesNothing) {
  json service = {{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata", {{"name", "web"}}},
                  {"spec",
                   {{"selector", {{"app", "web"}}},
                    {"ports", json::array({{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}})}}}};
  ASSERT_TRUE(run_blocking(io_, client_->create(res("", "services"), "default", service)).ok());
  put_slice(json::array({endpoint("127.0.1.2", true)}));
  start_proxy(300ms);
  ASSERT_TRUE(shakeout::testing::pump(
      io_, [this] { return programmed() == std::vector<std::string>{"127.0.1.2"}; }, 20s));
  // Past the min-sync-period of that first sync.
  shakeout::testing::pump(
      io_, [] { return false; }, 500ms);
  const int puts = runtime_->dataplane_puts;
  const uint64_t unchanged = proxy_->counters().unchanged_total;

  put_slice(json::array({endpoint("127.0.1.2", true), endpoint("127.0.2.2", false)}));
  ASSERT_TRUE(shakeout::testing::pump(
      io_, [&] { return proxy_->counters().unchanged_total > unchanged; }, 20s));
  EXPECT_EQ(runtime_->dataplane_puts, puts);

  put_slice(json::array({endpoint("127.0.1.2", true), endpoint("127.0.2.2", true)}));
  ASSERT_TRUE(shakeout::testing::pump(
      io_, [this] { return programmed().size() == 2; }, 20s));
  EXPECT_EQ(programmed(), (std::vector<std::string>{"127.0.1.2", "127.0.2.2"}));
  EXPECT_EQ(runtime_->dataplane_puts, puts + 1);
}

}  // namespace
}  // namespace shakeout::proxy
