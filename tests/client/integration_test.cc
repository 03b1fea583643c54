// The client, informer and leader election against real `shakeout apiserver`
// processes over a real 3-member etcd: CRUD and Status errors, an informer
// that loses no change across an apiserver restart or an etcd leader change,
// and leader election on a real Lease.

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "api_cluster.h"
#include "client/client.h"
#include "client/informer.h"
#include "client/leader_election.h"
#include "cluster/cluster.h"
#include "common/async.h"
#include "etcd/client.h"
#include "pump.h"
#include "test_support.h"

namespace shakeout::client {
namespace {

using namespace std::chrono_literals;

const api::ResourceInfo& leases() {
  return *api::ResourceRegistry::builtin().by_plural("coordination.k8s.io", "leases");
}

json make_lease(const std::string& name, const std::string& holder) {
  json lease = json::object();
  lease["apiVersion"] = "coordination.k8s.io/v1";
  lease["kind"] = "Lease";
  lease["metadata"]["name"] = name;
  lease["spec"]["holderIdentity"] = holder;
  return lease;
}

class ClientIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = shakeout::testing::api_cluster_options("client");
    options.etcd_members = 3;
    options.apiservers = 2;
    cluster_ = shakeout::testing::boot_cluster(io_, options);
    ASSERT_TRUE(cluster_);
  }

  void TearDown() override {
    if (informer_) {
      informer_->stop();
      EXPECT_TRUE(pump([&] { return informer_done_; }, 15s));
    }
    informer_.reset();
    clients_.clear();
    if (cluster_) run_blocking(io_, cluster_->stop());
    cluster_.reset();
  }

  // A client of apiserver `index` (1-based), or of all of them (0).
  Client& make_client(int index, const std::string& token) {
    Config config;
    const auto urls = cluster_->apiserver_urls();
    for (std::size_t i = 0; i < urls.size(); ++i) {
      if (index != 0 && static_cast<int>(i) + 1 != index) continue;
      config.servers.push_back(*net::parse_endpoint(urls[i]));
    }
    config.bearer_token = token;
    config.request_timeout = 5000ms;
    clients_.push_back(std::make_unique<Client>(io_.get_executor(), config));
    return *clients_.back();
  }
  Client& make_client(int index) { return make_client(index, cluster_->token("shakeout")); }

  template <typename T>
  T run(asio::awaitable<T> task) {
    return run_blocking(io_, std::move(task));
  }

  bool pump(const std::function<bool()>& done, Millis timeout) {
    return shakeout::testing::pump(io_, done, timeout);
  }

  // An informer on leases in "default" through `client`, recording what its
  // handlers saw: key -> resourceVersion, erased on delete.
  void start_informer(Client& client) {
    InformerOptions options;
    options.ns = "default";
    options.backoff.initial = 100ms;  // real time: keep the test short
    options.backoff.cap = 1000ms;
    informer_ = std::make_unique<Informer>(client, leases(), options, real_timers(), random_);
    EventHandlers handlers;
    handlers.on_add = [this](const json& o) { seen_[object_key(o)] = resource_version_of(o); };
    handlers.on_update = [this](const json&, const json& o) {
      seen_[object_key(o)] = resource_version_of(o);
    };
    handlers.on_delete = [this](const json& o, bool) {
      seen_.erase(object_key(o));
      deleted_.push_back(object_key(o));
    };
    informer_->add_handlers(handlers);
    asio::co_spawn(io_, informer_->run(), [this](const std::exception_ptr& e) {
      informer_done_ = true;
      if (e) std::rethrow_exception(e);
    });
    ASSERT_TRUE(pump([&] { return informer_->has_synced(); }, 15s));
  }

  // key -> resourceVersion of every lease in "default", as `client` lists it.
  std::map<std::string, std::string> truth(Client& client) {
    ListOptions options;
    auto list = run(client.list(leases(), "default", options));
    EXPECT_TRUE(list.ok()) << list.error().message();
    std::map<std::string, std::string> out;
    if (!list.ok()) return out;
    for (const auto& item : (*list)["items"])
      out["default/" + item["metadata"]["name"].get<std::string>()] =
          item["metadata"]["resourceVersion"].get<std::string>();
    return out;
  }

