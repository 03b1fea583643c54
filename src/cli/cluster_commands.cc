// `shakeout down` and `shakeout status`: act on clusters through their run
// directories, whether their supervisor is alive or died.

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "common/async.h"
#include "etcd/client.h"

namespace shakeout::cli {
namespace {

constexpr Millis kDownTimeout{30000};

int down_one(const std::filesystem::path& root, const std::string& name) {
  auto result = cluster::down_cluster(root, name, kDownTimeout);
  if (!result) {
    if (result.error().code == ErrorCode::kNotFound) {
      // Like `kind delete cluster`: nothing to do is not a failure.
      std::printf("no cluster \"%s\" to stop\n", name.c_str());
      return kExitOk;
    }
    std::fprintf(stderr, "shakeout: error: %s\n", result.error().message.c_str());
    return kExitUsage;
  }
  if (result->was_stale) {
    std::printf("cleaned up stale cluster \"%s\" (its supervisor had died)", name.c_str());
    if (!result->killed.empty())
      std::printf("; killed %s", fmt::format("{}", fmt::join(result->killed, ", ")).c_str());
    std::printf("\n");
  } else {
    std::printf("cluster \"%s\" stopped\n", name.c_str());
  }
  return kExitOk;
}

std::string live_processes(const cluster::ClusterRecord& record) {
  int alive = 0;
  for (const auto& p : record.processes) alive += cluster::process_alive(p.pid, p.start_ticks) ? 1 : 0;
  return fmt::format("{}/{}", alive, record.processes.size());
}

void print_table(const std::vector<cluster::ClusterEntry>& clusters) {
  std::printf("%-20s %-8s %-16s %-11s %-10s %s\n", "NAME", "STATE", "SUBNET", "PROFILE", "PROCESSES",
              "SUPERVISOR");
  for (const auto& c : clusters) {
    const auto& r = c.record;
    const std::string state = !c.supervisor_alive ? "stale" : r ? r->state : "unknown";
    std::printf(
        "%-20s %-8s %-16s %-11s %-10s %s\n", c.name.c_str(), state.c_str(),
        r ? fmt::format("127.{}.0.0/16", r->subnet).c_str() : "-", r ? r->profile.c_str() : "-",
        r ? live_processes(*r).c_str() : "-",
        r ? fmt::format("pid {}{}", r->supervisor_pid, c.supervisor_alive ? "" : " (dead)").c_str() : "-");
  }
}

asio::awaitable<void> print_etcd_status(const cluster::ClusterRecord& record) {
  etcd::Config config;
  config.endpoints = record.etcd_endpoints;
  config.request_timeout = Millis{1000};
  etcd::Client client(co_await asio::this_coro::executor, std::move(config));
  std::printf("\n%-28s %-18s %-7s %-6s %-10s %s\n", "ETCD ENDPOINT", "MEMBER ID", "LEADER", "TERM",
              "RAFT INDEX", "DB SIZE");
  for (const auto& endpoint : record.etcd_endpoints) {
    auto s = co_await client.status(endpoint);
    if (!s) {
      std::printf("%-28s %s\n", endpoint.c_str(), s.error().describe().c_str());
      continue;
    }
    std::printf("%-28s %-18llx %-7s %-6llu %-10llu %lld\n", endpoint.c_str(),
                static_cast<unsigned long long>(s->header.member_id),
                s->leader == s->header.member_id ? "yes" : "no",
                static_cast<unsigned long long>(s->raft_term), static_cast<unsigned long long>(s->raft_index),
                static_cast<long long>(s->db_size));
  }
}

void print_detail(const cluster::ClusterEntry& c) {
  const auto& r = *c.record;
  std::printf("cluster \"%s\": %s, profile %s, subnet 127.%d.0.0/16, supervisor pid %d%s\n", r.name.c_str(),
              c.supervisor_alive ? r.state.c_str() : "stale", r.profile.c_str(), r.subnet, r.supervisor_pid,
              c.supervisor_alive ? "" : " (dead)");
  std::printf("run dir %s\n\n%-14s %-8s %-8s %-8s %s\n", r.run_dir.c_str(), "PROCESS", "ROLE", "PID", "STATE",
              "ADDRESSES");
  for (const auto& p : r.processes) {
    std::string addresses;
    for (const auto& [kind, address] : p.addresses) addresses += fmt::format("{}={} ", kind, address);
    const bool alive = cluster::process_alive(p.pid, p.start_ticks);
    std::printf("%-14s %-8s %-8d %-8s %s\n", p.name.c_str(), p.role.c_str(), p.pid,
                alive ? p.state.c_str() : "gone", addresses.c_str());
  }
  for (const auto& n : r.nodes) {
    std::printf("%-14s %-8s %-8s %-8s ip=%s podCIDR=%s\n", n.name.c_str(), "node", "-", "-", n.ip.c_str(),
                n.pod_cidr.c_str());
  }
  if (c.supervisor_alive && !r.etcd_endpoints.empty()) {
    asio::io_context io;
    run_blocking(io, print_etcd_status(r));
  }
}

}  // namespace

int down(const std::filesystem::path& root, const std::string& name, bool all) {
  if (!all) return down_one(root, name);
  int code = kExitOk;
  const auto clusters = cluster::list_clusters(root);
  if (clusters.empty()) std::printf("no clusters\n");
  for (const auto& c : clusters) code = std::max(code, down_one(root, c.name));
  return code;
}

int kubeconfig(const std::filesystem::path& root, const std::string& name) {
  auto clusters = cluster::list_clusters(root);
  std::erase_if(clusters, [&](const auto& c) { return c.name != name; });
  if (clusters.empty() || !clusters.front().record) {
    std::fprintf(stderr, "shakeout: error: no cluster named \"%s\"\n", name.c_str());
    return kExitUsage;
  }
  if (!clusters.front().supervisor_alive) {
    std::fprintf(stderr,
                 "shakeout: error: cluster \"%s\" is stale (its supervisor is gone); see 'shakeout down'\n",
                 name.c_str());
    return kExitUsage;
  }
  const auto path = std::filesystem::path(clusters.front().record->run_dir) / "kubeconfig";
  if (!std::filesystem::exists(path)) {
    std::fprintf(stderr, "shakeout: error: cluster \"%s\" has no kubeconfig (no apiserver)\n", name.c_str());
    return kExitUsage;
  }
  std::printf("%s\n", path.c_str());
  return kExitOk;
}

int status(const std::filesystem::path& root, const std::string& name, bool json) {
  auto clusters = cluster::list_clusters(root);
  if (!name.empty()) {
    std::erase_if(clusters, [&](const auto& c) { return c.name != name; });
    if (clusters.empty()) {
      std::fprintf(stderr, "shakeout: error: no cluster named \"%s\"\n", name.c_str());
      return kExitUsage;
    }
  }
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& c : clusters) {
      nlohmann::json entry = c.record ? nlohmann::json(*c.record) : nlohmann::json{{"name", c.name}};
      entry["supervisorAlive"] = c.supervisor_alive;
      out.push_back(std::move(entry));
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  if (clusters.empty()) {
    std::printf("no clusters\n");
    return kExitOk;
  }
  if (!name.empty() && clusters.front().record) {
    print_detail(clusters.front());
  } else {
    print_table(clusters);
  }
  return kExitOk;
}

}  // namespace shakeout::cli
