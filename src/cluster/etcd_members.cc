#include "cluster/etcd_members.h"

#include <fmt/format.h>

#include "common/log.h"
#include "etcd/client.h"
#include "net/http_client.h"

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

asio::awaitable<Status> wait_etcd_peer_serving(Supervisor& supervisor, const EtcdMember& member,
                                               Millis deadline) {
  auto endpoint = net::parse_endpoint(member.peer_url);
  if (!endpoint) co_return endpoint.error();
  net::HttpClientConfig config;
  config.connect_timeout = Millis{100};
  net::HttpClient http(co_await asio::this_coro::executor, config);
  auto check = [&http, &endpoint]() -> asio::awaitable<bool> {
    net::HttpRequest request;
    request.target = "/version";
    auto response = co_await http.request(*endpoint, std::move(request), Millis{200});
    co_return response.ok() && response->status == 200;
  };
  co_return co_await supervisor.wait_ready(member.name, check, deadline);
}

asio::awaitable<Status> wait_etcd_member_ready(Supervisor& supervisor, const EtcdMember& member,
                                               Millis deadline) {
  // (Built step by step: g++ 12 miscompiles braced initializer lists in
  // coroutine bodies, "array used as initializer".)
  etcd::Config config;
  config.endpoints.push_back(member.client_url);
  // Short attempts, retried by wait_ready: a request that reaches a member
  // before it serves can sit unanswered, and a long timeout here would add
  // straight to the boot time.
  config.request_timeout = Millis{200};
  config.dial_timeout = Millis{100};
  etcd::Client client(co_await asio::this_coro::executor, std::move(config));
  auto check = [&client, &member]() -> asio::awaitable<bool> {
    // /health first: it needs no gateway, and a gateway request that arrives
    // before the member serves sends the gateway's own gRPC connection into a
    // 1s+ reconnect backoff (seen as 1-2s boots before this check existed).
    if (auto health = co_await client.health(member.client_url); !health) {
      log::debug("etcd", "{} not ready: {}", member.name, health.error().describe());
      co_return false;
    }
    auto status = co_await client.status(member.client_url);
    if (!status || status->leader == 0) {
      log::debug("etcd", "{} not ready: {}", member.name, status ? "no leader" : status.error().describe());
      co_return false;
    }
    auto read = co_await client.range("/shakeout/readiness");  // linearizable by default
    if (!read) log::debug("etcd", "{} not ready: read: {}", member.name, read.error().describe());
    co_return read.ok();
  };
  co_return co_await supervisor.wait_ready(member.name, check, deadline);
}

}  // namespace shakeout::cluster
