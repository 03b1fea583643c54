// ServiceAllocator against a real 1-member etcd booted by the product's
// cluster code. Each test uses its own IP range and node port range so
// tests sharing the etcd never see each other's reservations.

#include "api/service_allocator.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/async.h"
#include "etcd_fixture.h"

namespace shakeout::api {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

json service(const std::string& name, const char* spec) {
  json s = json::object();
  s["metadata"] = {{"name", name}, {"namespace", "default"}};
  s["spec"] = json::parse(spec);
  return s;
}

class ServiceAllocatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = etcd::testing::EtcdCluster::start(1);
    ASSERT_TRUE(cluster.ok()) << cluster.error().describe();
    cluster_ = std::move(*cluster).release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    client_ = std::make_unique<etcd::Client>(io_.get_executor(),
                                             etcd::Config{cluster_->endpoints(), 5000ms, 1000ms});
    // A distinct /24 and node port block per test.
    ++test_index_;
    ranges_.cluster_ip_cidr = "127.200." + std::to_string(test_index_) + ".0/24";
    ranges_.node_port_min = 30000 + test_index_ * 100;
    ranges_.node_port_max = ranges_.node_port_min + 99;
    allocator_ = std::make_unique<ServiceAllocator>(*client_, ranges_, 42);
  }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }
  ApiResult<json> allocate(json s) { return run(allocator_->allocate(std::move(s))); }
  json must_allocate(json s) {
    auto out = allocate(std::move(s));
    EXPECT_TRUE(out.ok()) << out.error().message();
    return out.ok() ? *out : json();
  }
  bool key_exists(const std::string& key) {
    auto r = run(client_->range(key));
    EXPECT_TRUE(r.ok());
    return r.ok() && !r->kvs.empty();
  }
  // "127.200.N." of this test's range.
  std::string ip_prefix() const {
    return ranges_.cluster_ip_cidr.substr(0, ranges_.cluster_ip_cidr.rfind('.') + 1);
  }
  std::string ip(int last_octet) const { return ip_prefix() + std::to_string(last_octet); }
  // How many IPs of this test's range are reserved in etcd.
  size_t reserved_ips() {
    etcd::RangeOptions options;
    options.prefix = true;
    options.keys_only = true;
    auto r = run(client_->range(std::string(kServiceIpKeyPrefix) + ip_prefix(), options));
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->kvs.size() : 0;
  }

  static etcd::testing::EtcdCluster* cluster_;
  static int test_index_;
  asio::io_context io_;
  std::unique_ptr<etcd::Client> client_;
  ServiceRanges ranges_;
  std::unique_ptr<ServiceAllocator> allocator_;
};

etcd::testing::EtcdCluster* ServiceAllocatorTest::cluster_ = nullptr;
int ServiceAllocatorTest::test_index_ = 0;

TEST_F(ServiceAllocatorTest, AllocatesDistinctIpsInRangeAndRecordsOwnerKeys) {
  std::set<std::string> ips;
  for (int i = 0; i < 20; ++i) {
    json s = must_allocate(service("svc-" + std::to_string(i), R"({"ports":[{"port":80}]})"));
    std::string got = s["spec"]["clusterIP"];
    EXPECT_EQ(s["spec"]["clusterIPs"], json::array({got}));
    EXPECT_EQ(got.rfind(ip_prefix(), 0), 0U) << got << " outside " << ranges_.cluster_ip_cidr;
    EXPECT_NE(got, ip(0));    // network address
    EXPECT_NE(got, ip(255));  // broadcast address
    EXPECT_TRUE(ips.insert(got).second) << got << " handed out twice";
  }
  auto stored = run(client_->range(std::string(kServiceIpKeyPrefix) + *ips.begin()));
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->kvs.size(), 1U);
  json owner = json::parse(stored->kvs[0].value);
  EXPECT_EQ(owner["namespace"], "default");
  EXPECT_TRUE(owner["name"].get<std::string>().rfind("svc-", 0) == 0);
}