  // Writes with retries (an etcd election or a restarting server may fail a
  // few); a create that was applied before its answer was lost is fine.
  void write(const std::function<asio::awaitable<api::ApiResult<json>>()>& op) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto result = run(op());
      if (result.ok() || is_already_exists(result.error()) || is_not_found(result.error())) return;
      asio::steady_timer pause(io_, 200ms);
      run(pause.async_wait(asio::use_awaitable));
    }
    ADD_FAILURE() << "write kept failing";
  }

  // The informer's cache and its handlers' view both equal the server's.
  void expect_caught_up(Client& reader) {
    std::map<std::string, std::string> expected;
    const bool caught_up = pump(
        [&] {
          expected = truth(reader);
          std::map<std::string, std::string> cached;
          for (const auto& o : informer_->store().list()) cached[object_key(o)] = resource_version_of(o);
          return cached == expected && seen_ == expected;
        },
        30s);
    EXPECT_TRUE(caught_up) << "informer never matched the server";
    EXPECT_EQ(seen_, expected);
  }

  asio::io_context io_;
  std::unique_ptr<cluster::Cluster> cluster_;
  std::vector<std::unique_ptr<Client>> clients_;
  SeededRandom random_{1};
  std::unique_ptr<Informer> informer_;
  bool informer_done_ = false;
  std::map<std::string, std::string> seen_;
  std::vector<std::string> deleted_;
};

TEST_F(ClientIntegrationTest, CrudWithStatusErrorsAndOptimisticConcurrency) {
  Client& c = make_client(0);
  auto created = run(c.create(leases(), "default", make_lease("crud", "a")));
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_FALSE(resource_version_of(*created).empty());
  auto again = run(c.create(leases(), "default", make_lease("crud", "a")));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, 409);
  EXPECT_TRUE(is_already_exists(again.error()));

  json changed = *created;
  changed["spec"]["holderIdentity"] = "b";
  auto updated = run(c.update(leases(), "default", changed));
  ASSERT_TRUE(updated.ok()) << updated.error().message();
  EXPECT_NE(resource_version_of(*updated), resource_version_of(*created));
  auto stale = run(c.update(leases(), "default", changed));  // still carries the old resourceVersion
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(is_conflict(stale.error())) << stale.error().message();

  auto patched = run(
      c.patch(leases(), "default", "crud", PatchType::kMergePatch, R"({"spec":{"holderIdentity":"c"}})", ""));
  ASSERT_TRUE(patched.ok()) << patched.error().message();
  EXPECT_EQ((*patched)["spec"]["holderIdentity"], "c");

  ASSERT_TRUE(run(c.remove(leases(), "default", "crud", DeleteOptions())).ok());
  auto gone = run(c.get(leases(), "default", "crud"));
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(is_not_found(gone.error()));
  EXPECT_EQ(gone.error().message(), "leases.coordination.k8s.io \"crud\" not found");

  Client& intruder = make_client(0, "not-a-token");
  auto denied = run(intruder.get(leases(), "default", "crud"));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, 401);
}

TEST_F(ClientIntegrationTest, InformerLosesNoChangeAcrossAnApiserverRestart) {
  Client& writer = make_client(2);
  for (int i = 0; i < 5; ++i)
    write([&] { return writer.create(leases(), "default", make_lease(fmt::format("l{}", i), "x")); });
  start_informer(make_client(1));  // watches through apiserver-1 only
  expect_caught_up(writer);

  ASSERT_TRUE(cluster_->supervisor().kill("apiserver-1", SIGKILL).ok());
  ASSERT_TRUE(run(cluster_->supervisor().wait_exit("apiserver-1")).ok());
  // While the informer's server is down: a change, a delete and a create.
  write([&] {
    return writer.patch(leases(), "default", "l0", PatchType::kMergePatch,
                        R"({"spec":{"holderIdentity":"y"}})", "");
  });
  write([&] { return writer.remove(leases(), "default", "l1", DeleteOptions()); });
  write([&] { return writer.create(leases(), "default", make_lease("l5", "x")); });
  ASSERT_TRUE(run(cluster_->supervisor().restart("apiserver-1")).ok());

  expect_caught_up(writer);
  EXPECT_NE(std::find(deleted_.begin(), deleted_.end(), "default/l1"), deleted_.end())
      << "the delete was delivered";
  // Reconnected: the watch it had (or was opening) failed, and another one
  // was opened on the restarted server.
  EXPECT_GE(informer_->counters().watches_total + informer_->counters().watch_failures_total, 2u);
}

