#include "cluster/etcd_members.h"

#include <fmt/format.h>

#include "etcd/client.h"

namespace shakeout::cluster {

std::string EtcdClusterPlan::initial_cluster() const {
  std::string out;
  for (const auto& m : members) {
    if (!out.empty()) out += ',';
    out += fmt::format("{}={}", m.name, m.peer_url);
  }
  return out;
}

std::vector<std::string> EtcdClusterPlan::client_urls() const {
  std::vector<std::string> out;
  for (const auto& m : members) out.push_back(m.client_url);
  return out;
}

EtcdClusterPlan plan_etcd(const AddressPlan& plan, int count, const std::filesystem::path& run_dir,
                          const std::string& cluster_name) {
  EtcdClusterPlan out;
  out.token = fmt::format("shakeout-{}-{}", cluster_name, plan.subnet());
  for (int i = 1; i <= count; ++i) {
    const auto name = fmt::format("etcd-{}", i);
    out.members.push_back({i, name, plan.etcd_client_url(i), plan.etcd_peer_url(i), run_dir / "data" / name,
                           run_dir / "logs" / (name + ".log")});
  }
  return out;
}

ProcessSpec etcd_process_spec(const EtcdClusterPlan& plan, const EtcdMember& member, const Profile& profile,
                              const std::string& etcd_binary) {
  ProcessSpec spec;
  spec.name = member.name;
  spec.log_file = member.log_file;
  spec.stop_grace = Millis{5000};
  spec.argv = {
      etcd_binary,
      "--name",
      member.name,
      "--data-dir",
      member.data_dir.string(),
      "--listen-client-urls",
      member.client_url,
      "--advertise-client-urls",
      member.client_url,
      "--listen-peer-urls",
      member.peer_url,
      "--initial-advertise-peer-urls",
      member.peer_url,
      "--initial-cluster",
      plan.initial_cluster(),
      "--initial-cluster-token",
      plan.token,
      "--initial-cluster-state",
      "new",
      "--heartbeat-interval",
      std::to_string(profile.etcd_heartbeat().count()),
      "--election-timeout",
      std::to_string(profile.etcd_election_timeout().count()),
      // Watchers that ask for progress notifications get them this often
      // (the API server's watch cache relies on them to advance its revision).
      "--experimental-watch-progress-notify-interval",
      fmt::format("{}ms", std::max<int64_t>(100, profile.etcd_election_timeout().count())),
      "--logger",
      "zap",
      "--log-outputs",
      "stderr",
  };
  return spec;
}

asio::awaitable<Status> wait_etcd_member_ready(Supervisor& supervisor, const EtcdMember& member,
                                               Millis deadline) {
  // (Built step by step: g++ 12 miscompiles braced initializer lists in
  // coroutine bodies, "array used as initializer".)
  etcd::Config config;
  config.endpoints.push_back(member.client_url);
  config.request_timeout = Millis{1000};
  config.dial_timeout = Millis{200};
  etcd::Client client(co_await asio::this_coro::executor, std::move(config));
  auto check = [&client, &member]() -> asio::awaitable<bool> {
    auto status = co_await client.status(member.client_url);
    if (!status || status->leader == 0) co_return false;
    auto read = co_await client.range("/shakeout/readiness");  // linearizable by default
    co_return read.ok();
  };
  co_return co_await supervisor.wait_ready(member.name, check, deadline);
}

}  // namespace shakeout::cluster