TEST_F(ServiceAllocatorTest, DynamicIpsComeFromTheUpperBandFirst) {
  // KEP-3070: a /24 keeps .1-.16 for static allocation while .17-.254 has room.
  for (int i = 0; i < 30; ++i) {
    json s = must_allocate(service("svc-" + std::to_string(i), R"({"ports":[{"port":80}]})"));
    std::string got = s["spec"]["clusterIP"];
    int last = std::stoi(got.substr(got.rfind('.') + 1));
    EXPECT_GE(last, 17) << got;
  }
}

TEST_F(ServiceAllocatorTest, ReservesARequestedIpAndRejectsItWhenTaken) {
  json first =
      must_allocate(service("a", (R"({"clusterIP":")" + ip(10) + R"(","ports":[{"port":80}]})").c_str()));
  EXPECT_EQ(first["spec"]["clusterIP"], ip(10));
  EXPECT_EQ(first["spec"]["clusterIPs"], json::array({ip(10)}));
  EXPECT_TRUE(key_exists(std::string(kServiceIpKeyPrefix) + ip(10)));

  auto second =
      allocate(service("b", (R"({"clusterIP":")" + ip(10) + R"(","ports":[{"port":80}]})").c_str()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, 422);
  EXPECT_EQ(second.error().reason(), "Invalid");
  EXPECT_EQ(second.error().message(),
            "Service \"b\" is invalid: spec.clusterIPs: Invalid value: []string{\"" + ip(10) +
                "\"}: failed to allocate IP " + ip(10) + ": provided IP is already allocated");
  EXPECT_EQ(second.error().status["details"]["causes"][0]["field"], "spec.clusterIPs");
}

TEST_F(ServiceAllocatorTest, RejectsAnIpOutsideTheRange) {
  auto out = allocate(service("a", R"({"clusterIP":"10.96.0.10","ports":[{"port":80}]})"));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, 422);
  EXPECT_EQ(
      out.error().message(),
      "Service \"a\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to "
      "allocate "
      "IP 10.96.0.10: the provided IP (10.96.0.10) is not in the valid range. The range of valid IPs is " +
          ranges_.cluster_ip_cidr);
  EXPECT_FALSE(key_exists(std::string(kServiceIpKeyPrefix) + "10.96.0.10"));
}

TEST_F(ServiceAllocatorTest, HeadlessAndExternalNameServicesGetNoIp) {
  json headless = must_allocate(service("h", R"({"clusterIP":"None"})"));
  EXPECT_EQ(headless["spec"]["clusterIP"], "None");
  EXPECT_EQ(headless["spec"]["clusterIPs"], json::array({"None"}));
  json external = must_allocate(service("e", R"({"type":"ExternalName","externalName":"example.com"})"));
  EXPECT_FALSE(external["spec"].contains("clusterIP"));
  EXPECT_EQ(reserved_ips(), 0U);
}