TEST_F(ClientIntegrationTest, InformerLosesNoChangeAcrossAnEtcdLeaderChange) {
  Client& writer = make_client(0);
  for (int i = 0; i < 3; ++i)
    write([&] { return writer.create(leases(), "default", make_lease(fmt::format("e{}", i), "x")); });
  start_informer(make_client(0));
  expect_caught_up(writer);

  etcd::Config etcd_config;
  etcd_config.endpoints = cluster_->etcd().client_urls();
  etcd::Client etcd(io_.get_executor(), etcd_config);
  auto leader = run(etcd::find_leader(etcd));
  ASSERT_TRUE(leader.ok()) << leader.error().describe();
  std::string leader_name;
  for (const auto& m : cluster_->etcd().members) {
    if (m.client_url == leader->endpoint) leader_name = m.name;
  }
  ASSERT_FALSE(leader_name.empty()) << leader->endpoint;
  ASSERT_TRUE(cluster_->supervisor().kill(leader_name, SIGKILL).ok());
  for (int i = 3; i < 6; ++i)
    write([&] { return writer.create(leases(), "default", make_lease(fmt::format("e{}", i), "x")); });
  write([&] { return writer.remove(leases(), "default", "e0", DeleteOptions()); });
  ASSERT_TRUE(run(cluster_->supervisor().restart(leader_name)).ok());
  write([&] {
    return writer.patch(leases(), "default", "e1", PatchType::kMergePatch,
                        R"({"spec":{"holderIdentity":"z"}})", "");
  });

  expect_caught_up(writer);
  EXPECT_NE(std::find(deleted_.begin(), deleted_.end(), "default/e0"), deleted_.end());
}

TEST_F(ClientIntegrationTest, LeaderElectionOnARealLeaseHandsOverOnRelease) {
  ClientLeaseLock lock_a(make_client(1), "kube-system", "client-test");
  ClientLeaseLock lock_b(make_client(2), "kube-system", "client-test");
  const auto config = [](const std::string& id, bool& leading) {
    LeaderElectionConfig c;
    c.identity = id;
    c.lease_duration = 3000ms;
    c.renew_deadline = 2000ms;
    c.retry_period = 500ms;
    c.on_started_leading = [&leading] { leading = true; };
    c.on_stopped_leading = [&leading] { leading = false; };
    return c;
  };
  bool a_leading = false;
  bool b_leading = false;
  bool a_done = false;
  bool b_done = false;
  LeaderElector a(io_.get_executor(), config("a", a_leading), lock_a, real_timers(), random_);
  LeaderElector b(io_.get_executor(), config("b", b_leading), lock_b, real_timers(), random_);
  asio::co_spawn(io_, a.run(), [&](const std::exception_ptr&) { a_done = true; });
  ASSERT_TRUE(pump([&] { return a_leading; }, 10s));
  asio::co_spawn(io_, b.run(), [&](const std::exception_ptr&) { b_done = true; });
  EXPECT_FALSE(pump([&] { return b_leading; }, 4s)) << "b took a Lease that a keeps renewing";
  EXPECT_TRUE(a_leading);
  a.stop();
  ASSERT_TRUE(pump([&] { return a_done; }, 10s));
  ASSERT_TRUE(pump([&] { return b_leading; }, 3s)) << "a released: b acquires within a retry";
  auto lease = run(make_client(0).get(leases(), "kube-system", "client-test"));
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  b.stop();
  ASSERT_TRUE(pump([&] { return b_done; }, 10s));
}

}  // namespace
}  // namespace shakeout::client