TEST_F(ServiceAllocatorTest, ExhaustingATinyRangeGivesUpstreamsRangeFullError) {
  ranges_.cluster_ip_cidr = "127.201." + std::to_string(test_index_) + ".0/30";  // 2 usable addresses
  allocator_ = std::make_unique<ServiceAllocator>(*client_, ranges_, 7);
  json a = must_allocate(service("a", R"({"ports":[{"port":80}]})"));
  json b = must_allocate(service("b", R"({"ports":[{"port":80}]})"));
  EXPECT_NE(a["spec"]["clusterIP"], b["spec"]["clusterIP"]);
  auto c = allocate(service("c", R"({"ports":[{"port":80}]})"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, 500);
  EXPECT_EQ(c.error().message(), "Internal error occurred: failed to allocate a serviceIP: range is full");

  // Released addresses are reusable.
  run(allocator_->release(a));
  json d = must_allocate(service("d", R"({"ports":[{"port":80}]})"));
  EXPECT_EQ(d["spec"]["clusterIP"], a["spec"]["clusterIP"]);
}

TEST_F(ServiceAllocatorTest, TwoAllocatorsRacingOnOneEtcdNeverShareAnIp) {
  // Two API servers: separate clients and allocators with the same seed
  // (the worst case: they scan in the same order), interleaved on one
  // io_context so their reads and txns race.
  etcd::Client other_client(io_.get_executor(), etcd::Config{cluster_->endpoints(), 5000ms, 1000ms});
  ServiceAllocator first(*client_, ranges_, 99);
  ServiceAllocator second(other_client, ranges_, 99);
  std::vector<std::string> ips;
  int failures = 0;
  auto worker = [&](ServiceAllocator& allocator, std::string prefix) -> asio::awaitable<void> {
    for (int i = 0; i < 40; ++i) {
      auto out =
          co_await allocator.allocate(service(prefix + std::to_string(i), R"({"ports":[{"port":80}]})"));
      if (out.ok()) {
        ips.push_back((*out)["spec"]["clusterIP"]);
      } else {
        ++failures;
      }
    }
  };
  int done = 0;
  asio::co_spawn(io_, worker(first, "a-"), [&](std::exception_ptr) { ++done; });
  asio::co_spawn(io_, worker(second, "b-"), [&](std::exception_ptr) { ++done; });
  io_.restart();
  while (done < 2 && io_.run_one() > 0) {
  }
  ASSERT_EQ(done, 2);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(ips.size(), 80U);
  EXPECT_EQ(std::set<std::string>(ips.begin(), ips.end()).size(), ips.size()) << "an IP was handed out twice";
}

TEST_F(ServiceAllocatorTest, NodePortServicesGetPortsInRangeAndRequestedOnesAreReserved) {
  json s = must_allocate(service(
      "np", R"({"type":"NodePort","ports":[{"name":"http","port":80},{"name":"https","port":443}]})"));
  int p0 = s["spec"]["ports"][0]["nodePort"];
  int p1 = s["spec"]["ports"][1]["nodePort"];
  EXPECT_NE(p0, p1);
  for (int p : {p0, p1}) {
    EXPECT_GE(p, ranges_.node_port_min);
    EXPECT_LE(p, ranges_.node_port_max);
    EXPECT_TRUE(key_exists(std::string(kServiceNodePortKeyPrefix) + std::to_string(p)));
  }
  // A ClusterIP service gets no node port.
  json plain = must_allocate(service("plain", R"({"ports":[{"port":80}]})"));
  EXPECT_FALSE(plain["spec"]["ports"][0].contains("nodePort"));

  json taken = service("taken", R"({"type":"NodePort","ports":[{"port":80}]})");
  taken["spec"]["ports"][0]["nodePort"] = p0;
  auto out = allocate(taken);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, 422);
  EXPECT_EQ(out.error().message(), "Service \"taken\" is invalid: spec.ports[0].nodePort: Invalid value: " +
                                       std::to_string(p0) + ": provided port is already allocated");
  // Its cluster IP was released again.
  EXPECT_EQ(reserved_ips(), 2U);  // np and plain only

  json outside = service("outside", R"({"type":"NodePort","ports":[{"port":80,"nodePort":80}]})");
  auto rejected = allocate(outside);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().message(),
            "Service \"outside\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not "
            "in the "
            "valid range. The range of valid ports is " +
                std::to_string(ranges_.node_port_min) + "-" + std::to_string(ranges_.node_port_max));
}

TEST_F(ServiceAllocatorTest, NodePortRangeExhaustionReleasesTheIp) {
  ranges_.node_port_max = ranges_.node_port_min;  // one port
  allocator_ = std::make_unique<ServiceAllocator>(*client_, ranges_, 3);
  must_allocate(service("one", R"({"type":"NodePort","ports":[{"port":80}]})"));
  auto out = allocate(service("two", R"({"type":"NodePort","ports":[{"port":80}]})"));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, 500);
  EXPECT_EQ(out.error().message(), "Internal error occurred: failed to allocate a nodePort: range is full");
  EXPECT_EQ(reserved_ips(), 1U);  // "two" gave its IP back
}

TEST_F(ServiceAllocatorTest, TypeChangeToNodePortAllocatesAndBackReleases) {
  json old = must_allocate(service("web", R"({"ports":[{"name":"http","port":80}]})"));
  json to_node_port = old;
  to_node_port["spec"]["type"] = "NodePort";
  patch_allocated_values(old, to_node_port);
  auto updated = run(allocator_->reallocate(old, to_node_port));
  ASSERT_TRUE(updated.ok()) << updated.error().message();
  int port = (*updated)["spec"]["ports"][0]["nodePort"];
  EXPECT_EQ((*updated)["spec"]["clusterIP"], old["spec"]["clusterIP"]);
  const std::string port_key = std::string(kServiceNodePortKeyPrefix) + std::to_string(port);
  EXPECT_TRUE(key_exists(port_key));

  // An update body that omits the node port keeps it (kubectl replace of the manifest).
  json omitted = *updated;
  omitted["spec"]["ports"][0].erase("nodePort");
  omitted["spec"].erase("clusterIP");
  omitted["spec"].erase("clusterIPs");
  patch_allocated_values(*updated, omitted);
  EXPECT_EQ(omitted["spec"]["ports"][0]["nodePort"], port);
  EXPECT_EQ(omitted["spec"]["clusterIP"], old["spec"]["clusterIP"]);

  // Back to ClusterIP: the node port is dropped from the body and released
  // once the update is stored.
  json back = *updated;
  back["spec"]["type"] = "ClusterIP";
  patch_allocated_values(*updated, back);
  auto reverted = run(allocator_->reallocate(*updated, back));
  ASSERT_TRUE(reverted.ok()) << reverted.error().message();
  EXPECT_FALSE((*reverted)["spec"]["ports"][0].contains("nodePort"));
  EXPECT_TRUE(key_exists(port_key));  // not before the update is stored
  run(allocator_->release_unused(*updated, *reverted));
  EXPECT_FALSE(key_exists(port_key));
  EXPECT_TRUE(key_exists(std::string(kServiceIpKeyPrefix) + old["spec"]["clusterIP"].get<std::string>()));
}

TEST_F(ServiceAllocatorTest, ChangedNodePortIsReservedAndTheOldOneReleasedAfterTheUpdate) {
  json old = must_allocate(service("web", R"({"type":"NodePort","ports":[{"name":"http","port":80}]})"));
  int before = old["spec"]["ports"][0]["nodePort"];
  int wanted = before == ranges_.node_port_min ? before + 1 : ranges_.node_port_min;
  json changed = old;
  changed["spec"]["ports"][0]["nodePort"] = wanted;
  patch_allocated_values(old, changed);
  auto updated = run(allocator_->reallocate(old, changed));
  ASSERT_TRUE(updated.ok()) << updated.error().message();
  EXPECT_TRUE(key_exists(std::string(kServiceNodePortKeyPrefix) + std::to_string(wanted)));
  run(allocator_->release_unused(old, *updated));
  EXPECT_FALSE(key_exists(std::string(kServiceNodePortKeyPrefix) + std::to_string(before)));

  // The released port is free for another service.
  json other = service("other", R"({"type":"NodePort","ports":[{"port":80}]})");
  other["spec"]["ports"][0]["nodePort"] = before;
  must_allocate(other);
}

TEST_F(ServiceAllocatorTest, ReleaseFreesEverythingTheServiceHeld) {
  json s = must_allocate(service("web", R"({"type":"NodePort","ports":[{"port":80}]})"));
  std::string ip_key = std::string(kServiceIpKeyPrefix) + s["spec"]["clusterIP"].get<std::string>();
  std::string port_key =
      std::string(kServiceNodePortKeyPrefix) + std::to_string(s["spec"]["ports"][0]["nodePort"].get<int>());
  ASSERT_TRUE(key_exists(ip_key));
  ASSERT_TRUE(key_exists(port_key));
  run(allocator_->release(s));
  EXPECT_FALSE(key_exists(ip_key));
  EXPECT_FALSE(key_exists(port_key));
  // The same IP can be requested again.
  json again = service("again", R"({"ports":[{"port":80}]})");
  again["spec"]["clusterIP"] = s["spec"]["clusterIP"];
  must_allocate(again);
}

}  // namespace
}  // namespace shakeout::api
